"""What a run of `rag eval` reads before it asks anything: the corpus (a file, a folder, or a benchmark folder's
corpus.jsonl), its documents, and the gold questions, all of them or a seeded sample."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rag.errors import RagError
from rag.ingest.corpus import load_corpus
from rag.records import Document

from .gold import GoldQuestion, load_gold
from .options import EvalSettings


@dataclass(frozen=True, slots=True)
class Inputs:
    """What a run reads before it asks anything: the corpus files, their documents, and the gold questions."""

    corpus: list[Path]  # the paths indexed (resolve_corpus)
    documents: dict[str, Document]
    failures: list[str]  # files of the corpus that could not be read (the gold file itself left out)
    gold: list[GoldQuestion]  # every question in the gold file
    questions: list[GoldQuestion]  # the ones asked (the sample, or all)


def resolve_corpus(path: Path) -> list[Path]:
    """What to index for a corpus PATH: a benchmark folder's corpus.jsonl, else the file or folder itself."""
    if not path.exists():
        raise RagError(f"corpus not found: {path}")
    if path.is_dir() and (path / "corpus.jsonl").is_file():
        return [path / "corpus.jsonl"]
    return [path]


def sample(questions: Sequence[GoldQuestion], limit: int | None, seed: int) -> list[GoldQuestion]:
    """`limit` questions drawn at random with `seed` (the same sample for the same seed), in file order."""
    if limit is None or limit >= len(questions):
        return list(questions)
    picked = sorted(random.Random(seed).sample(range(len(questions)), limit))
    return [questions[i] for i in picked]


def read_inputs(settings: EvalSettings) -> Inputs:
    """Read the corpus and the gold file, and draw the questions to ask."""
    corpus = resolve_corpus(settings.corpus)
    ingest = load_corpus(corpus)
    failures = [str(f) for f in ingest.failures if Path(f.path).name != settings.gold.name]
    if not ingest.documents:
        raise RagError(f"no document could be read from {settings.corpus}")
    documents = {d.id: d for d in ingest.documents}
    gold = load_gold(settings.gold, documents)
    questions = sample(gold, settings.limit, settings.seed)
    if not questions:
        raise RagError(f"{settings.gold} holds no questions")
    return Inputs(corpus, documents, failures, gold, questions)
