"""The public entry points: `ask()` and `get_engine()`, one engine per index and model, loaded once per process.

This is the Python edge of the library: it alone (with the CLI and the chat) reads `rag.config.Settings`.
A question only reads: it never takes the index's writer lock, so it never waits behind an upload or a build.
The default index is built on the configured corpus (seeds/) only when there is none yet.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Sequence
from pathlib import Path

from rag.collection import Collection
from rag.config import Settings, StoreSpec, process_defaults
from rag.embed.model import SentenceTransformerEmbedder
from rag.engine import Engine
from rag.generative.protocol import Generator
from rag.index import disk
from rag.question import DEFAULT_K, Answerer, Message, Mode, check_answerer, check_history, check_request
from rag.records import Answer

_engines: dict[tuple[str, str | None, str | None], Engine] = {}
_engines_lock = threading.Lock()


def get_engine(
    index_dir: str | Path | None = None, *, model: str | None = None, store: str | None = None
) -> Engine:
    """The process-wide engine for `index_dir` (default: $RAG_INDEX_DIR or ./index), loaded once. `store` is
    the URI of its vector store ($RAG_STORE; default: the index's own, see `rag.config.StoreSpec`).

    The index is read as it is. Only when the default index does not exist yet is it built, on the configured
    corpus ($RAG_CORPUS or seeds/), through its `Collection`; `rag index` and the chat keep it up to date.
    """
    settings = Settings.from_env()
    process_defaults()
    model = model or settings.model
    path = Path(index_dir) if index_dir is not None else settings.index_dir
    spec = StoreSpec.parse(store, settings.store.api_key) if store else settings.store
    key = (str(path.resolve()), model, spec.uri)
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            embedder = SentenceTransformerEmbedder(model)
            if index_dir is None and not disk.exists(path):
                Collection(path, settings.corpus, embedder=embedder, store=spec).sync()
            engine = _engines[key] = Engine.open_with(path, embedder, store=spec)
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
    as_of: str | dt.date | None = None,
    since: str | dt.date | None = None,
    until: str | dt.date | None = None,
    sources: Sequence[str] | None = None,
    store: str | None = None,
    answerer: Answerer = "span",
) -> Answer:
    """Answer `question` from the indexed articles, quoting and citing the exact sentences it relies on.

    The answer leads with its short answer, the phrase that answers the question ("Yasar Guler"), cited as an
    exact span inside the sentence cited after it (`Answer.short_answer`; a citation of role "answer"), when
    one is found; "why" and "how" questions are answered with sentences. `answerer="sentences"` quotes the
    sentences alone, as before the short answer.

    `history` is the conversation so far as chat messages ({"role": "user"|"assistant", "content": str});
    a follow-up is resolved against it and the query used is `Answer.query`. `k` passages (1 to 100) are
    retrieved by `mode` ("hybrid", "dense" or "lexical"). With no `index_dir` the default index is used (built
    on the configured corpus the first time). Models and index are loaded once per process and reused.
    A bad question, `k`, `mode` or `history` raises `rag.QuestionError` before anything is loaded.

    With a `generator` (a local model folder, a model name, or a `rag.generative.model.Generator`) the answer
    is written by that model from the numbered passages and every sentence is checked against them: supported
    sentences cite exact source spans, unsupported ones are marked `[unsupported]`, and when too little is
    supported the extractive answer comes back instead (`Answer.answerer` says which).

    News is dated. `as_of` (an ISO day "2024-06-14" or a `datetime.date`; default None, no bound) answers as
    of that day: no article dated later is searched, and the question's relative time ("this week", "last
    month", "in March") is read against it into a window the reranker prefers, never a filter: an older
    article still answers when none inside it does. `since`/`until` bound the dates searched; `sources` keeps
    only articles of those outlets (any case). Undated articles are left out only when a window has a start
    (`since`). Both searches apply these hard limits inside themselves, and `Answer.window` says what was
    searched and what was preferred. A question on the current
    state ("who is the current ...", "latest", "still") prefers the newest article and says of when it is
    true in `Answer.current_as_of`.

    `store` is the URI of the index's vector store ("qdrant:PATH", "http://host:6333"; default $RAG_STORE, else
    the index's own): a Qdrant server's API key comes from $QDRANT_API_KEY.
    """
    # A refused question need not load a model first.
    check_request(question, k=k, mode=mode, as_of=as_of, since=since, until=until, sources=sources)
    check_history(history)
    check_answerer(answerer)
    engine = get_engine(index_dir, model=model, store=store)
    return engine.ask(question, history=history, k=k, mode=mode, generator=generator, as_of=as_of, since=since,
                      until=until, sources=sources, answerer=answerer)
