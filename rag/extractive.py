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
from itertools import pairwise
from pathlib import Path

import numpy as np

from rag.index.index import Index
from rag.records import ScoredPassage

PARAMS_FILE = Path(__file__).with_name("answer_params.json")
FEATURES = (
    "cosine",  # the sentence's meaning against the question's
    "cosine_gap",  # how far below the best candidate's cosine (0 for the best)
    "coverage",  # share of the question's terms, weighted by rarity, in the sentence
    "coverage_gap",  # how far below the best candidate's coverage (0 for the best)
    "context_coverage",  # the same over the sentence's passage: a sentence may name its subject by pronoun
    "bigrams",  # share of the question's consecutive term pairs in the sentence
    "missing_rare",  # rarity of the rarest question term found nowhere in the passage: a fact the text lacks
    "type_match",  # the kind of fact asked for (date, number, name) is there
    "type_missing",  # a date or number is asked for and the sentence has none
    "novelty",  # share of the sentence's terms not in the question
    "passage_rank",  # 1 / fused rank of the passage
    "passage_dense",  # the passage's cosine to the question
    "bias",
)

_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?"
_DATE = re.compile(rf"\b(?:{_MONTH}\s+\d{{1,2}}|\d{{1,2}}\s+{_MONTH}|(?:1[6-9]|20)\d\d|\d{{1,2}}/\d{{1,2}}/\d{{2,4}}|"
                   r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|yesterday|today|last\s+\w+)\b)",
                   re.IGNORECASE)
_NUMBER = re.compile(r"\b\d[\d,.]*\b|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
                     r"twenty|thirty|forty|fifty|hundred|thousand|million|billion|dozens?)\b", re.IGNORECASE)
_NAME = re.compile(r"(?<!^)(?<![.!?]\s)\b[A-Z][a-z]+(?:\s+(?:al-|bin\s+|de\s+)?[A-Z][\w-]+)*")


@dataclass(frozen=True, slots=True)
class AnswerParams:
    weights: tuple[float, ...]  # sentence model, over FEATURES
    threshold: float  # abstain when the answerability probability is below this
    abstain_weights: tuple[float, ...] = ()  # answerability model, over ABSTAIN_FEATURES
    second_ratio: float = 0.8  # a further sentence joins when its probability is at least this share of the best
    max_sentences: int = 2


# Whether the question is answered at all, from the best candidate: a second model, so that ranking sentences
# and deciding to abstain are fitted each on its own labels.
ABSTAIN_FEATURES = ("best_probability", "cosine", "coverage", "context_coverage", "missing_rare", "type_missing",
                    "passage_dense", "max_coverage", "max_bigrams", "bias")

DEFAULT_PARAMS = AnswerParams(
    weights=(6.0, 3.0, 2.0, 2.0, 1.0, 1.0, -2.0, 1.0, -2.0, 0.0, 0.5, 1.0, -7.0),
    threshold=0.3,
    abstain_weights=(6.0, 0.0, 0.0, 0.0, -2.0, -1.0, 0.0, 0.0, 0.0, -2.0),
)


@cache
def load_params(path: Path = PARAMS_FILE) -> AnswerParams:
    if not path.is_file():
        return DEFAULT_PARAMS
    raw = json.loads(path.read_text())
    return AnswerParams(
        weights=tuple(float(raw["weights"][f]) for f in FEATURES),
        threshold=float(raw["threshold"]),
        abstain_weights=tuple(float(raw["abstain_weights"][f]) for f in ABSTAIN_FEATURES),
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
    lex = index.lexical
    q_terms = list(dict.fromkeys(lex.terms(query)))
    q_idf = lex.idf(q_terms) if q_terms else np.zeros(0)
    total = float(q_idf.sum())
    # Rarity on a scale that does not grow with the corpus: the IDF of a term found in a single passage is 1.
    n = max(len(lex), 2)
    rarity = q_idf / np.log(1 + (n - 1 + 0.5) / 1.5)
    q_set = set(q_terms)
    q_pairs = set(pairwise(q_terms))
    kind = question_type(query)
    cos = index.sentence_vectors[index.sentence_vector_rows(keys)] @ query_vector.reshape(-1)
    best_cos = float(cos.max())
    context_terms = {sp.passage.id: set(lex.terms(sp.passage.text)) for sp in passages}
    rows = []
    for (doc_id, s, e), c in zip(keys, cos, strict=True):
        text = index.documents[doc_id].text[s:e]
        terms = lex.terms(text)
        s_terms = set(terms)
        sp = seen[(doc_id, s, e)]
        ctx = context_terms[sp.passage.id] | s_terms
        present = np.array([t in s_terms for t in q_terms], dtype=bool)
        in_ctx = np.array([t in ctx for t in q_terms], dtype=bool)
        pairs = set(pairwise(terms))
        rows.append([
            float(c),
            float(c) - best_cos,
            float(q_idf[present].sum() / total) if total else 0.0,
            float(q_idf[in_ctx].sum() / total) if total else 0.0,
            len(q_pairs & pairs) / len(q_pairs) if q_pairs else 0.0,
            float(rarity[~in_ctx].max()) if (~in_ctx).any() else 0.0,
            _type_match(kind, text, query),
            float(kind in ("date", "number") and not _type_match(kind, text, query)),
            len(s_terms - q_set) / max(len(s_terms), 1),
            1.0 / sp.rank,
            sp.dense_score or 0.0,
            1.0,
        ])
    feats = np.array(rows, dtype=np.float64)
    cov = FEATURES.index("coverage")
    feats = np.insert(feats, cov + 1, feats[:, cov] - feats[:, cov].max(), axis=1)
    probs = 1.0 / (1.0 + np.exp(-(feats @ np.array(params.weights))))
    out = [Candidate(d, s, e, seen[(d, s, e)], f, float(p))
           for (d, s, e), f, p in zip(keys, feats, probs, strict=True)]
    return sorted(out, key=lambda c: -c.probability)


def abstain_features(cands: list[Candidate]) -> np.ndarray:
    """The answerability model's inputs, from the best candidate sentence."""
    if not cands:
        return np.zeros(len(ABSTAIN_FEATURES))
    f = dict(zip(FEATURES, cands[0].features, strict=True))
    every = np.stack([c.features for c in cands])
    values = {"best_probability": cands[0].probability, **f,
              "max_coverage": float(every[:, FEATURES.index("coverage")].max()),
              "max_bigrams": float(every[:, FEATURES.index("bigrams")].max())}
    return np.array([values[name] for name in ABSTAIN_FEATURES], dtype=np.float64)


def answerability(cands: list[Candidate], *, params: AnswerParams) -> float:
    """The probability that the retrieved sentences answer the question at all."""
    if not cands:
        return 0.0
    z = float(abstain_features(cands) @ np.array(params.abstain_weights))
    return 1.0 / (1.0 + np.exp(-z))


def select(cands: list[Candidate], *, params: AnswerParams) -> list[Candidate]:
    """The sentences to answer with (empty: abstain), in reading order within each document."""
    if not cands or answerability(cands, params=params) < params.threshold:
        return []
    best = cands[0].probability
    chosen = [c for c in cands[: params.max_sentences] if c.probability >= params.second_ratio * best]
    first_doc = chosen[0].doc_id
    return sorted(chosen, key=lambda c: (c.doc_id != first_doc, c.doc_id, c.start))
