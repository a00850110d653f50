"""BM25's score matrix built straight from term ids, a slice of the corpus at a time: what bm25s's `index()` builds,
bit for bit, in a fraction of its memory.

[issue 12] bm25s builds the matrix from three arrays of every (passage, term) pair, then sorts them through 64-bit
copies: about 44 bytes a pair at its peak, 506 MiB on news-archive's 264,000 passages (12 M pairs), at the end of
a build when the model and the vectors are in memory too. Here the pairs of a slice of passages are counted and
scored, then scattered into their columns: two passes over the term ids (document frequencies first), the final
arrays (8 bytes a pair) and one slice's temporaries. The scores are computed with bm25s's own formulas ("lucene":
Lucene's idf, Robertson's term frequency) in the same order of float operations; `tests/test_bm25_scores.py`
checks the arrays equal to bm25s's.

[issue 12, ten times the archive] Nothing here grows with the corpus in memory but per-term and per-passage
counts: the passages' term ids are read a slice at a time (from a scratch file, `TermIds`, while a build writes
them), and each slice's scored pairs go to scratch files by range of terms, which are then read one at a time
and written out in column order as the matrix's .npy files, memory-mapped to be read (`write_npy` copies them).
"""


from __future__ import annotations

import math
import os
import shutil
import weakref
from array import array
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np

from rag.index.scratch import scratch_file, unlink_quietly

# Terms a slice holds: its temporaries are a few int64 arrays of this length (2 MiB each). On news-archive a
# slice of 2 M terms added 202 MiB at the peak, one of 256 K 88 MiB (the result's own 86), and was faster.
SLICE_TERMS = 1 << 18
# Scored pairs per range of terms: the matrix is assembled a range at a time, 12 bytes a pair (12 MiB; its sort
# and reordered columns as much again: a range of 4 M pairs took ~200 MiB in an update at 724,000 passages).
GROUP_PAIRS = 1 << 20
# Term ids a `TermIds` buffers before appending them to its file.
_BUFFER = 1 << 20

__all__ = ["GROUP_PAIRS", "SLICE_TERMS", "TermIds", "score_matrix", "write_npy"]

Reader = Callable[[int, int], np.ndarray]
_PAIR = np.dtype([("term", "<i4"), ("doc", "<i4"), ("score", "<f4")])


class TermIds:
    """Passages' term ids (int32) appended to a scratch file as they are read; `ends[i]` ends passage i's."""

    def __init__(self) -> None:
        self.path = scratch_file("rag-terms-", ".i32")
        self._finalizer = weakref.finalize(self, unlink_quietly, self.path)
        self._ends, self._buffer, self._written = array("q"), array("i"), 0

    def add(self, ids: Iterable[int]) -> None:
        """Append one passage's term ids."""
        self._buffer.extend(ids)
        self._ends.append(self._written + len(self._buffer))
        if len(self._buffer) >= _BUFFER:
            self._flush()

    def _flush(self) -> None:
        with self.path.open("ab") as fh:
            fh.write(self._buffer.tobytes())
        self._written += len(self._buffer)
        self._buffer = array("i")

    @property
    def ends(self) -> np.ndarray:
        self._flush()
        return np.frombuffer(self._ends, np.int64)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Term ids start..stop-1 of the whole sequence."""
        self._flush()
        with self.path.open("rb") as fh:
            fh.seek(4 * start)
            return np.fromfile(fh, np.int32, count=stop - start)

    def close(self) -> None:
        self._finalizer()


def _slices(ends: np.ndarray, slice_terms: int) -> Iterator[tuple[int, int]]:
    """(first, last + 1) passages of consecutive slices of about `slice_terms` terms each (a passage whole)."""
    first = 0
    while first < len(ends):
        start = int(ends[first - 1]) if first else 0
        last = max(int(np.searchsorted(ends, start + slice_terms, side="right")), first + 1)
        yield first, min(last, len(ends))
        first = last


def _pairs(read: Reader, ends: np.ndarray, first: int, last: int, n_vocab: int
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(passage, term, term frequency) of each distinct term of passages first..last-1, by passage then term."""
    start = int(ends[first - 1]) if first else 0
    lengths = np.diff(ends[first:last], prepend=start)
    local = np.repeat(np.arange(last - first, dtype=np.int64), lengths)
    keys, tf = np.unique(local * n_vocab + read(start, int(ends[last - 1])), return_counts=True)
    return keys // n_vocab + first, keys % n_vocab, tf


def score_matrix(flat: np.ndarray | TermIds, ends: np.ndarray, n_vocab: int, *, k1: float, b: float,
                 slice_terms: int = SLICE_TERMS, group_pairs: int = GROUP_PAIRS) -> dict[str, object]:
    """The BM25 scores of passages given as term ids (`flat`, int32 in memory or in a `TermIds` file; passage
    i's terms end at `ends[i]`; every passage has at least one) over a vocabulary of `n_vocab` ids: a passage ×
    term matrix in compressed sparse columns, as bm25s keeps it in `BM25.scores` (`data`, `indices`, `indptr`,
    `num_docs`), `data` and `indices` memory-mapped from scratch files removed with them."""
    read: Reader = flat.read if isinstance(flat, TermIds) else (lambda i, j: flat[i:j])
    n_docs = len(ends)
    lengths = np.diff(ends, prepend=0)
    avg_len = lengths.mean()  # as bm25s computes it (an int64 array's mean)
    df = np.zeros(n_vocab, np.int64)
    for first, last in _slices(ends, slice_terms):
        df += np.bincount(_pairs(read, ends, first, last, n_vocab)[1], minlength=n_vocab)
    # Lucene's idf in Python floats, stored as float32: bm25s's `_score_idf_lucene` and `_build_idf_array`.
    idf = np.array([math.log(1 + (n_docs - f + 0.5) / (f + 0.5)) if f else 0.0 for f in df.tolist()], np.float32)
    indptr = np.zeros(n_vocab + 1, np.int64)
    np.cumsum(df, out=indptr[1:])
    # Ranges of terms of at most `group_pairs` pairs each (a term whole): the first term of each range.
    cuts = np.unique(np.searchsorted(indptr[1:], np.arange(0, int(indptr[-1]), group_pairs), side="right"))
    groups = [scratch_file("rag-bm25-", ".pairs") for _ in range(len(cuts))]
    try:
        for first, last in _slices(ends, slice_terms):
            doc, term, tf = _pairs(read, ends, first, last, n_vocab)
            order = np.argsort(term, kind="stable")
            tf_ = tf.astype(np.float64)
            # bm25s's `_score_tfc_robertson`, operation for operation, in float64, then idf (float32) times it
            tfc = tf_ / (k1 * ((1 - b) + b * lengths[doc] / avg_len) + tf_)
            pairs = np.empty(len(order), _PAIR)
            pairs["term"], pairs["doc"] = term[order], doc[order]
            pairs["score"] = (idf[pairs["term"]] * tfc[order]).astype(np.float32)
            bounds = np.searchsorted(pairs["term"], [*cuts[1:], n_vocab])
            for g, (i, j) in enumerate(zip([0, *bounds[:-1]], bounds, strict=True)):
                if j > i:
                    with groups[g].open("ab") as fh:
                        fh.write(pairs[i:j].tobytes())
        data, indices = _assembled(groups, int(indptr[-1]))
    finally:
        for path in groups:
            unlink_quietly(path)
    return {"data": data, "indices": indices, "indptr": indptr, "num_docs": n_docs}


def _assembled(groups: list[Path], n_pairs: int) -> tuple[np.ndarray, np.ndarray]:
    """The scores and passages of every pair in column order, from the files of consecutive ranges of terms
    (each holding its pairs passage by passage): two .npy scratch files, memory-mapped."""
    paths = (scratch_file("rag-bm25-data-", ".npy"), scratch_file("rag-bm25-indices-", ".npy"))
    with paths[0].open("wb") as data, paths[1].open("wb") as indices:
        for fh, dtype in ((data, np.float32), (indices, np.int32)):
            np.lib.format.write_array_header_1_0(fh, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                                                      "fortran_order": False, "shape": (n_pairs,)})
        for path in groups:
            pairs = np.fromfile(path, _PAIR)
            order = np.argsort(pairs["term"], kind="stable")  # passages stay in order within a term
            data.write(np.ascontiguousarray(pairs["score"][order]).tobytes())
            indices.write(np.ascontiguousarray(pairs["doc"][order]).tobytes())
    out = []
    for path in paths:
        arr = np.load(path, mmap_mode="r")
        weakref.finalize(arr, unlink_quietly, path)
        out.append(arr)
    return out[0], out[1]


def write_npy(path: Path, arr: np.ndarray) -> None:
    """`np.save(path, arr)`; an array memory-mapped whole from a .npy file is linked or copied as a file instead
    (copying it through the mapping would bring every page of it into this process's memory)."""
    source = getattr(arr, "filename", None)
    if isinstance(arr, np.memmap) and source and _whole_npy(Path(source), arr):
        try:
            os.link(source, path)
        except OSError:  # another file system, or links not allowed
            shutil.copyfile(source, path)
        return
    np.save(path, arr)


def _whole_npy(path: Path, arr: np.memmap) -> bool:
    try:
        with path.open("rb") as fh:
            version = np.lib.format.read_magic(fh)
            header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = header(fh)
            return (shape, fortran, dtype) == (arr.shape, False, arr.dtype) and fh.tell() == arr.offset
    except (OSError, ValueError):
        return False
