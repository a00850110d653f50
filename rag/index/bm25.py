"""Lexical search: BM25 over passages (bm25s), over the terms of `rag.text.terms` (stemmed, no stop words).

Names, dates and numbers are what news questions are full of and what dense vectors blur; BM25 finds them.
"""

from __future__ import annotations

import datetime
from array import array
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from rag.errors import IndexCorruptError
from rag.index.bm25_scores import TermIds, score_matrix, write_npy
from rag.records import Document, Hits
from rag.text.terms import VERSION, terms

if TYPE_CHECKING:
    from rag.index.where import Where

FOLDER = "bm25"
__all__ = ["FOLDER", "VERSION", "Lexical", "LexicalIndex", "field_text"]
# bm25s's defaults (its "lucene" variant), written out for a store that computes the same scores (rag.index.qdrant)
K1, B = 1.5, 0.75


class Lexical(Protocol):
    """BM25 over passages: `LexicalIndex` (bm25s, embedded) or a store's sparse vectors (`rag.index.qdrant`)."""

    def __len__(self) -> int: ...

    def idf(self, query_terms: Sequence[str]) -> np.ndarray: ...

    def search(self, query: str, k: int, *, allowed: np.ndarray | None = None, where: Where | None = None) -> Hits:
        ...

    def save(self, folder: Path) -> list[str]: ...


def field_text(doc: Document) -> str:
    """A document's author and date as searchable words, indexed with its first passage (where the byline is):
    "Who wrote the article?" and "When was it published?" then find it. Offsets and quotes are unaffected."""
    words = []
    if doc.author:
        words.append(f"author writer written wrote byline {doc.author}")
    if doc.date:
        words.append(f"date dated published {doc.date}")
        try:
            day = datetime.date.fromisoformat(doc.date[:10])
            words.append(f"{day:%B} {day.day} {day.year}")
        except ValueError:
            pass
    return " ".join(words)


def set_scores(retriever: Any, flat: array[int] | TermIds, ends: array[int] | np.ndarray,
               vocab: dict[str, int]) -> None:
    """Give a bm25s `BM25` the index of passages given as term ids (`flat`, in memory or a scratch file; passage
    i's end at `ends[i]`) over `vocab`: the state its `index()` leaves (the score matrix, the vocabulary with its
    empty token), with the matrix built by `rag.index.bm25_scores` in a fraction of the memory."""
    if (retriever.method, retriever.idf_method) != ("lucene", "lucene"):
        raise ValueError(f"only bm25s's 'lucene' scoring is built here, not {retriever.method!r}")
    ids = flat if isinstance(flat, TermIds) else np.frombuffer(flat, np.int32)
    retriever.scores = score_matrix(ids, np.asarray(ends, np.int64), len(vocab), k1=retriever.k1, b=retriever.b)
    retriever.nonoccurrence_array = None  # "lucene" has none
    if "" not in vocab:  # bm25s adds an empty token after the matrix is built, for queries of no known term
        vocab[""] = max(vocab.values()) + 1
    retriever.vocab_dict = vocab
    retriever.unique_token_ids_set = set(vocab.values())


class LexicalIndex:
    """BM25 over a list of passage texts; `ids[i]` is the passage id of row i."""

    def __init__(self, retriever: Any, ids: np.ndarray) -> None:
        self._bm25 = retriever
        self.ids = ids
        self._df: np.ndarray | None = None

    @classmethod
    def build(cls, texts: Iterable[str], ids: Sequence[int] | np.ndarray) -> LexicalIndex:
        """BM25 over `texts` (one per id of `ids`, in that order), which are read once, one at a time."""
        import bm25s

        retriever = bm25s.BM25(k1=K1, b=B)
        index = cls(retriever, np.asarray(ids, dtype=np.int64))
        if len(index.ids):
            # One tokenizer for passages and queries: what BM25 indexes is exactly what `terms()` returns. Terms
            # become ids as they are read, appended to a scratch file: a list of every passage's terms as strings
            # took ~60 bytes a term (~1 GB for an archive of 250,000 passages), an int32 array in memory 4.
            vocab: dict[str, int] = {}
            flat = TermIds()
            for text in texts:
                flat.add(vocab.setdefault(t, len(vocab)) for t in terms(text) or ["\x00"])
            set_scores(retriever, flat, flat.ends, vocab)
            flat.close()
        return index

    def __len__(self) -> int:
        return len(self.ids)

    @staticmethod
    def terms(text: str) -> list[str]:
        """The terms of `text` as this index sees them (`rag.text.terms.terms`)."""
        return terms(text)

    def idf(self, query_terms: Sequence[str]) -> np.ndarray:
        """Inverse document frequency of each term over the passages (unknown terms get the highest)."""
        n = max(len(self), 1)
        vocab = getattr(self._bm25, "vocab_dict", None) or {}
        if self._df is None:
            scores = getattr(self._bm25, "scores", None)
            indptr = scores.get("indptr") if isinstance(scores, dict) else None
            self._df = np.diff(indptr) if indptr is not None else np.zeros(0)
        df = np.array([self._df[vocab[t]] if t in vocab and vocab[t] < len(self._df) else 0 for t in query_terms])
        return np.log(1 + (n - df + 0.5) / (df + 0.5))

    def search(self, query: str, k: int, *, allowed: np.ndarray | None = None, where: Where | None = None) -> Hits:
        """The best `k` passages (ids, BM25 scores); empty when no query term is indexed. With `allowed` (a
        boolean array over passage ids), only passages marked True are scored, inside bm25s (its weight mask);
        `where` says the same for a store filtering by payload and is not needed here."""
        vocab = getattr(self._bm25, "vocab_dict", None) or {}
        found = [t for t in terms(query) if t in vocab]
        if not found or not len(self):
            return Hits(np.zeros(0, np.int64), np.zeros(0, np.float32))
        mask = None
        n = len(self)
        if allowed is not None:
            inside = self.ids < len(allowed)
            mask = np.zeros(len(self.ids), np.float32)
            mask[inside] = allowed[self.ids[inside]]
            n = int(np.count_nonzero(mask))
            if n == 0:
                return Hits(np.zeros(0, np.int64), np.zeros(0, np.float32))
        k = min(k, n)
        docs, scores = self._bm25.retrieve([found], k=k, show_progress=False, n_threads=1, weight_mask=mask)
        docs, scores = docs[0], scores[0]
        keep = scores > 0
        return Hits(self.ids[docs[keep]], scores[keep].astype(np.float32))

    def save(self, folder: Path) -> list[str]:
        target = folder / FOLDER
        target.mkdir(parents=True, exist_ok=True)
        if len(self.ids):  # bm25s cannot save an empty index; an empty one is just its (empty) ids
            _save_bm25s(self._bm25, target)
        np.save(target / "ids.npy", self.ids)
        return [f"{FOLDER}/{p.name}" for p in sorted(target.iterdir())]

    @classmethod
    def load(cls, folder: Path, *, mapped: bool = False) -> LexicalIndex:
        """The index saved in `folder`; `mapped`: its score arrays memory-mapped rather than read."""
        import bm25s

        target = folder / FOLDER
        try:
            ids = np.load(target / "ids.npy")
            if len(ids) == 0:
                return cls(bm25s.BM25(), ids)
            retriever = bm25s.BM25.load(str(target), mmap=mapped, show_progress=False)
        except (OSError, ValueError) as exc:
            raise IndexCorruptError(f"cannot read the BM25 index in {target}: {exc}") from exc
        if mapped:  # plain arrays over the same mapping: np.memmap's subclass costs ~0.3 ms a search in bm25s
            for key in ("data", "indices", "indptr"):
                retriever.scores[key] = np.asarray(retriever.scores[key])
        return cls(retriever, ids)


def _save_bm25s(retriever: Any, target: Path) -> None:
    """bm25s's `save` (the same files), with the score arrays linked or copied as files when they are memory-mapped
    (`bm25_scores.write_npy`): bm25s would copy them through the mapping, into this process's memory."""
    import json

    import bm25s
    from bm25s.utils import json_functions

    scores = retriever.scores
    for key in ("data", "indices", "indptr"):
        write_npy(target / f"{key}.csc.index.npy", scores[key])
    if retriever.nonoccurrence_array is not None:
        np.save(target / "nonoccurrence_array.index.npy", retriever.nonoccurrence_array)
    vocab = json_functions.dumps(retriever.vocab_dict, ensure_ascii=False)  # bm25s's own writer: the same bytes
    (target / "vocab.index.json").write_text(vocab, encoding="utf-8")
    params = {"k1": retriever.k1, "b": retriever.b, "delta": retriever.delta, "method": retriever.method,
              "idf_method": retriever.idf_method, "dtype": retriever.dtype, "int_dtype": retriever.int_dtype,
              "num_docs": scores["num_docs"], "version": bm25s.__version__, "backend": retriever.backend}
    (target / "params.index.json").write_text(json.dumps(params, indent=4))
