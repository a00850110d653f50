"""The engine with a fake embedder: questions checked, answers cited verbatim, markers one-to-one, abstention."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rag.cite import verify
from rag.collection import build_index
from rag.engine import Engine
from rag.errors import CitationError, QuestionError
from rag.extractive import load_params
from rag.index.index import Index
from rag.question import MAX_QUESTION_CHARS, check_question
from rag.rank.query import question_type
from rag.records import Answer, Citation, Hits
from rag.retrieve import fuse, retrieve


@pytest.fixture
def engine(index_dir: Path, seeds_dir: Path, fake_embedder: Any) -> Engine:
    emb = fake_embedder
    build_index(index_dir, [seeds_dir], embedder=emb)
    return Engine(Index.load(index_dir), emb)


def test_answer_cites_verbatim_spans_with_matching_markers(engine: Engine) -> None:
    a = engine.ask("When did Turkey and Syria sign the memorandum of understanding?")
    assert isinstance(a, Answer) and not a.abstained
    assert a.citations and [c.marker for c in a.citations] == list(range(1, len(a.citations) + 1))
    for c in a.citations:
        doc = engine.index.documents[c.doc_id]
        assert doc.text[c.start:c.end] == c.quote
        assert f"{c.quote} [{c.marker}]" in a.text
        assert c.date == "2025-08-18" and c.source == "Zoey Sky"
    assert a.passages and a.passages[0].rank == 1
    assert set(a.timings) >= {"embed_ms", "retrieve_ms", "answer_ms", "total_ms"}


def test_to_dict_is_plain_json_with_the_field_names(engine: Engine) -> None:
    d = json.loads(json.dumps(engine.ask("Who leads HTS?").to_dict()))
    assert {"text", "citations", "passages", "abstained", "query", "timings"} <= set(d)
    for c in d["citations"]:
        assert {"doc_id", "title", "start", "end", "quote"} <= set(c)


def test_abstains_plainly_and_still_returns_passages(engine: Engine) -> None:
    strict = Engine(engine.index, engine.embedder, params=replace(load_params(), threshold=1.01))
    a = strict.ask("Who won the 2022 FIFA World Cup?")
    assert a.abstained and not a.citations
    assert a.text.startswith("The articles do not say")
    assert "[1]" not in a.text and a.passages


@pytest.mark.parametrize(
    ("question", "message"),
    [("", "empty"), ("   \n\t", "empty"), ("?!...", "no words"), ("x" * (MAX_QUESTION_CHARS + 1), "limit")],
)
def test_bad_questions_are_refused_clearly(engine: Engine, question: str, message: str) -> None:
    with pytest.raises(QuestionError, match=message):
        engine.ask(question)


def test_control_characters_are_dropped_from_questions() -> None:
    assert check_question("Who\x00 leads\x07 HTS?") == "Who  leads  HTS?"


def test_verify_catches_a_wrong_quote_and_wrong_markers(engine: Engine) -> None:
    doc = next(iter(engine.index.documents.values()))
    good = Citation(marker=1, doc_id=doc.id, title=doc.title, start=0, end=10, quote=doc.text[:10])
    verify(f"{good.quote} [1]", [good], engine.index.documents)
    with pytest.raises(CitationError, match="quote differs"):
        verify("x [1]", [replace(good, quote="not it")], engine.index.documents)
    with pytest.raises(CitationError, match="one-to-one"):
        verify("x [2]", [good], engine.index.documents)
    with pytest.raises(CitationError, match="unknown document"):
        verify("x [1]", [replace(good, doc_id="nope")], engine.index.documents)


def test_search_modes(engine: Engine) -> None:
    idx, emb = engine.index, engine.embedder
    q = "Hayat Tahrir al-Sham offensive Nov. 27, 2024"
    v = emb.embed([q])[0]
    for mode in ("hybrid", "dense", "lexical"):
        hits = retrieve(idx, q, v, k=3, mode=mode)  # type: ignore[arg-type]
        assert 1 <= len(hits) <= 3 and [h.rank for h in hits] == list(range(1, len(hits) + 1))
    lex = retrieve(idx, q, None, k=3, mode="lexical")
    assert "Nov. 27, 2024" in lex[0].passage.text and lex[0].dense_score is None
    with pytest.raises(ValueError, match="unknown search mode"):
        retrieve(idx, q, v, mode="fuzzy")  # type: ignore[arg-type]


def test_reciprocal_rank_fusion_by_hand() -> None:
    a = Hits(np.array([1, 2, 3]), np.zeros(3))
    b = Hits(np.array([3, 1]), np.zeros(2))
    fused = dict(fuse([a, b], k=10, rrf_k=60))
    assert fused[1] == pytest.approx(1 / 61 + 1 / 62)
    assert fused[3] == pytest.approx(1 / 63 + 1 / 61)
    assert fused[2] == pytest.approx(1 / 62)
    assert [pid for pid, _ in fuse([a, b], k=2, rrf_k=60)] == [1, 3]


@pytest.mark.parametrize(
    ("question", "kind"),
    [("When did they sign?", "date"), ("How many soldiers deserted?", "number"), ("Who leads HTS?", "name"),
     ("Where did Assad flee?", "name"), ("Why did the regime fall?", "other"), ("What year was it?", "date")],
)
def test_question_types(question: str, kind: str) -> None:
    assert question_type(question) == kind


def test_brackets_inside_a_quote_are_not_markers() -> None:
    from rag.records import Document

    doc = Document(id="d", title="t", text="The report [3] says so. Another line.")
    c = Citation(marker=1, doc_id="d", title="t", start=0, end=23, quote="The report [3] says so.")
    verify("The report [3] says so. [1]", [c], {"d": doc})
    with pytest.raises(CitationError, match="one-to-one"):
        verify("The report [3] says so. [1] [2]", [c], {"d": doc})


def test_a_quote_that_is_a_marker_digit_still_counts_its_marker() -> None:
    from rag.records import Document

    doc = Document(id="d", title="t", text="1")
    verify("1 [1]", [Citation(marker=1, doc_id="d", title="t", start=0, end=1, quote="1")], {"d": doc})
