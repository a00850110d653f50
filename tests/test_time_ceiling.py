"""eval.time_ceiling: what a perfect time filter or week preference would make of a run's rankings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.time_ceiling import first_hit, main


def _p(doc: str, hit: bool = False) -> dict[str, object]:
    return {"doc_id": doc, "hit": hit}


def test_first_hit_counts_among_the_kept_in_their_new_order() -> None:
    ps = [_p("a"), _p("b"), _p("c", True)]
    assert first_hit(ps) == 3
    assert first_hit(ps, keep=lambda p: p["doc_id"] != "a") == 2
    assert first_hit(ps, key=lambda p: p["doc_id"] != "c") == 1
    assert first_hit(ps, keep=lambda p: not p["hit"]) is None


def _write(folder: Path, rows: list[dict[str, object]]) -> None:
    folder.mkdir()
    (folder / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def test_it_reports_what_time_could_and_could_not_fix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bench = tmp_path / "bench"
    bench.mkdir()
    dated = {"later": "2024-07-01", "week": "2024-06-12", "old": "2023-01-01", "ev": "2024-06-01"}
    (bench / "corpus.jsonl").write_text("".join(
        json.dumps({"_id": d, "title": d, "text": f"Article {d}.", "date": day}) + "\n" for d, day in dated.items())
        + json.dumps({"_id": "undated", "title": "u", "text": "No date."}) + "\n", encoding="utf-8")
    (bench / "gold.jsonl").write_text("".join(json.dumps(
        {"id": q, "question": "?", "answers": ["x"], "evidence": [{"doc": "ev"}], "date": "2024-06-14"}) + "\n"
        for q in ("q1", "q2")), encoding="utf-8")
    # q1: five later articles above the evidence (a time filter fixes it); q2: five older ones (it cannot)
    q1 = [_p("later")] * 5 + [_p("ev", True)]
    q2 = [_p("old")] * 5 + [_p("ev", True)]
    _write(tmp_path / "off", [{"id": "q1", "answerable": True, "passages": q1},
                              {"id": "q2", "answerable": True, "passages": q2}])
    _write(tmp_path / "on", [{"id": "q1", "answerable": True, "passages": [_p("ev", True)]},
                             {"id": "q2", "answerable": True, "passages": q2}])
    assert main([str(tmp_path / "off"), str(tmp_path / "on"), "--benchmark", str(bench)]) == 0
    out = capsys.readouterr().out
    assert "as-of off                          0.000" in out
    assert "as-of on                           0.500" in out
    assert "off, later articles removed        0.500" in out
    assert "off, evidence in top k             1.000" in out
    assert "above it stand: later 5 (50%), older 5 (50%)" in out or "older 5 (50%), later 5 (50%)" in out
    assert "brings 1 into the top 5" in out
    assert "age when asked (days) p10/p25/p50/p75/p90: 13 / 13 / 13 / 13 / 13" in out
