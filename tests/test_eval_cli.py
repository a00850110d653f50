"""`rag eval` through the real engine and index (with the fake embedder): the index cache, the CLI, the files it
writes, and `rag eval --compare`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from eval import cache, harness
from eval.compare import compare
from eval.harness import EvalSettings
from eval.metrics import METRIC_KEYS
from rag import cli


@pytest.fixture
def gold(project_root: Path) -> Path:
    return project_root / "eval" / "gold" / "seed.jsonl"


def quiet(_: str) -> None:
    pass


def test_index_is_built_once_and_reused_while_the_corpus_is_unchanged(tmp_path: Path, fake_embedder: Any,
                                                                       seeds_dir: Path, gold: Path) -> None:
    corpus = tmp_path / "articles"
    shutil.copytree(seeds_dir, corpus)
    settings = EvalSettings(corpus=corpus, gold=gold, cache_dir=tmp_path / "cache", out=tmp_path / "run1")
    first = harness.run(settings, embedder=fake_embedder, echo=quiet)
    assert first["index"]["built"] and first["metrics"]["build_s"] > 0
    embedded = fake_embedder.texts_embedded
    assert embedded > 57  # passages and sentences, then one query per question

    second = harness.run(settings, embedder=fake_embedder, echo=quiet)
    assert second["index"]["reused"] and second["index"]["folder"] == first["index"]["folder"]
    assert second["metrics"]["build_s"] == first["metrics"]["build_s"]  # the recorded build time
    assert fake_embedder.texts_embedded - embedded == 58  # only the questions: 57 and the warm-up
    assert second["metrics"] == {**first["metrics"], "latency_p50_ms": second["metrics"]["latency_p50_ms"],
                                 "latency_p95_ms": second["metrics"]["latency_p95_ms"]}

    # Another chunk size is another index; so is a changed article.
    third = harness.run(EvalSettings(corpus=corpus, gold=gold, cache_dir=tmp_path / "cache", max_tokens=40,
                                     out=tmp_path / "run3"), embedder=fake_embedder, echo=quiet)
    assert third["index"]["built"] and third["index"]["max_tokens"] == 40
    article = next(corpus.glob("*.txt"))
    article.write_text(article.read_text() + "\nA late correction was appended.\n")
    fourth = harness.run(settings, embedder=fake_embedder, echo=quiet)
    assert fourth["index"]["built"] and fourth["corpus"]["fingerprint"] != first["corpus"]["fingerprint"]
    assert len({r["index"]["folder"] for r in (first, third, fourth)}) == 3


def test_report_figures_agree_with_the_per_question_results(tmp_path: Path, fake_embedder: Any, seeds_dir: Path,
                                                            gold: Path) -> None:
    out = tmp_path / "out"
    report = harness.run(EvalSettings(corpus=seeds_dir, gold=gold, k=8, cache_dir=tmp_path / "c", out=out),
                         embedder=fake_embedder, echo=quiet)
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    ans = [r for r in rows if r["answerable"]]
    un = [r for r in rows if not r["answerable"]]
    m = report["metrics"]
    assert (len(ans), len(un)) == (42, 15)
    assert m["hit@5"] == pytest.approx(sum(r["hit@5"] for r in ans) / 42, abs=1e-4)
    assert m["hit@10"] is None  # k=8: ten passages were never read
    assert m["abstain_correct"] == pytest.approx(sum(r["abstained"] for r in un) / 15, abs=1e-4)
    cites = [c for r in ans for c in r.get("citations", [])]
    assert m["span_validity"] == (1.0 if cites else None)
    assert all(len(r["passages"]) <= 8 for r in rows)
    for r in rows:  # every citation is the article's text at its offsets
        for c in r.get("citations", []):
            assert (seeds_dir / c["doc_id"]).read_text()[c["start"]:c["end"]] == c["quote"]
    assert report["settings"]["answerers_seen"] == ["extractive"]
    assert report["cost"]["peak_memory_mib"] > 0 and "getrusage" in report["cost"]["peak_memory_method"]
    assert report["versions"]["numpy"]


def test_rag_eval_command_and_compare(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str], make_fake_embedder: Any,
                                      seeds_dir: Path, gold: Path) -> None:
    monkeypatch.setattr("rag.embed.model.SentenceTransformerEmbedder", lambda model=None, **_: make_fake_embedder())
    common = ["--corpus", str(seeds_dir), "--gold", str(gold), "--cache-dir", str(tmp_path / "c"), "--no-progress"]
    assert cli.main(["eval", *common, "--out", str(tmp_path / "a")]) == 0
    assert cli.main(["eval", *common, "--out", str(tmp_path / "b"), "--mode", "lexical", "--k", "5"]) == 0
    printed = capsys.readouterr().out
    assert "Retrieval (answerable)" in printed and "abstain_correct" in printed
    for name in ("report.json", "results.jsonl", "report.md", "hit_at_k.png", "latency.png"):
        assert (tmp_path / "a" / name).is_file()
    a = json.loads((tmp_path / "a" / "report.json").read_text())
    b = json.loads((tmp_path / "b" / "report.json").read_text())
    assert list(a["metrics"]) == list(METRIC_KEYS)
    assert cli.main(["eval", "--compare", str(tmp_path / "a"), str(tmp_path / "b" / "report.json")]) == 0
    table = capsys.readouterr().out
    assert "setting k: 10 -> 5" in table and "setting mode: 'hybrid' -> 'lexical'" in table
    line = next(x for x in table.splitlines() if x.strip().startswith("hit@5 "))
    assert f"{b['metrics']['hit@5'] - a['metrics']['hit@5']:+.3f}" in line
    assert compare(tmp_path / "a", tmp_path / "a").splitlines()[2] == "  same settings"


def test_bad_input_gets_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str], seeds_dir: Path,
                                         gold: Path) -> None:
    assert cli.main(["eval", "--corpus", str(tmp_path / "missing"), "--gold", str(gold)]) == 2
    assert "corpus not found" in capsys.readouterr().err
    assert cli.main(["eval", "--corpus", str(seeds_dir)]) == 2
    assert "--gold is required" in capsys.readouterr().err
    assert cli.main(["eval", "--corpus", str(seeds_dir), "--gold", str(gold), "--baselines", "haystack"]) == 2
    assert "unknown baseline(s) haystack" in capsys.readouterr().err
    (tmp_path / "r.json").write_text("{}")
    assert cli.main(["eval", "--compare", str(tmp_path / "r.json"), str(tmp_path / "r.json")]) == 2
    assert "not a report.json" in capsys.readouterr().err


def test_indexing_code_is_part_of_the_cache_key(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "index.py").write_text("from pkg.chunk import split\nfrom pkg import store\n")
    (pkg / "chunk.py").write_text("def split(): return 1\n")
    (pkg / "store.py").write_text("")
    (pkg / "answer.py").write_text("W = 1\n")
    fp = cache.indexing_code_fingerprint.__wrapped__  # uncached
    before = fp(pkg, ("index",), "pkg")
    (pkg / "answer.py").write_text("W = 2\n")  # answer-time code: the index stays valid
    assert fp(pkg, ("index",), "pkg") == before
    (pkg / "chunk.py").write_text("def split(): return 2\n")  # the chunker changed: a new index
    assert fp(pkg, ("index",), "pkg") != before


def test_the_harness_runs_on_a_qdrant_store_with_the_same_figures(tmp_path: Path, fake_embedder: Any,
                                                                  seeds_dir: Path, gold: Path) -> None:
    """`rag eval --store qdrant:PATH`: the index is built and searched in Qdrant's local mode, cached under a key
    of its own, and scores as the FAISS + bm25s index does (the same lexical terms, exact dense search)."""
    pytest.importorskip("qdrant_client")
    from rag.config import StoreSpec

    faiss = harness.run(EvalSettings(corpus=seeds_dir, gold=gold, cache_dir=tmp_path / "cache", out=tmp_path / "f"),
                        embedder=fake_embedder, echo=quiet)
    spec = StoreSpec.parse(f"qdrant:{tmp_path / 'qdrant'}")
    qdrant = harness.run(EvalSettings(corpus=seeds_dir, gold=gold, cache_dir=tmp_path / "cache", out=tmp_path / "q",
                                      store=spec), embedder=fake_embedder, echo=quiet)
    assert qdrant["index"]["built"] and qdrant["index"]["key"] != faiss["index"]["key"]
    assert qdrant["index"]["store"] == spec.uri and faiss["index"]["store"] in ("flat", "ivf-sq8")
    for name in ("hit@1", "hit@5", "mrr@10", "answer_containment", "abstain_false"):
        assert qdrant["metrics"][name] == pytest.approx(faiss["metrics"][name], abs=0.02), name
    again = harness.run(EvalSettings(corpus=seeds_dir, gold=gold, cache_dir=tmp_path / "cache", out=tmp_path / "q2",
                                     store=spec), embedder=fake_embedder, echo=quiet)
    assert again["index"]["reused"]
    assert cli.main(["eval", "--corpus", str(seeds_dir), "--gold", str(gold), "--store", "mongodb://x"]) == 2
