"""The records that flow through the pipeline: frozen dataclasses, shared by ask(), the CLI, the UI and eval.

Every span is `(doc_id, start, end)` with `document.text[start:end] == text`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from types import MappingProxyType
from typing import Any, NamedTuple

import numpy as np


def _frozen_meta(meta: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(meta or {}))


@dataclass(frozen=True, slots=True)
class Document:
    """One article. `text` is verbatim (newlines normalised to \\n): every offset points into it."""

    id: str
    title: str
    text: str
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "meta", _frozen_meta(self.meta))

    @property
    def date(self) -> str | None:
        return self.meta.get("date")

    def page_of(self, offset: int) -> int | None:
        """The 1-based PDF page holding `offset`, when the document came from a PDF."""
        starts = self.meta.get("page_starts")
        if not starts:
            return None
        page = 0
        for i, s in enumerate(starts):
            if s <= offset:
                page = i
        return page + 1

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "text": self.text, "meta": dict(self.meta)}


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
        }


@dataclass(frozen=True, slots=True)
class Citation:
    """An exact quote backing part of an answer: `quote == document.text[start:end]`, checked."""

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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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

    def __post_init__(self) -> None:
        object.__setattr__(self, "timings", _frozen_meta(self.timings))

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
        }
