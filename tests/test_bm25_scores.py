"""BM25's score matrix built a slice at a time (`rag.index.bm25_scores`) is bm25s's own, bit for bit."""

from __future__ import annotations

from array import array

import bm25s
import numpy as np
import pytest

from rag.index.bm25 import K1, B, LexicalIndex, set_scores
from rag.index.bm25_scores import TermIds, score_matrix
from rag.text.terms import terms


def _theirs(docs: list[list[int]], vocab: dict[str, int]) -> bm25s.BM25:
    retriever = bm25s.BM25(k1=K1, b=B)
    retriever.index((docs, dict(vocab)), show_progress=False)
    return retriever


def _ours(docs: list[list[int]], vocab: dict[str, int], slice_terms: int) -> bm25s.BM25:
    flat, ends = array("i"), array("q")
    for d in docs:
        flat.extend(d)
        ends.append(len(flat))
    retriever = bm25s.BM25(k1=K1, b=B)
    own = dict(vocab)
    set_scores(retriever, flat, ends, own)
    if slice_terms:  # the same arrays whatever the slices, the ranges of terms and where the term ids are
        on_disk = TermIds()
        for d in docs:
            on_disk.add(d)
        assert np.array_equal(on_disk.ends, np.frombuffer(ends, np.int64))
        for group_pairs in (1, 7, slice_terms, 1 << 22):
            again = score_matrix(on_disk, on_disk.ends, len(vocab), k1=K1, b=B, slice_terms=slice_terms,
                                 group_pairs=group_pairs)
            for key in ("data", "indices", "indptr"):
                assert np.array_equal(again[key], retriever.scores[key])  # type: ignore[arg-type]
    return retriever


def _same(ours: bm25s.BM25, theirs: bm25s.BM25) -> None:
    for key in ("data", "indices", "indptr"):
        a, b = ours.scores[key], theirs.scores[key]
        assert a.dtype == b.dtype and np.array_equal(a, b), key  # bit for bit: no tolerance
    assert ours.scores["num_docs"] == theirs.scores["num_docs"]
    assert ours.vocab_dict == theirs.vocab_dict and ours.unique_token_ids_set == theirs.unique_token_ids_set
    assert ours.nonoccurrence_array is None and theirs.nonoccurrence_array is None


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_corpora_score_as_bm25s_does(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_vocab = int(rng.integers(5, 400))
    # Zipf-like term ids, repeated terms, one-term passages and long ones
    docs = [rng.zipf(1.3, size=int(rng.integers(1, 120))).clip(1, n_vocab).astype(int) - 1 for _ in range(300)]
    docs = [d.tolist() for d in docs]
    used = sorted({t for d in docs for t in d})  # bm25s's vocabulary is the ids the corpus uses
    vocab = {f"t{t}": i for i, t in enumerate(used)}
    docs = [[used.index(t) for t in d] for d in docs]
    ours, theirs = _ours(docs, vocab, slice_terms=int(rng.integers(1, 500))), _theirs(docs, vocab)
    _same(ours, theirs)
    query = [[0, 1, 2]]
    a, sa = ours.retrieve(query, k=10, show_progress=False, n_threads=1)
    b, sb = theirs.retrieve(query, k=10, show_progress=False, n_threads=1)
    assert np.array_equal(sa, sb) and np.array_equal(a, b)


def test_news_passages_score_as_bm25s_does(news_texts: list[str]) -> None:
    vocab: dict[str, int] = {}
    docs = [[vocab.setdefault(t, len(vocab)) for t in terms(text) or ["\x00"]] for text in news_texts]
    _same(_ours(docs, vocab, slice_terms=97), _theirs(docs, vocab))


def test_the_lexical_index_finds_what_bm25s_finds(news_texts: list[str], tmp_path) -> None:
    index = LexicalIndex.build(iter(news_texts), np.arange(len(news_texts)) * 3)
    vocab: dict[str, int] = {}
    docs = [[vocab.setdefault(t, len(vocab)) for t in terms(text) or ["\x00"]] for text in news_texts]
    theirs = _theirs(docs, vocab)
    for q in ("council budget vote", "the mayor said", "bridge opened Friday", "zzzz unknown"):
        found = [t for t in terms(q) if t in theirs.vocab_dict]
        hits = index.search(q, 5)
        if not found:
            assert len(hits.ids) == 0
            continue
        ids, scores = theirs.retrieve([found], k=5, show_progress=False, n_threads=1)
        keep = scores[0] > 0
        assert hits.ids.tolist() == (ids[0][keep] * 3).tolist() and np.array_equal(hits.scores, scores[0][keep])
    index.save(tmp_path)  # and it saves and loads as bm25s's own
    for mapped in (False, True):
        back = LexicalIndex.load(tmp_path, mapped=mapped)
        assert back.search("council budget vote", 5).ids.tolist() == index.search("council budget vote", 5).ids.tolist()
        for key in ("data", "indices", "indptr"):
            assert np.array_equal(back._bm25.scores[key], theirs.scores[key])
        assert back._bm25.vocab_dict == theirs.vocab_dict
        assert (back._bm25.k1, back._bm25.b, back._bm25.method) == (theirs.k1, theirs.b, theirs.method)


def test_the_score_arrays_are_files_not_memory(news_texts: list[str], tmp_path) -> None:
    """[issue 12] The matrix a build makes is memory-mapped from scratch files, saved by linking or copying
    them (not through the mapping), and the scratch files go with the index."""
    import gc
    from pathlib import Path

    index = LexicalIndex.build(iter(news_texts), np.arange(len(news_texts)))
    data = index._bm25.scores["data"]
    assert isinstance(data, np.memmap)
    scratch = Path(data.filename)
    assert scratch.exists()
    (tmp_path / "a").mkdir()
    index.save(tmp_path / "a")
    saved = np.load(tmp_path / "a" / "bm25" / "data.csc.index.npy")
    assert np.array_equal(saved, data)
    index._bm25.save(str(tmp_path / "b"), show_progress=False)  # bm25s's own save: the very same files
    for theirs in (tmp_path / "b").iterdir():
        assert (tmp_path / "a" / "bm25" / theirs.name).read_bytes() == theirs.read_bytes(), theirs.name
    del index, data
    gc.collect()
    assert not scratch.exists()
    assert np.load(tmp_path / "a" / "bm25" / "data.csc.index.npy").shape == saved.shape  # a link stays


@pytest.fixture(scope="module")
def news_texts() -> list[str]:
    from conftest import SEED_FILE

    text = SEED_FILE.read_text(encoding="utf-8")
    sentences = [s.strip() for s in text.replace("\n", " ").split(". ") if s.strip()]
    return [". ".join(sentences[i:i + 3]) for i in range(0, len(sentences), 2)] + ["", "the of and"]
