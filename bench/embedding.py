"""Embedding speed and agreement: float32 against bfloat16, batch token budgets, one-question latency.

All configurations run interleaved, repeated, on the same real texts (passages and sentences the engine makes
from squad-dev and news-rtqa), so that load from other jobs on the machine hits them alike; figures are medians.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np


def sample_texts(count_tokens: Any, *, passages: int, sentences: int, seed: int = 3) -> tuple[list[str], list[str]]:
    from rag.ingest.corpus import load_corpus
    from rag.text.chunk import chunk_document

    from .corpora import corpora

    docs = load_corpus([c.paths[0] for n, c in corpora().items() if n != "seed"]).documents
    ps: list[str] = []
    ss: list[str] = []
    for d in docs:
        for p in chunk_document(d, count_tokens=count_tokens, max_tokens=128, overlap=1):
            ps.append(p.text)
            ss.extend(d.text[s:e] for s, e in p.sentences)
    rng = random.Random(seed)
    return rng.sample(sorted(set(ps)), passages), rng.sample(sorted(set(ss)), sentences)


def _rate(fn: Callable[[list[str]], object], texts: list[str]) -> float:
    t0 = time.perf_counter()
    fn(texts)
    return len(texts) / (time.perf_counter() - t0)


def embedding_figures(a: dict[str, Any]) -> dict[str, Any]:
    from rag.embed.model import SentenceTransformerEmbedder, native_bf16

    repeat = int(a.get("repeat", 3))
    f32 = SentenceTransformerEmbedder(precision="float32")
    bf16 = SentenceTransformerEmbedder(precision="bfloat16") if native_bf16() else None
    auto = SentenceTransformerEmbedder()
    passages, sentences = sample_texts(f32.count_tokens, passages=int(a.get("passages", 96)),
                                       sentences=int(a.get("sentences", 192)))
    st = f32.model  # the bare sentence-transformers loop, as the peers call it (batch 32, its own sorting)

    def bare(texts: list[str]) -> object:
        return st.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)

    configs: dict[str, Callable[[list[str]], object]] = {"sentence-transformers encode, float32": bare,
                                                         "ours, float32": f32.embed}
    if bf16 is not None:
        configs["ours, bfloat16"] = bf16.embed
    for fn in configs.values():
        fn(sentences[:8])
    rates: dict[str, dict[str, list[float]]] = {name: {"passages": [], "sentences": []} for name in configs}
    for _ in range(repeat):
        for name, fn in configs.items():
            rates[name]["passages"].append(_rate(fn, passages))
            rates[name]["sentences"].append(_rate(fn, sentences))
    out: dict[str, Any] = {
        "cpu_native_bf16": native_bf16(), "auto_precision": auto.precision,
        "probe_agreement": auto.agreement,
        "texts_per_s": {name: {kind: round(statistics.median(v), 1) for kind, v in r.items()}
                        for name, r in rates.items()},
        "tokens": {"passages_mean": round(float(np.mean(f32.count_tokens(passages))), 1),
                   "sentences_mean": round(float(np.mean(f32.count_tokens(sentences))), 1)},
    }
    if bf16 is not None:
        texts = passages + sentences
        cos = np.sum(f32.embed(texts) * bf16.embed(texts), axis=1)
        out["agreement_bf16_vs_f32"] = {"min": round(float(cos.min()), 6), "mean": round(float(cos.mean()), 6),
                                        "texts": len(texts)}
        out["token_budget"] = _budgets(bf16, passages + sentences, repeat=repeat,
                                       budgets=a.get("budgets", [512, 1024, 2048, 4096, 8192]))
    model = f32.model
    encoders: dict[str, Callable[[list[str]], object]] = {
        "torch float32": lambda q: f32._encode(model, q),
    }
    if bf16 is not None and bf16._half is not None:
        half = bf16._half
        encoders["torch bfloat16"] = lambda q: bf16._encode(half, q)
    if auto.lite is not None:
        encoders["numpy forward (what ask() uses)"] = auto.lite.encode
        qs = sentences[:16]
        out["agreement_numpy_vs_torch_f32"] = round(float(np.min(np.sum(
            auto.lite.encode(qs) * f32._encode(model, qs), axis=1))), 6)
    out["query_ms"] = _query_latency(encoders, sentences[:40])
    return out


def _budgets(emb: Any, texts: list[str], *, repeat: int, budgets: list[int]) -> dict[str, float]:
    """Texts/s of a mix of passages and sentences at each padded-tokens-per-batch budget (no item cap)."""
    keep = (emb.batch_size, emb.max_batch_tokens)
    got: dict[int, list[float]] = {b: [] for b in budgets}
    emb.batch_size = 10_000
    try:
        for _ in range(repeat):
            for b in budgets:
                emb.max_batch_tokens = b
                got[b].append(_rate(emb.embed, texts))
    finally:
        emb.batch_size, emb.max_batch_tokens = keep
    return {str(b): round(statistics.median(v), 1) for b, v in got.items()}


def _query_latency(encoders: dict[str, Callable[[list[str]], object]], queries: list[str]) -> dict[str, float]:
    """Median ms to embed one question, each way, interleaved."""
    for fn in encoders.values():
        fn(queries[:1])
    got: dict[str, list[float]] = {n: [] for n in encoders}
    for q in queries:
        for name, fn in encoders.items():
            t0 = time.perf_counter()
            fn([q])
            got[name].append((time.perf_counter() - t0) * 1000)
    return {n: round(statistics.median(v), 2) for n, v in got.items()}
