"""Keeping a long embedding run's memory flat: a build embeds for an hour, batch after batch of new shapes.

Measured on news-archive texts (2,000-text batches, MiniLM in bfloat16 on CPU): resident memory grew from 800 MiB
after loading to 1,060 MiB, and stayed there, from two causes that are not the model. oneDNN keeps a compiled
kernel for every input shape it has seen (1,024 by default), and glibc keeps freed activation memory in its heap
rather than giving it back. Capping the first and trimming the heap after each batch held the same run at
870 MiB, no slower (bench/build_memory.py).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from functools import cache

# oneDNN's compiled-kernel cache, in kernels: a build meets a new (batch, length) shape every few batches, and a
# kernel compiles in microseconds next to a batch's seconds.
KERNEL_CACHE = "8"


def limit_kernel_cache() -> None:
    """Cap oneDNN's kernel cache at `KERNEL_CACHE`, unless the environment sets it. oneDNN reads the variable
    when it first runs, so this is called before a model's first forward pass."""
    os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", KERNEL_CACHE)


@cache
def _malloc_trim() -> object | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim  # glibc only: musl has none
    except (OSError, AttributeError):
        return None


def release() -> None:
    """Hand the heap's free memory back to the system (glibc's `malloc_trim`); does nothing elsewhere."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)  # type: ignore[operator]
