"""Text: sentences as exact spans, passages of whole sentences, and the one term tokenizer (BM25, grounding)."""
