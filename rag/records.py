"""The records that flow through the pipeline: frozen dataclasses, shared by ask(), the CLI, the UI and eval.

Every span is `(doc_id, start, end)` with `document.text[start:end] == text`.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from types import MappingProxyType
from typing import Any, Literal, NamedTuple, get_args

import numpy as np


def _frozen_meta(meta: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(meta or {}))


Scalar = str | int | float  # bool is an int: a JSON true/false is kept as it is
MetaValue = Scalar | tuple[Scalar, ...]
_SCALARS = (str, int, float)
# Where a publication date was read: the corpus or the page's own metadata, the URL, or a dateline or byline at
# the head of the text (`rag.ingest.dates`). Shown beside every citation, so a reader knows how far to trust it.
DateSource = Literal["metadata", "url", "text"]
DATE_SOURCES: tuple[str, ...] = get_args(DateSource)
_SOURCE_WORDS = {"metadata": "metadata", "url": "URL", "text": "text"}
# What a citation backs: "answer", the short answer phrase (an exact span inside the sentence that supports it);
# "support", a sentence the answer relies on.
CitationRole = Literal["answer", "support"]
_DATE = re.compile(r"\d{4}(?:-\d{2}-\d{2})?")


def _check_extra(extra: Mapping[str, Any]) -> Mapping[str, MetaValue]:
    """`extra` frozen (lists become tuples), or TypeError naming the key whose value is not a MetaValue."""
    out: dict[str, MetaValue] = {}
    for key, value in extra.items():
        if not isinstance(key, str):
            raise TypeError(f"metadata keys must be strings, not {key!r}")
        if isinstance(value, list | tuple) and all(isinstance(v, _SCALARS) for v in value):
            out[key] = tuple(value)
        elif isinstance(value, _SCALARS):
            out[key] = value
        else:
            raise TypeError(f"metadata {key!r} must be a string, a number or a list of them, not {value!r}")
    return MappingProxyType(out)


def _check_page_starts(starts: Any) -> tuple[int, ...]:
    if not isinstance(starts, list | tuple) or not all(isinstance(s, int) and not isinstance(s, bool)
                                                        for s in starts):
        raise TypeError(f"page_starts must be a sequence of character offsets, not {starts!r}")
    if any(s < 0 for s in starts) or list(starts) != sorted(starts):
        raise ValueError(f"page_starts must be increasing offsets from 0, not {list(starts)!r}")
    return tuple(starts)


def _check_date_source(date: str | None, source: str | None) -> str | None:
    """`source` for a record's `date`: both or neither, a date without one counting as "metadata" (records
    written before dates had sources). ValueError for an unknown source, a source without a date, or a date
    that is neither an ISO day nor a year."""
    if date is None:
        if source is not None:
            raise ValueError(f"date_source {source!r} is given without a date")
        return None
    if not _DATE.fullmatch(date):
        raise ValueError(f"date must be an ISO day (2025-08-18) or a year (2025), not {date!r}")
    if source is None:
        return "metadata"
    if source not in DATE_SOURCES:
        raise ValueError(f"date_source must be one of {', '.join(DATE_SOURCES)}, not {source!r}")
    return source


@dataclass(frozen=True, slots=True)
class Document:
    """One article. `text` is verbatim (newlines normalised to \\n): every offset points into it.

    The metadata the system reads is typed: `date` (an ISO day, or a year when that is all the corpus gives)
    with `date_source` (where it was read: "metadata", "url" or "text"; both set or neither), `author`,
    `source`, `url`, and, for a PDF, `page_starts` (the offset where each page begins). Any other metadata is
    kept in `extra`, each value a string, a number or a tuple of them. Construction checks every type
    (TypeError otherwise) and the date's form (ValueError): ingest turns what it reads into these types, or
    refuses the file or line (`rag.ingest`).
    """

    id: str
    title: str
    text: str
    date: str | None = None
    date_source: DateSource | None = None
    author: str | None = None
    source: str | None = None
    url: str | None = None
    page_starts: tuple[int, ...] = ()
    extra: Mapping[str, MetaValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("id", "title", "text"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"Document.{name} must be a string, not {getattr(self, name)!r}")
        for name in ("date", "date_source", "author", "source", "url"):
            if not isinstance(getattr(self, name), str | None):
                raise TypeError(f"Document.{name} must be a string or None, not {getattr(self, name)!r}")
        object.__setattr__(self, "date_source", _check_date_source(self.date, self.date_source))
        object.__setattr__(self, "page_starts", _check_page_starts(self.page_starts))
        object.__setattr__(self, "extra", _check_extra(self.extra))

    @property
    def attribution(self) -> str | None:
        """Who the article is from, as a citation shows it: its source, else its author."""
        return self.source or self.author

    @property
    def meta(self) -> Mapping[str, Any]:
        """All metadata in one read-only mapping (the typed fields that are set, then `extra`), for display."""
        keys = ("date", "date_source", "author", "source", "url", "page_starts")
        typed = {k: getattr(self, k) for k in keys if getattr(self, k)}
        return MappingProxyType({**typed, **self.extra})

    def page_of(self, offset: int) -> int | None:
        """The 1-based PDF page holding `offset`, when the document came from a PDF."""
        if not self.page_starts:
            return None
        return max(1, bisect_right(self.page_starts, offset))

    def to_dict(self) -> dict[str, Any]:
        """The document as JSON-ready values; `Document.from_dict` reads it back."""
        return {"id": self.id, "title": self.title, "text": self.text, "date": self.date,
                "date_source": self.date_source, "author": self.author, "source": self.source, "url": self.url,
                "page_starts": list(self.page_starts),
                "extra": {k: list(v) if isinstance(v, tuple) else v for k, v in self.extra.items()}}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Document:
        """The inverse of `to_dict`; TypeError, ValueError or KeyError when `d` is not one. A date without a
        `date_source` (written before dates had one) counts as "metadata"."""
        return cls(id=d["id"], title=d["title"], text=d["text"], date=d.get("date"),
                   date_source=d.get("date_source"), author=d.get("author"), source=d.get("source"),
                   url=d.get("url"), page_starts=tuple(d.get("page_starts") or ()), extra=d.get("extra") or {})


@dataclass(frozen=True, slots=True)
class Span:
    """A character range of a document, with its text."""

    doc_id: str
    start: int
    end: int
    text: str


class Hits(NamedTuple):
    """What a search returns: passage ids best first, with the searcher's scores, in that order everywhere.
    One query: 1-D arrays; a batch (`VectorStore.search`): one row per query, missing hits with id -1."""

    ids: np.ndarray
    scores: np.ndarray


@dataclass(frozen=True, slots=True)
class Passage:
    """A chunk of consecutive sentences of one document: the unit of retrieval."""

    id: int
    doc_id: str
    start: int
    end: int
    text: str
    sentences: tuple[tuple[int, int], ...]  # absolute (start, end) of each sentence inside the document

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["sentences"] = [list(s) for s in self.sentences]
        return d


@dataclass(frozen=True, slots=True)
class ScoredPassage:
    """A retrieved passage with its fused score and the scores of each retriever that found it."""

    passage: Passage
    title: str
    score: float
    rank: int
    dense_score: float | None = None
    lexical_score: float | None = None
    also_in: tuple[str, ...] = ()  # other documents holding a near-copy of this passage (`rag.copies`)
    copies: tuple[Passage, ...] = ()  # those near-copies, folded into this passage

    def to_dict(self) -> dict[str, Any]:
        p = self.passage
        return {
            "id": p.id,
            "doc_id": p.doc_id,
            "title": self.title,
            "start": p.start,
            "end": p.end,
            "text": p.text,
            "score": self.score,
            "rank": self.rank,
            "dense_score": self.dense_score,
            "lexical_score": self.lexical_score,
            "also_in": list(self.also_in),
            "copies": [{"doc_id": c.doc_id, "start": c.start, "end": c.end} for c in self.copies],
        }


@dataclass(frozen=True, slots=True)
class Citation:
    """An exact quote backing part of an answer: `quote == document.text[start:end]`, checked. `date` is its
    article's publication date and `date_source` where that was read (as `Document` has them); `source` is who
    the article is from. `role` is "answer" for the short answer phrase (then always marker 1, inside the
    sentence cited next), "support" for a sentence. `also_in` lists the other documents that
    republished the same story (`rag.copies`)."""

    marker: int
    doc_id: str
    title: str
    start: int
    end: int
    quote: str
    passage_id: int | None = None
    page: int | None = None
    date: str | None = None
    source: str | None = None
    date_source: DateSource | None = None
    role: CitationRole = "support"
    also_in: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "date_source", _check_date_source(self.date, self.date_source))
        if self.role not in ("answer", "support"):
            raise ValueError(f"Citation.role must be 'answer' or 'support', not {self.role!r}")

    @property
    def dated(self) -> str:
        """The date as a reader is shown it, with where it was read: "2025-08-18, date from the text",
        "2025, date from the metadata", or "undated"."""
        if self.date is None:
            return "undated"
        return f"{self.date}, date from the {_SOURCE_WORDS[self.date_source or 'metadata']}"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["also_in"] = list(self.also_in)
        return d


@dataclass(frozen=True, slots=True)
class SearchWindow:
    """The publication dates and outlets an answer's searches were limited to, and the dates they preferred.

    `since`/`until`: the ISO days searched (None: open), hard limits (as_of, explicit since/until); `phrase`:
    the question's own time words ("this week"), whose window `prefer_since`/`prefer_until` the reranker
    prefers without filtering by it (None: the question names no time); `description` for a reader ("articles
    up to 2024-06-14, preferring 2024-06-07 to 2024-06-14 (“this week”)"); `sources` the outlets (empty: all);
    `note` what a reader should know (the window left nothing to search, or the search mode cannot prefer)."""

    since: str | None
    until: str | None
    phrase: str | None
    description: str
    sources: tuple[str, ...] = ()
    note: str | None = None
    prefer_since: str | None = None
    prefer_until: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["sources"] = list(self.sources)
        return d


@dataclass(frozen=True, slots=True)
class Answer:
    """What ask() returns. `text` holds markers [1], [2]... mapping one-to-one, in order, onto `citations`."""

    text: str
    citations: tuple[Citation, ...]
    passages: tuple[ScoredPassage, ...]
    abstained: bool
    query: str
    question: str = ""
    timings: Mapping[str, float] = field(default_factory=dict)
    answerer: str = "extractive"
    confidence: float = 0.0  # the answerer's probability that the passages answer the question
    supported: tuple[bool, ...] = ()  # per answer sentence; all True for the extractive answerer
    window: SearchWindow | None = None  # the dates and outlets searched; None: every article
    current_as_of: str | None = None  # for a question on the current state: the newest cited article's date

    def __post_init__(self) -> None:
        object.__setattr__(self, "timings", _frozen_meta(self.timings))

    @property
    def short_answer(self) -> str | None:
        """The short answer phrase, verbatim from its article (its citation has role "answer"), or None."""
        return next((c.quote for c in self.citations if c.role == "answer"), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "citations": [c.to_dict() for c in self.citations],
            "passages": [p.to_dict() for p in self.passages],
            "abstained": self.abstained,
            "query": self.query,
            "question": self.question,
            "timings": dict(self.timings),
            "answerer": self.answerer,
            "confidence": self.confidence,
            "supported": list(self.supported),
            "window": self.window.to_dict() if self.window else None,
            "current_as_of": self.current_as_of,
            "short_answer": self.short_answer,
        }
