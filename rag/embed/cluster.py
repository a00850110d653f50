"""Embedding a build's batches on a Ray cluster (`rag index --ray`): Ray Data `map_batches` over a pool of
actors that each load the model once (`rag.embed.cluster_actors` holds what runs on the cluster).

How a lazy stream of batches gets into Ray Data without holding the corpus anywhere: this process (the driver,
which chunks the documents and writes the index) gives each batch, its texts as a one-row Arrow table, to a
stream actor, which runs the dataset: its one read task takes the batches from the stream actor and yields each
as its own block until it finds the end mark, and `map_batches` hands each block to an embedding actor, which
embeds the texts in one `SentenceTransformerEmbedder.embed` call, as the single-process build embeds that batch,
with the precision the driver's embedder chose: the vectors are bit-identical. The driver asks the stream actor
for results one table at a time (Ray Data cannot execute in a Ray Client process, so it never runs here).
One dataset per build, so the actors live for the whole build (a model load is seconds an actor). The driver
keeps at most `in_flight` batches out, chunks and puts the next ones as vectors come back, and yields vectors
in the order given.

An actor that dies is restarted by Ray and its batch retried (Ray Data's defaults for actor pools,
max_restarts=-1 and max_task_retries=-1); a batch that never comes back is a `ClusterError`, never a gap.

Ray (`pip install 'rag-news[cluster]'`) is imported only once a `RayEmbedder` is made.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

import numpy as np

from rag.embed import cluster_actors
from rag.embed.model import SentenceTransformerEmbedder
from rag.errors import ClusterError, require

T = TypeVar("T")
CLIENT_PORT = 10001  # Ray Client's default port on the head node (`ray://HEAD` means ray://HEAD:10001)
CONNECT_TIMEOUT = 5.0  # seconds to open a TCP connection to the address before Ray's own, much slower, retries


@dataclass(slots=True)
class Traffic:
    """What a `RayEmbedder` sent through the object store: batches, texts, and the bytes of the blocks of texts
    going out to the actors and of vectors coming back (Arrow buffer sizes)."""

    batches: int = 0
    texts: int = 0
    bytes_out: int = 0
    bytes_back: int = 0


class RayEmbedder:
    """`local`'s model on a Ray cluster's actors for a build's batches (`embed_batches`); everything else (its
    name, dimension, token counts, and small `embed` calls such as questions) is `local`'s, in this process.

    `address`: "auto" (the cluster this process or this machine runs, else a new local one), "ray://HOST[:PORT]"
    (Ray Client, port 10001 by default) or "HOST:PORT" (joining from a node of the cluster); a connection this
    process already has is used as it is. `actors`: the pool's size (default: the cluster's CPUs divided by
    `cpus_per_actor`); `in_flight`: batches out at a time (default: two per actor, and one more). Every node needs
    rag-news with the `cluster` extra installed, and the model where `local` finds it.
    """

    def __init__(
        self,
        local: SentenceTransformerEmbedder,
        *,
        address: str = "auto",
        actors: int | None = None,
        cpus_per_actor: float = 1.0,
        in_flight: int | None = None,
    ) -> None:
        require("ray.data", extra="cluster")
        if (actors is not None and actors < 1) or cpus_per_actor <= 0 or (in_flight is not None and in_flight < 1):
            raise ValueError("actors, cpus_per_actor and in_flight must be positive")
        self.local = local
        self.name = local.name
        self.address = address
        self.actors = actors
        self.cpus_per_actor = cpus_per_actor
        self.in_flight = in_flight
        self.traffic = Traffic()
        self._precision: str | None = None

    @property
    def dim(self) -> int:
        return self.local.dim

    @property
    def max_tokens(self) -> int:
        return self.local.max_tokens

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        return self.local.embed(texts, progress=progress)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self.local.count_tokens(texts)

    @property
    def precision(self) -> str:
        """The precision the actors embed in: `local`'s choice, so that a build's vectors do not depend on where
        it ran ("auto" loads `local`'s model once, here, to choose as a single-process build would)."""
        if self._precision is None:
            requested = self.local.requested_precision
            self._precision = requested if requested != "auto" else self.local.precision
        return self._precision

    def connect(self) -> None:
        """Connect to the cluster now (a build does it first thing); ClusterError naming the address if it cannot."""
        connect(self.address)

    def embed_batches(self, batches: Iterable[tuple[T, Sequence[str]]]) -> Iterator[tuple[T, np.ndarray]]:
        """For each (tag, texts), in order: (tag, unit-length float32 vectors), embedded by the cluster's actors
        while this process chunks the next batches and writes the earlier ones."""
        self.connect()
        import ray

        actors = self._pool_size()
        # No CPU for it: it waits, and passes batches and tables on. The actor pool's class is read here, when
        # the build starts (a test swaps in one that dies).
        options = {"num_cpus": 0, "max_restarts": 0, "max_concurrency": cluster_actors.Stream.THREADS}
        stream: Any = ray.remote(cluster_actors.Stream).options(**options).remote(
            cluster_actors.EmbedActor, self._actor_settings(), actors=actors, cpus_per_actor=self.cpus_per_actor)
        feed = _Feed(batches, stream, ahead=self.in_flight or 2 * actors + 1, dim=self.dim, traffic=self.traffic)
        try:
            feed.top_up()  # before the first result is asked for: the read task has something to take
            while (table := ray.get(stream.next.remote())) is not None:
                feed.arrived(table)
                yield from feed.ready()
                feed.top_up()
            feed.finish()
        except ray.exceptions.RayError as exc:
            raise ClusterError(f"the Ray cluster at {self.address} failed during the build: {exc}") from exc
        finally:
            ray.kill(stream)  # and with it the dataset and the pool's actors, which are its own

    def _pool_size(self) -> int:
        import ray

        cpus = float(ray.cluster_resources().get("CPU", 0))
        fits = int(cpus // self.cpus_per_actor)
        if self.actors is None:
            return max(1, fits)
        if self.actors > fits:  # Ray Data would wait for them forever
            raise ClusterError(f"the Ray cluster at {self.address} has {cpus:g} CPUs: {self.actors} actors of "
                               f"{self.cpus_per_actor:g} CPUs do not fit")
        return self.actors

    def _actor_settings(self) -> dict[str, Any]:
        return {"model": self.local.name, "precision": self.precision, "device": self.local.device,
                "batch_size": self.local.batch_size, "max_batch_tokens": self.local.max_batch_tokens}


class _Feed(Generic[T]):
    """The driver's side of a build's stream: gives the stream actor batches, at most `ahead` out at a time, and
    gives their vectors back in the order given."""

    def __init__(self, batches: Iterable[tuple[T, Sequence[str]]], stream: Any, *, ahead: int, dim: int,
                 traffic: Traffic) -> None:
        self._batches = iter(batches)
        self._stream, self._ahead, self._dim, self._traffic = stream, ahead, dim, traffic
        self._out: dict[int, tuple[T, int]] = {}  # sequence number -> (tag, texts) of each batch not yet given back
        self._back: dict[int, np.ndarray] = {}  # vectors come back, waiting for an earlier batch's
        self._sent = self._next = 0
        self._ended = False

    def top_up(self) -> None:
        import pyarrow as pa

        while not self._ended and len(self._out) - len(self._back) < self._ahead:
            item = next(self._batches, None)  # chunks the next batch, here in the driver
            if item is None:
                self._put(None)
                self._ended = True
                return
            tag, texts = item
            block = pa.table({"seq": pa.array([self._sent], pa.int64()),
                              "texts": pa.array([list(texts)], pa.list_(pa.string()))})
            self._put(block)
            self._out[self._sent] = (tag, len(texts))
            self._sent += 1
            self._traffic.batches += 1
            self._traffic.texts += len(texts)
            self._traffic.bytes_out += block.nbytes

    def _put(self, block: Any) -> None:
        import ray

        # Waited for: the stream actor is threaded, and an end mark must not overtake the last batch.
        ray.get(self._stream.put.remote(block))

    def arrived(self, table: Any) -> None:
        self._traffic.bytes_back += table.nbytes
        for seq, blob in zip(table.column("seq").to_pylist(), table.column("vectors").to_pylist(), strict=True):
            vectors = np.frombuffer(blob, dtype=np.float32).reshape(-1, self._dim)
            if seq not in self._out or seq in self._back or len(vectors) != self._out[seq][1]:
                raise ClusterError(f"the cluster gave back batch {seq} twice or with the wrong number of vectors")
            self._back[seq] = vectors

    def ready(self) -> Iterator[tuple[T, np.ndarray]]:
        while self._next in self._back:
            tag, _ = self._out.pop(self._next)
            yield tag, self._back.pop(self._next)
            self._next += 1

    def finish(self) -> None:
        if self._out:
            raise ClusterError(f"{len(self._out)} of {self._sent} batches sent to the cluster never came back; "
                               "nothing of them was written")


def connect(address: str) -> None:
    """Connect this process to the Ray cluster at `address` (see `RayEmbedder`) unless it is connected already.
    ClusterError, naming the address, if it cannot be reached."""
    import ray

    if ray.is_initialized():
        return
    if address != "auto":
        _check_reachable(address)
    try:
        if address == "auto":
            try:
                ray.init(address="auto", logging_level=logging.WARNING)
            except ConnectionError:  # none on this machine: start one
                ray.init(include_dashboard=False, logging_level=logging.WARNING)
        else:
            ray.init(address=address, logging_level=logging.WARNING)
    except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError or gRPC's errors here
        # Ray >= 2.5x clusters want a token, which a client sends only when told to (a timeout is all it says).
        hint = ("; a cluster with token authentication (Ray's default) needs RAY_AUTH_MODE=token and its token "
                "(RAY_AUTH_TOKEN, or ~/.ray/auth_token) here" if address.startswith("ray://") else "")
        raise ClusterError(f"cannot connect to the Ray cluster at {address}: {exc}{hint}") from exc


def _check_reachable(address: str) -> None:
    """Fail within CONNECT_TIMEOUT when nothing listens at `address`: Ray Client would retry for ~30 s."""
    client = address.startswith("ray://")
    try:
        parts = urlsplit("//" + address.removeprefix("ray://"))
        host, port = parts.hostname, parts.port or (CLIENT_PORT if client else None)
    except ValueError:
        host = port = None
    if not host or port is None:
        raise ClusterError(f"cannot read the Ray address {address!r}: use auto, ray://HOST:10001 or HOST:6379")
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT).close()
    except OSError as exc:
        raise ClusterError(f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}") from exc
