"""How much could knowing the question's date add to news-archive's Hit@5? Reads two `rag eval` runs of it.

    rag eval --corpus ../shared/benchmarks/news-archive --k 30 --no-as-of --out eval/out/archive-k30-noasof
    rag eval --corpus ../shared/benchmarks/news-archive --k 30 --out eval/out/archive-k30-asof
    python -m eval.time_ceiling eval/out/archive-k30-noasof eval/out/archive-k30-asof

#11 asks Hit@5 with `as_of` at least 0.10 above the same engine without it. This prints, on the answerable
questions: Hit@5 of both runs; what the run without as-of would score if every article dated after the question
were taken out of its ranking (a perfect time filter over the same ranking), and if the articles of the
question's own week went first (an oracle preference, stable otherwise); the share whose evidence is anywhere in
the top k (no reordering of those k can score above it); how old the evidence articles were when asked; and, for
the questions whose evidence is in the top k but not the top 5, which articles stand above it: dated after the
question (time can remove them), of its week, older, or undated. Article dates are those ingest finds (the
corpus gives none: `rag.ingest.dates`), evidence per GOLD_FORMAT.md (a passage "hits" as the harness says).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.ingest.corpus import load_corpus

from .ranker_data import BENCH

Row = dict[str, Any]
WEEK = dt.timedelta(days=7)


def _rows(run: Path) -> list[Row]:
    lines = (run / "results.jsonl").read_text(encoding="utf-8").splitlines()
    return [r for r in map(json.loads, lines) if r.get("answerable")]


def first_hit(passages: Sequence[Row], *, keep: Callable[[Row], bool] = lambda p: True,
              key: Callable[[Row], Any] | None = None) -> int | None:
    """The rank (from 1) of the first passage that hits, among those kept, reordered by `key` (stable)."""
    kept = [p for p in passages if keep(p)]
    ordered = sorted(kept, key=key) if key is not None else kept
    return next((i + 1 for i, p in enumerate(ordered) if p["hit"]), None)


def _at5(rank: int | None) -> bool:
    return rank is not None and rank <= 5


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("off", type=Path, help="the run without as-of (--no-as-of), ideally at --k 30")
    ap.add_argument("on", type=Path, help="the run with as-of, same k")
    ap.add_argument("--benchmark", default="news-archive", help="a benchmark's name or folder")
    args = ap.parse_args(argv)
    bench = Path(args.benchmark) if Path(args.benchmark).is_dir() else BENCH / args.benchmark
    dates = {d.id: dt.date.fromisoformat(d.date) for d in load_corpus([bench / "corpus.jsonl"]).documents
             if d.date is not None and len(d.date) == 10}
    gold = {g["id"]: g for g in map(json.loads, (bench / "gold.jsonl").read_text(encoding="utf-8").splitlines())}
    off, on = _rows(args.off), {r["id"]: r for r in _rows(args.on)}
    figures: dict[str, list[bool]] = {k: [] for k in ("as-of off", "as-of on", "off, later articles removed",
                                                      "off, the question's week first", "off, evidence in top k",
                                                      "on, evidence in top k")}
    above: Counter[str] = Counter()
    missed = fixable = 0
    ages: list[int] = []
    for r in off:
        asked = dt.date.fromisoformat(str(gold[r["id"]]["date"])[:10])

        def kind(p: Row, asked: dt.date = asked) -> str:
            d = dates.get(p["doc_id"])
            return ("undated" if d is None else "later" if d > asked else
                    "same week" if asked - d <= WEEK else "older")

        ps = r["passages"]
        rank = first_hit(ps)
        figures["as-of off"].append(_at5(rank))
        figures["as-of on"].append(_at5(first_hit(on[r["id"]]["passages"])))
        figures["off, later articles removed"].append(_at5(first_hit(ps, keep=lambda p: kind(p) != "later")))
        figures["off, the question's week first"].append(_at5(first_hit(ps, key=lambda p: kind(p) != "same week")))
        figures["off, evidence in top k"].append(rank is not None)
        figures["on, evidence in top k"].append(first_hit(on[r["id"]]["passages"]) is not None)
        ages += [(asked - dates[e["doc"]]).days for e in gold[r["id"]]["evidence"]
                 if isinstance(e, dict) and e.get("doc") in dates]
        if rank is not None and rank > 5:
            missed += 1
            kinds = [kind(p) for p in ps[:rank - 1]]
            above.update(kinds)
            fixable += sum(k != "later" for k in kinds) < 5
    print(f"{len(off)} answerable questions, top {len(off[0]['passages']) if off else 0} passages each")
    for name, hits in figures.items():
        print(f"  {name:34s} {np.mean(hits):.3f}")
    a = np.array(ages)
    print(f"evidence articles with a date: {len(a)}; age when asked (days) p10/p25/p50/p75/p90: "
          f"{' / '.join(str(int(x)) for x in np.percentile(a, [10, 25, 50, 75, 90]))}; "
          f"dated after the question {np.mean(a < 0):.3f}, within its week {np.mean((a >= 0) & (a <= 7)):.3f}")
    total = sum(above.values()) or 1
    print(f"{missed} questions have their evidence in the top k but not the top 5 (as-of off); above it stand: "
          + ", ".join(f"{k} {v} ({v / total:.0%})" for k, v in above.most_common()))
    print(f"of those, taking out the articles dated after the question alone brings {fixable} into the top 5")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
