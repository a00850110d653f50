"""Ingest: files and folders in, `Document`s out, each with a stable id, a title and its metadata.

A document's text is kept verbatim (only newlines normalised to \\n): every offset in the system points into
it. A file that cannot be read is reported by name with the reason, and the rest are still ingested. The same
article saved under two names is ingested once; the other names are kept in `extra["also_at"]`. Metadata is
typed as it is read (`rag.ingest.formats.typed_meta`): a value that cannot be used fails its file or line.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rag.errors import CorpusError, IngestError
from rag.ingest.decode import clean_str, decode_text, normalise_newlines
from rag.ingest.formats import MAX_DOC_CHARS, make_document, read_html, read_pdf, read_plain, title_from_text
from rag.ingest.lazy import LazyDocuments, ids_of
from rag.ingest.walk import SUFFIXES, is_benchmark_note, is_gold_file, walk
from rag.records import Document

__all__ = [
    "MAX_DOC_CHARS", "IngestResult", "decode_text", "fingerprint", "load_corpus", "normalise_newlines", "read_file",
    "read_jsonl_corpus", "text_fingerprint",
]

# A PDF carries images and fonts, so its file may be large for little text.
MAX_FILE_BYTES = 64 * 1024 * 1024
# A text, Markdown or HTML article. 8 MiB is a thousand long articles: a file this size is a dump to split.
# One document of 50 MB would take hours to embed on a CPU and 100 s just to chunk (bench/big_file.py).
MAX_TEXT_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class IngestResult:
    """The documents read, and one `IngestError` per file (or corpus line) that could not be."""

    documents: Sequence[Document]  # a tuple, or with `load_corpus(..., lazy=True)` a LazyDocuments
    failures: tuple[IngestError, ...]

    def unreadable(self) -> frozenset[str]:
        """Ids of files listed but not readable this time: an index keeps what it had of them."""
        read = set(ids_of(self.documents))
        return frozenset(f.path for f in self.failures if f.path not in read)

    def summary(self, *, limit: int = 3) -> str:
        """The failures in one line: the first `limit` of them, and how many more."""
        if not self.failures:
            return "no file failed" if self.documents else f"no {'/'.join(sorted(SUFFIXES))} file found"
        shown = "; ".join(str(f) for f in self.failures[:limit])
        more = len(self.failures) - limit
        return shown + (f"; and {more} more" if more > 0 else "")


def fingerprint(doc: Document) -> str:
    """A stable hash of everything indexed about a document: a change in any of it means re-embedding."""
    h = hashlib.sha256()
    h.update(doc.title.encode())
    h.update(b"\0")
    h.update(doc.text.encode())
    h.update(b"\0")
    meta = {k: v for k, v in doc.to_dict().items() if k not in ("id", "title", "text")}
    h.update(json.dumps(meta, sort_keys=True, ensure_ascii=False).encode())
    return h.hexdigest()[:32]


def text_fingerprint(text: str) -> str:
    """A hash of a document's text alone: two files with the same one are the same article."""
    return hashlib.sha256(text.encode()).hexdigest()


def _os_reason(exc: OSError) -> str:
    if exc.errno == errno.ENOENT:
        return "the file disappeared while the corpus was being read (or is a broken link)"
    if exc.errno == errno.ELOOP:
        return "a symbolic link loop: it never leads to a file"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    return f"cannot read the file ({exc.strerror or exc})"


def _row_document(row: Any, where: str) -> Document:
    if not isinstance(row, dict):
        raise ValueError("not a JSON object")
    missing = [k for k in ("_id", "text") if k not in row]
    if missing:
        raise ValueError(f"missing key(s) {', '.join(missing)}")
    text, doc_id, title = row.pop("text"), row.pop("_id"), row.pop("title", "")
    if not isinstance(text, str):
        raise ValueError(f"'text' must be a string, not {type(text).__name__}")
    if not isinstance(doc_id, str | int) or isinstance(doc_id, bool) or not str(doc_id).strip():
        raise ValueError("'_id' must be a non-empty string or number")
    if title is not None and not isinstance(title, str):
        raise ValueError(f"'title' must be a string, not {type(title).__name__}")
    text = normalise_newlines(text)
    try:
        return make_document(str(doc_id), title or title_from_text(text), text, row)
    except IngestError as exc:
        raise ValueError(exc.reason) from None


def read_jsonl_corpus(path: Path, *, strict: bool = False, name: str | None = None
                      ) -> Iterator[Document | IngestError]:
    """Documents of a BEIR-style corpus.jsonl (`_id`, `title`, `text`, any other key is metadata, typed as
    `rag.ingest.formats.typed_meta` says).

    A bad line yields an IngestError naming `name` (default: the file name) and the line, or with `strict`
    raises it.
    """
    for _, _, item in _jsonl_rows(path, name or path.name):
        if strict and isinstance(item, IngestError):
            raise item
        yield item


def _jsonl_rows(path: Path, name: str) -> Iterator[tuple[int, int, Document | IngestError]]:
    """(line number, the line's byte offset, its document or IngestError) for each line of a corpus.jsonl;
    line 0 when the file itself cannot be opened."""
    try:
        fh = path.open("rb")
    except OSError as exc:
        yield 0, 0, IngestError(name, _os_reason(exc))
        return
    with fh:
        offset = 0
        for lineno, raw in enumerate(fh, 1):
            item = _jsonl_line(raw, lineno, name)
            if item is not None:
                yield lineno, offset, item
            offset += len(raw)


def _jsonl_line(raw: bytes, lineno: int, name: str) -> Document | IngestError | None:
    """The document of one line of a corpus.jsonl, its IngestError, or None for a blank line."""
    where = f"{name}:{lineno}"
    try:
        line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
        return _row_document(json.loads(line), where) if line.strip() else None
    # JSONDecodeError and UnicodeDecodeError are ValueErrors; deeply nested JSON is a RecursionError.
    except (ValueError, RecursionError) as exc:
        return IngestError(where, "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else str(exc))


def _read_again(path: Path, doc_id: str, line: int, offset: int) -> Document:
    """A document `load_corpus(..., lazy=True)` found, read again (`rag.ingest.lazy.Reader`)."""
    if line == 0:
        return read_file(path, doc_id)
    try:
        with path.open("rb") as fh:
            fh.seek(offset)
            raw = fh.readline()
    except OSError as exc:
        raise IngestError(doc_id, _os_reason(exc)) from exc
    item = _jsonl_line(raw, line, path.name)
    if item is None:
        raise IngestError(doc_id, f"line {line} of {path.name} is now blank")
    if isinstance(item, IngestError):
        raise item
    return item


def read_file(path: Path, doc_id: str) -> Document:
    """Read one article file into a Document, or raise IngestError naming it."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES - {".jsonl"}:
        raise IngestError(doc_id, f"unsupported file type {suffix!r} (use {', '.join(sorted(SUFFIXES))})")
    try:
        st = path.stat()
    except OSError as exc:
        raise IngestError(doc_id, _os_reason(exc)) from exc
    if not stat.S_ISREG(st.st_mode):
        raise IngestError(doc_id, "not a regular file (a pipe or a device?)")
    limit = MAX_FILE_BYTES if suffix == ".pdf" else MAX_TEXT_BYTES
    too_big = IngestError(doc_id, f"the file is {st.st_size / 2**20:.1f} MiB; the limit for a {suffix} "
                                  f"article is {limit // 2**20} MiB (split it into one file per article)")
    if st.st_size > limit:
        raise too_big
    try:
        with path.open("rb") as fh:
            data = fh.read(limit + 1)  # the file may have grown since stat()
    except OSError as exc:
        raise IngestError(doc_id, _os_reason(exc)) from exc
    if len(data) > limit:
        raise too_big
    if not data.strip():
        raise IngestError(doc_id, "the file is empty")
    if suffix == ".pdf":
        return read_pdf(doc_id, data)
    if suffix in (".html", ".htm"):
        return read_html(doc_id, data)
    return read_plain(suffix, doc_id, data)


def load_corpus(paths: Iterable[str | os.PathLike[str]], *, lazy: bool = False) -> IngestResult:
    """Read every supported file under `paths` (files or folders). Ids are paths relative to the folder given.

    Article files with the same text are one document, known by its first name, the others listed in
    `extra["also_at"]`; rows of a corpus.jsonl keep their own ids even when texts repeat (gold files name
    them). With `lazy`, the documents are read and checked but not kept: `documents` is a
    `rag.ingest.lazy.LazyDocuments` that reads each one again when it is reached, so that memory does not grow
    with the corpus.
    Raises CorpusError when a path does not exist; every other problem is one IngestError in the result.
    """
    docs: list[Document] = []
    found = LazyDocuments(_read_again)
    failures: list[IngestError] = []
    origin: dict[str, str] = {}  # document id -> where it was read (full path, and line of a corpus.jsonl)
    by_text: dict[str, str] = {}  # text hash of an article file -> the id it is known by
    also: dict[str, list[str]] = {}

    def add(doc: Document, path: Path, line: int = 0, offset: int = 0) -> None:
        key = text_fingerprint(doc.text) if not line else ""
        where = clean_str(f"{path}:{line}" if line else str(path))
        if key in by_text:
            also.setdefault(by_text[key], []).append(doc.id)
        elif doc.id in origin:
            failures.append(IngestError(doc.id, f"two documents have this id: {origin[doc.id]} (kept) and "
                                                f"{where} (left out); rename one of them"))
        else:
            origin[doc.id] = where
            if not line:
                by_text[key] = doc.id
            if lazy:
                found.append(doc.id, path, line=line, offset=offset)
            else:
                docs.append(doc)

    for path, doc_id in _listed(paths, failures):
        if path.suffix.lower() == ".jsonl":
            for lineno, offset, item in _jsonl_rows(path, doc_id):
                if isinstance(item, IngestError):
                    failures.append(item)
                else:
                    add(item, path, lineno, offset)
            continue
        try:
            add(read_file(path, doc_id), path)
        except IngestError as exc:
            failures.append(exc)
    also_at = {d: tuple(sorted(names)) for d, names in also.items()}
    if lazy:
        return IngestResult(found.with_also_at(also_at), tuple(failures))
    docs = [replace(d, extra={**d.extra, "also_at": also_at[d.id]}) if d.id in also_at else d for d in docs]
    return IngestResult(tuple(docs), tuple(failures))


def _listed(paths: Iterable[str | os.PathLike[str]], failures: list[IngestError]) -> Iterator[tuple[Path, str]]:
    """(path, document id) of each corpus file under `paths`, less gold files and a benchmark's SOURCE.md."""
    for raw in paths:
        root = Path(raw)
        if not root.exists():
            raise CorpusError(f"corpus path not found: {root}")
        listed = [(root, root.name)] if not root.is_dir() else [
            (p, p.relative_to(root).as_posix()) for p in walk(root, failures)
        ]
        for path, rel in listed:
            if path != root and (is_benchmark_note(path) or (path.suffix.lower() == ".jsonl" and is_gold_file(path))):
                continue  # a gold file beside the articles it asks about, or a benchmark's SOURCE.md
            yield path, clean_str(rel)
