"""One contract for every store an index can keep its vectors and BM25 in: FAISS + bm25s (the default) and Qdrant
(its local mode, on small sets: it is pure Python). Add, upsert a changed document, delete, search with and without
date and outlet filters, reopen, a failed build, and a second process reading what the first wrote."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rag.collection import build_index
from rag.config import StoreSpec
from rag.engine import Engine
from rag.index import qdrant
from rag.index.filters import allowed_ids, table_of
from rag.index.index import Index
from rag.index.where import where_of
from rag.window import TimeWindow

pytest.importorskip("qdrant_client")
_d = datetime.date.fromisoformat

ARTICLES = [
    ("harbour", "2024-03-02", "Coast Times", "The harbour authority approved a new ferry terminal for Kestrel Bay."),
    ("ferry", "2024-03-20", "Coast Times", "Ferry crews in Kestrel Bay went on strike over wages and night shifts."),
    ("budget", "2024-04-11", "Capital Post", "The city council passed a budget that doubles spending on ferries."),
    ("mayor", "2024-05-05", "Capital Post", "Mayor Ilse Brandt said the ferry strike cost the harbour two million."),
    ("storm", "2024-06-17", "Weather Desk", "A storm closed the Kestrel Bay harbour and cancelled every ferry."),
    ("undated", None, "Weather Desk", "Fishermen say the harbour storm wall needs repairs before winter."),
    ("rail", "2024-07-01", None, "A new rail line will link Kestrel Bay with the capital by 2027."),
    ("school", "2024-07-09", "Capital Post", "Teachers in the capital welcomed smaller classes this autumn."),
]


def _write_corpus(folder: Path, articles: list[tuple[str, str | None, str | None, str]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for doc_id, date, source, text in articles:
        row: dict[str, Any] = {"_id": doc_id, "title": doc_id.title(), "text": text}
        if date:
            row["date"] = date
        if source:
            row["source"] = source
        rows.append(json.dumps(row))
    (folder / "corpus.jsonl").write_text("\n".join(rows) + "\n")
    return folder


@pytest.fixture(params=["faiss", "qdrant"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    spec = StoreSpec.parse("faiss" if request.param == "faiss" else f"qdrant:{tmp_path / 'qdrant'}")
    yield spec
    if spec.kind == "qdrant":
        assert spec.uri is not None
        qdrant.release(spec.uri)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return _write_corpus(tmp_path / "corpus", ARTICLES)


def _docs(index: Index, ids: np.ndarray) -> list[str]:
    return [index.passages[int(p)].doc_id for p in ids if p >= 0]


def _search(index: Index, embedder: Any, query: str, k: int = 5, **limits: Any) -> tuple[list[str], list[str]]:
    """(dense, lexical) document ids of the top `k` passages, both searches filtered by `limits` from inside."""
    window = limits.get("window")
    sources = limits.get("sources")
    allowed = allowed_ids(table_of(index), window, sources) if limits else None
    where = where_of(window, sources) if limits else None
    dense = index.store.search(embedder.embed([query]), k, allowed=allowed, where=where).ids[0]
    assert index.lexical is not None
    lexical = index.lexical.search(query, k, allowed=allowed, where=where).ids
    return _docs(index, dense), _docs(index, lexical)


def test_add_search_and_reopen(index_dir: Path, corpus: Path, store: StoreSpec, fake_embedder: Any) -> None:
    build_index(index_dir, [corpus], embedder=fake_embedder, store=store)
    index = Index.load(index_dir, store=store)
    assert index.store.kind == ("qdrant" if store.kind == "qdrant" else "flat")
    assert len(index.store) == len(index.passages) == len(index.lexical or []) == len(ARTICLES)
    dense, lexical = _search(index, fake_embedder, "ferry strike wages Kestrel Bay")
    assert dense[0] == "ferry" and lexical[0] == "ferry"
    again = Index.load(index_dir)  # reopened with no store named: the index's own
    assert _search(again, fake_embedder, "ferry strike wages Kestrel Bay") == (dense, lexical)
    answer = Engine(again, fake_embedder).ask("Why did ferry crews in Kestrel Bay go on strike?")
    assert answer.citations and answer.citations[0].doc_id == "ferry"


def test_upsert_a_changed_document_and_delete_one(
    index_dir: Path, tmp_path: Path, store: StoreSpec, fake_embedder: Any
) -> None:
    build_index(index_dir, [_write_corpus(tmp_path / "c", ARTICLES)], embedder=fake_embedder, store=store)
    changed = [a if a[0] != "rail" else ("rail", "2024-07-01", None, "The rail line was cancelled: no trains to "
                                         "Kestrel Bay, the minister said.") for a in ARTICLES if a[0] != "school"]
    report = build_index(index_dir, [_write_corpus(tmp_path / "c", changed)], embedder=fake_embedder).report
    assert report.changed == ("rail",) and report.removed == ("school",)
    index = Index.load(index_dir, store=store)
    assert len(index.store) == len(index.passages) == len(changed) and "school" not in index.documents
    dense, lexical = _search(index, fake_embedder, "minister cancelled trains", k=len(changed))
    assert dense[0] == lexical[0] == "rail"
    assert "school" not in dense + lexical
    assert _search(index, fake_embedder, "teachers smaller classes autumn", k=10)[1] == []  # no term left
    assert not any("2027" in p.text for p in index.passages.values())


@pytest.mark.parametrize(("limits", "allowed"), [
    ({"window": TimeWindow(since=_d("2024-04-01"), until=_d("2024-06-30"))}, {"budget", "mayor", "storm"}),
    ({"window": TimeWindow(since=None, until=_d("2024-03-31"))}, {"harbour", "ferry", "undated"}),
    ({"sources": ["capital post"]}, {"budget", "mayor", "school"}),
    ({"window": TimeWindow(since=_d("2024-05-01"), until=None), "sources": ["Weather Desk", "nowhere"]}, {"storm"}),
])
def test_filters_run_inside_the_search(
    index_dir: Path, corpus: Path, store: StoreSpec, fake_embedder: Any, limits: dict[str, Any], allowed: set[str]
) -> None:
    build_index(index_dir, [corpus], embedder=fake_embedder, store=store)
    index = Index.load(index_dir, store=store)
    dense, lexical = _search(index, fake_embedder, "harbour ferry storm budget Kestrel Bay", k=len(ARTICLES),
                             **limits)
    assert set(dense) == allowed  # every allowed passage comes back, and nothing else: filtered inside
    assert set(lexical) <= allowed and lexical
    none = _search(index, fake_embedder, "harbour", window=TimeWindow(since=_d("2030-01-01"), until=None))
    assert none == ([], [])


def test_a_failed_update_leaves_the_live_index_as_it_was(
    index_dir: Path, tmp_path: Path, store: StoreSpec, make_fake_embedder: Any
) -> None:
    embedder = make_fake_embedder()
    build_index(index_dir, [_write_corpus(tmp_path / "c", ARTICLES)], embedder=embedder, store=store)
    before = _search(Index.load(index_dir), embedder, "ferry harbour", k=8)
    more = [*ARTICLES, ("late", "2024-08-01", "Coast Times", "The ferry terminal opened late in August."),
            ("later", "2024-08-02", "Coast Times", "The ferry terminal closed again in August.")]
    good, calls = embedder.embed, []

    def broken(texts: Any, *, progress: bool = False) -> Any:  # the second batch fails, the first is in the store
        calls.append(len(texts))
        if len(calls) > 1:
            raise RuntimeError("the embedder failed")
        return good(texts, progress=progress)

    embedder.embed = broken
    with pytest.raises(RuntimeError, match="embedder failed"):
        build_index(index_dir, [_write_corpus(tmp_path / "c", more)], embedder=embedder, batch_texts=1)
    embedder.embed = good
    index = Index.load(index_dir)
    assert "late" not in index.documents and len(index.store) == len(ARTICLES)
    assert _search(index, embedder, "ferry harbour", k=8) == before


WRITER = """
import sys
sys.path.insert(0, {tests!r})  # a worker process cannot take the fixtures: it imports the fake directly
from fakes import FakeEmbedder
from rag.collection import build_index
from rag.config import StoreSpec
build_index({index!r}, [{corpus!r}], embedder=FakeEmbedder(), store=StoreSpec.parse({uri!r}))
"""


def test_a_second_process_reads_what_the_first_wrote(
    index_dir: Path, corpus: Path, store: StoreSpec, fake_embedder: Any, project_root: Path
) -> None:
    script = WRITER.format(tests=str(project_root / "tests"), index=str(index_dir), corpus=str(corpus), uri=store.uri)
    subprocess.run([sys.executable, "-c", script], check=True, cwd=project_root, timeout=300)
    index = Index.load(index_dir)
    assert len(index.store) == len(ARTICLES)
    assert _search(index, fake_embedder, "storm closed harbour")[0][0] == "storm"
