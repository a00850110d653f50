"""news-archive made K times larger, for measuring a build's memory at archive sizes this machine has no corpus
of: K editions of every article, edition k of all of them after edition k-1, so the first N lines of the file are
a corpus of N articles (`bench/build_memory.py --corpus OUT/corpus.jsonl --sizes 11812,35436,118120 --fake`).

    python bench/tenfold_corpus.py [--times 10] [--out /tmp/news-archive-x10]

Edition 0 is the article as it is; edition k > 0 has its paragraphs rotated by k and "(edition k)" after its
title, under the id "<id>~k": the same passages and sentences in number and length, not the same texts (an
identical text could be folded or skipped by a build). The vocabulary does not grow as a real archive's would
(Heaps' law: ~3x the distinct terms at 10x the text); BM25's vocabulary is a few MiB at news-archive's size.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ARCHIVE = Path(__file__).resolve().parents[1].parent / "shared" / "benchmarks" / "news-archive" / "corpus.jsonl"


def edition(row: dict[str, object], k: int) -> dict[str, object]:
    if k == 0:
        return row
    paragraphs = str(row.get("text") or "").split("\n\n")
    shift = k % max(1, len(paragraphs))
    out = dict(row)
    out["_id"] = f"{row['_id']}~{k}"
    out["text"] = "\n\n".join(paragraphs[shift:] + paragraphs[:shift])
    if row.get("title"):
        out["title"] = f"{row['title']} (edition {k})"
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--times", type=int, default=10)
    ap.add_argument("--corpus", type=Path, default=ARCHIVE)
    ap.add_argument("--out", type=Path, default=Path("/tmp/news-archive-x10"))
    args = ap.parse_args(argv)
    rows = [json.loads(line) for line in args.corpus.open(encoding="utf-8")]
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "corpus.jsonl").open("w", encoding="utf-8") as fh:
        for k in range(args.times):
            for row in rows:
                fh.write(json.dumps(edition(row, k), ensure_ascii=False) + "\n")
    print(f"{len(rows) * args.times} articles in {args.out / 'corpus.jsonl'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
