"""The files of one index generation, written and read back: documents.jsonl, passages.jsonl, sentences.npy,
sentence_vectors.npy, the vector store's and BM25's files, and manifest.json over all of them.

`rag.index.disk` makes the generation folder, switches to it and checks checksums; this module knows what
goes inside. `Index.save`/`Index.load` are its only callers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from rag.config import StoreSpec
from rag.errors import IndexCorruptError, IndexMismatchError, IndexWriteError
from rag.index import bm25, disk, stores
from rag.index.bm25 import Lexical
from rag.index.vectors import VectorStore
from rag.ingest.corpus import fingerprint
from rag.records import Document, Passage
from rag.text.chunk import ChunkSettings

# 2: documents.jsonl holds typed metadata (Document.to_dict: date, author, source, url, page_starts, extra),
# and the manifest carries its own checksum.
# 3: a document's date is an ISO day (or a year) found by rag.ingest.dates, with its `date_source`; an index of
# version 2 holds dates as written and none from URLs or datelines, so it is rebuilt rather than read.
FORMAT_VERSION = 3
# [perf, issue 5] Sentence vectors are kept as float16 (half the memory; cosines change by ~1e-4) and memory-mapped
# on load, so an archive's millions of them are paged in only as answers read them.
SENTENCE_DTYPE = np.float16
SentenceKey = tuple[str, int, int]  # (document id, start, end) of one sentence


class Contents(NamedTuple):
    """What a generation holds, in memory."""

    model: str
    dim: int
    chunking: ChunkSettings
    next_id: int
    corpus: tuple[str, ...]
    documents: dict[str, Document]
    passages: dict[int, Passage]
    sentence_keys: list[SentenceKey]
    sentence_vectors: np.ndarray
    store: VectorStore
    lexical: Lexical | None  # None when saved by another version of the tokenizer: rebuild it


def write(folder: Path, contents: Contents, manifest: Mapping[str, Any]) -> None:
    """Write `contents` into the empty generation folder `folder`, then the manifest (with `manifest`'s fields)."""
    assert contents.lexical is not None
    ordinal = {d: i for i, d in enumerate(contents.documents)}
    with (folder / "documents.jsonl").open("w", encoding="utf-8") as fh:
        for doc in contents.documents.values():
            fh.write(json.dumps(doc.to_dict(), ensure_ascii=False) + "\n")
    with (folder / "passages.jsonl").open("w", encoding="utf-8") as fh:
        for p in contents.passages.values():
            row = {"id": p.id, "doc": ordinal[p.doc_id], "start": p.start, "end": p.end,
                   "sentences": [list(s) for s in p.sentences]}
            fh.write(json.dumps(row) + "\n")
    keys = np.array([(ordinal[d], s, e) for d, s, e in contents.sentence_keys], np.int64).reshape(-1, 3)
    np.save(folder / "sentences.npy", keys)
    np.save(folder / "sentence_vectors.npy", np.asarray(contents.sentence_vectors, dtype=SENTENCE_DTYPE))
    try:
        contents.store.save(folder)
    except RuntimeError as exc:  # faiss reports a failed write (a full disk) as a RuntimeError
        reason = str(exc).rsplit("(", 1)[-1].rstrip(")") if str(exc).endswith(")") else str(exc)
        raise IndexWriteError(str(folder / "vectors.faiss"), reason) from exc
    contents.lexical.save(folder)
    disk.write_manifest(folder, dict(manifest))


def _read_rows(folder: Path) -> tuple[dict[str, Document], dict[int, Passage], list[SentenceKey], np.ndarray]:
    """Documents, passages, sentence keys and (memory-mapped) sentence vectors; IndexCorruptError if unreadable."""
    try:
        with (folder / "documents.jsonl").open(encoding="utf-8") as fh:
            docs = [Document.from_dict(json.loads(line)) for line in fh]
        passages: dict[int, Passage] = {}
        with (folder / "passages.jsonl").open(encoding="utf-8") as fh:
            for line in fh:
                row = json.loads(line)
                doc = docs[row["doc"]]
                passages[row["id"]] = Passage(
                    id=row["id"], doc_id=doc.id, start=row["start"], end=row["end"],
                    text=doc.text[row["start"]:row["end"]],
                    sentences=tuple((s, e) for s, e in row["sentences"]),
                )
        keys = [(docs[o].id, int(s), int(e)) for o, s, e in np.load(folder / "sentences.npy")]
        vectors = np.load(folder / "sentence_vectors.npy", mmap_mode="r")
    except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
        raise IndexCorruptError(f"cannot read the index in {folder}: {exc}") from exc
    return {d.id: d for d in docs}, passages, keys, vectors


def _header(folder: Path, manifest: Mapping[str, Any]) -> tuple[str, int, ChunkSettings, int, tuple[str, ...], str]:
    """(model, dim, chunking, next_id, corpus, store kind) from a manifest that passed its checksum."""
    try:  # a bad field here is a bug in the writer, still not a traceback
        return (str(manifest["model"]), int(manifest["dim"]), ChunkSettings(**manifest["chunking"]),
                int(manifest["next_id"]), tuple(str(p) for p in manifest.get("corpus", ())),
                str(manifest["store"]["kind"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise IndexCorruptError(f"{folder / disk.MANIFEST} has a malformed field ({exc!r}); {disk.REBUILD}") from exc


def read(index_dir: Path, folder: Path, *, verify: bool, store: StoreSpec | None = None) -> Contents:
    """The contents of the generation `folder` of `index_dir`, every file checked against the manifest
    (checksums too with `verify`). IndexMismatchError for another format version or another `store` than the
    index's, IndexCorruptError for damage."""
    manifest = disk.read_manifest(folder, verify=verify)
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IndexMismatchError(
            f"the index in {index_dir} has format version {manifest.get('format_version')}, this version of "
            f"rag reads {FORMAT_VERSION}; rebuild it with `rag index --rebuild`"
        )
    documents, passages, keys, vectors = _read_rows(folder)
    model, dim, chunking, next_id, corpus, _kind = _header(folder, manifest)
    if {d: fingerprint(doc) for d, doc in documents.items()} != dict(manifest.get("documents") or {}):
        raise IndexCorruptError(f"the documents in {folder} do not match the fingerprints in its manifest")
    try:
        sentence_vectors = vectors.reshape(-1, dim)
    except ValueError as exc:
        raise IndexCorruptError(f"cannot read the index in {folder}: {exc}") from exc
    # A BM25 index tokenized by another version of `terms()` comes back None, rebuilt by the caller: never mixed.
    vectors_store, lexical = stores.load(folder, manifest, dim=dim, model=model, spec=store or StoreSpec())
    if len(vectors_store) != len(passages):
        raise IndexCorruptError(f"{folder}: {len(vectors_store)} vectors for {len(passages)} passages")
    return Contents(model, dim, chunking, next_id, corpus, documents, passages, keys, sentence_vectors,
                    vectors_store, lexical)


def manifest_fields(contents: Contents, saved_at: str) -> dict[str, Any]:
    """The manifest's fields for `contents` (disk.write_manifest adds the files and the checksum)."""
    return {
        "format_version": FORMAT_VERSION,
        "model": contents.model,
        "dim": contents.dim,
        "chunking": {"max_tokens": contents.chunking.max_tokens, "overlap": contents.chunking.overlap},
        "store": stores.entry(contents.store),
        "lexical_version": bm25.VERSION,
        "next_id": contents.next_id,
        "corpus": list(contents.corpus),
        "counts": {"documents": len(contents.documents), "passages": len(contents.passages),
                   "sentences": len(contents.sentence_keys)},
        "documents": {doc_id: fingerprint(doc) for doc_id, doc in contents.documents.items()},
        "saved_at": saved_at,
    }


__all__ = ["FORMAT_VERSION", "SENTENCE_DTYPE", "Contents", "SentenceKey", "manifest_fields", "read", "write"]
