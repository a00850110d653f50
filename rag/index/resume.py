"""Checkpoints of a build in progress, so that a killed `rag index` resumes where it stopped. [issue 12]

While a build embeds, the index as it stands (every batch written so far) is saved every `every` seconds into
a checkpoint folder beside the generations, in the same files and checksummed manifest as a generation, with
where the build started from:

    INDEX_DIR/PARTIAL            the name of the newest checkpoint ("partial-000004"), replaced atomically
    INDEX_DIR/partial-000004/    texts.sqlite, sentences, vectors.faiss, manifest.json (no BM25: built at the end)

CURRENT is never touched by a checkpoint: readers go on with the previous index until the build's own save
switches to the new generation, and the checkpoints are discarded after that. A build that finds a checkpoint
of its model and chunking, begun from the generation still live (and from scratch if this build is a rebuild),
loads it instead of the live index and syncs from there. What was embedded before the kill is kept; documents
are matched by fingerprint, so a file changed since is embedded again and one removed is dropped.

Only FAISS indexes take checkpoints: a Qdrant store writes one collection per generation, once.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from rag.embed.model import Embedder
from rag.errors import IndexError_, RagError
from rag.index import disk, files
from rag.index.index import Index
from rag.index.vectors import FaissStore
from rag.text.chunk import ChunkSettings

POINTER = "PARTIAL"
PREFIX = "partial-"
# A checkpoint rewrites the whole index so far (at archive size a few hundred MB, a few seconds): every five
# minutes costs a build about 1-2% and loses at most five minutes of embedding.
CHECKPOINT_SECONDS = 300.0


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a build started: the live generation it updates (None: no index yet), and whether it rebuilds."""

    base: str | None
    rebuild: bool

    @classmethod
    def of(cls, index_dir: Path, *, rebuild: bool) -> Origin:
        try:
            return cls(disk.current_generation(index_dir).name, rebuild)
        except IndexError_:
            return cls(None, rebuild)

    def as_dict(self) -> dict[str, object]:
        return {"base": self.base, "rebuild": self.rebuild}


class Checkpoints:
    """The checkpoints of one build of `index_dir`, begun at `origin`; `every` seconds apart (None: never)."""

    def __init__(self, index_dir: Path, origin: Origin, *, every: float | None = CHECKPOINT_SECONDS) -> None:
        self.index_dir, self.origin, self.every = index_dir, origin, every
        self._last = time.monotonic()

    def resume(self, embedder: Embedder, chunking: ChunkSettings | None) -> Index | None:
        """The index saved by the newest checkpoint of a build like this one, or None (none, or one of another
        build: another model, chunking or starting point; or damaged: it is then discarded)."""
        folder = self._newest()
        if folder is None:
            return None
        try:
            manifest = disk.read_manifest(folder, verify=False)
            if manifest.get("build") != self.origin.as_dict():
                return None
            contents = files.read(self.index_dir, folder, verify=True)
        except RagError:
            self.discard()
            return None
        if contents.model != embedder.name or contents.dim != embedder.dim or (
                chunking is not None and chunking != contents.chunking):
            contents.texts.close()
            return None
        return Index(**contents._asdict())

    def after_batch(self, index: Index, next_id: int) -> None:
        """`Index.update`'s hook after each batch: a checkpoint when `every` seconds have passed since the last.
        `next_id` is the first passage id after the batches written (later ones may be chunked already)."""
        if self.every is None or not isinstance(index.store, FaissStore):
            return
        if time.monotonic() - self._last >= self.every:
            self.save(index, next_id)

    def save(self, index: Index, next_id: int) -> Path:
        """Write the index as it stands as the newest checkpoint; return its folder."""
        numbers = [int(p.name[len(PREFIX):]) for p in self._folders()]
        name = f"{PREFIX}{max(numbers, default=0) + 1:06d}"
        tmp = self.index_dir / f".tmp-{name}-{os.getpid()}"
        # The BM25 of an update is the previous generation's until the end: it is not saved, but rebuilt.
        contents = index.contents()._replace(lexical=None, next_id=next_id)
        fields = files.manifest_fields(contents, time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        fields["build"] = self.origin.as_dict()
        try:
            tmp.mkdir()
            files.write(tmp, contents, fields)
            disk.publish(self.index_dir, tmp, name, pointer=POINTER)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        self._remove(keep=name)
        self._last = time.monotonic()
        return self.index_dir / name

    def discard(self) -> None:
        """Remove every checkpoint (the build they belong to is saved, abandoned or not to be resumed)."""
        (self.index_dir / POINTER).unlink(missing_ok=True)
        self._remove(keep=None)

    def _newest(self) -> Path | None:
        try:
            name = (self.index_dir / POINTER).read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            return None
        folder = self.index_dir / name
        return folder if name.startswith(PREFIX) and folder.is_dir() else None

    def _folders(self) -> list[Path]:
        return [p for p in self.index_dir.glob(f"{PREFIX}*") if p.name[len(PREFIX):].isdigit()]

    def _remove(self, *, keep: str | None) -> None:
        # A checkpoint being written when a build was killed leaves a .tmp- folder: its process is gone (this
        # build holds the writer lock), so it is removed with the older checkpoints.
        stale = [p for p in self.index_dir.glob(f".tmp-{PREFIX}*") if not p.name.endswith(f"-{os.getpid()}")]
        for path in [*self._folders(), *stale]:
            if path.name != keep:
                shutil.rmtree(path, ignore_errors=True)


__all__ = ["CHECKPOINT_SECONDS", "Checkpoints", "Origin"]
