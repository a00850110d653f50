"""A corrupt or truncated index is detected on load (checksums in the manifest), reported by file with the
way out, never used silently, and rebuilt from the corpus on request (`rag index --rebuild`)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rag.api import forget_engines, get_engine
from rag.cli import main
from rag.collection import build_index
from rag.embed.model import Embedder
from rag.engine import Engine
from rag.errors import IndexCorruptError, IndexLockedError
from rag.index import disk as persist
from rag.index.index import Index


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _manifest(gen: Path, change: Callable[[dict[str, Any]], object]) -> None:
    m = json.loads((gen / "manifest.json").read_text())
    change(m)
    (gen / "manifest.json").write_text(json.dumps(m))


# (what is done to the live generation, the message expected)
DAMAGE: list[tuple[str, Callable[[Path, Path], object], str]] = [
    ("truncated vectors", lambda d, g: _truncate(g / "vectors.faiss"), r"vectors\.faiss has \d+ bytes, expected"),
    ("flipped bit in texts", lambda d, g: _flip(g / "texts.sqlite"), r"texts\.sqlite does not match"),
    ("flipped bit in sentence vectors", lambda d, g: _flip(g / "sentence_vectors.npy"), "checksum"),
    ("flipped bit in BM25", lambda d, g: _flip(next((g / "bm25").glob("*.npy"))), "checksum"),
    ("missing texts", lambda d, g: (g / "texts.sqlite").unlink(), r"texts\.sqlite is missing"),
    ("missing manifest", lambda d, g: (g / "manifest.json").unlink(), r"manifest\.json is missing"),
    ("garbage manifest", lambda d, g: (g / "manifest.json").write_bytes(b"\x00\xff{"), "not valid JSON"),
    ("truncated manifest", lambda d, g: _truncate(g / "manifest.json"), "not valid JSON"),
    ("manifest without files", lambda d, g: _manifest(g, lambda m: m.pop("files")), "lists no files"),
    ("malformed manifest entry", lambda d, g: _manifest(g, lambda m: m["files"].update({"x.npy": 5})),
     "malformed entry"),
    ("CURRENT names nothing", lambda d, g: (d / "CURRENT").write_text("gen-999999\n"), "not a generation folder"),
    ("CURRENT escapes", lambda d, g: (d / "CURRENT").write_text("../../etc\n"), "not a generation folder"),
    ("CURRENT binary", lambda d, g: (d / "CURRENT").write_bytes(b"\xff\xfe\x00"), "cannot read"),
    ("generation deleted", lambda d, g: shutil.rmtree(g), "not a generation folder"),
]


@pytest.mark.parametrize(("what", "damage", "message"), DAMAGE, ids=[d[0] for d in DAMAGE])
def test_damage_is_detected_reported_and_rebuilt_on_request(
    tmp_path: Path, index_dir: Path, what: str, damage: Callable[[Path, Path], object], message: str,
    fake_embedder: Any, seed_file: Path,
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(seed_file, corpus / "seed.txt")
    emb = fake_embedder
    build_index(index_dir, [corpus], embedder=emb)
    good = Index.load(index_dir).fingerprints()
    damage(index_dir, persist.current_generation(index_dir))
    for attempt in (lambda: Index.load(index_dir), lambda: build_index(index_dir, [corpus], embedder=emb)):
        with pytest.raises(IndexCorruptError, match=message) as caught:
            attempt()
        assert "rag index --rebuild" in str(caught.value)
    # Rebuilt on request, from the corpus; the damaged generation is cleared away.
    result = build_index(index_dir, [corpus], embedder=emb, rebuild=True)
    assert result.rebuilt == "requested"
    assert Index.load(index_dir).fingerprints() == good
    assert [p.name for p in index_dir.glob("gen-*")] == [persist.current_generation(index_dir).name]


def test_an_engine_never_opens_a_damaged_index(index_dir: Path, monkeypatch: pytest.MonkeyPatch, fake_embedder: Any,
                                               seed_file: Path) -> None:
    build_index(index_dir, [seed_file], embedder=fake_embedder)
    _flip(persist.current_generation(index_dir) / "vectors.faiss")
    with pytest.raises(IndexCorruptError, match="checksum"):
        Engine.open(index_dir)
    with pytest.raises(IndexCorruptError, match="checksum"):
        get_engine(index_dir)
    # The default index is built on first use: a damaged one is reported, not silently replaced.
    with pytest.raises(IndexCorruptError, match="checksum"):
        get_engine()


def test_the_writer_lock_is_reentrant_within_a_thread_and_exclusive_across_threads(index_dir: Path) -> None:
    import threading

    with persist.lock(index_dir):
        with persist.lock(index_dir, timeout=0.1):  # build_index holds it while Index.save takes it again
            pass
        errors: list[BaseException] = []

        def other() -> None:
            try:
                with persist.lock(index_dir, timeout=0.2):
                    pass
            except IndexLockedError as exc:
                errors.append(exc)

        t = threading.Thread(target=other)
        t.start()
        t.join()
        assert len(errors) == 1 and "is updating the index" in str(errors[0])
    with persist.lock(index_dir, timeout=0.1):  # released
        pass


@pytest.mark.integration
def test_the_rag_command_reports_damage_and_rebuilds_on_request(
    tmp_path: Path, real_embedder: Embedder, capsys: pytest.CaptureFixture[str],
    seed_file: Path,
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(seed_file, corpus / "seed.txt")
    idx = tmp_path / "idx"
    build_index(idx, [corpus], embedder=real_embedder)
    question = "When did Turkey and Syria sign the memorandum of understanding?"
    assert main(["ask", question, "--index-dir", str(idx)]) == 0
    before, _ = capsys.readouterr()
    forget_engines()
    target = persist.current_generation(idx) / "texts.sqlite"
    _flip(target)
    assert main(["ask", question, "--index-dir", str(idx)]) == 2
    out, err = capsys.readouterr()
    assert not out and err.strip() == (f"rag ask: index file {target} does not match its checksum; rebuild it "
                                       "from the corpus with `rag index --rebuild`")
    assert main(["index", str(corpus), "--index-dir", str(idx)]) == 2
    out, err = capsys.readouterr()
    last = err.strip().splitlines()[-1]  # after the "Indexing ... into ..." progress line
    assert last.startswith("rag index: index file") and "does not match its checksum" in last
    assert "Traceback" not in err
    assert main(["index", str(corpus), "--rebuild", "--index-dir", str(idx)]) == 0
    out, err = capsys.readouterr()
    assert "Rebuilt from scratch (requested)" in out
    forget_engines()
    assert main(["ask", question, "--index-dir", str(idx)]) == 0
    out, err = capsys.readouterr()
    assert out == before  # the rebuilt index answers exactly as the index did before the damage
    assert "Sources:" in out or "Closest passages:" in out
