"""Retrieve: dense (vectors) and lexical (BM25) search. Hybrid search merges the two lists with the trained
reranker (`rag.rank`) over the union of both lists' candidates, or by reciprocal rank fusion (`fusion="rrf"`).
The ranked candidates are folded (`rag.copies`: of near-copies of one story from several outlets only the
best-ranked is kept) before the top k are taken, so k slots hold k stories."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection

import numpy as np

from rag.copies import fold
from rag.index.filters import allowed_ids, table_of
from rag.index.index import Index
from rag.index.where import Where, where_of
from rag.question import DEFAULT_K, FUSIONS, MODES, Fusion, Mode
from rag.rank.model import CANDIDATE_DEPTH, Ranker, default_ranker, rerank
from rag.records import Hits, ScoredPassage
from rag.window import TimeWindow, resolve

RRF_K = 60  # Cormack et al. (2009): damps the head of each ranking so neither retriever dominates.
# A time phrase that names a day, a month or a year ("on Monday", "in March", "in 2023"): articles say those.
_NAMES_A_TIME = re.compile(r"\b(?:mon|tues|wednes|thurs|fri|satur|sun)day\b|\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|"
                           r"oct|nov|dec)[a-z]*\b|\b(?:19|20)\d\d\b", re.IGNORECASE)


def without_counting_back(question: str, prefer: TimeWindow | None) -> str:
    """The question as its answer is sought in sentences: without the phrase of `prefer` when that phrase counts
    back from the day asked ("this week", "yesterday", "last month", "the past 3 days"). The window it resolved
    to does its work, and an article does not say it of its own events: "What did regulators approve this
    week?" is answered by "Regulators on Wednesday approved ...", not by a sentence saying "last week". A
    phrase that names a time ("on Monday", "in March") stays: articles say those."""
    phrase = prefer.phrase if prefer is not None else None
    if not phrase or _NAMES_A_TIME.search(phrase):
        return question
    at = question.lower().find(phrase.lower())
    if at < 0:
        return question
    before = re.sub(r"\b(?:in|over|during|within|for)\s*$", "", question[:at].rstrip(), flags=re.IGNORECASE)
    cut = f"{before.rstrip()} {question[at + len(phrase):].lstrip()}".strip()
    return re.sub(r"\s+([?.!,])", r"\1", cut)


def limits(
    index: Index, window: TimeWindow | None, sources: Collection[str] | None = None
) -> tuple[np.ndarray | None, Where | None]:
    """The `allowed` array and `where` conditions of a search inside `window` and `sources` (both None: the
    whole index). The engine and the reranker's training data (eval/ranker_data.py) both search through this."""
    if window is None:
        return None, None
    return allowed_ids(table_of(index), window, sources), where_of(window, sources)


def windows(
    question: str, *, as_of: dt.date | None = None, since: dt.date | None = None, until: dt.date | None = None
) -> tuple[TimeWindow, TimeWindow | None]:
    """The window a question is searched in, and the one it prefers. Searched: never after `as_of`, inside any
    explicit `since`/`until` (hard limits, applied inside both searches by `limits`). Preferred: the window of
    the question's own time words ("this week", "in March") resolved against `as_of` (`rag.window.resolve`),
    which the reranker weighs (`rag.rank.features.WINDOW_FEATURES`) but never filters by; None when the question
    names no time or there is no `as_of` to read it against. The engine and the reranker's training data both
    take their windows from here."""
    searched = resolve("", as_of=as_of, since=since, until=until)
    words = resolve(question, as_of=as_of) if as_of is not None else None
    return searched, words if words is not None and words.phrase is not None else None


def dense_hits(
    index: Index, query_vector: np.ndarray, depth: int, *, allowed: np.ndarray | None = None, where: Where | None = None
) -> Hits:
    """The `depth` nearest passages, among the `allowed` ones when given (a boolean array over passage ids;
    `where`, the same as conditions on passage fields, for a store that filters by them)."""
    ids, scores = index.store.search(query_vector.reshape(1, -1), depth, allowed=allowed, where=where)
    keep = ids[0] >= 0
    return Hits(ids[0][keep], scores[0][keep])


def lexical_hits(
    index: Index, query: str, depth: int, *, allowed: np.ndarray | None = None, where: Where | None = None
) -> Hits:
    """The `depth` best BM25 passages, among the `allowed` ones when given."""
    if index.lexical is None:
        return Hits(np.zeros(0, np.int64), np.zeros(0, np.float32))
    return index.lexical.search(query, depth, allowed=allowed, where=where)


def fuse(rankings: list[Hits], *, k: int, rrf_k: int = RRF_K) -> list[tuple[int, float]]:
    """Reciprocal rank fusion: score(p) = sum over rankings of 1 / (rrf_k + rank). Best `k` (id, score)."""
    fused: dict[int, float] = {}
    for hits in rankings:
        for rank, pid in enumerate(hits.ids.tolist()):
            fused[pid] = fused.get(pid, 0.0) + 1.0 / (rrf_k + rank + 1)
    return sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))[:k]


def retrieve(
    index: Index,
    query: str,
    query_vector: np.ndarray | None,
    *,
    k: int = DEFAULT_K,
    mode: Mode = "hybrid",
    depth: int | None = None,
    fusion: Fusion = "ranker",
    ranker: Ranker | None = None,
    allowed: np.ndarray | None = None,
    where: Where | None = None,
    reference: dt.date | None = None,
    prefer: TimeWindow | None = None,
) -> list[ScoredPassage]:
    """The `k` best passages for `query`. Each retriever searches its top `depth` passages (default: 4k, at
    least 40).

    Hybrid search merges the two lists by `fusion`: "ranker" scores the union of each list's top
    CANDIDATE_DEPTH (at least k) with `ranker` (default: the committed model, `rag/rank/model.json`); "rrf" by
    reciprocal rank fusion of the whole lists. The reranker needs the question's vector and the BM25 index;
    without either, what was found is merged by RRF. Dense and lexical modes return their own list.

    `allowed` (a boolean array over passage ids, `rag.index.filters.allowed_ids`: a time window, outlets)
    restricts both searches from inside, so every list holds its best allowed passages; `where`
    (`rag.index.filters.where_of`) says the same for a store that filters by payload (Qdrant). `reference`: the
    date the search is made as of (the question's `as_of`), which the reranker's time features measure from;
    `prefer`: the window of the question's own time words (`windows`), which the reranker prefers. Only the
    reranker weighs it: dense, lexical and RRF rankings do not.

    Every candidate is ranked, then near-copies of another document's better passage are folded into its
    `also_in` (`rag.copies.fold`), and the best `k` of what is left are returned.
    """
    if mode not in MODES:
        raise ValueError(f"unknown search mode {mode!r}: use one of {', '.join(MODES)}")
    if fusion not in FUSIONS:
        raise ValueError(f"unknown fusion {fusion!r}: use one of {', '.join(FUSIONS)}")
    if k < 1:
        raise ValueError(f"k must be at least 1, not {k}")
    depth = depth or max(4 * k, 40)
    dense = (dense_hits(index, query_vector, depth, allowed=allowed, where=where)
             if mode != "lexical" and query_vector is not None else None)
    lexical = lexical_hits(index, query, depth, allowed=allowed, where=where) if mode != "dense" else None
    dense_score = dict(zip(dense.ids.tolist(), dense.scores.tolist(), strict=True)) if dense else {}
    lex_score = dict(zip(lexical.ids.tolist(), lexical.scores.tolist(), strict=True)) if lexical else {}
    if fusion == "ranker" and dense is not None and lexical is not None and index.lexical is not None:
        assert query_vector is not None  # dense search ran
        cut = max(CANDIDATE_DEPTH, k)
        # every candidate is kept (the union of two top-`cut` lists): copies are folded before the cut to k
        best, _ = rerank(index, query, query_vector, dense, lexical, ranker=ranker or default_ranker(), k=2 * cut,
                         depth=cut, reference=reference, prefer=prefer)
    else:
        best = fuse([h for h in (dense, lexical) if h is not None], k=2 * depth)
    return fold(_scored(index, best, dense_score, lex_score))[:k]


def _scored(index: Index, best: list[tuple[int, float]], dense_score: dict[int, float],
            lex_score: dict[int, float]) -> list[ScoredPassage]:
    """The ranked (passage id, score) pairs as ScoredPassages, ranked from 1."""
    out = []
    for rank, (pid, score) in enumerate(best):
        p = index.passages[pid]
        out.append(
            ScoredPassage(
                passage=p,
                title=index.documents[p.doc_id].title,
                score=round(score, 6),
                rank=rank + 1,
                dense_score=dense_score.get(pid),
                lexical_score=lex_score.get(pid),
            )
        )
    return out
