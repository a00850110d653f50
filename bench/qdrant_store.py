"""Qdrant beside FAISS + bm25s (issue 12): the same real corpus built into both stores, side by side.

The first `--articles` articles of the news-archive benchmark are indexed with the real MiniLM into FAISS (the
default) and into Qdrant's local mode; then each store's build time, load time (a fresh client: local mode reads
its collections from disk), warm `Engine.ask` latency over gold questions (p50, p95), and how far the two stores
agree (top-10 overlap of dense, BM25 and final passages) are printed, as medians of `--repeat` builds and loads.

Embeddings are computed once and reused by every build (a memo), so build times compare the stores, not the model.

    PYTHONPATH=. python bench/qdrant_store.py --articles 300 --questions 60 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.measure import SHARED, Timing
from rag.collection import build_index
from rag.config import StoreSpec, process_defaults
from rag.engine import Engine
from rag.index import qdrant
from rag.index.index import Index
from rag.retrieve import dense_hits, lexical_hits

ARCHIVE = SHARED / "benchmarks" / "news-archive"


class Memo:
    """An embedder that embeds each distinct text once: later builds reuse the vectors."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.name, self.dim, self.max_tokens = inner, inner.name, inner.dim, inner.max_tokens
        self.cache: dict[str, np.ndarray] = {}

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return list(self.inner.count_tokens(texts))

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        todo = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if todo:
            self.cache.update(zip(todo, self.inner.embed(todo, progress=progress), strict=True))
        return np.stack([self.cache[t] for t in texts]) if texts else np.zeros((0, self.dim), np.float32)


def subset(folder: Path, n: int) -> Path:
    """The first `n` articles of the archive, as a corpus.jsonl of their own."""
    folder.mkdir(parents=True, exist_ok=True)
    with (ARCHIVE / "corpus.jsonl").open(encoding="utf-8") as fh:
        lines = [line for _, line in zip(range(n), fh, strict=False)]
    (folder / "corpus.jsonl").write_text("".join(lines), encoding="utf-8")
    return folder


def questions(n: int) -> list[str]:
    with (ARCHIVE / "gold.jsonl").open(encoding="utf-8") as fh:
        return [json.loads(line)["question"] for line, _ in zip(fh, range(n), strict=False)]


def build_and_load(root: Path, corpus: Path, embedder: Memo, store: StoreSpec) -> tuple[float, float, Index]:
    """(build seconds, load seconds, the loaded index) of a fresh index of `corpus` in `store`."""
    t0 = time.perf_counter()
    build_index(root / "index", [corpus], embedder=embedder, store=store)
    built = time.perf_counter() - t0
    if store.kind == "qdrant":  # a reader in a fresh process opens the store: local mode reads it from disk
        assert store.uri is not None
        qdrant.release(store.uri)
    t0 = time.perf_counter()
    index = Index.load(root / "index", store=store)
    return built, time.perf_counter() - t0, index


def ask_ms(engine: Engine, qs: list[str]) -> Timing:
    for q in qs[:5]:  # warm: caches, lazy imports
        engine.ask(q)
    out = []
    for q in qs:
        t0 = time.perf_counter()
        engine.ask(q)
        out.append((time.perf_counter() - t0) * 1000)
    return Timing(tuple(out))


def overlap(a: Index, b: Index, embedder: Memo, qs: list[str]) -> dict[str, float]:
    """Mean top-10 overlap between the two indexes' dense lists, BM25 lists and answers' passages."""
    dense, lexical, final = [], [], []
    ea, eb = Engine(a, embedder), Engine(b, embedder)
    for q in qs:
        v = embedder.inner.embed([q])[0]
        dense.append(len(set(dense_hits(a, v, 10).ids.tolist()) & set(dense_hits(b, v, 10).ids.tolist())) / 10)
        la, lb = lexical_hits(a, q, 10).ids.tolist(), lexical_hits(b, q, 10).ids.tolist()
        lexical.append(len(set(la) & set(lb)) / max(len(la), 1))
        pa = [p.passage.id for p in ea.ask(q).passages]
        pb = [p.passage.id for p in eb.ask(q).passages]
        final.append(len(set(pa) & set(pb)) / max(len(pa), 1))
    return {"dense": float(np.mean(dense)), "bm25": float(np.mean(lexical)), "passages": float(np.mean(final))}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--articles", type=int, default=300)
    p.add_argument("--questions", type=int, default=60)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    process_defaults()
    from rag.embed.model import SentenceTransformerEmbedder

    embedder = Memo(SentenceTransformerEmbedder())
    qs = questions(args.questions)
    rows: dict[str, dict[str, list[float]]] = {"faiss": {"build": [], "load": []}, "qdrant": {"build": [], "load": []}}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        corpus = subset(root / "corpus", args.articles)
        t0 = time.perf_counter()
        build_index(root / "warm", [corpus], embedder=embedder)  # fills the memo: embedding is not timed below
        print(f"embedded {len(embedder.cache)} texts in {time.perf_counter() - t0:.0f} s")
        loaded: dict[str, Index] = {}
        for r in range(args.repeat):
            for name in rows:
                store = StoreSpec.parse("faiss" if name == "faiss" else f"qdrant:{root / f'q{r}'}")
                built, load, loaded[name] = build_and_load(root / f"{name}{r}", corpus, embedder, store)
                rows[name]["build"].append(built)
                rows[name]["load"].append(load)
        a, b = loaded["faiss"], loaded["qdrant"]
        print(f"{len(a.documents)} articles, {len(a.passages)} passages, {len(a.sentence_keys)} sentences")
        timings = {name: ask_ms(Engine(index, embedder), qs) for name, index in loaded.items()}
        agree = overlap(a, b, embedder, qs)
    print(f"{'store':8} {'build s':>8} {'load s':>8} {'ask p50 ms':>11} {'ask p95 ms':>11}")
    for name, row in rows.items():
        t = timings[name]
        print(f"{name:8} {statistics.median(row['build']):8.2f} {statistics.median(row['load']):8.3f} "
              f"{t.median:11.1f} {t.p95:11.1f}")
    print("top-10 overlap, Qdrant vs FAISS: " + ", ".join(f"{k} {v:.3f}" for k, v in agree.items()))
    print(json.dumps({"articles": args.articles, "questions": len(qs), "repeat": args.repeat,
                      "build_s": {n: r["build"] for n, r in rows.items()},
                      "load_s": {n: r["load"] for n, r in rows.items()},
                      "ask": {n: t.to_dict() for n, t in timings.items()}, "overlap": agree}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
