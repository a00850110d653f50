"""End to end in headless Chromium on dated news (eval/gold/dated): a date filter set in the chat's Settings,
an answer that shows two dated reports side by side, and the window searched. Screenshots in artifacts/."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from chat_server import ROOT, Server, ask, chromium, last_answer, open_page, running_chat

pytestmark = [pytest.mark.integration, pytest.mark.browser]
ARTIFACTS = ROOT / "artifacts"


@pytest.fixture(scope="module")
def dated_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_chat(tmp_path_factory.mktemp("dated-chat"), ROOT / "eval" / "gold" / "dated" / "corpus.jsonl") as srv:
        yield srv


@pytest.fixture(scope="module")
def page(dated_server: Server) -> Iterator[Any]:
    with chromium() as browser:
        p, _ = open_page(browser, dated_server)
        yield p


def _until(page: Any, day: str) -> None:
    if not page.locator("#rag-until").is_visible():
        page.get_by_text("Settings", exact=True).click()
    box = page.locator("#rag-until textarea, #rag-until input").first
    box.fill(day)
    box.press("Tab")


def _short_answers(page: Any) -> list[str]:
    """The short answers marked inside the highlighted sentences of the sources panel."""
    return [m.inner_text() for m in page.locator("#rag-sources section.rag-source mark.rag-answer").all()]


def test_a_date_filter_answers_with_what_was_known_then(page: Any) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    _until(page, "2024-02-01")
    ask(page, "Who is Brentford's police chief?")
    answer = last_answer(page)
    assert answer.startswith("Maria Lopez [1]"), answer  # her successor was sworn in only in May
    assert "Daniel Okafor" not in page.inner_text("#rag-sources")
    page.screenshot(path=str(ARTIFACTS / "chat-date-filter.png"))


def test_two_dated_reports_of_one_toll_are_shown_side_by_side(page: Any) -> None:
    _until(page, "2024-03-06")
    ask(page, "How many people died in the Port Alden earthquake?")
    answer = last_answer(page)
    assert answer.startswith("Reports differ: 31 [1] (Coastal Herald, 2024-03-04); 12 [2] (Harbor Times, "
                             "2024-03-02)"), answer
    assert sorted(_short_answers(page)) == ["12", "31"]
    sources = page.inner_text("#rag-sources")
    assert "2024-03-04" in sources and "2024-03-02" in sources
    page.screenshot(path=str(ARTIFACTS / "chat-reports-differ.png"))


def test_one_wire_story_in_three_outlets_is_cited_once_with_the_others_listed(page: Any) -> None:
    _until(page, "2024-06-14")
    ask(page, "How many homes will the Kestrel Valley solar farm power?")
    sources = page.locator("#rag-sources section.rag-source")
    also = page.locator("#rag-sources section.rag-source .rag-also-in").first.inner_text()
    assert also.startswith("Also in: ") and also.count("(2024-06-") == 2, also  # the two other outlets, dated
    assert "wire-solar" not in also  # outlets, not document ids
    assert sources.count() >= 1
    page.screenshot(path=str(ARTIFACTS / "chat-also-in.png"))


def test_a_correction_leads_with_the_corrected_figure_and_the_correcting_sentence(page: Any) -> None:
    _until(page, "2024-04-05")
    ask(page, "What budget did the Elmwood council approve for the new library?")
    answer = last_answer(page)
    assert answer.startswith("$2.4 million [1] — The town council approved a budget of $2.4 million, not $4.2 "
                             "million. [2]"), answer
    assert _short_answers(page) == ["$2.4 million"]
    assert "2024-04-03" in page.inner_text("#rag-sources")
    page.screenshot(path=str(ARTIFACTS / "chat-correction.png"))
    _until(page, "2024-04-02")  # before the correction was published: the figure then reported
    ask(page, "What budget did the Elmwood council approve for the new library?")
    assert last_answer(page).startswith("$4.2 million [1]")
