"""Peak memory of an index build against corpus size: the first N articles of news-archive, each build in a
fresh process (peak RSS is per process), the code of a base commit ("before") and of this checkout ("after")
side by side in one run.

    python bench/build_memory.py [--sizes 500,1000,2000] [--before REV] [--batch-texts N] [--fake] [--ask N]
                                 [--corpus CORPUS.jsonl] [--no-compare] [--out FILE]

For each size and each side it prints articles, passages, sentences, build seconds, passages/s, the RSS once
the model is loaded and the peak RSS of the build; then, per side, the slope of peak RSS per 1,000 passages (a
least-squares line through the sizes) and its extrapolation to the whole archive (11,812 articles) and ten
times that. The before side is `git archive REV rag` unpacked in a temporary folder (default: the merge base
with main); `--before none` skips it, `--batch-texts 1000000000` makes this checkout build in one batch.
Each index is then loaded in another fresh process: load seconds and the peak RSS the load adds. `--fake` builds
with a fast fake embedder of MiniLM's 384 dimensions (random unit vectors seeded by each text's hash, tokens
counted by words) instead of the model: the index's memory does not depend on which vectors it holds, so this
measures the index's own slope in minutes where the model takes an hour; `--ask N` then times N warm `ask()`
calls on each loaded index (the fake embeds the question too, so model time is left out).
When both sides are built at a size, their vectors are compared: passage vectors by id and sentence vectors by
key (max abs difference and least cosine), since batch boundaries can change which texts share a padded batch.
A build embeds about 100 texts an article (passages and sentences): 1,000 articles take several minutes on two
busy cores, so the default sizes are for a quiet machine; small sizes overstate the slope (the first batches'
one-off allocations, torch's kernel caches, weigh on a few thousand passages).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "benchmarks" / "news-archive" / "corpus.jsonl"
ARCHIVE_ARTICLES = 11_812
COLUMNS = ("side", "articles", "passages", "sentences", "seconds", "passages/s", "model MiB", "peak MiB",
           "load s", "load MiB", "ask ms")
_WORD = re.compile(r"\w+|[^\w\s]")


class FakeEmbedder:
    """MiniLM's shape without the model: 384-dimensional unit vectors seeded by a hash of each text."""

    name = "fake-384"
    dim = 384
    max_tokens = 256
    precision = "float32"

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(_WORD.findall(t)) for t in texts]

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> Any:
        import numpy as np

        out = np.empty((len(texts), self.dim), np.float32)
        for i, text in enumerate(texts):
            seed = int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(),
                                  "little")
            v = np.random.default_rng(seed).standard_normal(self.dim)
            out[i] = v / np.linalg.norm(v)
        return out


def _embedder(fake: bool) -> Any:
    if fake:
        return FakeEmbedder()
    from rag.embed.model import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder()


def _child_build(args: dict[str, Any]) -> dict[str, Any]:
    """Build one index with the real embedder, in this process; run with `rag` of the side being measured."""
    from rag.collection import build_index

    embedder = _embedder(bool(args.get("fake")))
    embedder.embed(["load the model and choose its precision", "before the build is timed"] * 8)
    model_mib = _status_mib("VmHWM")
    extra = {"batch_texts": args["batch_texts"]} if args.get("batch_texts") else {}
    t0 = time.perf_counter()
    result = build_index(args["index"], [args["corpus"]], embedder=embedder, rebuild=True, **extra)
    seconds = time.perf_counter() - t0
    r = result.report
    return {"articles": len(r.added), "passages": r.passages_embedded, "sentences": r.sentences_embedded,
            "seconds": round(seconds, 1), "passages/s": round(r.passages_embedded / seconds, 1),
            "model MiB": round(model_mib), "peak MiB": round(_status_mib("VmHWM")),
            "precision": embedder.precision}


def _child_load(args: dict[str, Any]) -> dict[str, Any]:
    """Load one index in this fresh process as an engine does: seconds and the peak RSS it adds; then `ask` warm
    questions."""
    import inspect

    from rag.engine import Engine
    from rag.index.index import Index

    before = _status_mib("VmRSS")
    t0 = time.perf_counter()
    # As an engine loads it: memory-mapped where that side's code can (`mapped`, 2026-12-06 on), read otherwise.
    mapped = "mapped" in inspect.signature(Index.load).parameters
    index = Index.load(args["index"], mapped=True) if mapped else Index.load(args["index"])
    out: dict[str, Any] = {"load s": round(time.perf_counter() - t0, 2),
                           "load MiB": round(_status_mib("VmHWM") - before)}
    if args.get("ask"):
        questions = [json.loads(line)["question"] for line in Path(args["gold"]).read_text().splitlines()]
        engine = Engine(index, _embedder(bool(args.get("fake"))))
        for q in questions[:3]:
            engine.ask(q)
        times = []
        for q in questions[3:3 + int(args["ask"])]:
            t1 = time.perf_counter()
            engine.ask(q)
            times.append((time.perf_counter() - t1) * 1000)
        out["ask ms"] = round(statistics.median(times), 1)
    return out


def _status_mib(field: str) -> float:
    """VmRSS (resident now) or VmHWM (its peak) of this process, in MiB. Not getrusage's ru_maxrss: Linux carries
    that over an exec from the forked parent, so a child of a parent holding the corpus would report the parent's
    size as its own peak."""
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith(f"{field}:")) / 1024


def _child_compare(args: dict[str, Any]) -> dict[str, Any]:
    """Max abs difference and least cosine between the vectors of two indexes of the same corpus."""
    import numpy as np

    from rag.errors import IndexMismatchError
    from rag.index.index import Index

    try:
        a, b = Index.load(args["a"]), Index.load(args["b"])
    except IndexMismatchError as exc:  # the base commit writes another index format: nothing to compare
        return {"compared": False, "why": str(exc)}
    if a.passages != b.passages or a.sentence_keys != b.sentence_keys:
        return {"same passages": False}
    ia, ib = a.store.ids(), b.store.ids()  # type: ignore[attr-defined]
    va, vb = a.store.vectors()[np.argsort(ia)], b.store.vectors()[np.argsort(ib)]  # type: ignore[attr-defined]
    sa, sb = a.sentence_vectors.astype(np.float32), b.sentence_vectors.astype(np.float32)
    cos = np.sum(sa * sb, axis=1) / np.maximum(np.linalg.norm(sa, axis=1) * np.linalg.norm(sb, axis=1), 1e-12)
    return {"same passages": True, "passage max abs diff": float(np.max(np.abs(va - vb))),
            "passage min cosine": float(np.min(np.sum(va * vb, axis=1))),
            "passages differing": int(np.sum(np.any(va != vb, axis=1))), "passages": len(va),
            "sentence max abs diff": float(np.max(np.abs(sa - sb))), "sentence min cosine": float(np.min(cos))}


def _run_child(task: str, args: dict[str, Any], src: Path, script: Path = Path(__file__)) -> dict[str, Any]:
    """`script --child TASK ARGS` in a fresh process importing `rag` from `src`: the JSON it prints last."""
    env = {**os.environ, "PYTHONPATH": str(src), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run([sys.executable, str(script.resolve()), "--child", task, json.dumps(args)],
                          env=env, cwd=src, capture_output=True, text=True, check=False)
    if proc.returncode:
        raise RuntimeError(f"{task} in {src} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def slope(rows: list[dict[str, Any]]) -> tuple[float, float]:
    """(intercept MiB, MiB per 1,000 passages) of the least-squares line of peak RSS against passages."""
    xs = [r["passages"] / 1000 for r in rows]
    ys = [r["peak MiB"] for r in rows]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    k = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var if var else 0.0
    return my - k * mx, k


def _before_source(rev: str, tmp: Path) -> Path:
    if rev == "merge-base":
        rev = subprocess.run(["git", "merge-base", "HEAD", "main"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.strip()
    src = tmp / "before"
    src.mkdir()
    archive = subprocess.run(["git", "archive", rev, "rag"], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(src)], input=archive, check=True)
    return src


def _print_row(r: dict[str, Any] | None) -> None:
    """One row of the table, or its header for None."""
    print("  ".join(f"{c if r is None else r[c]!s:>11}" for c in COLUMNS), flush=True)


def _summary(rows: list[dict[str, Any]]) -> list[str]:
    lines = []
    for side in dict.fromkeys(r["side"] for r in rows):
        mine = [r for r in rows if r["side"] == side]
        if len(mine) < 2:
            continue
        b, k = slope(mine)
        per_article = sum(r["passages"] for r in mine) / sum(r["articles"] for r in mine)
        guesses = ", ".join(f"{n:,} articles (~{n * per_article:,.0f} passages): "
                            f"~{b + k * n * per_article / 1000:,.0f} MiB"
                            for n in (ARCHIVE_ARTICLES, 10 * ARCHIVE_ARTICLES))
        lines.append(f"{side}: peak RSS {b:,.0f} MiB + {k:,.1f} MiB per 1,000 passages; extrapolated: {guesses}")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="500,1000,2000", help="articles per build, comma-separated")
    ap.add_argument("--before", default="merge-base", help="base commit to compare with, or 'none'")
    ap.add_argument("--batch-texts", type=int, default=0, help="this checkout's batch size (default: its own)")
    ap.add_argument("--fake", action="store_true", help="a fast fake embedder of 384 dimensions, not MiniLM")
    ap.add_argument("--ask", type=int, default=0, help="warm ask() calls timed on each loaded index")
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--out", type=Path, help="also write the rows and comparisons as JSON here")
    ap.add_argument("--no-compare", action="store_true",
                    help="skip comparing the two sides' vectors (it decodes them all: ~18 GB at 35,000 articles)")
    ap.add_argument("--child", nargs=2, metavar=("TASK", "ARGS"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        task, child_args = args.child
        out = {"build": _child_build, "load": _child_load, "compare": _child_compare}[task](json.loads(child_args))
        print(json.dumps(out))
        return 0
    sizes = [int(s) for s in args.sizes.split(",")]
    rows: list[dict[str, Any]] = []
    checks: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="build-memory-") as tmp_name:
        tmp = Path(tmp_name)
        sides = [("after", ROOT)] + ([] if args.before == "none" else [("before", _before_source(args.before, tmp))])
        _print_row(None)
        for n in sizes:
            corpus = tmp / f"corpus-{n}" / "corpus.jsonl"
            corpus.parent.mkdir()
            with args.corpus.open(encoding="utf-8") as src, corpus.open("w", encoding="utf-8") as dst:
                dst.writelines(itertools.islice(src, n))  # the parent never holds the corpus: see _status_mib
            built = {}
            for side, src in sides:
                index = tmp / f"index-{side}-{n}"
                row = {"side": side, **_run_child("build", {"corpus": str(corpus), "index": str(index),
                                                            "batch_texts": args.batch_texts if side == "after"
                                                            else 0, "fake": args.fake}, src)}
                row.update({"ask ms": "", **_run_child("load", {"index": str(index), "fake": args.fake,
                                                                "ask": args.ask,
                                                                "gold": str(args.corpus.parent / "gold.jsonl")},
                                                       src)})
                rows.append(row)
                built[side] = index
                _print_row(row)
            if len(built) == 2 and not args.no_compare:
                checks.append({"articles": n, **_run_child("compare", {"a": str(built["after"]),
                                                                      "b": str(built["before"])}, ROOT)})
                print(f"  after vs before at {n} articles: {checks[-1]}", flush=True)
    for line in _summary(sorted(rows, key=lambda r: r["side"])):
        print(line)
    if args.out:
        args.out.write_text(json.dumps({"rows": rows, "comparisons": checks}, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
