"""Helpers of `Index.update`'s batched build: a growing buffer of sentence vectors and the progress bar."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rag.index.files import SENTENCE_DTYPE, SentenceKey
from rag.records import Document, Passage

# A document as one batch of an update carries it: the document, its passages and its distinct sentences' keys.
Chunked = tuple[Document, list[Passage], list[SentenceKey]]


class SentenceRows:
    """Sentence vectors (SENTENCE_DTYPE) that grow by rows in one buffer, its capacity by half again when full.

    The buffer is private and resized in place (`ndarray.resize`: realloc, which moves a large block by
    remapping its pages rather than copying them), so growing never holds two copies of the vectors.
    """

    def __init__(self, start: np.ndarray, dim: int) -> None:
        self._buf = np.array(start, dtype=SENTENCE_DTYPE, order="C") if len(start) else np.empty((0, dim),
                                                                                             SENTENCE_DTYPE)
        self._n = len(self._buf)

    def extend(self, vectors: np.ndarray) -> None:
        need = self._n + len(vectors)
        if need > len(self._buf):
            self._buf.resize((max(need, len(self._buf) * 3 // 2), self._buf.shape[1]), refcheck=False)
        self._buf[self._n:need] = vectors
        self._n = need

    def array(self) -> np.ndarray:
        """The rows so far, the spare capacity given back; the buffer is no longer grown after this."""
        self._buf.resize((self._n, self._buf.shape[1]), refcheck=False)
        return self._buf


class BuildProgress:
    """One bar over an update, on standard error when it is a terminal: passages embedded, passages/s, ETA.

    The total is not known until every document is chunked; it is estimated from the characters read so far
    (passages per character) and made exact at the end.
    """

    def __init__(self, docs: Sequence[Document]) -> None:
        from tqdm import tqdm

        self._chars_total = sum(len(d.text) for d in docs)
        self._chars = 0
        # On a terminal only (disable=None): redrawn with carriage returns, a bar would garble a log or a pipe.
        self._bar = tqdm(total=None, desc="Indexing", unit="passage", dynamic_ncols=True, disable=None)

    def advance(self, batch: Sequence[Chunked]) -> None:
        self._chars += sum(len(d.text) for d, _, _ in batch)
        done = self._bar.n + sum(len(ps) for _, ps, _ in batch)
        self._bar.total = max(done, round(done * self._chars_total / max(self._chars, 1)))
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        if self._chars >= self._chars_total:
            self._bar.total = self._bar.n
            self._bar.refresh()
        self._bar.close()
