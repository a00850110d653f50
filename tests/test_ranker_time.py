"""The reranker's time features: neutral without a reference date, measured from it with one, and computed at
question time exactly as the training data computes them (the engine passes the question's as_of)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pytest
from fakes import FakeEmbedder

import rag.rank.model
from eval.gold import Evidence, GoldQuestion
from eval.ranker_data import collect, group_of
from rag.engine import Engine
from rag.index.index import Index
from rag.rank.features import FEATURES, NO_TIME, TIME_FEATURES, WINDOW_FEATURES, FeatureMatrix, features, union
from rag.records import Document
from rag.retrieve import dense_hits, lexical_hits

QUESTION = "Who won the harbor regatta this week?"
AS_OF = dt.date(2024, 6, 14)
DATES = {"d-0610": "2024-06-10", "d-0601": "2024-06-01", "d-0301": "2024-03-01", "d-0620": "2024-06-20",
         "y-2024": "2024", "undated": None}


def _docs() -> list[Document]:
    return [Document(doc_id, f"Regatta {doc_id}", f"The harbor regatta was won by crew {i} on the day, "
                     "organisers said.", date=date, date_source="metadata" if date else None)
            for i, (doc_id, date) in enumerate(DATES.items())]


@pytest.fixture(scope="module")
def index() -> Index:
    emb = FakeEmbedder()
    idx = Index.create(emb)
    idx.update(_docs(), embedder=emb)
    return idx


def _matrix(index: Index, reference: dt.date | None) -> FeatureMatrix:
    v = FakeEmbedder().embed([QUESTION])[0]
    cands = union(dense_hits(index, v, 40), lexical_hits(index, QUESTION, 40), depth=30)
    return features(index, QUESTION, v, cands, reference=reference)


def _by_doc(index: Index, fm: FeatureMatrix, name: str) -> dict[str, float]:
    return {index.passages[int(pid)].doc_id: float(x) for pid, x in zip(fm.ids, fm.column(name), strict=True)}


def test_without_a_reference_every_time_feature_is_neutral_and_the_rest_unchanged(index: Index) -> None:
    off, on = _matrix(index, None), _matrix(index, AS_OF)
    dated = [FEATURES.index(n) for n in (*TIME_FEATURES, *WINDOW_FEATURES)]
    assert FEATURES[-len(dated):] == (*TIME_FEATURES, *WINDOW_FEATURES)
    assert (off.values[:, dated] == NO_TIME).all()
    assert (on.values[:, -len(WINDOW_FEATURES):] == NO_TIME).all()  # no window of the question's words given
    np.testing.assert_array_equal(off.values[:, :-len(dated)], on.values[:, :-len(dated)])


def test_time_features_measure_from_the_reference_date(index: Index) -> None:
    fm = _matrix(index, AS_OF)
    age, gap, undated = (_by_doc(index, fm, n) for n in TIME_FEATURES)
    assert age["d-0610"] == pytest.approx(np.log1p(4)) and age["d-0301"] == pytest.approx(np.log1p(105))
    assert age["y-2024"] == 0.0  # a year-only date counts from its day nearest the reference
    assert age["d-0620"] == pytest.approx(-np.log1p(6))  # after the reference (no window here filtered it)
    # the newest candidate, capped at the reference: the 2024 article and the later one are both "today"
    assert gap["y-2024"] == gap["d-0620"] == 0.0 and gap["d-0610"] == pytest.approx(np.log1p(4))
    assert undated["undated"] == 1.0 and age["undated"] == gap["undated"] == NO_TIME
    assert {undated[d] for d in DATES if d != "undated"} == {0.0}


def _spy(monkeypatch: pytest.MonkeyPatch) -> list[tuple[dt.date | None, FeatureMatrix]]:
    seen: list[tuple[dt.date | None, FeatureMatrix]] = []

    def spy(*args: Any, reference: dt.date | None = None, prefer: Any = None) -> FeatureMatrix:
        fm = features(*args, reference=reference, prefer=prefer)
        seen.append((reference, fm))
        return fm

    monkeypatch.setattr(rag.rank.model, "features", spy)
    return seen


def test_the_engine_passes_as_of_and_training_computes_the_same_rows(index: Index,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    engine = Engine(index, FakeEmbedder())
    seen = _spy(monkeypatch)
    engine.ask(QUESTION)
    engine.ask(QUESTION, sources=["Nobody"])  # limits without a date: no reference either
    engine.ask(QUESTION, as_of=AS_OF)
    assert [ref for ref, _ in seen[:2]] == [None, None] and seen[2][0] == AS_OF
    gold = GoldQuestion("q1", QUESTION, ("crew 0",), (Evidence("d-0610", 0, 20),), 1, {"date": "2024-06-14"})
    for as_of, (ref, asked) in ((True, seen[2]), (False, seen[0])):
        (row,) = collect("news-archive", index, [gold], FakeEmbedder(), as_of=as_of)
        assert row.as_of == ref and row.group == group_of("news-archive", gold) == "2024-W24"
        np.testing.assert_array_equal(row.fm.ids, asked.ids)
        np.testing.assert_array_equal(row.fm.values, asked.values)
    # "this week" as of June 14 is preferred, not searched alone: March is among the candidates (outside the
    # window), the article after as_of is not; the rows the engine scored measured where each lies
    fm = seen[2][1]
    docs = {index.passages[int(pid)].doc_id for pid in fm.ids}
    assert "d-0301" in docs and "d-0620" not in docs and "d-0610" in docs
    assert _by_doc(index, fm, "in_window")["d-0610"] == 1.0 and _by_doc(index, fm, "in_window")["d-0301"] == 0.0
