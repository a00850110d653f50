"""The dated gold set (eval/gold/dated) through the harness, with each question's date passed as as_of: every
`as_of` question is answered with what was true on its day, and no answer cites a later article."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from eval import harness
from eval.options import EvalSettings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def dated_run(project_root: Path, tmp_path_factory: pytest.TempPathFactory, real_embedder: Any) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("dated")
    gold = project_root / "eval" / "gold" / "dated"
    settings = EvalSettings(corpus=gold, gold=gold / "gold.jsonl", out=out, cache_dir=out / "cache")
    report = harness.run(settings, embedder=real_embedder, echo=lambda _: None)
    rows = {r["id"]: r for r in map(json.loads, (out / "results.jsonl").read_text().splitlines())}
    return {"report": report, "rows": rows}


@pytest.mark.parametrize("qid", [
    "d01", "d02", "d04", "d05", "d08"])
def test_as_of_questions_are_answered_as_of_their_day(dated_run: dict[str, Any], qid: str) -> None:
    assert dated_run["rows"][qid]["contained"], dated_run["rows"][qid]["answer"]


def test_two_dated_reports_of_one_toll_are_shown_side_by_side_newest_first(dated_run: dict[str, Any]) -> None:
    # d02, as of 2024-03-06: the Harbor Times (03-02) says 12 died, the Coastal Herald (03-04) that the toll
    # rose to 31. Neither is picked silently: both values lead the answer, each with its outlet and date.
    row = dated_run["rows"]["d02"]
    assert row["short_answer"] == "31" and row["exact_match"] == 1.0
    assert row["answer"].startswith("Reports differ: 31 [1] (Coastal Herald, 2024-03-04); 12 [2] (Harbor Times, "
                                    "2024-03-02) — ")


def test_the_run_records_as_of_and_cites_nothing_later(dated_run: dict[str, Any]) -> None:
    report = dated_run["report"]
    assert report["settings"]["as_of"] is True
    assert report["more"]["cites_after_as_of"]["share"] == 0.0
    assert dated_run["rows"]["d11"]["abstained"]  # asked before any article about the police chief existed


def test_a_question_counting_back_from_its_day_searches_its_window(dated_run: dict[str, Any]) -> None:
    row = dated_run["rows"]["d10"]
    assert "preferring 2024-06-07 to 2024-06-14 (“this week”)" in row["answer"] or row["citations"], row["answer"]
    # whatever is cited comes from inside the window (the solar farm's approval, 2024-06-12)
    assert all(c["date"] is None or c["date"] <= "2024-06-14" for c in row["citations"])


def test_a_question_counting_back_from_its_day_is_answered_from_the_window(dated_run: dict[str, Any]) -> None:
    # d10, asked 2024-06-14: "What did regulators approve this week?" The window (06-07 to 06-14) holds the
    # solar farm's approval; "this week" is not sought in the sentences, where it matched "last week" elsewhere.
    row = dated_run["rows"]["d10"]
    assert not row["abstained"] and row["contained"], row["answer"]
