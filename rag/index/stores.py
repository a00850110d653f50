"""Which store an index keeps its passage vectors and BM25 in, chosen by URI (`rag.config.StoreSpec`): FAISS
and bm25s files inside the generation folder (the default), or a Qdrant collection (`rag.index.qdrant`).

A generation's manifest says which ("store": {"kind": "flat"} for FAISS; {"kind": "qdrant", "uri", "collection",
"prefix"} for Qdrant); `rag.index.files` writes and reads that entry through here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from rag.config import StoreSpec
from rag.errors import IndexCorruptError, IndexError_, IndexMismatchError, RagError
from rag.index import bm25, disk
from rag.index.bm25 import Lexical, LexicalIndex
from rag.index.filters import build_table
from rag.index.mappings import DocumentMap, PassageMap
from rag.index.qdrant import QdrantStore
from rag.index.qdrant_terms import QdrantTerms
from rag.index.texts import TextStore
from rag.index.vectors import FaissStore, VectorStore


def new_store(spec: StoreSpec, *, index_dir: Path, dim: int, model: str) -> VectorStore:
    """An empty store of the kind `spec` names (FAISS when it names none) for a new index of `index_dir`."""
    if spec.kind == "qdrant":
        if spec.uri == f"qdrant:{Path(index_dir).resolve()}":  # both lock the folder with a file named .lock
            raise RagError(f"the Qdrant store {spec.uri} cannot be the index folder itself: name a folder of its own "
                           f"(qdrant:{Path(index_dir) / 'qdrant'}, say)")
        return QdrantStore.create(spec, index_dir=index_dir, dim=dim, model=model)
    return FaissStore(dim)


def entry(store: VectorStore) -> dict[str, Any]:
    """The manifest's "store" field for `store` (a server's API key is never written)."""
    if isinstance(store, QdrantStore):
        return {"kind": "qdrant", "uri": store.spec.uri, "collection": store.collection, "prefix": store.prefix}
    return {"kind": store.kind}


def spec_for(store: VectorStore) -> StoreSpec:
    """The spec that reaches `store` again (a Qdrant store's URI and key; FAISS needs none)."""
    return store.spec if isinstance(store, QdrantStore) else StoreSpec()


def lexical(store: VectorStore, texts: TextStore) -> Lexical:
    """BM25 over every passage of `texts`, kept where `store` keeps it: bm25s's files beside FAISS, or sparse
    vectors in the Qdrant collection, written with the filters' fields. The passages are streamed from the text
    store in id order (a document's passages are consecutive; its author and date go with the first of them)."""
    ids = np.fromiter(texts.passage_ids(), np.int64)
    if isinstance(store, QdrantStore):
        return store.index_terms(_lexical_texts(texts), ids, build_table(PassageMap(texts), DocumentMap(texts)))
    return LexicalIndex.build(_lexical_texts(texts), ids)


def _lexical_texts(texts: TextStore) -> Iterator[str]:
    last = None
    for p in texts.passages():
        fields = bm25.field_text(texts.document(p.doc_id)) if p.doc_id != last else ""
        last = p.doc_id
        yield f"{p.text}\n{fields}" if fields else p.text


@contextlib.contextmanager
def saving(store: VectorStore, index_dir: Path) -> Iterator[None]:
    """Around writing a generation of `index_dir`: once it is live, a Qdrant store drops the collections no
    generation needs now (all but the new one and the one before it); a failure there is left to the next save."""
    previous = live_collection(index_dir) if isinstance(store, QdrantStore) else None
    yield
    if isinstance(store, QdrantStore):
        with contextlib.suppress(RagError):
            store.prune(previous)


def spec_of(index_dir: Path, spec: StoreSpec) -> StoreSpec:
    """`spec`, or when it names no store, the store of the live index in `index_dir` (if any): a rebuild keeps
    the store it had unless told otherwise."""
    if spec.kind is not None or not disk.exists(index_dir):
        return spec
    try:
        stored = disk.read_manifest(disk.current_generation(index_dir), verify=False).get("store") or {}
    except IndexError_:
        return spec
    return StoreSpec(stored["uri"], spec.api_key) if stored.get("kind") == "qdrant" and stored.get("uri") else spec


def live_collection(index_dir: Path) -> str | None:
    """The Qdrant collection of the live generation of `index_dir`, if it has one."""
    try:
        stored = disk.read_manifest(disk.current_generation(index_dir), verify=False).get("store") or {}
    except IndexError_:
        return None
    return str(stored["collection"]) if stored.get("kind") == "qdrant" and "collection" in stored else None


def load(
    folder: Path, manifest: Mapping[str, Any], *, dim: int, model: str, spec: StoreSpec, mapped: bool = False
) -> tuple[VectorStore, Lexical | None]:
    """The store and BM25 of the generation `folder`; the BM25 is None when saved by another version of the
    tokenizer (the caller rebuilds it). IndexMismatchError when `spec` names another kind of store. `mapped`:
    FAISS's file memory-mapped, for reading only (a Qdrant collection is on its server anyway); an ivf-sq8 file and
    bm25s's files are mapped either way, and copied on write (`FaissStore`) or rebuilt (BM25) by an update."""
    stored = manifest["store"]
    kind = str(stored["kind"])
    qdrant = kind == "qdrant"
    if spec.kind is not None and spec.kind != ("qdrant" if qdrant else "faiss"):
        raise IndexMismatchError(
            f"the index in {folder.parent} keeps its vectors in {stored.get('uri') if qdrant else 'faiss'}, not "
            f"{spec.uri}; rebuild it there with `rag index --rebuild --store {spec.uri}`")
    same_terms = manifest.get("lexical_version") == bm25.VERSION
    if not qdrant:  # BM25 is never changed in place (an update builds a new one): mapped for writers too
        return (FaissStore.load(folder, dim=dim, kind=kind, mapped=mapped),
                LexicalIndex.load(folder, mapped=True) if same_terms else None)
    if not same_terms:  # rebuilding its terms would write to the store: a reader must not
        raise IndexMismatchError(f"the index in {folder.parent} was tokenized by another version of rag; rebuild "
                                 "it with `rag index --rebuild`")
    try:
        where = spec if spec.kind == "qdrant" else StoreSpec(str(stored["uri"]), spec.api_key)
        store = QdrantStore.open(where, str(stored["collection"]), prefix=str(stored["prefix"]), dim=dim,
                                 model=model)
    except KeyError as exc:
        raise IndexCorruptError(f"{folder / disk.MANIFEST} has no Qdrant {exc}; {disk.REBUILD}") from exc
    return store, QdrantTerms.load(folder, store)
