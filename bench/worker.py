"""One measurement in a fresh interpreter: `python -m bench.worker TASK 'JSON args'` prints one JSON line.

A fresh process per measurement gives each its own peak memory and no caches warmed by another; the parent
(bench/run.py) collects the lines.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def task_build(a: dict[str, Any]) -> dict[str, Any]:
    """Our index build from scratch (model loaded and warm first, as the peers' builds are measured)."""
    from rag.collection import build_index
    from rag.embed.model import SentenceTransformerEmbedder

    from .measure import peak_rss_mib, rss_mib

    emb = SentenceTransformerEmbedder(precision=a.get("precision", "auto"))
    # Load and warm the model that embeds corpora (a question alone would only warm the numpy path).
    emb.embed([f"warm up {i} " * 40 for i in range(4)])
    rss_model = rss_mib()
    t0 = time.perf_counter()
    result = build_index(a["index_dir"], a["paths"], embedder=emb, rebuild=True)
    seconds = time.perf_counter() - t0
    r = result.report
    chars = sum(len(d.text) for d in result.ingest.documents)
    return {
        "seconds": round(seconds, 3), "documents": len(result.ingest.documents), "chars": chars,
        "passages": r.passages_embedded, "sentences": r.sentences_embedded,
        "passages_per_s": round(r.passages_embedded / seconds, 1),
        "texts_per_s": round((r.passages_embedded + r.sentences_embedded) / seconds, 1),
        "chars_per_s": round(chars / seconds), "precision": emb.precision,
        "rss_after_model_mib": round(rss_model, 1), "peak_rss_mib": round(peak_rss_mib(), 1),
    }


def _hit(question: Any, spans: list[Any], n: int) -> bool:
    from eval.metrics import hits_evidence

    return any(hits_evidence(question, s) for s in spans[:n])


def task_peer(a: dict[str, Any]) -> dict[str, Any]:
    """A peer's default pipeline (eval/baselines): build time, query time, Hit@5 on the same questions."""
    from eval.baselines import check_installed, make_peer
    from rag.ingest.corpus import load_corpus

    from .corpora import corpora, gold_questions
    from .measure import Timing, peak_rss_mib, rss_mib

    check_installed([a["peer"]])
    corpus = corpora()[a["corpus"]]
    docs = load_corpus(list(corpus.paths)).documents
    questions = gold_questions(corpus, limit=a.get("questions"))
    peer = make_peer(a["peer"], None)  # loads and warms the model
    rss_model = rss_mib()
    t0 = time.perf_counter()
    stats = peer.build(docs)
    seconds = time.perf_counter() - t0
    lat, hits = [], 0
    for text, q in questions:
        t1 = time.perf_counter()
        spans = peer.search(text, 5)
        lat.append((time.perf_counter() - t1) * 1000)
        hits += _hit(q, spans, 5)
    chars = sum(len(d.text) for d in docs)
    return {
        "seconds": round(seconds, 3), "documents": len(docs), "chars": chars, "passages": stats.passages,
        "passages_per_s": round(stats.passages / seconds, 1), "chars_per_s": round(chars / seconds),
        "query": Timing(tuple(lat)).to_dict(), "hit@5": round(hits / max(len(questions), 1), 4),
        "questions": len(questions), "rss_after_model_mib": round(rss_model, 1),
        "peak_rss_mib": round(peak_rss_mib(), 1),
    }


def task_ask(a: dict[str, Any]) -> dict[str, Any]:
    """ask() on a built index: warm-up, then one call per gold question; latency and retrieval Hit@5."""
    from rag.embed.model import embed_queries
    from rag.engine import Engine

    from .corpora import corpora, gold_questions
    from .measure import Timing, peak_rss_mib
    from .scale import timing_breakdown

    corpus = corpora()[a["corpus"]]
    questions = gold_questions(corpus, limit=a.get("questions"))
    t0 = time.perf_counter()
    engine = Engine.open(a["index_dir"])
    embed_queries(engine.embedder, ["warm up"])
    load_s = time.perf_counter() - t0
    for text, _ in questions[: a.get("warmup", 5)]:
        engine.ask(text)
    lat, hits, answers = [], 0, []
    repeat = max(1, int(a.get("repeat", 1)))
    for _ in range(repeat):
        for text, _ in questions:
            t1 = time.perf_counter()
            ans = engine.ask(text)
            lat.append((time.perf_counter() - t1) * 1000)
            answers.append(ans)
    for (_, q), ans in zip(questions, answers, strict=False):
        hits += _hit(q, [_span(sp.passage) for sp in ans.passages], 5)
    return {
        "ask": Timing(tuple(lat)).to_dict(), "breakdown_ms": timing_breakdown(answers),
        "hit@5": round(hits / max(len(questions), 1), 4), "questions": len(questions),
        "passages": len(engine.index.passages), "store": engine.index.store.kind,
        "precision": getattr(engine.embedder, "precision", None), "load_s": round(load_s, 2),
        "peak_rss_mib": round(peak_rss_mib(), 1),
    }


def _span(p: Any) -> Any:
    from eval.metrics import Span

    return Span(p.doc_id, p.start, p.end, p.text)


def task_scale(a: dict[str, Any]) -> dict[str, Any]:
    from .scale import scale_task

    return scale_task(a)


def task_embedding(a: dict[str, Any]) -> dict[str, Any]:
    from .embedding import embedding_figures

    return embedding_figures(a)


TASKS = {"build": task_build, "peer": task_peer, "ask": task_ask, "scale": task_scale,
         "embedding": task_embedding}


def main(argv: list[str]) -> int:
    task, args = argv[0], json.loads(argv[1]) if len(argv) > 1 else {}
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    out = TASKS[task](args)
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
