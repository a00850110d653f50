"""Ingest: files and folders in, `Document`s out, each with a stable id, a title and its metadata.

A document's text is kept verbatim (only newlines normalised to \\n): every offset in the system points into it.
A file that cannot be read is reported by name with the reason, and the rest are still ingested.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from .errors import CorpusError, IngestError
from .records import Document

SUFFIXES = {".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".jsonl"}
MAX_FILE_BYTES = 64 * 1024 * 1024
# The seed article's first line: "08/18/2025 / By Zoey Sky".
_BYLINE = re.compile(r"^\s*(?P<date>\d{1,2}/\d{1,2}/\d{4})\s*(?:/|\||-|–)\s*By\s+(?P<author>[^\n]+?)\s*$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True, slots=True)
class IngestResult:
    """The documents read, and one `IngestError` per file (or corpus line) that could not be."""

    documents: tuple[Document, ...]
    failures: tuple[IngestError, ...]


def normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def fingerprint(doc: Document) -> str:
    """A stable hash of everything indexed about a document: a change in any of it means re-embedding."""
    h = hashlib.sha256()
    h.update(doc.title.encode())
    h.update(b"\0")
    h.update(doc.text.encode())
    h.update(b"\0")
    h.update(json.dumps(dict(doc.meta), sort_keys=True, default=str).encode())
    return h.hexdigest()[:32]


def decode_text(data: bytes, name: str) -> str:
    """Bytes to text: UTF-8 (BOM or not), UTF-16 with a BOM, else Windows-1252; binary data is refused."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise IngestError(name, f"invalid UTF-16 text ({exc.reason})") from exc
    if b"\x00" in data[:8192]:
        raise IngestError(name, "looks like a binary file, not text (it contains NUL bytes)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        # Old newsroom exports are often Windows-1252; it maps almost every byte, so it is the last resort.
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _title_from_text(text: str) -> str:
    for line in text.split("\n"):
        line = line.strip()
        if not line or _BYLINE.match(line):
            continue
        if len(line) <= 120 and not line.endswith((".", "?", "!")):
            return line.lstrip("# ").strip()
        first = re.split(r"(?<=[.!?])\s", line, maxsplit=1)[0]
        if len(first) > 100:
            first = first[:100].rsplit(" ", 1)[0] + "…"
        return first
    return "(untitled)"


def _byline_meta(text: str) -> dict[str, Any]:
    first = text.split("\n", 1)[0]
    m = _BYLINE.match(first)
    if not m:
        return {}
    mm, dd, yyyy = (int(x) for x in m["date"].split("/"))
    try:
        iso = date(yyyy, mm, dd).isoformat()
    except ValueError:
        return {"author": m["author"]}
    return {"date": iso, "author": m["author"]}


def _front_matter(text: str) -> dict[str, Any]:
    """`key: value` lines between --- fences at the top of a Markdown file (title, date, author, source, url)."""
    if not text.startswith("---\n"):
        return {}
    end = text.find("\n---", 4)
    if end < 0:
        return {}
    meta: dict[str, Any] = {}
    for line in text[4:end].split("\n"):
        key, sep, value = line.partition(":")
        if sep and key.strip():
            meta[key.strip().lower()] = value.strip().strip("\"'")
    return meta


def _read_plain(path: Path, doc_id: str, data: bytes) -> Document:
    text = normalise_newlines(decode_text(data, doc_id))
    if not text.strip():
        raise IngestError(doc_id, "the file is empty")
    meta: dict[str, Any] = {"source_path": doc_id}
    meta.update(_byline_meta(text))
    title = ""
    if path.suffix.lower() in (".md", ".markdown"):
        fm = _front_matter(text)
        title = str(fm.pop("title", ""))
        meta.update({k: v for k, v in fm.items() if k in ("date", "author", "source", "url")})
        heading = re.search(r"^#\s+(.+)$", text, re.MULTILINE)
        if not title and heading:
            title = heading.group(1).strip()
    return Document(id=doc_id, title=title or _title_from_text(text), text=text, meta=meta)


def _read_html(doc_id: str, data: bytes) -> Document:
    import trafilatura

    html = decode_text(data, doc_id)
    extracted = trafilatura.bare_extraction(
        html, include_comments=False, include_tables=True, with_metadata=True, favor_precision=True
    )
    text = getattr(extracted, "text", None) if extracted is not None else None
    if not text or not text.strip():
        raise IngestError(doc_id, "no article text found in the HTML (only navigation, scripts or markup)")
    meta: dict[str, Any] = {"source_path": doc_id}
    for key, attr in (("date", "date"), ("author", "author"), ("url", "url"), ("source", "sitename")):
        value = getattr(extracted, attr, None)
        if value:
            meta[key] = str(value)
    text = normalise_newlines(text)
    title = getattr(extracted, "title", None) or _title_from_text(text)
    return Document(id=doc_id, title=str(title), text=text, meta=meta)


def _read_pdf(doc_id: str, path: Path) -> Document:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(path))
        pages = [normalise_newlines(page.extract_text() or "").strip() for page in reader.pages]
    except (PdfReadError, ValueError, KeyError, OSError) as exc:
        raise IngestError(doc_id, f"cannot read the PDF ({exc})") from exc
    if not any(pages):
        raise IngestError(doc_id, "the PDF has no text layer (a scan?): nothing to index")
    page_starts, parts, pos = [], [], 0
    for text in pages:
        page_starts.append(pos)
        parts.append(text)
        pos += len(text) + 2
    text = "\n\n".join(parts)
    meta: dict[str, Any] = {"source_path": doc_id, "pages": len(pages), "page_starts": page_starts}
    info = reader.metadata
    title = (info.title if info and info.title else None) or _title_from_text(text)
    if info and info.author:
        meta["author"] = str(info.author)
    return Document(id=doc_id, title=str(title), text=text, meta=meta)


def read_jsonl_corpus(path: Path, *, strict: bool = False) -> Iterator[Document | IngestError]:
    """Documents of a BEIR-style corpus.jsonl (`_id`, `title`, `text`, any other key is metadata)."""
    with path.open(encoding="utf-8-sig") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            where = f"{path.name}:{lineno}"
            try:
                row = json.loads(line)
                if not isinstance(row, dict):
                    raise ValueError("not a JSON object")
                missing = [k for k in ("_id", "text") if k not in row]
                if missing:
                    raise ValueError(f"missing key(s) {', '.join(missing)}")
                text = normalise_newlines(str(row.pop("text")))
                doc_id = str(row.pop("_id"))
                title = str(row.pop("title", "") or "") or _title_from_text(text)
                if not text.strip():
                    raise ValueError("empty text")
                yield Document(id=doc_id, title=title, text=text, meta=row)
            except ValueError as exc:  # json.JSONDecodeError is a ValueError
                err = IngestError(where, str(exc))
                if strict:
                    raise err from exc
                yield err


def read_file(path: Path, doc_id: str) -> Document:
    """Read one article file into a Document, or raise IngestError naming it."""
    suffix = path.suffix.lower()
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise IngestError(doc_id, f"cannot read the file ({exc.strerror or exc})") from exc
    if size > MAX_FILE_BYTES:
        raise IngestError(doc_id, f"the file is {size / 2**20:.0f} MiB; the limit is {MAX_FILE_BYTES // 2**20} MiB")
    if suffix == ".pdf":
        return _read_pdf(doc_id, path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise IngestError(doc_id, f"cannot read the file ({exc.strerror or exc})") from exc
    if not data.strip():
        raise IngestError(doc_id, "the file is empty")
    if suffix in (".html", ".htm"):
        return _read_html(doc_id, data)
    if suffix in (".txt", ".md", ".markdown"):
        return _read_plain(path, doc_id, data)
    raise IngestError(doc_id, f"unsupported file type {suffix!r} (use {', '.join(sorted(SUFFIXES))})")


def _walk(root: Path) -> Iterator[Path]:
    # followlinks=False: a symlink loop in a corpus folder must not hang the scan.
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith(".") and Path(name).suffix.lower() in SUFFIXES:
                yield Path(folder) / name


def load_corpus(paths: Iterable[str | os.PathLike[str]]) -> IngestResult:
    """Read every supported file under `paths` (files or folders). Ids are paths relative to the folder given."""
    docs: list[Document] = []
    failures: list[IngestError] = []
    seen: set[str] = set()
    for raw in paths:
        root = Path(raw)
        if not root.exists():
            raise CorpusError(f"corpus path not found: {root}")
        files = [(root, root.name)] if root.is_file() else [(p, p.relative_to(root).as_posix()) for p in _walk(root)]
        for path, rel in files:
            items: Iterable[Document | IngestError]
            if path.suffix.lower() == ".jsonl":
                items = read_jsonl_corpus(path)
            else:
                try:
                    items = [read_file(path, rel)]
                except IngestError as exc:
                    items = [exc]
            for item in items:
                if isinstance(item, IngestError):
                    failures.append(item)
                elif item.id in seen:
                    failures.append(IngestError(item.id, "duplicate document id; the first one was kept"))
                else:
                    seen.add(item.id)
                    docs.append(item)
    return IngestResult(tuple(docs), tuple(failures))
