"""Where settings come from at the edges (CLI, UI, ask() defaults): environment variables and the project layout.

The library's functions take keyword arguments; only this module reads the environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from rag.errors import RagError

PROJECT_ROOT = Path(__file__).resolve().parents[1]
STORE_URIS = "faiss, qdrant:PATH (embedded Qdrant) or http(s)://HOST:PORT (a Qdrant server)"


@dataclass(frozen=True, slots=True)
class StoreSpec:
    """Where an index keeps its vectors and BM25 terms: `uri` is "faiss" (the embedded default), "qdrant:PATH"
    (Qdrant's embedded local mode, a folder), "http(s)://HOST:PORT" (a Qdrant server or cluster), or None: the
    index's own store (FAISS for a new index). `api_key` is a server's key; it is never written anywhere."""

    uri: str | None = None
    api_key: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, uri: str | None, api_key: str | None = None) -> StoreSpec:
        """A spec from a URI as a user writes it; a local path is made absolute (the manifest records it)."""
        uri = (uri or "").strip() or None
        if uri is None or uri.lower() == "faiss":
            return cls(uri and "faiss", api_key)
        if uri.startswith("qdrant:") and not uri.startswith("qdrant://"):
            path = uri.removeprefix("qdrant:")
            if not path:
                raise RagError(f"store {uri!r} names no folder: write qdrant:PATH")
            return cls("qdrant:" + str(Path(path).expanduser().resolve()), api_key)
        if uri.startswith(("http://", "https://")):
            return cls(uri.rstrip("/"), api_key)
        raise RagError(f"unknown store {uri!r}: use {STORE_URIS}")

    @property
    def kind(self) -> str | None:
        """"faiss", "qdrant" or None (the index's own)."""
        return None if self.uri is None else "faiss" if self.uri == "faiss" else "qdrant"


@dataclass(frozen=True, slots=True)
class Settings:
    index_dir: Path
    corpus: tuple[Path, ...]
    model: str | None
    generator: str | None = None  # a text generator's model folder or name; None: extractive answers
    store: StoreSpec = StoreSpec()  # RAG_STORE and QDRANT_API_KEY
    ray: str | None = None  # RAG_RAY: the Ray cluster `rag index` embeds on (auto, ray://HOST:10001); None: here

    @classmethod
    def from_env(cls) -> Settings:
        """RAG_INDEX_DIR (default ./index of the project), RAG_CORPUS (default seeds/), RAG_MODEL (default MiniLM),
        RAG_GENERATOR (default none: extractive answers), RAG_STORE (default: the index's own store, FAISS for a
        new one) with QDRANT_API_KEY for a Qdrant server, RAG_RAY (default none: `rag index` embeds in its own
        process)."""
        index_dir = Path(os.environ.get("RAG_INDEX_DIR") or PROJECT_ROOT / "index")
        corpus = os.environ.get("RAG_CORPUS")
        paths = tuple(Path(p) for p in corpus.split(os.pathsep)) if corpus else (PROJECT_ROOT / "seeds",)
        return cls(index_dir=index_dir, corpus=paths, model=os.environ.get("RAG_MODEL") or None,
                   generator=os.environ.get("RAG_GENERATOR") or None,
                   store=StoreSpec.parse(os.environ.get("RAG_STORE"), os.environ.get("QDRANT_API_KEY") or None),
                   ray=(os.environ.get("RAG_RAY") or "").strip() or None)


def process_defaults() -> None:
    """Process-wide settings the libraries read when they load, set at the edges (CLI, chat, `ask()`) before
    any model is: an explicit value in the environment always wins.

    - OMP_WAIT_POLICY=PASSIVE: OpenMP threads that wait sleep instead of spinning. On a shared 2-core machine a
      spinning thread burns the time slice its descheduled sibling needs: one query took 200-450 ms instead of
      ~20, and bulk embedding ran 2-6x slower (bench/embedding.py). It must be set before torch loads.
    - TOKENIZERS_PARALLELISM=false: no fork warnings from the tokenizers' thread pool.
    """
    for key, value in (("OMP_WAIT_POLICY", "PASSIVE"), ("TOKENIZERS_PARALLELISM", "false")):
        os.environ.setdefault(key, value)
