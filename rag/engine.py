"""The engine: question in, `Answer` out, over one loaded index. It only reads: building and changing an index
is `rag.collection`'s job, and no question ever takes the index's writer lock."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

import numpy as np

from rag.bridge import Bridge, bridge
from rag.byline import byline_answer
from rag.cite import verify
from rag.compose import answer_text
from rag.compose import citations as cite_chosen
from rag.config import StoreSpec
from rag.embed.model import Embedder, SentenceTransformerEmbedder, embed_queries
from rag.extractive import AnswerParams, Candidate, answerability, candidates, load_params, select
from rag.followup import rewrite
from rag.generative.model import resolve_generator
from rag.generative.protocol import Generator
from rag.index.index import Index
from rag.question import (
    DEFAULT_K,
    Answerer,
    Fusion,
    Message,
    Mode,
    Request,
    check_answerer,
    check_fusion,
    check_history,
    check_question,
    check_request,
)
from rag.records import Answer, Citation, ScoredPassage, SearchWindow
from rag.retrieve import limits, retrieve, windows, without_counting_back
from rag.window import TimeWindow

# A question about the state of things now: among equally likely answers, the newest article's wins. ("recent",
# "recently" and "newest" were tried as cues too, 2026-12-06: news-archive as of, containment 0.441 -> 0.440;
# news-rtqa as of, no change in any figure. Not kept.)
_CURRENT = re.compile(r"\b(current(ly)?|now|latest|still|today's|as of now|at present|presently)\b", re.I)
DateLike = str | dt.date
# Candidate sentences beyond those chosen that are read for a value differing from the chosen one's: the best
# few, of other articles, at least this share as likely as the best. Lower than the answerer's own ratio for a
# second sentence (0.8): a later report often words the fact otherwise ("the death toll rose to 31" against
# "killing 12 people"), which the sentence model scores lower, and the value must still be seen.
_RIVALS = 6
_RIVAL_RATIO = 0.4
_SAME_FACT = 0.6


class _Found(NamedTuple):
    """What one search found: its passages, the answer's candidate sentences, the probability that they answer
    (`answerability`, computed once: it scores the best sentence's phrases) and the window searched."""

    passages: list[ScoredPassage]
    cands: list[Candidate]
    confidence: float
    window: SearchWindow | None
    bridge: Bridge | None = None  # two sentences that answer a describing question together (`rag.bridge`)
    asked: str = ""  # the question as sentences are scored for it (`without_counting_back`)


def _span(w: TimeWindow) -> str:
    """"2024-06-07 to 2024-06-14", or the one day; the preferred window always has both ends."""
    first, last = (d.isoformat() if d else "…" for d in (w.since, w.until))
    return first if first == last else f"{first} to {last}"


def _overlap(a: TimeWindow, b: TimeWindow) -> bool:
    return ((a.until is None or b.since is None or b.since <= a.until)
            and (b.until is None or a.since is None or a.since <= b.until))


class Engine:
    """A loaded index and embedding model, answering questions. Thread-safe for concurrent `ask` calls."""

    def __init__(
        self, index: Index, embedder: Embedder, *, params: AnswerParams | None = None, fusion: Fusion = "ranker"
    ) -> None:
        """`fusion`: how hybrid search merges dense and BM25 hits (`rag.retrieve.retrieve`); "rrf" is the fusion
        before the trained reranker, kept for comparisons (`rag eval --fusion rrf`)."""
        index.check_model(embedder)
        self.index = index
        self.embedder = embedder
        self.params = params or load_params()
        self.fusion = check_fusion(fusion)

    @classmethod
    def open(cls, index_dir: str | Path, *, model: str | None = None, store: StoreSpec | None = None) -> Engine:
        """The engine over the index in `index_dir`, read as it is (never built or updated here); `store`
        reaches its vector store (`Index.load`)."""
        return cls.open_with(index_dir, SentenceTransformerEmbedder(model), store=store)

    @classmethod
    def open_with(cls, index_dir: str | Path, embedder: Embedder, *, store: StoreSpec | None = None) -> Engine:
        """The engine over the index in `index_dir` with an embedder already made."""
        return cls(Index.load(index_dir, store=store, mapped=True), embedder)

    def ask(
        self,
        question: str,
        *,
        history: Sequence[Message] | None = None,
        k: int = DEFAULT_K,
        mode: Mode = "hybrid",
        generator: Generator | str | None = None,
        as_of: DateLike | None = None,
        since: DateLike | None = None,
        until: DateLike | None = None,
        sources: Sequence[str] | None = None,
        answerer: Answerer = "span",
    ) -> Answer:
        """The answer to `question`; see `rag.ask`. With a `generator` (a model folder or name, or a Generator),
        the answer is generated from the passages and checked sentence by sentence (`rag.generative`).
        `as_of`, `since`, `until` and `sources` limit the articles searched (see `rag.ask`). `answerer`:
        "span" leads the answer with its short answer phrase; "sentences" quotes the sentences alone."""
        t0 = time.perf_counter()
        request = check_request(question, k=k, mode=mode, as_of=as_of, since=since, until=until, sources=sources)
        short = check_answerer(answerer) == "span"
        history = check_history(history)
        # A follow-up is rewritten from the conversation: the query searched obeys the question's own limits.
        query = check_question(rewrite(request.question, history), what="the question rewritten from the history")
        t1 = time.perf_counter()
        qvec = embed_queries(self.embedder, [query])[0]  # sentence vectors meet it in every mode
        t2 = time.perf_counter()
        found = self._search(request, query, qvec)
        t3 = time.perf_counter()
        citations, confidence, current_as_of = self._compose(request.question, query, found, short=short)
        text = answer_text(request.question, citations, found.window)
        verify(text, citations, self.index.documents)
        t4 = time.perf_counter()
        ms = {"rewrite_ms": t1 - t0, "embed_ms": t2 - t1, "retrieve_ms": t3 - t2, "answer_ms": t4 - t3,
              "total_ms": t4 - t0}
        answer = Answer(
            text=text,
            citations=citations,
            passages=tuple(found.passages),
            abstained=not citations,
            query=query,
            question=request.question,
            timings={key: round(v * 1000, 3) for key, v in ms.items()},
            confidence=round(confidence, 4),
            supported=tuple(True for _ in citations),
            window=found.window,
            current_as_of=current_as_of,
        )
        gen = resolve_generator(generator)
        if gen is None:
            return answer
        from rag.generative.answer import generative_answer  # the generative path's imports stay off the default one

        return generative_answer(self.index, answer, gen, embedder=self.embedder, history=history)

    def _compose(self, question: str, query: str, found: _Found, *, short: bool
                 ) -> tuple[tuple[Citation, ...], float, str | None]:
        """The answer's citations (none: abstain), its confidence, and the day a current-state answer is true
        as of. A question about the article itself (its author, its date) is answered from its byline when the
        head of the first passage's article writes it (`rag.byline`), with full confidence: the words are there."""
        if (about := byline_answer(query, found.passages, self.index.documents)) is not None:
            return (about if short else (replace(about[1], marker=1),)), 1.0, None
        chosen, rivals, current_as_of = self._choose(question, found)
        # a two-sentence answer's short answer is sought for the question its answer sentence answers
        bridged = self._bridged(found)
        asked = bridged.question if bridged else found.asked
        citations = cite_chosen(self.index.documents, asked, chosen, short=short, rivals=rivals,
                                searched=found.cands)
        return citations, bridged.confidence if bridged else found.confidence, current_as_of

    def _choose(self, question: str, found: _Found) -> tuple[list[Candidate], list[Candidate], str | None]:
        """The sentences that answer (none: abstain), the other articles' rival sentences to show beside them,
        and for a question on the current state ("who is the current...") the day its answer is true as of."""
        if bridged := self._bridged(found):
            return bridged.chosen(), [], None
        chosen = select(found.cands, confidence=found.confidence, params=self.params)
        if not chosen:
            return [], [], None
        if _CURRENT.search(question):
            chosen = self._newest(found.cands, chosen)
            return chosen, [], max((d for c in chosen if (d := self.index.documents[c.doc_id].date)), default=None)
        # other articles' sentences nearly as likely: a different value they give is shown too
        return chosen, self._rivals(found.cands, chosen), None

    def _bridged(self, found: _Found) -> Bridge | None:
        """The two sentences that answer together, when there are and the pair is judged answerable."""
        b = found.bridge
        return b if b is not None and b.confidence >= self.params.threshold else None

    def _search(self, request: Request, query: str, qvec: np.ndarray) -> _Found:
        """Retrieve and collect candidate sentences inside the request's hard limits: never an article dated
        after `as_of`, inside any explicit `since`/`until`, of the chosen outlets. The window of the question's
        own time words ("this week") is preferred by the reranker, never a filter (`rag.retrieve.windows`): an
        older article still answers when nothing inside it does."""
        searched, prefer = (windows(query, as_of=request.as_of, since=request.since, until=request.until)
                            if request.filtered else (None, None))  # date-less, outlet-less: searched as before
        allowed, where = limits(self.index, searched, request.sources)
        # the reranker's time features measure from the question's as_of (neutral without one)
        passages = retrieve(self.index, query, qvec if request.mode != "lexical" else None, k=request.k,
                            mode=request.mode, fusion=self.fusion, allowed=allowed, where=where,
                            reference=request.as_of, prefer=prefer)
        asked = without_counting_back(query, prefer)  # "this week" is the window's to read, not the sentences'
        cands = candidates(self.index, asked, qvec, passages, params=self.params)
        confidence = answerability(cands, asked, index=self.index, params=self.params)
        return _Found(passages, cands, confidence, self._described(searched, prefer, request, allowed),
                      bridge(self.index, asked, cands, params=self.params), asked)

    def _described(self, searched: TimeWindow | None, prefer: TimeWindow | None, request: Request,
                   allowed: np.ndarray | None) -> SearchWindow | None:
        """What was searched (`since`/`until`: the hard bounds; `sources`) and what was preferred (`phrase`, and
        the description's "preferring ..."): "articles up to 2024-06-14 from CNN, preferring 2024-06-07 to
        2024-06-14 (“this week”)"; the preferred bounds are also fields of their own."""
        if searched is None:
            return None
        notes = []
        if allowed is not None and not allowed.any():
            bounded = searched.since is not None  # only a window with a start leaves undated articles out
            outlets = f" from {', '.join(request.sources)}" if request.sources else ""
            notes.append(f"no article{outlets} is dated inside it"
                         + (" (undated articles are not searched when the window has a start)" if bounded else ""))
        # the outlets inside the description: what was searched reads as one phrase, before what was preferred
        description = searched.describe() + (f" from {', '.join(request.sources)}" if request.sources else "")
        if prefer is not None:
            weighed = request.mode == "hybrid" and self.fusion == "ranker" and self.index.lexical is not None
            description += f", preferring {_span(prefer)} (“{prefer.phrase}”)"
            if not weighed:
                notes.append(f"only the reranker of hybrid search prefers “{prefer.phrase}”; this search did not")
            elif not _overlap(searched, prefer):
                notes.append(f"no article searched can fall in “{prefer.phrase}”")
        return SearchWindow(
            since=searched.since.isoformat() if searched.since else None,
            until=searched.until.isoformat() if searched.until else None,
            phrase=prefer.phrase if prefer else None, description=description, sources=request.sources,
            note="; ".join(notes) or None,
            prefer_since=prefer.since.isoformat() if prefer and prefer.since else None,
            prefer_until=prefer.until.isoformat() if prefer and prefer.until else None)

    def _rivals(self, cands: list[Candidate], chosen: list[Candidate]) -> list[Candidate]:
        """Sentences of other articles nearly as likely to answer as the best chosen one and about the same fact:
        their meaning close to its own (sentence vectors' cosine at least `_SAME_FACT`)."""
        best = max(chosen, key=lambda c: c.probability)
        near = [c for c in cands[:_RIVALS] if c not in chosen and c.doc_id != best.doc_id
                and c.probability >= _RIVAL_RATIO * best.probability]
        if not near:
            return []
        rows = self.index.sentence_vector_rows([(c.doc_id, c.start, c.end) for c in [best, *near]])
        vectors = np.asarray(self.index.sentence_vectors[rows], dtype=np.float32)
        cos = vectors[1:] @ vectors[0]
        return [c for c, x in zip(near, cos, strict=True) if x >= _SAME_FACT]

    def _newest(self, cands: list[Candidate], chosen: list[Candidate]) -> list[Candidate]:
        """For a question on the current state: the candidate of the newest article among those within the
        answerer's `second_ratio` of the best, when it is newer than what `select` chose."""
        docs = self.index.documents
        close = [c for c in cands if c.probability >= self.params.second_ratio * cands[0].probability]

        def day(c: Candidate) -> str:
            return docs[c.doc_id].date or ""

        newest = max(close, key=lambda c: (day(c), c.probability))
        return [newest] if day(newest) > max(day(c) for c in chosen) else chosen

    def ask_stream(
        self,
        question: str,
        *,
        generator: Generator | str,
        history: Sequence[Message] | None = None,
        k: int = DEFAULT_K,
        mode: Mode = "hybrid",
        as_of: DateLike | None = None,
        since: DateLike | None = None,
        until: DateLike | None = None,
        sources: Sequence[str] | None = None,
    ) -> Iterator[str | Answer]:
        """Stream a generated answer: the unchecked text so far (str) as tokens arrive, then the checked Answer,
        which replaces it (the extractive answer or an abstention when too little of the text is supported)."""
        from rag.generative.answer import stream_answer

        gen = resolve_generator(generator)
        given = {"as_of": as_of, "since": since, "until": until, "sources": sources}
        dates = {key: v for key, v in given.items() if v is not None}
        base = self.ask(question, history=history, k=k, mode=mode, **dates)  # type: ignore[arg-type]
        if gen is None:
            yield base
            return
        yield from stream_answer(self.index, base, gen, embedder=self.embedder, history=history)


__all__ = ["Engine"]

