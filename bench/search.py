"""Vector search at scale on real MiniLM embeddings: exact (flat) against ivf-sq8, latency, recall@10, memory.

How the scale points are made (also printed with the figures):
- up to 100k: real, distinct texts of squad-dev and news-rtqa (the engine's passages, their sentences, then
  16-word windows of the documents), embedded with the real model; queries are real gold questions of both
  benchmarks (held out: no question is an indexed text);
- 1M: those real vectors tiled with distinct ids (10 copies at 100k). Recall there is measured against exact
  search over the same 1M set and counts a result as correct when its exact score ties or beats the exact 10th
  best (with copies, ids alone cannot say which of equal vectors is "the" neighbour).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.embed.model import Embedder
from rag.index.vectors import FaissStore

from .measure import ROOT, Timing, peak_rss_mib

CACHE = ROOT / "bench" / "out" / "cache"
K = 10
_BLOCK = 10_000  # texts embedded between cache checkpoints


def cached_vectors(label: str, texts: Sequence[str], embedder: Embedder, *, cache: Path = CACHE,
                   progress: bool = False) -> np.ndarray:
    """Embeddings of `texts`, cached by content under `cache` (blocks saved as they finish, so an interrupted
    run resumes)."""
    key = hashlib.sha1((embedder.name + "\n" + "\n".join(texts)).encode()).hexdigest()[:12]
    final = cache / f"{label}-{len(texts)}-{key}.npy"
    if final.is_file():
        return np.load(final)
    cache.mkdir(parents=True, exist_ok=True)
    parts = []
    for b, start in enumerate(range(0, len(texts), _BLOCK)):
        part = cache / f"{label}-{len(texts)}-{key}.part{b}.npy"
        if part.is_file():
            parts.append(np.load(part))
            continue
        t0 = time.perf_counter()
        vecs = embedder.embed(list(texts[start:start + _BLOCK]))
        np.save(part, vecs)
        parts.append(vecs)
        if progress:
            rate = len(vecs) / (time.perf_counter() - t0)
            print(f"  embedded {start + len(vecs):,}/{len(texts):,} texts ({rate:.0f}/s)", flush=True)
    out = np.concatenate(parts) if parts else np.zeros((0, embedder.dim), np.float32)
    np.save(final, out)
    for b in range(len(parts)):
        (cache / f"{label}-{len(texts)}-{key}.part{b}.npy").unlink(missing_ok=True)
    return out


def exact_top(vectors: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact inner-product top-k (scores, rows) of `queries` over `vectors`, in batches."""
    import faiss

    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    scores, ids = index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
    return scores, ids


def tie_aware_recall(found: np.ndarray, queries: np.ndarray, base: np.ndarray, exact_scores: np.ndarray) -> float:
    """Mean over queries of the share of `found` ids (rows of the tiled set, base row = id % len(base)) whose
    exact score reaches the exact k-th best score. On distinct vectors this is ordinary recall@k."""
    k = exact_scores.shape[1]
    kth = exact_scores[:, -1]
    hits = 0
    for q, ids, floor in zip(queries, found, kth, strict=True):
        ids = ids[ids >= 0][:k]
        scores = base[ids % len(base)] @ q
        hits += int(np.sum(scores >= floor - 1e-5))
    return hits / (k * len(queries))


def id_recall(found: np.ndarray, exact_ids: np.ndarray) -> float:
    k = exact_ids.shape[1]
    return float(np.mean([len(set(f[:k].tolist()) & set(e.tolist())) / k for f, e in zip(found, exact_ids,
                                                                                        strict=True)]))


def _latency(store: FaissStore, queries: np.ndarray, *, n: int) -> Timing:
    """One query at a time, as ask() searches, after a warm-up."""
    for q in queries[:5]:
        store.search(q, K)
    out = []
    for q in queries[:n]:
        t0 = time.perf_counter()
        store.search(q, K)
        out.append((time.perf_counter() - t0) * 1000)
    return Timing(tuple(out))


def tiled_exact(base: np.ndarray, queries: np.ndarray, n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k (scores, base rows) over the first `n` rows of `base` tiled: each base row's copies, in
    score order. Equal to searching the tiled set, without holding another copy of it."""
    scores, rows = exact_top(base[: min(n, len(base))], queries, k)
    full, extra = divmod(n, len(base))
    out_s = np.empty((len(queries), k), np.float32)
    out_r = np.empty((len(queries), k), np.int64)
    for i in range(len(queries)):
        mult = [full + (r < extra) if n > len(base) else 1 for r in rows[i]]
        es = np.repeat(scores[i], mult)[:k]
        er = np.repeat(rows[i], mult)[:k]
        out_s[i, : len(es)], out_r[i, : len(er)] = es, er
    return out_s, out_r


def measure_point(base: np.ndarray, queries: np.ndarray, n: int, *, kinds: Sequence[str] = ("flat", "ivf-sq8"),
                  probes: Sequence[int] = (), latency_queries: int = 200) -> dict[str, Any]:
    """Every store kind at `n` vectors (base tiled with distinct ids when n > len(base))."""
    copies = -(-n // len(base))
    exact_scores, exact_rows = tiled_exact(base, queries, n, K)
    row: dict[str, Any] = {"n": n, "distinct": min(n, len(base)), "copies": copies, "kinds": {}}
    for kind in kinds:
        rss0 = peak_rss_mib()
        store = FaissStore(base.shape[1], kind=kind)
        vectors = base[np.arange(n) % len(base)] if n > len(base) else base[:n]
        t0 = time.perf_counter()
        store.add(np.arange(n, dtype=np.int64), vectors)
        build_s = time.perf_counter() - t0
        del vectors
        found = store.search(queries, K).ids
        lat = _latency(store, queries, n=latency_queries if kind != "flat" or n <= 200_000 else 30)
        entry: dict[str, Any] = {
            "build_s": round(build_s, 2),
            "vectors_per_s": round(n / build_s),
            "memory_mib": round(store.memory_bytes() / 2**20, 1),
            "search": lat.to_dict(),
            "recall@10": round(tie_aware_recall(found, queries, base, exact_scores), 4),
            "peak_rss_growth_mib": round(peak_rss_mib() - rss0, 1),
        }
        if copies == 1:
            entry["id_recall@10"] = round(id_recall(found, exact_rows), 4)
        if kind == "ivf-sq8":
            entry["nlist"] = int(store._index.nlist)
            entry["nprobe"] = store.nprobe
            sweep = {}
            default = store.nprobe
            for p in probes:
                store.nprobe = p
                f = store.search(queries, K).ids
                sweep[str(p)] = {"recall@10": round(tie_aware_recall(f, queries, base, exact_scores), 4),
                                 "search_median_ms": round(_latency(store, queries, n=100).median, 3)}
            store.nprobe = default or 1
            entry["nprobe_sweep"] = sweep
        row["kinds"][kind] = entry
        del store
    return row
