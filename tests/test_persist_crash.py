"""Crashes and concurrent writers, with real processes: an index build SIGKILLed at random moments and at each
step of the switch always leaves the last good index loadable, and the next run completes the build; two
builders of one index take turns (or the second fails clearly), never mixing their indexes."""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import random
import signal
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fakes import FakeEmbedder  # subclassed at module level for the forkserver builders, which no fixture reaches

from rag.collection import build_index
from rag.errors import IndexLockedError
from rag.index import disk as persist
from rag.index.index import Index
from rag.index.lock import LOCK
from rag.ingest.corpus import fingerprint, load_corpus

# Builders are real processes, forked from a forkserver that imported the engine once: a SIGKILL lands as it
# would on `rag index`, and a start costs milliseconds instead of a second of imports.
_CTX = multiprocessing.get_context("forkserver")
_CTX.set_forkserver_preload(["rag.engine", "rag.index.index", "pytest", "fakes"])


class _SlowEmbedder(FakeEmbedder):
    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        time.sleep(self.delay)  # holds the lock a while, for the concurrency tests
        return super().embed(texts, progress=progress)


def _build(conn: Connection, index_dir: str, corpus: str, kill_at: str, nth: int, delay: float) -> None:
    """`build_index` with the fake embedder; SIGKILLs itself at the `nth` call of `kill_at` (module.function)."""
    if kill_at:
        module, _, name = kill_at.rpartition(".")
        target = {"persist": persist, "os": persist.os, "shutil": persist.shutil}[module]
        real = getattr(target, name)
        calls = [0]

        def trap(*args: object, **kwargs: object) -> object:
            calls[0] += 1
            if calls[0] >= nth:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(*args, **kwargs)

        setattr(target, name, trap)
    conn.send("ready")
    build_index(index_dir, [corpus], embedder=_SlowEmbedder(delay))
    conn.send(persist.current_generation(Path(index_dir)).name)


def _hold_lock(conn: Connection, index_dir: str, seconds: float) -> None:
    with persist.lock(Path(index_dir)):
        conn.send("ready")
        time.sleep(seconds)


class Proc:
    """A child process running `target(conn, *args)`, started once it has said "ready"."""

    def __init__(self, target: Callable[..., None], *args: object) -> None:
        self.conn, child = _CTX.Pipe()
        self.proc = _CTX.Process(target=target, args=(child, *args))
        self.proc.start()
        child.close()
        assert self.conn.recv() == "ready"
        assert self.proc.pid is not None
        self.pid: int = self.proc.pid

    def wait(self, timeout: float = 120) -> int | None:
        self.proc.join(timeout)
        return self.proc.exitcode

    def kill(self) -> None:
        if self.proc.is_alive():  # it may have finished already (the forkserver reaps it, not this process)
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

    def generation(self) -> str:
        gen = self.conn.recv()
        assert isinstance(gen, str)
        return gen


def _builder(index_dir: Path, corpus: Path, *, kill_at: str = "", nth: int = 1, delay: float = 0.0) -> Proc:
    return Proc(_build, str(index_dir), str(corpus), kill_at, nth, delay)


def _write_corpus(root: Path, version: int, n: int = 80) -> dict[str, str]:
    """Version `version` of a corpus of about `n` short articles; returns the fingerprints its index holds."""
    root.mkdir(exist_ok=True)
    for p in root.glob("*.txt"):
        p.unlink()
    rng = random.Random(version)
    for i in range(n):
        if rng.random() < 0.1:
            continue  # removed in this version
        edited = f" Revised in version {version}." if rng.random() < 0.3 else ""
        (root / f"story-{i:03d}.txt").write_text(
            f"Story {i} headline\nOfficials in town {i} said on Monday that {i * 7} people attended the event."
            f" The mayor spoke for {i % 13} minutes and promised a new bridge by {2025 + i % 5}.{edited}\n"
        )
    return {d.id: fingerprint(d) for d in load_corpus([root]).documents}


def _state(index_dir: Path) -> dict[str, str] | None:
    if not persist.exists(index_dir):
        return None
    return Index.load(index_dir).fingerprints()  # verifies every checksum, or raises


def _clean(index_dir: Path) -> None:
    assert [p.name for p in index_dir.glob("gen-*")] == [persist.current_generation(index_dir).name]
    assert not list(index_dir.glob(".tmp-*"))


def test_sigkill_at_random_moments_never_loses_the_last_good_index(tmp_path: Path, index_dir: Path) -> None:
    corpus = tmp_path / "corpus"
    rng = random.Random(6)
    _write_corpus(corpus, 0, n=150)
    assert _builder(index_dir, corpus).wait() == 0
    good = _write_corpus(corpus, 1, n=150)
    t0 = time.monotonic()
    assert _builder(index_dir, corpus).wait() == 0
    duration = time.monotonic() - t0  # how long an update takes here, so that kills land all through one
    assert _state(index_dir) == good
    outcomes = []
    for version in range(2, 10):
        target = _write_corpus(corpus, version, n=150)
        proc = _builder(index_dir, corpus)
        time.sleep(rng.uniform(0, duration))
        proc.kill()
        code = proc.wait()
        state = _state(index_dir)
        assert state in (good, target), f"version {version}: not the last good index"
        outcomes.append("finished" if code == 0 else "switched" if state == target else "killed")
        good = state
    # The next run completes the build and leaves nothing behind.
    assert _builder(index_dir, corpus).wait() == 0
    assert _state(index_dir) == target
    _clean(index_dir)
    assert "killed" in outcomes, outcomes


# (function, which call of it, whether the new index is live when the process dies there)
KILL_POINTS = [
    ("persist.prune", 1, False),  # lock taken, nothing written
    ("persist.write_manifest", 1, False),  # data files written, no manifest
    ("persist.fsync_tree", 1, False),  # every file written, nothing switched
    ("os.rename", 1, False),  # before the new generation gets its name
    ("os.replace", 1, False),  # named, CURRENT not yet switched
    ("persist._fsync_dir", 2, True),  # CURRENT switched, not yet synced
    ("persist.prune", 2, True),  # switched, the old generation still there
    ("shutil.rmtree", 3, True),  # in the middle of removing the old generation
]


def test_sigkill_at_each_step_of_the_switch(tmp_path: Path, index_dir: Path) -> None:
    corpus = tmp_path / "corpus"
    old = _write_corpus(corpus, 0, n=20)
    assert _builder(index_dir, corpus).wait() == 0
    for version, (kill_at, nth, switched) in enumerate(KILL_POINTS, 1):
        new = _write_corpus(corpus, version, n=20)
        assert _builder(index_dir, corpus, kill_at=kill_at, nth=nth).wait() == -signal.SIGKILL, kill_at
        assert _state(index_dir) == (new if switched else old), kill_at
        # The next run completes the build and clears what the killed one left.
        assert _builder(index_dir, corpus).wait() == 0, kill_at
        assert _state(index_dir) == new, kill_at
        _clean(index_dir)
        old = new


def test_two_builders_take_turns_and_never_mix(tmp_path: Path, index_dir: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    _write_corpus(a, 1, n=30)
    state_b = _write_corpus(b, 2, n=30)
    first = _builder(index_dir, a, delay=1.0)
    # Wait until the first holds the lock (it writes its pid there), then start the second.
    deadline = time.monotonic() + 30
    while (index_dir / LOCK).is_file() is False or not (index_dir / LOCK).read_text().strip():
        assert time.monotonic() < deadline, "the first builder never took the lock"
        time.sleep(0.01)
    assert (index_dir / LOCK).read_text().strip() == str(first.pid)
    # Meanwhile a writer that will not wait is told who holds the lock.
    who = rf"process {first.pid} is updating the index in .*try again"
    with pytest.raises(IndexLockedError, match=who), persist.lock(index_dir, timeout=0.2):
        pass
    second = _builder(index_dir, b)
    gen_a, gen_b = first.generation(), second.generation()
    assert first.wait() == 0 and second.wait() == 0
    assert gen_a < gen_b  # the second waited for the first, then built on what it saved
    assert _state(index_dir) == state_b  # exactly b's corpus, nothing of a's left over
    manifest = json.loads((persist.current_generation(index_dir) / "manifest.json").read_text())
    assert manifest["corpus"] == [str(b.resolve())]
    _clean(index_dir)


def test_a_save_outside_build_index_waits_for_the_lock(tmp_path: Path, index_dir: Path, fake_embedder: Any) -> None:
    corpus = tmp_path / "corpus"
    _write_corpus(corpus, 1, n=10)
    build_index(index_dir, [corpus], embedder=fake_embedder)
    index = Index.load(index_dir)
    holder = Proc(_hold_lock, str(index_dir), 1.0)
    t0 = time.monotonic()
    index.save(index_dir)  # Index.save takes the lock itself, so it cannot write beside a running build
    waited = time.monotonic() - t0
    assert holder.wait() == 0
    assert waited > 0.5, waited
    assert Index.load(index_dir).fingerprints() == index.fingerprints()


def test_a_killed_lock_holder_does_not_block_the_next_writer(tmp_path: Path, index_dir: Path,
                                                               fake_embedder: Any) -> None:
    corpus = tmp_path / "corpus"
    expected = _write_corpus(corpus, 1, n=10)
    holder = Proc(_hold_lock, str(index_dir), 60.0)
    holder.kill()
    holder.wait()
    t0 = time.monotonic()
    build_index(index_dir, [corpus], embedder=fake_embedder)
    assert time.monotonic() - t0 < 10 and _state(index_dir) == expected
