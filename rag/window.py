"""Time windows: "as of" a date, and the relative time a question speaks in ("this week", "last month",
"yesterday", "in March", "in 2023"), resolved against that date into the window of publication dates that
retrieval prefers.

Everything here is plain date arithmetic on the question's words: no model, no clock but the `as_of` given.
A phrase that needs knowledge of events ("since the election") is not resolved: the window is then only the
`as_of` bound, and `TimeWindow.phrase` says nothing was read from the question.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from typing import NamedTuple

from rag.errors import QuestionError

_MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
_MONTHS.update({name.lower(): i for i, name in enumerate(calendar.month_abbr) if name})
_MONTHS["sept"] = 9
_WEEKDAYS = {name.lower(): i for i, name in enumerate(calendar.day_name)}
_MONTH_WORD = "|".join(sorted(_MONTHS, key=len, reverse=True))
_DAY_WORD = "|".join(_WEEKDAYS)
_NUMBER_WORDS = {"a": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
                 "nine": 9, "ten": 10, "several": 7, "few": 3}


class TimeWindow(NamedTuple):
    """Publication dates an answer may draw on: `since` to `until`, both inclusive (None: open). `phrase` is the
    words of the question that set the window (None when only `as_of`/explicit bounds did)."""

    since: dt.date | None
    until: dt.date | None
    phrase: str | None = None

    def contains(self, date: str | None) -> bool:
        """Whether an article dated `date` (ISO day, or a year) falls inside. An undated article does when the
        window has no lower bound: "as of" a day excludes what is known to be later, and 5% of a real web archive
        has no date at all; it cannot be shown to be recent enough for a window that starts somewhere."""
        if self.since is None and self.until is None:
            return True
        day = day_range(date)
        if day is None:
            return self.since is None
        first, last = day
        return (self.since is None or last >= self.since) and (self.until is None or first <= self.until)

    def describe(self) -> str:
        """For a reader: "articles of 2024-06-07 to 2024-06-14", "articles up to 2024-06-14"."""
        if self.since and self.until:
            span = (f"of {self.since.isoformat()}" if self.since == self.until
                    else f"of {self.since.isoformat()} to {self.until.isoformat()}")
        elif self.until:
            span = f"up to {self.until.isoformat()}"
        elif self.since:
            span = f"from {self.since.isoformat()} on"
        else:
            return "articles of any date"
        return f"articles {span}" + (f" (“{self.phrase}”)" if self.phrase else "")


def day_range(date: str | None) -> tuple[dt.date, dt.date] | None:
    """The days an article's date stands for: one day, or a whole year for a year-only date."""
    if not date:
        return None
    try:
        if len(date) == 4 and date.isdigit():
            return dt.date(int(date), 1, 1), dt.date(int(date), 12, 31)
        day = dt.date.fromisoformat(date[:10])
    except ValueError:
        return None
    return day, day


def _month_range(year: int, month: int) -> tuple[dt.date, dt.date]:
    return dt.date(year, month, 1), dt.date(year, month, calendar.monthrange(year, month)[1])


def _relative(q: str, as_of: dt.date) -> tuple[dt.date, dt.date, str] | None:
    """Windows that count back from `as_of`: today, yesterday, this/last week, month, year, past N days."""
    fixed = [
        (r"\btoday\b|\bthis morning\b|\btonight\b", (as_of, as_of)),
        (r"\byesterday\b", (as_of - dt.timedelta(days=1),) * 2),
        (r"\bthis week\b|\bthe past week\b|\bthe last week\b", (as_of - dt.timedelta(days=7), as_of)),
        (r"\blast week\b", (as_of - dt.timedelta(days=as_of.weekday() + 7),
                            as_of - dt.timedelta(days=as_of.weekday() + 1))),
        (r"\bthis month\b", (as_of.replace(day=1), as_of)),
        (r"\bthis year\b", (as_of.replace(month=1, day=1), as_of)),
        (r"\blast year\b", (dt.date(as_of.year - 1, 1, 1), dt.date(as_of.year - 1, 12, 31))),
        (r"\brecently\b|\blately\b|\bthese days\b", (as_of - dt.timedelta(days=30), as_of)),
    ]
    for pattern, (since, until) in fixed:
        if m := re.search(pattern, q):
            return since, until, m.group(0)
    if m := re.search(r"\blast month\b", q):
        prev = as_of.replace(day=1) - dt.timedelta(days=1)
        return (*_month_range(prev.year, prev.month), m.group(0))
    if m := re.search(r"\b(?:the )?(?:past|last) (\d+|" + "|".join(_NUMBER_WORDS) + r") (day|week|month)s?\b", q):
        n = int(m.group(1)) if m.group(1).isdigit() else _NUMBER_WORDS[m.group(1)]
        days = n * {"day": 1, "week": 7, "month": 31}[m.group(2)]
        return as_of - dt.timedelta(days=days), as_of, m.group(0)
    return None


def _named(q: str, as_of: dt.date) -> tuple[dt.date, dt.date, str] | None:
    """Windows that name a time: "on Monday", "in March" (the latest March up to `as_of`), "in 2023"."""
    if m := re.search(rf"\b(?:on|last|this) ({_DAY_WORD})\b", q):
        back = (as_of.weekday() - _WEEKDAYS[m.group(1)]) % 7
        day = as_of - dt.timedelta(days=back)
        return day, day, m.group(0)
    if m := re.search(rf"\b(?:in|during|since|last|this) ({_MONTH_WORD})\b\.?(?:,? (\d{{4}}))?", q):
        month = _MONTHS[m.group(1)]
        year = int(m.group(2)) if m.group(2) else (as_of.year if month <= as_of.month else as_of.year - 1)
        first, last = _month_range(year, month)
        if m.group(0).startswith("since"):
            return first, as_of, m.group(0)
        return first, min(last, as_of), m.group(0)
    if m := re.search(r"\b(in|during|since) ((?:19|20)\d\d)\b", q):
        year = int(m.group(2))
        first = dt.date(year, 1, 1)
        last = as_of if m.group(1) == "since" else min(dt.date(year, 12, 31), as_of)
        return (first, last, m.group(0)) if first <= as_of else None
    return None


def resolve(
    question: str,
    *,
    as_of: dt.date | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> TimeWindow:
    """The window for `question` asked on `as_of`: the relative time in its words, within any explicit
    `since`/`until`, and never after `as_of` (articles dated later are never used for an as-of answer).

    With no `as_of` and no time words, the window is open (whatever `since`/`until` say)."""
    q = question.lower()
    phrase = None
    first, last = since, until
    if as_of is not None:
        found = _relative(q, as_of) or _named(q, as_of)
        if found is not None:
            lo, hi, phrase = found
            first = max(lo, first) if first else lo
            last = min(hi, last) if last else hi
        last = min(last, as_of) if last else as_of
    if first and last and first > last:
        raise QuestionError(f"the time window is empty: from {first.isoformat()} to {last.isoformat()}")
    return TimeWindow(first, last, phrase)
