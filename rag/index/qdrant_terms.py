"""The BM25 side of a Qdrant store (`rag.index.qdrant`): the terms of every passage as sparse vectors holding
bm25s's term-frequency weights (`TermBag`, built from a stream of texts), and `QdrantTerms`, the vocabulary and
document frequencies saved with the generation, which weigh a query's terms by bm25s's IDF and search the
collection's sparse vectors. Their dot product is bm25s's score, so lexical results are the same with either store.
"""

from __future__ import annotations

import json
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from rag.errors import IndexCorruptError
from rag.index.bm25 import K1, B
from rag.index.qdrant_conn import models
from rag.records import Hits
from rag.text.terms import terms

if TYPE_CHECKING:
    from rag.index.where import Where

SPARSE = "bm25"
TERMS_FILE = "qdrant_terms.json"


class _Queried(Protocol):
    """What `QdrantTerms` searches: `rag.index.qdrant.QdrantStore`."""

    def query(self, vector: Any, using: str, k: int, *, allowed: np.ndarray | None, where: Where | None) -> Hits:
        ...


class TermBag:
    """Each passage's distinct term ids and counts, read from a stream of texts into flat arrays (as
    `LexicalIndex.build` does: a list of every passage's terms as strings took ~60 bytes a term), and the BM25
    term-frequency weights of one passage, computed when its point is written."""

    def __init__(self, texts: Iterable[str]) -> None:
        self.vocab: dict[str, int] = {}
        flat, counts, ends, lengths = array("i"), array("i"), array("q"), array("q")
        for text in texts:
            toks = terms(text) or ["\x00"]  # bm25s's stand-in for a passage without terms
            bag = Counter(self.vocab.setdefault(t, len(self.vocab)) for t in toks)
            flat.extend(bag.keys())
            counts.extend(bag.values())
            ends.append(len(flat))
            lengths.append(len(toks))
        self.flat, self.counts = np.frombuffer(flat, np.int32), np.frombuffer(counts, np.int32).astype(np.float64)
        self.ends, self.lengths = np.frombuffer(ends, np.int64), np.frombuffer(lengths, np.int64)
        self.avg = float(self.lengths.mean()) if len(self.lengths) else 1.0

    def df(self) -> np.ndarray:
        """How many passages hold each term of the vocabulary."""
        return np.bincount(self.flat, minlength=len(self.vocab)).astype(np.int64)

    def weights(self, i: int) -> tuple[list[int], list[float]]:
        """Passage row `i`'s term ids and their BM25 weights (bm25s's term-frequency part)."""
        start, end = int(self.ends[i - 1]) if i else 0, int(self.ends[i])
        tf = self.counts[start:end]
        return self.flat[start:end].tolist(), (tf / (tf + K1 * (1 - B + B * self.lengths[i] / self.avg))).tolist()


class QdrantTerms:
    """The lexical side of a Qdrant store (`rag.index.bm25.Lexical`): our terms' vocabulary and document
    frequencies, kept with the generation; the sparse vectors they index are in the collection."""

    def __init__(self, store: _Queried, vocab: dict[str, int], df: np.ndarray, n: int) -> None:
        self.store, self.vocab, self.df, self.n = store, vocab, df, n

    def __len__(self) -> int:
        return self.n

    def idf(self, query_terms: Sequence[str]) -> np.ndarray:
        """As `LexicalIndex.idf`: bm25s's IDF, unknown terms getting the highest."""
        df = np.array([self.df[self.vocab[t]] if t in self.vocab else 0 for t in query_terms], np.float64)
        n = max(self.n, 1)
        return np.log(1 + (n - df + 0.5) / (df + 0.5))

    def search(self, query: str, k: int, *, allowed: np.ndarray | None = None, where: Where | None = None) -> Hits:
        """The best `k` passages by BM25 (as `LexicalIndex.search`), filtered inside Qdrant."""
        counts = Counter(t for t in terms(query) if t in self.vocab)
        if not counts:
            return Hits(np.zeros(0, np.int64), np.zeros(0, np.float32))
        # bm25s adds a repeated query term's score once per repetition: the weight is IDF times the count.
        weights = self.idf(list(counts)) * np.array(list(counts.values()), np.float64)
        vector = models().SparseVector(indices=[self.vocab[t] for t in counts], values=weights.tolist())
        return self.store.query(vector, SPARSE, k, allowed=allowed, where=where)

    def save(self, folder: Path) -> list[str]:
        body = {"terms": sorted(self.vocab, key=self.vocab.__getitem__), "df": self.df.tolist(), "n": self.n}
        (folder / TERMS_FILE).write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")
        return [TERMS_FILE]

    @classmethod
    def load(cls, folder: Path, store: _Queried) -> QdrantTerms:
        try:
            body = json.loads((folder / TERMS_FILE).read_text(encoding="utf-8"))
            vocab = {t: i for i, t in enumerate(body["terms"])}
            return cls(store, vocab, np.asarray(body["df"], np.int64), int(body["n"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise IndexCorruptError(f"cannot read the BM25 terms in {folder / TERMS_FILE}: {exc}") from exc


__all__ = ["SPARSE", "TERMS_FILE", "QdrantTerms", "TermBag"]
