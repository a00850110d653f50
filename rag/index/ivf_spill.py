"""An inverted file's codes kept on disk while an index is built, and written out as FAISS's own file, list by list.

[issue 12] An ivf-sq8 index in memory holds every vector's 8-bit code and id (392 bytes a passage): 1 GB at ten
times news-archive, on top of the model. While a build adds vectors, `Spill` encodes them (the coarse cell and
the scalar-quantised code, exactly what `add_with_ids` would store) and appends them to scratch files, one per
range of cells, with plain writes (page cache, not the process's memory). `write_ivf` then writes the index file
FAISS itself would write, one range of cells at a time: the trained header, then each cell's codes and ids in
the order they were added. The file is the one `faiss.write_index` gives for the same vectors added in the same
order, byte for byte, except that it carries no id → slot table (searching needs none, removing scans the cells,
`FaissStore.vectors` builds it when asked; readers no longer build one at load); `tests/test_ivf_spill.py`
compares them.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from rag.index.scratch import scratch_file, unlink_quietly

# Cells per scratch file: writing the index reads one file at a time, so a file's share of the codes is what
# the write holds in memory (1/64 of 1 GB at 2.6 M passages).
GROUPS = 64
# Records decoded or re-read at a time (a retrain re-encodes the codes in blocks of this many).
BLOCK = 1 << 16


def coarse_list_numbers(codes: np.ndarray, coarse_size: int) -> np.ndarray:
    """The cell of each `sa_encode` code: its first `coarse_size` bytes, little-endian (FAISS's `encode_listno`)."""
    out = np.zeros(len(codes), np.int64)
    for i in range(coarse_size):
        out |= codes[:, i].astype(np.int64) << (8 * i)
    return out


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


def write_ivf(path: Path, index: Any, faiss: Any, spill: Spill | None) -> None:
    """Write the ivf-sq8 `index` with the records of `spill` added after its own, as FAISS's index file: the
    cells already in memory (an index loaded to be updated) and those on disk, a range of cells at a time."""
    nlist, code_size = int(index.nlist), int(index.code_size)
    lists = index.invlists
    sizes = np.array([lists.list_size(c) for c in range(nlist)], np.int64)
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
            _write_cells(fh, index, faiss, spill, group)


def _write_cells(fh: BinaryIO, index: Any, faiss: Any, spill: Spill | None, group: int | None) -> None:
    """Each cell of a range: its codes, then its ids (the in-memory ones first, then the spilled ones)."""
    code_size = int(index.code_size)
    lists = index.invlists
    if spill is None or group is None:
        cells, records, span = np.zeros(0, np.int64), None, range(int(index.nlist))
    else:
        cells, records = spill.read(group)
        span = spill.cells_of(group)
    bounds = np.searchsorted(cells, np.arange(span.start, span.stop + 1))
    for i, cell in enumerate(span):
        n = lists.list_size(cell)
        codes = [faiss.rev_swig_ptr(lists.get_codes(cell), n * code_size).copy()] if n else []
        ids = [faiss.rev_swig_ptr(lists.get_ids(cell), n).astype("<i8")] if n else []
        if records is not None and spill is not None and bounds[i + 1] > bounds[i]:
            mine = records[bounds[i]:bounds[i + 1]]
            own: np.ndarray = mine["code"]
            codes.append(np.ascontiguousarray(own[:, spill.coarse_size:]).ravel())
            ids.append(mine["id"])
        for part in codes:
            fh.write(part.tobytes())
        for part in ids:
            fh.write(part.tobytes())
