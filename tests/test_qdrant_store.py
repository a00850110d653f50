"""What only the Qdrant store has: store URIs, its clear errors (server unreachable, API key refused, another
model, a folder another process holds), one collection per generation with the old ones dropped, BM25 equal to
bm25s's, the missing package, and `rag index/ask --store`. The contract it shares with FAISS is in
test_store_contract.py."""

from __future__ import annotations

import http.server
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rag.cli import main
from rag.collection import build_index
from rag.config import Settings, StoreSpec
from rag.errors import IndexMismatchError, MissingDependencyError, RagError, StoreError
from rag.index import disk, qdrant
from rag.index.bm25 import LexicalIndex
from rag.index.index import Index
from rag.index.qdrant import QdrantStore

pytest.importorskip("qdrant_client")


@pytest.fixture
def local(tmp_path: Path) -> Iterator[StoreSpec]:
    spec = StoreSpec.parse(f"qdrant:{tmp_path / 'qdrant'}")
    yield spec
    assert spec.uri is not None
    qdrant.release(spec.uri)


def _collections(spec: StoreSpec) -> list[str]:
    return sorted(c.name for c in qdrant.client(spec)("get_collections").collections)


def test_store_uris(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert StoreSpec.parse(None).kind is None and StoreSpec.parse("FAISS").kind == "faiss"
    monkeypatch.chdir(tmp_path)
    assert StoreSpec.parse("qdrant:store").uri == f"qdrant:{tmp_path / 'store'}"
    assert StoreSpec.parse("https://q.example:6333/").uri == "https://q.example:6333"
    for bad in ("qdrant:", "qdrant://host", "redis://x", "elastic"):
        with pytest.raises(RagError, match="store"):
            StoreSpec.parse(bad)
    monkeypatch.setenv("RAG_STORE", "http://db:6333")
    monkeypatch.setenv("QDRANT_API_KEY", "secret")
    settings = Settings.from_env()
    assert settings.store == StoreSpec("http://db:6333", "secret") and "secret" not in repr(settings)


def test_an_unreachable_server_is_named_and_nothing_is_written(index_dir: Path, memo_corpus: Path,
                                                               fake_embedder: Any) -> None:
    with pytest.raises(StoreError, match=r"cannot reach the Qdrant server at http://127\.0\.0\.1:9"):
        build_index(index_dir, [memo_corpus], embedder=fake_embedder, store=StoreSpec.parse("http://127.0.0.1:9"))
    assert not disk.exists(index_dir)
    with pytest.raises(RagError, match="cannot be the index folder itself"):
        build_index(index_dir, [memo_corpus], embedder=fake_embedder, store=StoreSpec.parse(f"qdrant:{index_dir}"))


class _Refuses(http.server.BaseHTTPRequestHandler):
    """A server that refuses every key, as Qdrant does a wrong one."""

    def _refuse(self) -> None:
        body = b'{"status": {"error": "Must provide an API key or an Authorization bearer token"}}'
        self.send_response(403)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PUT = do_POST = do_DELETE = _refuse

    def log_message(self, *args: Any) -> None:
        pass


@pytest.mark.filterwarnings("ignore:Api key is used with an insecure connection")
def test_a_refused_api_key_is_named(index_dir: Path, memo_corpus: Path, fake_embedder: Any) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Refuses)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    uri = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with pytest.raises(StoreError, match=f"server at {uri} refused the API key.*QDRANT_API_KEY"):
            build_index(index_dir, [memo_corpus], embedder=fake_embedder, store=StoreSpec.parse(uri, "wrong"))
    finally:
        server.shutdown()
    assert not disk.exists(index_dir)


def test_a_collection_of_another_model_or_dimension(index_dir: Path, memo_corpus: Path, local: StoreSpec,
                                                    make_fake_embedder: Any) -> None:
    build_index(index_dir, [memo_corpus], embedder=make_fake_embedder(), store=local)
    stored = disk.read_manifest(disk.current_generation(index_dir))["store"]
    assert stored["kind"] == "qdrant" and stored["uri"] == local.uri
    for dim, model in ((32, "fake-hash-64"), (64, "another-model")):
        with pytest.raises(IndexMismatchError, match=f"at {local.uri} holds 64-dimensional vectors"):
            QdrantStore.open(local, stored["collection"], prefix=stored["prefix"], dim=dim, model=model)
    # An index built with another model is rebuilt, never mixed: in a new collection of the same store.
    other = make_fake_embedder(name="another-model")
    assert build_index(index_dir, [memo_corpus], embedder=other).rebuilt
    assert Index.load(index_dir).model == "another-model" and len(_collections(local)) == 2


def test_the_store_kind_must_match_the_index(index_dir: Path, memo_corpus: Path, local: StoreSpec,
                                            fake_embedder: Any) -> None:
    build_index(index_dir, [memo_corpus], embedder=fake_embedder)  # FAISS
    with pytest.raises(IndexMismatchError, match="keeps its vectors in faiss"):
        Index.load(index_dir, store=local)
    result = build_index(index_dir, [memo_corpus], embedder=fake_embedder, store=local)  # moved into Qdrant
    assert result.rebuilt and Index.load(index_dir).store.kind == "qdrant"
    with pytest.raises(IndexMismatchError, match=f"keeps its vectors in {local.uri}, not faiss"):
        Index.load(index_dir, store=StoreSpec.parse("faiss"))
    assert build_index(index_dir, [memo_corpus], embedder=fake_embedder, rebuild=True).rebuilt == "requested"
    assert Index.load(index_dir).store.kind == "qdrant"  # a rebuild keeps the index's own store


def test_one_collection_per_generation_and_the_old_ones_are_dropped(
    index_dir: Path, tmp_path: Path, memo_corpus: Path, local: StoreSpec, fake_embedder: Any
) -> None:
    build_index(index_dir, [memo_corpus], embedder=fake_embedder, store=local)
    names = [Index.load(index_dir).store.collection]  # type: ignore[attr-defined]
    for i in range(3):
        (memo_corpus / f"extra{i}.txt").write_text(f"Extra story number {i} about the harbour ferry.\n")
        reader = Index.load(index_dir)
        build_index(index_dir, [memo_corpus], embedder=fake_embedder)
        names.append(Index.load(index_dir).store.collection)  # type: ignore[attr-defined]
        # The previous generation stays searchable for readers that loaded it before the switch.
        assert reader.store.search(fake_embedder.embed(["memorandum"]), 1).ids[0][0] >= 0
    assert len(set(names)) == 4 and _collections(local) == sorted(names[-2:])
    # A build that does not change anything writes no collection.
    build_index(index_dir, [memo_corpus], embedder=fake_embedder)
    assert _collections(local) == sorted(names[-2:])


def test_bm25_scores_equal_bm25s(tmp_path: Path, seeds_dir: Path, memo_corpus: Path, local: StoreSpec,
                                fake_embedder: Any) -> None:
    build_index(tmp_path / "faiss", [seeds_dir, memo_corpus], embedder=fake_embedder)
    build_index(tmp_path / "index", [seeds_dir, memo_corpus], embedder=fake_embedder, store=local)
    embedded, stored = Index.load(tmp_path / "faiss").lexical, Index.load(tmp_path / "index").lexical
    assert isinstance(embedded, LexicalIndex) and stored is not None and len(embedded) == len(stored)
    for query in ("memorandum of understanding Turkey Syria", "military cooperation training", "Aug. 13 signed",
                  "who wrote the article", "Syria Syria army", "the the of"):
        a, b = embedded.search(query, 10), stored.search(query, 10)
        assert a.ids.tolist() == b.ids.tolist(), query
        assert np.allclose(a.scores, b.scores, rtol=1e-5)
    assert np.allclose(embedded.idf(["turkey", "zzz"]), stored.idf(["turkey", "zzz"]))


def test_local_mode_serves_one_process_and_says_so(local: StoreSpec, project_root: Path) -> None:
    qdrant.client(local)  # this process holds the folder
    script = ("from rag.config import StoreSpec\nfrom rag.index import qdrant\n"
              f"qdrant.client(StoreSpec.parse({local.uri!r}))")
    run = subprocess.run([sys.executable, "-c", script], cwd=project_root, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode != 0
    assert f"the Qdrant store {local.uri} is open in another process" in run.stderr


def test_without_qdrant_client_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "qdrant_client", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'rag-news\[qdrant\]'"):
        qdrant.client(StoreSpec.parse("http://no-such-host.invalid:6333"))


def test_rag_index_and_ask_with_store(index_dir: Path, memo_corpus: Path, local: StoreSpec, fake_models: Any,
                                      capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(["index", str(memo_corpus), "--store", str(local.uri)]) == 0
    assert Index.load(index_dir).store.kind == "qdrant"
    capsys.readouterr()
    assert main(["ask", "When did Turkey and Syria sign the memorandum?"]) == 0  # the index's own store
    assert "Aug. 13" in capsys.readouterr().out
    assert main(["ask", "When did Turkey and Syria sign the memorandum?", "--store", "faiss"]) == 2
    assert "keeps its vectors in qdrant:" in capsys.readouterr().err
    monkeypatch.setenv("RAG_STORE", "http://127.0.0.1:9")
    assert main(["index", str(memo_corpus), "--rebuild"]) == 2  # RAG_STORE names a server that is not there
    assert "cannot reach the Qdrant server at http://127.0.0.1:9" in capsys.readouterr().err
    assert Index.load(index_dir, store=local).store.kind == "qdrant"  # the live index is as it was
