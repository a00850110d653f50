"""Wire copies in news-archive: how many stories were republished by several outlets, and how much folding them
shortens the top 10 of repeated passages.

Two figures, issue #11 item 5:

- **clusters across the archive**: every article's word 5-gram shingles, less the shingles found in more than
  `--max-df` articles (a site's boilerplate: menus, cookie notices, "share this story", which otherwise make
  every two pages of one site look alike), signed with MinHash (datasketch, the engine's settings) and paired by
  MinHashLSH at the engine's threshold (0.6); each candidate pair is kept only when the exact Jaccard of its
  filtered shingles is at least 0.6. Clusters are the connected components. Reported: clusters, articles in
  them, size distribution, how many clusters span two or more outlets (a wire story) against one outlet only
  (a page saved twice), and examples to read.
- **the top 10 of real questions**: for each of the archive's dated questions (as of its date), the engine's
  ranked candidates before folding: how many of the top 10 are a near-copy of a better-ranked passage of another
  article (`rag.copies.groups`, exactly what `search` folds), and how many distinct stories the top 10 holds
  before and after folding.

    nice -n 10 .venv/bin/python -m bench.wire_copies [--index DIR] [--questions N] [--max-df 20] [--containment]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from rag import copies, retrieve
from rag.config import PROJECT_ROOT
from rag.records import ScoredPassage

ARCHIVE = PROJECT_ROOT.parent / "shared" / "benchmarks" / "news-archive"
INDEX = PROJECT_ROOT / "eval" / "out" / "cache" / "news-archive-94855cef828bc58d"


def _shingles(text: str) -> set[str]:
    words = copies._words(text)
    return {" ".join(words[i:i + copies.SHINGLE]) for i in range(len(words) - copies.SHINGLE + 1)}


def archive_clusters(rows: Sequence[dict], *, max_df: int, containment: bool = False) -> dict:
    """Clusters of near-duplicate articles among `rows` (corpus.jsonl rows), as described above. With
    `containment`, a pair is kept when the shingles they share are at least 0.6 of the smaller article's (one
    page holds the other's story, whatever else it carries), its candidates found by LSH at 0.3."""
    from datasketch import MinHash, MinHashLSH

    t0 = time.perf_counter()
    sets = [_shingles(f"{r.get('title', '')}\n{r.get('text', '')}") for r in rows]
    df = Counter(s for shingles in sets for s in shingles)
    sets = [{s for s in shingles if df[s] <= max_df} for shingles in sets]
    lsh = MinHashLSH(threshold=0.3 if containment else copies.THRESHOLD, num_perm=copies.NUM_PERM)
    signatures = []
    for i, shingles in enumerate(sets):
        m = MinHash(num_perm=copies.NUM_PERM, seed=1, scheme="affine32", hashfunc=copies._crc32)
        m.update_batch([s.encode("utf-8") for s in sorted(shingles)])
        signatures.append(m)
        if len(shingles) >= copies.MIN_WORDS:  # too few shingles left to tell: not paired
            lsh.insert(i, m)
    parent = list(range(len(rows)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    pairs = 0
    for i, shingles in enumerate(sets):
        if len(shingles) < copies.MIN_WORDS:
            continue
        for j in lsh.query(signatures[i]):
            shared = len(shingles & sets[j])
            whole = min(len(shingles), len(sets[j])) if containment else len(shingles | sets[j])
            if j > i and shared / whole >= copies.THRESHOLD:
                pairs += 1
                parent[root(j)] = root(i)
    members: dict[int, list[int]] = {}
    for i in range(len(rows)):
        members.setdefault(root(i), []).append(i)
    clusters = [m for m in members.values() if len(m) > 1]
    outlets = [{urlparse(rows[i].get("url") or "").netloc.removeprefix("www.") for i in c} for c in clusters]
    wire = [c for c, o in zip(clusters, outlets, strict=True) if len(o) > 1]
    return {
        "articles": len(rows), "max_df": max_df, "measure": "containment" if containment else "jaccard",
        "pairs": pairs, "clusters": len(clusters),
        "articles_in_clusters": sum(len(c) for c in clusters),
        "sizes": dict(sorted(Counter(len(c) for c in clusters).items())),
        "clusters_across_outlets": len(wire), "articles_in_those": sum(len(c) for c in wire),
        "clusters_one_outlet": len(clusters) - len(wire),
        "examples": [[f"{urlparse(rows[i].get('url') or '').netloc}: {rows[i].get('title', '')[:80]}" for i in c[:4]]
                     for c in sorted(wire, key=len, reverse=True)[:8]],
        "seconds": round(time.perf_counter() - t0, 1),
    }


def top10_repeats(index_dir: Path, questions: Sequence[dict]) -> dict:
    """For each question (as of its date), the top 10 of the engine's ranked candidates before folding: how
    many are copies of a better-ranked passage of another article, and distinct stories before and after."""
    from rag.engine import Engine

    engine = Engine.open(index_dir)
    seen: list[list[ScoredPassage]] = []
    real_fold = retrieve.fold

    def recording(passages: Sequence[ScoredPassage]) -> list[ScoredPassage]:
        seen.append(list(passages))
        return real_fold(passages)

    retrieve.fold = recording
    repeats, before, after = [], [], []
    try:
        for q in questions:
            seen.clear()
            engine.ask(q["question"], as_of=q.get("date"))
            ranked = seen[0]  # the answer's own search (a follow-up search may come after it)
            top = ranked[:10]
            rep = copies.groups([sp.passage.text for sp in top], [sp.passage.doc_id for sp in top])
            repeats.append(sum(r != i for i, r in enumerate(rep)))
            before.append(len({r for r in rep}))
            after.append(len(real_fold(ranked)[:10]))
    finally:
        retrieve.fold = real_fold
    n = len(questions)
    return {
        "questions": n,
        "with_a_repeat_in_top10": round(sum(r > 0 for r in repeats) / n, 3),
        "repeated_passages_per_top10_mean": round(float(np.mean(repeats)), 3),
        "repeated_passages_per_top10_max": max(repeats),
        "distinct_stories_in_top10_before_mean": round(statistics.mean(before), 2),
        "distinct_stories_in_top10_after_mean": round(statistics.mean(after), 2),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--index", type=Path, default=INDEX, help="a built index of news-archive (the harness's cache)")
    ap.add_argument("--questions", type=int, default=0, help="the first N dated questions (default: all)")
    ap.add_argument("--max-df", type=int, default=20, help="drop shingles found in more than this many articles")
    ap.add_argument("--containment", action="store_true",
                    help="pair articles by the share of the smaller one's shingles they share, not by Jaccard")
    ap.add_argument("--out", type=Path, default=PROJECT_ROOT / "bench" / "out" / "wire_copies.json")
    args = ap.parse_args(argv)
    with (ARCHIVE / "corpus.jsonl").open(encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    result = {"clusters": archive_clusters(rows, max_df=args.max_df, containment=args.containment)}
    print(json.dumps(result["clusters"], indent=1, ensure_ascii=False))
    if args.index.exists():
        with (ARCHIVE / "gold.jsonl").open(encoding="utf-8") as fh:
            questions = [q for q in map(json.loads, fh) if q.get("answers")]
        result["top10"] = top10_repeats(args.index, questions[: args.questions or None])
        print(json.dumps(result["top10"], indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
