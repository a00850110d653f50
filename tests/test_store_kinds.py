"""FaissStore kinds by size: flat (exact) when small, ivf-sq8 (inverted file of 8-bit codes) when large; both
with stable ids through add, remove, save and load, and the index switching kind when it outgrows flat."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rag.collection import build_index
from rag.engine import Engine
from rag.errors import IndexCorruptError
from rag.index import vectors as store_module
from rag.index.index import Index
from rag.index.ivf import nlist_for, nprobe_for
from rag.index.vectors import EXACT_MAX, FaissStore


def _clustered(n: int, dim: int = 32, seed: int = 0) -> np.ndarray:
    """Unit vectors in 40 clusters: enough structure for k-means cells to mean something."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(40, dim))
    x = centres[rng.integers(0, 40, n)] + 0.35 * rng.normal(size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_kind_for_size() -> None:
    assert FaissStore.kind_for(0) == "flat"
    assert FaissStore.kind_for(EXACT_MAX) == "flat"
    assert FaissStore.kind_for(EXACT_MAX + 1) == "ivf-sq8"
    assert nlist_for(100_000) == 1024 and nlist_for(1_000_000) == 4096
    assert 1 <= nprobe_for(64) <= 64 and nprobe_for(4096) == 512 and nprobe_for(1024) == 128
    with pytest.raises(ValueError, match="unknown FAISS index kind"):
        FaissStore(8, kind="lsh")


def test_ivf_store_finds_its_own_vectors_and_forgets_removed_ones(tmp_path: Path) -> None:
    x = _clustered(4000)
    ids = np.arange(1000, 5000, dtype=np.int64)
    s = FaissStore(32, kind="ivf-sq8")
    assert len(s) == 0 and s.search(x[:1], 5).ids.shape == (1, 0)
    s.add(ids, x)
    assert len(s) == 4000 and s.kind == "ivf-sq8" and s.nprobe is not None
    found = s.search(x[:200], 1).ids
    assert np.mean(found[:, 0] == ids[:200]) >= 0.95
    s.remove(ids[:100].tolist())
    assert len(s) == 3900
    found = s.search(x[:100], 10).ids
    assert not set(found.ravel().tolist()) & set(ids[:100].tolist())
    assert sorted(s.ids().tolist()) == ids[100:].tolist()
    decoded = s.vectors()
    assert decoded.shape == (3900, 32)
    order = np.argsort(s.ids())
    assert np.sum(decoded[order] * x[100:], axis=1).min() > 0.99  # 8-bit codes decode close to the originals
    # a 384-dim vector takes 384 bytes as codes, a quarter of float32
    assert s.memory_bytes() < 0.5 * x.nbytes
    s.nprobe = 7
    s.save(tmp_path)
    back = FaissStore.load(tmp_path, dim=32, kind="ivf-sq8")
    assert back.kind == "ivf-sq8" and back.nprobe == 7 and len(back) == 3900
    assert np.array_equal(back.search(x[100:110], 5).ids, s.search(x[100:110], 5).ids)
    back.remove([int(ids[200])])  # removal by id still works after a reload
    assert len(back) == 3899


def test_flat_store_vectors_round_trip_and_kind_is_checked_on_load(tmp_path: Path) -> None:
    x = _clustered(50)
    s = FaissStore(32)
    s.add(np.arange(50) * 3, x)
    assert np.array_equal(s.vectors()[np.argsort(s.ids())], x)
    s.save(tmp_path)
    assert FaissStore.load(tmp_path, dim=32, kind="flat").kind == "flat"
    with pytest.raises(IndexCorruptError, match="manifest says ivf-sq8"):
        FaissStore.load(tmp_path, dim=32, kind="ivf-sq8")
    with pytest.raises(IndexCorruptError, match="expected 16"):
        FaissStore.load(tmp_path, dim=16, kind="flat")


def test_empty_ivf_store_saves_and_loads(tmp_path: Path) -> None:
    FaissStore(32, kind="ivf-sq8").save(tmp_path)
    back = FaissStore.load(tmp_path, dim=32, kind="ivf-sq8")
    assert len(back) == 0


def test_resized_switches_flat_to_ivf_beyond_the_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "EXACT_MAX", 1000)
    x = _clustered(3000)
    small = FaissStore(32)
    small.add(np.arange(800), x[:800])
    assert small.resized() is small
    big = FaissStore(32)
    big.add(np.arange(3000) + 7, x)
    ivf = big.resized()
    assert ivf.kind == "ivf-sq8" and len(ivf) == 3000
    assert sorted(ivf.ids().tolist()) == (np.arange(3000) + 7).tolist()
    found = ivf.search(x[:100], 1).ids
    assert np.mean(found[:, 0] == np.arange(100) + 7) >= 0.95
    assert ivf.resized() is ivf  # same size: nothing to do


def test_index_saved_beyond_the_threshold_is_ivf_and_answers(
    tmp_path: Path, index_dir: Path, fake_embedder: object, monkeypatch: pytest.MonkeyPatch, seed_text: str
) -> None:
    monkeypatch.setattr(store_module, "EXACT_MAX", 5)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "seed.txt").write_text(seed_text, encoding="utf-8")
    build_index(index_dir, [corpus], embedder=fake_embedder)  # type: ignore[arg-type]
    index = Index.load(index_dir)
    assert index.store.kind == "ivf-sq8" and len(index.store) == len(index.passages) > 5
    # sentence vectors: float16 on disk, memory-mapped, not read whole into memory
    assert index.sentence_vectors.dtype == np.float16
    assert isinstance(index.sentence_vectors.base, np.memmap) or isinstance(index.sentence_vectors, np.memmap)
    answer = Engine(index, fake_embedder).ask("When did Turkey and Syria sign the memorandum?")  # type: ignore[arg-type]
    assert answer.passages


@pytest.mark.integration
def test_real_index_as_ivf_answers_like_flat(
    tmp_path: Path, real_embedder: object, monkeypatch: pytest.MonkeyPatch, seed_text: str
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "seed.txt").write_text(seed_text, encoding="utf-8")
    build_index(tmp_path / "flat", [corpus], embedder=real_embedder)  # type: ignore[arg-type]
    monkeypatch.setattr(store_module, "EXACT_MAX", 5)
    build_index(tmp_path / "ivf", [corpus], embedder=real_embedder)  # type: ignore[arg-type]
    flat, ivf = Index.load(tmp_path / "flat"), Index.load(tmp_path / "ivf")
    assert (flat.store.kind, ivf.store.kind) == ("flat", "ivf-sq8")
    q = "When did Turkey and Syria sign the memorandum of understanding?"
    a = Engine(flat, real_embedder).ask(q, mode="dense")  # type: ignore[arg-type]
    b = Engine(ivf, real_embedder).ask(q, mode="dense")  # type: ignore[arg-type]
    assert [p.passage.id for p in a.passages[:3]] == [p.passage.id for p in b.passages[:3]]
    assert a.text == b.text and "Aug. 13" in a.text
