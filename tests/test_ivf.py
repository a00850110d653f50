"""[issue 12] An ivf-sq8 store's codes wait on disk while a build adds them (`rag.index.ivf`): the file it
writes is FAISS's own for the same vectors, and nothing of the vectors is held in memory until it is searched."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import pytest

from rag.index import ivf, vectors
from rag.index.vectors import FaissStore


def _unit(n: int, dim: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _filled(x: np.ndarray, ids: np.ndarray, batch: int) -> FaissStore:
    store = FaissStore(x.shape[1], kind="ivf-sq8")
    for i in range(0, len(x), batch):
        store.add(ids[i:i + batch], x[i:i + batch])
    return store


def _bytes(index: object) -> bytes:
    index = faiss.clone_index(index)
    index.set_direct_map_type(faiss.DirectMap.NoMap)
    return bytes(faiss.serialize_index(index))


@pytest.mark.parametrize("groups", [1, 3, 64])
def test_the_file_written_from_disk_is_faiss_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, groups: int) -> None:
    monkeypatch.setattr(ivf, "GROUPS", groups)
    x, ids = _unit(4000, 24, 0), np.arange(4000, dtype=np.int64) * 5 + 3
    store = _filled(x, ids, 300)
    assert len(store) == 4000 and store._index.ntotal == 0  # every code on disk, none in memory
    reference = faiss.clone_index(store._index)
    reference.add_with_ids(x, ids)  # what the store held in memory before: the same adds, the same order
    store.save(tmp_path)
    written = faiss.read_index(str(tmp_path / FaissStore.FILE))
    assert _bytes(written) == _bytes(reference)
    assert store._index.ntotal == 0  # saving leaves the codes on disk: a build goes on after a checkpoint
    for mapped in (False, True):
        back = FaissStore.load(tmp_path, dim=24, kind="ivf-sq8", mapped=mapped)
        assert len(back) == 4000
        assert np.array_equal(back.search(x[:30], 10).ids, reference.search(x[:30], 10)[1])


def test_searching_reading_and_removing_load_the_codes_first(tmp_path: Path) -> None:
    x, ids = _unit(3000, 16, 1), np.arange(3000, dtype=np.int64)
    store = _filled(x, ids, 700)
    reference = faiss.clone_index(store._index)
    reference.add_with_ids(x, ids)
    assert np.array_equal(store.search(x[:20], 5).ids, reference.search(x[:20], 5)[1])
    assert store._index.ntotal == 3000 and store._spill is None
    assert sorted(store.ids().tolist()) == ids.tolist()
    store.add(ids[:10] + 10_000, x[:10])  # added again on disk, after the ones in memory
    store.remove(ids[:100])
    assert len(store) == 2910
    store.save(tmp_path)
    back = FaissStore.load(tmp_path, dim=16, kind="ivf-sq8")
    assert sorted(back.ids().tolist()) == sorted([*ids[100:].tolist(), *(ids[:10] + 10_000).tolist()])
    assert np.allclose(back.vectors(), store.vectors(), atol=0)  # id → slot table rebuilt on load
    back.remove([10_000])
    assert len(back) == 2909


def test_a_store_that_grew_is_retrained_a_block_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vectors, "EXACT_MAX", 100)
    monkeypatch.setattr(ivf, "BLOCK", 257)  # many blocks per file
    x, ids = _unit(8000, 16, 2), np.arange(8000, dtype=np.int64)
    on_disk = _filled(x, ids, 400)  # trained on the first 400 vectors: 8 cells
    in_memory = _filled(x, ids, 400)
    in_memory.ids()  # loads the codes: the store retrains as it always did, from every vector decoded
    assert on_disk._index.nlist == 8 and ivf.cells(8000) >= 32
    a, b = on_disk.resized(), in_memory.resized()
    assert a is not on_disk and a._index.nlist == b._index.nlist == ivf.cells(8000)
    assert a._index.ntotal == 0 and len(a) == 8000  # still on disk
    assert sorted(a.ids().tolist()) == ids.tolist()
    # Trained on the same sample and given the same vectors: the same cells and codes, listed in another order.
    ha, hb = a.search(x[:50], 10), b.search(x[:50], 10)
    assert np.array_equal(ha.ids, hb.ids) and np.allclose(ha.scores, hb.scores)


def test_the_training_sample_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ivf, "_TRAIN_MAX", 500)
    seen: list[int] = []
    real = faiss.IndexIVFScalarQuantizer.train
    monkeypatch.setattr(faiss.IndexIVFScalarQuantizer, "train", lambda self, s: (seen.append(len(s)), real(self, s)))
    store = FaissStore(16, kind="ivf-sq8")
    store.add(np.arange(5000), _unit(5000, 16, 3))
    assert seen == [500] and store._index.nlist == ivf.cells(5000)
