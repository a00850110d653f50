"""bench/peer_builds.py's arithmetic: medians over rounds per system and the ours / peer ratios of the table,
and the question sample (answerable, with an evidence article among the sampled articles)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import peer_builds
from bench.peer_builds import Build, Load, Row, figures, table


def _row(system: str, rnd: int, build_s: float, passages: int, p50: float) -> Row:
    build = Build(model_s=1.0, model_mib=700.0, build_s=build_s, passages=passages, texts=passages * 4,
                  chars=100_000, peak_mib=1000.0)
    load = Load(model_s=1.0, load_s=0.5, load_mib=10.0, query_p50_ms=p50, query_p95_ms=2 * p50, queries=50,
                peak_mib=800.0)
    return Row(system, rnd, build, load, disk_mib=5.0, loadavg=1.0)


def test_medians_over_rounds_and_ratios_to_each_peer() -> None:
    rows = [_row("ours", 0, 10.0, 1000, 20.0), _row("ours", 1, 30.0, 1000, 40.0), _row("ours", 2, 20.0, 1000, 30.0),
            _row("langchain", 0, 5.0, 100, 10.0), _row("llamaindex", 0, 4.0, 100, 10.0)]
    f = figures([r for r in rows if r.system == "ours"])
    assert f["build s"] == 20.0 and f["passages/s"] == 50.0 and f["texts/s"] == 200.0 and f["chars/s"] == 5000.0
    assert f["query p50 ms"] == 30.0
    med, lines = table(rows)
    assert list(med) == ["ours", "langchain", "llamaindex"]
    assert "ours/langc" in lines[0] and "ours/llama" in lines[0] and "ours-qdrant" not in lines[0]
    passages_s = next(line for line in lines if line.startswith("passages/s"))
    assert passages_s.split()[-2:] == ["2.50", "2.00"]  # 50/20 and 50/25


def test_question_sample_needs_an_evidence_article_in_the_sample(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    archive = tmp_path / "archive"
    archive.mkdir()
    (archive / "corpus.jsonl").write_text("".join(json.dumps({"_id": f"d{i}", "text": "x"}) + "\n"
                                                  for i in range(4)))
    gold = [{"question": "in", "answers": ["a"], "evidence": [{"doc": "d1"}, {"doc": "d3"}]},
            {"question": "out", "answers": ["a"], "evidence": [{"doc": "d3"}]},
            {"question": "unanswerable", "answers": [], "evidence": [{"doc": "d0"}]}]
    (archive / "gold.jsonl").write_text("".join(json.dumps(g) + "\n" for g in gold))
    monkeypatch.setattr(peer_builds, "ARCHIVE", archive)
    corpus, questions = peer_builds.sample(tmp_path, 2, 50, 0)
    assert len(corpus.read_text().splitlines()) == 2 and questions == ["in"]
