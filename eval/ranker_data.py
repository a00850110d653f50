"""The reranker's training data (eval/train_ranker.py): for every answerable gold question of a benchmark, the
first-stage lists as hybrid search makes them, the features of the union of their candidates, and labels.

A candidate is labelled relevant when it overlaps gold evidence by the harness's own test
(`eval.metrics.hits_evidence`). Questions are grouped for cross-validation: squad-dev by the article of their
evidence, the dated news benchmarks by the ISO week of their `date`. A dated benchmark is collected twice: as the
engine searches it with `as_of` = the question's date (`rag.retrieve.windows`: nothing dated after it, applied
inside both searches through `rag.retrieve.limits`; the date passed to the features, and the window of the
question's own time words, which the features measure and nothing filters by) and without (`as_of=False`: the
whole index, time and window features neutral), so that one model learns both. Collected data is cached under
eval/out/ranker-cache, keyed by the benchmark files, the harness's index key, the variant and the source of the
code that computes the features and the windows.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import rag.index.bm25
import rag.index.filters
import rag.rank.features
import rag.rank.query
import rag.retrieve
import rag.text.terms
import rag.window
from rag.config import PROJECT_ROOT
from rag.embed.model import Embedder, embed_queries
from rag.embed.query import WEIGHTS_FILE as QUERY_ADAPTERS
from rag.index.index import ChunkSettings, Index
from rag.ingest.corpus import load_corpus
from rag.rank.features import FeatureMatrix, features, union
from rag.rank.model import CANDIDATE_DEPTH
from rag.records import Document, Hits, Span
from rag.retrieve import dense_hits, lexical_hits, limits, windows
from rag.text.sentences import split_sentences

from . import cache
from .gold import Evidence, GoldQuestion, load_gold
from .metrics import hits_evidence

BENCH = PROJECT_ROOT.parent / "shared" / "benchmarks"
OUT = PROJECT_ROOT / "eval" / "out"
FIRST_STAGE_DEPTH = 40  # what rag.retrieve's hybrid asks each retriever for at k=10
DATED = ("news-rtqa", "news-archive")  # benchmarks whose questions carry the date they were asked
# The modules whose source decides a feature value or a window: a change to any of them recollects the data.
FEATURE_CODE = (rag.rank.features, rag.rank.query, rag.text.terms, rag.index.bm25, rag.index.filters, rag.retrieve,
                rag.window)


@dataclass
class QuestionData:
    """One gold question's first-stage lists, candidate features and labels."""

    benchmark: str
    question: GoldQuestion
    group: str  # the cross-validation group: article or ISO week
    dense: Hits
    lexical: Hits
    fm: FeatureMatrix  # the union candidates' features
    labels: np.ndarray  # per union candidate
    hit_ids: frozenset[int]  # every passage of the first-stage lists that hits gold evidence
    as_of: datetime.date | None = None  # the date searched as of (window and time features); None: no date


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def feature_code_fingerprint(embedder: Embedder | None = None) -> str:
    """The features' code and, when `embedder` embeds questions through the question adapters, their file: the
    dense features compare the questions' vectors."""
    h = hashlib.sha256()
    for module in FEATURE_CODE:
        h.update(Path(str(module.__file__)).read_bytes())
    if getattr(embedder, "queries", None) is not None:
        h.update(QUERY_ADAPTERS.read_bytes())
    return h.hexdigest()[:16]


def group_of(benchmark: str, q: GoldQuestion) -> str:
    """squad-dev: the article of the evidence; a dated benchmark: the ISO week of the question's date."""
    if benchmark in DATED:
        year, week, _ = question_date(q).isocalendar()
        return f"{year}-W{week:02d}"
    return q.evidence[0].doc_id if q.evidence else q.id


def evidence_sentence(q: GoldQuestion, docs: Mapping[str, Document], sentences: dict[str, list[tuple[int, int]]]
                      ) -> tuple[Evidence, int, int] | None:
    """The first span evidence of `q` and the offsets of the one sentence of its document that holds it; None when
    `q` has only whole-document evidence or its span runs past one sentence. `sentences` caches each document's
    sentence offsets (`rag.text.sentences.split_sentences`) across calls."""
    ev = next((e for e in q.evidence if not e.whole_doc), None)
    if ev is None:
        return None
    if ev.doc_id not in sentences:
        sentences[ev.doc_id] = split_sentences(docs[ev.doc_id].text)
    span = next(((s, e) for s, e in sentences[ev.doc_id] if s <= ev.start < e), None)
    if span is None or ev.end > span[1]:
        return None
    return ev, span[0], span[1]


def question_date(q: GoldQuestion) -> datetime.date:
    return datetime.date.fromisoformat(str(q.extra["date"])[:10])


def assign_folds(groups: Sequence[str], n_folds: int) -> np.ndarray:
    """A fold per question, whole groups at a time: largest group first into the fold with fewest questions."""
    sizes: dict[str, int] = {}
    for g in groups:
        sizes[g] = sizes.get(g, 0) + 1
    load = [0] * n_folds
    fold_of: dict[str, int] = {}
    for g in sorted(sizes, key=lambda g: (-sizes[g], g)):
        f = min(range(n_folds), key=lambda i: (load[i], i))
        fold_of[g] = f
        load[f] += sizes[g]
    return np.array([fold_of[g] for g in groups])


def open_benchmark(name: str, embedder: Embedder) -> tuple[Index, list[GoldQuestion], str]:
    """The benchmark's index (the harness's cache, built if missing), its gold questions and the cache key."""
    corpus = [BENCH / name / "corpus.jsonl"]
    docs = list(load_corpus(corpus).documents)
    chunking = ChunkSettings(max_tokens=min(128, embedder.max_tokens), overlap=1)
    cached = cache.prepare(corpus, docs, cache_root=OUT / "cache", name=name, embedder=embedder, chunking=chunking)
    index = Index.load(cached.folder, verify=False, mapped=True)
    return index, load_gold(BENCH / name / "gold.jsonl", index.documents), cached.key


def _hits(index: Index, q: GoldQuestion, ids: Sequence[int]) -> frozenset[int]:
    hit = set()
    for pid in ids:
        p = index.passages[pid]
        if hits_evidence(q, Span(p.doc_id, p.start, p.end, p.text)):
            hit.add(pid)
    return frozenset(hit)


def collect(
    name: str, index: Index, questions: list[GoldQuestion], embedder: Embedder, *, as_of: bool = False
) -> list[QuestionData]:
    """First-stage lists, union features and labels of every answerable question; with `as_of`, searched as the
    engine searches a question asked on its `date` (`Engine._search`: `windows` of the question and that date,
    the searched one inside both searches, the date as the features' reference, the preferred one to them)."""
    questions = [q for q in questions if q.answerable]
    vectors = embed_queries(embedder, [q.question for q in questions])
    out = []
    for q, v in zip(questions, vectors, strict=True):
        day = question_date(q) if as_of else None
        searched, prefer = windows(q.question, as_of=day) if day else (None, None)
        allowed, _ = limits(index, searched)
        dense = dense_hits(index, v, FIRST_STAGE_DEPTH, allowed=allowed)
        lexical = lexical_hits(index, q.question, FIRST_STAGE_DEPTH, allowed=allowed)
        cands = union(dense, lexical, depth=CANDIDATE_DEPTH)
        fm = features(index, q.question, v, cands, reference=day, prefer=prefer)
        hit_ids = _hits(index, q, list(dict.fromkeys(dense.ids.tolist() + lexical.ids.tolist())))
        labels = np.array([pid in hit_ids for pid in cands.ids.tolist()], dtype=np.int32)
        out.append(QuestionData(name, q, group_of(name, q), dense, lexical, fm, labels, hit_ids, day))
    return out


def load_data(
    name: str, embedder: Embedder, limit: int | None, *, as_of: bool = False
) -> tuple[list[QuestionData], dict[str, Any]]:
    """`collect` over the benchmark's first `limit` questions (all by default), cached; and what the data was
    (file fingerprints, index key, counts) for the meta file."""
    index, questions, index_key = open_benchmark(name, embedder)
    questions = questions[:limit] if limit else questions
    files = {f: sha256(BENCH / name / f) for f in ("corpus.jsonl", "gold.jsonl")}
    code = feature_code_fingerprint(embedder)
    key = hashlib.sha256(json.dumps([files, index_key, code, limit, CANDIDATE_DEPTH, FIRST_STAGE_DEPTH,
                                     as_of]).encode())
    path = OUT / "ranker-cache" / f"{name}{'-as-of' if as_of else ''}-{key.hexdigest()[:16]}.pkl"
    if path.is_file():
        data: list[QuestionData] = pickle.loads(path.read_bytes())
    else:
        data = collect(name, index, questions, embedder, as_of=as_of)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pickle.dumps(data))
    return data, {"files_sha256": files, "index_key": index_key, "feature_code": code, "questions": len(data),
                  "passages": len(index.passages), "as_of": as_of}
