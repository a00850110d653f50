"""The answerer's fitting data (eval/fit_answerer.py): the candidate sentences of gold questions as the engine finds
them, labelled by whether they hold gold evidence, with the cross-validation group of each question.

Indexes are the harness's cache (`eval/out/cache`, built there when missing; news-archive's is never rebuilt by a
changed answer-time module, only by indexing code). A dated benchmark's questions are also searched as the engine
searches them as of their date (`rag.retrieve.windows`: nothing dated after it; the question's own time words
preferred by the reranker), since that is how `rag eval` asks them and the reranker's scores, which the
answerability model reads, differ then. Groups: squad-dev by the article of the evidence, the dated benchmarks by
the ISO week of the question's date (both variants of a question in one group), the seed set by question (one
article), an off-corpus question by its own question's group.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from rag.byline import asks_about_article
from rag.embed.model import Embedder, embed_queries
from rag.extractive import DEFAULT_PARAMS, AnswerParams, Candidate, candidates
from rag.index.index import ChunkSettings, Index
from rag.ingest.corpus import load_corpus
from rag.retrieve import limits, retrieve, windows, without_counting_back

from . import cache
from .gold import GoldQuestion, load_gold, overlaps
from .ranker_data import BENCH, DATED, OUT, group_of, question_date

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ("squad-dev", "news-rtqa", "news-archive")
# Which variants of each benchmark's sampled questions are collected: without a date (as before), as of it, or both.
VARIANTS = {"squad-dev": (False,), "news-rtqa": (False, True), "news-archive": (True,)}
# Off-corpus questions: a benchmark's questions asked of another corpus (target, source), without a date.
CROSS = (("seed", "news-rtqa"), ("seed", "squad-dev"), ("news-rtqa", "squad-dev"), ("squad-dev", "news-rtqa"))


@dataclass
class Row:
    dataset: str  # the index searched (a key of the indexes)
    question: GoldQuestion
    cands: list[Candidate]
    labels: np.ndarray  # per candidate: hits gold evidence
    variant: str = ""  # what is reported: "news-rtqa as-of", "squad-dev off-corpus", ...
    group: str = ""  # the cross-validation group
    asked: str = ""  # the question as its sentences are scored (`rag.retrieve.without_counting_back`)
    x: np.ndarray | None = None  # the answerability model's inputs (`rag.extractive.abstain_features`), once known


def _label(c: Candidate, q: GoldQuestion, text: str) -> bool:
    return any(overlaps(c.doc_id, c.start, c.end, ev, text, q.answers) for ev in q.evidence)


def _group(name: str, q: GoldQuestion) -> str:
    return f"seed:{q.id}" if name == "seed" else f"{name}:{group_of(name, q)}"


def collect(name: str, index: Index, questions: list[GoldQuestion], embedder: Embedder, *, k: int,
            unanswerable: bool = False, as_of: bool = False, source: str | None = None,
            params: AnswerParams = DEFAULT_PARAMS) -> list[Row]:
    """The candidates of each question, searched as `Engine.ask` searches it: with `as_of`, as of the question's
    date (when it has one); `unanswerable`: questions of benchmark `source` asked of this corpus, labelled as
    having no answer. `params` score the candidates (the fit's features do not depend on them; their order does)."""
    vecs = embed_queries(embedder, [q.question for q in questions])
    variant = f"{name} off-corpus" if unanswerable else f"{name} as-of" if as_of else name
    rows = []
    for q, v in zip(questions, vecs, strict=True):
        day = question_date(q) if as_of and q.extra.get("date") else None
        searched, prefer = windows(q.question, as_of=day) if day else (None, None)
        allowed, where = limits(index, searched)
        passages = retrieve(index, q.question, v, k=k, allowed=allowed, where=where, reference=day, prefer=prefer)
        asked = without_counting_back(q.question, prefer)
        cands = candidates(index, asked, v, passages, params=params)
        docs = index.documents
        labels = np.array([False if unanswerable else _label(c, q, docs[c.doc_id].text[c.start:c.end])
                           for c in cands], dtype=bool)
        group = f"off:{_group(source or name, q)}" if unanswerable else _group(name, q)
        if unanswerable:
            q = replace(q, answers=(), evidence=())
        rows.append(Row(name, q, cands, labels, variant, group, asked))
    return rows


def _open(name: str, corpus: Path, gold: Path, embedder: Embedder) -> tuple[Index, list[GoldQuestion]]:
    docs = list(load_corpus([corpus]).documents)
    chunking = ChunkSettings(max_tokens=min(128, embedder.max_tokens), overlap=1)
    cached = cache.prepare([corpus], docs, cache_root=OUT / "cache", name=name, embedder=embedder, chunking=chunking)
    index = Index.load(cached.folder, verify=False, mapped=True)
    return index, load_gold(gold, index.documents)


def load_sets(embedder: Embedder, benchmarks: tuple[str, ...] = BENCHMARKS
              ) -> tuple[dict[str, Index], dict[str, list[GoldQuestion]]]:
    """Each data set's index (the harness's cached one) and its gold questions: the seed set and `benchmarks`."""
    sets = {"seed": (ROOT / "seeds", ROOT / "eval" / "gold" / "seed.jsonl"),
            **{name: (BENCH / name / "corpus.jsonl", BENCH / name / "gold.jsonl") for name in benchmarks}}
    index_of: dict[str, Index] = {}
    gold: dict[str, list[GoldQuestion]] = {}
    for name, (corpus, gold_path) in sets.items():
        print(f"[{name}] index ...", flush=True)
        index_of[name], gold[name] = _open(name, corpus, gold_path, embedder)
    return index_of, gold


def collect_rows(index_of: dict[str, Index], gold: dict[str, list[GoldQuestion]], embedder: Embedder,
                 rng: random.Random, *, sample: int, k: int) -> list[Row]:
    """The candidates of every sampled question (each variant of VARIANTS), then the off-corpus ones."""
    rows: list[Row] = []
    for name, qs in gold.items():
        if name == "seed":
            # the engine answers "Who wrote the article?" from the byline, never asking answerability (rag.byline)
            rows += collect(name, index_of[name], [q for q in qs if asks_about_article(q.question) is None],
                            embedder, k=k)
            continue
        picked = rng.sample(qs, min(sample, len(qs)))
        for as_of in VARIANTS[name]:
            dated = [q for q in picked if not as_of or (name in DATED and q.extra.get("date"))]
            print(f"[{name}{' as-of' if as_of else ''}] {len(dated)} questions ...", flush=True)
            rows += collect(name, index_of[name], dated, embedder, k=k, as_of=as_of)
    for target, source in CROSS:
        qs = rng.sample(gold[source], min(sample // 4, len(gold[source])))
        rows += collect(target, index_of[target], qs, embedder, k=k, unanswerable=True, source=source)
    return rows
