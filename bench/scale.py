"""The scale points: vector search on real embeddings (bench/search.py), and whole ask() calls on an index
of 100k and 1M passages.

The ask() index at N passages is the real squad-dev + news-rtqa index (built by the engine: documents,
passages, sentences, vectors) copied with distinct document and passage ids until it holds N passages. The
store is of the kind `FaissStore.kind_for(N)` picks, built from the copied real vectors; BM25 is built over
all N passage texts with the engine's own `LexicalIndex.build`; the copies' sentence keys point at the real
sentence vectors (answer selection reads a few dozen rows of them per question, whatever their number).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from .measure import Timing, peak_rss_mib, rss_mib


def timing_breakdown(answers: Sequence[Any]) -> dict[str, float]:
    """Median of each stage the engine times (Answer.timings), over `answers`."""
    keys: dict[str, list[float]] = {}
    for a in answers:
        for key, v in dict(getattr(a, "timings", {}) or {}).items():
            if isinstance(v, int | float):
                keys.setdefault(key, []).append(float(v))
    return {k: round(statistics.median(v), 3) for k, v in keys.items()}


def replicated_index(index_dirs: Sequence[str], n: int) -> Any:
    """An `Index` of exactly `n` passages: the indexes in `index_dirs`, merged and copied (texts in a scratch
    text store; the copies' sentences share the rows of the document they copy)."""
    from rag.index.bm25 import LexicalIndex
    from rag.index.index import Index
    from rag.index.sentences import SentenceTable
    from rag.index.texts import TextStore
    from rag.index.vectors import FaissStore
    from rag.records import Document, Passage

    bases = [Index.load(d) for d in index_dirs]
    units: list[tuple[Document, list[Passage]]] = []
    unit_vectors = []
    sentences = SentenceTable(bases[0].dim)
    for b in bases:
        assert isinstance(b.store, FaissStore)
        vecs, ids = b.store.vectors(), b.store.ids()
        row_of = {int(i): r for r, i in enumerate(ids)}
        by_doc: dict[str, list[Passage]] = {}
        for p in sorted(b.passages.values(), key=lambda p: p.id):
            by_doc.setdefault(p.doc_id, []).append(p)
        for doc_id, ps in by_doc.items():
            keys = [(doc_id, s, e) for s, e in dict.fromkeys(sp for p in ps for sp in p.sentences)]
            sentences.add([(doc_id, [(s, e) for _, s, e in keys])],
                          np.asarray(b.sentence_vectors[b.sentence_vector_rows(keys)]))
            units.append((b.documents[doc_id], ps))
            unit_vectors.append(vecs[[row_of[p.id] for p in ps]])
    base_vectors = np.concatenate(unit_vectors)
    unit_start = np.cumsum([0] + [len(u[1]) for u in units[:-1]])
    texts = TextStore.create()
    take: list[int] = []
    pid = copy = 0
    while pid < n:
        for (doc, ps), start in zip(units, unit_start, strict=True):
            did = doc.id if copy == 0 else f"{doc.id}#{copy}"
            mine = [Passage(pid + j, did, p.start, p.end, p.text, p.sentences) for j, p in enumerate(ps[:n - pid])]
            texts.add([doc if copy == 0 else replace(doc, id=did)], mine)
            if copy:
                sentences.alias(did, doc.id)
            take += [int(start) + j for j in range(len(mine))]
            pid += len(mine)
            if pid == n:
                break
        copy += 1
    t0 = time.perf_counter()
    store = FaissStore(bases[0].dim, kind=FaissStore.kind_for(n))
    store.add(np.arange(n, dtype=np.int64), base_vectors[take])
    store_s = time.perf_counter() - t0
    index = Index(model=bases[0].model, dim=bases[0].dim, chunking=bases[0].chunking, store=store, texts=texts,
                  sentences=sentences, next_id=n, corpus=())
    t0 = time.perf_counter()
    index.lexical = LexicalIndex.build((p.text for p in texts.passages()), list(range(n)))
    bm25_s = time.perf_counter() - t0
    index.build_seconds = {"store_s": round(store_s, 2), "bm25_s": round(bm25_s, 2)}  # type: ignore[attr-defined]
    return index


def ask_at_scale(a: dict[str, Any]) -> dict[str, Any]:
    """ask() latency on a copied index of a["n"] passages, over gold questions of both benchmarks."""
    from rag.embed.model import SentenceTransformerEmbedder, embed_queries
    from rag.engine import Engine

    from .corpora import corpora, gold_questions

    n = int(a["n"])
    rss0 = rss_mib()
    t0 = time.perf_counter()
    index = replicated_index(a["index_dirs"], n)
    assemble_s = time.perf_counter() - t0
    rss_index = rss_mib() - rss0
    engine = Engine(index, SentenceTransformerEmbedder())
    embed_queries(engine.embedder, ["warm up"])
    questions: list[str] = []
    for name in ("squad-dev", "news-rtqa"):
        questions += [t for t, _ in gold_questions(corpora()[name], limit=a.get("questions", 100) // 2)]
    for q in questions[:5]:
        engine.ask(q)
    lat, answers = [], []
    for q in questions:
        t1 = time.perf_counter()
        answers.append(engine.ask(q))
        lat.append((time.perf_counter() - t1) * 1000)
    store = index.store
    return {
        "n": n, "store": store.kind, "nprobe": getattr(store, "nprobe", None),
        "vector_memory_mib": round(store.memory_bytes() / 2**20, 1), "ask": Timing(tuple(lat)).to_dict(),
        "breakdown_ms": timing_breakdown(answers), "questions": len(questions),
        "assemble_s": round(assemble_s, 1), **index.build_seconds,
        "index_rss_mib": round(rss_index, 1), "peak_rss_mib": round(peak_rss_mib(), 1),
    }


def search_sweep(a: dict[str, Any]) -> dict[str, Any]:
    """Flat against ivf-sq8 at growing sizes of real vectors, then the 1M point."""
    from rag.embed.model import SentenceTransformerEmbedder

    from .corpora import query_texts, scale_texts
    from .search import cached_vectors, measure_point

    emb = SentenceTransformerEmbedder()
    real = int(a.get("real", 100_000))
    texts = scale_texts(real, count_tokens=emb.count_tokens)
    base = cached_vectors("scale", texts, emb, progress=True)
    queries = cached_vectors("queries", query_texts(int(a.get("queries", 500))), emb)
    rows = []
    kinds = ("flat", "ivf-sq8", "hnsw") if a.get("hnsw") else ("flat", "ivf-sq8")
    for n in a.get("sizes", [10_000, 25_000, 50_000, 100_000]):
        if n <= len(base):
            rows.append(measure_point(base, queries, n, kinds=kinds, probes=a.get("probes", ())))
    for n in a.get("tiled", [1_000_000]):
        rows.append(measure_point(base, queries, n, probes=a.get("probes", ()), latency_queries=200))
    return {"real_vectors": len(base), "queries": len(queries), "points": rows,
            "peak_rss_mib": round(peak_rss_mib(), 1)}


def scale_task(a: dict[str, Any]) -> dict[str, Any]:
    if a.get("what") == "ask":
        return ask_at_scale(a)
    return search_sweep(a)
