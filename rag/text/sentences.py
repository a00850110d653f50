"""Sentence boundaries for news prose, as exact `(start, end)` character spans.

Rules, in order: a line break ends a sentence (headlines, bylines and lists carry no final punctuation);
inside a line, `.`, `!`, `?` or `…` (with any closing quotes or brackets) followed by white space ends a
sentence when the next word could start one and the word before the stop is not an abbreviation that keeps
the sentence going ("Aug. 13", "Gen. Smith", "J. Smith", "U.S. officials", "No. 5"). The full stops of
scripts written without spaces (Chinese and Japanese `。！？`) end a sentence wherever they stand; the
Arabic `؟` and the Devanagari `।` behave like `?` and `.` before white space.
"""

from __future__ import annotations

import re

# Always followed by more of the same sentence.
_TITLES = {
    "mr", "mrs", "ms", "dr", "prof", "gen", "col", "lt", "sgt", "capt", "cmdr", "adm", "maj", "gov", "sen",
    "rep", "rev", "st", "mt", "ft", "pres", "supt", "det", "insp", "hon", "amb", "messrs", "sec", "atty",
    "vs", "v", "approx", "dept", "est",
    "univ", "assn", "bros", "ave", "blvd", "rd", "e.g", "i.e", "cf", "al",
}
# Abbreviations only before a number: "No. 5", "p. 12"; "He said no. Then..." still splits.
_NUMBERED = {"no", "nos", "vol", "fig", "art", "p", "pp", "para", "ch", "sec", "op"}
# Months (and days) end a sentence only before a capitalised word: "On Aug. 13," never splits.
_MONTHS = {
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
    "mon", "tue", "tues", "wed", "thu", "thur", "thurs", "fri", "sat", "sun",
}
# May end a sentence, but usually do not: split only before a word that typically starts one.
_AMBIGUOUS = {"inc", "corp", "co", "ltd", "llc", "plc", "jr", "sr", "etc", "a.m", "p.m", "u.s", "u.k", "u.n",
              "e.u", "d.c", "n.y", "l.a"}
_STARTERS = {
    "the", "a", "an", "he", "she", "it", "they", "we", "i", "you", "this", "that", "these", "those", "but",
    "and", "or", "so", "yet", "in", "on", "at", "for", "after", "before", "when", "while", "if", "as",
    "his", "her", "its", "their", "our", "there", "here", "meanwhile", "however", "still", "some", "many",
    "most", "one", "two", "officials", "according", "other", "since", "during", "by", "from", "with",
}

_CLOSERS = "\"'”’»)\\]」』）】"
_CANDIDATE = re.compile(rf"[.!?…؟।]+[{_CLOSERS}]*(?=\s)|[。！？]+[{_CLOSERS}]*")
_WORD_BEFORE = re.compile(r"([\w.’'-]*)$")
_NEXT_WORD = re.compile(r"\s+([\"'“‘«(\[]*)(\S*)")


def _is_boundary(line: str, stop: int, end: int) -> bool:
    """Whether the punctuation run line[stop:end] (followed by white space) ends a sentence."""
    nxt = _NEXT_WORD.match(line, end)
    if not nxt or not nxt.group(2):
        return True  # nothing follows on this line
    opener, word = nxt.group(1), nxt.group(2)
    first = word[0]
    if first.islower():
        return False  # "…?" he asked / U.S. officials said
    if line[stop] != ".":
        return True
    if end - stop > 1 and line[stop:stop + 3] == "...":
        return first.isupper() or bool(opener)
    before = _WORD_BEFORE.search(line, 0, stop)
    token = (before.group(1) if before else "").lower().rstrip(".")
    bare = token.strip("’'-")
    if not bare:
        return True
    if bare in _TITLES:
        return False
    if len(bare) == 1 and bare.isalpha():
        return False  # an initial: "J. Smith", "Harry S. Truman"
    if bare in _NUMBERED:
        return not first.isdigit()
    if bare in _MONTHS:
        return first.isupper() and not first.isdigit()
    if bare in _AMBIGUOUS or re.fullmatch(r"(?:[a-z]\.){1,4}[a-z]", bare):
        clean = word.strip("\"'“”‘’«»()[],;:").lower()
        return clean in _STARTERS
    return True


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentence spans of `text[start:end]`, as absolute offsets, stripped of surrounding white space.

    Every non-space character of the range lies in exactly one span, and `text[s:e]` is the sentence verbatim.
    """
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    pos = start
    while pos < end:
        nl = text.find("\n", pos, end)
        line_end = end if nl < 0 else nl
        _split_line(text, pos, line_end, spans)
        pos = line_end + 1
    return spans


def _split_line(text: str, lo: int, hi: int, out: list[tuple[int, int]]) -> None:
    line = text[lo:hi]
    cut = 0
    for m in _CANDIDATE.finditer(line):
        if _is_boundary(line, m.start(), m.end()):
            _emit(lo, line, cut, m.end(), out)
            cut = m.end()
    _emit(lo, line, cut, len(line), out)


def _emit(lo: int, line: str, a: int, b: int, out: list[tuple[int, int]]) -> None:
    piece = line[a:b]
    stripped = piece.strip()
    if stripped:
        s = a + (len(piece) - len(piece.lstrip()))
        out.append((lo + s, lo + s + len(stripped)))
