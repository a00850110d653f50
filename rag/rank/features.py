"""Features of first-stage candidates for the trained reranker (`rag.rank.model`).

A candidate is a passage found by dense search, BM25 or both. Each gets one row of named features: what the
two retrievers said about it (scores and ranks, scaled per question so that corpora of any size compare),
how much of the question it holds (rare terms weigh more), whether its title or byline match, whether it holds
the kind of fact asked for, where it sits in its article and how long it is; and, when the search has a
reference date (the question's `as_of`), how old its article is then and how much older than the newest
candidate; and, when the question speaks of a time of its own ("this week", "in March": the window
`rag.window.resolve` reads, which the search prefers but never filters by), whether its article lies inside that
window and how far outside. Pure functions over the index: no model call, no torch; 2–3 ms for sixty candidates,
most of it tokenising them.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from rag.index.bm25 import field_text
from rag.index.filters import table_of
from rag.index.index import Index
from rag.records import Hits
from rag.text.terms import terms
from rag.window import TimeWindow

from .query import QueryTerms, type_match

# Time, relative to the search's reference date (the question's as_of). Without one, or for an undated article,
# they take NO_TIME: as-of on against off then measures exactly what the question's date brings.
TIME_FEATURES: tuple[str, ...] = (
    "age_log",  # log1p(days from the article's date to the reference date); negative when after it
    "newest_gap_log",  # log1p(days older than the newest dated candidate, both capped at the reference date)
    "undated",  # 1 when the article has no date, 0 when it has one; NO_TIME without a reference date
)
NO_TIME = -1.0  # every time feature's value without a reference date (and the day counts of an undated article)
# The question's own time words ("this week"), resolved against its as_of into a window the search prefers: NO_TIME
# for every candidate of a question without such words, and for an undated article.
WINDOW_FEATURES: tuple[str, ...] = (
    "in_window",  # 1 when the article's date overlaps the question's window, 0 when it lies outside
    "window_gap_log",  # log1p(days outside the window): positive before its start, negative after its end, 0 inside
)
FEATURES: tuple[str, ...] = (
    "dense_score",  # cosine of the passage to the question; the dense list's last score when not in it
    "dense_gap",  # dense_score below the best candidate's (0 for the best)
    "dense_rrank",  # 1 / rank in the dense list, 0 when not in it
    "lexical_norm",  # BM25 score over this question's best BM25 score, 0 when not in the lexical list
    "lexical_rrank",  # 1 / rank in the BM25 list, 0 when not in it
    "rrf",  # the reciprocal-rank-fusion score (rag.retrieve.fuse), times RRF_K
    "sentence_cos",  # best cosine of one of the passage's sentences: a passage may answer in one sentence
    "sentence_cos_gap",  # sentence_cos below the best candidate's
    "coverage",  # share of the question's terms in the passage, weighted by rarity (IDF)
    "coverage_gap",  # coverage below the best candidate's
    "term_share",  # share of the question's distinct terms in the passage, unweighted
    "bigrams",  # share of the question's consecutive term pairs in the passage
    "missing_rare",  # rarity of the rarest question term absent from the passage (0: nothing missing)
    "query_rarity",  # rarity of the question's rarest term: how specific the question is (per question)
    "title_coverage",  # rarity-weighted share of the question's terms in the document title
    "byline_coverage",  # the same in the document's author and date words (what BM25 indexes: `field_text`)
    "type_match",  # the kind of fact asked for (date, number, name) is in the passage; 0.5 for other questions
    "type_missing",  # a date or number is asked for and the passage has none
    "position",  # where the passage starts in its article, 0 (top) to 1
    "first_passage",  # 1 for the article's first passage (lead paragraph, byline)
    "length",  # passage length in terms / 100
    "doc_share",  # share of the candidates that come from the passage's article: an article on the topic
    *TIME_FEATURES,
    *WINDOW_FEATURES,
)
# The models were fitted with this constant: it is rag.retrieve.RRF_K, repeated because rag.retrieve sits above.
RRF_K = 60


@dataclass(frozen=True, slots=True)
class Candidates:
    """The union of the dense and lexical candidates of one question. Ranks are 1-based, 0 when the passage is
    not in that retriever's list; scores are NaN there."""

    ids: np.ndarray
    dense_scores: np.ndarray
    dense_ranks: np.ndarray
    lexical_scores: np.ndarray
    lexical_ranks: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True, slots=True)
class FeatureMatrix:
    """One row per candidate passage (`ids`), one column per name in `names`."""

    names: tuple[str, ...]
    ids: np.ndarray
    values: np.ndarray

    def column(self, name: str) -> np.ndarray:
        return self.values[:, self.names.index(name)]


def union(dense: Hits, lexical: Hits, *, depth: int) -> Candidates:
    """The top `depth` of each list (best first), merged: dense order first, then lexical-only passages."""
    d_ids, l_ids = dense.ids[:depth].tolist(), lexical.ids[:depth].tolist()
    ids = list(dict.fromkeys(d_ids + l_ids))
    pos = {pid: i for i, pid in enumerate(ids)}
    n = len(ids)
    ds, dr = np.full(n, np.nan), np.zeros(n)
    ls, lr = np.full(n, np.nan), np.zeros(n)
    for rank, (pid, s) in enumerate(zip(d_ids, dense.scores[:depth].tolist(), strict=True), 1):
        ds[pos[pid]], dr[pos[pid]] = s, rank
    for rank, (pid, s) in enumerate(zip(l_ids, lexical.scores[:depth].tolist(), strict=True), 1):
        ls[pos[pid]], lr[pos[pid]] = s, rank
    return Candidates(np.array(ids, dtype=np.int64), ds, dr, ls, lr)


def _retriever_columns(c: Candidates) -> dict[str, np.ndarray]:
    """Scores and ranks, scaled per question: raw BM25 grows with the corpus and the question's length."""
    in_dense = ~np.isnan(c.dense_scores)
    floor = float(np.nanmin(c.dense_scores)) if in_dense.any() else 0.0
    # A passage missing from the dense list scores at most its last score: the bound is the best guess.
    dense = np.where(in_dense, c.dense_scores, floor)
    best_lex = float(np.nanmax(c.lexical_scores)) if (~np.isnan(c.lexical_scores)).any() else 0.0
    lex = np.nan_to_num(c.lexical_scores / best_lex, nan=0.0) if best_lex > 0 else np.zeros(len(c))
    d_rr = np.where(c.dense_ranks > 0, 1.0 / np.maximum(c.dense_ranks, 1), 0.0)
    l_rr = np.where(c.lexical_ranks > 0, 1.0 / np.maximum(c.lexical_ranks, 1), 0.0)
    rrf = sum(np.where(r > 0, RRF_K / (RRF_K + r), 0.0) for r in (c.dense_ranks, c.lexical_ranks))
    return {"dense_score": dense, "dense_gap": dense - dense.max(), "dense_rrank": d_rr,
            "lexical_norm": lex, "lexical_rrank": l_rr, "rrf": np.asarray(rrf, dtype=np.float64)}


def _sentence_cosines(index: Index, query_vector: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """The best sentence cosine of each passage (sentence vectors are stored at index time), -1 for none."""
    keys, owner = [], []
    for i, pid in enumerate(ids.tolist()):
        p = index.passages[pid]
        for s, e in p.sentences:
            keys.append((p.doc_id, s, e))
            owner.append(i)
    best = np.full(len(ids), -1.0)
    if keys:
        rows = index.sentence_vector_rows(keys)
        vectors = np.asarray(index.sentence_vectors[rows], dtype=np.float32)
        cos = vectors @ query_vector.reshape(-1).astype(np.float32)
        np.maximum.at(best, np.array(owner), cos.astype(np.float64))
    return best


def _text_columns(index: Index, q: QueryTerms, ids: np.ndarray) -> dict[str, np.ndarray]:
    """Term coverage, title and byline match, answer type, position and length of each candidate."""
    names = ("coverage", "term_share", "bigrams", "missing_rare", "title_coverage", "byline_coverage",
             "type_match", "type_missing", "position", "first_passage", "length")
    cols = {name: np.zeros(len(ids)) for name in names}
    doc_cache: dict[str, tuple[float, float]] = {}
    for i, pid in enumerate(ids.tolist()):
        p = index.passages[pid]
        doc = index.documents[p.doc_id]
        p_terms = terms(p.text)
        present = set(p_terms)
        hit = np.array([t in present for t in q.terms], dtype=bool)
        if p.doc_id not in doc_cache:
            doc_cache[p.doc_id] = (q.coverage(set(terms(doc.title))), q.coverage(set(terms(field_text(doc)))))
        match = type_match(q.kind, p.text, q.text)
        cols["coverage"][i] = q.coverage(present)
        cols["term_share"][i] = float(hit.mean()) if len(hit) else 0.0
        cols["bigrams"][i] = len(q.pairs & set(pairwise(p_terms))) / len(q.pairs) if q.pairs else 0.0
        cols["missing_rare"][i] = float(q.rarity[~hit].max()) if (~hit).any() else 0.0
        cols["title_coverage"][i], cols["byline_coverage"][i] = doc_cache[p.doc_id]
        cols["type_match"][i] = match
        cols["type_missing"][i] = float(q.kind in ("date", "number") and not match)
        cols["position"][i] = p.start / max(len(doc.text), 1)
        cols["first_passage"][i] = float(p.start == 0)
        cols["length"][i] = len(p_terms) / 100
    return cols


def _signed_log(days: np.ndarray) -> np.ndarray:
    return np.sign(days) * np.log1p(np.abs(days))


def _time_columns(index: Index, ids: np.ndarray, reference: dt.date | None) -> dict[str, np.ndarray]:
    """Age of each candidate's article at `reference` and its gap to the newest dated candidate, in log days.
    A year-only date counts from its day nearest the reference (`rag.index.filters` keeps each article's first
    and last day), so a 2024 article is 0 days old on any day of 2024."""
    n = len(ids)
    cols = {name: np.full(n, NO_TIME) for name in TIME_FEATURES}
    if reference is None:
        return cols
    table = table_of(index)
    first, last = table.first[ids].astype(np.int64), table.last[ids].astype(np.int64)
    ref = reference.toordinal()
    dated = first >= 0
    nearest = np.clip(ref, first, last)  # the article's day closest to the reference
    age = (ref - nearest).astype(np.float64)
    cols["undated"] = (~dated).astype(np.float64)
    if dated.any():
        capped = np.minimum(nearest, ref)
        cols["age_log"] = np.where(dated, _signed_log(age), NO_TIME)
        cols["newest_gap_log"] = np.where(dated, np.log1p(capped[dated].max() - capped), NO_TIME)
    return cols


def _window_columns(index: Index, ids: np.ndarray, prefer: TimeWindow | None) -> dict[str, np.ndarray]:
    """Where each candidate's article lies against the window the question's own time words name: inside, or
    how many days before its start (positive) or after its end (negative), in log days. A year-only date is
    inside when its year overlaps the window, else counts from its day nearest the window."""
    n = len(ids)
    cols = {name: np.full(n, NO_TIME) for name in WINDOW_FEATURES}
    if prefer is None or prefer.since is None or prefer.until is None:  # a question's words name both ends
        return cols
    table = table_of(index)
    first, last = table.first[ids].astype(np.int64), table.last[ids].astype(np.int64)
    dated = first >= 0
    lo, hi = prefer.since.toordinal(), prefer.until.toordinal()
    before = np.where(last < lo, lo - last, 0)  # days from the article's last day to the window's start
    after = np.where(first > hi, first - hi, 0)  # days from the window's end to the article's first day
    gap = (before - after).astype(np.float64)
    cols["in_window"] = np.where(dated, (gap == 0).astype(np.float64), NO_TIME)
    cols["window_gap_log"] = np.where(dated, _signed_log(gap), NO_TIME)
    return cols


def features(
    index: Index, query: str, query_vector: np.ndarray, cands: Candidates, *, reference: dt.date | None = None,
    prefer: TimeWindow | None = None,
) -> FeatureMatrix:
    """The feature matrix of `cands` for `query` (embedded as `query_vector`), columns named by FEATURES.
    `reference`: the date the search is made as of (the question's `as_of`), None when it has none. `prefer`:
    the window of the question's own time words (`rag.retrieve.windows`), None when it names none."""
    if not len(cands):
        return FeatureMatrix(FEATURES, cands.ids, np.zeros((0, len(FEATURES))))
    assert index.lexical is not None, "the reranker needs the index's BM25 (it has candidates from it)"
    q = QueryTerms.of(index.lexical, query)
    cols = _retriever_columns(cands)
    sent = _sentence_cosines(index, query_vector, cands.ids)
    cols["sentence_cos"], cols["sentence_cos_gap"] = sent, sent - sent.max()
    cols.update(_text_columns(index, q, cands.ids))
    cols["coverage_gap"] = cols["coverage"] - cols["coverage"].max()
    cols["query_rarity"] = np.full(len(cands), float(q.rarity.max()) if len(q.rarity) else 0.0)
    docs = [index.passages[pid].doc_id for pid in cands.ids.tolist()]
    counts = Counter(docs)
    cols["doc_share"] = np.array([counts[d] / len(docs) for d in docs])
    cols.update(_time_columns(index, cands.ids, reference))
    cols.update(_window_columns(index, cands.ids, prefer))
    values = np.column_stack([cols[name] for name in FEATURES]).astype(np.float64)
    return FeatureMatrix(FEATURES, cands.ids, values)
