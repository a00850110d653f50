"""The reranker's figures (eval/train_ranker.py): Hit@1/5/10 and MRR@10 as the harness computes them, the share
of questions whose evidence is among the candidates at all, and the printed held-out table."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .metrics import retrieval_figures
from .ranker_data import QuestionData
from .records import QuestionScore

K = 10
Table = dict[str, dict[str, dict[str, float]]]


def figures(data: Sequence[QuestionData], rankings: Sequence[list[int]], *, k: int = K) -> dict[str, float]:
    """Hit@1/5/10 and MRR@10 exactly as the harness computes them (eval.metrics)."""
    scores = [QuestionScore(id=d.question.id, answerable=True, passage_hits=tuple(pid in d.hit_ids for pid in r),
                            evidence_recall=0.0, abstained=False, contained=False, citation_valid=(),
                            citation_hits=(), latency_ms=None) for d, r in zip(data, rankings, strict=True)]
    full = retrieval_figures(scores, k=k)
    return {key: round(float(full[key] or 0.0), 4) for key in ("hit@1", "hit@5", "hit@10", "mrr@10")}


def union_recall(data: Sequence[QuestionData]) -> dict[str, float]:
    """The share of questions with evidence in the reranked union, and in either retriever's whole list."""
    return {"union": round(float(np.mean([d.labels.any() for d in data])), 4),
            "first_stage": round(float(np.mean([bool(d.hit_ids) for d in data])), 4)}


def never_loses(table: Table, method: str) -> bool:
    """Whether `method` scores at least dense-only and lexical-only at Hit@1/5/10 on every benchmark."""
    return all(rows[method][m] >= max(rows["dense"][m], rows["lexical"][m])
               for rows in table.values() for m in ("hit@1", "hit@5", "hit@10"))


def print_table(table: Table, by_fold: Table, counts: dict[str, int], *, folds: int) -> None:
    """The held-out table of every data set and method, with Hit@5 fold by fold."""
    for name, rows in table.items():
        print(f"\n{name} ({counts[name]} questions, held-out folds)")
        print(f"  {'method':<18} {'Hit@1':>7} {'Hit@5':>7} {'Hit@10':>7} {'MRR@10':>7}   Hit@5 by fold")
        for method, f in rows.items():
            per_fold = " ".join(f"{by_fold[name][str(i + 1)][method]:.3f}" for i in range(folds))
            print(f"  {method:<18} {f['hit@1']:>7.4f} {f['hit@5']:>7.4f} {f['hit@10']:>7.4f} {f['mrr@10']:>7.4f}"
                  f"   {per_fold}")
