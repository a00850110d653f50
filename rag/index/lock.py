"""The writer lock of an index folder: one process writes at a time; readers never take it.

An flock on INDEX_DIR/.lock: the kernel releases it when its holder dies, so a killed build never leaves it
stuck. Re-entrant within a thread; other threads and processes wait.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TextIO

from rag.errors import IndexLockedError

LOCK = ".lock"
_held = threading.local()  # index folders whose writer lock this thread holds


@contextlib.contextmanager
def writer_lock(
    index_dir: Path,
    *,
    timeout: float = 600.0,
    on_wait: Callable[[int | None], object] | None = None,
    on_acquire: Callable[[Path], object] | None = None,
) -> Iterator[None]:
    """Hold the writer lock of `index_dir`; wait up to `timeout` seconds, then raise IndexLockedError.

    `on_wait` is called once when waiting starts, with the holder's process id (None when it cannot be told),
    so that a command can say why it is waiting; nothing is printed here. `on_acquire(index_dir)` runs once the
    lock is taken (not again on a re-entrant hold).
    """
    index_dir.mkdir(parents=True, exist_ok=True)
    key = str(index_dir.resolve())
    held: set[str] = _held.__dict__.setdefault("dirs", set())
    if key in held:
        yield
        return
    with (index_dir / LOCK).open("a+") as fh:
        _acquire(fh, index_dir, timeout=timeout, on_wait=on_wait)
        # Say who holds it, for the message another process shows while it waits.
        with contextlib.suppress(OSError):  # only a courtesy to waiting processes: a full disk must not stop us
            fh.seek(0)
            fh.truncate()
            fh.write(str(os.getpid()))
            fh.flush()
        held.add(key)
        try:
            if on_acquire is not None:
                on_acquire(index_dir)
            yield
        finally:
            held.discard(key)
            with contextlib.suppress(OSError):
                fh.truncate(0)
                fh.flush()
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _acquire(fh: TextIO, index_dir: Path, *, timeout: float, on_wait: Callable[[int | None], object] | None) -> None:
    """Take the flock on the open lock file `fh`, polling until `timeout`."""
    start = time.monotonic()
    while True:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip()
            # The holder writes its pid just after taking the lock: give it a moment before saying "unknown".
            if on_wait is not None and (holder.isdigit() or time.monotonic() - start > 0.5):
                on_wait(int(holder) if holder.isdigit() else None)
                on_wait = None
            if time.monotonic() - start >= timeout:
                who = f"process {holder}" if holder.isdigit() else "another process"
                raise IndexLockedError(
                    f"{who} is updating the index in {index_dir} (waited {timeout:g} s); try again when it is done"
                ) from None
            time.sleep(0.05)
