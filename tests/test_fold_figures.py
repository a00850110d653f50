"""eval.fold_figures: a run's answers judged at another answerability threshold, without asking again."""

from __future__ import annotations

from eval.fold_figures import at_threshold, figures

ANSWERED = {"id": "a", "answerable": True, "abstained": False, "contained": True, "exact_match": 1.0, "f1": 1.0,
            "confidence": 0.59, "hit@1": True, "hit@5": True}
DECLINED = {**ANSWERED, "id": "b", "abstained": True, "contained": False, "exact_match": 0.0, "f1": 0.0,
            "confidence": 0.2}


def test_an_answer_below_the_new_threshold_counts_as_declined() -> None:
    assert at_threshold(ANSWERED, 0.58) == ANSWERED
    moved = at_threshold(ANSWERED, 0.60)
    assert moved["abstained"] and not moved["contained"] and moved["f1"] == 0.0 and moved["exact_match"] == 0.0
    assert moved["hit@1"]  # retrieval is not the threshold's: it stays
    assert at_threshold(DECLINED, 0.1) == DECLINED  # a declined answer is never revived: its text was not kept


def test_figures_count_declines_as_misses() -> None:
    table = figures([ANSWERED, DECLINED])
    assert table == {"questions": 2, "containment": 0.5, "declined": 0.5, "em": 0.5, "f1": 0.5, "hit@1": 1.0,
                     "hit@5": 1.0}
