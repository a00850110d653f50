"""The documents collection behind a chat: an index folder, the corpus it mirrors, and uploads added one by one.

    INDEX_DIR/
      uploads/        files added through `Library.add_files` (part of the corpus from then on)
      library.json    ids of corpus documents removed on request, so the next sync does not bring them back

`Library.sync()` brings the index in line with the corpus folders plus uploads/ (minus removed documents) with
`build_index`. Additions and removals load the index afresh under the writer lock, update it, save a new
generation and only then swap the live `Engine`: a failed file changes nothing, and questions being answered
meanwhile keep the index they started with.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import persist
from .embed import Embedder
from .engine import BuildResult, Engine, build_index
from .errors import IngestError, RagError
from .index import ChunkSettings, Index, UpdateReport
from .ingest import read_file

UPLOADS = "uploads"
STATE_FILE = "library.json"
MAX_UPLOAD_BYTES = 20 * 2**20
UPLOAD_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf")
_UNSAFE = re.compile(r"[^\w.()+-]+")
Progress = Callable[[float, str], None]


def human_size(n: float) -> str:
    """A byte count for people: "20 MiB", "1.5 MiB", "10 KiB"."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.1f}".removesuffix(".0") + f" {unit}"
    return f"{int(n)} bytes"


def safe_name(name: str) -> str:
    """A file name for `name` that can only land inside the uploads folder: no folders, no leading dot, no
    control or shell-special characters, at most 120 characters, the (lower-cased) suffix kept."""
    base = unicodedata.normalize("NFC", name.replace("\\", "/")).split("/")[-1]
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    stem = _UNSAFE.sub("_", stem).strip("._ ") or "upload"
    suffix = _UNSAFE.sub("", suffix).lower()
    return (stem[:100] + (f".{suffix[:10]}" if suffix else ""))


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
    """The outcome of `Library.add_files`: document ids added, replaced (same name uploaded again) and
    unchanged, files stored under another name (original, stored), and one IngestError per failed file."""

    added: tuple[str, ...] = ()
    replaced: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    renamed: tuple[tuple[str, str], ...] = ()
    failures: tuple[IngestError, ...] = ()


def removed_ids(index_dir: Path) -> set[str]:
    """Ids of corpus documents a user removed from this index: they stay out when the corpus is re-read."""
    try:
        return set(json.loads((Path(index_dir) / STATE_FILE).read_text(encoding="utf-8"))["removed"])
    except FileNotFoundError:
        return set()
    except (ValueError, KeyError, TypeError) as exc:
        raise RagError(f"{Path(index_dir) / STATE_FILE} is not valid: {exc}") from exc


class Library:
    """An index folder and its corpus, serving questions through a live `Engine`. Thread-safe."""

    def __init__(
        self,
        index_dir: str | Path,
        corpus: Sequence[str | Path],
        *,
        embedder: Embedder,
        chunking: ChunkSettings | None = None,
        max_upload_bytes: int = MAX_UPLOAD_BYTES,
    ) -> None:
        self.index_dir = Path(index_dir)
        self.corpus = tuple(Path(p) for p in corpus)
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
                    self._engine = Engine(Index.load(self.index_dir), self.embedder)
        return self._engine

    def _removed(self) -> set[str]:
        return removed_ids(self.index_dir)

    def _save_removed(self, removed: set[str]) -> None:
        tmp = self.index_dir / f".{STATE_FILE}.tmp"
        tmp.write_text(json.dumps({"removed": sorted(removed)}, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, self.index_dir / STATE_FILE)

    def documents(self) -> list[DocumentInfo]:
        """The indexed documents, in index order."""
        index = self.engine.index
        counts = Counter(p.doc_id for p in index.passages.values())
        return [
            DocumentInfo(id=d.id, title=d.title, date=d.date, source=d.meta.get("source") or d.meta.get("author"),
                         passages=counts[d.id], characters=len(d.text), uploaded=(self.uploads_dir / d.id).is_file())
            for d in index.documents.values()
        ]

    # -- building ------------------------------------------------------------------------------------
    def sync(self, *, rebuild: bool = False, progress: bool = False) -> BuildResult:
        """Bring the index in line with the corpus and uploads/ (`build_index`: only what changed is embedded),
        drop the documents removed on request, and serve the result."""
        with self._lock:
            self.uploads_dir.mkdir(parents=True, exist_ok=True)
            result = build_index(self.index_dir, [*self.corpus, self.uploads_dir], embedder=self.embedder,
                                 chunking=self.chunking, rebuild=rebuild, progress=progress,
                                 exclude=removed_ids(self.index_dir))
            self._engine = Engine(Index.load(self.index_dir), self.embedder)
        return result

    def add_files(
        self, files: Sequence[str | Path], *, names: Sequence[str] | None = None, on_progress: Progress | None = None
    ) -> AddResult:
        """Copy `files` into uploads/ (as `names`, default their own names, made safe) and index them.

        Each file that cannot be read, is too large or of an unsupported type is reported by name in
        `failures` and leaves nothing behind; the others are indexed. The index on disk changes once, at the end.
        """
        names = list(names) if names is not None else [Path(f).name for f in files]
        if len(names) != len(files):
            raise ValueError("files and names differ in length")
        note = on_progress or (lambda _f, _d: None)
        with self._lock, persist.lock(self.index_dir):
            self.uploads_dir.mkdir(parents=True, exist_ok=True)
            index = Index.load(self.index_dir)
            index.check_model(self.embedder)
            failures: list[IngestError] = []
            staged: list[tuple[Path, Path]] = []  # (staged file, final place)
            added: list[str] = []
            replaced: list[str] = []
            unchanged: list[str] = []
            renamed: list[tuple[str, str]] = []
            try:
                for i, (src, original) in enumerate(zip(files, names, strict=True)):
                    note(i / max(len(files), 1), f"Reading {original}")
                    try:
                        doc_id, stage = self._stage(Path(src), original, index, taken={p.name for _, p in staged})
                    except IngestError as exc:
                        failures.append(exc)
                        continue
                    try:
                        doc = read_file(stage, doc_id)
                    except IngestError as exc:
                        stage.unlink(missing_ok=True)
                        failures.append(IngestError(original, exc.reason))
                        continue
                    if doc_id != original:
                        renamed.append((original, doc_id))
                    note((i + 0.5) / len(files), f"Embedding {original}")
                    report = index.update([doc], embedder=self.embedder)
                    (added if report.added else replaced if report.changed else unchanged).append(doc_id)
                    staged.append((stage, self.uploads_dir / doc_id))
                if added or replaced:
                    note(1.0, "Saving the index")
                    for stage, final in staged:
                        os.replace(stage, final)
                    staged = []
                    index.save(self.index_dir)
                    self._engine = Engine(index, self.embedder)
            finally:
                for stage, _ in staged:
                    stage.unlink(missing_ok=True)
        return AddResult(tuple(added), tuple(replaced), tuple(unchanged), tuple(renamed), tuple(failures))

    def _stage(self, src: Path, original: str, index: Index, *, taken: set[str]) -> tuple[str, Path]:
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
        while name in taken or name in removed or (
            name in index.documents and not (self.uploads_dir / name).is_file()
        ):
            n += 1
            name = f"{stem}-{n}{suffix}"
        final = (self.uploads_dir / name).resolve()
        if final.parent != self.uploads_dir.resolve():  # safe_name makes this impossible; keep the guard anyway
            raise IngestError(original, "the file name points outside the uploads folder")
        stage = self.uploads_dir / f".incoming-{os.getpid()}-{threading.get_ident()}-{name}"
        try:
            shutil.copyfile(src, stage)
        except OSError as exc:
            stage.unlink(missing_ok=True)
            raise IngestError(original, f"cannot store the upload ({exc.strerror or exc})") from exc
        return name, stage

    def remove(self, doc_id: str) -> UpdateReport:
        """Drop a document from the index. An upload's file is deleted; a corpus document is remembered as
        removed (its file is left alone) so that the next sync does not bring it back."""
        with self._lock, persist.lock(self.index_dir):
            index = Index.load(self.index_dir)
            if doc_id not in index.documents:
                raise RagError(f"no document {doc_id!r} in the index")
            if len(index.documents) == 1:  # an index with no passages cannot be searched (or saved)
                raise RagError(f"{doc_id!r} is the only document in the index; add another before removing it")
            report = index.update(removals=[doc_id], embedder=self.embedder)
            upload = self.uploads_dir / doc_id
            if not upload.is_file():
                self._save_removed(self._removed() | {doc_id})
            index.save(self.index_dir)
            upload.unlink(missing_ok=True)
            self._engine = Engine(index, self.embedder)
        return report


__all__ = ["MAX_UPLOAD_BYTES", "UPLOAD_SUFFIXES", "AddResult", "DocumentInfo", "Library", "human_size", "safe_name"]
