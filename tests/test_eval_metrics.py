"""The metric functions one by one, against values worked out by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.gold import Evidence, GoldQuestion, load_gold
from eval.metrics import (
    Span,
    contains_answer,
    evidence_items,
    evidence_recall,
    hit_at,
    hits_evidence,
    mrr,
    squad_em,
    squad_f1,
    summarize,
)
from eval.records import QuestionScore
from eval.stats import percentile
from rag.records import Document


def q(answers: tuple[str, ...], *evidence: Evidence) -> GoldQuestion:
    return GoldQuestion("q", "?", answers, evidence, 1)


def score(hits: tuple[bool, ...], *, answerable: bool = True, abstained: bool = False) -> QuestionScore:
    return QuestionScore("q", answerable, hits, 0.0, abstained, False, (), (), 1.0)


def test_squad_normalisation_em_and_f1() -> None:
    assert squad_em("The Denver Broncos!", ["Denver Broncos"]) == 1.0
    assert squad_em("Broncos", ["Denver Broncos"]) == 0.0
    # pred "denver broncos won" vs gold "denver broncos": p = 2/3, r = 1, f1 = 0.8
    assert squad_f1("Denver Broncos won", ["Carolina", "Denver Broncos"]) == pytest.approx(0.8)
    assert squad_f1("nothing alike", ["Denver Broncos"]) == 0.0


def test_containment_uses_whole_words_and_ignores_citation_markers() -> None:
    assert contains_answer("On Aug. 13, Turkey and Syria signed [1]", ["Aug. 13"])
    assert contains_answer("It was signed on August 13 [1].", ["Aug. 13", "August 13"])
    assert not contains_answer("Iraqi militias stormed it [1]", ["Iraq"])
    assert not contains_answer("They signed it [1]", ["1"])  # the marker is not the answer
    assert not contains_answer("anything", ["The"])  # an answer that normalises to nothing never matches


def test_percentile_interpolates_like_numpy() -> None:
    assert percentile([], 50) is None
    assert percentile([5.0], 95) == 5.0
    assert percentile([1, 2, 3, 4], 50) == pytest.approx(2.5)
    assert percentile([10, 20, 30, 40, 50, 60, 100], 95) == pytest.approx(88.0)


def test_overlap_rules_of_gold_format() -> None:
    gold = q(("Oslo",), Evidence("d", 10, 20))
    assert hits_evidence(gold, Span("d", 19, 30, "x"))  # shares character 19
    assert not hits_evidence(gold, Span("d", 20, 30, "x"))  # touches, does not overlap
    assert not hits_evidence(gold, Span("e", 10, 20, "x"))  # another document
    whole = q(("blue bicycles",), Evidence("d", 0, 99, whole_doc=True))
    assert hits_evidence(whole, Span("d", 50, 60, "They make Blue bicycles."))
    assert not hits_evidence(whole, Span("d", 0, 10, "They make bikes."))


def test_evidence_recall_counts_items_not_occurrences(tmp_path: Path) -> None:
    text = "Rain fell. The dam broke. Rain fell. Crops failed."
    docs = {"d": Document("d", "D", text)}
    gold = tmp_path / "g.jsonl"
    gold.write_text(json.dumps({"id": "a", "question": "?", "answers": ["x"],
                                "evidence": ["Rain fell.", {"doc": "d", "quote": "Crops failed."},
                                             {"doc": "d", "quote": "Crops failed."}]}) + "\n")
    (question,) = load_gold(gold, docs)
    assert [e.item for e in question.evidence] == [0, 0, 1, 2]  # "Rain fell." occurs twice
    assert len(evidence_items(question)) == 2  # items 1 and 2 are the same span: counted once
    second_rain = Span("d", 26, 36, text[26:36])
    assert evidence_recall(question, [second_rain]) == 0.5  # either occurrence hits the first item
    assert evidence_recall(question, [second_rain, Span("d", 37, 50, "Crops failed.")]) == 1.0
    assert evidence_recall(q(("x",)), [second_rain]) == 0.0


def test_hit_at_and_mrr() -> None:
    scores = [score((False, True)), score((True,)), score((False, False, False, True)), score(())]
    assert hit_at(scores, 1, 10) == 0.25
    assert hit_at(scores, 2, 10) == 0.5
    assert hit_at(scores, 4, 10) == 0.75
    assert hit_at(scores, 10, 5) is None
    assert mrr(scores, 10, 10) == pytest.approx((0.5 + 1 + 0.25 + 0) / 4)
    assert mrr(scores, 3, 10) == pytest.approx((0.5 + 1) / 4)
    assert mrr(scores, 4, 10) == pytest.approx((0.5 + 1 + 0.25) / 4)  # a hit at rank n counts


def test_figures_with_nothing_to_measure_are_none() -> None:
    only_answerable = summarize([score((True,), abstained=True)], k=10, build_s=1.5)
    assert only_answerable["abstain_correct"] is None  # no unanswerable question
    assert only_answerable["abstain_false"] == 1.0
    assert only_answerable["span_validity"] is None and only_answerable["citation_precision"] is None
    assert only_answerable["build_s"] == 1.5
    only_unanswerable = summarize([score((), answerable=False, abstained=True)], k=10, build_s=0.0)
    assert only_unanswerable["hit@1"] is None and only_unanswerable["abstain_correct"] == 1.0


def test_a_passage_is_credited_with_the_wire_copies_folded_into_it() -> None:
    from eval.metrics import score_answer
    from rag.records import Answer, Passage, ScoredPassage

    text = "Regulators approved a 300-megawatt solar farm in Kestrel Valley on Wednesday."
    docs = {d: Document(id=d, title=d, text=text) for d in ("ledger", "courier")}
    gold = q(("300-megawatt",), Evidence("courier", 0, 20))  # the evidence is in the copy that was folded
    shown = Passage(id=1, doc_id="ledger", start=0, end=len(text), text=text, sentences=((0, len(text)),))
    copy = Passage(id=2, doc_id="courier", start=0, end=len(text), text=text, sentences=((0, len(text)),))

    def scored(copies: tuple[Passage, ...]) -> tuple[bool, ...]:
        sp = ScoredPassage(shown, "ledger", 1.0, 1, also_in=tuple(c.doc_id for c in copies), copies=copies)
        answer = Answer(text="x", citations=(), passages=(sp,), abstained=True, query="?", question="?")
        return score_answer(gold, answer, docs, latency_ms=1.0, k=10).passage_hits

    assert scored((copy,)) == (True,)
    assert scored(()) == (False,)
