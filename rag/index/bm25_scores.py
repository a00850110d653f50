"""BM25's score matrix built straight from term ids, a slice of the corpus at a time: what bm25s's `index()` builds,
bit for bit, in a fraction of its memory.

[issue 12] bm25s builds the matrix from three arrays of every (passage, term) pair, then sorts them through 64-bit
copies: about 44 bytes a pair at its peak, 506 MiB on news-archive's 264,000 passages (12 M pairs), at the end of
a build when the model and the vectors are in memory too. Here the pairs of a slice of passages are counted and
scored, then scattered into their columns: two passes over the term ids (document frequencies first), the final
arrays (8 bytes a pair) and one slice's temporaries. The scores are computed with bm25s's own formulas ("lucene":
Lucene's idf, Robertson's term frequency) in the same order of float operations; `tests/test_bm25_scores.py`
checks the arrays equal to bm25s's.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

# Terms a slice holds: its temporaries are a few int64 arrays of this length (2 MiB each). On news-archive a
# slice of 2 M terms added 202 MiB at the peak, one of 256 K 88 MiB (the result's own 86), and was faster.
SLICE_TERMS = 1 << 18

__all__ = ["SLICE_TERMS", "score_matrix"]


def _slices(ends: np.ndarray, slice_terms: int) -> Iterator[tuple[int, int]]:
    """(first, last + 1) passages of consecutive slices of about `slice_terms` terms each (a passage whole)."""
    first = 0
    while first < len(ends):
        start = int(ends[first - 1]) if first else 0
        last = max(int(np.searchsorted(ends, start + slice_terms, side="right")), first + 1)
        yield first, min(last, len(ends))
        first = last


def _pairs(flat: np.ndarray, ends: np.ndarray, first: int, last: int, n_vocab: int
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(passage, term, term frequency) of each distinct term of passages first..last-1, by passage then term."""
    start = int(ends[first - 1]) if first else 0
    lengths = np.diff(ends[first:last], prepend=start)
    local = np.repeat(np.arange(last - first, dtype=np.int64), lengths)
    keys, tf = np.unique(local * n_vocab + flat[start:ends[last - 1]], return_counts=True)
    return keys // n_vocab + first, keys % n_vocab, tf


def score_matrix(flat: np.ndarray, ends: np.ndarray, n_vocab: int, *, k1: float, b: float,
                 slice_terms: int = SLICE_TERMS) -> dict[str, object]:
    """The BM25 scores of passages given as term ids (`flat`, int32; passage i's terms end at `ends[i]`; every
    passage has at least one) over a vocabulary of `n_vocab` ids: a passage × term matrix in compressed sparse
    columns, as bm25s keeps it in `BM25.scores` (`data`, `indices`, `indptr`, `num_docs`)."""
    n_docs = len(ends)
    lengths = np.diff(ends, prepend=0)
    avg_len = lengths.mean()  # as bm25s computes it (an int64 array's mean)
    df = np.zeros(n_vocab, np.int64)
    for first, last in _slices(ends, slice_terms):
        df += np.bincount(_pairs(flat, ends, first, last, n_vocab)[1], minlength=n_vocab)
    # Lucene's idf in Python floats, stored as float32: bm25s's `_score_idf_lucene` and `_build_idf_array`.
    idf = np.array([math.log(1 + (n_docs - f + 0.5) / (f + 0.5)) if f else 0.0 for f in df.tolist()], np.float32)
    indptr = np.zeros(n_vocab + 1, np.int64)
    np.cumsum(df, out=indptr[1:])
    data = np.empty(int(indptr[-1]), np.float32)
    indices = np.empty(int(indptr[-1]), np.int32)
    cursor = indptr[:-1].copy()  # where each term's next pair goes: passages arrive in order
    for first, last in _slices(ends, slice_terms):
        doc, term, tf = _pairs(flat, ends, first, last, n_vocab)
        order = np.argsort(term, kind="stable")
        by_term = term[order]
        position = cursor[by_term] + (np.arange(len(order)) - np.searchsorted(by_term, by_term, side="left"))
        tf_ = tf.astype(np.float64)
        # bm25s's `_score_tfc_robertson`, operation for operation, in float64, then idf (float32) times it
        tfc = tf_ / (k1 * ((1 - b) + b * lengths[doc] / avg_len) + tf_)
        data[position] = (idf[by_term] * tfc[order]).astype(np.float32)
        indices[position] = doc[order]
        cursor += np.bincount(term, minlength=n_vocab)
    return {"data": data, "indices": indices, "indptr": indptr, "num_docs": n_docs}
