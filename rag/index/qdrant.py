"""Qdrant as the index's store: passage vectors, BM25 terms and the fields the date and outlet filters read, in
one Qdrant collection per generation (issue 12). `rag.index.stores` picks it by URI (`rag.config.StoreSpec`):
"qdrant:PATH" is Qdrant's embedded local mode (pure Python, one process at a time: tests, small archives),
"http(s)://HOST:PORT" a server or cluster.

Generations. A saved collection is never changed: the first change after loading one goes to a new collection
(named `PREFIX-PID-RANDOM`; copy-on-write), filled at the end of the update with the kept points of the saved one
and the new vectors, one write per passage; the generation's manifest records the collection it was saved with.
So a failed build leaves the live collection as it was, and a reader never sees a half-written one. After a
save, the collections of this index folder other than the new live one and the one before it (which readers
loaded before the switch may still search) are dropped.

BM25. The sparse vectors hold our own terms (`rag.text.terms`) over a vocabulary saved with the generation, and
bm25s's weights: a passage's value for a term is the BM25 term-frequency part, a query's is the term's IDF times
its count (`rag.index.qdrant_terms`). Their dot product is bm25s's score, so lexical results are the same with
either store. IDF is computed here, not by Qdrant: a server counts deleted points in its IDF until it optimises
its segments.
"""

from __future__ import annotations

import hashlib
import os
import socket
import uuid
import weakref
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.config import StoreSpec
from rag.errors import IndexCorruptError, IndexMismatchError
from rag.index.filters import PassageTable, passage_fields
from rag.index.qdrant_conn import client, models, release
from rag.index.qdrant_terms import SPARSE, TERMS_FILE, QdrantTerms, TermBag
from rag.index.where import Where
from rag.records import Hits

DENSE = "dense"
_BATCH = 256  # points per request: a few hundred KB of JSON at 384 dimensions
_stages: set[str] = set()  # collections this process made and has not saved or dropped: never pruned


def prefix_for(index_dir: Path) -> str:
    """The prefix of an index folder's collections: one server can hold many indexes' collections."""
    where = f"{socket.gethostname()}:{Path(index_dir).resolve()}"
    return "rag-" + hashlib.sha256(where.encode()).hexdigest()[:12]


class QdrantStore:
    """Passage vectors in one Qdrant collection (with BM25 terms and filter fields once `index_terms` ran)."""

    kind = "qdrant"

    def __init__(self, spec: StoreSpec, collection: str, *, prefix: str, dim: int, model: str) -> None:
        self.spec, self.collection, self.prefix, self.dim, self.model = spec, collection, prefix, dim, model
        self.base: str | None = None  # the saved collection this one was copied from
        self._client = client(spec)
        self._sealed = True  # saved (maybe live): a change goes to a copy
        # Changes not written yet (`_flush`, `index_terms`): the collection to copy the kept points from, vectors
        # added and ids removed since.
        self._source: str | None = None
        self._pending: dict[int, np.ndarray] = {}
        self._removed: set[int] = set()

    @classmethod
    def create(cls, spec: StoreSpec, *, index_dir: Path, dim: int, model: str) -> QdrantStore:
        """An empty store in a new collection of `index_dir`'s."""
        store = cls(spec, "", prefix=prefix_for(index_dir), dim=dim, model=model)
        store._new_collection()
        return store

    @classmethod
    def open(cls, spec: StoreSpec, collection: str, *, prefix: str, dim: int, model: str) -> QdrantStore:
        """The saved `collection`, checked to hold `dim`-dimensional vectors of `model`."""
        store = cls(spec, collection, prefix=prefix, dim=dim, model=model)
        if not store._client("collection_exists", collection):
            raise IndexCorruptError(f"the Qdrant store at {spec.uri} has no collection {collection}, which the "
                                    "index was saved with; rebuild it with `rag index --rebuild`")
        config = store._client("get_collection", collection).config
        size, built_with = config.params.vectors[DENSE].size, (config.metadata or {}).get("model")
        if size != dim or built_with != model:
            raise IndexMismatchError(
                f"collection {collection} at {spec.uri} holds {size}-dimensional vectors of {built_with!r}; the "
                f"index expects {dim} of {model!r}: rebuild it with `rag index --rebuild --store {spec.uri}`")
        return store

    def _new_collection(self) -> None:
        m = models()
        name = f"{self.prefix}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        # Dot product on unit vectors: the same scores as FAISS's inner product.
        self._client("create_collection", name, vectors_config={DENSE: m.VectorParams(size=self.dim,
                     distance=m.Distance.DOT)}, sparse_vectors_config={SPARSE: m.SparseVectorParams()},
                     metadata={"model": self.model, "dim": self.dim, "prefix": self.prefix})
        _stages.add(name)
        weakref.finalize(self, _stages.discard, name)
        if not self._client.local:  # a server filters on indexed payload fields fast; local mode ignores them
            for key, schema in (("first_day", "INTEGER"), ("last_day", "INTEGER"), ("source", "KEYWORD")):
                self._client("create_payload_index", name, key, getattr(m.PayloadSchemaType, schema))
        self.collection, self._sealed = name, False

    def _writable(self) -> None:
        """Copy-on-write: the first change to a saved collection goes to a new one, filled from it lazily."""
        if self._sealed:
            self.base = self._source = self.collection
            self._new_collection()

    def _pages(self, name: str, vectors: Any = True) -> Iterator[list[Any]]:
        offset = None
        while True:
            points, offset = self._client("scroll", name, limit=_BATCH, offset=offset, with_vectors=vectors,
                                          with_payload=vectors is True)
            yield points
            if offset is None:
                return

    def _upsert(self, points: list[Any]) -> None:
        for s in range(0, len(points), _BATCH):
            self._client("upsert", self.collection, points=points[s:s + _BATCH], wait=True)

    def _flush(self) -> None:
        """Write what is waiting (the saved points still to copy, added vectors, removals) as it is. An update
        never needs this: `index_terms` writes every point once, with its terms (local mode commits each point
        to SQLite: writing a point twice doubles the build)."""
        if self._source is None and not self._pending and not self._removed:
            return
        m = models()
        if self._source is not None:
            for page in self._pages(self._source):
                self._upsert([m.PointStruct(id=p.id, vector=p.vector, payload=p.payload) for p in page
                              if p.id not in self._removed and p.id not in self._pending])
        self._upsert([m.PointStruct(id=i, vector={DENSE: v.tolist()}) for i, v in self._pending.items()])
        if self._removed:
            self._client("delete", self.collection, points_selector=m.PointIdsList(points=sorted(self._removed)),
                         wait=True)
        self._source, self._pending, self._removed = None, {}, set()

    def __len__(self) -> int:
        self._flush()
        return int(self._client("count", self.collection, exact=True).count)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise ValueError(f"expected vectors of shape (n, {self.dim}), got {vectors.shape}")
        if len(vectors):
            self._writable()
            for i, v in zip(np.asarray(ids, dtype=np.int64).tolist(), vectors, strict=True):
                self._pending[i] = v
                self._removed.discard(i)

    def remove(self, ids: Iterable[int]) -> None:
        drop = [int(i) for i in ids]
        if drop:
            self._writable()
            for i in drop:
                self._pending.pop(i, None)
            self._removed.update(drop)

    def search(
        self, queries: np.ndarray, k: int, *, allowed: np.ndarray | None = None, where: Where | None = None
    ) -> Hits:
        q = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        rows = [self.query(row.tolist(), DENSE, k, allowed=allowed, where=where) for row in q]
        width = max((len(r.ids) for r in rows), default=0)
        ids, scores = np.full((len(q), width), -1, np.int64), np.zeros((len(q), width), np.float32)
        for i, r in enumerate(rows):
            ids[i, :len(r.ids)], scores[i, :len(r.ids)] = r.ids, r.scores
        return Hits(ids, scores)

    def query(self, vector: Any, using: str, k: int, *, allowed: np.ndarray | None, where: Where | None) -> Hits:
        """The best `k` points for one query vector of `using`, filtered inside Qdrant."""
        if k < 1 or (where is None and allowed is not None and not allowed.any()):
            return Hits(np.zeros(0, np.int64), np.zeros(0, np.float32))
        self._flush()
        found = self._client("query_points", self.collection, query=vector, using=using, limit=k,
                             query_filter=_filter(where, allowed), with_payload=False).points
        return Hits(np.array([p.id for p in found], np.int64), np.array([p.score for p in found], np.float32))

    def save(self, folder: Path) -> list[str]:
        """Seal the collection: the manifest names it (`rag.index.stores.entry`); a later change goes to a copy."""
        self._flush()
        self._sealed = True
        return []

    def index_terms(self, texts: Iterable[str], ids: Sequence[int] | np.ndarray, table: PassageTable) -> QdrantTerms:
        """BM25 over `texts` (one per passage of `ids`, every passage of the index, read once, one at a time) and
        the filters' fields, written with each passage's vector as one point: the corpus's statistics (the
        average length) change with every update, as they do for bm25s, which rebuilds its index too."""
        m = models()
        bag = TermBag(texts)
        row = {pid: i for i, pid in enumerate(np.asarray(ids, np.int64).tolist())}
        if len(row) != len(bag.lengths):
            raise ValueError(f"{len(bag.lengths)} texts for {len(row)} passage ids")

        def point(pid: int, dense: Any) -> Any:
            indices, weights = bag.weights(row[pid])
            return m.PointStruct(id=pid, vector={DENSE: dense, SPARSE: m.SparseVector(indices=indices,
                                 values=weights)}, payload=passage_fields(table, pid))

        self._writable()
        source, stale = self._source or self.collection, []
        for page in self._pages(source, vectors=[DENSE]):  # the vectors kept, read a page at a time
            self._upsert([point(p.id, p.vector[DENSE]) for p in page if p.id in row and p.id not in self._pending])
            stale += [p.id for p in page if p.id not in row and source == self.collection]
        pending = [i for i in self._pending if i in row]
        for s in range(0, len(pending), _BATCH):  # one page of points built at a time
            self._upsert([point(i, self._pending[i].tolist()) for i in pending[s:s + _BATCH]])
        if stale:
            self._client("delete", self.collection, points_selector=m.PointIdsList(points=stale), wait=True)
        self._source, self._pending, self._removed = None, {}, set()
        return QdrantTerms(self, bag.vocab, bag.df(), len(row))

    def prune(self, previous: str | None = None) -> list[str]:
        """Drop this index's collections no generation needs: all but the live one, the one before it (`previous`,
        by default the one this was copied from) and those live processes are building. Return their names."""
        keep = {self.collection, previous or self.base, *_stages}
        dropped = []
        for c in self._client("get_collections").collections:
            parts = c.name.removeprefix(self.prefix + "-").split("-")
            if not c.name.startswith(self.prefix + "-") or c.name in keep or len(parts) != 2:
                continue
            if parts[0].isdigit() and int(parts[0]) != os.getpid() and _alive(int(parts[0])):
                continue
            self._client("delete_collection", c.name)
            dropped.append(c.name)
        return dropped


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == 1  # EPERM: alive, someone else's
    return True


def _filter(where: Where | None, allowed: np.ndarray | None) -> Any:
    """The question's date and outlet limits as a Qdrant filter: payload conditions from `where`; without it,
    the `allowed` passage ids (still inside the search, never discarding results afterwards)."""
    m = models()
    if where is not None:
        must = []
        if where.since is not None:
            must.append(m.FieldCondition(key="last_day", range=m.Range(gte=where.since)))
        if where.until is not None:
            must.append(m.FieldCondition(key="first_day", range=m.Range(lte=where.until)))
        if where.sources is not None:
            must.append(m.FieldCondition(key="source", match=m.MatchAny(any=list(where.sources))))
        return m.Filter(must=must)
    if allowed is not None:
        return m.Filter(must=[m.HasIdCondition(has_id=np.flatnonzero(allowed).tolist())])
    return None


__all__ = ["DENSE", "SPARSE", "TERMS_FILE", "QdrantStore", "QdrantTerms", "client", "prefix_for", "release"]
