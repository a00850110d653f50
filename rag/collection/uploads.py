"""What a collection keeps beside its index: uploaded files and the ids of documents a user removed.

    INDEX_DIR/
      uploads/        files added through `Collection.add_files` (part of the corpus from then on)
        .uploaded.json  which document each uploaded file is: {"files": {document id: stored file name}}
        .incoming-PID-THREAD-NAME  an upload being stored (removed once its process is gone)
      library.json    ids of corpus documents removed on request, so the next sync does not bring them back

A document id is data, never a path: whether a document is an upload, and which file to delete when it is
removed, comes from the record of what was uploaded, never from its id; a stored name is used only after
checking that it is one `safe_name` makes and that it resolves to a file directly inside uploads/.
`UploadBatch` is what one `Collection.add_files` call has read, found already indexed, or indexed so far.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import unicodedata
from pathlib import Path

from rag.embed.model import Embedder
from rag.errors import IngestError, RagError
from rag.index.index import Index
from rag.ingest.corpus import read_file, text_fingerprint
from rag.records import Document

UPLOADS = "uploads"
STATE_FILE = "library.json"
UPLOADED_FILE = ".uploaded.json"
INCOMING = ".incoming-"
MAX_UPLOAD_BYTES = 20 * 2**20
UPLOAD_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf")
_UNSAFE = re.compile(r"[^\w.()+-]+")


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


def removed_ids(index_dir: Path) -> set[str]:
    """Ids of corpus documents a user removed from this index: they stay out when the corpus is re-read."""
    try:
        return set(json.loads((Path(index_dir) / STATE_FILE).read_text(encoding="utf-8"))["removed"])
    except FileNotFoundError:
        return set()
    except (ValueError, KeyError, TypeError) as exc:
        raise RagError(f"{Path(index_dir) / STATE_FILE} is not valid: {exc}") from exc


def save_removed(index_dir: Path, removed: set[str]) -> None:
    """Record `removed` atomically (a crash leaves the old list or the new one, never half of one)."""
    _write_atomically(Path(index_dir) / STATE_FILE, json.dumps({"removed": sorted(removed)}, ensure_ascii=False))


def _write_atomically(path: Path, body: str) -> None:
    """Write `path` so that a crash or a full disk leaves the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with tmp.open("w", encoding="utf-8") as fh:
            fh.write(body)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def upload_path(uploads_dir: Path, name: str) -> Path | None:
    """The file `name` names directly inside `uploads_dir`, or None unless `name` is one `safe_name` makes."""
    if not isinstance(name, str) or not name or safe_name(name) != name:
        return None
    path = (uploads_dir / name).resolve()
    return path if path.parent == uploads_dir.resolve() else None


def uploaded_files(uploads_dir: Path) -> dict[str, str]:
    """Document id -> stored file name, for every file uploaded into `uploads_dir`.

    Read from the record `save_uploaded` writes. An index from before that record (or one whose record is
    damaged) gets one made from the files in the folder: names the folder's listing gives, never ids.
    """
    try:
        files = json.loads((uploads_dir / UPLOADED_FILE).read_text(encoding="utf-8"))["files"]
        if isinstance(files, dict):
            return {k: v for k, v in files.items() if isinstance(k, str) and upload_path(uploads_dir, v)}
    except (OSError, ValueError, KeyError, TypeError):
        pass
    try:
        listed = sorted(p.name for p in uploads_dir.iterdir() if p.is_file())
    except OSError:
        return {}
    return {n: n for n in listed if upload_path(uploads_dir, n) and Path(n).suffix in UPLOAD_SUFFIXES}


def save_uploaded(uploads_dir: Path, files: dict[str, str]) -> None:
    """Record `files` (document id -> stored file name) atomically."""
    body = json.dumps({"files": dict(sorted(files.items()))}, ensure_ascii=False, indent=1)
    _write_atomically(uploads_dir / UPLOADED_FILE, body)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.EPERM  # alive, but someone else's
    return True


def clear_stale_incoming(uploads_dir: Path) -> list[str]:
    """Delete what killed uploads left behind (.incoming-PID-... files whose process is gone); return their
    names. Call it holding the index's writer lock."""
    cleared = []
    with contextlib.suppress(OSError):
        for path in uploads_dir.iterdir():
            pid = path.name.removeprefix(INCOMING).split("-", 1)[0]
            if path.name.startswith(INCOMING) and (not pid.isdigit() or not _process_alive(int(pid))):
                with contextlib.suppress(OSError):
                    path.unlink()
                    cleared.append(path.name)
    return sorted(cleared)


def keep_copy(path: Path, copy: Path) -> None:
    """`copy` as a second name for `path` (a hard link: no space needed), or a copy where links are refused."""
    try:
        os.link(path, copy)
    except OSError:
        shutil.copyfile(path, copy)


class UploadBatch:
    """What one `add_files` call has done so far, on its own copy of the index."""

    def __init__(self, index: Index, uploaded: dict[str, str]) -> None:
        self.index = index
        self.uploaded = uploaded  # document id -> stored file name, before this batch
        self.staged: list[tuple[Path, str]] = []  # (staged copy, stored name) of each file to add or replace
        self.taken: set[str] = set()  # names given to earlier files of this batch, stored or unchanged
        self.added: list[str] = []
        self.replaced: list[str] = []
        self.unchanged: list[str] = []
        self.renamed: list[tuple[str, str]] = []
        self.duplicates: list[tuple[str, str]] = []
        self.failures: list[IngestError] = []
        self._by_text: dict[str, str] | None = None

    def read(self, stage: Path, doc_id: str, original: str) -> Document | None:
        """The staged upload as a Document, or None (the copy deleted) when it fails or its text is already
        indexed under another id."""
        try:
            doc = read_file(stage, doc_id)
        except IngestError as exc:
            stage.unlink(missing_ok=True)
            self.failures.append(IngestError(original, exc.reason))
            return None
        same = self.index.documents.get(doc_id)
        twin = None if same is not None and same.text == doc.text else self._twin(doc)
        if twin is not None:
            stage.unlink(missing_ok=True)
            self.duplicates.append((original, twin))
            return None
        return doc

    def _twin(self, doc: Document) -> str | None:
        if self._by_text is None:
            self._by_text = {}
            for d in self.index.documents.values():
                self._by_text.setdefault(text_fingerprint(d.text), d.id)
        twin = self._by_text.get(text_fingerprint(doc.text))
        same = self.index.documents.get(twin) if twin is not None else None
        return twin if same is not None and same.text == doc.text else None

    def index_one(self, doc: Document, stage: Path, original: str, embedder: Embedder) -> None:
        """Add or replace `doc` in the batch's index; its staged copy is kept to be stored unless unchanged."""
        report = self.index.update([doc], embedder=embedder)
        self.taken.add(doc.id)
        if not (report.added or report.changed):
            stage.unlink(missing_ok=True)
            self.unchanged.append(doc.id)
            return
        (self.added if report.added else self.replaced).append(doc.id)
        if doc.id != original:
            self.renamed.append((original, doc.id))
        self.staged.append((stage, doc.id))
        if self._by_text is not None:
            self._by_text[text_fingerprint(doc.text)] = doc.id
