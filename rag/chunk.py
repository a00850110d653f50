"""Chunk: documents into passages of whole sentences, sized by the embedding model's own tokenizer.

A passage never holds more tokens than the model reads, so nothing is silently truncated at embedding time;
consecutive passages share `overlap` sentences so that a fact split across a boundary is still found whole.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from .records import Document, Passage
from .sentences import split_sentences

TokenCounter = Callable[[Sequence[str]], list[int]]


def _split_long(text: str, span: tuple[int, int], count: TokenCounter, budget: int) -> list[tuple[int, int]]:
    """Cut one over-long sentence at word boundaries into pieces of at most `budget` tokens."""
    s, e = span
    words = [(s + m.start(), s + m.end()) for m in re.finditer(r"\S+", text[s:e])]
    pieces: list[tuple[int, int]] = []
    i = 0
    while i < len(words):
        # Grow a piece by halving steps: O(log n) tokenizer calls per piece rather than one per word.
        lo, hi = i + 1, len(words)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if count([text[words[i][0]:words[mid - 1][1]]])[0] <= budget:
                lo = mid
            else:
                hi = mid - 1
        pieces.append((words[i][0], words[lo - 1][1]))
        i = lo
    return pieces


def sentence_units(doc: Document, count: TokenCounter, budget: int) -> tuple[list[tuple[int, int]], list[int]]:
    """The document's sentences (over-long ones cut to fit `budget`) and the token count of each."""
    spans = split_sentences(doc.text)
    counts = count([doc.text[s:e] for s, e in spans]) if spans else []
    units: list[tuple[int, int]] = []
    sizes: list[int] = []
    for span, n in zip(spans, counts, strict=True):
        if n <= budget:
            units.append(span)
            sizes.append(n)
            continue
        for piece in _split_long(doc.text, span, count, budget):
            units.append(piece)
            sizes.append(count([doc.text[piece[0]:piece[1]]])[0])
    return units, sizes


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
    passages: list[Passage] = []
    i = 0
    while i < len(units):
        j, total = i, 0
        # A sentence boundary costs about one token when sentences are tokenized together.
        while j < len(units) and total + sizes[j] + (j > i) <= max_tokens:
            total += sizes[j] + (j > i)
            j += 1
        j = max(j, i + 1)
        start, end = units[i][0], units[j - 1][1]
        passages.append(
            Passage(
                id=first_id + len(passages),
                doc_id=doc.id,
                start=start,
                end=end,
                text=doc.text[start:end],
                sentences=tuple(units[i:j]),
            )
        )
        if j >= len(units):
            break
        # Step back `overlap` sentences, but always move forward.
        i = max(i + 1, j - overlap)
    return passages
