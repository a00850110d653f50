"""Inverted files (FAISS's ivf-sq8): how many cells, their training, and the codes kept on disk while an index is
built, written out as FAISS's own file, a range of cells at a time.

[issue 12] An ivf-sq8 index in memory holds every vector's 8-bit code and id (392 bytes a passage): 1 GB at ten
times news-archive, on top of the model. While a build adds vectors, `Spill` encodes them (the coarse cell and
the scalar-quantised code, exactly what `add_with_ids` would store) and appends them to scratch files, one per
range of cells, with plain writes (page cache, not the process's memory). `write_ivf` then writes the index file
FAISS itself would write, one range of cells at a time: the trained header, then each cell's codes and ids in
the order they were added. The file is the one `faiss.write_index` gives for the same vectors added in the same
order, byte for byte, except that it carries no id → slot table (searching needs none, removing scans the cells,
`FaissStore.vectors` builds it when asked; readers no longer build one at load); `tests/test_ivf.py`
compares them.
"""

from __future__ import annotations

import math
import os
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from rag.index.scratch import scratch_file, unlink_quietly

# k-means cells: about 4·sqrt(n), a power of two; each trained on up to this many sample vectors per cell
# (faiss warns below 39), in few iterations: cell quality beyond that changes recall little and costs minutes.
_TRAIN_PER_CELL = 48
_TRAIN_ITERATIONS = 12
# At most this many vectors train an inverted file's cells: a retrain at ten times news-archive (8,192 cells) would
# otherwise decode 393,216 float32 vectors (600 MiB) at once; 2^18 of them (32 a cell) take 384 MiB.
_TRAIN_MAX = 1 << 18
# Cells scanned per query, as a share of all cells. On real MiniLM vectors (bench/search.py, 100k, 1024 cells)
# 1/64 of the cells gave recall@10 0.94, 1/32 0.96, 1/16 0.977, 1/8 0.989 at 0.4 ms a query (at 1M, 1/8:
# ~4 ms): scanning is cheap next to the rest of ask(), recall is not.
_PROBE_SHARE = 1 / 8
_MIN_PROBE = 16
# Cells per scratch file: writing the index reads one file at a time, so a file's share of the codes is what
# the write holds in memory (1/64 of 1 GB at 2.6 M passages).
GROUPS = 64
# Records re-read at a time: a retrain decodes and re-encodes the codes in blocks of this many (24 MiB of float32).
BLOCK = 1 << 14


def coarse_list_numbers(codes: np.ndarray, coarse_size: int) -> np.ndarray:
    """The cell of each `sa_encode` code: its first `coarse_size` bytes, little-endian (FAISS's `encode_listno`)."""
    out = np.zeros(len(codes), np.int64)
    for i in range(coarse_size):
        out |= codes[:, i].astype(np.int64) << (8 * i)
    return out


def nlist_for(n: int) -> int:
    """k-means cells for an inverted file of `n` vectors: a power of two near 4·sqrt(n)."""
    return int(2 ** round(math.log2(max(64.0, 4 * math.sqrt(max(n, 1))))))


def cells(n: int) -> int:
    """Cells for `n` vectors that `n` vectors can also train."""
    return min(nlist_for(n), max(1, n // _TRAIN_PER_CELL))


def nprobe_for(nlist: int) -> int:
    return min(nlist, max(_MIN_PROBE, round(nlist * _PROBE_SHARE)))


def sample_size(n: int, nlist: int) -> int:
    """Vectors that train `nlist` cells when `n` are there."""
    return min(n, nlist * _TRAIN_PER_CELL, _TRAIN_MAX)


def trained(faiss: Any, sample: np.ndarray, nlist: int) -> Any:
    """An empty ivf-sq8 index of `nlist` cells, they and the quantiser's ranges trained on `sample`."""
    dim = sample.shape[1]
    index = faiss.IndexIVFScalarQuantizer(faiss.IndexFlatIP(dim), dim, nlist, faiss.ScalarQuantizer.QT_8bit,
                                          faiss.METRIC_INNER_PRODUCT)
    index.cp.niter = _TRAIN_ITERATIONS
    index.cp.max_points_per_centroid = _TRAIN_PER_CELL
    index.cp.seed = 1234
    index.cp.min_points_per_centroid = 30  # _TRAIN_MAX leaves 32 a cell to the largest inverted files
    cap = sample_size(len(sample), nlist)
    if len(sample) > cap:  # a fixed, spread sample keeps builds reproducible
        rows = np.random.default_rng(1234).choice(len(sample), cap, replace=False)
        sample = sample[np.sort(rows)]
    index.train(np.ascontiguousarray(sample, dtype=np.float32))
    # A hash table from id to slot: remove and reconstruct by id without scanning every cell.
    index.set_direct_map_type(faiss.DirectMap.Hashtable)
    index.nprobe = nprobe_for(nlist)
    return index


def is_ivf_file(path: Path) -> bool:
    """Whether `path` holds an ivf-sq8 index (FAISS's "IwSq"/"IwSQ" tag), read from its first bytes."""
    try:
        with path.open("rb") as fh:
            return fh.read(4) in (b"IwSq", b"IwSQ")
    except OSError:
        return False


class Spill:
    """Codes added to a trained ivf-sq8 index, on disk until it is written or loaded into memory.

    Records are (id, `sa_encode` code: cell then code), appended to the scratch file of their range of cells;
    reading a file back gives its records in the order they were added, stably sorted by cell."""

    def __init__(self, nlist: int, sa_code_size: int, coarse_size: int) -> None:
        self.nlist = nlist
        self.coarse_size = coarse_size
        self.dtype = np.dtype([("id", "<i8"), ("code", "u1", (sa_code_size,))])
        self.groups = max(1, min(GROUPS, nlist))
        self.sizes = np.zeros(nlist, np.int64)
        self.paths = [scratch_file("rag-ivf-", ".bin") for _ in range(self.groups)]
        self._finalizer = weakref.finalize(self, _unlink_all, list(self.paths))

    def __len__(self) -> int:
        return int(self.sizes.sum())

    def group_of(self, cells: np.ndarray) -> np.ndarray:
        return cells * self.groups // self.nlist

    def cells_of(self, group: int) -> range:
        """The cells whose records are in file `group` (the inverse of `group_of`)."""
        first = -(-group * self.nlist // self.groups)
        last = -(-(group + 1) * self.nlist // self.groups)
        return range(first, last)

    def append(self, ids: np.ndarray, codes: np.ndarray) -> None:
        """Add records: `ids` and their `sa_encode` codes (cell first), in the order they are added."""
        cells = coarse_list_numbers(codes, self.coarse_size)
        records = np.empty(len(ids), self.dtype)
        records["id"] = ids
        records["code"] = codes
        groups = self.group_of(cells)
        order = np.argsort(groups, kind="stable")
        bounds = np.searchsorted(groups[order], np.arange(self.groups + 1))
        for g in np.flatnonzero(np.diff(bounds)):
            with self.paths[g].open("ab") as fh:
                fh.write(records[order[bounds[g]:bounds[g + 1]]].tobytes())
        self.sizes += np.bincount(cells, minlength=self.nlist)

    def read(self, group: int) -> tuple[np.ndarray, np.ndarray]:
        """(cells, records) of file `group`, by cell, each cell's in the order they were added."""
        records = np.fromfile(self.paths[group], self.dtype)
        cells = coarse_list_numbers(records["code"], self.coarse_size)
        order = np.argsort(cells, kind="stable")
        return cells[order], records[order]

    def blocks(self) -> Iterator[np.ndarray]:
        """Every record, a file's worth at most `BLOCK` at a time (files in order, each in the order added)."""
        for path in self.paths:
            with path.open("rb") as fh:
                while True:
                    block = np.fromfile(fh, self.dtype, count=BLOCK)
                    if not len(block):
                        break
                    yield block

    def close(self) -> None:
        """Remove the scratch files."""
        self._finalizer()


def decoded_sample(index: Any, spill: Spill, n: int) -> np.ndarray:
    """A spread sample of the `n` vectors of `spill`, decoded, to train the cells `n` vectors ask for: filled in
    place (one copy of it, not a list of blocks and their concatenation), a block of codes at a time."""
    rows = np.sort(np.random.default_rng(1234).choice(n, sample_size(n, cells(n)), replace=False))
    sample = np.empty((len(rows), int(index.d)), np.float32)
    start = 0
    for block in spill.blocks():
        first, last = np.searchsorted(rows, [start, start + len(block)])
        if last > first:
            sample[first:last] = index.sa_decode(np.ascontiguousarray(block["code"][rows[first:last] - start]))
        start += len(block)
    return sample


def _unlink_all(paths: list[Path]) -> None:
    for path in paths:
        unlink_quietly(path)


def template(index: Any, faiss: Any, ntotal: int) -> bytes:
    """FAISS's file of an ivf-sq8 index trained as `index` is, holding `ntotal` vectors in empty cells and no id
    table: its bytes up to the inverted lists are the header of the file `write_ivf` writes."""
    empty = faiss.IndexIVFScalarQuantizer(faiss.clone_index(index.quantizer), index.d, index.nlist,
                                          faiss.ScalarQuantizer.QT_8bit, index.metric_type)
    empty.sq = index.sq
    empty.code_size = index.code_size
    empty.by_residual = index.by_residual
    empty.is_trained = True
    empty.nprobe = index.nprobe
    empty.ntotal = ntotal
    return bytes(faiss.serialize_index(empty))


def write_ivf(path: Path, index: Any, faiss: Any, spill: Spill | None, dropped: np.ndarray | None = None,
              source: int | None = None) -> None:
    """Write the ivf-sq8 `index` less the ids `dropped` (sorted), with the records of `spill` added after its own,
    as FAISS's index file: the cells of `index` (in memory, or mapped from the generation an update started from,
    whose file is open as `source`) and those on disk, a range of cells at a time."""
    nlist, code_size = int(index.nlist), int(index.code_size)
    cells_of = _Cells(index, faiss, source)
    sizes = np.array([index.invlists.list_size(c) for c in range(nlist)], np.int64)
    if dropped is not None and len(dropped):
        sizes -= np.array([np.count_nonzero(_kept(cells_of.ids(c), dropped) == 0) for c in range(nlist)])
    if spill is not None:
        sizes = sizes + spill.sizes
    header = template(index, faiss, int(sizes.sum()))
    cut = header.rfind(b"ilar")
    if cut < 0 or not header.endswith(b"sprs" + bytes(8)):
        raise RuntimeError("unexpected layout of a FAISS inverted file")  # a FAISS version this was not made for
    with path.open("wb") as fh:
        fh.write(header[:cut])
        fh.write(b"ilar" + np.array([nlist, code_size], "<u8").tobytes() + b"full")
        fh.write(np.array([nlist, *sizes], "<u8").tobytes())  # FAISS's vector<size_t>: length, then items
        groups = range(spill.groups) if spill is not None else [None]
        for group in groups:
            _write_cells(fh, cells_of, spill, group, dropped)


def in_memory(index: Any, faiss: Any, spill: Spill | None, dropped: np.ndarray | None, source: int | None) -> Any:
    """`index` less `dropped` plus `spill`, as one FAISS index in memory (its file written, then read)."""
    path = scratch_file("rag-ivf-", ".faiss")
    try:
        write_ivf(path, index, faiss, spill, dropped, source)
        out = faiss.read_index(str(path))
    finally:
        unlink_quietly(path)
    out.set_direct_map_type(faiss.DirectMap.Hashtable)
    return out


def _ids_of(lists: Any, cell: int, faiss: Any) -> np.ndarray:
    n = lists.list_size(cell)
    return faiss.rev_swig_ptr(lists.get_ids(cell), n).astype("<i8") if n else np.zeros(0, "<i8")


def _kept(ids: np.ndarray, dropped: np.ndarray | None) -> np.ndarray:
    """1 for each id to keep, 0 for each of `dropped` (sorted)."""
    if dropped is None or not len(dropped) or not len(ids):
        return np.ones(len(ids), np.uint8)
    at = np.minimum(np.searchsorted(dropped, ids), len(dropped) - 1)
    return (dropped[at] != ids).astype(np.uint8)


class _Cells:
    """The codes and ids of an index's cells. Cells mapped from a file that is open (`source`) are read from it
    with plain reads: read through the mapping, every page of them would count in this process's memory."""

    def __init__(self, index: Any, faiss: Any, source: int | None) -> None:
        self.lists, self.faiss, self.source = index.invlists, faiss, source
        self.nlist, self.code_size = int(index.nlist), int(index.code_size)
        self.on_disk = faiss.downcast_InvertedLists(self.lists) if source is not None else None
        if self.on_disk is not None and not hasattr(self.on_disk, "lists"):
            self.on_disk = None  # in memory after all

    def ids(self, cell: int) -> np.ndarray:
        """The ids of `cell`."""
        n = self.lists.list_size(cell)
        if not n:
            return np.zeros(0, "<i8")
        if self.on_disk is not None and self.source is not None:  # after its codes
            offset = int(self.on_disk.lists.at(cell).offset) + n * self.code_size
            return np.frombuffer(os.pread(self.source, n * 8, offset), "<i8")
        return _ids_of(self.lists, cell, self.faiss)

    def get(self, cell: int) -> tuple[np.ndarray, np.ndarray]:
        """(codes as (n, code_size) bytes, ids) of `cell`."""
        n = self.lists.list_size(cell)
        if not n:
            return np.zeros((0, self.code_size), np.uint8), np.zeros(0, "<i8")
        if self.on_disk is not None and self.source is not None:  # codes then ids, at the cell's offset
            raw = os.pread(self.source, n * (self.code_size + 8), int(self.on_disk.lists.at(cell).offset))
            codes = np.frombuffer(raw, np.uint8, n * self.code_size).reshape(n, self.code_size)
            return codes, np.frombuffer(raw, "<i8", n, n * self.code_size)
        codes = self.faiss.rev_swig_ptr(self.lists.get_codes(cell), n * self.code_size).reshape(n, self.code_size)
        return codes, _ids_of(self.lists, cell, self.faiss)


def all_ids(index: Any, faiss: Any, source: int | None) -> np.ndarray:
    """Every id of an inverted file's cells, in cell order (read from `source` when its cells are mapped from it:
    through the mapping, the kernel maps the pages around each id too, and they count in this process)."""
    cells_of = _Cells(index, faiss, source)
    parts = [cells_of.ids(c) for c in range(cells_of.nlist)]
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)


def _write_cells(fh: BinaryIO, cells_of: _Cells, spill: Spill | None, group: int | None,
                 dropped: np.ndarray | None) -> None:
    """Each cell of a range: its codes, then its ids (the index's own first, less `dropped`, then the spilled
    ones)."""
    if spill is None or group is None:
        cells, records, span = np.zeros(0, np.int64), None, range(cells_of.nlist)
    else:
        cells, records = spill.read(group)
        span = spill.cells_of(group)
    bounds = np.searchsorted(cells, np.arange(span.start, span.stop + 1))
    for i, cell in enumerate(span):
        own_codes, own = cells_of.get(cell)
        keep = _kept(own, dropped).astype(bool)
        codes, ids = [np.ascontiguousarray(own_codes[keep]).ravel()], [own[keep]]
        if records is not None and spill is not None and bounds[i + 1] > bounds[i]:
            mine = records[bounds[i]:bounds[i + 1]]
            spilled: np.ndarray = mine["code"]
            codes.append(np.ascontiguousarray(spilled[:, spill.coarse_size:]).ravel())
            ids.append(mine["id"])
        for part in codes:
            fh.write(part.tobytes())
        for part in ids:
            fh.write(part.tobytes())
