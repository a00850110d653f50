"""eval.answer_ceiling: what perfect sentence ranking or answerability could add with this reader."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from eval.answer_ceiling import NO_SPAN, Question, Sentence, collect, reordered_hit1, summarize
from eval.gold import load_gold


def _s(gold: bool, span: str = "", score: float = NO_SPAN, *, log_odds: float = 0.0) -> Sentence:
    return Sentence(log_odds, gold, span, score, score >= 5.0)


def test_the_figures_separate_ranking_answerability_and_the_reader() -> None:
    rows = [
        # the first sentence writes the answer and the reader marks it: right either way
        Question("a", "g1", ("Denver",), 0.9, (_s(True, "Denver", 9.0), _s(False))),
        # declined, although the first sentence holds the answer: only "never declined" counts it
        Question("b", "g2", ("Paris",), 0.2, (_s(True, "Paris", 8.0), _s(False))),
        # the answer is in the second sentence: only the gold-sentence-first oracle reaches it, with the reader's
        # best span there even below its offering threshold
        Question("c", "g3", ("1999",), 0.8, (_s(False, "May", 6.0), _s(True, "1999", 2.0))),
        # nowhere among the candidates
        Question("d", "g4", ("Rome",), 0.7, (_s(False, "Milan", 7.0),)),
    ]
    f = summarize(rows, threshold=0.5, depth=2)
    assert f["questions"] == 4 and f["answered"] == 0.75
    assert (f["sentence_hit@1"], f["sentence_hit@2"]) == (0.5, 0.75)
    assert (f["containment"], f["containment_never_declined"]) == (0.25, 0.5)
    assert (f["f1"], f["f1_never_declined"], f["f1_gold_sentence_first"]) == (0.25, 0.5, 0.75)


def test_the_reader_reranker_is_fitted_on_other_groups_and_learns_what_they_teach() -> None:
    # in every group the gold sentence is second, and only it has a span the reader scores: learnable
    rows = [Question(str(i), f"g{i}", ("x",), 0.9, (_s(False, log_odds=1.0), _s(True, "x", 9.0, log_odds=0.5)))
            for i in range(8)]
    assert reordered_hit1(rows, 2) == 1.0
    # a single group: nothing to fit on the other half, so the engine's order stands
    one = [Question(str(i), "g", ("x",), 0.9, (_s(False), _s(True, "x", 9.0))) for i in range(4)]
    assert reordered_hit1(one, 2) == 0.0


@pytest.mark.integration
def test_it_collects_the_engines_candidates_with_the_readers_spans(tmp_path: Path, seed_file: Path,
                                                                   real_embedder: Any, project_root: Path) -> None:
    import rag
    from rag.index.index import Index

    rag.build_index(tmp_path / "index", [seed_file], embedder=real_embedder)
    index = Index.load(tmp_path / "index")
    gold = [q for q in load_gold(project_root / "eval" / "gold" / "seed.jsonl", index.documents)
            if q.question == "Who is Syria's defense minister?"]
    (row,) = collect(index, gold, real_embedder, benchmark="seed", depth=3)
    assert len(row.sentences) == 3 and row.confidence > 0.5
    first = row.sentences[0]
    assert first.gold and first.span == "Murhaf Abu Qasra" and first.offered
    assert summarize([row], threshold=0.5, depth=3)["f1"] == 1.0
