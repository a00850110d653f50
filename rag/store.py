"""Vector stores: the seam between the index and the library that searches vectors.

`FaissStore` is the embedded default. A server-grade store for archives that outgrow one machine plugs in
beside it by implementing `VectorStore`; nothing else in the library imports faiss.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .errors import IndexCorruptError, MissingDependencyError

# Below this many vectors exact search is fast enough (a flat scan of 100k x 384 float32 is ~15 ms on these
# machines); above it an HNSW graph keeps queries in milliseconds at a small cost in recall.
EXACT_MAX = 100_000


@runtime_checkable
class VectorStore(Protocol):
    """Vectors keyed by integer ids, searched by inner product (cosine on unit vectors)."""

    kind: str

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None: ...

    def remove(self, ids: Iterable[int]) -> None: ...

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids), each of shape (len(queries), k); missing hits have id -1."""
        ...

    def __len__(self) -> int: ...

    def save(self, folder: Path) -> list[str]:
        """Write the store's files into `folder`; return their names."""
        ...


def _faiss() -> Any:
    try:
        import faiss
    except ImportError as exc:
        raise MissingDependencyError("faiss is not installed: pip install faiss-cpu") from exc
    return faiss


class FaissStore:
    """A FAISS index with stable int64 ids: exact (flat) when small, HNSW when large."""

    FILE = "vectors.faiss"

    def __init__(self, dim: int, *, kind: str = "flat", index: Any = None) -> None:
        if kind not in ("flat", "hnsw"):
            raise ValueError(f"unknown FAISS index kind {kind!r} (flat or hnsw)")
        self.dim = dim
        self.kind = kind
        self.ef_search = 128
        self._index = index if index is not None else self._empty(kind)

    def _empty(self, kind: str) -> Any:
        faiss = _faiss()
        if kind == "flat":
            inner = faiss.IndexFlatIP(self.dim)
        else:
            inner = faiss.IndexHNSWFlat(self.dim, 32, faiss.METRIC_INNER_PRODUCT)
            inner.hnsw.efConstruction = 80
        return faiss.IndexIDMap2(inner)

    @staticmethod
    def kind_for(n: int) -> str:
        return "flat" if n <= EXACT_MAX else "hnsw"

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def ids(self) -> np.ndarray:
        faiss = _faiss()
        return faiss.vector_to_array(self._index.id_map).astype(np.int64)

    def vectors(self) -> np.ndarray:
        n = len(self)
        if n == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.vstack([self._index.reconstruct(int(i)) for i in self.ids()]).astype(np.float32)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise ValueError(f"expected vectors of shape (n, {self.dim}), got {vectors.shape}")
        if len(vectors):
            self._index.add_with_ids(vectors, np.asarray(ids, dtype=np.int64))

    def remove(self, ids: Iterable[int]) -> None:
        drop = np.fromiter(ids, dtype=np.int64)
        if not len(drop):
            return
        if self.kind == "flat":
            self._index.remove_ids(drop)
            return
        # HNSW graphs cannot delete nodes: rebuild from the kept vectors (no re-embedding needed).
        keep_ids = self.ids()
        mask = ~np.isin(keep_ids, drop)
        kept = self.vectors()[mask]
        self._index = self._empty(self.kind)
        self.add(keep_ids[mask], kept)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        q = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        k = max(1, min(k, len(self)))
        if len(self) == 0:
            return np.zeros((len(q), 0), np.float32), np.zeros((len(q), 0), np.int64)
        if self.kind == "hnsw":
            _faiss().downcast_index(self._index.index).hnsw.efSearch = max(self.ef_search, k)
        scores, ids = self._index.search(q, k)
        return scores, ids

    def save(self, folder: Path) -> list[str]:
        _faiss().write_index(self._index, str(folder / self.FILE))
        return [self.FILE]

    @classmethod
    def load(cls, folder: Path, *, dim: int, kind: str) -> FaissStore:
        faiss = _faiss()
        try:
            index = faiss.read_index(str(folder / cls.FILE))
        except RuntimeError as exc:
            raise IndexCorruptError(f"cannot read {folder / cls.FILE}: {exc}") from exc
        if index.d != dim:
            raise IndexCorruptError(f"{folder / cls.FILE} holds {index.d}-dimensional vectors, expected {dim}")
        return cls(dim, kind=kind, index=index)
