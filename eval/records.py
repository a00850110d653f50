"""The records the harness passes between its parts: a question's score (eval.metrics makes it) and a question's
run (eval.harness makes it; eval.report, eval.markdown and eval.baselines read it). Kept apart from the code
that makes or reads them so that every module can import them without importing one another."""

from __future__ import annotations

from dataclasses import dataclass

from rag.records import Answer

from .gold import GoldQuestion


@dataclass(frozen=True, slots=True)
class QuestionScore:
    """How the engine did on one question. Retrieval fields follow the ranked passages; citation fields the
    citations, in order."""

    id: str
    answerable: bool
    passage_hits: tuple[bool, ...]  # per retrieved passage, best first: does it hit gold evidence?
    evidence_recall: float  # share of evidence items hit by the retrieved passages (0 without evidence)
    abstained: bool
    contained: bool  # a gold answer occurs in the answer text (never when abstained)
    citation_valid: tuple[bool, ...]  # quote == document text at its offsets
    citation_hits: tuple[bool, ...]  # the citation overlaps gold evidence
    latency_ms: float | None  # None when ask() failed
    short_answer: str | None = None
    exact_match: float | None = None
    f1: float | None = None
    error: str | None = None

    @property
    def first_hit(self) -> int | None:
        """1-based rank of the first passage on gold evidence, or None."""
        return next((i for i, h in enumerate(self.passage_hits, 1) if h), None)


@dataclass(frozen=True, slots=True)
class QuestionRun:
    """One question, the engine's answer (None when ask() raised), and its score."""

    question: GoldQuestion
    answer: Answer | None
    score: QuestionScore
