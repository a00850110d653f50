"""The sentence table: every indexed sentence's key (document, start, end) and its vector, on disk.

An archive has about four sentences a passage, so its sentence vectors are the largest part of an index
(1M sentences: 730 MiB in float16). They are never all in memory: a build appends them to a scratch file as
each batch is embedded, and a loaded index memory-maps its generation's `sentence_vectors.npy`, so answering
pages in the few dozen rows a question reads. The keys are two int32 offsets a sentence in memory, and one
(first row, count) pair per document: a document's sentences are added together, so they are one run of rows.

Removing a document only forgets its run; `save` copies the runs still in use into the next generation
(`sentences.npy`: document ordinal, start, end per row; `sentence_vectors.npy`), reading and writing a block at
a time, never through a memory map (pages read through a map would count as the process's memory).
"""

from __future__ import annotations

import contextlib
import shutil
import weakref
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np

from rag.errors import IndexCorruptError
from rag.index.scratch import scratch_file, unlink_quietly

# [perf, issue 5] Sentence vectors are kept as float16 (half the memory; cosines change by ~1e-4).
SENTENCE_DTYPE = np.float16
SentenceKey = tuple[str, int, int]  # (document id, start, end) of one sentence
KEYS_FILE, VECTORS_FILE = "sentences.npy", "sentence_vectors.npy"
_BLOCK = 16 << 20  # bytes copied at a time when saving
_LOOKUPS = 4096  # documents whose key -> row tables are kept (a question reads a few dozen)



class SentenceTable:
    """Sentence keys and vectors of an index, rows in the order they were added; documents' runs by id."""

    def __init__(self, dim: int, *, spans: np.ndarray | None = None, runs: dict[str, tuple[int, int]] | None = None,
                 source: Path | None = None) -> None:
        self.dim = dim
        self._spans = np.zeros((0, 2), np.int32) if spans is None else spans
        self._n = len(self._spans)
        self._runs: dict[str, tuple[int, int]] = runs or {}  # document id -> (first row, count)
        self._live = sum(n for _, n in self._runs.values())
        self._source = source  # a generation's sentence_vectors.npy, read-only; rows are appended elsewhere
        self._scratch: Path | None = None
        self._finalizer: weakref.finalize | None = None
        self._mapped: np.ndarray | None = None
        self._lookup: dict[str, dict[tuple[int, int], int]] = {}

    @classmethod
    def load(cls, folder: Path, dim: int, names: Mapping[int, str]) -> SentenceTable:
        """The table of a generation folder; `names` gives each document ordinal's id."""
        try:
            keys = np.load(folder / KEYS_FILE)
            vectors = np.load(folder / VECTORS_FILE, mmap_mode="r")
            if keys.ndim != 2 or keys.shape[1] != 3 or vectors.shape != (len(keys), dim):
                raise ValueError(f"{len(keys)} keys {keys.shape} for vectors of shape {vectors.shape}")
            ords = keys[:, 0]
            cuts = np.flatnonzero(np.diff(ords)) + 1
            firsts = np.concatenate([[0], cuts]).astype(np.int64) if len(ords) else np.zeros(0, np.int64)
            counts = np.diff(np.append(firsts, len(ords)))
            runs = {names[int(ords[f])]: (int(f), int(n)) for f, n in zip(firsts, counts, strict=True)}
        except (OSError, ValueError, KeyError) as exc:
            raise IndexCorruptError(f"cannot read the sentences of the index in {folder}: {exc}") from exc
        if len(runs) != len(firsts):
            raise IndexCorruptError(f"{folder / KEYS_FILE}: a document's sentences are not one run of rows")
        table = cls(dim, spans=np.ascontiguousarray(keys[:, 1:], dtype=np.int32), runs=runs,
                    source=folder / VECTORS_FILE)
        table._mapped = vectors
        return table

    def __len__(self) -> int:
        """Sentences of the documents in the index (rows of removed ones are not counted)."""
        return self._live

    # -- reading ---------------------------------------------------------------------------------------
    @property
    def vectors(self) -> np.ndarray:
        """Every row's vector (rows of removed documents included), memory-mapped."""
        if self._mapped is None or len(self._mapped) != self._n:
            if self._n == 0:
                self._mapped = np.zeros((0, self.dim), SENTENCE_DTYPE)
            else:
                assert self._scratch is not None
                self._mapped = np.memmap(self._scratch, SENTENCE_DTYPE, "r", shape=(self._n, self.dim))
        return self._mapped

    def rows(self, keys: Sequence[SentenceKey]) -> np.ndarray:
        """The row of each key; KeyError for a sentence that is not indexed."""
        out = np.empty(len(keys), np.int64)
        for i, (doc_id, start, end) in enumerate(keys):
            out[i] = self._rows_of(doc_id)[(start, end)]
        return out

    def _rows_of(self, doc_id: str) -> dict[tuple[int, int], int]:
        table = self._lookup.get(doc_id)
        if table is None:
            first, n = self._runs[doc_id]
            table = {(s, e): first + i for i, (s, e) in enumerate(self._spans[first:first + n].tolist())}
            if len(self._lookup) >= _LOOKUPS:
                self._lookup.clear()
            self._lookup[doc_id] = table
        return table

    def keys(self) -> Iterator[SentenceKey]:
        """Every key, in row order."""
        for doc_id, (first, n) in sorted(self._runs.items(), key=lambda kv: kv[1][0]):
            for s, e in self._spans[first:first + n].tolist():
                yield doc_id, s, e

    # -- changing --------------------------------------------------------------------------------------
    def add(self, docs: Sequence[tuple[str, Sequence[tuple[int, int]]]], vectors: np.ndarray) -> None:
        """Append the sentences of new documents: (document id, its sentences' spans) each, and all their vectors
        in that order, written to the end of the scratch file."""
        spans = [sp for _, doc_spans in docs for sp in doc_spans]
        if len(spans) != len(vectors):
            raise ValueError(f"{len(vectors)} vectors for {len(spans)} sentences")
        self._own()
        assert self._scratch is not None
        with self._scratch.open("ab") as fh:
            fh.write(np.ascontiguousarray(vectors, dtype=SENTENCE_DTYPE).tobytes())
        need = self._n + len(spans)
        if need > len(self._spans):  # room for half as many rows again: amortised growth
            grown = np.zeros((max(need, len(self._spans) * 3 // 2), 2), np.int32)
            grown[:self._n] = self._spans[:self._n]
            self._spans = grown
        if spans:
            self._spans[self._n:need] = np.asarray(spans, np.int32)
        for doc_id, doc_spans in docs:
            if doc_id in self._runs:
                raise ValueError(f"{doc_id!r} is already in the sentence table")
            self._runs[doc_id] = (self._n, len(doc_spans))
            self._n += len(doc_spans)
        self._live += len(spans)

    def alias(self, doc_id: str, same_as: str) -> None:
        """Index `doc_id` with the very rows of `same_as`, a document of the same text (bench/scale.py's copies
        of an index); saving or compacting writes the rows once for each."""
        self._runs[doc_id] = self._runs[same_as]
        self._live += self._runs[same_as][1]

    def drop(self, doc_id: str) -> None:
        """Forget a document's sentences (their rows stay in the file until the next save)."""
        run = self._runs.pop(doc_id, None)
        if run is not None:
            self._live -= run[1]
            self._lookup.pop(doc_id, None)

    def compact(self) -> None:
        """Rewrite the rows still in use into a new scratch file, after documents were dropped (row numbers
        change, so `rows` is asked again after this); nothing to do when no row is unused."""
        if self._live == self._n:
            return
        runs = sorted(self._runs.items(), key=lambda kv: kv[1][0])
        path = scratch_file("rag-sentences-", ".f16")
        try:
            with self._vector_file() as (src, base), path.open("wb") as out:
                row_bytes = self.dim * np.dtype(SENTENCE_DTYPE).itemsize
                for first, n in _merged(r for _, r in runs):
                    _copy(src, base + first * row_bytes, n * row_bytes, out)
        except BaseException:
            unlink_quietly(path)
            raise
        spans = np.empty((self._live, 2), np.int32)
        at = 0
        for doc_id, (first, n) in runs:
            spans[at:at + n] = self._spans[first:first + n]
            self._runs[doc_id] = (at, n)
            at += n
        self._adopt(path)
        self._spans, self._n, self._source = spans, self._live, None
        self._lookup.clear()

    def _adopt(self, path: Path) -> None:
        """Make `path` the scratch file (removed with the table), removing the previous one."""
        if self._finalizer is not None:
            self._finalizer()
        self._scratch = path
        self._finalizer = weakref.finalize(self, unlink_quietly, path)
        self._mapped = None

    def _own(self) -> None:
        """Before the first row is appended: a scratch file, holding a copy of the generation's rows if any."""
        if self._scratch is not None:
            return
        path = scratch_file("rag-sentences-", ".f16")
        if self._source is not None and self._n:
            with self._source.open("rb") as src, path.open("wb") as dst:
                src.seek(_data_offset(src))
                shutil.copyfileobj(src, dst, _BLOCK)
        self._adopt(path)  # the generation's map is let go: rows are read from the scratch file from now on
        self._source = None

    # -- disk ------------------------------------------------------------------------------------------
    def save(self, folder: Path, ordinals: Mapping[str, int]) -> list[str]:
        """Write the rows of the documents still indexed into `folder` (runs in row order, so a table saved
        without changes is copied as it is); `ordinals` gives each document id's ordinal in the text store."""
        runs = sorted(self._runs.items(), key=lambda kv: kv[1][0])
        keys = np.empty((self._live, 3), np.int32)
        at = 0
        for doc_id, (first, n) in runs:
            keys[at:at + n, 0] = ordinals[doc_id]
            keys[at:at + n, 1:] = self._spans[first:first + n]
            at += n
        np.save(folder / KEYS_FILE, keys)
        row_bytes = self.dim * np.dtype(SENTENCE_DTYPE).itemsize
        with (folder / VECTORS_FILE).open("wb") as out:
            np.lib.format.write_array_header_1_0(out, {"descr": np.lib.format.dtype_to_descr(
                np.dtype(SENTENCE_DTYPE)), "fortran_order": False, "shape": (self._live, self.dim)})
            if runs:
                with self._vector_file() as (src, base):
                    for first, n in _merged(r for _, r in runs):
                        _copy(src, base + first * row_bytes, n * row_bytes, out)
        return [KEYS_FILE, VECTORS_FILE]

    @contextlib.contextmanager
    def _vector_file(self) -> Iterator[tuple[BinaryIO, int]]:
        """The open file holding the rows, and the offset of row 0 in it."""
        path = self._scratch if self._scratch is not None else self._source
        assert path is not None
        with path.open("rb") as fh:
            yield fh, 0 if self._scratch is not None else _data_offset(fh)


def _data_offset(fh: BinaryIO) -> int:
    """Where the data of the .npy file open in `fh` starts (after its header)."""
    np.lib.format.read_magic(fh)
    np.lib.format.read_array_header_1_0(fh)
    return fh.tell()


def _merged(runs: Iterator[tuple[int, int]]) -> Iterator[tuple[int, int]]:
    """Consecutive (first, count) runs joined into one, so that an unchanged table is copied in big blocks."""
    first = count = None
    for f, n in runs:
        if first is not None and count is not None and first + count == f:
            count += n
            continue
        if first is not None and count is not None:
            yield first, count
        first, count = f, n
    if first is not None and count is not None:
        yield first, count


def _copy(src: BinaryIO, offset: int, size: int, out: BinaryIO) -> None:
    src.seek(offset)
    while size:
        block = src.read(min(size, _BLOCK))
        if not block:
            raise IndexCorruptError("the sentence vectors being saved end early")
        out.write(block)
        size -= len(block)


__all__ = ["KEYS_FILE", "SENTENCE_DTYPE", "VECTORS_FILE", "SentenceKey", "SentenceTable"]
