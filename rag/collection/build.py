"""Building an index from corpus folders: load them, keep what a user removed out, and update the index so that
only what changed is embedded. `Collection.sync` (and so `rag index` and the chat's start) calls this."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from collections.abc import Collection as Ids
from dataclasses import dataclass, replace
from pathlib import Path

from rag.config import StoreSpec
from rag.embed.model import Embedder
from rag.errors import CorpusError, IndexMismatchError, RagError
from rag.index import disk, stores
from rag.index.index import BATCH_TEXTS, Index, UpdateReport
from rag.index.resume import CHECKPOINT_SECONDS, Checkpoints, Origin
from rag.ingest.corpus import IngestResult, load_corpus
from rag.ingest.lazy import LazyDocuments
from rag.text.chunk import ChunkSettings


@dataclass(frozen=True, slots=True)
class BuildResult:
    report: UpdateReport
    ingest: IngestResult
    rebuilt: str | None  # why the old index was discarded, if it was
    resumed: int = 0  # documents already embedded by a build that stopped, taken from its checkpoint


def recorded_corpus(index_dir: str | Path) -> list[Path]:
    """The corpus paths the live index in `index_dir` was last built from (read from its manifest without loading
    the index, which may be damaged); empty when there is no index or it records none."""
    try:
        recorded = disk.read_manifest(disk.current_generation(Path(index_dir)), verify=False).get("corpus")
    except RagError:
        recorded = None
    return [Path(p) for p in recorded or ()]


def _live_index(
    index_dir: Path, spec: StoreSpec, *, embedder: Embedder, chunking: ChunkSettings | None, rebuild: bool
) -> tuple[Index | None, str | None]:
    """The live index to update, or None and why it is to be built from scratch (None: there is none yet)."""
    if rebuild:
        return None, "requested"
    if not disk.exists(index_dir):
        return None, None
    try:
        index = Index.load(index_dir, store=spec)
        index.check_model(embedder)
        if chunking and chunking != index.chunking:
            raise IndexMismatchError(f"chunking changed from {index.chunking} to {chunking}")
    except IndexMismatchError as exc:
        return None, str(exc)
    return index, None


def _save(index: Index, index_dir: Path) -> None:
    """`index.save(index_dir)`; RagError when it cannot be written (a full disk, say): the live index is left
    as it was."""
    try:
        index.save(index_dir)
    except OSError as exc:
        raise RagError(f"cannot save the index in {index_dir} ({exc.strerror or exc}); it is unchanged") from exc


def build_index(
    index_dir: str | Path,
    corpus: Sequence[str | Path],
    *,
    embedder: Embedder,
    chunking: ChunkSettings | None = None,
    rebuild: bool = False,
    progress: bool = False,
    exclude: Ids[str] = (),
    on_wait: Callable[[int | None], object] | None = None,
    batch_texts: int = BATCH_TEXTS,
    store: StoreSpec | None = None,
    resume: bool = True,
    checkpoint_every: float | None = CHECKPOINT_SECONDS,
) -> BuildResult:
    """Bring the index in `index_dir` in line with the files under `corpus`: only what changed is embedded.

    Documents whose ids are in `exclude` (removed by a user) are left out. An index built with another model,
    format or chunking is rebuilt from scratch, never mixed. `on_wait(pid)` is called if another process holds
    the index's writer lock and this one has to wait (`rag.index.disk.lock`). Documents are chunked and
    embedded in batches of at least `batch_texts` texts (`Index.update`); `progress` shows one bar for the build.
    `store` says where the vectors are kept (`rag.config.StoreSpec`): an index in another kind of store is
    rebuilt there; by default an index keeps its own (FAISS for a new one).

    A build that was killed resumes from its last checkpoint (`rag.index.resume`, taken every
    `checkpoint_every` seconds of embedding; None: none are taken) unless `resume` is False; the live index
    stays the previous one until the new generation is saved.
    """
    index_dir = Path(index_dir)
    # Lazy: the documents are read again batch by batch, so that the build does not hold the whole corpus.
    ingest = load_corpus(corpus, lazy=True)
    documents = ingest.documents
    assert isinstance(documents, LazyDocuments)
    if exclude:
        ingest = replace(ingest, documents=(documents := documents.without(exclude)))
    if not ingest.documents:
        raise CorpusError(f"no document could be read, so nothing was indexed ({ingest.summary()})")
    with disk.lock(index_dir, on_wait=on_wait):
        spec = stores.spec_of(index_dir, store or StoreSpec())
        why = "requested" if rebuild else None
        points = Checkpoints(index_dir, Origin.of(index_dir, rebuild=rebuild), every=checkpoint_every)
        index = partial = points.resume(embedder, chunking) if resume and spec.kind != "qdrant" else None
        resumed = len(partial.documents) if partial is not None else 0
        if partial is None:
            points.discard()
            index, why = _live_index(index_dir, spec, embedder=embedder, chunking=chunking, rebuild=rebuild)
        if index is None:
            index = Index.create(embedder, chunking=chunking, store=stores.new_store(
                spec, index_dir=index_dir, dim=embedder.dim, model=embedder.name))
        # A file still listed but unreadable this time (damaged, vanished mid-scan) keeps its last good version.
        kept = [index.documents[d] for d in ingest.unreadable() if d in index.documents]
        report = index.sync(documents.plus(kept), embedder=embedder, progress=progress,
                            batch_texts=batch_texts, on_batch=points.after_batch)
        corpus_ids = tuple(str(Path(p).resolve()) for p in corpus)
        stale = report.touched or why or resumed or index.lexical_rebuilt or index.corpus != corpus_ids
        if stale or not disk.exists(index_dir):
            index.corpus = corpus_ids
            _save(index, index_dir)
        points.discard()
    return BuildResult(report=report, ingest=ingest, rebuilt=why, resumed=resumed)
