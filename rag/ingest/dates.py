"""An article's publication date, and where it came from.

Sources in order of trust: a date the corpus gives (a corpus.jsonl `date`, front matter) or the page's HTML
metadata (JSON-LD `datePublished`, `article:published_time`, `<time datetime>`), both "metadata"; a full
year/month/day in the URL ("url"); a dateline or byline at the head of the text ("text"). Each reader returns
an ISO day ("YYYY-MM-DD") or None. None of them fills in a missing part: a year, or a month and year, is not
a day, and a numeric date that reads both ways round (06/07/2024) is not one either.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from datetime import date, datetime
from typing import NamedTuple

import lxml.html
from dateutil import parser as dateutil_parser
from htmldate import find_date as htmldate_find_date
from lxml import etree

from rag.records import DateSource

__all__ = ["EARLIEST", "DateSource", "FoundDate", "date_from_html", "date_from_metadata", "date_from_text",
           "date_from_url", "find_date"]

EARLIEST = date(1900, 1, 1)  # anything older is a misreading (or a history piece), not a publication date


class FoundDate(NamedTuple):
    """A publication day and the source it was read from."""

    date: str  # ISO "YYYY-MM-DD"
    source: DateSource


# Two defaults that differ in year, month and day: dateutil fills what an expression lacks from its default,
# so a part the expression really names comes out the same under both. Leap years, so 29 February parses.
_DEFAULTS = (datetime(1904, 1, 1), datetime(1908, 2, 2))
_NUMERIC = re.compile(r"\b(\d{1,2})[/.-](\d{1,2})[/.-]\d{2,4}\b")


def _parse_day(expr: str) -> date | None:
    """The day `expr` names, or None when it lacks a year, month or day, reads both ways round (month/day or
    day/month), or does not parse as a date at all."""
    numeric = _NUMERIC.search(expr)
    if numeric and int(numeric[1]) <= 12 and int(numeric[2]) <= 12 and numeric[1] != numeric[2]:
        return None
    days: set[date] = set()
    for default in _DEFAULTS:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # UnknownTimezoneWarning for "ET" and the like
                days.add(dateutil_parser.parse(expr, default=default, ignoretz=True).date())
        except (ValueError, OverflowError):
            return None
    return days.pop() if len(days) == 1 else None


def date_from_metadata(value: object) -> str | None:
    """The ISO day of a date the corpus gives: a `date`/`datetime`, or a string such as "2024-06-14",
    "2024-06-14T10:00:00Z" (the day as written, not converted to UTC) or "June 14, 2024". None for anything
    that is not a whole day: a bare year (2024 or "2024"), "June 2024", numbers, empty or unreadable text."""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    # A number is no day: a year is not one, and epoch seconds would need a time zone nobody gave.
    if not isinstance(value, str) or not value.strip() or len(value) > 64:
        return None
    day = _parse_day(value.strip())
    return day.isoformat() if day else None


# Only what a page declares about itself; its story text is left out, so htmldate cannot pick a date from it.
_METADATA = "//meta | //script[@type='application/ld+json'] | //time[@datetime]"


def date_from_html(html: str) -> str | None:
    """The publication day an HTML page declares in its metadata (meta tags such as `article:published_time`,
    JSON-LD `datePublished`, `<time datetime>`), read by htmldate preferring the original over the modified
    date; None when the page declares none. Never reads a date out of the page's text, never downloads."""
    try:
        page = lxml.html.document_fromstring(html)
    except (etree.ParserError, ValueError):
        return None
    # htmldate's fast mode still falls back to the page's headings and text, so it is given a page that holds
    # the metadata elements only (without the canonical link: a URL date is a source of its own).
    kept = lxml.html.Element("html")
    head, body = etree.SubElement(kept, "head"), etree.SubElement(kept, "body")
    for element in page.xpath(_METADATA):
        element.tail = None  # the text after a <time> is the story
        (body if element.tag == "time" else head).append(element)
    if not len(head) and not len(body):
        return None
    # A tree, not a string: htmldate downloads any string that looks like a URL.
    return htmldate_find_date(kept, extensive_search=False, original_date=True, min_date=EARLIEST.isoformat())


def date_from_url(url: str) -> str | None:
    """The day a URL names as year/month/day ("/2024/06/14/", "2024-06-14"), read by htmldate's URL
    extractor; None for a year or a year and month alone. Never downloads."""
    if not url:
        return None
    empty = lxml.html.Element("html")  # a tree, so htmldate reads the URL and never fetches it
    etree.SubElement(empty, "body")
    return htmldate_find_date(empty, url=url, extensive_search=False, min_date=EARLIEST.isoformat())


_MONTH = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November|December"
    r"|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec)\.?"
)
# Where a date is in a head line; dateutil then reads it. Whole days with a four-digit year only.
_DAY_EXPR = re.compile(
    rf"\b(?:{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTH},?\s+\d{{4}}"
    r"|\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[/.-]\d{1,2}[/.-]\d{4})\b",
    re.IGNORECASE,
)
_WEEKDAY = r"(?:Mon|Tues?|Wed|Thu|Thur|Thurs|Fri|Sat|Sun)(?:day|nesday|rsday|urday)?\.?,?\s+"
_SEPARATOR = r"[—–|/•·(]|\s-\s"
# A dateline: the line opens with the date, then ends or a separator follows ("08/18/2025 / By Zoey Sky").
# A colon does not count: "Dec. 25, 1931:" heads an entry of a history list.
_DATELINE = re.compile(rf"\s*(?:{_WEEKDAY})?(?:{_DAY_EXPR.pattern})\.?\s*(?:$|{_SEPARATOR})", re.IGNORECASE)
_BYLINE = re.compile(rf"(?:^|(?:{_SEPARATOR})\s*|\b(?:Story|Photos?|Photographs|Words|Text)\s+)[Bb]y\s+[A-Z]")
# A publication cue opens the line or a part of it, or says what the story itself went through.
_CUE = re.compile(
    rf"(?:^|(?:{_SEPARATOR}|:)\s*|\b(?:story|article|piece|column|list|report|post)\s+(?:was|has\s+been)\s+)"
    r"(?:(?:originally|first|last)\s+)?(published|posted|updated|modified)\b",
    re.IGNORECASE,
)
_HEAD_LINES, _HEAD_CHARS, _MAX_CUE_LINE, _MAX_CUE_GAP = 5, 500, 160, 6
_PREFERENCE = ("published", "plain", "updated")  # what a head date says, most wanted first
# A sentence of the story: datelines and bylines come before it, so the head ends with it. The dates below
# it are the story's ("APRIL 7, 2017" heading a diary entry, "Tuesday, July 21, 2020" in a live blog).
_PROSE = re.compile(r"(?:\S+\s+){7,}.*[.!?][\"”’)]*")


def _head_lines(text: str) -> list[str]:
    """The lines of `text` a dateline or byline can be on: the first few non-empty lines that start within
    its first few hundred characters, up to and including its first sentence of prose."""
    return [line for _, line in head_lines_at(text)]


def head_lines_at(text: str) -> list[tuple[int, str]]:
    """`_head_lines` with where each starts in `text` (`text[at:at + len(line)] == line`)."""
    lines: list[tuple[int, str]] = []
    offset, lead = 0, len(text) - len(text.lstrip())  # "within the first few hundred" counts from the first word
    for raw in text.splitlines(keepends=True):
        if len(lines) == _HEAD_LINES or offset - lead >= _HEAD_CHARS:
            break
        line = raw.strip()
        at = offset + raw.index(line) if line else offset
        offset += len(raw)
        if line:
            lines.append((at, line))
            if len(line) > _MAX_CUE_LINE or _PROSE.fullmatch(line):
                break
    return lines


def _line_dates(line: str) -> list[tuple[str, date]]:
    """(kind, day) of each date a dateline or byline names: "published" or "updated" right after such a cue,
    else "plain"; nothing for a line that is neither (a story sentence that mentions a date)."""
    plain = bool(_DATELINE.match(line)) or (len(line) <= _MAX_CUE_LINE and bool(_BYLINE.search(line)))
    cues = list(_CUE.finditer(line)) if len(line) <= _MAX_CUE_LINE else []
    found: list[tuple[str, date]] = []
    for match in _DAY_EXPR.finditer(line):
        before = [c for c in cues if c.end() <= match.start()]
        # "published on", "Published 10:02 a.m. ET": a cue many words before the date is about something else
        if before and len(line[before[-1].end() : match.start()].split()) <= _MAX_CUE_GAP:
            kind = "updated" if before[-1][1].lower() in ("updated", "modified") else "published"
        elif plain:
            kind = "plain"
        else:
            continue
        day = _parse_day(match[0])
        if day is not None:
            found.append((kind, day))
    return found


def date_from_text(text: str) -> str | None:
    """The day a dateline or byline at the head of `text` gives ("08/18/2025 / By Zoey Sky", "June 14, 2024 —
    ...", "Published 10:02 a.m. ET Sept. 23, 2021", "Updated: 2022-07-06"), a published date before an updated
    one; None when the head has none. Dates inside the story's sentences never count."""
    found = [item for line in _head_lines(text) for item in _line_dates(line)]
    for wanted in _PREFERENCE:
        for kind, day in found:
            if kind == wanted:
                return day.isoformat()
    return None


def date_span(text: str, day: str) -> tuple[int, int] | None:
    """Where the head of `text` writes `day` (an ISO day) as a dateline or byline does, as `date_from_text`
    reads it: the characters of "08/18/2025" in "08/18/2025 / By Zoey Sky". None when it does not."""
    for at, line in head_lines_at(text):
        if not _line_dates(line):  # a story sentence that mentions a date is not the article's date
            continue
        for match in _DAY_EXPR.finditer(line):
            parsed = _parse_day(match[0])
            if parsed is not None and parsed.isoformat() == day:
                return at + match.start(), at + match.end()
    return None


def find_date(
    *,
    meta_date: object = None,
    html: str | None = None,
    url: str | None = None,
    text: str = "",
    today: date | None = None,
) -> FoundDate | None:
    """The publication day of an article and its source, from the most trusted source that gives one: the
    corpus's `meta_date`, then the `html` page's metadata (both "metadata"), then the `url`, then the head
    of the `text`. A day after `today` (default: the current day) or before 1900 is rejected and the next
    source is tried. None when no source gives a day."""
    latest = today or date.today()
    readers: tuple[tuple[DateSource, Callable[[], str | None]], ...] = (
        ("metadata", lambda: date_from_metadata(meta_date)),
        ("metadata", lambda: date_from_html(html) if html else None),
        ("url", lambda: date_from_url(url) if url else None),
        ("text", lambda: date_from_text(text) if text else None),
    )
    for source, read in readers:  # lazily: most articles stop at their URL, before their text is read
        day = read()
        if day is not None and EARLIEST <= date.fromisoformat(day) <= latest:
            return FoundDate(day, source)
    return None
