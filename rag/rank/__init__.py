"""The trained reranker of hybrid search: features of the dense and BM25 candidates (`features`, over the
question's terms in `query`), a fitted model that scores them (`model`; tree models are evaluated by `trees` in
numpy, so no training library is loaded to answer a question), and the committed model (`model.json`, with
what it was fitted on and its held-out figures in `model.meta.json`; `eval/train_ranker.py` writes both)."""
