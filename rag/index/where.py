"""A question's date and outlet limits as conditions on a passage's own fields, for a store that filters by
payload inside its search (Qdrant): the same selection `rag.index.filters.allowed_ids` makes as an array. Apart
from `rag.index.filters` so that the stores' and BM25's signatures can name it without importing the text store.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import NamedTuple

from rag.window import TimeWindow


class Where(NamedTuple):
    """The selection `allowed_ids` makes, as conditions on a passage's own fields (`passage_fields`), for a store
    that filters by payload inside its search (Qdrant): day ordinals and casefolded outlet names."""

    since: int | None  # the article's last day on or after this (an undated article, -1, never is)
    until: int | None  # the article's first day on or before this (an undated one, -1, always is)
    sources: tuple[str, ...] | None


def where_of(window: TimeWindow | None, sources: Collection[str] | None = None) -> Where | None:
    """The conditions of `allowed_ids(table, window, sources)`; None exactly when that is None."""
    bounded = window is not None and (window.since is not None or window.until is not None)
    if not bounded and not sources:
        return None
    since = window.since.toordinal() if window is not None and window.since is not None else None
    until = window.until.toordinal() if window is not None and window.until is not None else None
    return Where(since, until, tuple(sorted({s.strip().casefold() for s in sources})) if sources else None)


__all__ = ["Where", "where_of"]
