"""Peak memory of an update of an existing index (`rag index` on a folder that has one): the first N articles of a
corpus are built once, then the same update (1% of the articles removed, 1% changed, 50 new) is made on a copy of
that index by this checkout ("after") and by a base commit ("before"), each in a fresh process.

    python bench/update_memory.py [--sizes 11812,35436] [--before 13767ff] [--corpus CORPUS.jsonl]

Fake 384-dimensional vectors (`bench/build_memory.py`'s `FakeEmbedder`): an index's memory does not depend on
which vectors it holds. Prints, per size and side, the seconds, the resident memory once the update's process
has started (the embedder made) and the peak.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_memory import CORPUS, ROOT, FakeEmbedder, _before_source, _run_child, _status_mib


def _child(task: str, args: dict[str, Any]) -> dict[str, Any]:
    from rag.collection import build_index

    embedder = FakeEmbedder()
    start = _status_mib("VmRSS")
    t0 = time.perf_counter()
    result = build_index(args["index"], [args["corpus"]], embedder=embedder, rebuild=task == "build")
    r = result.report
    return {"seconds": round(time.perf_counter() - t0, 1), "start MiB": round(start),
            "peak MiB": round(_status_mib("VmHWM")), "added": len(r.added), "changed": len(r.changed),
            "removed": len(r.removed), "passages embedded": r.passages_embedded}


def _updated(lines: list[str], extra: list[str]) -> list[str]:
    """1% removed (every 100th article), 1% changed (the one after: a sentence added), the `extra` ones added."""
    out = []
    for i, line in enumerate(lines):
        if i % 100 == 0:
            continue
        if i % 100 == 1:
            row = json.loads(line)
            row["text"] = f"{row.get('text') or ''}\n\nCorrection: an earlier version of this story misstated a date."
            line = json.dumps(row, ensure_ascii=False) + "\n"
        out.append(line)
    return out + extra


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="11812")
    ap.add_argument("--before", default="13767ff")
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args.child[0], json.loads(args.child[1]))))
        return 0
    with tempfile.TemporaryDirectory(prefix="update-memory-") as tmp_name:
        tmp = Path(tmp_name)
        sides = [("after", ROOT), ("before", _before_source(args.before, tmp))]
        for n in (int(s) for s in args.sizes.split(",")):
            with args.corpus.open(encoding="utf-8") as fh:
                lines = list(itertools.islice(fh, n + 50))
            base, changed = tmp / f"base-{n}" / "corpus.jsonl", tmp / f"changed-{n}" / "corpus.jsonl"
            for path, rows in ((base, lines[:n]), (changed, _updated(lines[:n], lines[n:]))):
                path.parent.mkdir()
                path.write_text("".join(rows), encoding="utf-8")
            del lines
            index = tmp / f"index-{n}"
            built = _run_child("build", {"index": str(index), "corpus": str(base)}, ROOT, Path(__file__))
            print(f"{n} articles, built by this checkout: {built}", flush=True)
            for side, src in sides:
                copy = tmp / f"index-{n}-{side}"
                shutil.copytree(index, copy, symlinks=True)
                row = _run_child("update", {"index": str(copy), "corpus": str(changed)}, src, Path(__file__))
                print(f"  update, {side}: {row}", flush=True)
                shutil.rmtree(copy)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
