"""What a collection keeps beside its index: uploaded files and the ids of documents a user removed.

    INDEX_DIR/
      uploads/        files added through `Collection.add_files` (part of the corpus from then on)
      library.json    ids of corpus documents removed on request, so the next sync does not bring them back

A document id is data, never a path: nothing here joins an id to a folder without checking the result.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from pathlib import Path

from rag.errors import RagError

UPLOADS = "uploads"
STATE_FILE = "library.json"
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
    tmp = Path(index_dir) / f".{STATE_FILE}.tmp"
    tmp.write_text(json.dumps({"removed": sorted(removed)}, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, Path(index_dir) / STATE_FILE)
