"""News is dated, on every surface: `rag ask` flags and output, the chat's date range and outlet filter, the
`/ask` API, and the dated gold set through the harness with each question's date as as_of."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rag import cli
from rag.chat.feedback import FeedbackLog
from rag.chat.handlers import Handlers, date_filters
from rag.chat.render import answer_messages
from rag.collection import Collection
from rag.records import Answer, SearchWindow

WINDOW = SearchWindow(since="2024-06-01", until="2024-06-14", phrase="this week", sources=("CNN",),
                      description="articles of 2024-06-01 to 2024-06-14 from CNN, preferring 2024-06-07 to "
                                  "2024-06-14 (“this week”)")


def _answer(**kw: Any) -> Answer:
    return Answer(text="The articles do not say.", citations=(), passages=(), abstained=True, query="q",
                  question="q", window=WINDOW, current_as_of="2024-06-13")


def test_cli_passes_dates_and_outlets_and_prints_the_window(monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    seen: dict[str, Any] = {}

    def fake_ask(question: str, **kw: Any) -> Answer:
        seen.update(kw)
        return _answer()

    monkeypatch.setattr("rag.api.ask", fake_ask)
    monkeypatch.setenv("RAG_GENERATOR", "none")
    assert cli.main(["ask", "What did CNN report this week?", "--as-of", "2024-06-14", "--since", "2024-06-01",
                     "--until", "2024-06-14", "--source", "CNN", "--source", "BBC"]) == 0
    assert (seen["as_of"], seen["since"], seen["until"], seen["sources"]) == (
        "2024-06-14", "2024-06-01", "2024-06-14", ["CNN", "BBC"])
    out = capsys.readouterr().out
    assert ("(searched articles of 2024-06-01 to 2024-06-14 from CNN, preferring 2024-06-07 to 2024-06-14 (“this "
            "week”))") in out
    assert "(as of 2024-06-13, the newest article cited)" in out


def test_cli_refuses_a_bad_day_by_name(index_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["ask", "Who won?", "--as-of", "2024-02-30"]) != 0
    assert "as_of must be a day written as YYYY-MM-DD, not '2024-02-30'" in capsys.readouterr().err


def test_answer_json_and_chat_details_carry_the_window() -> None:
    answer = _answer()
    assert answer.to_dict()["window"]["since"] == "2024-06-01"
    details = answer_messages(answer)[-1]["content"]
    assert "Searched articles of 2024-06-01 to 2024-06-14 from CNN, preferring 2024-06-07 to 2024-06-14" in details
    assert "2024-06-13" in details


def test_date_filters_of_the_page() -> None:
    assert date_filters(" ", "", []) == {"since": None, "until": None, "as_of": None, "sources": None}
    assert date_filters("2024-06-01", "2024-06-14", ["CNN"]) == {
        "since": "2024-06-01", "until": "2024-06-14", "as_of": "2024-06-14", "sources": ["CNN"]}


@pytest.fixture
def dated_handlers(index_dir: Path, tmp_path: Path, fake_embedder: Any,
                   monkeypatch: pytest.MonkeyPatch) -> tuple[Handlers, dict[str, Any]]:
    corpus = tmp_path / "corpus.jsonl"
    rows = [{"_id": "a", "title": "A", "text": "The bridge reopened on Monday.", "date": "2024-06-10",
             "source": "Harbor Times"},
            {"_id": "b", "title": "B", "text": "The bridge closed for repairs.", "date": "2024-01-10",
             "source": "Daily Ledger"}]
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    lib = Collection(index_dir, [corpus], embedder=fake_embedder, max_upload_bytes=10_000)
    lib.sync()
    seen: dict[str, Any] = {}
    real = lib.engine.ask

    def spy(question: str, **kw: Any) -> Answer:
        seen.update(kw)
        return real(question, **kw)

    monkeypatch.setattr(lib.engine, "ask", spy)
    return Handlers(lib, FeedbackLog(index_dir)), seen


def test_chat_passes_the_date_range_and_outlets(dated_handlers: tuple[Handlers, dict[str, Any]]) -> None:
    handlers, seen = dated_handlers
    assert handlers.outlets() == ["Daily Ledger", "Harbor Times"]
    out = list(handlers.respond("What happened to the bridge?", [], 5, "hybrid", None, "2024-01-01", "2024-03-01",
                                ["daily ledger"]))
    assert (seen["since"], seen["until"], seen["as_of"], seen["sources"]) == (
        "2024-01-01", "2024-03-01", "2024-03-01", ["daily ledger"])
    messages = out[-1][0]
    assert "Searched articles of 2024-01-01 to 2024-03-01 from daily ledger" in messages[-1]["content"]


def test_chat_refuses_a_bad_day(dated_handlers: tuple[Handlers, dict[str, Any]]) -> None:
    handlers, _ = dated_handlers
    out = list(handlers.respond("What happened?", [], 5, "hybrid", None, "June", "", None))
    assert "since must be a day" in out[-1][0][0]["content"]


def test_api_takes_dates_and_outlets(dated_handlers: tuple[Handlers, dict[str, Any]]) -> None:
    handlers, seen = dated_handlers
    got = handlers.ask_api("What happened to the bridge?", 5, "hybrid", "2024-06-30", "", "", ["Harbor Times"])
    assert seen["as_of"] == "2024-06-30" and seen.get("since") is None and seen["sources"] == ["Harbor Times"]
    assert got["window"]["until"] == "2024-06-30"
    assert {p["doc_id"] for p in got["passages"]} <= {"a"}
