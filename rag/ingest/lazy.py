"""Documents read again from their files when asked for, so that a build holds one batch of an archive.

[issue 12] `load_corpus` read a whole corpus into `Document`s and the build kept them until its end: 216 MiB for
news-archive's 11,812 articles, ten times that for an archive ten times its size. A scan now keeps, for each
document, only its id and where it was read (a file, or a line's byte offset in a corpus.jsonl): about 90 bytes
(its id string, a list slot and three array entries). Reading one again is a seek and a JSON parse (news-archive
whole: 1.8 s), small next to embedding it.

A file edited between the scan and the read is indexed as it reads then (the index records that version's
fingerprint, so the next run sees no change). One that can no longer be read, or a corpus.jsonl line that now
holds another document, stops the build with a `CorpusError` naming it; the live index is unchanged and the next
run resumes from the build's last checkpoint (`rag.index.resume`).
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import overload

from rag.errors import CorpusError, IngestError
from rag.records import Document

# Reads the document with this id from `path`: an article file (line 0), or the line of a corpus.jsonl that
# starts at byte `offset`.
Reader = Callable[[Path, str, int, int], Document]

__all__ = ["LazyDocuments", "Reader", "ids_of", "subset"]


class LazyDocuments(Sequence[Document]):
    """A corpus's documents, in the order scanned, each read from its file on access. Documents given whole
    (`plus`) are kept in memory. Built by `rag.ingest.corpus.load_corpus(..., lazy=True)`."""

    def __init__(self, read: Reader, *, also_at: Mapping[str, tuple[str, ...]] | None = None) -> None:
        self._read = read
        self._ids: list[str] = []
        self._files: list[Path] = []
        self._file = array("i")  # index into _files; -1: a document held in _held
        self._line = array("q")
        self._offset = array("q")
        self._held: dict[int, Document] = {}
        self._also_at = dict(also_at or {})

    def with_also_at(self, also_at: Mapping[str, tuple[str, ...]]) -> LazyDocuments:
        """These documents, each whose id is in `also_at` read with `extra["also_at"]` set to its names (the
        other files holding the same article)."""
        out = self.pick(range(len(self)))
        out._also_at = {**self._also_at, **also_at}
        return out

    def append(self, doc_id: str, path: Path, *, line: int = 0, offset: int = 0) -> None:
        """Add the document `doc_id`, to be read from `path` (at the line starting at byte `offset` of a
        corpus.jsonl, `line` counting from 1; line 0 for an article file)."""
        if not self._files or self._files[-1] != path:
            self._files.append(path)
        self._ids.append(doc_id)
        self._file.append(len(self._files) - 1)
        self._line.append(line)
        self._offset.append(offset)

    def pick(self, positions: Sequence[int]) -> LazyDocuments:
        """The documents at `positions`, in that order, still read when reached."""
        out = LazyDocuments(self._read, also_at=self._also_at)
        out._files = self._files
        for i in positions:
            out._ids.append(self._ids[i])
            out._file.append(self._file[i])
            out._line.append(self._line[i])
            out._offset.append(self._offset[i])
            if i in self._held:
                out._held[len(out._ids) - 1] = self._held[i]
        return out

    def plus(self, docs: Sequence[Document]) -> LazyDocuments:
        """These documents followed by `docs`, which are kept as given."""
        out = self.pick(range(len(self)))
        for doc in docs:
            out._held[len(out._ids)] = doc
            out._ids.append(doc.id)
            out._file.append(-1)
            out._line.append(0)
            out._offset.append(0)
        return out

    def without(self, ids: Collection[str]) -> LazyDocuments:
        """These documents less those whose id is in `ids`."""
        return self.pick([i for i, d in enumerate(self._ids) if d not in ids])

    @property
    def ids(self) -> Sequence[str]:
        """The documents' ids, in order, without reading them."""
        return self._ids

    def __len__(self) -> int:
        return len(self._ids)

    @overload
    def __getitem__(self, i: int) -> Document: ...

    @overload
    def __getitem__(self, i: slice) -> LazyDocuments: ...

    def __getitem__(self, i: int | slice) -> Document | LazyDocuments:
        if isinstance(i, slice):
            return self.pick(range(len(self))[i])
        i = range(len(self))[i]  # negative positions, and IndexError past the end
        if i in self._held:
            return self._held[i]
        doc_id, path = self._ids[i], self._files[self._file[i]]
        try:
            doc = self._read(path, doc_id, self._line[i], self._offset[i])
        except IngestError as exc:
            raise _changed(doc_id, exc.reason) from None
        if doc.id != doc_id:
            raise _changed(doc_id, f"the line now holds {doc.id!r}")
        names = self._also_at.get(doc_id)
        return replace(doc, extra={**doc.extra, "also_at": names}) if names else doc

    def __iter__(self) -> Iterator[Document]:
        for i in range(len(self)):
            yield self[i]


def _changed(doc_id: str, reason: str) -> CorpusError:
    return CorpusError(f"{doc_id} changed while the corpus was being indexed ({reason}); run the command again "
                       "(a long build resumes from its last checkpoint)")


def ids_of(docs: Sequence[Document]) -> Sequence[str]:
    """The ids of `docs`, without reading lazy documents again."""
    return docs.ids if isinstance(docs, LazyDocuments) else [d.id for d in docs]


def subset(docs: Sequence[Document], positions: Sequence[int]) -> Sequence[Document]:
    """The documents of `docs` at `positions`, in that order: lazy documents stay lazy (`LazyDocuments.pick`),
    others are in memory already."""
    return docs.pick(positions) if isinstance(docs, LazyDocuments) else [docs[i] for i in positions]
