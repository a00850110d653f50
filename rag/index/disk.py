"""The index on disk: a folder of plain named files per generation, switched atomically, checked on load.

    INDEX_DIR/
      CURRENT            the name of the live generation ("gen-000003"), replaced atomically
      gen-000003/        manifest.json (format version, model, checksums), documents.jsonl, passages.jsonl,
                         sentences.npy, sentence_vectors.npy, vectors.faiss, bm25/...
      .lock              held by the one process that may write

A build writes a new generation beside the live one and switches CURRENT only once every file is on disk, so
a crash at any point leaves the previous generation loadable.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rag.errors import IndexCorruptError, IndexError_, IndexLockedError, IndexMissingError

CURRENT = "CURRENT"
MANIFEST = "manifest.json"
LOCK = ".lock"
REBUILD = "rebuild it from the corpus with `rag index --rebuild`"
_held = threading.local()  # index folders whose writer lock this thread holds


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


def _fsync_tree(root: Path) -> None:
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
def write_generation(index_dir: Path) -> Iterator[Path]:
    """Yield an empty folder to write a generation into; on success it becomes the live one.

    The caller writes its files, then this writes nothing but the switch: a manifest must already be there.
    """
    with lock(index_dir):  # re-entrant: a no-op when this thread already holds it, as build_index does
        yield from _write_generation(index_dir)


def _write_generation(index_dir: Path) -> Iterator[Path]:
    numbers = [int(p.name[4:]) for p in index_dir.glob("gen-*") if p.name[4:].isdigit()]
    name = f"gen-{max(numbers, default=0) + 1:06d}"
    tmp = index_dir / f".tmp-{name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        if not (tmp / MANIFEST).is_file():
            raise RuntimeError("a generation was written without its manifest")
        _fsync_tree(tmp)
        os.rename(tmp, index_dir / name)
        pointer = index_dir / f".{CURRENT}.tmp"
        with pointer.open("w") as fh:
            fh.write(name + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(pointer, index_dir / CURRENT)  # the atomic switch
        _fsync_dir(index_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    prune(index_dir)


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


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """Write manifest.json with the size and SHA-256 of every other file in `folder`."""
    files = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST):
        rel = path.relative_to(folder).as_posix()
        files[rel] = {"bytes": path.stat().st_size, "sha256": sha256_file(path)}
    body = dict(manifest, files=files)
    (folder / MANIFEST).write_text(json.dumps(body, indent=1, sort_keys=True, ensure_ascii=False))


def read_manifest(folder: Path, *, verify: bool = True) -> dict[str, Any]:
    """The manifest of a generation; with `verify`, every file is checked against its size and checksum.

    Raises IndexCorruptError naming the file that is missing, truncated or changed.
    """
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexCorruptError(f"{folder / MANIFEST} is missing; {REBUILD}") from None
    except (OSError, ValueError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise IndexCorruptError(f"{folder / MANIFEST} is not valid JSON ({exc}); {REBUILD}") from exc
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict) or not files:
        raise IndexCorruptError(f"{folder / MANIFEST} lists no files; {REBUILD}")
    for rel, expect in files.items():
        path = folder / rel
        try:
            size, digest = int(expect["bytes"]), str(expect["sha256"])
        except (TypeError, KeyError, ValueError):
            raise IndexCorruptError(f"{folder / MANIFEST} has a malformed entry for {rel!r}; {REBUILD}") from None
        if not path.is_file():
            raise IndexCorruptError(f"index file {path} is missing; {REBUILD}")
        if path.stat().st_size != size:
            raise IndexCorruptError(
                f"index file {path} has {path.stat().st_size} bytes, expected {size} (truncated?); {REBUILD}"
            )
        if verify and sha256_file(path) != digest:
            raise IndexCorruptError(f"index file {path} does not match its checksum; {REBUILD}")
    return manifest


@contextlib.contextmanager
def lock(index_dir: Path, *, timeout: float = 600.0) -> Iterator[None]:
    """Hold the index's writer lock; wait up to `timeout` seconds, then raise IndexLockedError.

    The lock is an flock on INDEX_DIR/.lock: the kernel releases it when its holder dies, so a killed build
    never leaves it stuck. Re-entrant within a thread; other threads and processes wait.
    """
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    key = str(index_dir.resolve())
    held: set[str] = _held.__dict__.setdefault("dirs", set())
    if key in held:
        yield
        return
    with (index_dir / LOCK).open("a+") as fh:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    fh.seek(0)
                    holder = fh.read().strip()
                    who = f"process {holder}" if holder.isdigit() else "another process"
                    raise IndexLockedError(
                        f"{who} is updating the index in {index_dir} (waited {timeout:g} s); "
                        "try again when it is done"
                    ) from None
                time.sleep(0.05)
        # Say who holds it, for the message another process shows while it waits.
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        held.add(key)
        try:
            # A writer killed between switching CURRENT and pruning left its old generation behind; the next
            # holder of the lock clears it even when it has nothing to write.
            prune(index_dir)
            yield
        finally:
            held.discard(key)
            fh.truncate(0)
            fh.flush()
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
