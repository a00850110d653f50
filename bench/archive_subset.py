"""A subset of news-archive small enough to index in a few minutes: sampled questions, all their evidence
articles, and random other articles as distractors (`rag eval --corpus OUT`).

    python bench/archive_subset.py --questions 60 --others 400 --seed 0 --out eval/out/archive-mini
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

ARCHIVE = Path(__file__).resolve().parents[1].parent / "shared" / "benchmarks" / "news-archive"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--questions", type=int, default=60)
    ap.add_argument("--others", type=int, default=400)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--archive", type=Path, default=ARCHIVE)
    ap.add_argument("--out", type=Path, default=Path("eval/out/archive-mini"))
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    gold = [json.loads(line) for line in (args.archive / "gold.jsonl").open(encoding="utf-8")]
    questions = rng.sample(gold, args.questions)
    needed = {e["doc"] for q in questions for e in q["evidence"] if isinstance(e, dict) and "doc" in e}
    rows = [json.loads(line) for line in (args.archive / "corpus.jsonl").open(encoding="utf-8")]
    others = [r for r in rows if r["_id"] not in needed]
    keep = needed | {r["_id"] for r in rng.sample(others, args.others)}
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "corpus.jsonl").open("w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows if r["_id"] in keep)
    with (args.out / "gold.jsonl").open("w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(q, ensure_ascii=False) + "\n" for q in questions)
    print(f"{len(questions)} questions, {len(needed)} evidence articles, {len(keep)} articles in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
