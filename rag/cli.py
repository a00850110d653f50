"""The `rag` command: index, ask, chat, eval. Reads configuration (flags, environment) and turns the library's
errors into one-line messages with exit code 2."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from rag.errors import RagError
from rag.question import ANSWERERS, DEFAULT_K, MODES
from rag.records import Answer, Document
from rag.terminal import JSON_SAFE, format_answer, visible


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--index-dir", type=Path, help="index folder (default: $RAG_INDEX_DIR or ./index)")
    p.add_argument("--model", help="embedding model name or local path (default: all-MiniLM-L6-v2)")
    p.add_argument("--store", metavar="URI",
                   help="where the index keeps its vectors and BM25: faiss, qdrant:PATH (embedded Qdrant) or "
                        "http(s)://HOST:6333 (a Qdrant server; API key from $QDRANT_API_KEY) (default: $RAG_STORE, "
                        "else the index's own; FAISS for a new index)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rag", description="Answer questions from news articles, citing exact spans.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("index", help="build or update the index from article files")
    p.add_argument("paths", nargs="*", type=Path, help="files or folders (default: the corpus last indexed, or seeds/)")
    p.add_argument("--rebuild", action="store_true", help="discard the index and embed everything again")
    p.add_argument("--no-resume", dest="resume", action="store_false",
                   help="start over instead of resuming a build that was stopped (builds save what they have "
                        "embedded every few minutes, and a stopped one resumes from there by default)")
    p.add_argument("--max-tokens", type=int, help="passage size in model tokens (default 128)")
    p.add_argument("--overlap", type=int, default=1, help="sentences shared by consecutive passages (default 1)")
    p.add_argument("--ray", metavar="ADDRESS",
                   help="embed on the actors of a Ray cluster (pip install 'rag-news[cluster]' on every node): auto "
                        "(the cluster running on this machine, else a new local one) or ray://HEAD:10001 (Ray "
                        "Client; set RAY_AUTH_MODE=token and the cluster's token if it has one); chunking and "
                        "writing stay in this process (default: $RAG_RAY, else no Ray)")
    p.add_argument("--ray-actors", type=int, metavar="N",
                   help="embedding actors on the Ray cluster, one CPU each (default: one per CPU of the cluster)")
    _common(p)

    p = sub.add_parser("ask", help="answer one question from the index")
    p.add_argument("question")
    p.add_argument("--json", action="store_true", help="print the Answer as JSON")
    p.add_argument("-k", type=int, default=DEFAULT_K, help=f"passages to retrieve (default {DEFAULT_K})")
    p.add_argument("--mode", choices=MODES, default="hybrid")
    p.add_argument("--history", type=Path, help="a JSON file of earlier chat messages [{role, content}, ...]")
    p.add_argument("--generator", metavar="PATH",
                   help="generate the answer with this local model folder (or model name), every sentence checked "
                        "against the sources (default: $RAG_GENERATOR, else extractive; 'none': extractive)")
    p.add_argument("--as-of", metavar="DAY",
                   help="answer as of this day (YYYY-MM-DD, or 'today'): no later article is used, and 'this "
                        "week', 'last month' in the question count back from it (default: no date bound)")
    p.add_argument("--since", metavar="DAY", help="search only articles dated on or after this day (YYYY-MM-DD)")
    p.add_argument("--until", metavar="DAY", help="search only articles dated on or before this day (YYYY-MM-DD)")
    p.add_argument("--source", dest="sources", action="append", metavar="OUTLET",
                   help="search only articles of this outlet (any case); repeat for several")
    p.add_argument("--answerer", choices=ANSWERERS, default="span",
                   help="span (default): lead with the short answer phrase, then the sentences that support it; "
                        "sentences: the sentences alone, as before the short answer")
    _common(p)

    sub.add_parser("chat", help="start the web chat", add_help=False)
    sub.add_parser("eval", help="score the engine on gold questions", add_help=False)
    sub.add_parser("bench", help="measure speed and memory", add_help=False)
    return parser


def _default_corpus(index_dir: Path) -> list[Path]:
    """The corpus recorded in the index's manifest, else the configured default (seeds/)."""
    from rag.collection import recorded_corpus
    from rag.config import Settings

    return recorded_corpus(index_dir) or list(Settings.from_env().corpus)


def cmd_index(args: argparse.Namespace) -> int:
    from rag.collection import Collection
    from rag.config import Settings, StoreSpec
    from rag.embed.model import Embedder, SentenceTransformerEmbedder
    from rag.index.index import ChunkSettings

    settings = Settings.from_env()
    index_dir = args.index_dir or settings.index_dir
    paths = args.paths or _default_corpus(index_dir)
    local = SentenceTransformerEmbedder(args.model or settings.model)
    embedder: Embedder = local
    address = args.ray or settings.ray
    if args.ray_actors is not None and not address:
        raise RagError("--ray-actors needs --ray (or $RAG_RAY): the actors are a Ray cluster's")
    if address:
        from rag.embed.cluster import RayEmbedder  # only here: `rag index` without --ray never imports Ray

        ray_embedder = RayEmbedder(local, address=address, actors=args.ray_actors)
        print(visible(f"Connecting to the Ray cluster at {address} ..."), file=sys.stderr)
        ray_embedder.connect()  # before reading the corpus: a wrong address fails in seconds
        embedder = ray_embedder
    chunking = ChunkSettings(max_tokens=args.max_tokens, overlap=args.overlap) if args.max_tokens else None
    print(visible(f"Indexing {', '.join(map(str, paths))} into {index_dir} ..."), file=sys.stderr)

    def waiting(pid: int | None) -> None:
        who = f"process {pid}" if pid is not None else "another process"
        print(visible(f"waiting for {who}, which is updating the index in {index_dir} ..."), file=sys.stderr)

    # The collection owns what is in the index: the chat's uploads and removals stay as they are.
    store = StoreSpec.parse(args.store, settings.store.api_key) if args.store else settings.store
    result = Collection(index_dir, paths, embedder=embedder, chunking=chunking, store=store).sync(
        rebuild=args.rebuild, progress=True, on_wait=waiting, resume=args.resume)
    r = result.report
    if result.resumed:
        print(visible(f"Resumed a build that was stopped: {result.resumed} documents were already embedded."),
              file=sys.stderr)
    if result.rebuilt:
        print(visible(f"Rebuilt from scratch ({result.rebuilt})."))
    print(
        f"{len(r.added)} added, {len(r.changed)} changed, {len(r.removed)} removed, {r.unchanged} unchanged; "
        f"{r.passages_embedded} passages and {r.sentences_embedded} sentences embedded in {r.seconds:.1f} s."
    )
    for err in result.ingest.failures:
        print(visible(f"  failed: {err}"), file=sys.stderr)
    if not result.ingest.documents:
        print("No document could be read: nothing is indexed.", file=sys.stderr)
        return 2
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    from rag.api import ask

    history = None
    if args.history:
        try:
            history = json.loads(args.history.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise RagError(f"cannot read the history file {args.history}: {exc}") from exc
        if not isinstance(history, list) or not all(isinstance(m, dict) for m in history):
            raise RagError(f"{args.history} must hold a JSON list of {{role, content}} messages")
    from rag.config import Settings

    generator = args.generator if args.generator is not None else Settings.from_env().generator
    generator = None if not generator or generator.lower() == "none" else generator
    if generator:  # fail fast on a bad model path, even for a question the generator would not be asked
        from rag.generative.model import get_generator

        get_generator(generator).load()
    if generator and not args.json and sys.stderr.isatty():
        answer = _ask_streaming(args, history, generator)
    else:
        answer = ask(args.question, history=history, k=args.k, mode=args.mode, index_dir=args.index_dir,
                     model=args.model, generator=generator, store=args.store, answerer=args.answerer,
                     **_dates(args))
    if args.json:
        print(json.dumps(answer.to_dict(), indent=2, ensure_ascii=False).translate(JSON_SAFE))
    else:
        print(format_answer(answer, documents=_documents(args) if any(c.also_in for c in answer.citations)
                            else None))
    return 0


def _documents(args: argparse.Namespace) -> Mapping[str, Document]:
    """The documents of the index `ask()` just answered from: its engine is cached, so this loads nothing."""
    from rag.api import get_engine

    return get_engine(args.index_dir, model=args.model).index.documents


def _dates(args: argparse.Namespace) -> dict[str, Any]:
    """The date and outlet options of `rag ask`, as `ask()` takes them (checked there)."""
    return {"as_of": args.as_of, "since": args.since, "until": args.until, "sources": args.sources}


def _ask_streaming(args: argparse.Namespace, history: list[dict[str, str]] | None, generator: str) -> Answer:
    """Show the generated text on stderr as it comes; return the checked answer, which is what gets printed."""
    from rag.api import get_engine

    shown = 0
    final: Answer | None = None
    for item in get_engine(args.index_dir, model=args.model, store=args.store).ask_stream(
        args.question, generator=generator, history=history, k=args.k, mode=args.mode, **_dates(args)
    ):
        if isinstance(item, Answer):
            final = item
        else:
            print(visible(item[shown:]), end="", file=sys.stderr, flush=True)
            shown = len(item)
    if shown:
        print("\n(checking each sentence against the sources...)\n", file=sys.stderr)
    assert final is not None  # ask_stream always ends with the Answer
    return final


def _checkout_on_path() -> None:
    """`rag eval` and `rag bench` run the harness and benchmarks of a checkout (eval/, bench/ beside rag/):
    they are not part of the installed package."""
    from rag.config import PROJECT_ROOT

    if (PROJECT_ROOT / "eval").is_dir() and str(PROJECT_ROOT) not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from rag.config import process_defaults

    process_defaults()
    # Subcommands with their own option parsers get the rest of the command line.
    if argv and argv[0] in ("chat", "eval", "bench"):
        module = {"chat": "rag.chat.app", "eval": "eval.harness", "bench": "bench.run"}[argv[0]]
        if argv[0] != "chat":
            _checkout_on_path()
        try:
            import importlib

            entry = importlib.import_module(module).main
        except ImportError as exc:
            where = "" if argv[0] == "chat" else "; run it from a checkout of the repository"
            print(visible(f"rag {argv[0]}: not available ({exc}){where}"), file=sys.stderr)
            return 2
        return _run(argv[0], lambda: int(entry(argv[1:]) or 0))
    args = _parser().parse_args(argv)
    return _run(args.command, lambda: {"index": cmd_index, "ask": cmd_ask}[args.command](args))


def _run(command: str, run: Callable[[], int]) -> int:
    """Run a subcommand: the library's errors and the system's (a full disk) become one line and exit code 2;
    a reader that went away (`rag ask ... | head -1`) ends the command quietly."""
    try:
        code = run()
        sys.stdout.flush()  # a closed pipe shows here, not as a traceback when Python exits
        return code
    except BrokenPipeError:
        # The standard way: nothing more can be written, and Python must not try again at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 141  # 128 + SIGPIPE, what a shell reports for a command ended by a closed pipe
    except (RagError, OSError) as exc:
        print(visible(f"rag {command}: {exc}"), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
