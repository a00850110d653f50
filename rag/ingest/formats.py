"""Readers: one article file's bytes to a `Document`, per format (plain text and Markdown, HTML, PDF).

Each raises IngestError naming the file and saying what is wrong: empty, not text, no article in the HTML,
a damaged or scanned PDF, too long to be one article.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
from collections.abc import Iterator
from datetime import date
from typing import Any

from rag.errors import IngestError
from rag.ingest.decode import clean_str, decode_text, normalise_newlines
from rag.records import Document

MAX_DOC_CHARS = 8 * 2**20  # the text of any one document, whatever it came from: as many as 8 MiB of ASCII
# The seed article's first line: "08/18/2025 / By Zoey Sky".
_BYLINE = re.compile(r"^\s*(?P<date>\d{1,2}/\d{1,2}/\d{4})\s*(?:/|\||-|–)\s*By\s+(?P<author>[^\n]+?)\s*$")


@contextlib.contextmanager
def _quiet(logger: str) -> Iterator[None]:
    """Silence a parser's own log lines (repairs, discarded markup): the outcome is reported by the caller."""
    log = logging.getLogger(logger)
    level = log.level
    log.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        log.setLevel(level)


def make_document(doc_id: str, title: str, text: str, meta: dict[str, Any]) -> Document:
    """A Document, or IngestError when its text is empty or too long to be one article."""
    if not text.strip():
        raise IngestError(doc_id, "there is no text in it")
    if len(text) > MAX_DOC_CHARS:
        raise IngestError(doc_id, f"the text is {len(text):,} characters; one document may have at most "
                                  f"{MAX_DOC_CHARS:,} (split it into articles)")
    return Document(id=clean_str(doc_id), title=clean_str(title), text=clean_str(text), meta=_clean(meta))


def _clean(value: Any) -> Any:
    """Metadata with every string made writable as UTF-8 (JSON escapes may hold lone surrogates)."""
    if isinstance(value, str):
        return clean_str(value)
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def title_from_text(text: str) -> str:
    for line in text.split("\n"):
        line = line.strip()
        if not line or _BYLINE.match(line):
            continue
        if len(line) <= 120 and not line.endswith((".", "?", "!")):
            return line.lstrip("# ").strip() or line
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
    """`key: value` lines between --- fences atop a Markdown file (title, date, author, source, url)."""
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


def read_plain(suffix: str, doc_id: str, data: bytes) -> Document:
    text = normalise_newlines(decode_text(data, doc_id))
    meta: dict[str, Any] = {"source_path": doc_id}
    meta.update(_byline_meta(text))
    title = ""
    if suffix in (".md", ".markdown"):
        fm = _front_matter(text)
        title = str(fm.pop("title", ""))
        meta.update({k: v for k, v in fm.items() if k in ("date", "author", "source", "url")})
        heading = re.search(r"^#\s+(.+)$", text, re.MULTILINE)
        if not title and heading:
            title = heading.group(1).strip()
    return make_document(doc_id, title or title_from_text(text), text, meta)


def _mostly_links(html: str, text: str) -> bool:
    """Whether the extracted text is (nearly) all link labels: a menu, not an article."""
    import lxml.etree
    import lxml.html

    try:
        labels = [a.text_content().strip() for a in lxml.html.fromstring(html).iter("a")]
    except (ValueError, lxml.etree.LxmlError):
        return False
    rest = text
    for label in sorted(filter(None, labels), key=len, reverse=True):
        rest = rest.replace(label, " ")
    letters = sum(ch.isalnum() for ch in text)
    return sum(ch.isalnum() for ch in rest) < 0.2 * letters


def read_html(doc_id: str, data: bytes) -> Document:
    import trafilatura

    html = decode_text(data, doc_id)
    try:
        with _quiet("trafilatura"):
            extracted = trafilatura.bare_extraction(
                html, include_comments=False, include_tables=True, with_metadata=True, favor_precision=True
            )
    except Exception as exc:  # a third-party parser on untrusted markup: any failure means "cannot read"
        raise IngestError(doc_id, f"cannot parse the HTML ({type(exc).__name__}: {exc})") from exc
    text = getattr(extracted, "text", None) if extracted is not None else None
    if not text or not text.strip() or _mostly_links(html, text):
        raise IngestError(doc_id, "no article text found in the HTML (only navigation, scripts or markup)")
    meta: dict[str, Any] = {"source_path": doc_id}
    for key, attr in (("date", "date"), ("author", "author"), ("url", "url"), ("source", "sitename")):
        value = getattr(extracted, attr, None)
        if value:
            meta[key] = str(value)
    text = normalise_newlines(text)
    title = getattr(extracted, "title", None) or title_from_text(text)
    return make_document(doc_id, str(title), text, meta)


def read_pdf(doc_id: str, data: bytes) -> Document:
    from pypdf import PdfReader

    if b"%PDF-" not in data[:1024]:
        raise IngestError(doc_id, "not a PDF file (it has no %PDF header)")
    try:
        # pypdf logs every repair it makes to a damaged file; the outcome is reported here instead.
        with _quiet("pypdf"):
            reader = PdfReader(io.BytesIO(data))
            if reader.is_encrypted and not reader.decrypt(""):
                raise IngestError(doc_id, "the PDF is password-protected")
            pages: list[str] = []
            for page in reader.pages:
                try:
                    pages.append(normalise_newlines(page.extract_text() or "").strip())
                except Exception:  # one damaged page costs that page, not the document
                    pages.append("")
            info = reader.metadata
            title = str(info.title) if info and info.title else ""
            author = str(info.author) if info and info.author else ""
    except IngestError:
        raise
    except Exception as exc:  # a third-party parser on untrusted bytes: any failure means "cannot read"
        reason = f"cannot read the PDF, it is damaged ({type(exc).__name__}: {exc})"
        raise IngestError(doc_id, reason) from exc
    if not any(pages):
        raise IngestError(doc_id, "the PDF has no text layer (a scan?): nothing to index")
    page_starts, pos = [], 0
    for text in pages:
        page_starts.append(pos)
        pos += len(text) + 2
    text = "\n\n".join(pages)
    meta: dict[str, Any] = {"source_path": doc_id, "pages": len(pages), "page_starts": page_starts}
    if author:
        meta["author"] = author
    return make_document(doc_id, title or title_from_text(text), text, meta)
