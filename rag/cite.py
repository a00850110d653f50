"""Cite: exact spans into citations, the answer text with its markers, and the check that both are true.

`quote == document.text[start:end]` for every citation, and the markers [1], [2]... in the text map one-to-one,
in order, onto the citations: `verify()` holds both before any answer leaves the library.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from rag.errors import CitationError
from rag.records import Citation, CitationRole, Document

MARKER = re.compile(r"\[(\d+)\]")


def make_citation(doc: Document, start: int, end: int, *, marker: int, passage_id: int | None = None,
                  role: CitationRole = "support") -> Citation:
    """The citation of `doc.text[start:end]`, with the page, date, date source and attribution a reader is shown
    beside it; `role` "answer" for the short answer, "support" for a sentence. CitationError when the span is
    not inside the document."""
    if not 0 <= start < end <= len(doc.text):
        raise CitationError(f"span {start}:{end} is outside document {doc.id!r} ({len(doc.text)} characters)")
    return Citation(
        marker=marker,
        doc_id=doc.id,
        title=doc.title,
        start=start,
        end=end,
        quote=doc.text[start:end],
        passage_id=passage_id,
        page=doc.page_of(start),
        date=doc.date,
        source=doc.attribution,
        date_source=doc.date_source,
        role=role,
    )


def render(quotes: Sequence[tuple[str, int]]) -> str:
    """Answer text: each quote verbatim, followed by its marker."""
    return " ".join(f"{quote} [{marker}]" for quote, marker in quotes)


def verify(text: str, citations: Sequence[Citation], documents: Mapping[str, Document]) -> None:
    """Raise CitationError unless every quote is its document's text at its offsets and markers match 1..n."""
    for c in citations:
        doc = documents.get(c.doc_id)
        if doc is None:
            raise CitationError(f"citation [{c.marker}] points at unknown document {c.doc_id!r}")
        if doc.text[c.start:c.end] != c.quote:
            raise CitationError(f"citation [{c.marker}] quote differs from {c.doc_id}[{c.start}:{c.end}]")
    # A quote may itself contain "[3]" (footnotes): a marker lying wholly inside a quote's words is not one.
    inside: list[tuple[int, int]] = []
    for c in citations:
        i = text.find(c.quote)
        while i >= 0:
            inside.append((i, i + len(c.quote)))
            i = text.find(c.quote, i + 1)
    markers = [int(m.group(1)) for m in MARKER.finditer(text)
               if not any(a <= m.start() and m.end() <= b for a, b in inside)]
    expected = list(range(1, len(citations) + 1))
    if markers != expected or [c.marker for c in citations] != expected:
        raise CitationError(f"markers {markers} do not map one-to-one onto citations {expected}")
