"""Index: documents, their passages and sentences, passage vectors (a VectorStore) and BM25, kept in step.

Updates are incremental: only documents added or changed are chunked and embedded, and removed ones are
dropped. Sentence vectors are computed here, at index time, so answering needs no model call beyond the one
query embedding.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from rag.embed.model import Embedder
from rag.errors import IndexCorruptError, IndexMismatchError, IndexWriteError
from rag.index import bm25
from rag.index import disk as persist
from rag.index.bm25 import LexicalIndex
from rag.index.vectors import FaissStore, VectorStore
from rag.ingest.corpus import fingerprint
from rag.records import Document, Passage
from rag.text.chunk import chunk_document

# 2: documents.jsonl holds typed metadata (Document.to_dict: date, author, source, url, page_starts, extra),
# and the manifest carries its own checksum.
# 3: a document's date is an ISO day (or a year) found by rag.ingest.dates, with its `date_source`; an index of
# version 2 holds dates as written and none from URLs or datelines, so it is rebuilt rather than read.
FORMAT_VERSION = 3
# [perf, issue 5] Sentence vectors are kept as float16 (half the memory; cosines change by ~1e-4) and memory-mapped
# on load, so an archive's millions of them are paged in only as answers read them.
SENTENCE_DTYPE = np.float16


@dataclass(frozen=True, slots=True)
class ChunkSettings:
    max_tokens: int = 128
    overlap: int = 1


@dataclass(frozen=True, slots=True)
class UpdateReport:
    """What an update did: document ids added, changed and removed, and how much was embedded."""

    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    unchanged: int = 0
    passages_embedded: int = 0
    sentences_embedded: int = 0
    seconds: float = 0.0

    @property
    def touched(self) -> bool:
        return bool(self.added or self.changed or self.removed)


@dataclass
class Index:
    """An index in memory. Build with `Index.create(...)` and `update(...)`; `save()`/`load()` are inverses."""

    model: str
    dim: int
    chunking: ChunkSettings
    store: VectorStore
    documents: dict[str, Document] = field(default_factory=dict)
    passages: dict[int, Passage] = field(default_factory=dict)
    sentence_keys: list[tuple[str, int, int]] = field(default_factory=list)
    sentence_vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    next_id: int = 0
    corpus: tuple[str, ...] = ()
    lexical: LexicalIndex | None = None
    lexical_rebuilt: bool = False  # loaded with a BM25 index of another version, rebuilt in memory: save me
    _sentence_row: dict[tuple[str, int, int], int] = field(default_factory=dict, repr=False)

    @classmethod
    def create(cls, embedder: Embedder, *, chunking: ChunkSettings | None = None) -> Index:
        chunking = chunking or ChunkSettings(max_tokens=min(128, embedder.max_tokens))
        if chunking.max_tokens > embedder.max_tokens:
            raise ValueError(
                f"passages of {chunking.max_tokens} tokens would be truncated by {embedder.name}, "
                f"which reads at most {embedder.max_tokens}"
            )
        return cls(
            model=embedder.name,
            dim=embedder.dim,
            chunking=chunking,
            store=FaissStore(embedder.dim),
            sentence_vectors=np.zeros((0, embedder.dim), SENTENCE_DTYPE),
            lexical=LexicalIndex.build([], []),
        )

    # -- reading ---------------------------------------------------------------------------------------
    def sentence_vector_rows(self, keys: Sequence[tuple[str, int, int]]) -> np.ndarray:
        return np.array([self._sentence_row[k] for k in keys], dtype=np.int64)

    def fingerprints(self) -> dict[str, str]:
        return {doc_id: fingerprint(doc) for doc_id, doc in self.documents.items()}

    def check_model(self, embedder: Embedder) -> None:
        """Raise IndexMismatchError unless this index was built with `embedder`'s model."""
        if embedder.name != self.model:
            raise IndexMismatchError(
                f"the index was built with {self.model!r}, not {embedder.name!r}; "
                "rebuild it with `rag index --rebuild` (or use the model it was built with)"
            )

    # -- updating --------------------------------------------------------------------------------------
    def update(
        self,
        upserts: Iterable[Document] = (),
        removals: Iterable[str] = (),
        *,
        embedder: Embedder,
        progress: bool = False,
    ) -> UpdateReport:
        """Add or replace `upserts`, drop `removals`; only new or changed documents are embedded."""
        self.check_model(embedder)
        t0 = time.perf_counter()
        old = self.fingerprints()
        added, changed, fresh = [], [], []
        for doc in upserts:
            if doc.id not in old:
                added.append(doc.id)
            elif old[doc.id] != fingerprint(doc):
                changed.append(doc.id)
            else:
                continue
            fresh.append(doc)
        removed = [d for d in dict.fromkeys(removals) if d in self.documents and d not in {x.id for x in fresh}]
        self._drop([*changed, *removed])
        n_pass, n_sent = self._add(fresh, embedder, progress=progress)
        if fresh or removed or self.lexical is None:
            self._rebuild_lexical()
        return UpdateReport(
            added=tuple(added),
            changed=tuple(changed),
            removed=tuple(removed),
            unchanged=len(self.documents) - len(added) - len(changed),
            passages_embedded=n_pass,
            sentences_embedded=n_sent,
            seconds=time.perf_counter() - t0,
        )

    def sync(self, documents: Sequence[Document], *, embedder: Embedder, progress: bool = False) -> UpdateReport:
        """Make the index hold exactly `documents`: add, change and remove as needed."""
        keep = {d.id for d in documents}
        return self.update(documents, [d for d in self.documents if d not in keep], embedder=embedder,
                           progress=progress)

    def _drop(self, doc_ids: Sequence[str]) -> None:
        if not doc_ids:
            return
        gone = set(doc_ids)
        pids = [pid for pid, p in self.passages.items() if p.doc_id in gone]
        self.store.remove(pids)
        for pid in pids:
            del self.passages[pid]
        for d in gone:
            self.documents.pop(d, None)
        keep = [i for i, k in enumerate(self.sentence_keys) if k[0] not in gone]
        self.sentence_keys = [self.sentence_keys[i] for i in keep]
        self.sentence_vectors = self.sentence_vectors[keep]
        self._sentence_row = {k: i for i, k in enumerate(self.sentence_keys)}

    def _add(self, docs: Sequence[Document], embedder: Embedder, *, progress: bool) -> tuple[int, int]:
        new_passages: list[Passage] = []
        new_keys: list[tuple[str, int, int]] = []
        for doc in docs:
            passages = chunk_document(
                doc,
                count_tokens=embedder.count_tokens,
                max_tokens=self.chunking.max_tokens,
                overlap=self.chunking.overlap,
                first_id=self.next_id,
            )
            self.next_id += len(passages)
            new_passages.extend(passages)
            seen: set[tuple[int, int]] = set()
            for p in passages:
                for s, e in p.sentences:
                    if (s, e) not in seen:
                        seen.add((s, e))
                        new_keys.append((doc.id, s, e))
            self.documents[doc.id] = doc
        if not docs:
            return 0, 0
        texts = [p.text for p in new_passages] + [self.documents[d].text[s:e] for d, s, e in new_keys]
        vectors = embedder.embed(texts, progress=progress)
        self.store.add(np.array([p.id for p in new_passages], np.int64), vectors[: len(new_passages)])
        for p in new_passages:
            self.passages[p.id] = p
        base = len(self.sentence_keys)
        self.sentence_keys.extend(new_keys)
        fresh_vectors = vectors[len(new_passages):].astype(SENTENCE_DTYPE)
        self.sentence_vectors = np.vstack([self.sentence_vectors, fresh_vectors])
        self._sentence_row.update({k: base + i for i, k in enumerate(new_keys)})
        return len(new_passages), len(new_keys)

    def _rebuild_lexical(self) -> None:
        # BM25 statistics are corpus-wide, so the lexical index is rebuilt; tokenizing is cheap next to embedding.
        pids = sorted(self.passages)
        first: dict[str, int] = {}
        for pid in pids:
            first.setdefault(self.passages[pid].doc_id, pid)
        texts = []
        for pid in pids:
            p = self.passages[pid]
            fields = bm25.field_text(self.documents[p.doc_id]) if first[p.doc_id] == pid else ""
            texts.append(f"{p.text}\n{fields}" if fields else p.text)
        self.lexical = LexicalIndex.build(texts, pids)

    # -- disk ------------------------------------------------------------------------------------------
    def save(self, index_dir: str | Path) -> Path:
        """Write this index as a new generation of `index_dir` and make it the live one; return its folder.

        The new generation is read back and checked before the previous one is removed; IndexCorruptError if
        that fails (the previous one stays live), IndexWriteError if it cannot be written (a full disk).
        """
        index_dir = Path(index_dir)
        assert self.lexical is not None
        doc_order = list(self.documents)
        ordinal = {d: i for i, d in enumerate(doc_order)}
        with persist.write_generation(index_dir, check=partial(self._check_saved, index_dir)) as folder:
            with (folder / "documents.jsonl").open("w", encoding="utf-8") as fh:
                for d in doc_order:
                    fh.write(json.dumps(self.documents[d].to_dict(), ensure_ascii=False) + "\n")
            with (folder / "passages.jsonl").open("w", encoding="utf-8") as fh:
                for p in self.passages.values():
                    row = {"id": p.id, "doc": ordinal[p.doc_id], "start": p.start, "end": p.end,
                           "sentences": [list(s) for s in p.sentences]}
                    fh.write(json.dumps(row) + "\n")
            keys = np.array([(ordinal[d], s, e) for d, s, e in self.sentence_keys], np.int64).reshape(-1, 3)
            np.save(folder / "sentences.npy", keys)
            np.save(folder / "sentence_vectors.npy", np.asarray(self.sentence_vectors, dtype=SENTENCE_DTYPE))
            if isinstance(self.store, FaissStore):  # [perf, issue 5] exact when small, ivf-sq8 when large
                self.store = self.store.resized()
            try:
                self.store.save(folder)
            except RuntimeError as exc:  # faiss reports a failed write (a full disk) as a RuntimeError
                reason = str(exc).rsplit("(", 1)[-1].rstrip(")") if str(exc).endswith(")") else str(exc)
                raise IndexWriteError(str(folder / "vectors.faiss"), reason) from exc
            self.lexical.save(folder)
            persist.write_manifest(folder, self._manifest())
        return persist.current_generation(index_dir)

    def _check_saved(self, index_dir: Path, gen: Path) -> None:
        """Read the generation just written back, verifying every checksum, and compare it with this index."""
        back = Index._load_generation(index_dir, gen, verify=True)
        ours = (self.model, self.next_id, len(self.documents), len(self.passages), len(self.sentence_keys))
        theirs = (back.model, back.next_id, len(back.documents), len(back.passages), len(back.sentence_keys))
        if ours != theirs or len(back.store) != len(self.store):
            raise IndexCorruptError(f"{gen} does not hold the index that was saved")

    def _manifest(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "model": self.model,
            "dim": self.dim,
            "chunking": {"max_tokens": self.chunking.max_tokens, "overlap": self.chunking.overlap},
            "store": {"kind": self.store.kind},
            "lexical_version": bm25.VERSION,
            "next_id": self.next_id,
            "corpus": list(self.corpus),
            "counts": {"documents": len(self.documents), "passages": len(self.passages),
                       "sentences": len(self.sentence_keys)},
            "documents": self.fingerprints(),
            "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }

    @classmethod
    def load(cls, index_dir: str | Path, *, verify: bool = True) -> Index:
        """Load the live generation of `index_dir`, checking the format version and every file's checksum."""
        index_dir = Path(index_dir)
        gen = persist.current_generation(index_dir)
        try:
            return cls._load_generation(index_dir, gen, verify=verify)
        except IndexCorruptError:
            # A writer may have switched to a new generation and pruned this one while it was being read:
            # that is a race, not damage, and the new generation is read instead.
            if persist.current_generation(index_dir) == gen:
                raise
            return cls._load_generation(index_dir, persist.current_generation(index_dir), verify=verify)

    @classmethod
    def _load_generation(cls, index_dir: Path, folder: Path, *, verify: bool) -> Index:
        manifest = persist.read_manifest(folder, verify=verify)
        if manifest.get("format_version") != FORMAT_VERSION:
            raise IndexMismatchError(
                f"the index in {index_dir} has format version {manifest.get('format_version')}, this version of "
                f"rag reads {FORMAT_VERSION}; rebuild it with `rag index --rebuild`"
            )
        try:
            with (folder / "documents.jsonl").open(encoding="utf-8") as fh:
                docs = [Document.from_dict(json.loads(line)) for line in fh]
            order = [d.id for d in docs]
            documents = {d.id: d for d in docs}
            passages: dict[int, Passage] = {}
            for line in (folder / "passages.jsonl").open(encoding="utf-8"):
                row = json.loads(line)
                doc = docs[row["doc"]]
                passages[row["id"]] = Passage(
                    id=row["id"], doc_id=doc.id, start=row["start"], end=row["end"],
                    text=doc.text[row["start"]:row["end"]],
                    sentences=tuple((s, e) for s, e in row["sentences"]),
                )
            keys = [(order[o], int(s), int(e)) for o, s, e in np.load(folder / "sentences.npy")]
            vectors = np.load(folder / "sentence_vectors.npy", mmap_mode="r")
        except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
            raise IndexCorruptError(f"cannot read the index in {folder}: {exc}") from exc
        try:  # the manifest passed its checksum: a bad field here is a bug in the writer, still not a traceback
            fingerprints = dict(manifest["documents"])
            dim, next_id, model = int(manifest["dim"]), int(manifest["next_id"]), str(manifest["model"])
            chunking, kind = ChunkSettings(**manifest["chunking"]), str(manifest["store"]["kind"])
            corpus = tuple(str(p) for p in manifest.get("corpus", ()))
        except (KeyError, TypeError, ValueError) as exc:
            raise IndexCorruptError(f"{folder / persist.MANIFEST} has a malformed field ({exc!r}); "
                                    f"{persist.REBUILD}") from exc
        if {d: fingerprint(doc) for d, doc in documents.items()} != fingerprints:
            raise IndexCorruptError(f"the documents in {folder} do not match the fingerprints in its manifest")
        try:
            sentence_vectors = vectors.reshape(-1, dim)
        except ValueError as exc:
            raise IndexCorruptError(f"cannot read the index in {folder}: {exc}") from exc
        index = cls(
            model=model,
            dim=dim,
            chunking=chunking,
            store=FaissStore.load(folder, dim=dim, kind=kind),
            documents=documents,
            passages=passages,
            sentence_keys=keys,
            sentence_vectors=sentence_vectors,
            next_id=next_id,
            corpus=corpus,
            # A BM25 index tokenized by another version of `terms()` is rebuilt: cheap, and never mixed.
            lexical=LexicalIndex.load(folder) if manifest.get("lexical_version") == bm25.VERSION else None,
            _sentence_row={k: i for i, k in enumerate(keys)},
        )
        if index.lexical is None:
            index._rebuild_lexical()
            index.lexical_rebuilt = True
        if len(index.store) != len(passages):
            raise IndexCorruptError(f"{folder}: {len(index.store)} vectors for {len(passages)} passages")
        return index
