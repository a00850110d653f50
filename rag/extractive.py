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
from typing import NamedTuple

import numpy as np

from rag.index.index import Index
from rag.rank.query import QueryTerms, type_match
from rag.records import ScoredPassage
from rag.span.model import explains, offer_threshold, prefetch, short_answer
from rag.text.terms import terms

PARAMS_FILE = Path(__file__).with_name("answer_params.json")

class SentenceFeatures(NamedTuple):
    """What the sentence model sees of one candidate sentence; the weights in `AnswerParams.weights` are in this
    order (`FEATURES`)."""

    cosine: float  # the sentence's meaning against the question's
    cosine_gap: float  # how far below the best candidate's cosine (0 for the best)
    coverage: float  # share of the question's terms, weighted by rarity, in the sentence
    coverage_gap: float  # how far below the best candidate's coverage (0 for the best)
    context_coverage: float  # the same over the sentence's passage: a sentence may name its subject by pronoun
    bigrams: float  # share of the question's consecutive term pairs in the sentence
    missing_rare: float  # rarity of the rarest question term found nowhere in the passage: a fact the text lacks
    type_match: float  # the kind of fact asked for (date, number, name) is there
    type_missing: float  # a date or number is asked for and the sentence has none
    novelty: float  # share of the sentence's terms not in the question
    passage_rank: float  # 1 / fused rank of the passage
    passage_dense: float  # the passage's cosine to the question
    bias: float = 1.0


FEATURES: tuple[str, ...] = SentenceFeatures._fields


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
                    "passage_dense", "max_coverage", "max_bigrams", "top_passage_score", "span_score",
                    "has_span", "question_size", "core_coverage", "bias")
# A question whose best sentence holds no short answer gets this span score (the reader's scores of the spans
# it offers lie roughly between -15 and 15, above 5 when offered).
NO_SPAN = -10.0
# The reader reorders the first two candidates: log-odds of the sentence model plus READ_WEIGHT times the
# reader's score of the sentence's best span (READ_NONE without one). The second is read only when its log-odds
# are within READ_GAP of the first's: beyond that the reader's scores (about -15 to 15) could not overturn it.
# Chosen on held-out squad-dev questions (fold 0 of eval/train_reader.py; docs/answering.md).
READ_DEPTH = 2
READ_WEIGHT = 0.2
READ_GAP = 2.0
READ_NONE = -20.0

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
        # A feature the file does not know (fitted before it existed) weighs nothing.
        abstain_weights=tuple(float(raw["abstain_weights"].get(f, 0.0)) for f in ABSTAIN_FEATURES),
        second_ratio=float(raw.get("second_ratio", DEFAULT_PARAMS.second_ratio)),
        max_sentences=int(raw.get("max_sentences", DEFAULT_PARAMS.max_sentences)),
    )


@dataclass(frozen=True, slots=True)
class Candidate:
    doc_id: str
    start: int
    end: int
    passage: ScoredPassage
    features: SentenceFeatures
    probability: float


def _sentence_features(q: QueryTerms, text: str, cosine: float, context: set[str], sp: ScoredPassage) -> list[float]:
    """The features of one sentence that do not depend on the other candidates (gaps are filled in later)."""
    s_terms_list = terms(text)
    s_terms = set(s_terms_list)
    ctx = context | s_terms
    present = np.array([t in s_terms for t in q.terms], dtype=bool)
    in_ctx = np.array([t in ctx for t in q.terms], dtype=bool)
    total = float(q.idf.sum())
    q_pairs = q.pairs
    match = type_match(q.kind, text, q.text)
    return [
        cosine,
        float(q.idf[present].sum() / total) if total else 0.0,
        float(q.idf[in_ctx].sum() / total) if total else 0.0,
        len(q_pairs & set(pairwise(s_terms_list))) / len(q_pairs) if q_pairs else 0.0,
        float(q.rarity[~in_ctx].max()) if (~in_ctx).any() else 0.0,
        match,
        float(q.kind in ("date", "number") and not match),
        len(s_terms - set(q.terms)) / max(len(s_terms), 1),
        1.0 / sp.rank,
        sp.dense_score or 0.0,
    ]


def candidates(
    index: Index, query: str, query_vector: np.ndarray, passages: list[ScoredPassage], *, params: AnswerParams
) -> list[Candidate]:
    """Every sentence of the retrieved passages, scored, best first (the first two as `reread` orders them)."""
    seen: dict[tuple[str, int, int], ScoredPassage] = {}
    for sp in passages:
        for s, e in sp.passage.sentences:
            seen.setdefault((sp.passage.doc_id, s, e), sp)
    if not seen:
        return []
    keys = list(seen)
    assert index.lexical is not None
    q = QueryTerms.of(index.lexical, query)
    cos = index.sentence_vectors[index.sentence_vector_rows(keys)] @ query_vector.reshape(-1)
    context = {sp.passage.id: set(terms(sp.passage.text)) for sp in passages}
    raw = [_sentence_features(q, index.documents[d].text[s:e], float(c), context[seen[(d, s, e)].passage.id],
                              seen[(d, s, e)])
           for (d, s, e), c in zip(keys, cos, strict=True)]
    best_cos, best_cov = max(r[0] for r in raw), max(r[1] for r in raw)
    feats = [SentenceFeatures(r[0], r[0] - best_cos, r[1], r[1] - best_cov, *r[2:]) for r in raw]
    matrix = np.array(feats, dtype=np.float64)
    probs = 1.0 / (1.0 + np.exp(-(matrix @ np.array(params.weights))))
    out = [Candidate(d, s, e, seen[(d, s, e)], f, float(p))
           for (d, s, e), f, p in zip(keys, feats, probs, strict=True)]
    return reread(sorted(out, key=lambda c: -c.probability), query, index=index)


def reread(cands: list[Candidate], question: str, *, index: Index) -> list[Candidate]:
    """`cands` with the first READ_DEPTH reordered by the sentence model's log-odds plus READ_WEIGHT times the
    reader's score of each one's best span: of two sentences nearly as likely, the one that holds an answer to
    `question` goes first."""
    head = [c for c in cands[:READ_DEPTH] if log_odds(c) >= log_odds(cands[0]) - READ_GAP]
    if len(head) < 2:
        return cands
    texts = [index.documents[c.doc_id].text[c.start:c.end] for c in head]
    prefetch(question, texts)  # one forward pass for all of them
    keyed = []
    for c, text in zip(head, texts, strict=True):
        span = short_answer(question, text, threshold=False)
        keyed.append(log_odds(c) + READ_WEIGHT * (span.score if span is not None else READ_NONE))
    order = sorted(range(len(head)), key=lambda i: -keyed[i])
    return [head[i] for i in order] + cands[len(head):]


def log_odds(c: Candidate) -> float:
    """The sentence model's log-odds of `c` (its probability, kept off 0 and 1)."""
    p = min(max(c.probability, 1e-9), 1 - 1e-9)
    return float(np.log(p / (1 - p)))


def abstain_features(cands: list[Candidate], question: str, *, index: Index) -> np.ndarray:
    """The answerability model's inputs (`ABSTAIN_FEATURES`): the best candidate sentence's features, the best
    coverage and pairs among all, the reranker's score of the top passage, how well the best sentence's
    best phrase answers (`rag.span`), and the question's size and how much of its asking sentence the best
    sentence's passage holds."""
    if not cands:
        return np.zeros(len(ABSTAIN_FEATURES))
    best = cands[0]
    text = index.documents[best.doc_id].text[best.start:best.end]
    span = short_answer(question, text, threshold=False)
    # A question asking for an explanation has no short answer anywhere: its span features say nothing against it
    # (as if a span scored just enough to be offered), so that "why" is not declined for lack of a phrase.
    span_score = span.score if span is not None else offer_threshold() if explains(question) else None
    return abstain_vector(best.features, best_probability=best.probability,
                          max_coverage=max(c.features.coverage for c in cands),
                          max_bigrams=max(c.features.bigrams for c in cands),
                          top_passage_score=max(c.passage.score for c in cands),
                          span_score=span_score,
                          question=question, context=set(terms(text)) | set(terms(best.passage.passage.text)),
                          index=index)


def asking_sentence(question: str) -> str:
    """The sentence of a question that asks (its last one): a quiz question often tells a story first
    ("More than 70,000 attendees were stranded in the desert. What was the name of the festival?")."""
    parts = [p for p in re.split(r"(?<=[.?!])\s+", question.strip()) if p]
    return parts[-1] if parts else question


def abstain_vector(best: SentenceFeatures, *, best_probability: float, max_coverage: float, max_bigrams: float,
                   top_passage_score: float, span_score: float | None, question: str, context: set[str],
                   index: Index) -> np.ndarray:
    """`ABSTAIN_FEATURES` from their parts: the best evidence's sentence features and probability, the best
    coverage and pairs among the candidates, the top passage's reranker score, the reader's score of the best span
    of the best evidence (None: it holds none), and, from `question` and the terms of the best evidence and its
    passage (`context`), the question's size and the rarity-weighted share of its asking sentence's terms there."""
    asked = list(dict.fromkeys(terms(asking_sentence(question))))
    idf = index.lexical.idf(asked) if asked and index.lexical is not None else np.ones(len(asked))
    held = np.array([t in context for t in asked], dtype=bool)
    values = {"best_probability": best_probability, **best._asdict(), "max_coverage": max_coverage,
              "max_bigrams": max_bigrams, "top_passage_score": top_passage_score,
              "span_score": NO_SPAN if span_score is None else span_score, "has_span": float(span_score is not None),
              "question_size": float(np.log1p(len(set(terms(question))))),
              "core_coverage": float(idf[held].sum() / idf.sum()) if len(asked) and idf.sum() else 0.0}
    return np.array([values[name] for name in ABSTAIN_FEATURES], dtype=np.float64)


def answerability(cands: list[Candidate], question: str, *, index: Index, params: AnswerParams) -> float:
    """The probability that the retrieved sentences answer `question` at all."""
    if not cands:
        return 0.0
    return answerable(abstain_features(cands, question, index=index), params=params)


def answerable(x: np.ndarray, *, params: AnswerParams) -> float:
    """The answerability model's probability for its inputs `x` (`ABSTAIN_FEATURES`, e.g. `abstain_vector`)."""
    return float(1.0 / (1.0 + np.exp(-float(x @ np.array(params.abstain_weights)))))


def select(cands: list[Candidate], *, confidence: float, params: AnswerParams) -> list[Candidate]:
    """The sentences to answer with (empty: abstain when `confidence`, the question's `answerability`, is below
    the threshold), in reading order within each document."""
    if not cands or confidence < params.threshold:
        return []
    best = cands[0].probability
    chosen = [c for c in cands[: params.max_sentences] if c.probability >= params.second_ratio * best]
    first_doc = chosen[0].doc_id
    return sorted(chosen, key=lambda c: (c.doc_id != first_doc, c.doc_id, c.start))
