"""Vector stores: the seam between the index and the library that searches vectors.

`FaissStore` is the embedded default. A server-grade store for archives that outgrow one machine plugs in
beside it by implementing `VectorStore`; nothing else in the library imports faiss.

The kind of FAISS index follows the number of vectors (`FaissStore.kind_for`), from figures `rag bench`
measures on real MiniLM embeddings (bench/search.py):
- "flat": exact search, float32. A scan reads every vector (1.5 KiB each), so its time grows with the archive:
  ~1 ms at 10k vectors, 5.5 ms at 50k, 11 ms at 100k, 106 ms at 1M (1.4 GiB).
- "ivf-sq8": an inverted file (k-means cells, `nprobe` of them scanned a query) of 8-bit scalar-quantised
  vectors: 384 bytes a vector, so 1M passages take 395 MiB; a query scans 1/8 of the cells: 0.4 ms and
  recall@10 0.989 against exact search at 100k real vectors, ~4 ms and 0.986 at 1M (tiled, see bench/search.py).
  (HNSW over float32 reached 0.997 at 100k in the same time, for 4x the memory: bench/search.py --hnsw.)
- "hnsw": an HNSW graph over float32 vectors, still read and searched but no longer chosen by size: it keeps
  every float32 vector (1.4 GiB at 1M) besides its graph, over the 1 GiB a million passages may take.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from rag.errors import IndexCorruptError, MissingDependencyError
from rag.index import ivf
from rag.index.ivf import Spill, write_ivf
from rag.records import Hits

if TYPE_CHECKING:
    from rag.index.where import Where

KINDS: tuple[str, ...] = ("flat", "ivf-sq8", "hnsw")
# Exact search up to this many vectors: a flat scan of 50k takes ~5.5 ms on these machines (bench/search.py);
# beyond, its cost grows with the archive, while ivf-sq8 answers in under a millisecond at recall@10 ≈ 0.98.
EXACT_MAX = 50_000


@runtime_checkable
class VectorStore(Protocol):
    """Vectors keyed by integer ids, searched by inner product (cosine on unit vectors)."""

    kind: str

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None: ...

    def remove(self, ids: Iterable[int]) -> None: ...

    def search(
        self, queries: np.ndarray, k: int, *, allowed: np.ndarray | None = None, where: Where | None = None
    ) -> Hits:
        """Hits(ids, scores), each of shape (len(queries), k); missing hits have id -1. With `allowed` (a
        boolean array over passage ids, `rag.index.filters.allowed_ids`), only ids marked True are searched:
        the filter is applied inside the search, so k allowed hits come back whenever k exist. `where`, when
        given, is the same selection as conditions on passage fields (`rag.index.filters.where_of`): a store
        that keeps those fields (Qdrant) filters by them; FAISS uses `allowed`."""
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
    """A FAISS index with stable int64 ids: exact (flat) when small, quantised inverted file (ivf-sq8) when large."""

    FILE = "vectors.faiss"

    def __init__(self, dim: int, *, kind: str = "flat", index: Any = None) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown FAISS index kind {kind!r} ({', '.join(KINDS)})")
        self.dim = dim
        self.kind = kind
        self.ef_search = 128
        # An inverted file needs vectors to train its cells: it is made on the first add.
        self._index = index if index is not None or kind == "ivf-sq8" else self._empty(kind)
        # [issue 12] Codes added to a trained inverted file wait on disk (`rag.index.ivf`) until the store is
        # saved, or searched or read (then they are loaded into memory, as `add_with_ids` would have put them).
        self._spill: Spill | None = None
        # An ivf-sq8 index is loaded memory-mapped from its generation's file, which is never written: an update
        # keeps the ids it removes here (sorted) and the save writes the cells without them (copy on write).
        self._shared = False
        self._dropped: np.ndarray | None = None
        self._source: int | None = None  # the mapped file, open: read with plain reads when the cells are copied

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
        """The kind of index suited to `n` vectors."""
        return "flat" if n <= EXACT_MAX else "ivf-sq8"

    def __len__(self) -> int:
        spilled = len(self._spill) if self._spill is not None else 0
        dropped = len(self._dropped) if self._dropped is not None else 0
        return spilled - dropped + (0 if self._index is None else int(self._index.ntotal))

    def _loaded(self) -> Any:
        """The FAISS index with every vector added in memory (the spilled codes loaded into their cells; a mapped
        index that was changed, read into memory with its changes)."""
        if self._shared and (self._spill is not None or self._dropped is not None):
            self._index = ivf.in_memory(self._index, _faiss(), self._spill, self._dropped, self._source)
            if self._spill is not None:
                self._spill.close()
            self._shared, self._spill, self._dropped = False, None, None
        if self._spill is not None:
            spill, self._spill = self._spill, None
            for block in spill.blocks():
                self._index.add_sa_codes(np.ascontiguousarray(block["code"]), np.ascontiguousarray(block["id"]))
            spill.close()
        return self._index

    @property
    def nprobe(self) -> int | None:
        """Cells an ivf-sq8 query scans (None for other kinds)."""
        return int(self._index.nprobe) if self.kind == "ivf-sq8" and self._index is not None else None

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        if self.kind != "ivf-sq8" or self._index is None:
            raise ValueError("nprobe applies to a trained ivf-sq8 store only")
        self._index.nprobe = max(1, min(int(value), int(self._index.nlist)))

    def memory_bytes(self) -> int:
        """Bytes the vectors, their codes, ids and graph or cells take in memory (measured by serialising)."""
        if self._index is None:
            return 0
        return int(_faiss().serialize_index(self._loaded()).nbytes)

    def ids(self) -> np.ndarray:
        if self._index is None:
            return np.zeros(0, np.int64)
        self._loaded()
        return self._own_ids()

    def _own_ids(self) -> np.ndarray:
        """The ids of the FAISS index as it stands (spilled codes and removals pending left out)."""
        faiss = _faiss()
        if self.kind != "ivf-sq8":
            return faiss.vector_to_array(self._index.id_map).astype(np.int64)
        return ivf.all_ids(self._index, faiss, self._source if self._shared else None)

    def vectors(self) -> np.ndarray:
        """Every vector, in the order of `ids()` (decoded, so approximate, for ivf-sq8)."""
        ids = self.ids()
        if not len(ids):
            return np.zeros((0, self.dim), dtype=np.float32)
        if self.kind != "ivf-sq8":  # rows of the inner index are in id_map order
            inner = _faiss().downcast_index(self._index.index)
            return np.asarray(inner.reconstruct_n(0, len(ids)), dtype=np.float32)
        index = self._loaded()
        if index.direct_map.type == _faiss().DirectMap.NoMap:  # `write_ivf` writes no id → slot table: searching
            index.set_direct_map_type(_faiss().DirectMap.Hashtable)  # and removing (a scan) need none
        return np.asarray(index.reconstruct_batch(ids), dtype=np.float32).reshape(len(ids), self.dim)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise ValueError(f"expected vectors of shape (n, {self.dim}), got {vectors.shape}")
        if not len(vectors):
            return
        ids = np.asarray(ids, dtype=np.int64)
        if self._index is None:
            self._index = ivf.trained(_faiss(), vectors, ivf.cells(len(vectors)))
        if self.kind != "ivf-sq8":
            self._index.add_with_ids(vectors, ids)
            return
        if self._spill is None:
            index = self._index
            self._spill = Spill(int(index.nlist), int(index.sa_code_size()), int(index.coarse_code_size()))
        self._spill.append(ids, self._index.sa_encode(vectors))

    def remove(self, ids: Iterable[int]) -> None:
        drop = np.fromiter(ids, dtype=np.int64)
        if not len(drop) or self._index is None:
            return
        if self._shared and self._spill is None:  # removed when the save writes the cells
            present = np.intersect1d(drop, self._own_ids())
            if len(present):
                both = present if self._dropped is None else np.union1d(self._dropped, present)
                self._dropped = both.astype(np.int64)
            return
        if self.kind != "hnsw":  # flat and inverted files delete in place
            self._loaded().remove_ids(drop)
            return
        # HNSW graphs cannot delete nodes: rebuild from the kept vectors (no re-embedding needed).
        keep_ids = self.ids()
        mask = ~np.isin(keep_ids, drop)
        kept = self.vectors()[mask]
        self._index = self._empty(self.kind)
        self.add(keep_ids[mask], kept)

    def search(
        self, queries: np.ndarray, k: int, *, allowed: np.ndarray | None = None, where: Where | None = None
    ) -> Hits:
        q = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        n = len(self) if allowed is None else min(len(self), int(np.count_nonzero(allowed)))
        if n == 0:
            return Hits(np.zeros((len(q), 0), np.int64), np.zeros((len(q), 0), np.float32))
        k = max(1, min(k, n))
        if self.kind == "hnsw":
            _faiss().downcast_index(self._index.index).hnsw.efSearch = max(self.ef_search, k)
        self._loaded()
        if allowed is None:
            scores, ids = self._index.search(q, k)  # faiss's own order
            return Hits(ids, scores)
        faiss = _faiss()
        # A bitmap over ids: built in well under a millisecond at 200k passages, where an IDSelectorBatch
        # (a hash set of the allowed ids) takes ~15 ms. It must outlive the search: `bits` is kept referenced.
        bits = np.packbits(np.ascontiguousarray(allowed, dtype=bool), bitorder="little")
        sel = faiss.IDSelectorBitmap(len(allowed), faiss.swig_ptr(bits))
        params = (faiss.SearchParametersIVF(sel=sel, nprobe=int(self._index.nprobe)) if self.kind == "ivf-sq8"
                  else faiss.SearchParameters(sel=sel))
        scores, ids = self._index.search(q, k, params=params)
        del bits
        return Hits(ids, scores)

    def resized(self) -> FaissStore:
        """This store, or a new one of the kind `kind_for` its size asks for, holding the same vectors.

        A flat store that outgrew `EXACT_MAX` becomes an ivf-sq8 one, trained on its own vectors; an ivf-sq8
        store that grew to four times the cells it was trained with is retrained on its (decoded) vectors, a
        block at a time when they are on disk. A store never turns back to flat when it shrinks: its exact
        vectors are gone.
        """
        n = len(self)
        want = self.kind_for(n)
        if want == "ivf-sq8" and self.kind == "ivf-sq8" and self._index is not None:
            if ivf.cells(n) < 4 * int(self._index.nlist):
                return self
            if self._spill is not None and not self._index.ntotal:
                return self._retrained(n)
        elif want == self.kind or self.kind != "flat":
            return self
        ids, vectors = self.ids(), self.vectors()
        out = FaissStore(self.dim, kind=want)
        out.add(ids, vectors)
        return out

    def _retrained(self, n: int) -> FaissStore:
        """A new ivf-sq8 store of the cells `n` vectors ask for, holding this one's spilled vectors: trained on a
        spread sample of them decoded, then each block decoded and encoded again into the new cells."""
        spill, index = self._spill, self._index
        assert spill is not None
        out = FaissStore(self.dim, kind="ivf-sq8")
        out._index = ivf.trained(_faiss(), ivf.decoded_sample(index, spill, n), ivf.cells(n))
        for block in spill.blocks():
            out.add(block["id"], index.sa_decode(np.ascontiguousarray(block["code"])))
        return out

    def save(self, folder: Path) -> list[str]:
        if self._spill is not None or self._shared:  # the cells go to the file a range at a time
            write_ivf(folder / self.FILE, self._index, _faiss(), self._spill, self._dropped, self._source)
            return [self.FILE]
        # An ivf-sq8 store that never received a vector has no trained index yet: an empty flat one stands in.
        index = self._index if self._index is not None else self._empty("flat")
        _faiss().write_index(index, str(folder / self.FILE))
        return [self.FILE]

    @classmethod
    def load(cls, folder: Path, *, dim: int, kind: str, mapped: bool = False) -> FaissStore:
        """The store saved in `folder`; `mapped`: memory-mapped and read-only (to check a generation just
        written without a second copy of its vectors in memory), never to be changed. An ivf-sq8 index is always
        mapped (its cells are copied, without what was removed, when the store is saved after a change)."""
        faiss = _faiss()
        ivf_file = ivf.is_ivf_file(folder / cls.FILE)
        flags = faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY if mapped or ivf_file else 0
        try:
            index = faiss.read_index(str(folder / cls.FILE), flags)
        except RuntimeError as exc:
            raise IndexCorruptError(f"cannot read {folder / cls.FILE}: {exc}") from exc
        if index.d != dim:
            raise IndexCorruptError(f"{folder / cls.FILE} holds {index.d}-dimensional vectors, expected {dim}")
        found = _kind_of(faiss, index)
        if found != kind and index.ntotal:
            raise IndexCorruptError(f"{folder / cls.FILE} holds a {found} index; the manifest says {kind}")
        store = cls(dim, kind=found, index=index)
        if found == "ivf-sq8":
            store._shared = True
            # Kept open: the generation may be pruned while an update of it is under way.
            store._source = os.open(folder / cls.FILE, os.O_RDONLY)
            weakref.finalize(store, os.close, store._source)
        return store



def _kind_of(faiss: Any, index: Any) -> str:
    index = faiss.downcast_index(index)
    if isinstance(index, faiss.IndexIVFScalarQuantizer):
        return "ivf-sq8"
    inner = faiss.downcast_index(index.index) if hasattr(index, "id_map") else index
    if isinstance(inner, faiss.IndexHNSW):
        return "hnsw"
    if isinstance(inner, faiss.IndexFlat):
        return "flat"
    raise IndexCorruptError(f"unsupported FAISS index type {type(inner).__name__}")
