"""Publication dates: each source, their order of trust, and the dates that must not be taken (a date in a
story sentence, a year without a day, a day in the future). No network: htmldate is only ever given trees."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest

from rag.ingest.dates import (
    FoundDate,
    date_from_html,
    date_from_metadata,
    date_from_text,
    date_from_url,
    date_span,
    find_date,
    head_lines_at,
)

TODAY = date(2025, 9, 1)

JSON_LD_PAGE = """<!doctype html><html><head><title>Turkey and Syria</title>
<script type="application/ld+json">{"@context": "https://schema.org", "@type": "NewsArticle",
 "headline": "Turkey and Syria", "datePublished": "2024-06-14T10:00:00Z", "dateModified": "2024-06-20T08:00:00Z"}
</script></head><body><h1>Published June 1, 2020</h1><p>On May 3, 2021, the talks began.</p></body></html>"""


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-06-14", "2024-06-14"),
        ("2024-06-14T23:30:00-05:00", "2024-06-14"),  # the day as written, not moved to UTC
        ("June 14, 2024", "2024-06-14"),
        ("14 June 2024", "2024-06-14"),
        (datetime(2024, 6, 14, 10), "2024-06-14"),
        (date(2024, 6, 14), "2024-06-14"),
        ("08/18/2025", "2025-08-18"),
    ],
)
def test_metadata_reads_whole_days(value: object, expected: str) -> None:
    assert date_from_metadata(value) == expected


@pytest.mark.parametrize("value", [None, 2024, "2024", "June 2024", "2024-06", "", "soon", "2024-02-30", "06/07/2024"])
def test_metadata_never_completes_a_partial_or_ambiguous_date(value: object) -> None:
    assert date_from_metadata(value) is None


def test_html_metadata_json_ld_published_not_modified_nor_text(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text(JSON_LD_PAGE, encoding="utf-8")
    assert date_from_html(page.read_text(encoding="utf-8")) == "2024-06-14"


def test_html_meta_tag_and_time_element() -> None:
    meta = '<html><head><meta property="article:published_time" content="2023-03-01T08:00:00+00:00"></head></html>'
    assert date_from_html(meta) == "2023-03-01"
    time = '<html><body><p><time datetime="2022-07-06">July 6</time> — story of June 1, 2020</p></body></html>'
    assert date_from_html(time) == "2022-07-06"


def test_html_without_metadata_gives_none_even_with_dates_in_its_text() -> None:
    assert date_from_html("<html><body><h1>June 1, 2020</h1><p>On May 3, 2021, it rained.</p></body></html>") is None
    assert date_from_html("") is None
    assert date_from_html("https://www.cnn.com/2022/12/12/politics/x") is None  # a URL is no page, never fetched


def test_url_needs_year_month_and_day() -> None:
    assert date_from_url("https://www.cnn.com/2022/12/12/politics/spending/index.html") == "2022-12-12"
    assert date_from_url("https://example.com/news/2024-06-14-storm") == "2024-06-14"
    assert date_from_url("https://example.com/2024/06/storm") is None
    assert date_from_url("https://example.com/news/2024/storm") is None
    assert date_from_url("https://example.com/2023/13/45/x") is None
    assert date_from_url("") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("08/18/2025 / By Zoey Sky\nIn a significant development...", "2025-08-18"),
        ("June 14, 2024 — WASHINGTON — The Senate voted on Tuesday.", "2024-06-14"),
        ("Published 10:02 a.m. ET Sept. 23, 2021 | Updated 11:37 a.m. ET Sept. 24, 2021\nStory.", "2021-09-23"),
        ("Updated: 2022-07-06\nThe council met.", "2022-07-06"),
        ("Updated: 2022-07-08\nPublished: 2022-07-06\nThe council met.", "2022-07-06"),  # published first
        ("Story by Ian James | Photos by Jay Calderon, The Desert Sun | March 8, 2015\nWater.", "2015-03-08"),
        ("FRIDAY, DEC. 16, 2016\nThe day began.", "2016-12-16"),
        ("Editor's note: This story was originally published on Nov. 23, 2010.\nText.", "2010-11-23"),
    ],
)
def test_text_datelines_and_bylines(text: str, expected: str) -> None:
    assert date_from_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "On Aug. 13, 2025, Turkey and Syria signed a memorandum of understanding.",
        "The video was posted on June 3, 2021.",
        "When: Wednesday 14 December 2022",
        "Dec. 25, 1931:\nThe first entry of a history list.",
        "By Jane Doe, June 2024\nA month is not a day.",
        "Samuel Stebbins\n24/7 Wall Street 2019",
        "06/07/2024 / By X\nMonth first or day first?",
        "One.\nTwo.\nThree.\nFour.\nFive.\nJune 14, 2024 — too far down to be a dateline.",
        # below the story's first sentence, a date heads a diary entry or a live-blog update
        'Mitch Albom\n"Chika," someone asks, "what do you want to be when you grow up?"\nAPRIL 7, 2017\nWe lay.',
        # the cue is about February; the date further on is the story's
        "Editor's note: This story was originally published in February and has been updated following the "
        "search on August 8, 2022.",
    ],
)
def test_text_dates_that_are_not_datelines(text: str) -> None:
    assert date_from_text(text) is None


def test_seed_article_dateline(seed_text: str) -> None:
    text = seed_text
    assert text.splitlines()[0].startswith("08/18/2025 / By Zoey Sky")
    assert find_date(text=text, today=TODAY) == FoundDate("2025-08-18", "text")


def test_where_the_head_writes_its_date() -> None:
    text = "\n  \nJune 14, 2024 — By Ann Lee\n  Updated 06/20/2024\nOn May 1, 2024 the council met and voted.\n"
    assert head_lines_at(text) == [(4, "June 14, 2024 — By Ann Lee"), (33, "Updated 06/20/2024"),
                                   (52, "On May 1, 2024 the council met and voted.")]
    assert all(text[at:at + len(line)] == line for at, line in head_lines_at(text))
    assert date_span(text, "2024-06-14") == (4, 17)
    assert date_span(text, "2024-06-20") == (41, 51)
    assert date_span(text, "2024-05-01") is None  # a story sentence's date is not the article's


def test_trust_order() -> None:
    url, text = "https://x.example/2024/06/15/a", "June 16, 2024 — LONDON"
    assert find_date(meta_date="2024-06-14", html=JSON_LD_PAGE, url=url, text=text, today=TODAY) == FoundDate(
        "2024-06-14", "metadata"
    )
    assert find_date(meta_date="2024", html=JSON_LD_PAGE, url=url, text=text, today=TODAY) == FoundDate(
        "2024-06-14", "metadata"
    )
    assert find_date(html="<html><body>x</body></html>", url=url, text=text, today=TODAY) == FoundDate(
        "2024-06-15", "url"
    )
    assert find_date(url="https://x.example/news/a", text=text, today=TODAY) == FoundDate("2024-06-16", "text")
    assert find_date(url="https://x.example/news/a", text="No date here.", today=TODAY) is None
    assert find_date() is None


def test_future_and_ancient_dates_are_rejected_for_the_next_source() -> None:
    today = date(2024, 6, 20)
    assert find_date(meta_date="2024-06-21", url="https://x.example/2024/06/15/a", today=today) == FoundDate(
        "2024-06-15", "url"
    )
    assert find_date(meta_date="1850-01-02", text="June 16, 2024 — LONDON", today=today) == FoundDate(
        "2024-06-16", "text"
    )
    assert find_date(url="https://x.example/2024/06/21/a", today=today) is None
    assert find_date(meta_date="2024-06-20", today=today) == FoundDate("2024-06-20", "metadata")  # today is fine


def test_htmldate_is_never_asked_to_download(monkeypatch: pytest.MonkeyPatch) -> None:
    import htmldate.utils

    def no_network(url: str) -> str:
        raise AssertionError(f"tried to download {url}")

    monkeypatch.setattr(htmldate.utils, "fetch_url", no_network)
    assert date_from_html("https://www.cnn.com/2022/12/12/politics/x") is None
    assert date_from_url("https://www.cnn.com/2022/12/12/politics/x") == "2022-12-12"
    assert find_date(html="http://example.com/a", url="http://example.com/b", today=TODAY) is None
