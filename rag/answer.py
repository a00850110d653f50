"""Answer: pick the sentences of the retrieved passages that answer the question, verbatim, or abstain.

No text generator: each candidate sentence is scored by a small logistic model over features that a reader
would use (meaning close to the question, the question's rare words present, the kind of fact asked for present,
something new beyond the question's own words, the passage's rank). Weights and the abstention threshold are
fitted on gold data by `eval/fit_answerer.py` and stored in `answer_params.json` beside this file.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from .index import Index
from .records import ScoredPassage

PARAMS_FILE = Path(__file__).with_name("answer_params.json")
FEATURES = ("cosine", "coverage", "type_match", "novelty", "passage_rank", "passage_dense", "bias")

_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?"
_DATE = re.compile(rf"\b(?:{_MONTH}\s+\d{{1,2}}|\d{{1,2}}\s+{_MONTH}|(?:1[6-9]|20)\d\d|\d{{1,2}}/\d{{1,2}}/\d{{2,4}}|"
                   r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|yesterday|today|last\s+\w+)\b)",
                   re.IGNORECASE)
_NUMBER = re.compile(r"\b\d[\d,.]*\b|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
                     r"twenty|thirty|forty|fifty|hundred|thousand|million|billion|dozens?)\b", re.IGNORECASE)
_NAME = re.compile(r"(?<!^)(?<![.!?]\s)\b[A-Z][a-z]+(?:\s+(?:al-|bin\s+|de\s+)?[A-Z][\w-]+)*")


@dataclass(frozen=True, slots=True)
class AnswerParams:
    weights: tuple[float, ...]
    threshold: float  # abstain when the best sentence's probability is below this
    second_ratio: float = 0.8  # a further sentence joins when its probability is at least this share of the best
    max_sentences: int = 2


DEFAULT_PARAMS = AnswerParams(weights=(6.0, 3.0, 1.0, 1.0, 0.5, 2.0, -7.0), threshold=0.3)


@cache
def load_params(path: Path = PARAMS_FILE) -> AnswerParams:
    if not path.is_file():
        return DEFAULT_PARAMS
    raw = json.loads(path.read_text())
    return AnswerParams(
        weights=tuple(float(raw["weights"][f]) for f in FEATURES),
        threshold=float(raw["threshold"]),
        second_ratio=float(raw.get("second_ratio", DEFAULT_PARAMS.second_ratio)),
        max_sentences=int(raw.get("max_sentences", DEFAULT_PARAMS.max_sentences)),
    )


def question_type(question: str) -> str:
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


def _type_match(kind: str, sentence: str, question: str) -> float:
    if kind == "date":
        return float(bool(_DATE.search(sentence)))
    if kind == "number":
        return float(bool(_NUMBER.search(sentence)))
    if kind == "name":
        asked = question.lower()
        return float(any(n.lower() not in asked for n in _NAME.findall(sentence)))
    return 0.5


@dataclass(frozen=True, slots=True)
class Candidate:
    doc_id: str
    start: int
    end: int
    passage: ScoredPassage
    features: np.ndarray
    probability: float


def candidates(
    index: Index, query: str, query_vector: np.ndarray, passages: list[ScoredPassage], *, params: AnswerParams
) -> list[Candidate]:
    """Every sentence of the retrieved passages, scored, best first."""
    seen: dict[tuple[str, int, int], ScoredPassage] = {}
    for sp in passages:
        for s, e in sp.passage.sentences:
            seen.setdefault((sp.passage.doc_id, s, e), sp)
    if not seen:
        return []
    keys = list(seen)
    assert index.lexical is not None
    q_terms = list(dict.fromkeys(index.lexical.terms(query)))
    q_idf = index.lexical.idf(q_terms) if q_terms else np.zeros(0)
    q_set = set(q_terms)
    kind = question_type(query)
    cos = index.sentence_vectors[index.sentence_vector_rows(keys)] @ query_vector.reshape(-1)
    rows = []
    for (doc_id, s, e), c in zip(keys, cos, strict=True):
        text = index.documents[doc_id].text[s:e]
        s_terms = set(index.lexical.terms(text))
        coverage = float(q_idf[[t in s_terms for t in q_terms]].sum() / q_idf.sum()) if q_idf.sum() else 0.0
        novelty = len(s_terms - q_set) / max(len(s_terms), 1)
        sp = seen[(doc_id, s, e)]
        rows.append([float(c), coverage, _type_match(kind, text, query), novelty, 1.0 / sp.rank,
                     sp.dense_score or 0.0, 1.0])
    feats = np.array(rows, dtype=np.float64)
    probs = 1.0 / (1.0 + np.exp(-(feats @ np.array(params.weights))))
    out = [Candidate(d, s, e, seen[(d, s, e)], f, float(p))
           for (d, s, e), f, p in zip(keys, feats, probs, strict=True)]
    return sorted(out, key=lambda c: -c.probability)


def select(cands: list[Candidate], *, params: AnswerParams) -> list[Candidate]:
    """The sentences to answer with (empty: abstain), in reading order within each document."""
    if not cands or cands[0].probability < params.threshold:
        return []
    best = cands[0].probability
    chosen = [c for c in cands[: params.max_sentences]
              if c.probability >= max(params.threshold, params.second_ratio * best)]
    first_doc = chosen[0].doc_id
    return sorted(chosen, key=lambda c: (c.doc_id != first_doc, c.doc_id, c.start))
