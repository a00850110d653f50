"""The build's embedding seam (rag.embed.batches): an embedder that pipelines batches gets them all, in order,
and the index it builds equals one built batch by batch."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TypeVar

import numpy as np

from rag.index.index import Index
from rag.records import Document

T = TypeVar("T")


class Pipelined:
    """A fake embedder with `embed_batches` that takes two batches before giving the first back, as a cluster
    keeping batches in flight would."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.name, self.dim, self.max_tokens = inner.name, inner.dim, inner.max_tokens
        self.batches = 0

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        return self.inner.embed(texts)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self.inner.count_tokens(texts)

    def embed_batches(self, batches: Iterable[tuple[T, Sequence[str]]]) -> Iterator[tuple[T, np.ndarray]]:
        pending: list[tuple[T, Sequence[str]]] = []
        for item in batches:
            pending.append(item)
            self.batches += 1
            if len(pending) == 2:
                tag, texts = pending.pop(0)
                yield tag, self.inner.embed(texts)
        for tag, texts in pending:
            yield tag, self.inner.embed(texts)


def _docs() -> list[Document]:
    return [Document(id=f"d{i}", title=f"Story {i}", text=f"Story {i} begins here. It has a second sentence about "
                     f"topic {i}. And a third one, on harbour number {i * 7}.") for i in range(9)]


def test_a_pipelining_embedder_builds_the_same_index(fake_embedder) -> None:
    plain = Index.create(fake_embedder)
    plain.update(_docs(), embedder=fake_embedder, batch_texts=3)
    piped_embedder = Pipelined(fake_embedder)
    piped = Index.create(piped_embedder)
    piped.update(_docs(), embedder=piped_embedder, batch_texts=3)
    assert piped_embedder.batches > 2  # it really ran batch by batch, through the seam
    assert list(piped.passages) == list(plain.passages)
    assert [piped.passages[i].text for i in piped.passages] == [plain.passages[i].text for i in plain.passages]
    np.testing.assert_array_equal(piped.sentence_vectors, plain.sentence_vectors)
    q = fake_embedder.embed(["harbour number 21"])
    a, b = piped.store.search(q, 5), plain.store.search(q, 5)
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(a.scores, b.scores)
