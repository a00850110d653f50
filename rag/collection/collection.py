"""The collection: the one owner of what is in an index. An index folder, the corpus folders it mirrors, the
files uploaded into it and the documents a user removed from it (`rag.collection.uploads`).

Every write goes through here: `rag index` (`Collection.sync`), the chat's uploads (`add_files`) and removals
(`remove`). Each loads the index afresh under the writer lock, updates it, saves a new generation and only then
swaps the live `Engine`: a failed file changes nothing, and questions being answered meanwhile keep the index
they started with. Reading never takes the lock (`rag.engine`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rag.collection.build import BuildResult, build_index
from rag.collection.uploads import (
    INCOMING,
    MAX_UPLOAD_BYTES,
    UPLOAD_SUFFIXES,
    UPLOADS,
    UploadBatch,
    clear_stale_incoming,
    human_size,
    keep_copy,
    removed_ids,
    safe_name,
    save_removed,
    save_uploaded,
    upload_path,
    uploaded_files,
)
from rag.config import StoreSpec
from rag.embed.model import Embedder
from rag.engine import Engine
from rag.errors import IngestError, RagError
from rag.index import disk
from rag.index.index import ChunkSettings, Index, UpdateReport

Progress = Callable[[float, str], None]


@dataclass(frozen=True, slots=True)
class DocumentInfo:
    """What the documents view shows about one indexed document."""

    id: str
    title: str
    date: str | None
    source: str | None
    passages: int
    characters: int
    uploaded: bool


@dataclass(frozen=True, slots=True)
class AddResult:
    """The outcome of `Collection.add_files`: document ids added, replaced (same name uploaded again) and
    unchanged, files stored under another name (original, stored), files not added because their text is
    already indexed (original, the document holding it), and one IngestError per failed file."""

    added: tuple[str, ...] = ()
    replaced: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    renamed: tuple[tuple[str, str], ...] = ()
    failures: tuple[IngestError, ...] = ()
    duplicates: tuple[tuple[str, str], ...] = ()


class Collection:
    """An index folder, its corpus and uploads, serving questions through a live `Engine`. Thread-safe."""

    def __init__(
        self,
        index_dir: str | Path,
        corpus: Sequence[str | Path],
        *,
        embedder: Embedder,
        chunking: ChunkSettings | None = None,
        max_upload_bytes: int = MAX_UPLOAD_BYTES,
        store: StoreSpec | None = None,
    ) -> None:
        """`store`: where the index keeps its vectors (`rag.config.StoreSpec`; default: its own, FAISS for a
        new one)."""
        self.index_dir = Path(index_dir)
        self.store = store or StoreSpec()
        # uploads/ is always part of the corpus, once: a recorded corpus may already name it.
        self.corpus = tuple(p for p in map(Path, corpus) if p.resolve() != self.uploads_dir.resolve())
        self.embedder = embedder
        self.chunking = chunking
        self.max_upload_bytes = max_upload_bytes
        self._lock = threading.Lock()
        self._engine: Engine | None = None

    # -- state ---------------------------------------------------------------------------------------
    @property
    def uploads_dir(self) -> Path:
        return self.index_dir / UPLOADS

    @property
    def engine(self) -> Engine:
        """The engine over the live index (loaded, not built, on first use: call `sync()` to build)."""
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    self._engine = self._reader()
        return self._engine

    def _reader(self) -> Engine:
        """An engine over the live index as saved, memory-mapped: the writer's own index would read a changed
        inverted file into memory on its first search."""
        return Engine(Index.load(self.index_dir, store=self.store, mapped=True), self.embedder)

    def _removed(self) -> set[str]:
        return removed_ids(self.index_dir)

    def documents(self) -> list[DocumentInfo]:
        """The indexed documents, in index order. Whether one is an upload comes from the record of what was
        uploaded (`rag.collection.uploads`), never from its id."""
        index = self.engine.index
        counts = Counter(p.doc_id for p in index.passages.values())
        uploaded = uploaded_files(self.uploads_dir)
        return [
            DocumentInfo(id=d.id, title=d.title, date=d.date, source=d.attribution, passages=counts[d.id],
                         characters=len(d.text), uploaded=d.id in uploaded)
            for d in index.documents.values()
        ]

    # -- building ------------------------------------------------------------------------------------
    def sync(
        self, *, rebuild: bool = False, progress: bool = False, on_wait: Callable[[int | None], object] | None = None,
        resume: bool = True,
    ) -> BuildResult:
        """Bring the index in line with the corpus and uploads/ (`build_index`: only what changed is embedded),
        leaving out the documents removed on request. The engine is reloaded on its next use. A file in
        uploads/ that cannot be read is a failure like any other; what killed uploads left there is cleared.
        `on_wait` and `resume` (a stopped build's checkpoint): see `build_index`."""
        # One hold of the writer lock for the whole sync (build_index takes it again, re-entrantly).
        with self._lock, disk.lock(self.index_dir, on_wait=on_wait):
            self.uploads_dir.mkdir(parents=True, exist_ok=True)
            clear_stale_incoming(self.uploads_dir)
            result = build_index(self.index_dir, [*self.corpus, self.uploads_dir], embedder=self.embedder,
                                 chunking=self.chunking, rebuild=rebuild, progress=progress,
                                 exclude=removed_ids(self.index_dir), on_wait=on_wait, store=self.store,
                                 resume=resume)
            self._engine = None
        return result

    def add_files(
        self, files: Sequence[str | Path], *, names: Sequence[str] | None = None, on_progress: Progress | None = None
    ) -> AddResult:
        """Copy `files` into uploads/ (as `names`, default their own names, made safe) and index them.

        Each file that cannot be read, is too large or of an unsupported type is reported by name in
        `failures` and leaves nothing behind; one whose text is already indexed (under any name) is reported in
        `duplicates` and not added again; the others are indexed. The index on disk changes once, at the end:
        when storing the files or saving the index fails (a full disk), nothing is left behind, the index is
        unchanged, and RagError says why.
        """
        names = list(names) if names is not None else [Path(f).name for f in files]
        if len(names) != len(files):
            raise ValueError("files and names differ in length")
        note = on_progress or (lambda _f, _d: None)
        with self._lock, disk.lock(self.index_dir):
            self.uploads_dir.mkdir(parents=True, exist_ok=True)
            clear_stale_incoming(self.uploads_dir)
            index = Index.load(self.index_dir, store=self.store)
            index.check_model(self.embedder)
            batch = UploadBatch(index, uploaded_files(self.uploads_dir))
            try:
                for i, (src, original) in enumerate(zip(files, names, strict=True)):
                    note(i / max(len(files), 1), f"Reading {original}")
                    try:
                        doc_id, stage = self._stage(Path(src), original, batch)
                    except IngestError as exc:
                        batch.failures.append(exc)
                        continue
                    doc = batch.read(stage, doc_id, original)
                    if doc is not None:
                        note((i + 0.5) / len(files), f"Embedding {original}")
                        batch.index_one(doc, stage, original, self.embedder)
                if batch.added or batch.replaced:
                    note(1.0, "Saving the index")
                    self._commit(index, batch)
                    self._engine = self._reader()
            finally:
                for stage, _ in batch.staged:
                    stage.unlink(missing_ok=True)
        return AddResult(tuple(batch.added), tuple(batch.replaced), tuple(batch.unchanged), tuple(batch.renamed),
                         tuple(batch.failures), tuple(batch.duplicates))

    def _stage(self, src: Path, original: str, batch: UploadBatch) -> tuple[str, Path]:
        """Check one upload and copy it to a hidden file in uploads/; return its document id and the copy."""
        name = safe_name(original)
        suffix = Path(name).suffix.lower()
        if suffix not in UPLOAD_SUFFIXES:
            raise IngestError(original, f"unsupported file type {suffix or '(none)'!r}; upload "
                              f"{', '.join(UPLOAD_SUFFIXES)} files")
        try:
            size = src.stat().st_size
        except OSError as exc:
            raise IngestError(original, f"cannot read the upload ({exc.strerror or exc})") from exc
        if size > self.max_upload_bytes:
            raise IngestError(original, f"the file is {human_size(size)}; the upload limit is "
                              f"{human_size(self.max_upload_bytes)}")
        # A name already used by a corpus (not uploaded) document, present or removed, gets a number, so that
        # neither hides the other.
        stem, n, removed = Path(name).stem, 1, self._removed()
        while name in batch.taken or name in removed or (
            name in batch.index.documents and name not in batch.uploaded
        ):
            n += 1
            name = f"{stem}-{n}{suffix}"
        if upload_path(self.uploads_dir, name) is None:  # safe_name makes this impossible; keep the guard anyway
            raise IngestError(original, "the file name points outside the uploads folder")
        stage = self.uploads_dir / f"{INCOMING}{os.getpid()}-{threading.get_ident()}-{name}"
        try:
            shutil.copyfile(src, stage)
        except OSError as exc:
            stage.unlink(missing_ok=True)
            raise IngestError(original, f"cannot store the upload ({exc.strerror or exc})") from exc
        return name, stage

    def _commit(self, index: Index, batch: UploadBatch) -> None:
        """Move the staged files into place, record them as uploads and save the index: all of it, or, when
        any step fails (OSError: a full disk), none of it, and RagError says why."""
        moved: list[tuple[Path, Path | None]] = []  # (final place, the previous version's backup)
        recorded = False
        try:
            for stage, name in batch.staged:
                final = self.uploads_dir / name
                backup = stage.with_name(stage.name + ".previous") if final.exists() else None
                if backup is not None:  # a second name for the previous version: `final` is never missing
                    keep_copy(final, backup)
                moved.append((final, backup))
                os.replace(stage, final)
            save_uploaded(self.uploads_dir, {**batch.uploaded, **{n: n for _, n in batch.staged}})
            recorded = True
            index.save(self.index_dir)
        except Exception as exc:
            for final, backup in reversed(moved):
                with contextlib.suppress(OSError):
                    if backup is None:
                        final.unlink(missing_ok=True)
                    else:
                        os.replace(backup, final)
            if recorded:
                with contextlib.suppress(OSError):
                    save_uploaded(self.uploads_dir, batch.uploaded)
            if isinstance(exc, OSError):
                raise RagError(f"cannot store the uploads ({exc.strerror or exc}); the index is unchanged") from exc
            raise
        batch.staged.clear()
        for _, backup in moved:
            if backup is not None:
                backup.unlink(missing_ok=True)

    def remove(self, doc_id: str) -> UpdateReport:
        """Drop a document from the index. An upload's file (as recorded when it was uploaded) is deleted; any
        other document is remembered as removed (its file is left alone) so that the next sync does not bring
        it back. A document id is never turned into a path."""
        with self._lock, disk.lock(self.index_dir):
            index = Index.load(self.index_dir, store=self.store)
            if doc_id not in index.documents:
                raise RagError(f"no document {doc_id!r} in the index")
            if len(index.documents) == 1:  # an index with no passages cannot be searched (or saved)
                raise RagError(f"{doc_id!r} is the only document in the index; add another before removing it")
            report = index.update(removals=[doc_id], embedder=self.embedder)
            uploaded = uploaded_files(self.uploads_dir)
            stored = upload_path(self.uploads_dir, uploaded.get(doc_id, ""))
            removed = self._removed()
            try:
                if stored is None or not stored.is_file():
                    save_removed(self.index_dir, removed | {doc_id})
                index.save(self.index_dir)
            except (OSError, RagError) as exc:  # a full disk, say (Index.save says so as an IndexWriteError)
                with contextlib.suppress(OSError):
                    save_removed(self.index_dir, removed)
                if isinstance(exc, RagError):
                    raise
                raise RagError(f"cannot save the index ({exc.strerror or exc}); it is unchanged") from exc
            if stored is not None:
                with contextlib.suppress(OSError):  # the index no longer has it; a sync retries the rest
                    stored.unlink(missing_ok=True)
                    save_uploaded(self.uploads_dir, {k: v for k, v in uploaded.items() if k != doc_id})
            self._engine = self._reader()
        return report


__all__ = ["AddResult", "BuildResult", "Collection", "DocumentInfo", "build_index"]
