"""The engine: question in, `Answer` out. Loads the index and model once per process and reuses them."""

from __future__ import annotations

import threading
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from . import persist
from .answer import AnswerParams, answerability, candidates, load_params, select
from .cite import make_citation, render, verify
from .config import Settings
from .embed import Embedder, SentenceTransformerEmbedder
from .errors import CorpusError, IndexMismatchError, QuestionError
from .followup import rewrite
from .generate import Generator, resolve_generator
from .index import ChunkSettings, Index, UpdateReport
from .ingest import IngestResult, load_corpus
from .records import Answer
from .retrieve import DEFAULT_K, Mode, retrieve

MAX_QUESTION_CHARS = 2000
Message = Mapping[str, object]


def check_question(question: object) -> str:
    """The question, stripped; QuestionError when it is empty, too long or has no words."""
    if not isinstance(question, str):
        raise QuestionError(f"the question must be text, not {type(question).__name__}")
    q = question.strip()
    if not q:
        raise QuestionError("the question is empty: type a question about the articles")
    if len(q) > MAX_QUESTION_CHARS:
        raise QuestionError(f"the question is {len(q):,} characters long; the limit is {MAX_QUESTION_CHARS:,}")
    if not any(ch.isalnum() for ch in q):
        raise QuestionError("the question has no words in it")
    return "".join(ch if ch.isprintable() or ch in "\n\t" else " " for ch in q)


@dataclass(frozen=True, slots=True)
class BuildResult:
    report: UpdateReport
    ingest: IngestResult
    rebuilt: str | None  # why the old index was discarded, if it was


def build_index(
    index_dir: str | Path,
    corpus: Sequence[str | Path],
    *,
    embedder: Embedder,
    chunking: ChunkSettings | None = None,
    rebuild: bool = False,
    progress: bool = False,
    exclude: Collection[str] = (),
) -> BuildResult:
    """Bring the index in `index_dir` in line with the files under `corpus`: only what changed is embedded.

    Documents whose ids are in `exclude` (removed by a user) are left out. An index built with another model,
    format or chunking is rebuilt from scratch, never mixed.
    """
    index_dir = Path(index_dir)
    ingest = load_corpus(corpus)
    if exclude:
        ingest = replace(ingest, documents=tuple(d for d in ingest.documents if d.id not in exclude))
    if not ingest.documents:
        raise CorpusError(f"no document could be read, so nothing was indexed ({ingest.summary()})")
    with persist.lock(index_dir):
        index, why = None, "requested" if rebuild else None
        if not rebuild and persist.exists(index_dir):
            try:
                index = Index.load(index_dir)
                index.check_model(embedder)
                if chunking and chunking != index.chunking:
                    raise IndexMismatchError(f"chunking changed from {index.chunking} to {chunking}")
            except IndexMismatchError as exc:
                index, why = None, str(exc)
        if index is None:
            index = Index.create(embedder, chunking=chunking)
        # A file still listed but unreadable this time (damaged, vanished mid-scan) keeps its last good version.
        kept = [index.documents[d] for d in ingest.unreadable() if d in index.documents]
        report = index.sync([*ingest.documents, *kept], embedder=embedder, progress=progress)
        corpus_ids = tuple(str(Path(p).resolve()) for p in corpus)
        stale = report.touched or why or index.lexical_rebuilt or index.corpus != corpus_ids
        if stale or not persist.exists(index_dir):
            index.corpus = corpus_ids
            index.save(index_dir)
    return BuildResult(report=report, ingest=ingest, rebuilt=why)


class Engine:
    """A loaded index and embedding model, answering questions. Thread-safe for concurrent `ask` calls."""

    def __init__(self, index: Index, embedder: Embedder, *, params: AnswerParams | None = None) -> None:
        index.check_model(embedder)
        self.index = index
        self.embedder = embedder
        self.params = params or load_params()

    @classmethod
    def open(cls, index_dir: str | Path, *, model: str | None = None) -> Engine:
        return cls(Index.load(index_dir), SentenceTransformerEmbedder(model))

    def ask(
        self,
        question: str,
        *,
        history: Sequence[Message] | None = None,
        k: int = DEFAULT_K,
        mode: Mode = "hybrid",
        generator: Generator | str | None = None,
    ) -> Answer:
        """The answer to `question`; see `ask()`. With a `generator` (a model folder or name, or a Generator),
        the answer is generated from the passages and checked sentence by sentence (`rag.generative`)."""
        t0 = time.perf_counter()
        question = check_question(question)
        query = rewrite(question, history)
        t1 = time.perf_counter()
        qvec = self.embedder.embed([query])[0] if mode != "lexical" else None
        t2 = time.perf_counter()
        passages = retrieve(self.index, query, qvec, k=k, mode=mode)
        t3 = time.perf_counter()
        if qvec is None:  # answer selection compares sentence vectors with the question's, whatever the mode
            qvec = self.embedder.embed([query])[0]
        cands = candidates(self.index, query, qvec, passages, params=self.params)
        chosen = select(cands, params=self.params)
        docs = self.index.documents
        citations = tuple(
            make_citation(docs[c.doc_id], c.start, c.end, marker=i, passage_id=c.passage.passage.id)
            for i, c in enumerate(chosen, 1)
        )
        if citations:
            text = render([(c.quote, c.marker) for c in citations])
        else:
            text = (f"The articles do not say. Nothing in the indexed articles answers “{question}”; "
                    "the closest passages are listed below.")
        verify(text, citations, docs)
        t4 = time.perf_counter()
        ms = {"rewrite_ms": t1 - t0, "embed_ms": t2 - t1, "retrieve_ms": t3 - t2, "answer_ms": t4 - t3,
              "total_ms": t4 - t0}
        answer = Answer(
            text=text,
            citations=citations,
            passages=tuple(passages),
            abstained=not citations,
            query=query,
            question=question,
            timings={key: round(v * 1000, 3) for key, v in ms.items()},
            confidence=round(answerability(cands, params=self.params), 4),
            supported=tuple(True for _ in citations),
        )
        gen = resolve_generator(generator)
        if gen is None:
            return answer
        from .generative import generative_answer  # the generative path's imports stay off the default one

        return generative_answer(self.index, answer, gen, embedder=self.embedder, history=history)

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
        from .generative import stream_answer

        gen = resolve_generator(generator)
        base = self.ask(question, history=history, k=k, mode=mode)
        if gen is None:
            yield base
            return
        yield from stream_answer(self.index, base, gen, embedder=self.embedder, history=history)


_engines: dict[tuple[str, str | None], Engine] = {}
_engines_lock = threading.Lock()


def get_engine(index_dir: str | Path | None = None, *, model: str | None = None) -> Engine:
    """The process-wide engine for `index_dir`, loaded once. With no `index_dir`, the default index is used,
    built on the corpus of `Settings` (seeds/) when it is missing or stale."""
    settings = Settings.from_env()
    model = model or settings.model
    default = index_dir is None
    path = Path(index_dir) if index_dir is not None else settings.index_dir
    key = (str(path.resolve()), model)
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            embedder = SentenceTransformerEmbedder(model)
            if default:
                # The default index is the chat's too: its uploads and removals are part of it.
                from .library import Library

                library = Library(path, settings.corpus, embedder=embedder)
                library.sync()
                engine = _engines[key] = library.engine
            else:
                engine = _engines[key] = Engine(Index.load(path), embedder)
        return engine


def forget_engines() -> None:
    """Drop the cached engines (after an index was rebuilt by this process, say)."""
    with _engines_lock:
        _engines.clear()


def ask(
    question: str,
    *,
    history: Sequence[Message] | None = None,
    k: int = DEFAULT_K,
    mode: Mode = "hybrid",
    index_dir: str | Path | None = None,
    model: str | None = None,
    generator: Generator | str | None = None,
) -> Answer:
    """Answer `question` from the indexed articles, quoting and citing the exact sentences it relies on.

    `history` is the conversation so far as chat messages ({"role": "user"|"assistant", "content": str});
    a follow-up is resolved against it and the query used is `Answer.query`. `k` passages are retrieved by
    `mode` ("hybrid", "dense" or "lexical"). With no `index_dir` the default index on seeds/ is used (built on
    first use). Models and index are loaded once per process and reused.

    With a `generator` (a local model folder, a model name, or a `rag.generate.Generator`) the answer is
    written by that model from the numbered passages and every sentence is checked against them: supported
    sentences cite exact source spans, unsupported ones are marked `[unsupported]`, and when too little is
    supported the extractive answer comes back instead (`Answer.answerer` says which). Without one, the
    extractive answer is returned, as always.
    """
    check_question(question)  # a refused question need not load a model first
    return get_engine(index_dir, model=model).ask(question, history=history, k=k, mode=mode, generator=generator)



