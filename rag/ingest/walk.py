"""Which files of a corpus folder are articles: supported suffixes, hidden names skipped, gold files and a
benchmark's SOURCE.md left out, linked folders followed without looping."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

from rag.errors import IngestError

SUFFIXES = {".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".jsonl"}

__all__ = ["SUFFIXES", "is_benchmark_note", "is_gold_file", "walk"]


def is_gold_file(path: Path) -> bool:
    """Whether a .jsonl file holds gold questions (id, question, answers, evidence), not documents."""
    try:
        with path.open("rb") as fh:
            for raw in fh:
                if raw.strip():
                    row = json.loads(raw.decode("utf-8-sig"))
                    return isinstance(row, dict) and "question" in row and "evidence" in row and "_id" not in row
    except (OSError, ValueError):
        pass
    return False


def is_benchmark_note(path: Path) -> bool:
    """Whether `path` is the SOURCE.md of a benchmark folder (corpus.jsonl, gold.jsonl and SOURCE.md, as
    ../shared/GOLD_FORMAT.md lays out): where the data comes from, not an article of it."""
    return path.name == "SOURCE.md" and (path.parent / "corpus.jsonl").is_file()


def walk(root: Path, failures: list[IngestError]) -> Iterator[Path]:
    """Supported files under `root`, sorted, skipping hidden names. Linked folders are followed, but a folder
    already read (a symlink loop, or two links to one folder) is skipped with a note: the scan always ends."""
    seen: set[tuple[int, int]] = set()

    def rel(p: str | os.PathLike[str]) -> str:
        return Path(p).relative_to(root).as_posix() if Path(p) != root else root.name

    def onerror(exc: OSError) -> None:
        where = rel(exc.filename or root)
        failures.append(IngestError(where, f"cannot list the folder ({exc.strerror or exc})"))

    for folder, dirs, files in os.walk(root, followlinks=True, onerror=onerror):
        try:
            st = os.stat(folder)
        except OSError as exc:
            onerror(exc)
            dirs[:] = []
            continue
        if (st.st_dev, st.st_ino) in seen:
            real = os.path.realpath(folder)
            failures.append(IngestError(rel(folder), f"links to a folder already read ({real}); skipped, so "
                                                     "that nothing is read twice or in a loop"))
            dirs[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith(".") and Path(name).suffix.lower() in SUFFIXES:
                yield Path(folder) / name
