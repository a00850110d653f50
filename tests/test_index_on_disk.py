"""The index's texts and sentence vectors on disk (issue 12): the SQLite text store behind `index.documents` and
`index.passages`, the sentence table behind `sentence_vectors`, copy-on-write of a loaded generation, damage to
the texts file, and builds through small batches with documents changed and removed."""

from __future__ import annotations

import gc
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rag.errors import IndexCorruptError
from rag.index import disk, vectors
from rag.index import index as index_module
from rag.index.index import Index
from rag.index.sentences import SENTENCE_DTYPE
from rag.index.texts import TextStore
from rag.records import Document


def _docs(n: int = 6) -> list[Document]:
    words = "harbour council budget bridge ferry storm election museum river market".split()
    return [Document(id=f"d{i}", title=f"Story {i}",
                     text=" ".join(f"The {words[(i + j) % 10]} report number {j} of story {i} was read." for j in
                                   range(3 + i % 4)), date=f"2025-08-{10 + i:02d}", source="Ledger" if i % 2 else None)
            for i in range(n)]


def _check_sentences(index: Index, embedder: Any) -> None:
    """Every passage's sentences find their own vectors: the rows the keys name hold each sentence's embedding."""
    for p in index.passages.values():
        keys = [(p.doc_id, s, e) for s, e in p.sentences]
        got = np.asarray(index.sentence_vectors[index.sentence_vector_rows(keys)])
        text = index.documents[p.doc_id].text
        want = embedder.embed([text[s:e] for s, e in p.sentences]).astype(SENTENCE_DTYPE)
        assert np.array_equal(got, want), p.id


def test_documents_and_passages_are_read_only_mappings(fake_embedder: Any) -> None:
    index = Index.create(fake_embedder)
    docs = _docs()
    index.sync(docs, embedder=fake_embedder)
    assert list(index.documents) == [d.id for d in docs] and len(index.documents) == len(docs)
    assert index.documents["d2"] == docs[2] and "d2" in index.documents and "nope" not in index.documents
    assert dict(index.documents.items()) == {d.id: d for d in docs} and list(index.documents.values()) == docs
    assert index.documents.get("nope") is None
    with pytest.raises(KeyError):
        index.documents["nope"]
    pids = list(index.passages)
    assert pids == sorted(pids) and len(index.passages) == len(pids) == index.next_id
    assert all(index.passages[pid].id == pid for pid in pids) and pids[-1] in index.passages
    assert -1 not in index.passages and "0" not in index.passages
    for p in index.passages.values():
        assert index.documents[p.doc_id].text[p.start:p.end] == p.text
    assert not hasattr(index.documents, "__setitem__")


def test_small_batches_with_changes_and_removals_keep_every_sentence_on_its_row(
    fake_embedder: Any, index_dir: Path
) -> None:
    index = Index.create(fake_embedder)
    docs = _docs(8)
    index.sync(docs[:6], embedder=fake_embedder, batch_texts=3)
    changed = [replace(d, text=d.text + " A late paragraph was added.") if d.id == "d3" else d for d in docs[2:]]
    report = index.sync(changed, embedder=fake_embedder, batch_texts=3)
    assert report.removed == ("d0", "d1") and report.changed == ("d3",) and report.added == ("d6", "d7")
    assert list(index.documents) == ["d2", "d4", "d5", "d3", "d6", "d7"]  # a changed document moves to the end
    assert len(index.sentence_vectors) == len(index.sentences) == len(index.sentence_keys)  # compacted
    _check_sentences(index, fake_embedder)
    index.save(index_dir)
    loaded = Index.load(index_dir)
    assert loaded.documents == index.documents and loaded.passages == index.passages
    assert loaded.sentence_keys == index.sentence_keys
    _check_sentences(loaded, fake_embedder)


def test_an_update_after_load_never_writes_the_live_generation(fake_embedder: Any, index_dir: Path) -> None:
    index = Index.create(fake_embedder)
    index.sync(_docs(4), embedder=fake_embedder)
    gen = index.save(index_dir)
    before = {p.name: disk.sha256_file(p) for p in gen.iterdir() if p.is_file()}
    loaded = Index.load(index_dir)
    loaded.update(_docs(6)[4:], ["d0"], embedder=fake_embedder, batch_texts=2)
    assert {p.name: disk.sha256_file(p) for p in gen.iterdir() if p.is_file()} == before
    _check_sentences(loaded, fake_embedder)
    assert list(loaded.documents) == ["d1", "d2", "d3", "d4", "d5"]
    loaded.save(index_dir)
    again = Index.load(index_dir)
    assert again.documents == loaded.documents and again.passages == loaded.passages
    _check_sentences(again, fake_embedder)


def test_a_texts_file_that_is_not_a_database_is_a_corrupt_index(fake_embedder: Any, index_dir: Path) -> None:
    index = Index.create(fake_embedder)
    index.sync(_docs(3), embedder=fake_embedder)
    gen = index.save(index_dir)
    target = gen / "texts.sqlite"
    target.write_bytes(b"\x00" * target.stat().st_size)  # the same size: only a checksum could tell
    with pytest.raises(IndexCorruptError, match=r"texts\.sqlite does not match its checksum"):
        Index.load(index_dir)
    with pytest.raises(IndexCorruptError, match=r"cannot read .*texts\.sqlite"):
        Index.load(index_dir, verify=False)


def test_a_manifest_fingerprint_that_disagrees_with_the_texts_is_caught(fake_embedder: Any, index_dir: Path) -> None:
    index = Index.create(fake_embedder)
    index.sync(_docs(3), embedder=fake_embedder)
    gen = index.save(index_dir)
    manifest = json.loads((gen / disk.MANIFEST).read_text())
    manifest["documents"]["d1"] = "0" * 32
    disk.write_manifest(gen, manifest)  # sealed again: the manifest itself looks sound
    with pytest.raises(IndexCorruptError, match="do not match the fingerprints"):
        Index.load(index_dir)


def _ivf_built(embedder: Any, monkeypatch: pytest.MonkeyPatch) -> Index:
    """An index of `_docs(8)` built in batches of 4 texts, its store an inverted file past 5 vectors."""
    monkeypatch.setattr(index_module, "EXACT_MAX", 5)
    monkeypatch.setattr(vectors, "EXACT_MAX", 5)
    index = Index.create(embedder)
    index.sync(_docs(8), embedder=embedder, batch_texts=4)
    return index


def test_the_store_turns_ivf_during_a_build_once_past_the_exact_limit(
    fake_embedder: Any, monkeypatch: pytest.MonkeyPatch, index_dir: Path
) -> None:
    index = _ivf_built(fake_embedder, monkeypatch)
    assert index.store.kind == "ivf-sq8" and len(index.store) == len(index.passages) > 5
    # [issue 12] the build's codes are on disk, not in the FAISS index in memory, until it is searched or saved
    spill = index.store._spill  # type: ignore[attr-defined]
    assert spill is not None and len(spill) == len(index.passages)
    assert index.store._index.ntotal == 0  # type: ignore[attr-defined]
    index.save(index_dir)
    pid = next(iter(index.passages))
    q = fake_embedder.embed([index.passages[pid].text])
    assert pid in index.store.search(q, 5).ids[0].tolist()
    assert not any(path.exists() for path in spill.paths)  # loaded into memory by the search: files gone
    assert Index.load(index_dir).store.kind == "ivf-sq8"


def _on_a_map(arr: Any) -> bool:
    """Whether `arr` is a view of a memory-mapped file."""
    import mmap

    while arr is not None:
        if isinstance(arr, np.memmap | mmap.mmap):
            return True
        arr = getattr(arr, "base", None)
    return False


def test_an_engine_maps_the_files_it_only_reads(
    fake_embedder: Any, monkeypatch: pytest.MonkeyPatch, index_dir: Path
) -> None:
    from rag.engine import Engine

    built = _ivf_built(fake_embedder, monkeypatch)
    built.save(index_dir)
    read, mapped = Index.load(index_dir), Index.load(index_dir, mapped=True)
    engine = Engine.open_with(index_dir, fake_embedder)
    for index in (read, mapped, engine.index):  # BM25 and an inverted file are mapped however an index is loaded
        assert _on_a_map(index.lexical._bm25.scores["data"])  # type: ignore[union-attr]
        assert index.store._shared  # type: ignore[attr-defined]
    for p in list(built.passages.values())[:5]:
        q = fake_embedder.embed([p.text])
        assert np.array_equal(read.store.search(q, 5).ids, mapped.store.search(q, 5).ids)
        assert read.lexical.search(p.text, 5).ids.tolist() == mapped.lexical.search(p.text, 5).ids.tolist()  # type: ignore[union-attr]
        assert engine.ask(p.text).citations == Engine(read, fake_embedder).ask(p.text).citations


def test_scratch_files_go_with_the_index(fake_embedder: Any) -> None:
    index = Index.create(fake_embedder)
    index.sync(_docs(2), embedder=fake_embedder)
    scratch = [index.texts._scratch, index.sentences._scratch]
    assert all(p is not None and p.exists() for p in scratch)
    del index
    gc.collect()
    assert not any(p is not None and p.exists() for p in scratch)


def test_text_store_drop_forgets_documents_and_their_passages(fake_embedder: Any) -> None:
    index = Index.create(fake_embedder)
    index.sync(_docs(3), embedder=fake_embedder)
    store: TextStore = index.texts
    gone = [pid for pid in index.passages if index.passages[pid].doc_id == "d1"]
    assert sorted(store.drop(["d1", "unknown"])) == gone
    assert "d1" not in index.documents and not any(pid in index.passages for pid in gone)
    assert store.passage_count() == len(list(index.passages)) and store.max_passage_id() == index.next_id - 1


def test_an_update_copies_the_mapped_cells_on_write(
    fake_embedder: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """[issue 12] An update of an ivf-sq8 index never reads its codes into memory: removals are kept as ids and
    the save writes the mapped cells without them, then the new codes. Same vectors and hits as the update made
    on the index read into memory (the code before)."""
    import faiss

    from rag.index.vectors import FaissStore

    docs = _docs(10)
    built = _ivf_built(fake_embedder, monkeypatch)  # the first 8 of `docs`
    built.save(tmp_path / "base")
    changed = [replace(docs[1], text=docs[1].text + " A late correction was filed."), *docs[2:10]]  # d0 removed
    saved = []
    for name in ("mapped", "in-memory"):
        index = Index.load(tmp_path / "base")
        assert index.store._shared  # type: ignore[attr-defined]
        if name == "in-memory":  # the codes read into memory, as every update did before
            index.store = FaissStore(index.dim, kind="ivf-sq8",
                                     index=faiss.read_index(str(disk.current_generation(tmp_path / "base") /
                                                                FaissStore.FILE)))
            index.store._index.set_direct_map_type(faiss.DirectMap.Hashtable)  # type: ignore[attr-defined]
        index.sync(changed, embedder=fake_embedder, batch_texts=4)
        if name == "mapped":
            inner = faiss.downcast_InvertedLists(faiss.downcast_index(index.store._index).invlists)  # type: ignore[attr-defined]
            assert type(inner).__name__ == "OnDiskInvertedLists"  # still the generation's file, unchanged
            assert index.store._dropped is not None and len(index.store._dropped)  # type: ignore[attr-defined]
        index.save(tmp_path / name)
        saved.append(Index.load(tmp_path / name))
    a, b = (s.store for s in saved)
    assert len(a) == len(b) == len(saved[0].passages) and sorted(a.ids().tolist()) == sorted(b.ids().tolist())
    order_a, order_b = np.argsort(a.ids()), np.argsort(b.ids())
    assert np.array_equal(a.vectors()[order_a], b.vectors()[order_b])
    for p in list(saved[0].passages.values())[:6]:
        q = fake_embedder.embed([p.text])
        assert set(a.search(q, 5).ids[0].tolist()) == set(b.search(q, 5).ids[0].tolist())
    assert "d0" not in saved[0].documents


def test_removals_from_a_mapped_store_stay_ids_until_the_save(tmp_path: Path) -> None:
    import faiss

    from rag.index.vectors import FaissStore

    rng = np.random.default_rng(4)
    x = rng.standard_normal((3000, 16)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    store = FaissStore(16, kind="ivf-sq8")
    store.add(np.arange(3000), x)
    (tmp_path / "a").mkdir()
    store.save(tmp_path / "a")
    back = FaissStore.load(tmp_path / "a", dim=16, kind="ivf-sq8")
    back.remove([1, 2, 3, 99_999])
    back.remove([3, 4])  # again: still ids, nothing read into memory
    assert back._shared and back._dropped.tolist() == [1, 2, 3, 4] and len(back) == 2996  # type: ignore[union-attr]
    assert type(faiss.downcast_InvertedLists(back._index.invlists)).__name__ == "OnDiskInvertedLists"
    (tmp_path / "b").mkdir()
    back.save(tmp_path / "b")
    again = FaissStore.load(tmp_path / "b", dim=16, kind="ivf-sq8")
    assert sorted(again.ids().tolist()) == [0, *range(5, 3000)]
    assert len(back.search(x[:3], 5).ids[0]) == 5 and not back._shared  # a search reads it into memory first
    assert np.isin(back.search(x[1:5], 10).ids, [1, 2, 3, 4]).sum() == 0
