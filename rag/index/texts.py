"""Documents and passages in one SQLite file, read on demand: an archive's texts are never all in memory.

A generation holds its texts in `texts.sqlite`, opened read-only (and immutable: no lock, no journal) when the
index is loaded. The first change after that (an update) copies it, page by page, into a private scratch file,
which the update then writes; `save` writes a compacted copy of it into the next generation (`VACUUM INTO`).
The live generation's file is never written.

The store keeps a small cache of decoded documents and passages, since one question reads the same few dozen
articles and passages many times; `rag.index.mappings` shows it to the rest of the library as two mappings.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import IndexCorruptError
from rag.index.scratch import scratch_file, unlink_quietly
from rag.ingest.corpus import fingerprint
from rag.records import Document, Passage

FILE = "texts.sqlite"
_SCHEMA = """
CREATE TABLE documents (ord INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, fingerprint TEXT NOT NULL,
                        meta TEXT NOT NULL, text TEXT NOT NULL);
CREATE TABLE passages (id INTEGER PRIMARY KEY, ord INTEGER NOT NULL, start INTEGER NOT NULL,
                       end INTEGER NOT NULL, sentences BLOB NOT NULL);
CREATE INDEX passages_by_document ON passages (ord);
"""
_CACHED = 512  # documents and passages kept decoded: a question reads a few dozen of each, several times
_PAGE = 512  # rows fetched at a time while iterating, so that iteration holds a page, not the table
_BACKUP_PAGES = 1024  # database pages (4 KiB each) an update copies into its scratch file at a time



class TextStore:
    """The documents (by id, in the order they were added) and passages (by id) of one index."""

    def __init__(self, conn: sqlite3.Connection, *, scratch: Path | None) -> None:
        self._conn = conn
        self._scratch = scratch  # None: a generation's file, read-only until the first change
        self._lock = threading.RLock()  # one connection, shared by the chat's threads
        self._docs: OrderedDict[int, Document] = OrderedDict()
        self._passages: OrderedDict[int, Passage] = OrderedDict()
        rows = conn.execute("SELECT id, ord FROM documents ORDER BY ord").fetchall()
        self._ords: dict[str, int] = dict(rows)  # every document id: small beside the texts (1/20 of passages)
        self._n_passages = int(conn.execute("SELECT count(*) FROM passages").fetchone()[0])
        self._max_pid = int(conn.execute("SELECT coalesce(max(id), -1) FROM passages").fetchone()[0])
        self._finalizer = weakref.finalize(self, _close, conn, scratch)

    @classmethod
    def create(cls) -> TextStore:
        """An empty store in a scratch file of its own, removed when the store is."""
        path = scratch_file("rag-texts-", ".sqlite")
        conn = _connect(f"file:{path}", writable=True)
        conn.executescript(_SCHEMA)
        return cls(conn, scratch=path)

    @classmethod
    def open(cls, folder: Path) -> TextStore:
        """The store of a generation folder, read-only; IndexCorruptError when it cannot be read."""
        path = folder / FILE
        if not path.is_file():
            raise IndexCorruptError(f"index file {path} is missing")
        try:
            return cls(_connect(f"file:{path}?mode=ro&immutable=1", writable=False), scratch=None)
        except sqlite3.Error as exc:
            raise IndexCorruptError(f"cannot read {path}: {exc}") from exc

    def save(self, folder: Path) -> list[str]:
        """Write a compacted copy of the store into `folder`; return its file name."""
        with self._lock:
            self._conn.execute("VACUUM INTO ?", (str(folder / FILE),))
        return [FILE]

    def close(self) -> None:
        self._finalizer()

    # -- documents -------------------------------------------------------------------------------------
    def document_ids(self) -> list[str]:
        return list(self._ords)

    def ordinals(self) -> Mapping[str, int]:
        """Each document id's ordinal: how the sentence table (`rag.index.sentences`) names documents."""
        return self._ords

    def fingerprints(self) -> dict[str, str]:
        with self._lock:
            return dict(self._conn.execute("SELECT id, fingerprint FROM documents ORDER BY ord").fetchall())

    def document(self, doc_id: str) -> Document:
        """The document `doc_id`; KeyError if there is none."""
        return self._document(self._ords[doc_id])

    def _document(self, ord_: int) -> Document:
        with self._lock:
            doc = self._docs.get(ord_)
            if doc is not None:
                self._docs.move_to_end(ord_)
                return doc
            row = self._conn.execute("SELECT meta, text FROM documents WHERE ord = ?", (ord_,)).fetchone()
            if row is None:
                raise KeyError(ord_)
            doc = _decode_document(row[0], row[1])
            _remember(self._docs, ord_, doc)
            return doc

    def _rows(self, sql: str, page: int = _PAGE) -> Iterator[tuple[Any, ...]]:
        """Every row of `sql`, a query keyed by its first column (`WHERE key > ? ORDER BY key LIMIT ?`), read a
        page at a time: iteration holds one page, and the lock only while a page is read."""
        after = -1
        while True:
            with self._lock:
                rows = self._conn.execute(sql, (after, page)).fetchall()
            if not rows:
                return
            yield from rows
            after = rows[-1][0]

    def documents(self) -> Iterator[Document]:
        """Every document in order, read a page at a time."""
        for _, meta, text in self._rows("SELECT ord, meta, text FROM documents WHERE ord > ? ORDER BY ord LIMIT ?"):
            yield _decode_document(meta, text)

    # -- passages --------------------------------------------------------------------------------------
    def passage_count(self) -> int:
        return self._n_passages

    def max_passage_id(self) -> int:
        """The largest passage id ever stored here (-1 for none): ids are never reused."""
        return self._max_pid

    def has_passage(self, pid: int) -> bool:
        with self._lock:
            return self._conn.execute("SELECT 1 FROM passages WHERE id = ?", (pid,)).fetchone() is not None

    def passage(self, pid: int) -> Passage:
        """The passage `pid`; KeyError if there is none."""
        with self._lock:
            p = self._passages.get(pid)
            if p is not None:
                self._passages.move_to_end(pid)
                return p
            row = self._conn.execute("SELECT ord, start, end, sentences FROM passages WHERE id = ?",
                                     (pid,)).fetchone()
            if row is None:
                raise KeyError(pid)
            p = _passage(self._document(row[0]), pid, row[1], row[2], row[3])
            _remember(self._passages, pid, p)
            return p

    def passage_ids(self) -> Iterator[int]:
        for (pid,) in self._rows("SELECT id FROM passages WHERE id > ? ORDER BY id LIMIT ?", _PAGE * 8):
            yield pid

    def passages(self) -> Iterator[Passage]:
        """Every passage in id order, a page at a time (each article read once: its passages are consecutive)."""
        doc = None
        for pid, ord_, start, end, sentences in self._rows(
                "SELECT id, ord, start, end, sentences FROM passages WHERE id > ? ORDER BY id LIMIT ?"):
            if doc is None or doc[0] != ord_:
                doc = (ord_, self._document(ord_))
            yield _passage(doc[1], pid, start, end, sentences)

    def passage_documents(self) -> tuple[np.ndarray, list[str]]:
        """(passage ids, the document id of each), without reading any text: what filters need."""
        names = {o: d for d, o in self._ords.items()}
        with self._lock:
            rows = self._conn.execute("SELECT id, ord FROM passages ORDER BY id").fetchall()
        return np.array([r[0] for r in rows], np.int64), [names[r[1]] for r in rows]

    # -- changing --------------------------------------------------------------------------------------
    def add(self, docs: Sequence[Document], passages: Sequence[Passage]) -> None:
        """Add `docs` (new ids) and their `passages`, in one transaction."""
        self._own()
        with self._lock, self._conn:
            start = max(self._ords.values(), default=-1) + 1
            ords = {d.id: start + i for i, d in enumerate(docs)}
            self._conn.executemany("INSERT INTO documents VALUES (?, ?, ?, ?, ?)",
                                   [(ords[d.id], d.id, fingerprint(d), _meta(d), d.text) for d in docs])
            self._conn.executemany("INSERT INTO passages VALUES (?, ?, ?, ?, ?)", [
                (p.id, ords[p.doc_id], p.start, p.end, np.asarray(p.sentences, "<i8").tobytes()) for p in passages])
            self._ords.update(ords)
            self._n_passages += len(passages)
            self._max_pid = max([self._max_pid, *(p.id for p in passages)])

    def drop(self, doc_ids: Iterable[str]) -> list[int]:
        """Remove the documents `doc_ids` (unknown ones are ignored) and their passages; return those passages' ids."""
        ords = [self._ords[d] for d in dict.fromkeys(doc_ids) if d in self._ords]
        if not ords:
            return []
        self._own()
        with self._lock, self._conn:
            pids: list[int] = []
            for i in range(0, len(ords), 500):  # SQLite caps a statement's parameters
                part = ords[i:i + 500]
                marks = ",".join("?" * len(part))
                pids += [r[0] for r in self._conn.execute(f"SELECT id FROM passages WHERE ord IN ({marks})", part)]
                self._conn.execute(f"DELETE FROM passages WHERE ord IN ({marks})", part)
                self._conn.execute(f"DELETE FROM documents WHERE ord IN ({marks})", part)
            gone = set(ords)
            self._ords = {d: o for d, o in self._ords.items() if o not in gone}
            self._n_passages -= len(pids)
            self._docs.clear()
            self._passages.clear()
        return pids

    def _own(self) -> None:
        """Before the first change to a generation's store: copy it into a scratch file and write that instead."""
        if self._scratch is not None:
            return
        with self._lock:
            path = scratch_file("rag-texts-", ".sqlite")
            conn = _connect(f"file:{path}", writable=True)
            # In steps of 1,024 pages: copied in one step, every page of the file was held until the end
            # (+307 MiB in an update of 724,000 passages, bench/update_memory.py).
            self._conn.backup(conn, pages=_BACKUP_PAGES)
            self._finalizer.detach()
            self._conn.close()
            self._conn, self._scratch = conn, path
            self._finalizer = weakref.finalize(self, _close, conn, path)


def _connect(uri: str, *, writable: bool) -> sqlite3.Connection:
    conn = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level="DEFERRED" if writable else None)
    conn.execute("PRAGMA cache_size = -8192")  # 8 MiB of pages at most: the file, not memory, holds the texts
    if writable:
        # A scratch file: what makes it durable is `save` (a copy into a generation, fsynced with the others).
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA synchronous = OFF")
    return conn


def _close(conn: sqlite3.Connection, scratch: Path | None) -> None:
    conn.close()
    if scratch is not None:
        unlink_quietly(scratch)


def _remember(cache: OrderedDict[Any, Any], key: Any, value: Any) -> None:
    cache[key] = value
    if len(cache) > _CACHED:
        cache.popitem(last=False)


def _meta(doc: Document) -> str:
    d = doc.to_dict()
    del d["text"]
    return json.dumps(d, ensure_ascii=False)


def _decode_document(meta: str, text: str) -> Document:
    try:
        return Document.from_dict({**json.loads(meta), "text": text})
    except (ValueError, KeyError, TypeError) as exc:
        raise IndexCorruptError(f"a document in the index cannot be read: {exc}") from exc


def _passage(doc: Document, pid: int, start: int, end: int, sentences: bytes) -> Passage:
    flat = np.frombuffer(sentences, "<i8").tolist()
    return Passage(id=pid, doc_id=doc.id, start=start, end=end, text=doc.text[start:end],
                   sentences=tuple(zip(flat[::2], flat[1::2], strict=True)))


__all__ = ["FILE", "TextStore"]
