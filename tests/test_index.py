"""The index: exact save/load round trip, incremental updates, model/format mismatch, crash safety."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rag.collection import build_index
from rag.engine import Engine
from rag.errors import IndexCorruptError, IndexMismatchError
from rag.index import disk as persist
from rag.index.files import FORMAT_VERSION
from rag.index.index import Index
from rag.ingest.corpus import load_corpus


def _corpus(tmp_path: Path, seed_file: Path) -> Path:
    root = tmp_path / "corpus"
    root.mkdir()
    shutil.copy(seed_file, root / "seed.txt")
    (root / "mars.md").write_text("# Mars probe lands\n\nThe probe landed on Mars on Feb. 18, 2021. It carried a "
                                  "small helicopter named Ingenuity.\n")
    (root / "budget.txt").write_text("City budget approved\nThe council approved a budget of $4.2 billion on "
                                     "Tuesday. The vote was 7 to 2.\n")
    return root


def _assert_same(a: Index, b: Index) -> None:
    assert a.model == b.model and a.dim == b.dim and a.chunking == b.chunking
    assert a.documents == b.documents
    assert a.passages == b.passages
    assert a.sentence_keys == b.sentence_keys
    assert np.array_equal(a.sentence_vectors, b.sentence_vectors)
    assert a.next_id == b.next_id and a.corpus == b.corpus
    assert sorted(a.store.ids().tolist()) == sorted(b.store.ids().tolist())  # type: ignore[attr-defined]
    order_a, order_b = np.argsort(a.store.ids()), np.argsort(b.store.ids())  # type: ignore[attr-defined]
    assert np.array_equal(a.store.vectors()[order_a], b.store.vectors()[order_b])  # type: ignore[attr-defined]
    q = "council budget vote"
    assert [x.tolist() for x in a.lexical.search(q, 5)] == [x.tolist() for x in b.lexical.search(q, 5)]  # type: ignore[union-attr]


def test_save_load_round_trip(tmp_path: Path, index_dir: Path, fake_embedder: Any, seed_file: Path) -> None:
    index = Index.create(fake_embedder)
    index.sync(load_corpus([_corpus(tmp_path, seed_file)]).documents, embedder=fake_embedder)
    index.corpus = ("somewhere",)
    folder = index.save(index_dir)
    assert (index_dir / "CURRENT").read_text().strip() == folder.name
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["model"] == fake_embedder.name and manifest["dim"] == 64
    assert set(manifest["documents"]) == {"seed.txt", "mars.md", "budget.txt"}
    assert "vectors.faiss" in manifest["files"] and "texts.sqlite" in manifest["files"]
    loaded = Index.load(index_dir)
    _assert_same(index, loaded)
    # And saving what was loaded gives the same index again.
    loaded.save(index_dir)
    _assert_same(index, Index.load(index_dir))
    assert [p.name for p in index_dir.glob("gen-*")] == [persist.current_generation(index_dir).name]


def test_every_span_is_verbatim(tmp_path: Path, fake_embedder: Any, seed_file: Path) -> None:
    index = Index.create(fake_embedder)
    index.sync(load_corpus([_corpus(tmp_path, seed_file)]).documents, embedder=fake_embedder)
    for p in index.passages.values():
        text = index.documents[p.doc_id].text
        assert text[p.start:p.end] == p.text
        assert p.sentences[0][0] == p.start and p.sentences[-1][1] == p.end
        assert fake_embedder.count_tokens([p.text])[0] <= index.chunking.max_tokens + len(p.sentences)


def test_incremental_update_embeds_only_what_changed(tmp_path: Path, index_dir: Path, fake_embedder: Any,
                                                    seed_file: Path) -> None:
    corpus = _corpus(tmp_path, seed_file)
    emb = fake_embedder
    first = build_index(index_dir, [corpus], embedder=emb)
    assert sorted(first.report.added) == ["budget.txt", "mars.md", "seed.txt"]
    before = Index.load(index_dir)
    seed_pids = {pid for pid, p in before.passages.items() if p.doc_id == "seed.txt"}

    # Nothing changed: nothing embedded, nothing written.
    gen = persist.current_generation(index_dir).name
    emb.calls.clear()
    again = build_index(index_dir, [corpus], embedder=emb)
    assert not again.report.touched and emb.texts_embedded == 0
    assert persist.current_generation(index_dir).name == gen

    # Change one file, add one, remove one: only the changed and added files are embedded.
    (corpus / "mars.md").write_text("# Mars probe lands\n\nThe probe landed on Mars on Feb. 18, 2021.\n")
    (corpus / "quake.txt").write_text("Quake hits coast\nA magnitude 6.1 earthquake struck the coast on Monday.\n")
    (corpus / "budget.txt").unlink()
    emb.calls.clear()
    result = build_index(index_dir, [corpus], embedder=emb)
    r = result.report
    assert (r.added, r.changed, r.removed, r.unchanged) == (("quake.txt",), ("mars.md",), ("budget.txt",), 1)
    after = Index.load(index_dir)
    new_docs = [after.documents["mars.md"], after.documents["quake.txt"]]
    expected = sum(1 for p in after.passages.values() if p.doc_id in ("mars.md", "quake.txt"))
    expected += sum(1 for k in after.sentence_keys if k[0] in ("mars.md", "quake.txt"))
    assert emb.texts_embedded == expected == r.passages_embedded + r.sentences_embedded
    assert all(d.id != "budget.txt" for d in after.documents.values()) and new_docs
    assert not any(p.doc_id == "budget.txt" for p in after.passages.values())
    # The unchanged seed article kept its passages and their ids.
    assert {pid for pid, p in after.passages.items() if p.doc_id == "seed.txt"} == seed_pids
    assert len(after.store) == len(after.passages)
    assert len(after.lexical.search("budget council", 5).ids) == 0  # type: ignore[union-attr]


def test_other_model_is_detected_and_rebuilt(tmp_path: Path, index_dir: Path, make_fake_embedder: Any,
                                             seed_file: Path) -> None:
    corpus = _corpus(tmp_path, seed_file)
    build_index(index_dir, [corpus], embedder=make_fake_embedder())
    with pytest.raises(IndexMismatchError, match="built with 'fake-hash-64'"):
        Engine(Index.load(index_dir), make_fake_embedder(name="another-model"))
    other = make_fake_embedder(name="another-model")
    result = build_index(index_dir, [corpus], embedder=other)
    assert result.rebuilt and "fake-hash-64" in result.rebuilt
    assert Index.load(index_dir).model == "another-model"
    assert other.texts_embedded > 0


def test_format_version_mismatch_is_detected(tmp_path: Path, index_dir: Path, make_fake_embedder: Any,
                                             seed_file: Path) -> None:
    build_index(index_dir, [_corpus(tmp_path, seed_file)], embedder=make_fake_embedder())
    folder = persist.current_generation(index_dir)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["format_version"] = 999
    persist.write_manifest(folder, manifest)  # re-sealed with its checksum, as a future version would write it
    with pytest.raises(IndexMismatchError, match="format version 999"):
        Index.load(index_dir)
    assert build_index(index_dir, [tmp_path / "corpus"], embedder=make_fake_embedder()).rebuilt


def test_corrupt_file_is_detected(tmp_path: Path, index_dir: Path, fake_embedder: Any, seed_file: Path) -> None:
    build_index(index_dir, [_corpus(tmp_path, seed_file)], embedder=fake_embedder)
    target = persist.current_generation(index_dir) / "sentence_vectors.npy"
    data = bytearray(target.read_bytes())
    data[-5] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(IndexCorruptError, match="checksum"):
        Index.load(index_dir)


def test_interrupted_build_leaves_previous_index_loadable(
    tmp_path: Path, index_dir: Path, monkeypatch: pytest.MonkeyPatch, make_fake_embedder: Any, seed_file: Path
) -> None:
    corpus = _corpus(tmp_path, seed_file)
    build_index(index_dir, [corpus], embedder=make_fake_embedder())
    before = Index.load(index_dir)
    (corpus / "extra.txt").write_text("Extra news\nSomething else happened on Friday.\n")

    from rag.index.bm25 import LexicalIndex

    def crash(self: LexicalIndex, folder: Path) -> list[str]:
        (folder / "bm25").mkdir()
        (folder / "bm25" / "partial.npy").write_bytes(b"half a file")
        raise KeyboardInterrupt("killed mid-write")

    monkeypatch.setattr(LexicalIndex, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        build_index(index_dir, [corpus], embedder=make_fake_embedder())
    monkeypatch.undo()
    _assert_same(before, Index.load(index_dir))
    assert not list(index_dir.glob(".tmp-*"))
    result = build_index(index_dir, [corpus], embedder=make_fake_embedder())
    assert result.report.added == ("extra.txt",)
    assert "extra.txt" in Index.load(index_dir).documents
