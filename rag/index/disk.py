"""The index on disk: a folder of plain named files per generation, switched atomically, checked on load.

    INDEX_DIR/
      CURRENT            the name of the live generation ("gen-000003"), replaced atomically
      gen-000003/        manifest.json (format version, model, checksums), texts.sqlite, sentences.npy,
                         sentence_vectors.npy, vectors.faiss, bm25/...
      .lock              held by the one process that may write

A build writes a new generation beside the live one and switches CURRENT only once every file is on disk, so
a crash at any point leaves the previous generation loadable. The previous generation is removed only once the
new one has been read back and checked; if that fails, CURRENT is switched back. The manifest carries a SHA-256
of its own canonical JSON (MANIFEST_CHECKSUM), so an edit to it is caught like damage to any other file.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from rag.errors import (
    IndexCorruptError,
    IndexError_,
    IndexMismatchError,
    IndexMissingError,
    IndexWriteError,
    RagError,
)
from rag.index.lock import writer_lock

CURRENT = "CURRENT"
MANIFEST = "manifest.json"
MANIFEST_CHECKSUM = "manifest_sha256"  # the manifest's own checksum, a field of the manifest
REBUILD = "rebuild it from the corpus with `rag index --rebuild`"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root: Path) -> None:
    """Flush every file under `root`, and `root` itself, to disk."""
    for path in sorted(root.rglob("*")):
        if path.is_file():
            with path.open("rb") as fh:
                os.fsync(fh.fileno())
    _fsync_dir(root)


def current_generation(index_dir: Path) -> Path:
    """The live generation folder, or IndexMissingError (none built yet) or IndexCorruptError."""
    try:
        name = (index_dir / CURRENT).read_bytes().decode("ascii").strip()
    except FileNotFoundError:
        raise IndexMissingError(f"no index in {index_dir} (build one with `rag index`)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise IndexCorruptError(f"cannot read {index_dir / CURRENT} ({exc}); {REBUILD}") from exc
    gen = index_dir / name
    if not name.startswith("gen-") or not name[4:].isdigit() or not gen.is_dir():
        raise IndexCorruptError(f"{index_dir / CURRENT} names {name!r}, which is not a generation folder; {REBUILD}")
    return gen


def exists(index_dir: Path) -> bool:
    return (Path(index_dir) / CURRENT).is_file()


@contextlib.contextmanager
def write_generation(index_dir: Path, *, check: Callable[[Path], object] | None = None) -> Iterator[Path]:
    """Yield an empty folder to write a generation into; on success it becomes the live one.

    The caller writes its files, then this writes nothing but the switch: a manifest must already be there.
    After the switch `check(folder)` reads the new generation back; if it raises, CURRENT is switched back to
    the previous generation, the new one is removed and IndexCorruptError is raised. The previous generation is
    pruned only after `check` passed. An OSError while writing (a full disk) becomes IndexWriteError, and
    leaves the live index as it was.
    """
    with lock(index_dir):  # re-entrant: a no-op when this thread already holds it, as build_index does
        yield from _write_generation(index_dir, check)


def _write_generation(index_dir: Path, check: Callable[[Path], object] | None) -> Iterator[Path]:
    numbers = [int(p.name[4:]) for p in index_dir.glob("gen-*") if p.name[4:].isdigit()]
    name = f"gen-{max(numbers, default=0) + 1:06d}"
    gen = index_dir / name
    tmp = index_dir / f".tmp-{name}-{os.getpid()}"
    try:
        previous: bytes | None = (index_dir / CURRENT).read_bytes()
    except FileNotFoundError:
        previous = None
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        try:
            tmp.mkdir()
            yield tmp
            if not (tmp / MANIFEST).is_file():
                raise RuntimeError("a generation was written without its manifest")
            publish(index_dir, tmp, name)  # the atomic switch
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    except OSError as exc:
        try:
            live = (index_dir / CURRENT).read_bytes().strip()
        except OSError:
            live = b""
        if live != name.encode("ascii"):
            shutil.rmtree(gen, ignore_errors=True)  # named but never switched to
        raise IndexWriteError(str(exc.filename or index_dir), exc.strerror or str(exc)) from exc
    if check is not None:
        try:
            check(gen)
        except Exception as exc:
            _switch_back(index_dir, previous)
            shutil.rmtree(gen, ignore_errors=True)
            if isinstance(exc, RagError):
                raise IndexCorruptError(f"the index just written to {gen} could not be read back ({exc}); "
                                        "it was removed and the previous index is still in use") from exc
            raise
    prune(index_dir)


def _point(index_dir: Path, data: bytes, *, name: str = CURRENT) -> None:
    """Replace the pointer file `name` (CURRENT) with `data` atomically and durably."""
    pointer = index_dir / f".{name}.tmp"
    with pointer.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(pointer, index_dir / name)
    _fsync_dir(index_dir)


def publish(index_dir: Path, tmp: Path, name: str, *, pointer: str = CURRENT) -> None:
    """Make `tmp`, a folder fully written, the folder `name` of `index_dir` and the one the pointer file
    `pointer` names, atomically and durably: its files are synced before the rename and the switch, so that a
    crash leaves the old pointer or a complete folder behind the new one. A build's checkpoints have their own
    pointer beside CURRENT (`rag.index.resume`)."""
    fsync_tree(tmp)
    os.rename(tmp, index_dir / name)
    _point(index_dir, name.encode("ascii") + b"\n", name=pointer)


def _switch_back(index_dir: Path, previous: bytes | None) -> None:
    """Make CURRENT what it was before a write (`previous`; None: there was none)."""
    if previous is None:
        (index_dir / CURRENT).unlink(missing_ok=True)
        _fsync_dir(index_dir)
    else:
        _point(index_dir, previous)


def prune(index_dir: Path) -> None:
    """Remove generations other than the live one, and what interrupted builds left behind."""
    try:
        live = current_generation(index_dir).name
    except IndexError_:
        return
    for path in index_dir.iterdir():
        stale_tmp = path.name.startswith(".tmp-gen-") and not _owned_by_live_process(path.name)
        if (path.name.startswith("gen-") and path.name != live) or stale_tmp:
            shutil.rmtree(path, ignore_errors=True)


def _owned_by_live_process(name: str) -> bool:
    try:
        pid = int(name.rsplit("-", 1)[1])
    except ValueError:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.EPERM
    return True


def manifest_checksum(manifest: dict[str, Any]) -> str:
    """SHA-256 of `manifest`'s canonical JSON (sorted keys, ASCII, no spaces), its own checksum field left out."""
    body = {k: v for k, v in manifest.items() if k != MANIFEST_CHECKSUM}
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """Write manifest.json with the size and SHA-256 of every other file in `folder`, and its own checksum."""
    files = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST):
        rel = path.relative_to(folder).as_posix()
        files[rel] = {"bytes": path.stat().st_size, "sha256": sha256_file(path)}
    body = {k: v for k, v in manifest.items() if k != MANIFEST_CHECKSUM}
    body["files"] = files
    body[MANIFEST_CHECKSUM] = manifest_checksum(body)
    (folder / MANIFEST).write_text(json.dumps(body, indent=1, sort_keys=True, ensure_ascii=False))


def _entry_problem(rel: object, expect: object) -> str | None:
    """What is wrong with one `files` entry of a manifest, or None."""
    if not isinstance(rel, str) or not rel:
        return "not a file name"
    path = PurePosixPath(rel)
    if path.is_absolute() or ".." in path.parts or path.as_posix() != rel or rel == MANIFEST:
        return "not a file inside the generation folder"
    if not isinstance(expect, dict):
        return f"{type(expect).__name__} instead of {{bytes, sha256}}"
    size, digest = expect.get("bytes"), expect.get("sha256")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        return f"bytes is {size!r}, not a size"
    if not isinstance(digest, str) or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        return f"sha256 is {digest!r}, not a SHA-256"
    return None


def read_manifest(folder: Path, *, verify: bool = True) -> dict[str, Any]:
    """The manifest of a generation, checked against its own checksum; with `verify`, every file is checked
    against its size and checksum too (without, only their sizes).

    Raises IndexCorruptError naming the file that is missing, truncated or changed (manifest.json included), or
    IndexMismatchError for a manifest of format version 1, which had no checksum.
    """
    where = folder / MANIFEST
    try:
        manifest = json.loads(where.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexCorruptError(f"{where} is missing; {REBUILD}") from None
    except (OSError, ValueError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise IndexCorruptError(f"{where} is not valid JSON ({exc}); {REBUILD}") from exc
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict) or not files:
        raise IndexCorruptError(f"{where} lists no files; {REBUILD}")
    for rel, expect in files.items():
        problem = _entry_problem(rel, expect)
        if problem:
            raise IndexCorruptError(f"{where} has a malformed entry for {rel!r} ({problem}); {REBUILD}")
    stored = manifest.get(MANIFEST_CHECKSUM)
    if stored is None and manifest.get("format_version") == 1:
        raise IndexMismatchError(f"the index in {folder.parent} was written by an older version of rag (format "
                                 "version 1, without a manifest checksum); rebuild it with `rag index --rebuild`")
    if stored != manifest_checksum(manifest):
        what = "has no checksum of its own" if stored is None else "does not match its own checksum"
        raise IndexCorruptError(f"{where} {what} (it was edited or damaged); {REBUILD}")
    for rel, expect in files.items():
        path = folder / rel
        if not path.is_file():
            raise IndexCorruptError(f"index file {path} is missing; {REBUILD}")
        size = path.stat().st_size
        if size != expect["bytes"]:
            raise IndexCorruptError(f"index file {path} has {size} bytes, expected {expect['bytes']} (truncated?); "
                                    f"{REBUILD}")
        if verify and sha256_file(path) != expect["sha256"]:
            raise IndexCorruptError(f"index file {path} does not match its checksum; {REBUILD}")
    return manifest


@contextlib.contextmanager
def lock(
    index_dir: Path, *, timeout: float = 600.0, on_wait: Callable[[int | None], object] | None = None
) -> Iterator[None]:
    """Hold the index's writer lock (`rag.index.lock.writer_lock`; `on_wait` and `timeout` as there).

    A writer killed between switching CURRENT and pruning left its old generation behind: the next holder of
    the lock clears it, even when it has nothing to write.
    """
    with writer_lock(Path(index_dir), timeout=timeout, on_wait=on_wait, on_acquire=prune):
        yield
