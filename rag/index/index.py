"""Index: documents, their passages and sentences, passage vectors (a VectorStore) and BM25, kept in step.

Updates are incremental: only documents added or changed are chunked and embedded, and removed ones are
dropped. Sentence vectors are computed here, at index time, so answering needs no model call beyond the one
query embedding.

[issue 12] An archive's texts and sentence vectors are not held in memory: documents and passages live in a
SQLite file read on demand (`rag.index.texts`), sentence vectors in a file appended as each batch is embedded and
memory-mapped to be read (`rag.index.sentences`). Documents are chunked and embedded a batch at a time
(`BATCH_TEXTS`), so the memory a build takes beyond the passage vectors and BM25 is bounded by a batch, not by
the corpus (bench/build_memory.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from rag.config import StoreSpec
from rag.embed.batches import embed_batches
from rag.embed.model import Embedder
from rag.errors import IndexCorruptError, IndexMismatchError
from rag.index import disk, files, stores
from rag.index.batches import BuildProgress, Chunked, UpdateReport, gather, texts_of
from rag.index.bm25 import Lexical
from rag.index.mappings import DocumentMap, PassageMap
from rag.index.sentences import SentenceKey, SentenceTable
from rag.index.texts import TextStore
from rag.index.vectors import EXACT_MAX, FaissStore, VectorStore
from rag.ingest.corpus import fingerprint
from rag.ingest.lazy import ids_of, subset
from rag.records import Document, Passage
from rag.text.chunk import ChunkSettings, chunk_document

# Texts (passages and their distinct sentences) embedded per call while updating: whole documents are gathered
# until a batch holds at least this many. Embedding speed does not depend on it (the embedder batches by length
# within a call); memory does: a batch's texts, token counts and vectors, a few MB at this size.
BATCH_TEXTS = 2000

# Called after each batch an update writes, with the index and the first passage id after the batches written.
OnBatch = Callable[["Index", int], object]


@dataclass
class Index:
    """An index. Build with `Index.create(...)` and `update(...)`; `save()`/`load()` are inverses.

    `documents` and `passages` are read-only mappings over the text store, `sentence_vectors` a memory map:
    change an index through `update`/`sync` only."""

    model: str
    dim: int
    chunking: ChunkSettings
    store: VectorStore
    texts: TextStore = field(default_factory=TextStore.create)
    sentences: SentenceTable = field(default=None)  # type: ignore[assignment]  # an empty one of `dim`
    next_id: int = 0
    corpus: tuple[str, ...] = ()
    lexical: Lexical | None = None
    lexical_rebuilt: bool = False  # loaded with a BM25 index of another version, rebuilt in memory: save me

    def __post_init__(self) -> None:
        if self.sentences is None:
            self.sentences = SentenceTable(self.dim)

    @classmethod
    def create(
        cls, embedder: Embedder, *, chunking: ChunkSettings | None = None, store: VectorStore | None = None
    ) -> Index:
        """An empty index for `embedder`'s vectors, kept in `store` (default: a new FaissStore)."""
        chunking = chunking or ChunkSettings(max_tokens=min(128, embedder.max_tokens))
        if chunking.max_tokens > embedder.max_tokens:
            raise ValueError(
                f"passages of {chunking.max_tokens} tokens would be truncated by {embedder.name}, "
                f"which reads at most {embedder.max_tokens}"
            )
        index = cls(model=embedder.name, dim=embedder.dim, chunking=chunking,
                    store=store if store is not None else FaissStore(embedder.dim))
        index._rebuild_lexical()
        return index

    # -- reading ---------------------------------------------------------------------------------------
    @property
    def documents(self) -> DocumentMap:
        """The documents by id, in the order they were added (read from the text store on demand)."""
        return DocumentMap(self.texts)

    @property
    def passages(self) -> PassageMap:
        """The passages by id (read from the text store on demand)."""
        return PassageMap(self.texts)

    @property
    def sentence_keys(self) -> list[SentenceKey]:
        """Every sentence's key, in row order: a list built on each call (use `len(index.sentences)` to count)."""
        return list(self.sentences.keys())

    @property
    def sentence_vectors(self) -> np.ndarray:
        """The sentence vectors (float16), memory-mapped; rows as `sentence_vector_rows` gives them."""
        return self.sentences.vectors

    def sentence_vector_rows(self, keys: Sequence[tuple[str, int, int]]) -> np.ndarray:
        return self.sentences.rows(keys)

    def fingerprints(self) -> dict[str, str]:
        return self.texts.fingerprints()

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
        batch_texts: int = BATCH_TEXTS,
        on_batch: OnBatch | None = None,
    ) -> UpdateReport:
        """Add or replace `upserts`, drop `removals`; only new or changed documents are embedded.

        They are chunked and embedded in batches of whole documents holding at least `batch_texts` texts
        (passages and sentences), so memory is bounded by a batch; `progress` shows one bar over the update.
        `on_batch(index, next_id)` is called after each batch is written (`rag.index.resume` checkpoints there).
        """
        self.check_model(embedder)
        t0 = time.perf_counter()
        old = self.fingerprints()
        # Positions, not documents: a lazy corpus (`rag.ingest.lazy`) is read again when its batch is reached.
        docs = upserts if isinstance(upserts, Sequence) else list(upserts)
        added, changed, positions = [], [], []
        for i, doc in enumerate(docs):
            if doc.id not in old:
                added.append(doc.id)
            elif old[doc.id] != fingerprint(doc):
                changed.append(doc.id)
            else:
                continue
            positions.append(i)
        fresh = subset(docs, positions)
        fresh_ids = {*added, *changed}
        removed = [d for d in dict.fromkeys(removals) if d in self.documents and d not in fresh_ids]
        self._drop([*changed, *removed])
        n_pass, n_sent = self._add(fresh, embedder, progress=progress, batch_texts=batch_texts, on_batch=on_batch)
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

    def sync(
        self, documents: Sequence[Document], *, embedder: Embedder, progress: bool = False,
        batch_texts: int = BATCH_TEXTS, on_batch: OnBatch | None = None,
    ) -> UpdateReport:
        """Make the index hold exactly `documents`: add, change and remove as needed (batches and `on_batch` as
        in `update`)."""
        keep = set(ids_of(documents))
        return self.update(documents, [d for d in self.documents if d not in keep], embedder=embedder,
                           progress=progress, batch_texts=batch_texts, on_batch=on_batch)

    def _drop(self, doc_ids: Sequence[str]) -> None:
        if not doc_ids:
            return
        self.store.remove(self.texts.drop(doc_ids))
        for d in doc_ids:
            self.sentences.drop(d)
        self.sentences.compact()

    def _add(
        self, docs: Sequence[Document], embedder: Embedder, *, progress: bool, batch_texts: int,
        on_batch: OnBatch | None = None,
    ) -> tuple[int, int]:
        """Chunk and embed `docs` in batches of whole documents of at least `batch_texts` texts each; return
        (passages, sentences) embedded. Each batch is added whole, so an error leaves earlier batches in;
        `on_batch(self, next_id)` is called after each one."""
        if batch_texts < 1:
            raise ValueError("batch_texts must be at least 1")
        if not docs:
            return 0, 0
        bar = BuildProgress(docs) if progress else None
        n_pass = n_sent = 0
        written = self.next_id  # the first passage id after the batches written: later ones may be chunked already
        # Lazy: an embedder that pipelines batches gets the next ones chunked while earlier ones are embedded.
        work = ((b, texts_of(b)) for b in gather(docs, partial(self._chunk, embedder=embedder), batch_texts))
        try:
            for batch, vectors in embed_batches(embedder, work):
                added = self._write_batch(batch, vectors)
                n_pass, n_sent = n_pass + added[0], n_sent + added[1]
                if bar is not None:
                    bar.advance(batch)
                written = max([written, *(p.id + 1 for _, ps, _ in batch for p in ps)])
                if on_batch is not None:
                    on_batch(self, written)
        finally:
            if bar is not None:
                bar.close()
        return n_pass, n_sent

    def _chunk(self, doc: Document, embedder: Embedder) -> tuple[list[Passage], list[SentenceKey]]:
        """`doc`'s passages, numbered from `next_id`, and its distinct sentences' keys in order."""
        passages = chunk_document(
            doc,
            count_tokens=embedder.count_tokens,
            max_tokens=self.chunking.max_tokens,
            overlap=self.chunking.overlap,
            first_id=self.next_id,
        )
        self.next_id += len(passages)
        spans = dict.fromkeys((s, e) for p in passages for s, e in p.sentences)
        return passages, [(doc.id, s, e) for s, e in spans]

    def _write_batch(self, batch: Sequence[Chunked], vectors: np.ndarray) -> tuple[int, int]:
        """Add one embedded batch (its passages' vectors, then its sentences', as `texts_of` lists them) with its
        documents to the index; return (passages, sentences) added."""
        passages = [p for _, ps, _ in batch for p in ps]
        self.store.add(np.array([p.id for p in passages], np.int64), vectors[: len(passages)])
        self.texts.add([doc for doc, _, _ in batch], passages)
        self.sentences.add([(doc.id, [(s, e) for _, s, e in ks]) for doc, _, ks in batch], vectors[len(passages):])
        if isinstance(self.store, FaissStore) and self.store.kind == "flat" and len(self.store) > EXACT_MAX:
            # [issue 12] An archive's float32 vectors would take 1.5 KiB a passage until the save: the store
            # becomes an ivf-sq8 one (384 bytes a vector) as soon as it is that large, trained on what it holds.
            self.store = self.store.resized()
        return len(passages), len(vectors) - len(passages)

    def _rebuild_lexical(self) -> None:
        # BM25 statistics are corpus-wide, so the lexical index is rebuilt; tokenizing is cheap next to embedding.
        # The passages are streamed from the text store (`rag.index.stores.lexical`).
        self.lexical = stores.lexical(self.store, self.texts)

    # -- disk ------------------------------------------------------------------------------------------
    def contents(self) -> files.Contents:
        """What a saved generation of this index holds (`rag.index.files`)."""
        return files.Contents(self.model, self.dim, self.chunking, self.next_id, self.corpus, self.texts,
                              self.sentences, self.store, self.lexical)

    def save(self, index_dir: str | Path) -> Path:
        """Write this index as a new generation of `index_dir` and make it the live one; return its folder.

        The new generation is read back and checked before the previous one is removed; IndexCorruptError if
        that fails (the previous one stays live), IndexWriteError if it cannot be written (a full disk).
        """
        index_dir = Path(index_dir)
        if isinstance(self.store, FaissStore):  # [perf, issue 5] exact when small, ivf-sq8 when large
            self.store = self.store.resized()
        contents = self.contents()
        # A Qdrant store drops the collections no generation needs once the new one is live (`stores.saving`).
        with stores.saving(self.store, index_dir), \
                disk.write_generation(index_dir, check=partial(self._check_saved, index_dir)) as folder:
            files.write(folder, contents, files.manifest_fields(contents, time.strftime("%Y-%m-%dT%H:%M:%S%z")))
        return disk.current_generation(index_dir)

    def _check_saved(self, index_dir: Path, gen: Path) -> None:
        """Read the generation just written back, verifying every checksum, and compare it with this index.
        The texts and sentence vectors stay on disk and the vector store and BM25 are memory-mapped: the check
        holds no second copy of the index."""
        back = files.read(index_dir, gen, verify=True, mapped=True, store=stores.spec_for(self.store))
        try:
            ours = (self.model, self.next_id, len(self.documents), len(self.passages), len(self.sentences),
                    len(self.store))
            theirs = (back.model, back.next_id, len(back.texts.ordinals()), back.texts.passage_count(),
                      len(back.sentences), len(back.store))
        finally:
            back.texts.close()
        if ours != theirs:
            raise IndexCorruptError(f"{gen} does not hold the index that was saved")

    @classmethod
    def load(cls, index_dir: str | Path, *, verify: bool = True, store: StoreSpec | None = None,
             mapped: bool = False) -> Index:
        """Load the live generation of `index_dir`, checking the format version and every file's checksum.
        `store` connects to the index's store (a server's address and key); IndexMismatchError if it names
        another kind than the index's. An inverted file (ivf-sq8) and BM25 are always memory-mapped (an update
        copies the cells on write and rebuilds BM25); `mapped` maps a flat or HNSW store too, for an index that is
        only read (an engine's): pages come in as searches touch them."""
        index_dir = Path(index_dir)
        gen = disk.current_generation(index_dir)
        try:
            contents = files.read(index_dir, gen, verify=verify, store=store, mapped=mapped)
        except IndexCorruptError:
            # A writer may have switched to a new generation and pruned this one while it was being read:
            # that is a race, not damage, and the new generation is read instead.
            if disk.current_generation(index_dir) == gen:
                raise
            contents = files.read(index_dir, disk.current_generation(index_dir), verify=verify, store=store,
                                  mapped=mapped)
        index = cls(**contents._asdict())
        if index.lexical is None:
            index._rebuild_lexical()
            index.lexical_rebuilt = True
        return index


__all__ = ["BATCH_TEXTS", "ChunkSettings", "Index", "UpdateReport"]
