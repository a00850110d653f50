"""The streaming build: documents chunked and embedded a few at a time give the same index as one batch, sentence
sentence vectors appended to a file, one progress bar (plain lines in a log; nothing printed without it), token lengths
counted in blocks."""

from __future__ import annotations

import io
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import SEED_FILE, FakeEmbedder

import rag.embed.model as model_module
from rag.collection import build_index
from rag.index.index import Index
from rag.index.sentences import SentenceTable
from rag.ingest.corpus import load_corpus
from rag.records import Document

ONE_BATCH = 10**9  # every document in one embed call: the build as it was before batching


def _corpus(tmp_path: Path, n: int = 9) -> Path:
    """`n` articles of a few paragraphs each (cut from the seed article), as one corpus.jsonl."""
    paragraphs = [p for p in SEED_FILE.read_text(encoding="utf-8").split("\n") if len(p.split()) > 3]
    root = tmp_path / "corpus"
    root.mkdir()
    with (root / "corpus.jsonl").open("w", encoding="utf-8") as fh:
        for i in range(n):
            text = "\n\n".join(paragraphs[(i * 3 + j) % len(paragraphs)] for j in range(1 + i % 4))
            fh.write(json.dumps({"_id": f"doc-{i}", "title": f"Article {i}", "text": text}) + "\n")
    return root


def _docs(tmp_path: Path, n: int = 9) -> list[Document]:
    return list(load_corpus([_corpus(tmp_path, n)]).documents)


def _by_id(index: Index) -> np.ndarray:
    ids = index.store.ids()  # type: ignore[attr-defined]
    return index.store.vectors()[np.argsort(ids)]  # type: ignore[attr-defined,no-any-return]


def _assert_same(a: Index, b: Index) -> None:
    assert a.documents == b.documents
    assert a.passages == b.passages and a.next_id == b.next_id
    assert a.sentence_keys == b.sentence_keys
    assert a.sentence_vectors.dtype == b.sentence_vectors.dtype
    assert np.array_equal(a.sentence_vectors, b.sentence_vectors)
    assert sorted(a.store.ids().tolist()) == sorted(b.store.ids().tolist())  # type: ignore[attr-defined]
    assert np.array_equal(_by_id(a), _by_id(b))  # max abs difference 0
    assert a.sentence_vector_rows(a.sentence_keys).tolist() == list(range(len(a.sentence_keys)))
    q = "the council voted"
    assert [x.tolist() for x in a.lexical.search(q, 5)] == [x.tolist() for x in b.lexical.search(q, 5)]  # type: ignore[union-attr]


def test_batched_build_equals_one_batch(tmp_path: Path) -> None:
    docs = _docs(tmp_path)
    one, batched = FakeEmbedder(), FakeEmbedder()
    whole = Index.create(one)
    whole.sync(docs, embedder=one, batch_texts=ONE_BATCH)
    streamed = Index.create(batched)
    sizes = [len(ps) + len(ks) for ps, ks in map(lambda d: streamed._chunk(d, batched), docs)]
    streamed.next_id = 0  # _chunk numbered passages: start again
    batch_texts = sizes[0] + sizes[1]  # two or three documents a batch
    report = streamed.sync(docs, embedder=batched, batch_texts=batch_texts)
    assert one.calls == [sum(sizes)]
    assert len(batched.calls) >= 3 and sum(batched.calls) == sum(sizes)
    assert all(c >= batch_texts for c in batched.calls[:-1])  # whole documents until a batch is full
    assert report.passages_embedded == len(whole.passages)
    assert report.sentences_embedded == len(whole.sentence_keys)
    _assert_same(streamed, whole)


def test_batched_updates_equal_one_batch(tmp_path: Path) -> None:
    """Adding to an index, changing and removing documents, a document at a time: as in one batch."""
    docs = _docs(tmp_path, 8)
    changed = [replace(d, text=d.text + "\n\nA new paragraph was added on Friday.") if i % 3 == 0 else d
               for i, d in enumerate(docs[2:])]
    out = []
    for batch_texts in (1, ONE_BATCH):
        emb = FakeEmbedder()
        index = Index.create(emb)
        index.sync(docs[:5], embedder=emb, batch_texts=batch_texts)
        report = index.sync(changed, embedder=emb, batch_texts=batch_texts)
        assert report.removed == ("doc-0", "doc-1") and report.changed and report.added
        out.append(index)
    _assert_same(*out)


def test_build_index_batched_saves_the_same_index(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path)
    build_index(tmp_path / "a", [corpus], embedder=FakeEmbedder(), batch_texts=3)
    build_index(tmp_path / "b", [corpus], embedder=FakeEmbedder(), batch_texts=ONE_BATCH)
    _assert_same(Index.load(tmp_path / "a"), Index.load(tmp_path / "b"))


def test_no_progress_prints_nothing(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    build_index(tmp_path / "index", [_corpus(tmp_path)], embedder=FakeEmbedder(), batch_texts=3)
    assert capfd.readouterr() == ("", "")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_one_bar_of_passages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capfd: pytest.CaptureFixture[str]) -> None:
    corpus = _corpus(tmp_path)
    piped = build_index(tmp_path / "piped", [corpus], embedder=FakeEmbedder(), batch_texts=3, progress=True)
    out, err = capfd.readouterr()  # not a terminal: no bar, no carriage returns in a log; plain lines instead
    n = piped.report.passages_embedded
    assert not out and "\r" not in err and err.strip().splitlines()[-1].startswith(f"Indexing: {n:,} of about {n:,}")
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    result = build_index(tmp_path / "index", [corpus], embedder=FakeEmbedder(), batch_texts=3, progress=True)
    err = terminal.getvalue()
    final = err.replace("\r", "\n").strip().splitlines()[-1]
    n = result.report.passages_embedded
    assert final.startswith("Indexing: 100%") and f"{n}/{n}" in final and "passage/s" in final
    assert err.count("Indexing") >= 2 and "Embedding" not in err  # one bar, updated; no bar per embed call
    assert capfd.readouterr() == ("", "")


def test_batch_texts_must_be_positive(tmp_path: Path) -> None:
    emb = FakeEmbedder()
    with pytest.raises(ValueError, match="batch_texts"):
        Index.create(emb).sync(_docs(tmp_path, 2), embedder=emb, batch_texts=0)


def test_sentence_table_appends_as_vstack_would() -> None:
    """Rows appended block by block to the table's scratch file read back as one stacked array (float16)."""
    rng = np.random.default_rng(0)
    blocks = [rng.standard_normal((k, 8)).astype(np.float32) for k in (0, 1, 7, 30, 2, 100)]
    table = SentenceTable(8)
    for i, block in enumerate(blocks):
        table.add([(f"d{i}", [(j, j + 1) for j in range(len(block))])], block)
    got = table.vectors
    assert got.dtype == np.float16 and got.shape == (140, 8) and len(table) == 140
    assert np.array_equal(got, np.vstack(blocks).astype(np.float16))
    assert table.rows([("d3", 5, 6), ("d1", 0, 1)]).tolist() == [1 + 7 + 5, 0]
    assert SentenceTable(8).vectors.shape == (0, 8)


class _Tokenizer:
    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, texts: list[str], **kw: Any) -> dict[str, list[list[int]]]:
        self.calls.append(len(texts))
        ids = [[101, *range(len(t.split())), 102][: kw["max_length"]] for t in texts]
        return {"input_ids": ids}


class _Model:
    max_seq_length = 6

    def __init__(self) -> None:
        self.tokenizer = _Tokenizer()


def test_token_lengths_are_counted_in_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = [" ".join(["w"] * k) for k in (1, 9, 3, 0, 4, 2, 7)]
    monkeypatch.setattr(model_module, "LENGTH_BLOCK", 3)
    model = _Model()
    assert model_module._token_lengths(model, texts) == [3, 6, 5, 2, 6, 4, 6]
    assert model.tokenizer.calls == [3, 3, 1]
