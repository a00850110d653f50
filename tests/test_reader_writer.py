"""Reading is split from writing: every write goes through the collection (so `rag index` keeps what the chat
added and removed), and a question never takes the index's writer lock."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from rag.api import ask, forget_engines
from rag.cli import main
from rag.collection import Collection
from rag.index import disk
from rag.index.index import Index

HARBOUR = """Port of Valmara reopens after storm

The Port of Valmara reopened on Sept. 1 after a week-long closure caused by Storm Elira.
Harbour master Ines Calloway said that 42 cargo ships had waited offshore during the closure.
"""


def test_rag_index_keeps_the_chats_uploads_and_removals(tmp_path: Path, index_dir: Path, seeds_dir: Path,
                                                        fake_models: Any) -> None:
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "budget.txt").write_text("The council approved the budget for the new library on Monday night.\n")
    chat = Collection(index_dir, [seeds_dir, extra], embedder=fake_models)
    chat.sync()
    upload = tmp_path / "harbour.txt"
    upload.write_text(HARBOUR)
    assert chat.add_files([upload]).added == ("harbour.txt",)
    chat.remove("budget.txt")
    # A newsroom re-indexes the same folders from the command line.
    assert main(["index", str(seeds_dir), str(extra), "--index-dir", str(index_dir)]) == 0
    docs = set(Index.load(index_dir).documents)
    assert "harbour.txt" in docs, "an uploaded article was dropped by `rag index`"
    assert "budget.txt" not in docs, "a removed article came back with `rag index`"
    assert len(docs) == 2


def test_a_question_never_waits_for_the_writer_lock(index_dir: Path, seeds_dir: Path, fake_models: Any) -> None:
    Collection(index_dir, [seeds_dir], embedder=fake_models).sync()
    forget_engines()  # a cold ask(), as in a new process
    held, release = threading.Event(), threading.Event()

    def writer() -> None:  # an upload or a build in progress elsewhere
        with disk.lock(index_dir):
            held.set()
            release.wait(30)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert held.wait(10)
        t0 = time.monotonic()
        answer = ask("When did Turkey and Syria sign the memorandum of understanding?")
        assert time.monotonic() - t0 < 10, "ask() waited behind the writer"
        assert answer.passages
    finally:
        release.set()
        thread.join()
