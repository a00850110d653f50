"""Chunk: documents into passages of whole sentences, sized by the embedding model's own tokenizer.

A passage never holds more tokens than the model reads, so nothing is silently truncated at embedding time;
consecutive passages share `overlap` sentences so that a fact split across a boundary is still found whole.
A sentence too long for one passage is cut at word boundaries, and a "word" too long (a run of Chinese text,
a long URL) at character boundaries.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rag.records import Document, Passage
from rag.text.sentences import split_sentences

TokenCounter = Callable[[Sequence[str]], list[int]]
# Texts per tokenizer call: one call over every sentence of a huge document holds all their token ids at once
# (about 3 GB for a 50 MB file); blocks keep memory flat at no measurable cost in speed.
@dataclass(frozen=True, slots=True)
class ChunkSettings:
    """How documents are cut into passages: at most `max_tokens` model tokens of whole sentences, consecutive
    passages sharing `overlap` sentences."""

    max_tokens: int = 128
    overlap: int = 1


COUNT_BATCH = 2048


def _count_all(texts: Sequence[str], count: TokenCounter) -> list[int]:
    out: list[int] = []
    for i in range(0, len(texts), COUNT_BATCH):
        out.extend(count(texts[i:i + COUNT_BATCH]))
    return out


def _longest_fit(text: str, start: int, ends: Sequence[int], count: TokenCounter, budget: int) -> int:
    """The largest m with text[start:ends[m - 1]] within `budget` tokens (at least 1), `ends` increasing.

    Galloping (1, 2, 4, ...) then halving: the probes are proportional to the answer, not to len(ends), so
    cutting a 50 MB run of text costs O(size · log piece) tokenizer work, not O(size²).
    """

    def fits(m: int) -> bool:
        return count([text[start:ends[m - 1]]])[0] <= budget

    n = len(ends)
    good, step = 1, 1
    while good < n:
        probe = min(n, good + step)
        if not fits(probe):
            bad = probe
            break
        good, step = probe, step * 2
    else:
        return good
    while bad - good > 1:
        mid = (good + bad) // 2
        if fits(mid):
            good = mid
        else:
            bad = mid
    return good


def _split_chars(text: str, s: int, e: int, count: TokenCounter, budget: int) -> list[tuple[int, int]]:
    """Cut text[s:e] (no white space in it) into pieces of at most `budget` tokens, between characters."""
    pieces: list[tuple[int, int]] = []
    while s < e:
        m = _longest_fit(text, s, range(s + 1, e + 1), count, budget)
        pieces.append((s, s + m))
        s += m
    return pieces


def _split_long(text: str, span: tuple[int, int], count: TokenCounter, budget: int) -> list[tuple[int, int]]:
    """Cut an over-long sentence into pieces of at most `budget` tokens: between words, else inside words."""
    s, e = span
    words = [(s + m.start(), s + m.end()) for m in re.finditer(r"\S+", text[s:e])]
    sizes = _count_all([text[a:b] for a, b in words], count)
    pieces: list[tuple[int, int]] = []
    i = 0
    while i < len(words):
        if sizes[i] > budget:
            pieces.extend(_split_chars(text, words[i][0], words[i][1], count, budget))
            i += 1
            continue
        j, total = i, 0
        while j < len(words) and total + sizes[j] <= budget:
            total += sizes[j]
            j += 1
        # Summed word counts are exact for tokenizers that split on white space; check, and search if not.
        if j - i > 1 and count([text[words[i][0]:words[j - 1][1]]])[0] > budget:
            j = i + _longest_fit(text, words[i][0], [b for _, b in words[i:j]], count, budget)
        pieces.append((words[i][0], words[j - 1][1]))
        i = j
    return pieces


def sentence_units(
    doc: Document, count: TokenCounter, budget: int
) -> tuple[list[tuple[int, int]], list[int]]:
    """The document's sentences (over-long ones cut to fit `budget`) and the token count of each."""
    spans = split_sentences(doc.text)
    counts = _count_all([doc.text[s:e] for s, e in spans], count)
    units: list[tuple[int, int]] = []
    sizes: list[int] = []
    for span, n in zip(spans, counts, strict=True):
        if n <= budget:
            units.append(span)
            sizes.append(n)
            continue
        pieces = _split_long(doc.text, span, count, budget)
        units.extend(pieces)
        sizes.extend(_count_all([doc.text[a:b] for a, b in pieces], count))
    return units, sizes


def _group(units: list[tuple[int, int]], sizes: list[int], max_tokens: int, overlap: int,
           fits: Callable[[int, int], bool] | None = None) -> list[tuple[int, int]]:
    """Runs [i, j) of units forming passages: greedy by summed sizes, checked with `fits` when given."""
    runs: list[tuple[int, int]] = []
    i = 0
    while i < len(units):
        j, total = i, 0
        # A sentence boundary costs about one token when sentences are tokenized together.
        while j < len(units) and total + sizes[j] + (j > i) <= max_tokens:
            total += sizes[j] + (j > i)
            j += 1
        j = max(j, i + 1)
        while fits is not None and j > i + 1 and not fits(i, j):
            j -= 1
        runs.append((i, j))
        if j >= len(units):
            break
        # Step back `overlap` sentences, but always move forward.
        i = max(i + 1, j - overlap)
    return runs


def chunk_document(
    doc: Document,
    *,
    count_tokens: TokenCounter,
    max_tokens: int = 128,
    overlap: int = 1,
    first_id: int = 0,
) -> list[Passage]:
    """Split `doc` into passages of whole sentences holding at most `max_tokens` tokens each.

    `count_tokens` counts tokens without special tokens; `max_tokens` should leave room for them.
    Passages get consecutive ids from `first_id`.
    """
    if max_tokens < 8:
        raise ValueError(f"max_tokens must be at least 8, not {max_tokens}")
    units, sizes = sentence_units(doc, count_tokens, max_tokens)
    text = doc.text

    def run_text(run: tuple[int, int]) -> str:
        return text[units[run[0]][0]:units[run[1] - 1][1]]

    runs = _group(units, sizes, max_tokens, overlap)
    # Summed sizes are exact for tokenizers that split on white space; count every passage of several units
    # once, and regroup with a check per passage only in the rare document where some passage ran over.
    joined = [run_text(r) for r in runs if r[1] - r[0] > 1]
    if any(n > max_tokens for n in _count_all(joined, count_tokens)):
        runs = _group(units, sizes, max_tokens, overlap,
                      fits=lambda i, j: count_tokens([run_text((i, j))])[0] <= max_tokens)
    passages: list[Passage] = []
    for i, j in runs:
        start, end = units[i][0], units[j - 1][1]
        passages.append(
            Passage(
                id=first_id + len(passages),
                doc_id=doc.id,
                start=start,
                end=end,
                text=text[start:end],
                sentences=tuple(units[i:j]),
            )
        )
    return passages
