"""Through the real all-MiniLM-L6-v2 with the index's vectors and BM25 in Qdrant (local mode): the seed question
is answered and cited exactly as with FAISS, short answer included."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rag.collection import build_index
from rag.config import StoreSpec
from rag.engine import Engine
from rag.index import qdrant
from rag.index.index import Index

pytest.importorskip("qdrant_client")
pytestmark = pytest.mark.integration

QUESTION = "When did Turkey and Syria sign the memorandum of understanding?"


def test_the_seed_question_cites_the_same_passage_as_with_faiss(tmp_path: Path, seeds_dir: Path,
                                                                 real_embedder: Any) -> None:
    store = StoreSpec.parse(f"qdrant:{tmp_path / 'qdrant'}")
    try:
        build_index(tmp_path / "in-qdrant", [seeds_dir], embedder=real_embedder, store=store)
        build_index(tmp_path / "in-faiss", [seeds_dir], embedder=real_embedder)
        index = Index.load(tmp_path / "in-qdrant")
        assert index.store.kind == "qdrant"
        answer = Engine(index, real_embedder).ask(QUESTION)
        reference = Engine(Index.load(tmp_path / "in-faiss"), real_embedder).ask(QUESTION)
        assert not answer.abstained
        short, first = answer.citations[:2]  # the short answer leads, cited inside the sentence cited next
        assert (short.role, short.quote, answer.short_answer) == ("answer", "Aug. 13", "Aug. 13")
        assert first.quote.startswith("On Aug. 13, Turkey and Syria signed a memorandum of understanding")
        for c in (short, first):
            assert index.documents[c.doc_id].text[c.start:c.end] == c.quote
        assert [(c.doc_id, c.start, c.end, c.passage_id) for c in answer.citations] == \
            [(c.doc_id, c.start, c.end, c.passage_id) for c in reference.citations]
        assert [p.passage.id for p in answer.passages] == [p.passage.id for p in reference.passages]
    finally:
        assert store.uri is not None
        qdrant.release(store.uri)
