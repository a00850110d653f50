"""The question as the reranker's features see it: its terms, their rarity, and the kind of fact it asks for.

`question_type` and `type_match` are the one definition of the kind of fact asked for: the reranker's
features and the answerer's (`rag.extractive`, which imports them from here, above it in the layers) use them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from rag.index.bm25 import Lexical
from rag.text.terms import terms

_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?"
_DATE = re.compile(rf"\b(?:{_MONTH}\s+\d{{1,2}}|\d{{1,2}}\s+{_MONTH}|(?:1[6-9]|20)\d\d|\d{{1,2}}/\d{{1,2}}/\d{{2,4}}|"
                   r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|yesterday|today|last\s+\w+)\b)",
                   re.IGNORECASE)
_NUMBER = re.compile(r"\b\d[\d,.]*\b|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
                     r"twenty|thirty|forty|fifty|hundred|thousand|million|billion|dozens?)\b", re.IGNORECASE)
_NAME = re.compile(r"(?<!^)(?<![.!?]\s)\b[A-Z][a-z]+(?:\s+(?:al-|bin\s+|de\s+)?[A-Z][\w-]+)*")


def question_type(question: str) -> str:
    """The kind of fact asked for: "number", "date", "name" or "other"."""
    q = question.lower()
    if re.search(r"\bhow (many|much|long|old|far)\b|\bwhat (number|percentage|share)\b", q):
        return "number"
    if re.search(r"\bwhen\b|\bwhat (year|date|day|month|time)\b|\bwhich (year|date|day|month)\b", q):
        return "date"
    if re.search(r"\bwho(m|se)?\b|\bwhich (person|man|woman|official|leader|group|country|organi[sz]ation)\b", q):
        return "name"
    if re.search(r"\bwhere\b|\bwhich (city|country|state|region|place)\b", q):
        return "name"
    return "other"


def type_match(kind: str, text: str, question: str) -> float:
    """1 when `text` holds the kind of fact asked for (a date, a number, a name the question does not already
    give), else 0; 0.5 for questions of no such kind."""
    if kind == "date":
        return float(bool(_DATE.search(text)))
    if kind == "number":
        return float(bool(_NUMBER.search(text)))
    if kind == "name":
        asked = question.lower()
        return float(any(n.lower() not in asked for n in _NAME.findall(text)))
    return 0.5


@dataclass(frozen=True, slots=True)
class QueryTerms:
    """A question's distinct terms (`rag.text.terms`, first-occurrence order) with their IDF over the passages
    and their rarity (IDF scaled so that a term found in a single passage has rarity 1, whatever the corpus
    size), its consecutive term pairs, and the kind of fact it asks for."""

    text: str
    terms: tuple[str, ...]
    idf: np.ndarray
    rarity: np.ndarray
    pairs: frozenset[tuple[str, str]]
    kind: str

    @classmethod
    def of(cls, lexical: Lexical, question: str) -> QueryTerms:
        q_terms = tuple(dict.fromkeys(terms(question)))
        idf = lexical.idf(q_terms) if q_terms else np.zeros(0)
        n = max(len(lexical), 2)
        return cls(question, q_terms, idf, idf / np.log(1 + (n - 1 + 0.5) / 1.5), frozenset(pairwise(q_terms)),
                   question_type(question))

    def coverage(self, present: set[str]) -> float:
        """The rarity-weighted share of the question's terms that are in `present` (0 for a question with no
        term)."""
        total = float(self.idf.sum())
        if not total:
            return 0.0
        return float(sum(w for t, w in zip(self.terms, self.idf, strict=True) if t in present) / total)
