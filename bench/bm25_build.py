"""Memory and time of building BM25's score matrix on an index's passages: bm25s's `index()` (the previous build)
against `rag.index.bm25_scores` (this one), each in a fresh process, several rounds alternating.

    python bench/bm25_build.py INDEX_DIR [--rounds 3]

Both sides first turn the passages' terms into ids the same way (`LexicalIndex.build`'s loop); the peak is then
reset (/proc/self/clear_refs) so that it measures the matrix build alone: the MiB it adds above what the term ids
already hold, and its seconds. The two matrices are compared: they must be equal, bit for bit.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import subprocess
import sys
import time
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) // 1024
    raise RuntimeError(field)


def _side(index_dir: str, side: str) -> dict[str, object]:
    import bm25s
    import numpy as np

    from rag.index import stores
    from rag.index.bm25 import K1, B, set_scores
    from rag.index.index import Index
    from rag.text.terms import terms

    index = Index.load(index_dir)
    vocab: dict[str, int] = {}
    flat, ends = array("i"), array("q")
    for text in stores._lexical_texts(index.texts):
        flat.extend(vocab.setdefault(t, len(vocab)) for t in terms(text) or ["\x00"])
        ends.append(len(flat))
    del index
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak: from here on, the matrix build alone
    before = _status("VmRSS")
    retriever = bm25s.BM25(k1=K1, b=B)
    t0 = time.perf_counter()
    if side == "bm25s":
        class Rows:  # the previous build's adapter (rag/index/bm25.py before 2026-12-02): views into one array
            def __init__(self) -> None:
                self._flat = memoryview(flat)

            def __len__(self) -> int:
                return len(ends)

            def __getitem__(self, i: int) -> memoryview:
                return self._flat[ends[i - 1] if i else 0:ends[i]]

            def __iter__(self) -> Iterator[memoryview]:
                start = 0
                for end in ends:
                    yield self._flat[start:end]
                    start = end

        class TermIds:
            ids = Rows()

        TermIds.vocab = vocab  # type: ignore[attr-defined]
        retriever.index(TermIds(), show_progress=False)
    else:
        set_scores(retriever, flat, ends, vocab)
    seconds = time.perf_counter() - t0
    digest = hashlib.sha256()
    for key in ("data", "indices", "indptr"):
        digest.update(np.ascontiguousarray(retriever.scores[key]).tobytes())
    return {"side": side, "passages": len(ends), "pairs": len(retriever.scores["data"]), "seconds": seconds,
            "added_mib": _status("VmHWM") - before, "digest": digest.hexdigest()[:16]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("index_dir")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--side", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        print(json.dumps(_side(args.index_dir, args.side)))
        return
    rows: dict[str, list[dict[str, Any]]] = {"bm25s": [], "ours": []}
    for r in range(args.rounds):
        for side in ("bm25s", "ours") if r % 2 == 0 else ("ours", "bm25s"):
            out = subprocess.run([sys.executable, __file__, args.index_dir, "--side", side], check=True,
                                 capture_output=True, text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT)}).stdout
            rows[side].append(json.loads(out.strip().splitlines()[-1]))
            print(rows[side][-1], flush=True)
    digests = {row["digest"] for side in rows.values() for row in side}
    med = {side: {k: statistics.median(float(x[k]) for x in v) for k in ("seconds", "added_mib")}
           for side, v in rows.items()}
    print(f"passages {rows['ours'][0]['passages']:,}, pairs {rows['ours'][0]['pairs']:,}; matrices equal: "
          f"{len(digests) == 1}")
    for side, m in med.items():
        print(f"{side:6} median of {args.rounds}: {m['seconds']:.1f} s, +{m['added_mib']:.0f} MiB")
    print(f"ours / bm25s: time {med['ours']['seconds'] / med['bm25s']['seconds']:.2f}, memory "
          f"{med['ours']['added_mib'] / max(med['bm25s']['added_mib'], 1):.2f}")


if __name__ == "__main__":
    main()
