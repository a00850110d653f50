"""`rag chat`: build the index if it is missing or stale, then serve the web chat (http://127.0.0.1:7860)."""

from __future__ import annotations

import argparse
import ipaddress
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rag.errors import RagError, require

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="rag chat", description="Serve the web chat over the indexed articles.")
    p.add_argument("--host", default=DEFAULT_HOST,
                   help=f"address to listen on (default {DEFAULT_HOST}: this machine only)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    p.add_argument("--index-dir", type=Path, help="index folder (default: $RAG_INDEX_DIR or ./index)")
    p.add_argument("--corpus", type=Path, action="append",
                   help="article file or folder to index (repeatable; default: the corpus the index was last built "
                        "from, else $RAG_CORPUS or seeds/)")
    p.add_argument("--model", help="embedding model name or local path (default: all-MiniLM-L6-v2)")
    p.add_argument("--store", metavar="URI",
                   help="the index's vector store: faiss, qdrant:PATH or http(s)://HOST:6333 (default: $RAG_STORE, "
                        "else the index's own)")
    p.add_argument("--auth", metavar="USER:PASSWORD",
                   help="require this login (default: $RAG_CHAT_AUTH; none). Needed to listen beyond this machine "
                        "safely")
    p.add_argument("--examples", type=Path, help="a file of example questions, one per line "
                                                  "(default: made from the names the articles mention most)")
    p.add_argument("--generator", metavar="PATH",
                   help="write answers with this local text generator, every sentence checked against the sources "
                        "(default: $RAG_GENERATOR, else quoted answers; 'none': quoted answers)")
    p.add_argument("--max-upload-mb", type=float, default=20.0, help="size limit of one uploaded file (default 20)")
    p.add_argument("--concurrency", type=int, default=8, help="questions answered at once (default 8)")
    return p.parse_args(list(argv))


def parse_auth(value: str | None) -> tuple[str, str] | None:
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise RagError("--auth (or $RAG_CHAT_AUTH) must be USER:PASSWORD, both non-empty")
    return user, password


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def exposure_warning(host: str, auth: tuple[str, str] | None) -> str | None:
    """The warning printed when the chat listens beyond this machine without a login, else None."""
    if is_loopback(host) or auth:
        return None
    return (f"WARNING: listening on {host} without authentication: anyone who can reach this machine can read the "
            "indexed articles and add or remove documents. Use --auth USER:PASSWORD (or $RAG_CHAT_AUTH), or "
            f"--host {DEFAULT_HOST}.")


def start(demo: Any, *, host: str, port: int, auth: tuple[str, str] | None, max_file_size: int,
          concurrency: int = 8) -> None:
    """Serve `demo` (from `rag.chat.blocks.build`) in the background: queue, login, upload limit, styles."""
    from rag.chat.render import CSS

    demo.queue(default_concurrency_limit=concurrency)
    try:
        demo.launch(server_name=host, server_port=port, auth=auth, max_file_size=max_file_size, css=CSS,
                    ssr_mode=False, show_error=True, quiet=True, prevent_thread_lock=True, footer_links=["api"])
    except OSError as exc:
        raise RagError(f"cannot listen on {host}:{port}: {exc}") from exc


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    t0 = time.perf_counter()
    auth = parse_auth(args.auth or os.environ.get("RAG_CHAT_AUTH"))
    if warning := exposure_warning(args.host, auth):
        print(warning, file=sys.stderr)
    if not 1 <= args.port <= 65535:
        raise RagError(f"--port must be between 1 and 65535, not {args.port}")
    # Gradio would otherwise phone home on start (no network here, and none is needed).
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    require("gradio", package="gradio")

    from rag.chat import examples as ex
    from rag.chat.blocks import build
    from rag.collection import Collection, recorded_corpus
    from rag.config import Settings, StoreSpec
    from rag.embed.model import SentenceTransformerEmbedder, embed_queries

    settings = Settings.from_env()
    index_dir = args.index_dir or settings.index_dir
    # An existing index keeps the corpus it was built from: seeds/ in its place would remove every article of it.
    corpus = args.corpus or recorded_corpus(index_dir) or list(settings.corpus)
    print("Loading the embedding model ...", file=sys.stderr)
    embedder = SentenceTransformerEmbedder(args.model or settings.model)
    store = StoreSpec.parse(args.store, settings.store.api_key) if args.store else settings.store
    library = Collection(index_dir, corpus, embedder=embedder, max_upload_bytes=int(args.max_upload_mb * 2**20),
                         store=store)
    print(f"Indexing {', '.join(map(str, corpus))} into {index_dir} ...", file=sys.stderr)
    result = library.sync(progress=True)
    r = result.report
    print(f"Index ready: {len(r.added)} added, {len(r.changed)} changed, {len(r.removed)} removed, "
          f"{r.unchanged} unchanged" + (f" (rebuilt: {result.rebuilt})" if result.rebuilt else "") + ".",
          file=sys.stderr)
    for err in result.ingest.failures:
        print(f"  not indexed: {err}", file=sys.stderr)
    embed_queries(embedder, ["warm up"])  # the model loads on first use: pay that before the page says it is ready
    docs = library.engine.index.documents.values()
    questions = ex.read_examples(args.examples) if args.examples else ex.suggest(docs)
    generator = args.generator if args.generator is not None else settings.generator
    generator = None if not generator or generator.lower() == "none" else generator
    demo = build(library, examples=questions, concurrency=args.concurrency, generator=generator)
    start(demo, host=args.host, port=args.port, auth=auth, max_file_size=library.max_upload_bytes,
          concurrency=args.concurrency)
    print(f"Chat ready at {demo.local_url} ({time.perf_counter() - t0:.1f} s after start); Ctrl+C stops it.",
          flush=True)
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops the server as cleanly as Ctrl+C does
    try:
        demo.block_thread()
    finally:
        demo.close()
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
