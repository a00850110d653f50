"""Readers: one article file's bytes to a `Document`, per format (plain text and Markdown, HTML, PDF).

Each raises IngestError naming the file and saying what is wrong: empty, not text, no article in the HTML,
a damaged or scanned PDF, too long to be one article, metadata that cannot be used.

Every reader dates its article through `rag.ingest.dates.find_date`, so there is one date reader and one
order of trust (`make_document`, `typed_meta`): a corpus.jsonl row's `date` or a Markdown front matter `date`
("metadata"), else an HTML page's own metadata (JSON-LD `datePublished`, `article:published_time`...,
"metadata"), else the article's URL (a row's or front matter's `url`, an HTML page's canonical or og:url,
"url"), else a dateline or byline at the head of the text ("text"). A PDF is dated by its text only: its
CreationDate is when the file was made (often an article printed to PDF long after), not when the article
was published, and a wrong date labelled "metadata" would be trusted more than it deserves.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
from collections.abc import Iterator, Mapping
from datetime import date
from typing import Any

from rag.errors import IngestError
from rag.ingest.decode import clean_str, decode_text, is_blank, normalise_newlines
from rag.records import DateSource, Document, MetaValue

MAX_DOC_CHARS = 8 * 2**20  # the text of any one document, whatever it came from: as many as 8 MiB of ASCII
# The seed article's first line: "08/18/2025 / By Zoey Sky". Only its author is read here; its date is read,
# like every other, by rag.ingest.dates.
_BYLINE = re.compile(r"^\s*(?P<date>\d{1,2}/\d{1,2}/\d{4})\s*(?:/|\||-|–)\s*By\s+(?P<author>[^\n]+?)\s*$")
_YEAR = re.compile(r"\d{4}")


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


def make_document(doc_id: str, title: str, text: str, meta: Mapping[str, Any], *, html: str | None = None,
                  head: str | None = None) -> Document:
    """A Document with typed metadata (`typed_meta`, given the raw `html` page it came from, if any, and the
    `head` of the text a dateline is looked for in: default `text`), or IngestError when its text is empty, too
    long to be one article, or its metadata cannot be used."""
    if is_blank(text):
        raise IngestError(doc_id, "there is no text in it")
    if len(text) > MAX_DOC_CHARS:
        raise IngestError(doc_id, f"the text is {len(text):,} characters; one document may have at most "
                                  f"{MAX_DOC_CHARS:,} (split it into articles)")
    text = clean_str(text)
    try:
        fields = typed_meta(meta, text_length=len(text), head=text if head is None else head, html=html)
    except ValueError as exc:
        raise IngestError(doc_id, str(exc)) from None
    return Document(id=clean_str(doc_id), title=clean_str(title), text=text, **fields)


def _shown(value: Any) -> str:
    """A metadata value as an error message quotes it: JSON, at most 60 characters."""
    shown = json.dumps(value, ensure_ascii=False, default=str)
    return shown if len(shown) <= 60 else shown[:59] + "…"


def _string(key: str, value: Any, *, lists: bool = False) -> str | None:
    """A text field: a string (stripped; blank means unset) or, with `lists`, a list of them (joined by ", ")."""
    if value is None:
        return None
    if lists and isinstance(value, list) and all(isinstance(v, str) for v in value):
        value = ", ".join(v.strip() for v in value if v.strip())
    if not isinstance(value, str):
        kind = "a string or a list of strings" if lists else "a string"
        raise ValueError(f"{key!r} must be {kind}, not {_shown(value)}")
    return clean_str(value.strip()) or None


def _date(value: Any) -> str | None:
    """A date as written ("2025-08-18", "Aug. 18, 2025"), or a bare year given as a number (2025 -> "2025"):
    any other number (2025.5, 20250818, true) is refused rather than guessed at."""
    if isinstance(value, int) and not isinstance(value, bool) and 1000 <= value <= 9999:
        return str(value)
    if value is None or isinstance(value, str):
        return _string("date", value)
    raise ValueError(f"'date' must be a date string or a year, not {_shown(value)}")


def _dated(given: str | None, *, url: str | None, html: str | None, head: str
           ) -> tuple[str | None, DateSource | None]:
    """(date, date_source) of an article (`rag.ingest.dates.find_date`): the date the corpus gives (`given`),
    else the `html` page's metadata, its `url`, the `head` of its text; (None, None) when none gives a day. A
    given year ("2025") stands, as the year alone, unless a day of that year is found elsewhere. ValueError for
    a given date that is neither a day nor a year ("yesterday", "2024-13-45", "June 2024", "06/07/2024" that
    reads both ways round): it is refused, never completed or guessed at. A day or year before 1900 or after
    today is not taken (the next source is tried), as `find_date` does."""
    # Imported here: htmldate adds ~70 ms to every start of the CLI and chat, which mostly never ingest.
    from rag.ingest.dates import EARLIEST, date_from_metadata, find_date

    today = date.today()
    year = int(given) if given and _YEAR.fullmatch(given) else None
    if given and year is None and date_from_metadata(given) is None:
        raise ValueError(f"'date' must be a date string or a year: {_shown(given)} is not one day (write the "
                         "day, month and year, as 2024-06-14 or June 14, 2024) nor a year")
    found = find_date(meta_date=None if year else given, html=html, url=url, text=head, today=today)
    if year is not None and EARLIEST.year <= year <= today.year and not (found and found.date[:4] == given):
        return given, "metadata"
    return (found.date, found.source) if found else (None, None)


def _page_starts(value: Any, text_length: int) -> tuple[int, ...]:
    if value is None:
        return ()
    ok = isinstance(value, list) and all(isinstance(s, int) and not isinstance(s, bool) for s in value)
    if not ok or any(not 0 <= s <= text_length for s in value) or value != sorted(value):
        raise ValueError(f"'page_starts' must be a list of character offsets into the text, in order, not "
                         f"{_shown(value)}")
    return tuple(value)


def _extra(value: Any) -> MetaValue | None:
    """Free metadata as kept: strings, numbers and lists of them as they are; an object or a nested list as its
    JSON text; null, {} and [] dropped."""
    if value is None or value == {} or value == []:
        return None
    if isinstance(value, str):
        return clean_str(value)
    if isinstance(value, int | float):
        return value
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        return tuple(clean_str(v) if isinstance(v, str) else v for v in value)
    return clean_str(json.dumps(value, ensure_ascii=False, sort_keys=True))


def typed_meta(meta: Mapping[str, Any], *, text_length: int, head: str = "", html: str | None = None
               ) -> dict[str, Any]:
    """`meta` as Document's keyword arguments: `date`, `author`, `source`, `url`, `page_starts` checked and
    typed, `date` and `date_source` found (`_dated`: from `meta`'s date, the `html` page, `meta`'s url or the
    `head` of the text), every other key in `extra` (but `date_source`: where a date was read is found here,
    not taken from what the article says). ValueError (its message says which key and why) for a value that
    cannot be used: a wrongly typed or unreadable date, author, source, url or page offsets."""
    fields: dict[str, Any] = {
        "date": _date(meta.get("date")),
        "author": _string("author", meta.get("author"), lists=True),
        "source": _string("source", meta.get("source"), lists=True),
        "url": _string("url", meta.get("url")),
        "page_starts": _page_starts(meta.get("page_starts"), text_length),
    }
    fields["date"], fields["date_source"] = _dated(fields["date"], url=fields["url"], html=html, head=head)
    extra = {clean_str(str(k)): _extra(v) for k, v in meta.items() if k not in fields}
    fields["extra"] = {k: v for k, v in extra.items() if v is not None}
    return fields


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
    """The author a first line such as "08/18/2025 / By Zoey Sky" names (its date is the text's, read by
    `rag.ingest.dates`)."""
    m = _BYLINE.match(text.split("\n", 1)[0])
    return {"author": m["author"]} if m else {}


def _front_matter(text: str) -> tuple[dict[str, Any], int]:
    """`key: value` lines between --- fences atop a Markdown file (title, date, author, source, url), and the
    offset where the article after them begins (0 when there are none)."""
    if not text.startswith("---\n"):
        return {}, 0
    end = text.find("\n---", 4)
    if end < 0:
        return {}, 0
    meta: dict[str, Any] = {}
    for line in text[4:end].split("\n"):
        key, sep, value = line.partition(":")
        if sep and key.strip():
            meta[key.strip().lower()] = value.strip().strip("\"'")
    return meta, end + 4


def read_plain(suffix: str, doc_id: str, data: bytes) -> Document:
    text = normalise_newlines(decode_text(data, doc_id))
    if is_blank(text):
        raise IngestError(doc_id, "the file is empty")
    meta: dict[str, Any] = {"source_path": doc_id}
    meta.update(_byline_meta(text))
    title, body = "", 0
    if suffix in (".md", ".markdown"):
        fm, body = _front_matter(text)
        title = str(fm.pop("title", ""))
        meta.update({k: v for k, v in fm.items() if k in ("date", "author", "source", "url")})
        heading = re.search(r"^#\s+(.+)$", text, re.MULTILINE)
        if not title and heading:
            title = heading.group(1).strip()
    # A dateline is looked for below the front matter: its "date:" line is metadata, read as such.
    return make_document(doc_id, title or title_from_text(text), text, meta, head=text[body:])


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
    if not text or is_blank(text) or _mostly_links(html, text):
        raise IngestError(doc_id, "no article text found in the HTML (only navigation, scripts or markup)")
    meta: dict[str, Any] = {"source_path": doc_id}
    # Not trafilatura's date: its search falls back to dates in the story's text and fills in missing parts.
    # The page's metadata is read by rag.ingest.dates instead, then its canonical URL, then the text's head.
    for key, attr in (("author", "author"), ("url", "url"), ("source", "sitename")):
        value = getattr(extracted, attr, None)
        if value:
            meta[key] = str(value)
    text = normalise_newlines(text)
    title = getattr(extracted, "title", None) or title_from_text(text)
    return make_document(doc_id, str(title), text, meta, html=html)


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
    if all(is_blank(p) for p in pages):
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
