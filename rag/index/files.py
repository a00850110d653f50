"""The files of one index generation, written and read back: texts.sqlite (documents and passages), sentences.npy,
sentence_vectors.npy, the vector store's and BM25's files, and manifest.json over all of them.

`rag.index.disk` makes the generation folder, switches to it and checks checksums; this module knows what
goes inside. `Index.save`/`Index.load` are its only callers.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from rag.config import StoreSpec
from rag.errors import IndexCorruptError, IndexMismatchError, IndexWriteError
from rag.index import bm25, disk, stores
from rag.index.bm25 import Lexical
from rag.index.sentences import SENTENCE_DTYPE, SentenceKey, SentenceTable
from rag.index.texts import TextStore
from rag.index.vectors import VectorStore
from rag.text.chunk import ChunkSettings

# 2: documents.jsonl holds typed metadata (Document.to_dict: date, author, source, url, page_starts, extra),
# and the manifest carries its own checksum.
# 3: a document's date is an ISO day (or a year) found by rag.ingest.dates, with its `date_source`; an index of
# version 2 holds dates as written and none from URLs or datelines, so it is rebuilt rather than read.
# 4: [issue 12] documents and passages in texts.sqlite (read on demand), sentences.npy as int32 (document
# ordinal, start, end) rows, one run of rows per document.
FORMAT_VERSION = 4


class Contents(NamedTuple):
    """What a generation holds: its header in memory, its texts and sentence vectors on disk."""

    model: str
    dim: int
    chunking: ChunkSettings
    next_id: int
    corpus: tuple[str, ...]
    texts: TextStore
    sentences: SentenceTable
    store: VectorStore
    lexical: Lexical | None  # None when saved by another version of the tokenizer: rebuild it


def write(folder: Path, contents: Contents, manifest: Mapping[str, Any]) -> None:
    """Write `contents` into the empty generation folder `folder`, then the manifest (with `manifest`'s fields).
    Contents without BM25 (a build's checkpoint, `rag.index.resume`) are written without it; reading them back
    gives `lexical=None`, to be rebuilt."""
    contents.texts.save(folder)
    contents.sentences.save(folder, contents.texts.ordinals())
    try:
        contents.store.save(folder)
    except RuntimeError as exc:  # faiss reports a failed write (a full disk) as a RuntimeError
        reason = str(exc).rsplit("(", 1)[-1].rstrip(")") if str(exc).endswith(")") else str(exc)
        raise IndexWriteError(str(folder / "vectors.faiss"), reason) from exc
    if contents.lexical is not None:
        contents.lexical.save(folder)
    disk.write_manifest(folder, dict(manifest))


def _header(folder: Path, manifest: Mapping[str, Any]) -> tuple[str, int, ChunkSettings, int, tuple[str, ...], str]:
    """(model, dim, chunking, next_id, corpus, store kind) from a manifest that passed its checksum."""
    try:  # a bad field here is a bug in the writer, still not a traceback
        return (str(manifest["model"]), int(manifest["dim"]), ChunkSettings(**manifest["chunking"]),
                int(manifest["next_id"]), tuple(str(p) for p in manifest.get("corpus", ())),
                str(manifest["store"]["kind"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise IndexCorruptError(f"{folder / disk.MANIFEST} has a malformed field ({exc!r}); {disk.REBUILD}") from exc


def read(
    index_dir: Path, folder: Path, *, verify: bool, mapped: bool = False, store: StoreSpec | None = None
) -> Contents:
    """The contents of the generation `folder` of `index_dir`, every file checked against the manifest
    (checksums too with `verify`). IndexMismatchError for another format version or another `store` than the
    index's, IndexCorruptError for damage. An inverted file and BM25 are memory-mapped either way (`stores.load`);
    with `mapped`, a flat or HNSW store is too where FAISS can (to check a generation without a second copy of it
    in memory): such contents are for reading only."""
    manifest = disk.read_manifest(folder, verify=verify)
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IndexMismatchError(
            f"the index in {index_dir} has format version {manifest.get('format_version')}, this version of "
            f"rag reads {FORMAT_VERSION}; rebuild it with `rag index --rebuild`"
        )
    model, dim, chunking, next_id, corpus, _kind = _header(folder, manifest)
    texts = TextStore.open(folder)
    try:
        if texts.fingerprints() != dict(manifest.get("documents") or {}):
            raise IndexCorruptError(f"the documents in {folder} do not match the fingerprints in its manifest")
        sentences = SentenceTable.load(folder, dim, {o: d for d, o in texts.ordinals().items()})
        # A BM25 index tokenized by another version of `terms()` comes back None, rebuilt by the caller.
        vectors, lexical = stores.load(folder, manifest, dim=dim, model=model, spec=store or StoreSpec(),
                                       mapped=mapped)
        if len(vectors) != texts.passage_count():
            raise IndexCorruptError(f"{folder}: {len(vectors)} vectors for {texts.passage_count()} passages")
    except BaseException:
        texts.close()
        raise
    return Contents(model, dim, chunking, next_id, corpus, texts, sentences, vectors, lexical)


def manifest_fields(contents: Contents, saved_at: str) -> dict[str, Any]:
    """The manifest's fields for `contents` (disk.write_manifest adds the files and the checksum)."""
    return {
        "format_version": FORMAT_VERSION,
        "model": contents.model,
        "dim": contents.dim,
        "chunking": {"max_tokens": contents.chunking.max_tokens, "overlap": contents.chunking.overlap},
        "store": stores.entry(contents.store),
        "lexical_version": bm25.VERSION if contents.lexical is not None else None,
        "next_id": contents.next_id,
        "corpus": list(contents.corpus),
        "counts": {"documents": len(contents.texts.ordinals()), "passages": contents.texts.passage_count(),
                   "sentences": len(contents.sentences)},
        "documents": contents.texts.fingerprints(),
        "saved_at": saved_at,
    }


__all__ = ["FORMAT_VERSION", "SENTENCE_DTYPE", "Contents", "SentenceKey", "manifest_fields", "read", "write"]
