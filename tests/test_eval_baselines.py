"""The LangChain and LlamaIndex baselines: chunks mapped back to document offsets, and a side-by-side run
through the real model on the seed article (needs the optional `baselines` extra)."""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import json
from pathlib import Path

import pytest

from eval.baselines import check_installed
from eval.baselines.common import OffsetMapper
from eval.metrics import Span
from rag.errors import MissingDependencyError
from rag.records import Document


def test_offset_mapper_checks_recorded_offsets_and_falls_back_to_search() -> None:
    docs = [Document("a", "A", "one two three two one")]
    m = OffsetMapper(docs)
    assert m.span("a", 4, "two") == Span("a", 4, 7, "two")  # recorded offset reproduces the text
    assert m.span("a", 0, "three") == Span("a", 8, 13, "three")  # wrong offset: found by search
    assert m.span("a", None, "four") == Span("a", 0, 0, "four")  # nowhere: can never overlap evidence
    assert (m.exact, m.found, m.lost) == (1, 1, 1)
    stats = m.stats([Span("a", 4, 7, "two"), Span("a", 8, 13, "three")])
    assert (stats.passages, stats.mean_passage_chars) == (2, 4.0)


def test_missing_peer_packages_say_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find, real_import = importlib.util.find_spec, importlib.import_module

    # Whatever this machine has installed: LangChain's packages present, LlamaIndex's missing.
    import types

    def find(name: str, *args: object) -> object:
        if name.startswith("llama_index"):
            return None
        if name.startswith("langchain"):
            return importlib.machinery.ModuleSpec(name, None)
        return real_find(name, *args)

    def load(name: str, *args: object) -> object:
        if name.startswith("llama_index"):
            raise ImportError(name)
        if name.startswith("langchain"):
            return types.ModuleType(name)
        return real_import(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find)
    monkeypatch.setattr(importlib, "import_module", load)
    check_installed(["langchain"])  # installed here: no error, and nothing imported
    with pytest.raises(MissingDependencyError, match=r"pip install 'rag-news\[baselines\]'"):
        check_installed(["llamaindex"])


@pytest.mark.integration
def test_side_by_side_on_the_seed_article(tmp_path: Path, real_embedder, project_root: Path, seeds_dir: Path) -> None:
    pytest.importorskip("langchain_text_splitters", reason="the optional baselines extra is not installed")
    pytest.importorskip("llama_index.core", reason="the optional baselines extra is not installed")
    from eval import harness

    report = harness.run(harness.EvalSettings(corpus=seeds_dir, gold=project_root / "eval" / "gold" / "seed.jsonl",
                                              cache_dir=tmp_path / "c", out=tmp_path / "o",
                                              baselines=("langchain", "llamaindex")),
                         embedder=real_embedder, echo=lambda _: None)
    base = report["baselines"]
    assert list(base) == ["ours", "langchain", "llamaindex"]
    assert base["ours"]["hit@5"] == report["metrics"]["hit@5"]
    text_len = len(next(seeds_dir.glob("*.txt")).read_text())
    for name in ("langchain", "llamaindex"):
        row = base[name]
        # the article in chunks of the peers' default sizes, every chunk placed by its own recorded offset
        assert row["offsets"] == {"exact": row["passages"], "found": 0, "lost": 0}
        assert 1 < row["passages"] < 10 and row["mean_passage_chars"] > 1000
        assert row["passages"] * row["mean_passage_chars"] >= 0.99 * text_len  # stripped white space aside
        assert 0 <= row["hit@1"] <= row["hit@5"] <= 1 and row["query_p50_ms"] > 0 and row["build_s"] > 0
    rows = [json.loads(line) for line in (tmp_path / "o" / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 57 and all(set(r["baselines"]) == {"langchain", "llamaindex"} for r in rows)
    assert sum(r["baselines"]["langchain"]["first_hit"] == 1 for r in rows if r["answerable"]) == round(
        base["langchain"]["hit@1"] * 42)
    md = (tmp_path / "o" / "report.md").read_text()
    assert "## Retrieval side by side" in md and "| langchain |" in md and "| llamaindex |" in md
