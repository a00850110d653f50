"""`rag eval`: gold questions in, a scorecard out.

    rag eval --corpus PATH --gold FILE [--k 10] [--limit N --seed S] [--out DIR] [--mode hybrid|dense|lexical]
             [--fusion ranker|rrf] [--max-tokens N] [--overlap N] [--model M] [--answerer NAME] [--cache-dir DIR]
             [--baselines langchain,llamaindex]
    rag eval --compare A B

The index for a corpus is built once into the cache folder and reused while the corpus and settings are
unchanged. Each question goes through `Engine.ask`, timed from outside; the answer is scored against the gold
file (eval.metrics) and the figures are written as report.json, results.jsonl and report.md (eval.report).
"""

from __future__ import annotations

import contextlib
import inspect
import os
import resource
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from rag.config import PROJECT_ROOT
from rag.embed.model import Embedder
from rag.embed.query import version as query_version
from rag.errors import RagError, require
from rag.index.index import ChunkSettings
from rag.question import FUSIONS, MODES, Mode
from rag.rank.model import version
from rag.records import Answer, Document
from rag.span.reader import version as reader_version

from . import cache, report, tables
from .baselines import PeerRun, check_installed, side_by_side, start_peers
from .compare import compare
from .gold import GoldQuestion
from .inputs import Inputs, read_inputs
from .metrics import cites_after_as_of, extra_figures, failed, score_answer, summarize
from .options import EvalSettings, dataset_name, parser, settings_from_args
from .records import QuestionRun

OUT_ROOT = PROJECT_ROOT / "eval" / "out"
PEAK_MEMORY_METHOD = "resource.getrusage(RUSAGE_SELF).ru_maxrss: peak RSS of the whole harness process"


class Asker(Protocol):
    """What the harness needs of an engine."""

    def ask(self, question: str, *, k: int = ..., mode: Mode = ...) -> Answer: ...


def ask_options(engine: Asker, answerer: str | None, generator: str | None = None) -> dict[str, Any]:
    """Keyword arguments for `engine.ask` beyond k and mode: `answerer` and `generator` only where the engine's
    ask() takes them, else a clear error (an extractive answerer needs no option: it is the default)."""
    params = inspect.signature(engine.ask).parameters
    options: dict[str, Any] = {}
    if answerer is not None:
        if "answerer" in params:
            options["answerer"] = answerer
        elif answerer not in ("extractive", "span"):
            hint = " (it takes generator=MODEL: use --generator MODEL)" if "generator" in params else ""
            raise RagError(f"--answerer {answerer}: this engine's ask() takes no 'answerer' argument{hint}; "
                           "only the default extractive answerer is available")
    if generator is not None:
        if "generator" not in params:
            raise RagError(f"--generator {generator}: this engine's ask() takes no 'generator' argument")
        options["generator"] = generator
    return options


def evaluate(
    engine: Asker,
    questions: Sequence[GoldQuestion],
    documents: dict[str, Document],
    *,
    k: int,
    mode: Mode,
    options: dict[str, Any] | None = None,
    peers: Sequence[PeerRun] = (),
    clock: Callable[[], float] = time.perf_counter,
    progress: bool = False,
    as_of: bool = False,
) -> list[QuestionRun]:
    """Ask every question, timing each ask() from outside, and score the answers. Each of `peers` is asked
    the same question right after, so that their latencies are measured under the same load. With `as_of`,
    each question that has a `date` is asked as of that day."""
    from tqdm import tqdm

    runs = []
    for q in tqdm(questions, desc="questions", unit="q", disable=not progress, file=sys.stderr):
        dated = {"as_of": q.extra["date"]} if as_of and isinstance(q.extra.get("date"), str) else {}
        t0 = clock()
        try:
            answer = engine.ask(q.question, k=k, mode=mode, **(options or {}), **dated)
        except RagError as exc:  # a bug or a bad gold question: recorded and reported, the run goes on
            runs.append(QuestionRun(q, None, failed(q, f"{type(exc).__name__}: {exc}")))
        else:
            ms = (clock() - t0) * 1000
            runs.append(QuestionRun(q, answer, score_answer(q, answer, documents, latency_ms=ms, k=k)))
        for peer in peers:
            peer.ask(q)
    return runs


def peak_memory_mib() -> float:
    # ru_maxrss is in KiB on Linux (bytes on macOS).
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (2**20 if sys.platform == "darwin" else 2**10)


def default_out(settings: EvalSettings) -> Path:
    fusion = "-rrf" if settings.mode == "hybrid" and settings.fusion == "rrf" else ""
    name = f"{dataset_name(settings.gold)}-{settings.mode}{fusion}-k{settings.k}"
    if settings.limit:
        name += f"-n{settings.limit}-s{settings.seed}"
    return OUT_ROOT / name


@dataclass(frozen=True, slots=True)
class Prepared:
    """The engine a run asks, with how long its index took to build and what report.json says of the index."""

    engine: Asker
    build_s: float
    index_info: dict[str, Any]


def check_settings(settings: EvalSettings) -> None:
    """Refuse settings no run can use, before anything is read."""
    if settings.k < 1:
        raise RagError(f"--k must be at least 1, not {settings.k}")
    if settings.mode not in MODES:
        raise RagError(f"unknown search mode {settings.mode!r}: use one of {', '.join(MODES)}")
    if settings.fusion not in FUSIONS:
        raise RagError(f"unknown fusion {settings.fusion!r}: use one of {', '.join(FUSIONS)}")


def cached_engine(
    settings: EvalSettings,
    inputs: Inputs,
    *,
    embedder: Embedder | None,
    clock: Callable[[], float],
    progress: bool,
    echo: Callable[[str], None],
) -> Prepared:
    """An engine over the corpus's index, taken from the cache or built there with `embedder` (default: the
    model of `settings.model`)."""
    from rag.embed.model import SentenceTransformerEmbedder
    from rag.engine import Engine
    from rag.index import stores
    from rag.index.index import Index

    documents = inputs.documents
    embedder = embedder or SentenceTransformerEmbedder(settings.model, query_adapter=settings.query_adapter)
    chunking = ChunkSettings(max_tokens=settings.max_tokens or min(128, embedder.max_tokens),
                             overlap=settings.overlap)
    echo(f"Index for {settings.corpus} ({len(documents)} documents) ...")
    cached = cache.prepare(inputs.corpus, list(documents.values()),
                           cache_root=settings.cache_dir or OUT_ROOT / "cache",
                           name=dataset_name(settings.gold), embedder=embedder, chunking=chunking,
                           progress=progress, clock=clock, store=settings.store)
    t0 = clock()
    engine = Engine(Index.load(cached.folder, store=settings.store, mapped=True), embedder, fusion=settings.fusion)
    build_s = cached.build_s
    index_info = {"built": not cached.reused, "reused": cached.reused, "folder": str(cached.folder),
                  "key": cached.key, "corpus_fingerprint": cached.corpus_fingerprint,
                  "indexing_code": cache.indexing_code_fingerprint(),
                  "store": stores.entry(engine.index.store).get("uri") or stores.entry(engine.index.store)["kind"],
                  "load_s": round(clock() - t0, 3), "passages": len(engine.index.passages),
                  "sentences": len(engine.index.sentences), "model": engine.index.model,
                  "max_tokens": chunking.max_tokens, "overlap": chunking.overlap}
    echo(("Reused" if cached.reused else "Built") + f" index {cached.folder} (build {build_s:.1f} s)")
    return Prepared(engine, build_s, index_info)


def ask_all(
    settings: EvalSettings,
    engine: Asker,
    inputs: Inputs,
    *,
    clock: Callable[[], float],
    progress: bool,
    echo: Callable[[str], None],
) -> tuple[list[QuestionRun], list[PeerRun], float]:
    """Warm the engine up, start the baselines, and ask every question. Returns the runs, the peers (their
    scores inside) and the peak memory in MiB taken before the peers loaded."""
    questions, documents = inputs.questions, inputs.documents
    options = ask_options(engine, settings.answerer, settings.generator)
    # One untimed ask first: lazy loading belongs to start-up (rag bench measures it), not to a question. If it
    # fails, it fails again and is recorded when its turn comes.
    with contextlib.suppress(RagError):
        engine.ask(questions[0].question, k=settings.k, mode=settings.mode, **options)
    # Taken before the peers load their own copies of the model into this process.
    peak_mib = peak_memory_mib()
    peers = start_peers(settings.baselines, list(documents.values()), k=settings.k, model=settings.model,
                        clock=clock, echo=echo) if settings.baselines else []
    as_of = settings.as_of and "as_of" in inspect.signature(engine.ask).parameters
    runs = evaluate(engine, questions, documents, k=settings.k, mode=settings.mode, options=options,
                    peers=peers, clock=clock, progress=progress, as_of=as_of)
    return runs, peers, peak_mib


def full_report(
    settings: EvalSettings,
    inputs: Inputs,
    prepared: Prepared,
    runs: Sequence[QuestionRun],
    peers: Sequence[PeerRun],
    *,
    peak_mib: float,
    t_start: float,
    clock: Callable[[], float],
) -> dict[str, Any]:
    """report.json's document for a finished run; eval_s runs from `t_start` to now."""
    scores = [r.score for r in runs]
    build_s, documents = prepared.build_s, inputs.documents
    baselines: dict[str, Any] = {}
    if peers:
        index = getattr(prepared.engine, "index", None)
        ours_passages = [(p.start, p.end) for p in index.passages.values()] if index is not None else []
        baselines = side_by_side(peers, runs, k=settings.k, build_s=build_s, passages=ours_passages)
    more = extra_figures(scores, k=settings.k)
    more["cites_after_as_of"] = cites_after_as_of([(r.question, r.answer) for r in runs])
    return report.build(
        settings=settings,
        metrics=summarize(scores, k=settings.k, build_s=round(build_s, 3)),
        more=more,
        runs=runs,
        corpus={"paths": [str(p) for p in inputs.corpus], "documents": len(documents),
                "ingest_failures": inputs.failures,
                "fingerprint": cache.corpus_fingerprint(list(documents.values()))},
        gold={"path": str(settings.gold), "dataset": dataset_name(settings.gold),
              "questions_in_file": len(inputs.gold), "questions_run": len(inputs.questions)},
        index=prepared.index_info,
        cost={"peak_memory_mib": round(peak_mib if peers else peak_memory_mib(), 1),
              "peak_memory_method": PEAK_MEMORY_METHOD + (", taken before the baselines loaded" if peers else ""),
              "eval_s": round(clock() - t_start, 3)},
        baselines=baselines,
    )


def run(
    settings: EvalSettings,
    *,
    embedder: Embedder | None = None,
    engine: Asker | None = None,
    clock: Callable[[], float] = time.perf_counter,
    progress: bool = False,
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Evaluate and write report.json, results.jsonl and report.md under `settings.out`; return the report.

    With `engine` given, it answers as is (no index is built: build_s is 0); otherwise the corpus's index is
    taken from the cache or built there with `embedder` (default: the model of `settings.model`).
    """
    check_settings(settings)
    if settings.mode == "hybrid" and settings.fusion == "ranker":
        settings = replace(settings, ranker=version())  # which model reranked, in report.json's settings
    if settings.answerer in (None, "span"):
        settings = replace(settings, reader=reader_version())  # which model found the short answers
    t_start = clock()
    inputs = read_inputs(settings)
    prepared = (Prepared(engine, 0.0, {"built": False}) if engine is not None else
                cached_engine(settings, inputs, embedder=embedder, clock=clock, progress=progress, echo=echo))
    if getattr(getattr(prepared.engine, "embedder", None), "queries", None) is not None:  # the trained adapters
        settings = replace(settings, query_encoder=query_version())
    runs, peers, peak_mib = ask_all(settings, prepared.engine, inputs, clock=clock, progress=progress, echo=echo)
    full = full_report(settings, inputs, prepared, runs, peers, peak_mib=peak_mib, t_start=t_start, clock=clock)
    out = settings.out or default_out(settings)
    report.write(full, runs, out, peers={p.peer.name: p.scores for p in peers})
    echo(tables.terminal_table(full))
    late = full["more"]["cites_after_as_of"]
    mode = "each question's date" if settings.as_of else "off (--no-as-of)"
    echo(f"as_of: {mode} · cites_after_as_of {late['share'] if late['share'] is not None else 'n/a'} "
         f"({late['late']} of {late['answered_dated']} answered dated questions)")
    echo(f"Wrote {out / 'report.json'}, {out / 'results.jsonl'} and {out / 'report.md'}")
    return full


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `rag eval` (argv without the subcommand). Returns the exit code."""
    args = parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.compare:
        print(compare(*args.compare))
        return 0
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    settings = settings_from_args(args)
    require("matplotlib", extra="eval")  # checked now, not after minutes of questions
    if settings.baselines:
        check_installed(settings.baselines)
    full = run(settings, progress=not args.no_progress)
    return 1 if full["more"]["invalid_span_questions"] or full["more"]["errors"] else 0

