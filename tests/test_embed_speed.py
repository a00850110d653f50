"""The embedder's speed settings: bfloat16 (where the CPU has it) agreeing with float32, length-sorted
batches under a token budget, each distinct text embedded once — and none of it changing what comes out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rag.embed import model as embed_module
from rag.embed.model import SentenceTransformerEmbedder
from rag.embed.speed import length_batches, native_bf16


@given(st.lists(st.integers(min_value=1, max_value=300), max_size=200), st.integers(1, 64),
       st.integers(1, 5000))
def test_length_batches_cover_every_text_once_within_budget(lengths: list[int], items: int, tokens: int) -> None:
    batches = length_batches(lengths, max_items=items, max_tokens=tokens)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(lengths)))
    for b in batches:
        assert 1 <= len(b) <= items
        widest = max(lengths[i] for i in b)
        assert len(b) == 1 or len(b) * widest <= tokens
    # longest first, so similar lengths share a batch and little goes into padding
    assert [lengths[i] for i in flat] == sorted(lengths, reverse=True)


def test_length_batches_fill_up_to_the_budget() -> None:
    assert length_batches([10] * 10, max_items=100, max_tokens=40) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert length_batches([500, 5, 5], max_items=100, max_tokens=40) == [[0], [1, 2]]


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="precision"):
        SentenceTransformerEmbedder(precision="int4")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least 1"):
        SentenceTransformerEmbedder(batch_size=0)


def test_native_bf16_reads_the_cpu() -> None:
    flags = Path("/proc/cpuinfo").read_text().split()
    assert native_bf16("cpu") == ("avx512_bf16" in flags or "amx_bf16" in flags)
    assert native_bf16("mps") is False


@pytest.fixture(scope="module")
def seed_texts(real_embedder: SentenceTransformerEmbedder, seed_file: Path) -> list[str]:
    from rag.records import Document
    from rag.text.chunk import chunk_document

    doc = Document("seed", "seed", seed_file.read_text(encoding="utf-8"))
    passages = chunk_document(doc, count_tokens=real_embedder.count_tokens, max_tokens=128)
    sentences = [doc.text[s:e] for p in passages for s, e in p.sentences]
    return [p.text for p in passages] + sentences[:24]


@pytest.mark.integration
def test_bfloat16_agrees_with_float32_on_real_passages(real_embedder: SentenceTransformerEmbedder,
                                                       seed_texts: list[str]) -> None:
    f32 = SentenceTransformerEmbedder(precision="float32")
    full = f32.embed(seed_texts)
    if not native_bf16():
        pytest.skip("this CPU has no native bfloat16: auto is float32")
    half = real_embedder.embed(seed_texts)  # corpus-sized: the bfloat16 copy of the model
    assert real_embedder.precision == "bfloat16"  # so a bfloat16 copy of the model embedded them
    cos = np.sum(full * half, axis=1)
    assert cos.min() >= 0.99, cos.min()
    assert np.allclose(np.linalg.norm(half, axis=1), 1.0, atol=1e-5)
    # precision is a speed setting: the name recorded in index manifests does not change with it
    assert f32.name == real_embedder.name == "sentence-transformers/all-MiniLM-L6-v2"
    assert real_embedder.agreement is not None and real_embedder.agreement >= 0.99


@pytest.mark.integration
def test_auto_falls_back_to_float32_when_agreement_fails(real_embedder: SentenceTransformerEmbedder,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    if not native_bf16():
        pytest.skip("this CPU has no native bfloat16: auto is float32 without a probe")
    monkeypatch.setattr(embed_module, "MIN_AGREEMENT", 1.5)  # no real agreement can reach it
    assert SentenceTransformerEmbedder().precision == "float32"  # loading probes the agreement
    assert SentenceTransformerEmbedder(precision="bfloat16").precision == "bfloat16"


@pytest.mark.integration
def test_batching_and_dedup_do_not_change_vectors(real_embedder: SentenceTransformerEmbedder,
                                                  seed_texts: list[str]) -> None:
    texts = [*seed_texts[:6], seed_texts[0], seed_texts[3], "Short one."]
    together = real_embedder.embed(texts)
    alone = np.vstack([real_embedder.embed([t]) for t in texts])
    assert together.shape == (len(texts), real_embedder.dim) and together.dtype == np.float32
    assert np.array_equal(together[0], together[6]) and np.array_equal(together[3], together[7])
    # one at a time (no padding) and in length-sorted batches give the same vectors
    assert np.sum(together * alone, axis=1).min() > 0.999
    # and the same as sentence-transformers' own encode loop, in float32
    f32 = SentenceTransformerEmbedder(precision="float32", max_batch_tokens=256, batch_size=3)
    ours = f32.embed(texts)
    theirs = real_embedder.model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    assert np.sum(ours * theirs, axis=1).min() > 0.9999
