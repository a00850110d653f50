"""Sentence splitting: news prose cases, and properties on arbitrary Unicode (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rag.text.sentences import split_sentences


def _split(text: str) -> list[str]:
    return [text[s:e] for s, e in split_sentences(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("On Aug. 13, Turkey and Syria signed a memorandum of understanding (MoU). It was a shift.",
         ["On Aug. 13, Turkey and Syria signed a memorandum of understanding (MoU).", "It was a shift."]),
        ("The offensive was launched on Nov. 27, 2024. Assad fled.",
         ["The offensive was launched on Nov. 27, 2024.", "Assad fled."]),
        ("It happened in Jan. Then came the thaw.", ["It happened in Jan.", "Then came the thaw."]),
        ("U.S. officials said so. The talks were held in the U.S. The president agreed.",
         ["U.S. officials said so.", "The talks were held in the U.S.", "The president agreed."]),
        ("He lives in the U.S. and works there.", ["He lives in the U.S. and works there."]),
        ("The U.N. Security Council met. It voted.", ["The U.N. Security Council met.", "It voted."]),
        ('"We will win." He said it twice.', ['"We will win."', "He said it twice."]),
        ("“We will win.” He said it twice.", ["“We will win.”", "He said it twice."]),
        ('"Is it over?" he asked. Nobody knew.', ['"Is it over?" he asked.', "Nobody knew."]),
        ("He said: “It is done (for now).” Then he left.", ["He said: “It is done (for now).”", "Then he left."]),
        ("Turkey signs deal\nThe deal was signed on Monday\n\n08/18/2025 / By Zoey Sky",
         ["Turkey signs deal", "The deal was signed on Monday", "08/18/2025 / By Zoey Sky"]),
        ("Gen. Mazloum Abdi spoke. Dr. Smith agreed. Lt. Col. Ann Wu did not.",
         ["Gen. Mazloum Abdi spoke.", "Dr. Smith agreed.", "Lt. Col. Ann Wu did not."]),
        ("J. K. Rowling wrote it. George W. Bush read it.", ["J. K. Rowling wrote it.", "George W. Bush read it."]),
        ("It was item No. 5 on the list. He said no. Then he left.",
         ["It was item No. 5 on the list.", "He said no.", "Then he left."]),
        ("He paused... Then he spoke. It went on and on... and on.",
         ["He paused...", "Then he spoke.", "It went on and on... and on."]),
        ("He paused… Then he spoke.", ["He paused…", "Then he spoke."]),
        ("Prices rose 5.5 percent. That was high.", ["Prices rose 5.5 percent.", "That was high."]),
        ("He arrived at 5 p.m. The meeting began.", ["He arrived at 5 p.m.", "The meeting began."]),
        ("Acme Corp. said profits rose.", ["Acme Corp. said profits rose."]),
        ("Mr. and Mrs. Smith came. They left.", ["Mr. and Mrs. Smith came.", "They left."]),
        ("Really?! Yes. Wow!", ["Really?!", "Yes.", "Wow!"]),
        ("土耳其和叙利亚签署了协议。协议很重要！", ["土耳其和叙利亚签署了协议。", "协议很重要！"]),
        ("「協定に署名した。」と彼は言った。", ["「協定に署名した。」", "と彼は言った。"]),
        ("هل وقعت تركيا؟ نعم، وقعت.", ["هل وقعت تركيا؟", "نعم، وقعت."]),
        ("   \n\t ", []),
    ],
)
def test_news_prose(text: str, expected: list[str]) -> None:
    assert _split(text) == expected


NEWSY = st.sampled_from([
    "Aug.", "U.S.", "Dr.", "No.", "5", "2024", "...", "…", "?", "!", ".", "?!", "\n", "\n\n", " ", "  ", "\t",
    "\r", "“", "”", '"', "'", "(", ")", "The", "he", "Smith", "J.", "p.m.", "Inc.", "。", "！", "؟", "—",
    "\u00a0", "\u2028", "\x0c", "\x1c", "\u3000", "e\u0301", "👍🏽", "\u200b", "\ufeff",
])
TEXT = st.one_of(
    st.text(max_size=400),
    st.lists(st.one_of(NEWSY, st.text(max_size=6)), max_size=80).map("".join),
)


def _check_spans(text: str, spans: list[tuple[int, int]], lo: int = 0, hi: int | None = None) -> None:
    hi = len(text) if hi is None else hi
    covered: set[int] = set()
    prev_end = lo
    for s, e in spans:
        piece = text[s:e]
        assert lo <= prev_end <= s < e <= hi  # ordered, non-overlapping, inside the range
        assert piece == piece.strip() and "\n" not in piece
        covered.update(range(s, e))
        prev_end = e
    # Every character that is not white space is in a sentence.
    assert all(i in covered for i in range(lo, hi) if not text[i].isspace())


@settings(max_examples=400, deadline=None)
@given(TEXT)
def test_spans_are_verbatim_ordered_and_cover_every_visible_character(text: str) -> None:
    _check_spans(text, split_sentences(text))


@settings(max_examples=200, deadline=None)
@given(TEXT, st.integers(0, 400), st.integers(0, 400))
def test_a_range_is_split_inside_the_range(text: str, a: int, b: int) -> None:
    lo, hi = sorted((min(a, len(text)), min(b, len(text))))
    _check_spans(text, split_sentences(text, lo, hi), lo, hi)
