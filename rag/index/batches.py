"""Helpers of `Index.update`'s batched build: what a batch carries, the build's progress, and its report."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from rag.index.sentences import SentenceKey
from rag.records import Document, Passage

# A document as one batch of an update carries it: the document, its passages and its distinct sentences' keys.
Chunked = tuple[Document, list[Passage], list[SentenceKey]]


def gather(
    docs: Sequence[Document], chunk: Callable[[Document], tuple[list[Passage], list[SentenceKey]]], batch_texts: int
) -> Iterator[list[Chunked]]:
    """`docs` chunked by `chunk`, gathered into batches of whole documents holding at least `batch_texts` texts
    (passages and sentences; the last batch may hold fewer). Lazy: each document is chunked when reached."""
    batch: list[Chunked] = []
    size = 0
    for doc in docs:
        passages, keys = chunk(doc)
        batch.append((doc, passages, keys))
        size += len(passages) + len(keys)
        if size >= batch_texts:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def texts_of(batch: Sequence[Chunked]) -> list[str]:
    """The texts of a batch to embed: its passages, then its documents' distinct sentences."""
    return [p.text for _, ps, _ in batch for p in ps] + [doc.text[s:e] for doc, _, ks in batch for _, s, e in ks]


@dataclass(frozen=True, slots=True)
class UpdateReport:
    """What an update did: document ids added, changed and removed, and how much was embedded."""

    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    unchanged: int = 0
    passages_embedded: int = 0
    sentences_embedded: int = 0
    seconds: float = 0.0

    @property
    def touched(self) -> bool:
        return bool(self.added or self.changed or self.removed)


class BuildProgress:
    """Progress over an update, on standard error: passages embedded, passages/s, ETA. A bar on a terminal;
    elsewhere (a log, a pipe) a plain line at most every `interval` seconds and one at the end, since a bar
    redrawn with carriage returns would garble a log, and a long build in a log should still say how far it is.

    The total is not known until every document is chunked; it is estimated from the characters read so far
    (passages per character) and made exact at the end.
    """

    def __init__(self, docs: Sequence[Document], *, interval: float = 30.0) -> None:
        from tqdm import tqdm

        self._chars_total = sum(len(d.text) for d in docs)
        self._chars = 0
        self._interval = interval
        self._start = self._said = time.monotonic()
        self._done = self._total = 0
        self._bar = tqdm(total=None, desc="Indexing", unit="passage", dynamic_ncols=True, disable=None)

    def advance(self, batch: Sequence[Chunked]) -> None:
        self._chars += sum(len(d.text) for d, _, _ in batch)
        # Counted here: a disabled tqdm (not a terminal) keeps no count of its own.
        self._done += sum(len(ps) for _, ps, _ in batch)
        self._total = max(self._done, round(self._done * self._chars_total / max(self._chars, 1)))
        self._bar.total = self._total
        self._bar.update(self._done - self._bar.n)
        if self._bar.disable and time.monotonic() - self._said >= self._interval:
            self._say()

    def _say(self) -> None:
        self._said = time.monotonic()
        rate = self._done / max(self._said - self._start, 1e-9)
        left = (f", about {(self._total - self._done) / rate / 60:.0f} min left"
                if rate and self._total > self._done else "")
        print(f"Indexing: {self._done:,} of about {self._total:,} passages, {rate:.1f} passages/s{left}",
              file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._chars >= self._chars_total:
            self._total = self._bar.total = self._done
            self._bar.refresh()
        if self._bar.disable:
            self._say()
        self._bar.close()
