"""A `rag eval` run's answer figures on the questions a trained model never saw, beside those it trained on.

    python -m eval.fold_figures eval/out/squad-dev-hybrid-k10 [--benchmark squad-dev]

The reader (`eval/train_reader.py`) trains on folds 1-4 of squad-dev and news-rtqa and never on fold 0 (the
reranker's folds: squad-dev by article, news-rtqa by ISO week). This reads a run's results.jsonl and prints, for
fold 0 and for the rest, the share of answerable questions whose answer contains a gold answer, the share
declined, SQuAD EM / F1 of the short answer (none given scores 0) and the evidence's Hit@1 / Hit@5. With
`--threshold`, the answers are judged as if answerability's threshold had been that instead (an answer whose
confidence is below it counts as declined), to compare operating points without asking again.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.ingest.corpus import load_corpus

from .gold import load_gold
from .lora import FOLDS, HELD_OUT
from .ranker_data import BENCH, assign_folds, group_of


def folds(benchmark: str) -> dict[str, int]:
    """The fold of each answerable question of `benchmark`, as the reader's training assigned them."""
    docs = {d.id: d for d in load_corpus([BENCH / benchmark / "corpus.jsonl"]).documents}
    questions = [q for q in load_gold(BENCH / benchmark / "gold.jsonl", docs) if q.answerable]
    return dict(zip((q.id for q in questions),
                    map(int, assign_folds([group_of(benchmark, q) for q in questions], FOLDS)), strict=True))


def figures(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    n = max(len(rows), 1)
    return {"questions": len(rows),
            "containment": round(sum(bool(r.get("contained")) for r in rows) / n, 4),
            "declined": round(sum(bool(r.get("abstained")) for r in rows) / n, 4),
            "em": round(float(np.mean([float(r.get("exact_match") or 0.0) for r in rows])) if rows else 0.0, 4),
            "f1": round(float(np.mean([float(r.get("f1") or 0.0) for r in rows])) if rows else 0.0, 4),
            "hit@1": round(sum(bool(r.get("hit@1")) for r in rows) / n, 4),
            "hit@5": round(sum(bool(r.get("hit@5")) for r in rows) / n, 4)}


def at_threshold(row: dict[str, Any], threshold: float) -> dict[str, Any]:
    """`row` as if answerability's threshold were `threshold`: declined when its confidence is below it."""
    if row.get("abstained") or float(row.get("confidence") or 0.0) >= threshold:
        return row
    return {**row, "abstained": True, "contained": False, "exact_match": 0.0, "f1": 0.0}


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path, help="a `rag eval` output folder (holding results.jsonl)")
    ap.add_argument("--benchmark", help="squad-dev or news-rtqa (default: read from the folder's name)")
    ap.add_argument("--threshold", type=float, help="judge the answers as if declined below this confidence")
    args = ap.parse_args(argv)
    name = args.benchmark or next(n for n in ("squad-dev", "news-rtqa") if args.run.name.startswith(n))
    fold_of = folds(name)
    rows = [json.loads(line) for line in (args.run / "results.jsonl").read_text(encoding="utf-8").splitlines()]
    rows = [r for r in rows if r.get("answerable") and r["id"] in fold_of]
    if args.threshold is not None:
        rows = [at_threshold(r, args.threshold) for r in rows]
    table = {"held out (fold 0)": figures([r for r in rows if fold_of[r["id"]] == HELD_OUT]),
             "trained on (folds 1-4)": figures([r for r in rows if fold_of[r["id"]] != HELD_OUT])}
    print(json.dumps({"run": str(args.run), "benchmark": name, "threshold": args.threshold, **table}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
