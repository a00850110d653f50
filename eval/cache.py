"""The harness's index cache: one index per corpus content and index settings, built once and reused.

The folder name carries a key over the corpus fingerprint (every document's id and content hash), the model,
the chunking, the index format and the source of the code that builds an index (rag.index.index, rag.ingest.corpus and
the rag modules they import: a changed sentence splitter or chunker must not be scored on an index built by the
old one; answer-time modules are not part of it), so a changed corpus, setting or indexing code gets a new
index and never a stale one;
`meta.json` beside the index records how long the build took, so a reused index still reports `build_s`.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import rag
from rag.collection import build_index
from rag.config import StoreSpec
from rag.embed.model import Embedder
from rag.errors import RagError
from rag.index import disk as persist
from rag.index.files import FORMAT_VERSION
from rag.ingest.corpus import fingerprint
from rag.records import Document
from rag.text.chunk import ChunkSettings

META = "meta.json"


@dataclass(frozen=True, slots=True)
class CachedIndex:
    folder: Path
    key: str
    corpus_fingerprint: str
    build_s: float  # seconds the build took, when it was built (now or in an earlier run)
    reused: bool


def corpus_fingerprint(documents: Sequence[Document]) -> str:
    """A hash of every document's id and content: equal exactly when the corpus is unchanged."""
    h = hashlib.sha256()
    for doc in sorted(documents, key=lambda d: d.id):
        h.update(f"{doc.id}\t{fingerprint(doc)}\n".encode())
    return h.hexdigest()[:24]


def _module_file(folder: Path, name: str) -> Path | None:
    """The source file of module `name` ("index.bm25") of the package in `folder`, if there is one."""
    base = folder.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _package_imports(path: Path, package: str) -> set[str]:
    """Modules of `package` that a module imports, relative to it: `from rag.text.chunk import x` gives
    "text.chunk", `from rag.index import disk` gives "index" and "index.disk"."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            top, _, rest = node.module.partition(".")
            if top == package:
                names.update(f"{rest}.{a.name}" if rest else a.name for a in node.names)
                if rest:
                    names.add(rest)
    return names


@cache
def indexing_code_fingerprint(
    folder: Path | None = None, roots: tuple[str, ...] = ("index.index", "ingest.corpus"), package: str = "rag"
) -> str:
    """A hash of the source of the modules an index is built by: `roots` of `package` in `folder` (default:
    rag's) and the package's modules they import, transitively."""
    folder = folder or Path(rag.__file__).parent
    todo, seen = list(roots), dict[str, Path]()
    while todo:
        name = todo.pop()
        path = _module_file(folder, name)
        if name in seen or path is None:
            continue
        seen[name] = path
        todo.extend(_package_imports(path, package))
    h = hashlib.sha256()
    for name in sorted(seen):
        h.update(name.encode() + b"\0" + seen[name].read_bytes())
    return h.hexdigest()[:16]


def cache_key(corpus_fp: str, *, model: str, chunking: ChunkSettings, store: StoreSpec | None = None) -> str:
    settings: dict[str, Any] = {"corpus": corpus_fp, "model": model, "max_tokens": chunking.max_tokens,
                                "overlap": chunking.overlap, "format": FORMAT_VERSION,
                                "code": indexing_code_fingerprint()}
    if store is not None and store.kind == "qdrant":  # a FAISS index keeps the key it always had
        settings["store"] = store.uri
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def _read_meta(folder: Path) -> dict[str, Any] | None:
    try:
        meta = json.loads((folder / META).read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def prepare(
    corpus: Sequence[Path],
    documents: Sequence[Document],
    *,
    cache_root: Path,
    name: str,
    embedder: Embedder,
    chunking: ChunkSettings,
    progress: bool = False,
    clock: Callable[[], float] = time.perf_counter,
    store: StoreSpec | None = None,
) -> CachedIndex:
    """The index of `documents` (read from `corpus`) with these settings: the cached one when there is one,
    else built now into `cache_root/<name>-<key>` and timed. `store`: where its vectors and BM25 are kept
    (`rag.config.StoreSpec`; default FAISS), part of the key."""
    fp = corpus_fingerprint(documents)
    key = cache_key(fp, model=embedder.name, chunking=chunking, store=store)
    folder = cache_root / f"{name}-{key}"
    meta = _read_meta(folder)
    if meta is not None and meta.get("key") == key and persist.exists(folder):
        return CachedIndex(folder, key, fp, float(meta["build_s"]), reused=True)
    t0 = clock()
    result = build_index(folder, corpus, embedder=embedder, chunking=chunking, rebuild=True,
                         progress=progress, store=store)
    build_s = clock() - t0
    built = {d.id: fingerprint(d) for d in result.ingest.documents}
    if built != {d.id: fingerprint(d) for d in documents}:
        # The files changed between the harness reading them and the build: the gold offsets may not hold.
        raise RagError(f"the corpus {', '.join(map(str, corpus))} changed while it was being indexed; "
                       "run again")
    meta = {"key": key, "corpus_fingerprint": fp, "model": embedder.name, "max_tokens": chunking.max_tokens,
            "overlap": chunking.overlap, "format": FORMAT_VERSION, "code": indexing_code_fingerprint(),
            "store": store.uri if store is not None and store.kind == "qdrant" else "faiss",
            "build_s": round(build_s, 3),
            "documents": len(documents), "corpus": [str(p) for p in corpus],
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    tmp = folder / f".{META}.tmp"
    tmp.write_text(json.dumps(meta, indent=2))
    os.replace(tmp, folder / META)  # written last: a build cut short is never taken for a finished one
    return CachedIndex(folder, key, fp, build_s, reused=False)
