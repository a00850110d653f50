"""Defects found by hostile testing of the index on disk, each pinned by a test: an edited or damaged manifest
(caught, the last good generation kept until the new one is read back) and a full disk (one line, nothing
half-written)."""

from __future__ import annotations

import errno
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rag.cli import main
from rag.collection import build_index
from rag.errors import IndexCorruptError, IndexMismatchError, IndexWriteError
from rag.index import disk as persist
from rag.index.index import Index

SEEDS = Path(__file__).resolve().parents[1] / "seeds"


def _edit_manifest(gen: Path, change: Callable[[dict[str, Any]], object], *, seal: bool = False) -> None:
    """Change a generation's manifest as valid JSON; with `seal`, also give it a matching checksum (as a buggy
    writer would), so that only the checks of its content can catch the change."""
    m = json.loads((gen / persist.MANIFEST).read_text())
    change(m)
    if seal:
        m[persist.MANIFEST_CHECKSUM] = persist.manifest_checksum(m)
    (gen / persist.MANIFEST).write_text(json.dumps(m))


def _generations(index_dir: Path) -> list[str]:
    return sorted(p.name for p in index_dir.glob("gen-*"))


# -- 1. the manifest is checked, and the last good generation kept ----------------------------------------

@pytest.mark.parametrize("field", ["next_id", "dim", "corpus", "saved_at"])
def test_an_edited_manifest_is_caught_and_the_last_good_generation_kept(
    memo_corpus: Path, index_dir: Path, fake_embedder: Any, field: str
) -> None:
    build_index(index_dir, [memo_corpus], embedder=fake_embedder)
    gen = persist.current_generation(index_dir)
    good = Index.load(index_dir).fingerprints()
    edits: dict[str, Callable[[dict[str, Any]], object]] = {
        "next_id": lambda m: m.update(next_id=0),
        "dim": lambda m: m.update(dim=32),
        "corpus": lambda m: m.update(corpus=["/elsewhere"]),
        "saved_at": lambda m: m.update(saved_at="2001-01-01T00:00:00"),
    }
    _edit_manifest(gen, edits[field])
    expected = rf"{gen / 'manifest.json'} does not match its own checksum.*rag index --rebuild"
    with pytest.raises(IndexCorruptError, match=expected):
        Index.load(index_dir)
    (memo_corpus / "new.txt").write_text("A new article about the harbour bridge opened on Friday.\n")
    with pytest.raises(IndexCorruptError, match=expected):
        build_index(index_dir, [memo_corpus], embedder=fake_embedder)
    # Nothing was deleted: the damaged generation is still there for a person to look at, and still live.
    assert _generations(index_dir) == [gen.name] and persist.current_generation(index_dir) == gen
    _edit_manifest(gen, lambda m: None, seal=True)  # undo the damage by re-sealing: the documents were never lost
    if field in ("saved_at", "corpus"):
        assert Index.load(index_dir).fingerprints() == good


BAD_ENTRIES: list[tuple[str, object]] = [
    ("x.npy", 5),
    ("x.npy", {"bytes": "many", "sha256": "0" * 64}),
    ("x.npy", {"bytes": -1, "sha256": "0" * 64}),
    ("x.npy", {"bytes": True, "sha256": "0" * 64}),
    ("x.npy", {"bytes": 3, "sha256": "not a digest"}),
    ("x.npy", {"bytes": 3}),
    ("/etc/passwd", {"bytes": 3, "sha256": "0" * 64}),
    ("../../outside.npy", {"bytes": 3, "sha256": "0" * 64}),
    ("bm25/./ids.npy", {"bytes": 3, "sha256": "0" * 64}),
    ("manifest.json", {"bytes": 3, "sha256": "0" * 64}),
]


@pytest.mark.parametrize("seal", [False, True], ids=["edited", "sealed"])
@pytest.mark.parametrize(("entry", "value"), BAD_ENTRIES, ids=[f"{e}={v!r}"[:40] for e, v in BAD_ENTRIES])
def test_a_malformed_files_entry_names_the_manifest_and_the_entry(
    index_dir: Path, fake_embedder: Any, entry: str, value: object, seal: bool
) -> None:
    build_index(index_dir, [SEEDS], embedder=fake_embedder)
    gen = persist.current_generation(index_dir)
    _edit_manifest(gen, lambda m: m["files"].update({entry: value}), seal=seal)
    for verify in (True, False):
        with pytest.raises(IndexCorruptError) as caught:
            persist.read_manifest(gen, verify=verify)
        message = str(caught.value)
        assert message.startswith(f"{gen / 'manifest.json'} has a malformed entry for {entry!r}"), message
        assert "rag index --rebuild" in message


@pytest.mark.parametrize("target", ["vectors.faiss", "texts.sqlite"])
def test_a_changed_size_or_digest_in_the_manifest_is_blamed_on_the_manifest(
    index_dir: Path, fake_embedder: Any, target: str
) -> None:
    build_index(index_dir, [SEEDS], embedder=fake_embedder)
    gen = persist.current_generation(index_dir)
    _edit_manifest(gen, lambda m: m["files"][target].update(bytes=m["files"][target]["bytes"] - 1))
    with pytest.raises(IndexCorruptError, match=rf"^{gen / 'manifest.json'} does not match its own checksum"):
        Index.load(index_dir)
    _edit_manifest(gen, lambda m: m["files"][target].update(bytes=m["files"][target]["bytes"] + 1,
                                                            sha256="f" * 64))
    with pytest.raises(IndexCorruptError, match=rf"^{gen / 'manifest.json'} does not match its own checksum"):
        Index.load(index_dir)


def test_a_manifest_without_its_checksum_is_refused(index_dir: Path, fake_embedder: Any) -> None:
    build_index(index_dir, [SEEDS], embedder=fake_embedder)
    gen = persist.current_generation(index_dir)
    _edit_manifest(gen, lambda m: m.pop(persist.MANIFEST_CHECKSUM))
    with pytest.raises(IndexCorruptError, match=r"manifest\.json has no checksum of its own"):
        Index.load(index_dir)
    # A format-1 manifest (written before manifests had checksums) is an old index: rebuilt, not trusted.
    _edit_manifest(gen, lambda m: m.update(format_version=1))
    with pytest.raises(IndexMismatchError, match="format version 1"):
        Index.load(index_dir)
    assert build_index(index_dir, [SEEDS], embedder=fake_embedder).rebuilt
    assert Index.load(index_dir).fingerprints()


def test_a_sealed_manifest_with_a_malformed_field_is_refused_not_a_traceback(
    index_dir: Path, fake_embedder: Any
) -> None:
    build_index(index_dir, [SEEDS], embedder=fake_embedder)
    gen = persist.current_generation(index_dir)
    _edit_manifest(gen, lambda m: m.update(dim="wide"), seal=True)
    with pytest.raises(IndexCorruptError, match=r"manifest\.json has a malformed field"):
        Index.load(index_dir)


def _damage_while_syncing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Flip a byte of the generation being written after its manifest, as a bad disk or a buggy writer would."""
    real = persist.write_manifest  # the last file of a generation: nothing is written between it and the switch

    def damaging(root: Path, manifest: dict[str, Any]) -> None:
        real(root, manifest)
        target = root / "texts.sqlite"
        data = bytearray(target.read_bytes())
        data[len(data) // 2] ^= 0x01
        target.write_bytes(bytes(data))

    monkeypatch.setattr(persist, "write_manifest", damaging)


def test_the_previous_generation_is_kept_until_the_new_one_is_read_back(
    memo_corpus: Path, index_dir: Path, fake_embedder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_index(index_dir, [memo_corpus], embedder=fake_embedder)
    old = persist.current_generation(index_dir)
    good = Index.load(index_dir).fingerprints()
    (memo_corpus / "new.txt").write_text("A new article about the harbour bridge opened on Friday.\n")
    _damage_while_syncing(monkeypatch)
    with pytest.raises(IndexCorruptError, match=r"could not be read back.*previous index is still in use"):
        build_index(index_dir, [memo_corpus], embedder=fake_embedder)
    # Switched back: the old generation is live and whole, the new one is gone, nothing is left behind.
    assert persist.current_generation(index_dir) == old
    assert _generations(index_dir) == [old.name] and not list(index_dir.glob(".*tmp*"))
    assert Index.load(index_dir).fingerprints() == good
    monkeypatch.undo()
    assert "new.txt" in Index.load(index_dir).fingerprints() or build_index(
        index_dir, [memo_corpus], embedder=fake_embedder
    ).report.added == ("new.txt",)


def test_a_first_build_that_cannot_be_read_back_leaves_no_index(
    index_dir: Path, fake_embedder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _damage_while_syncing(monkeypatch)
    with pytest.raises(IndexCorruptError, match="could not be read back"):
        build_index(index_dir, [SEEDS], embedder=fake_embedder)
    assert not persist.exists(index_dir) and not _generations(index_dir)


# -- 2. a full disk ----------------------------------------------------------------------------------------

def _enospc(*args: object, **kwargs: object) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


def _faiss_full(*args: object, **kwargs: object) -> None:
    # What faiss itself raises when fwrite fails on a full disk.
    raise RuntimeError("Error in void faiss::write_index(const Index*, IOWriter*, int) at index_write.cpp:499: "
                       "Error: 'ret == (size * 4)' failed: write error in vectors.faiss: 4051 != 16000 "
                       "(No space left on device)")


FULL_DISK: dict[str, Callable[[pytest.MonkeyPatch], None]] = {
    "np.save": lambda mp: mp.setattr(np, "save", _enospc),
    "faiss.write_index": lambda mp: mp.setattr(__import__("faiss"), "write_index", _faiss_full),
    "manifest": lambda mp: mp.setattr(persist, "write_manifest", _enospc),
    "fsync": lambda mp: mp.setattr(persist.os, "fsync", _enospc),
}


@pytest.mark.parametrize("where", list(FULL_DISK))
def test_a_full_disk_is_one_line_and_leaves_the_index_as_it_was(
    memo_corpus: Path, tmp_path: Path, fake_models: Any, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], where: str
) -> None:
    idx = tmp_path / "idx"
    assert main(["index", str(memo_corpus), "--index-dir", str(idx)]) == 0
    before = (Index.load(idx).fingerprints(), _generations(idx), (idx / "CURRENT").read_bytes())
    capsys.readouterr()
    (memo_corpus / "new.txt").write_text("A new article about the harbour bridge opened on Friday.\n")
    FULL_DISK[where](monkeypatch)
    assert main(["index", str(memo_corpus), "--index-dir", str(idx)]) == 2
    _, err = capsys.readouterr()
    last = err.strip().splitlines()[-1]
    assert last.startswith("rag index: cannot write the index to ") and "No space left on device" in last, err
    assert "Traceback" not in err
    monkeypatch.undo()
    assert not list(idx.glob(".tmp-*")) and not list(idx.glob(".CURRENT*"))
    assert (Index.load(idx).fingerprints(), _generations(idx), (idx / "CURRENT").read_bytes()) == before


def test_a_full_disk_is_an_index_write_error_from_the_library(
    index_dir: Path, fake_embedder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(np, "save", _enospc)
    with pytest.raises(IndexWriteError) as caught:
        build_index(index_dir, [SEEDS], embedder=fake_embedder)
    assert caught.value.reason == "No space left on device" and caught.value.path
    assert not persist.exists(index_dir) and not _generations(index_dir) and not list(index_dir.glob(".tmp-*"))


