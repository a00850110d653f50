"""What runs on the Ray cluster for a build (`rag.embed.cluster`): the stream actor, which takes the driver's
batches and runs the build's Ray Data dataset, the dataset's read task, which takes the batches from the stream
actor, and the embedding actors of its `map_batches`. Imported by Ray's workers; Ray itself only inside what they
call."""

from __future__ import annotations

import functools
import queue
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from rag.embed.model import SentenceTransformerEmbedder


class Stream:
    """A Ray actor that holds a build's batches until the dataset's read task takes them, runs the dataset, and
    hands its results to the driver one table at a time. Threaded (`THREADS`): the driver's puts, the read
    task's takes and the driver's wait for the next result are served at once. The dataset runs here, on the
    cluster, because Ray Data cannot execute in a Ray Client process (`ray://`)."""

    THREADS = 3

    def __init__(self, actor_class: type, settings: dict[str, Any], *, actors: int, cpus_per_actor: float) -> None:
        import ray
        from ray.data import ActorPoolStrategy, DataContext

        self._batches: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._reader: str | None = None
        self._lock = threading.Lock()
        with _block_per_batch(DataContext.get_current()):
            # The read runs on this node with no CPU reserved: it only waits for the driver's batches.
            source = _source_class()(ray.get_runtime_context().current_actor)
            ds = ray.data.read_datasource(source, override_num_blocks=1, num_cpus=0)
            ds = ds.map_batches(actor_class, batch_size=1, batch_format="pyarrow", udf_modifying_row_count=False,
                                compute=ActorPoolStrategy(size=actors), num_cpus=cpus_per_actor,
                                fn_constructor_kwargs=settings)
        self._results = iter(ds.iter_batches(batch_size=None, batch_format="pyarrow", prefetch_batches=0))

    def put(self, block: Any) -> None:
        """Queue one batch (a one-row table of its sequence number and texts), or None: the end of the build."""
        self._batches.put(block)

    def take(self, reader: str) -> Any:
        """The next batch for the read task `reader`, waiting for the driver's. A second reader is refused: Ray
        reruns a failed read task, and would skip as many batches as the first run had passed on."""
        with self._lock:
            if self._reader is None:
                self._reader = reader
            elif reader != self._reader:
                raise RuntimeError("the build's read task was restarted, and batches it had taken are lost")
        return self._batches.get()

    def next(self) -> Any:
        """The next table of (seq, vectors) rows, or None once the driver's end mark went through."""
        return next(self._results, None)


class EmbedActor:
    """One actor of the pool: loads the model once, then embeds each batch (a row of texts) in one call."""

    def __init__(self, *, model: str, precision: Any, device: str, batch_size: int, max_batch_tokens: int) -> None:
        from rag.config import process_defaults

        process_defaults()  # OpenMP threads that sleep when idle: set before torch loads, as in the CLI
        self.embedder = SentenceTransformerEmbedder(model, device=device, precision=precision,
                                                    batch_size=batch_size, max_batch_tokens=max_batch_tokens)
        self.embedder.model  # noqa: B018 - load it now: starting the actor, not its first batch, pays for it

    def __call__(self, table: Any) -> Any:
        import pyarrow as pa

        vectors = [self.embedder.embed(texts).astype(np.float32, copy=False).tobytes()
                   for texts in table.column("texts").to_pylist()]
        return pa.table({"seq": table.column("seq"), "vectors": pa.array(vectors, pa.large_binary())})


def _read_batches(stream: Any) -> Iterator[Any]:
    """The dataset's read task: each batch the driver gave `stream`, as a block of its own, until the end mark."""
    import ray

    reader = uuid.uuid4().hex
    while (block := ray.get(stream.take.remote(reader))) is not None:
        yield block


@functools.cache
def _source_class() -> type:
    from ray.data import Datasource, ReadTask
    from ray.data.block import BlockMetadata

    class QueueSource(Datasource):
        """A datasource of one read task, which streams the driver's batches from the stream actor."""

        def __init__(self, stream: Any) -> None:
            super().__init__()
            self.stream = stream

        def estimate_inmemory_data_size(self) -> int | None:
            return None  # the stream's length is not known until it ends

        def get_read_tasks(self, parallelism: int, per_task_row_limit: int | None = None,
                           data_context: Any = None) -> list[Any]:
            meta = BlockMetadata(num_rows=None, size_bytes=None, exec_stats=None)
            return [ReadTask(functools.partial(_read_batches, self.stream), meta)]

        @property
        def supports_distributed_reads(self) -> bool:
            return False  # on the node of the stream actor, which consumes what it yields

    return QueueSource


@contextmanager
def _block_per_batch(context: Any) -> Iterator[None]:
    """Datasets made inside see a context (Ray seals a copy into each) in which every block yielded by a read is
    passed on as it is: by default blocks are merged up to 128 MiB first, and the stream would stall until its
    end. A batch's row is then a block of its own, embedded in one call. Progress bars are the build's own."""
    saved = context.target_max_block_size, context.enable_progress_bars
    context.target_max_block_size, context.enable_progress_bars = 1, False
    try:
        yield
    finally:
        context.target_max_block_size, context.enable_progress_bars = saved
