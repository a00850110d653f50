"""Questions about an article itself: who wrote it, what day it is dated. Answered from its byline or dateline.

"Who wrote the article?" is not answered by any sentence of the story: the answer stands in the line above it
("08/18/2025 / By Zoey Sky"). When a question asks for the author or the date of an article, the article is the
one its search ranked first, and that article's head names its author after "By", or writes the day ingest read
as its date (`rag.ingest.dates`), the answer is that name or day, cited where it is written, then the line that
holds it. Where the article is unclear (several articles are indexed and the question says nothing of which),
or its head writes neither, the question goes the usual way: the date or author kept only in metadata is shown
beside every citation but cannot be quoted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Literal

from rag.cite import make_citation
from rag.records import Citation, Document, ScoredPassage
from rag.text.terms import terms

Asked = Literal["author", "date"]

_PIECE = r"(?:article|story|piece|column|op-?ed|feature)"
_THE = r"(?:the|this|that|an?)"
_AUTHOR = re.compile(
    rf"\bwho\s+(?:wrote|authored|penned|(?:is|was)\s+(?:the\s+)?(?:author|writer))\b.*\b{_PIECE}\b"
    rf"|\b(?:author|writer|byline)\s+of\s+{_THE}\s+(?:\w+\s+){{0,3}}?{_PIECE}\b"
    rf"|\b{_PIECE}(?:'s|’s)\s+(?:author|writer|byline)\b"
    rf"|\bwho\s+(?:is|was)\s+{_THE}\s+{_PIECE}\s+by\b",
    re.IGNORECASE,
)
_DATE = re.compile(
    rf"\b(?:when|what\s+day|on\s+what\s+(?:day|date))\s+(?:was|is)\s+{_THE}\s+(?:\w+\s+){{0,3}}?{_PIECE}\b"
    r"(?:\s+\S+){0,8}?\s+(?:published|written|dated|posted|printed)\b"
    rf"|\bwhat\s+(?:is\s+the\s+)?date\s+(?:is|was|of|on)\s+{_THE}\s+(?:\w+\s+){{0,3}}?{_PIECE}\b"
    rf"|\b(?:publication|publishing)\s+date\s+of\s+{_THE}\s+(?:\w+\s+){{0,3}}?{_PIECE}\b"
    rf"|\b{_PIECE}(?:'s|’s)\s+(?:publication\s+)?date\b",
    re.IGNORECASE,
)
# The words of a question about an article that say nothing of which article it is.
_ABOUT = frozenset(terms(
    "who wrote authored penned author writer byline is was the this that a an article story piece column op-ed "
    "oped feature when what day date dated published publication publishing written posted run printed on of"))


def asks_about_article(question: str) -> Asked | None:
    """"author" or "date" when `question` asks who wrote an article or what day it is dated, else None."""
    if _AUTHOR.search(question):
        return "author"
    if _DATE.search(question):
        return "date"
    return None


def _author_span(doc: Document, head: Sequence[tuple[int, str]]) -> tuple[int, int] | None:
    """Where the head names `doc.author` after "By"."""
    if not doc.author:
        return None
    named = re.compile(rf"\b[Bb]y:?\s+({re.escape(doc.author)})\b")
    for at, line in head:
        if m := named.search(line):
            return at + m.start(1), at + m.end(1)
    return None


def _date_span(doc: Document) -> tuple[int, int] | None:
    if doc.date is None or doc.date_source != "text":
        return None
    from rag.ingest.dates import date_span  # only a question about a date needs the date readers

    return date_span(doc.text, doc.date)


def byline_answer(question: str, passages: Sequence[ScoredPassage], documents: Mapping[str, Document]
                  ) -> tuple[Citation, ...] | None:
    """The citations answering a question about an article's author or date (`asks_about_article`): the name or
    day as written in the head of the first passage's article, then the head line holding it. None when the
    question asks neither, nothing was retrieved, the article is unclear, or its head does not write it."""
    asked = asks_about_article(question)
    if asked is None or not passages:
        return None
    if len(documents) > 1 and not set(terms(question)) - _ABOUT:
        return None  # "Who wrote the article?" over many articles: which one?
    top = passages[0].passage
    doc = documents[top.doc_id]
    from rag.ingest.dates import head_lines_at

    head = head_lines_at(doc.text)
    span = _author_span(doc, head) if asked == "author" else _date_span(doc)
    if span is None:
        return None
    line_at, line = next((at, line) for at, line in head if at <= span[0] < at + len(line))
    inside = top.id if top.start <= line_at and line_at + len(line) <= top.end else None
    return (make_citation(doc, *span, marker=1, passage_id=inside, role="answer"),
            make_citation(doc, line_at, line_at + len(line), marker=2, passage_id=inside))
