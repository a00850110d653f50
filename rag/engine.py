"""The engine: question in, `Answer` out, over one loaded index. It only reads: building and changing an index
is `rag.collection`'s job, and no question ever takes the index's writer lock."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from rag.cite import make_citation, render, verify
from rag.embed.model import Embedder, SentenceTransformerEmbedder
from rag.extractive import AnswerParams, Candidate, answerability, candidates, load_params, select
from rag.followup import rewrite
from rag.generative.model import resolve_generator
from rag.generative.protocol import Generator
from rag.index.index import Index
from rag.question import DEFAULT_K, Fusion, Message, Mode, check_fusion, check_history, check_question, check_request
from rag.records import Answer, Citation
from rag.retrieve import retrieve


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
    def open(cls, index_dir: str | Path, *, model: str | None = None) -> Engine:
        """The engine over the index in `index_dir`, read as it is (never built or updated here)."""
        return cls.open_with(index_dir, SentenceTransformerEmbedder(model))

    @classmethod
    def open_with(cls, index_dir: str | Path, embedder: Embedder) -> Engine:
        """The engine over the index in `index_dir` with an embedder already made."""
        return cls(Index.load(index_dir), embedder)

    def ask(
        self,
        question: str,
        *,
        history: Sequence[Message] | None = None,
        k: int = DEFAULT_K,
        mode: Mode = "hybrid",
        generator: Generator | str | None = None,
    ) -> Answer:
        """The answer to `question`; see `rag.ask`. With a `generator` (a model folder or name, or a Generator),
        the answer is generated from the passages and checked sentence by sentence (`rag.generative`)."""
        t0 = time.perf_counter()
        request = check_request(question, k=k, mode=mode)
        history = check_history(history)
        # A follow-up is rewritten from the conversation: the query searched obeys the question's own limits.
        query = check_question(rewrite(request.question, history), what="the question rewritten from the history")
        t1 = time.perf_counter()
        qvec = self.embedder.embed([query])[0]  # answer selection compares sentence vectors with it in every mode
        t2 = time.perf_counter()
        passages = retrieve(self.index, query, qvec if request.mode != "lexical" else None, k=request.k,
                            mode=request.mode, fusion=self.fusion)
        t3 = time.perf_counter()
        cands = candidates(self.index, query, qvec, passages, params=self.params)
        citations = self._cite(select(cands, params=self.params))
        if citations:
            text = render([(c.quote, c.marker) for c in citations])
        else:
            text = (f"The articles do not say. Nothing in the indexed articles answers “{request.question}”; "
                    "the closest passages are listed below.")
        verify(text, citations, self.index.documents)
        t4 = time.perf_counter()
        ms = {"rewrite_ms": t1 - t0, "embed_ms": t2 - t1, "retrieve_ms": t3 - t2, "answer_ms": t4 - t3,
              "total_ms": t4 - t0}
        answer = Answer(
            text=text,
            citations=citations,
            passages=tuple(passages),
            abstained=not citations,
            query=query,
            question=request.question,
            timings={key: round(v * 1000, 3) for key, v in ms.items()},
            confidence=round(answerability(cands, params=self.params), 4),
            supported=tuple(True for _ in citations),
        )
        gen = resolve_generator(generator)
        if gen is None:
            return answer
        from rag.generative.answer import generative_answer  # the generative path's imports stay off the default one

        return generative_answer(self.index, answer, gen, embedder=self.embedder, history=history)

    def _cite(self, chosen: list[Candidate]) -> tuple[Citation, ...]:
        docs = self.index.documents
        return tuple(
            make_citation(docs[c.doc_id], c.start, c.end, marker=i, passage_id=c.passage.passage.id)
            for i, c in enumerate(chosen, 1)
        )

    def ask_stream(
        self,
        question: str,
        *,
        generator: Generator | str,
        history: Sequence[Message] | None = None,
        k: int = DEFAULT_K,
        mode: Mode = "hybrid",
    ) -> Iterator[str | Answer]:
        """Stream a generated answer: the unchecked text so far (str) as tokens arrive, then the checked Answer,
        which replaces it (the extractive answer or an abstention when too little of the text is supported)."""
        from rag.generative.answer import stream_answer

        gen = resolve_generator(generator)
        base = self.ask(question, history=history, k=k, mode=mode)
        if gen is None:
            yield base
            return
        yield from stream_answer(self.index, base, gen, embedder=self.embedder, history=history)


__all__ = ["Engine"]
