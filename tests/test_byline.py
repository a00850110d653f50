"""rag.byline: a question about an article itself (who wrote it, what day it is dated), answered from its head."""

from __future__ import annotations

import pytest

from rag.byline import asks_about_article, byline_answer
from rag.records import Document, Passage, ScoredPassage

HEAD = "08/18/2025 / By Zoey Sky\n"
STORY = "On Aug. 13, Turkey and Syria signed a memorandum of understanding."


@pytest.mark.parametrize(("question", "asked"), [
    ("Who wrote the article?", "author"),
    ("Who wrote this story about the memorandum?", "author"),
    ("Who is the author of the article on Syria?", "author"),
    ("What is the article's byline?", "author"),
    ("Who authored the piece?", "author"),
    ("What date is the article dated?", "date"),
    ("When was the article about Turkey published?", "date"),
    ("What is the publication date of this story?", "date"),
    ("Who wrote the memorandum?", None),
    ("Who wrote the Declaration of Independence?", None),
    ("When was the memorandum signed?", None),
    ("What did the article say about Turkey?", None),
])
def test_what_a_question_asks_of_the_article(question: str, asked: str | None) -> None:
    assert asks_about_article(question) == asked


def _doc(doc_id: str, text: str, **meta: str) -> Document:
    return Document(id=doc_id, title=doc_id, text=text, **meta)  # type: ignore[arg-type]


def _hit(doc: Document, start: int = 0, end: int | None = None, pid: int = 0) -> ScoredPassage:
    end = len(doc.text) if end is None else end
    return ScoredPassage(Passage(pid, doc.id, start, end, doc.text[start:end], ((start, end),)), doc.title, 1.0, 1)


SEED = _doc("seed", HEAD + STORY, date="2025-08-18", date_source="text", author="Zoey Sky")


def test_the_author_and_the_day_are_cited_where_the_head_writes_them() -> None:
    docs = {"seed": SEED}
    short, line = byline_answer("Who wrote the article?", [_hit(SEED)], docs) or ()
    assert (short.role, short.quote, short.start, short.end) == ("answer", "Zoey Sky", 16, 24)
    assert (line.role, line.quote, line.marker, line.passage_id) == ("support", "08/18/2025 / By Zoey Sky", 2, 0)
    short, _ = byline_answer("When was the article published?", [_hit(SEED)], docs) or ()
    assert (short.quote, short.start, short.end, short.date) == ("08/18/2025", 0, 10, "2025-08-18")
    # a passage that does not hold the head: the citations name no passage rather than a wrong one
    later = byline_answer("Who wrote the article?", [_hit(SEED, len(HEAD), pid=1)], docs) or ()
    assert [c.passage_id for c in later] == [None, None]


def test_only_what_the_head_writes_is_answered() -> None:
    meta_only = _doc("m", STORY, date="2025-08-18", date_source="metadata", author="Zoey Sky")
    assert byline_answer("Who wrote the article?", [_hit(meta_only)], {"m": meta_only}) is None
    assert byline_answer("When was the article published?", [_hit(meta_only)], {"m": meta_only}) is None
    # a name after "By" that is not the article's author (a story sentence) is not taken for it
    other = _doc("o", "Passed By Zoey Sky on Monday.\n" + STORY, author="Ann Lee")
    assert byline_answer("Who wrote the article?", [_hit(other)], {"o": other}) is None
    assert byline_answer("Who wrote the memorandum?", [_hit(SEED)], {"seed": SEED}) is None
    assert byline_answer("Who wrote the article?", [], {"seed": SEED}) is None


def test_among_several_articles_the_question_must_say_which() -> None:
    other = _doc("other", "06/01/2025 / By Ann Lee\nThe council met.", date="2025-06-01", date_source="text",
                 author="Ann Lee")
    docs = {"seed": SEED, "other": other}
    assert byline_answer("Who wrote the article?", [_hit(SEED)], docs) is None
    cited = byline_answer("Who wrote the article about the memorandum?", [_hit(SEED), _hit(other)], docs) or ()
    assert [c.quote for c in cited] == ["Zoey Sky", "08/18/2025 / By Zoey Sky"]
