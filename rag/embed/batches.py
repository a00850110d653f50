"""Embedding a build's batches as a stream: the seam between the index, which chunks and writes, and whatever
embeds (this process, or a cluster's actors).

`Index.update` hands over an iterator of (tag, texts) pairs, one per batch of whole documents, and writes each
batch as its vectors come back, in the order given. An embedder that can keep several batches in flight (one
that ships them to other processes or machines) says so by having an `embed_batches` method of this shape; any
other `Embedder` embeds one batch after the other here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol, TypeVar, runtime_checkable

import numpy as np

from rag.embed.model import Embedder

T = TypeVar("T")


@runtime_checkable
class BatchEmbedder(Protocol):
    """An embedder that pipelines a build's batches: vectors come back batch by batch, in the order given,
    while later batches are being embedded."""

    def embed_batches(self, batches: Iterable[tuple[T, Sequence[str]]]) -> Iterator[tuple[T, np.ndarray]]:
        """For each (tag, texts), in order: (tag, unit-length float32 vectors, one row per text)."""
        ...


def embed_batches(embedder: Embedder, batches: Iterable[tuple[T, Sequence[str]]]) -> Iterator[tuple[T, np.ndarray]]:
    """Vectors of each batch's texts, batch by batch in order, by `embedder.embed_batches` where it has one."""
    if isinstance(embedder, BatchEmbedder):
        yield from embedder.embed_batches(batches)
        return
    for tag, texts in batches:
        yield tag, embedder.embed(texts, progress=False)  # the build's own bar counts passages
