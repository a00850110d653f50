"""rag.window: relative time in a question resolved against an as-of date, explicit bounds, and containment."""

from __future__ import annotations

import datetime as dt

import pytest

from rag.errors import QuestionError
from rag.question import check_day
from rag.window import TimeWindow, resolve

AS_OF = dt.date(2024, 6, 14)  # a Friday


@pytest.mark.parametrize(("question", "since", "until", "phrase"), [
    ("What did Turkey announce this week?", "2024-06-07", "2024-06-14", "this week"),
    ("Who resigned yesterday?", "2024-06-13", "2024-06-13", "yesterday"),
    ("What happened today in Ankara?", "2024-06-14", "2024-06-14", "today"),
    ("What was decided last week?", "2024-06-03", "2024-06-09", "last week"),
    ("How many were hired last month?", "2024-05-01", "2024-05-31", "last month"),
    ("What did the court rule this month?", "2024-06-01", "2024-06-14", "this month"),
    ("Who won the vote last year?", "2023-01-01", "2023-12-31", "last year"),
    ("What was agreed in March?", "2024-03-01", "2024-03-31", "in march"),
    ("What was agreed in September?", "2023-09-01", "2023-09-30", "in september"),  # the latest September
    ("What changed since March?", "2024-03-01", "2024-06-14", "since march"),
    ("Who led the talks in 2023?", "2023-01-01", "2023-12-31", "in 2023"),
    ("What did he say on Monday?", "2024-06-10", "2024-06-10", "on monday"),
    ("What happened in the past three days?", "2024-06-11", "2024-06-14", "the past three days"),
])
def test_relative_time_is_resolved_against_as_of(question: str, since: str, until: str, phrase: str) -> None:
    window = resolve(question, as_of=AS_OF)
    assert window == TimeWindow(dt.date.fromisoformat(since), dt.date.fromisoformat(until), phrase)


def test_no_time_words_leave_only_the_as_of_bound() -> None:
    assert resolve("Who is the defense minister?", as_of=AS_OF) == TimeWindow(None, AS_OF)
    assert resolve("What happened since the election?", as_of=AS_OF).phrase is None  # needs knowledge of events
    assert resolve("Who is the defense minister?") == TimeWindow(None, None)  # no as_of: open


def test_explicit_bounds_narrow_the_question_window_and_never_pass_as_of() -> None:
    w = resolve("What was agreed this month?", as_of=AS_OF, since=dt.date(2024, 6, 10))
    assert (w.since, w.until) == (dt.date(2024, 6, 10), AS_OF)
    w = resolve("Anything?", as_of=AS_OF, until=dt.date(2024, 7, 1))
    assert w.until == AS_OF
    with pytest.raises(QuestionError, match="the time window is empty"):
        resolve("What was agreed last year?", as_of=AS_OF, since=dt.date(2024, 1, 1))


def test_containment_by_day_and_by_year() -> None:
    w = TimeWindow(dt.date(2024, 6, 7), dt.date(2024, 6, 14))
    assert w.contains("2024-06-07") and w.contains("2024-06-14") and not w.contains("2024-06-15")
    assert w.contains("2024")  # a year-only date may fall inside
    assert not w.contains("2023") and not w.contains(None) and not w.contains("soon")
    assert TimeWindow(None, None).contains(None)


def test_descriptions_and_parsing() -> None:
    assert resolve("this week?", as_of=AS_OF).describe() == "articles of 2024-06-07 to 2024-06-14 (“this week”)"
    assert TimeWindow(None, AS_OF).describe() == "articles up to 2024-06-14"
    assert check_day("2024-06-14", what="as_of") == AS_OF
    with pytest.raises(QuestionError, match="as_of must be a day written as YYYY-MM-DD"):
        check_day("14/06/2024", what="as_of")
