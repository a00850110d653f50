"""Where settings come from at the edges (CLI, UI, ask() defaults): environment variables and the project layout.

The library's functions take keyword arguments; only this module reads the environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True, slots=True)
class Settings:
    index_dir: Path
    corpus: tuple[Path, ...]
    model: str | None
    generator: str | None = None  # a text generator's model folder or name; None: extractive answers

    @classmethod
    def from_env(cls) -> Settings:
        """RAG_INDEX_DIR (default ./index of the project), RAG_CORPUS (default seeds/), RAG_MODEL (default MiniLM),
        RAG_GENERATOR (default none: extractive answers)."""
        index_dir = Path(os.environ.get("RAG_INDEX_DIR") or PROJECT_ROOT / "index")
        corpus = os.environ.get("RAG_CORPUS")
        paths = tuple(Path(p) for p in corpus.split(os.pathsep)) if corpus else (PROJECT_ROOT / "seeds",)
        return cls(index_dir=index_dir, corpus=paths, model=os.environ.get("RAG_MODEL") or None,
                   generator=os.environ.get("RAG_GENERATOR") or None)


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
