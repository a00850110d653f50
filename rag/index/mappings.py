"""`Index.documents` and `Index.passages`: read-only mappings over the index's text store (`rag.index.texts`),
so that code reading an index sees `Mapping[str, Document]` and `Mapping[int, Passage]` as it always did."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np

from rag.index.texts import TextStore
from rag.records import Document, Passage


class DocumentMap(Mapping[str, Document]):
    """`Index.documents`: the store's documents by id, in the order they were added. Read-only."""

    def __init__(self, store: TextStore) -> None:
        self._store = store

    def __getitem__(self, doc_id: str) -> Document:
        return self._store.document(doc_id)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._store.ordinals()

    def __iter__(self) -> Iterator[str]:
        return iter(self._store.document_ids())

    def __len__(self) -> int:
        return len(self._store.ordinals())

    def values(self) -> Iterator[Document]:  # type: ignore[override]
        return self._store.documents()

    def items(self) -> Iterator[tuple[str, Document]]:  # type: ignore[override]
        return ((d.id, d) for d in self._store.documents())


class PassageMap(Mapping[int, Passage]):
    """`Index.passages`: the store's passages by id. Read-only."""

    def __init__(self, store: TextStore) -> None:
        self._store = store

    def __getitem__(self, pid: int) -> Passage:
        return self._store.passage(int(pid))

    def __contains__(self, pid: object) -> bool:
        return isinstance(pid, int | np.integer) and self._store.has_passage(int(pid))

    def __iter__(self) -> Iterator[int]:
        return self._store.passage_ids()

    def __len__(self) -> int:
        return self._store.passage_count()

    def max_id(self) -> int:
        """The largest passage id ever added (-1 for none), without reading the ids."""
        return self._store.max_passage_id()

    def doc_ids(self) -> tuple[np.ndarray, list[str]]:
        """(passage ids, the document id of each), without reading texts (`TextStore.passage_documents`)."""
        return self._store.passage_documents()

    def values(self) -> Iterator[Passage]:  # type: ignore[override]
        return self._store.passages()

    def items(self) -> Iterator[tuple[int, Passage]]:  # type: ignore[override]
        return ((p.id, p) for p in self._store.passages())


__all__ = ["DocumentMap", "PassageMap"]
