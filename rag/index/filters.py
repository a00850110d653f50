"""Which passages a question may search: its time window and its outlets, as one boolean array over passage ids.

The date and outlet of every passage's article are read once per index into arrays indexed by passage id
(`PassageTable`), so a question's filter is a few vectorised comparisons (about a millisecond at 200,000
passages), never a Python loop over passages. Both searches apply the array inside themselves
(`FaissStore.search(allowed=...)`, `LexicalIndex.search(allowed=...)`): the k best *allowed* passages come
back, rather than the k best of all with the others thrown away afterwards.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import NamedTuple, Protocol

import numpy as np

from rag.index.mappings import PassageMap
from rag.records import Document, Passage
from rag.window import TimeWindow, day_range

_UNDATED = -1  # ordinal of an undated article: inside a window only when it has no lower bound
_ATTR = "_passage_table"  # where an index keeps its table (rebuilt when its passages change)


class Indexed(Protocol):
    """What a table is read from: an index's passages by id and its documents by id."""

    @property
    def passages(self) -> Mapping[int, Passage]: ...

    @property
    def documents(self) -> Mapping[str, Document]: ...


class PassageTable(NamedTuple):
    """Per passage id: whether it exists, its article's first and last day (ordinals; a year-only date spans
    the year; -1 undated) and its outlet (a code into `sources`, -1 none)."""

    exists: np.ndarray
    first: np.ndarray
    last: np.ndarray
    source: np.ndarray
    sources: tuple[str, ...]  # outlet names as the articles give them, in code order
    signature: tuple[int, int, int]


def _days(date: str | None) -> tuple[int, int]:
    """The first and last day `date` stands for (`rag.window.day_range`), as ordinals; (-1, -1) when undated
    or unreadable."""
    days = day_range(date)
    return (days[0].toordinal(), days[1].toordinal()) if days else (_UNDATED, _UNDATED)


def _signature(passages: Mapping[int, Passage], documents: Mapping[str, Document]) -> tuple[int, int, int]:
    # Passage ids are never reused: a changed or added article adds ids past the largest, a removed one
    # lowers the count; so these three numbers change whenever the table would.
    return len(passages), _max_id(passages), len(documents)


def _max_id(passages: Mapping[int, Passage]) -> int:
    # An index's passages are in its text store, which knows its largest id: never a scan per question.
    return passages.max_id() if isinstance(passages, PassageMap) else max(passages, default=-1)


def _doc_of_each(passages: Mapping[int, Passage]) -> Iterable[tuple[int, str]]:
    """(passage id, document id) of every passage; from the text store without reading a text."""
    if isinstance(passages, PassageMap):
        pids, docs = passages.doc_ids()
        return zip(pids.tolist(), docs, strict=True)
    return ((pid, p.doc_id) for pid, p in passages.items())


def build_table(passages: Mapping[int, Passage], documents: Mapping[str, Document]) -> PassageTable:
    """The table of `passages` (by id) over their `documents`."""
    size = _max_id(passages) + 1
    exists = np.zeros(size, bool)
    first = np.full(size, _UNDATED, np.int32)
    last = np.full(size, _UNDATED, np.int32)
    source = np.full(size, -1, np.int32)
    codes: dict[str, int] = {}
    per_doc: dict[str, tuple[int, int, int]] = {}
    for pid, doc_id in _doc_of_each(passages):
        row = per_doc.get(doc_id)
        if row is None:
            doc = documents.get(doc_id)
            lo, hi = _days(doc.date if doc else None)
            name = doc.source if doc and doc.source else None
            code = codes.setdefault(name, len(codes)) if name else -1
            row = per_doc[doc_id] = (lo, hi, code)
        exists[pid] = True
        first[pid], last[pid], source[pid] = row
    return PassageTable(exists, first, last, source, tuple(codes), _signature(passages, documents))


def table_of(index: Indexed) -> PassageTable:
    """The table of an index, built on first use and again only when its passages changed."""
    passages, documents = index.passages, index.documents
    table: PassageTable | None = getattr(index, _ATTR, None)
    if table is None or table.signature != _signature(passages, documents):
        table = build_table(passages, documents)
        setattr(index, _ATTR, table)
    return table


def allowed_ids(
    table: PassageTable, window: TimeWindow | None, sources: Collection[str] | None = None
) -> np.ndarray | None:
    """A boolean array over passage ids, True where a passage's article is inside `window` (its date range
    overlaps it, as `TimeWindow.contains` says; undated ones only when it has no lower bound) and from
    one of `sources` (outlet names, any case). None when nothing is filtered, so searches run as before."""
    bounded = window is not None and (window.since is not None or window.until is not None)
    if not bounded and not sources:
        return None
    mask = table.exists.copy()
    if bounded:
        assert window is not None
        undated = table.first == _UNDATED
        if window.since is not None:  # a lower bound: an undated article cannot be shown to be recent enough
            mask &= ~undated & (table.last >= window.since.toordinal())
        if window.until is not None:  # an upper bound only excludes what is known to be later
            mask &= undated | (table.first <= window.until.toordinal())
    if sources:
        wanted = {s.strip().casefold() for s in sources}
        codes = [i for i, name in enumerate(table.sources) if name.strip().casefold() in wanted]
        mask &= np.isin(table.source, np.asarray(codes, np.int32))
    return mask


def passage_fields(table: PassageTable, pid: int) -> dict[str, int | str | None]:
    """The fields `Where` tests, of passage `pid`: its article's first and last day (-1 undated) and outlet."""
    code = int(table.source[pid])
    return {"first_day": int(table.first[pid]), "last_day": int(table.last[pid]),
            "source": table.sources[code].strip().casefold() if code >= 0 else None}


def index_sources(index: Indexed) -> tuple[str, ...]:
    """The outlets of an index's articles, sorted (for a chat's outlet filter)."""
    return tuple(sorted({d.source for d in index.documents.values() if d.source}, key=str.casefold))
