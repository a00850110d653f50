"""A lazy corpus (`load_corpus(..., lazy=True)`): the same documents as an eager read, each read again from its file
when reached, so that a build holds a batch of documents, not the corpus."""

from __future__ import annotations

import json
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import FakeEmbedder

import rag.ingest.corpus as corpus_module
from rag.collection import build_index
from rag.errors import CorpusError
from rag.index.index import Index
from rag.ingest.corpus import load_corpus
from rag.ingest.lazy import LazyDocuments, ids_of, subset
from rag.records import Document


def _text(i: int) -> str:
    return (f"Council vote {i}\nThe council of town {i} voted on the budget for year {2000 + i}. "
            f"The mayor of town {i} said the vote was close. Residents of town {i} gathered outside.\n")


def _archive(root: Path, n: int) -> Path:
    root.mkdir()
    with (root / "corpus.jsonl").open("w", encoding="utf-8") as fh:
        fh.write("\ufeff" if n else "")  # a byte-order mark on the first line, as some exports write
        for i in range(n):
            fh.write(json.dumps({"_id": f"doc-{i}", "title": f"Vote {i}", "text": _text(i), "date": "2024-03-01"}))
            fh.write("\n\n" if i == 2 else "\n")  # a blank line: skipped, and later offsets still right
    return root


def test_lazy_documents_equal_the_eager_read(tmp_path: Path) -> None:
    root = _archive(tmp_path / "corpus", 6)
    with (root / "corpus.jsonl").open("a", encoding="utf-8") as fh:
        fh.write("{not json\n")
    (root / "a.txt").write_text("Bridge opens\nThe new bridge opened on Friday.\n")
    (root / "copy of a.txt").write_text("Bridge opens\nThe new bridge opened on Friday.\n")
    eager, lazy = load_corpus([root]), load_corpus([root], lazy=True)
    assert isinstance(lazy.documents, LazyDocuments)
    assert list(lazy.documents) == list(eager.documents) and len(lazy.documents) == 7
    assert [str(f) for f in lazy.failures] == [str(f) for f in eager.failures]
    assert "corpus.jsonl:8" in str(lazy.failures[0])
    assert lazy.documents[0].extra["also_at"] == ("copy of a.txt",)  # the duplicate file, as eager reads it
    assert lazy.documents[-1] == eager.documents[-1] and list(lazy.documents[1:3]) == list(eager.documents[1:3])
    assert list(lazy.documents.ids) == [d.id for d in eager.documents] == list(ids_of(eager.documents))
    assert [d.id for d in subset(lazy.documents, [5, 1])] == ["doc-4", "doc-0"]
    assert [d.id for d in lazy.documents.without({"a.txt", "doc-3"})] == ["doc-0", "doc-1", "doc-2", "doc-4",
                                                                           "doc-5"]
    held = Document(id="extra", title="Extra", text="An extra article held in memory.")
    assert list(lazy.documents.plus([held]))[-1] is held


def test_lazy_documents_are_read_from_the_file_when_reached(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    root.mkdir()
    (root / "a.txt").write_text("Bridge opens\nThe new bridge opened on Friday.\n")
    docs = load_corpus([root], lazy=True).documents
    (root / "a.txt").write_text("Bridge opens\nThe new bridge opened on Friday after two years.\n")
    assert "after two years" in docs[0].text  # read now, not kept from the scan
    (root / "a.txt").unlink()
    with pytest.raises(CorpusError, match=r"a\.txt changed while the corpus was being indexed .*disappeared"):
        docs[0]


def test_a_rewritten_corpus_line_stops_the_build_and_the_live_index_is_kept(
    tmp_path: Path, index_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "corpus"
    root.mkdir()
    lines = [json.dumps({"_id": f"doc-{i}", "title": f"Vote {i}", "text": _text(i)}) for i in range(4)]
    (root / "corpus.jsonl").write_text("\n".join(lines) + "\n")
    build_index(index_dir, [root], embedder=FakeEmbedder())
    before = Index.load(index_dir)
    real_rows = corpus_module._jsonl_rows

    def rows(path: Path, name: str) -> Any:
        yield from real_rows(path, name)
        # Rewritten once scanned, lines of equal length reversed: doc-0's line now holds doc-3.
        path.write_text("\n".join(reversed(lines)) + "\n")

    monkeypatch.setattr(corpus_module, "_jsonl_rows", rows)
    with pytest.raises(CorpusError, match=r"doc-0 changed while the corpus was being indexed .*holds 'doc-3'"):
        build_index(index_dir, [root], embedder=FakeEmbedder())
    after = Index.load(index_dir)
    assert after.documents == before.documents and after.next_id == before.next_id


@dataclass(frozen=True, eq=False)
class _Tracked(Document):
    """A Document that can be counted while alive: a weak reference needs a class without slots, a WeakSet a hash."""

    __hash__ = object.__hash__


def test_a_build_holds_a_few_documents_not_the_corpus(
    tmp_path: Path, index_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _archive(tmp_path / "corpus", 60)
    alive: weakref.WeakSet[Document] = weakref.WeakSet()
    real_read = corpus_module._read_again

    def read_again(path: Path, doc_id: str, line: int, offset: int) -> Document:
        doc = real_read(path, doc_id, line, offset)
        tracked = _Tracked(**{f: getattr(doc, f) for f in doc.__dataclass_fields__})
        alive.add(tracked)
        return tracked

    most = []

    class Counting(FakeEmbedder):
        def embed(self, texts: Any, *, progress: bool = False) -> np.ndarray:
            most.append(len(alive))
            return super().embed(texts, progress=progress)

    monkeypatch.setattr(corpus_module, "_read_again", read_again)
    build_index(index_dir, [root], embedder=Counting(), batch_texts=20)  # about 3 documents a batch
    assert len(most) > 10 and min(most) >= 1  # many batches, of documents read again from the file
    assert max(most) <= 12, most  # the batches being chunked and embedded, not the 60 documents
    assert len(Index.load(index_dir).documents) == 60
