"""Scratch files of a build: the text store and the sentence vectors written while an index is being changed,
removed when the index that owns them is saved, closed or collected."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def scratch_file(prefix: str, suffix: str) -> Path:
    """A new empty file in the system's temporary folder, named `prefix`...`suffix`."""
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=suffix)
    os.close(fd)
    return Path(name)


def unlink_quietly(path: Path) -> None:
    """Remove `path` if it is still there (a finalizer may run after the file is gone)."""
    with contextlib.suppress(OSError):
        path.unlink()
