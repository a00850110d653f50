"""The settings of one evaluation run, and the `rag eval` command line that fills them in."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.config import StoreSpec
from rag.errors import RagError
from rag.question import FUSIONS, MODES, Fusion, Mode

PEERS = ("langchain", "llamaindex")


@dataclass(frozen=True, slots=True)
class EvalSettings:
    """What to evaluate and how: the flags of `rag eval`, as a record."""

    corpus: Path
    gold: Path
    k: int = 10
    mode: Mode = "hybrid"
    limit: int | None = None
    seed: int = 0
    max_tokens: int | None = None
    overlap: int = 1
    model: str | None = None
    answerer: str | None = None
    generator: str | None = None
    out: Path | None = None
    cache_dir: Path | None = None
    baselines: tuple[str, ...] = ()
    fusion: Fusion = "ranker"  # how hybrid search merges its lists: the trained reranker or RRF
    ranker: Mapping[str, Any] | None = None  # the reranker's version (rag.rank.model.version), filled in by the run
    reader: Mapping[str, Any] | None = None  # the short-answer reader's version (rag.span.reader.version), ditto
    query_encoder: Mapping[str, Any] | None = None  # the question adapters' version (rag.embed.query), when used
    query_adapter: bool = True  # embed questions through the question adapters (`--no-query-adapter`: not)
    as_of: bool = True  # pass each gold question's `date` to ask() as as_of (`--no-as-of`: never)
    store: StoreSpec | None = None  # where the index keeps its vectors and BM25 (`--store`; default FAISS)


def dataset_name(gold: Path) -> str:
    """`squad-dev` for squad-dev/gold.jsonl, `seed` for seed.jsonl."""
    return gold.parent.name if gold.stem == "gold" else gold.stem


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rag eval", description="Score the engine on gold questions.")
    p.add_argument("--corpus", type=Path, help="a folder of articles, a corpus.jsonl, or a benchmark folder")
    p.add_argument("--gold", type=Path, help="gold.jsonl (default: gold.jsonl inside the --corpus folder)")
    p.add_argument("--k", "-k", type=int, default=10, help="passages retrieved per question (default 10)")
    p.add_argument("--mode", choices=MODES, default="hybrid", help="search mode (default hybrid)")
    p.add_argument("--fusion", choices=FUSIONS, default="ranker",
                   help="how hybrid search merges dense and BM25 hits: the trained reranker (default) or rrf, "
                        "reciprocal rank fusion, as before the reranker")
    p.add_argument("--limit", type=int, help="evaluate a random sample of N questions")
    p.add_argument("--seed", type=int, default=0, help="seed of the --limit sample (default 0)")
    p.add_argument("--out", type=Path, help="output folder (default eval/out/<gold>-<mode>-k<k>[-n<N>-s<S>])")
    p.add_argument("--max-tokens", type=int, help="passage size in model tokens (default 128)")
    p.add_argument("--overlap", type=int, default=1,
                   help="sentences shared by consecutive passages (default 1)")
    p.add_argument("--model", help="embedding model name or local path (default all-MiniLM-L6-v2)")
    p.add_argument("--answerer", help="answerer, passed to ask() as answerer= where it takes that argument "
                                      "(default: the engine's own, extractive)")
    p.add_argument("--generator", help="a local text-generation model, passed to ask() as generator= "
                                       "(the generative answerer) where it takes that argument")
    p.add_argument("--cache-dir", type=Path, help="where built indexes are kept (default eval/out/cache)")
    p.add_argument("--baselines", default="",
                   help="also run these peers' retrieval on the same questions: langchain,llamaindex or all")
    p.add_argument("--compare", nargs=2, type=Path, metavar=("A", "B"),
                   help="print two report.json files (or their folders) side by side with the differences")
    p.add_argument("--no-as-of", dest="as_of", action="store_false",
                   help="do not pass each gold question's date to ask() as as_of (default: pass it, so a question "
                        "is answered as of the day it was asked)")
    p.add_argument("--store", metavar="URI",
                   help="keep the index's vectors and BM25 in this store: faiss (default), qdrant:PATH (embedded "
                        "Qdrant) or http(s)://HOST:6333 (a Qdrant server; API key from $QDRANT_API_KEY); the "
                        "store is part of the cached index's key")
    p.add_argument("--no-query-adapter", dest="query_adapter", action="store_false",
                   help="embed questions as passages are, not through the trained question adapters "
                        "(rag.embed.query), for comparison")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def settings_from_args(args: argparse.Namespace) -> EvalSettings:
    if args.corpus is None:
        raise RagError("--corpus is required (a folder of articles, a corpus.jsonl or a benchmark folder)")
    gold = args.gold
    if gold is None:
        gold = args.corpus / "gold.jsonl" if args.corpus.is_dir() else args.corpus.with_name("gold.jsonl")
        if not gold.is_file():
            raise RagError(f"--gold is required: no gold.jsonl beside the corpus {args.corpus}")
    if args.limit is not None and args.limit < 1:
        raise RagError(f"--limit must be at least 1, not {args.limit}")
    names = {"all": PEERS}
    peers: tuple[str, ...] = ()
    for name in filter(None, (n.strip().lower() for n in args.baselines.split(","))):
        peers += names.get(name, (name,))
    unknown = sorted(set(peers) - set(PEERS))
    if unknown:
        raise RagError(f"unknown baseline(s) {', '.join(unknown)}: use langchain, llamaindex or all")
    return EvalSettings(corpus=args.corpus, gold=gold, k=args.k, mode=args.mode, limit=args.limit,
                        seed=args.seed, max_tokens=args.max_tokens, overlap=args.overlap, model=args.model,
                        answerer=args.answerer, generator=args.generator, out=args.out, cache_dir=args.cache_dir,
                        baselines=tuple(dict.fromkeys(peers)), fusion=args.fusion,
                        as_of=args.as_of, store=_store(getattr(args, "store", None)),
                        query_adapter=bool(getattr(args, "query_adapter", True)))


def _store(uri: str | None) -> StoreSpec | None:
    """The --store flag as a StoreSpec, with a server's API key from QDRANT_API_KEY; None when not given."""
    return StoreSpec.parse(uri, os.environ.get("QDRANT_API_KEY")) if uri else None
