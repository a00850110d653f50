"""Wire copies: the same story republished by several outlets, folded at question time.

Among the ranked candidate passages, passages of different documents whose texts are near-duplicates (MinHash
over word 5-gram shingles, estimated Jaccard at least `THRESHOLD`) form one group. The best-ranked passage of a
group is kept; the documents of the others become its `also_in`, so that k slots hold k distinct stories.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import replace
from functools import cache
from typing import Any

import numpy as np

from rag.records import Passage, ScoredPassage

# Estimated Jaccard of 5-gram shingles. The dated gold set's three wire copies (different tails) are at a true
# 0.795-0.815, which 64 permutations estimate as 0.73-0.81; the next most similar pair of its articles (a story
# and its correction) is at 0.03. 0.6 folds such copies reliably and stays far above different stories.
THRESHOLD = 0.6
SHINGLE = 5  # words per shingle
NUM_PERM = 64  # enough to tell 0.8 from 0.5 reliably; a 60-passage list signs in a few ms
MIN_WORDS = 12  # shorter passages have too few shingles to estimate from: compared by exact normalised text
_WORD = re.compile(r"\w+")


def _crc32(data: bytes) -> int:
    """A fast, stable 32-bit hash (Python's own hash() is salted per process: signatures must not be)."""
    return zlib.crc32(data) & 0xFFFFFFFF


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


@cache
def _permutations() -> Any:
    """The seeded permutations every signature shares: drawing them anew for each passage was most of its cost."""
    # imported here: datasketch's package imports its LSH classes and with them scipy (0.4 s), which a process
    # that never answers a question (the CLI's other commands, an index build) should not pay
    from datasketch import MinHash

    return MinHash(num_perm=NUM_PERM, seed=1, scheme="affine32", hashfunc=_crc32).permutations


def _signature(words: list[str]) -> np.ndarray:
    """The MinHash signature of the words' 5-gram shingles; deterministic across processes and machines."""
    from datasketch import MinHash

    m = MinHash(num_perm=NUM_PERM, seed=1, scheme="affine32", hashfunc=_crc32, permutations=_permutations())
    shingles = {" ".join(words[i:i + SHINGLE]) for i in range(len(words) - SHINGLE + 1)}
    m.update_batch([s.encode("utf-8") for s in sorted(shingles)])
    return np.asarray(m.hashvalues)


def groups(texts: Sequence[str], doc_ids: Sequence[str]) -> list[int]:
    """For each text, in rank order, the index of the text that represents its group: itself when it is the
    best-ranked of its group, else the earlier representative of another document it nearly duplicates (the
    first such, in rank order). Two passages of one document never group: they are different parts of it."""
    reps: list[int] = []  # indexes of the representatives so far, in rank order
    out: list[int] = []
    words = [_words(text) for text in texts]
    sigs: dict[int, np.ndarray] = {}  # signed only when compared: passages of one document never are

    def same(i: int, j: int) -> bool:
        if len(words[i]) < MIN_WORDS or len(words[j]) < MIN_WORDS:  # too short to sign: the same words
            return words[i] == words[j] and bool(words[i])
        for n in (i, j):
            if n not in sigs:
                sigs[n] = _signature(words[n])
        return float(np.mean(sigs[i] == sigs[j])) >= THRESHOLD

    for i in range(len(texts)):
        rep = next((r for r in reps if doc_ids[r] != doc_ids[i] and same(i, r)), None)
        if rep is None:
            reps.append(i)
            out.append(i)
        else:
            out.append(rep)
    return out


def fold(passages: Sequence[ScoredPassage]) -> list[ScoredPassage]:
    """`passages` (ranked, best first) with the copies folded: each kept passage carries in `also_in` the other
    documents (distinct, in rank order) that hold a near-duplicate of it, and in `copies` those passages
    themselves; ranks are renumbered from 1."""
    rep_of = groups([sp.passage.text for sp in passages], [sp.passage.doc_id for sp in passages])
    also: dict[int, list[str]] = {}
    copies: dict[int, list[Passage]] = {}
    for i, r in enumerate(rep_of):
        if r != i:
            extra = also.setdefault(r, [])
            doc = passages[i].passage.doc_id
            if doc not in extra:
                extra.append(doc)
            copies.setdefault(r, []).append(passages[i].passage)
    kept = [i for i, r in enumerate(rep_of) if r == i]
    return [replace(passages[i], rank=n, also_in=passages[i].also_in + tuple(also.get(i, ())),
                    copies=passages[i].copies + tuple(copies.get(i, ())))
            for n, i in enumerate(kept, 1)]
