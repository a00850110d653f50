"""The bench's arithmetic: percentiles, recall against exact search (with tied copies), the exact top-k of a
tiled set, the table and the target checks — and one search measurement on real MiniLM vectors."""

from __future__ import annotations

import numpy as np
import pytest

from bench.measure import Timing, ratio
from bench.report import sections, table, targets
from bench.search import exact_top, id_recall, measure_point, tie_aware_recall, tiled_exact
from eval.stats import percentile


def _unit(n: int, dim: int = 16, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_percentile_and_timing() -> None:
    assert percentile([1, 2, 3, 4, 5], 50) == 3
    assert percentile(list(range(101)), 95) == 95
    assert percentile([10.0], 95) == 10.0
    t = Timing((5.0, 1.0, 3.0))
    assert t.median == 3.0 and t.to_dict()["n"] == 3 and t.to_dict()["min_ms"] == 1.0
    assert ratio(10, 4) == 2.5 and ratio(1, 0) is None and ratio(None, 3) is None


def test_tiled_exact_equals_brute_force_on_the_tiled_set() -> None:
    base, q = _unit(50), _unit(7, seed=1)
    for n in (30, 50, 130):
        tiled = np.tile(base, (3, 1))[:n]
        want_scores, want_rows = exact_top(tiled, q, 10)
        got_scores, got_rows = tiled_exact(base, q, n, 10)
        assert np.allclose(np.sort(got_scores, axis=1), np.sort(want_scores, axis=1), atol=1e-6)
        assert sorted(map(tuple, np.sort(got_rows, axis=1).tolist())) == sorted(
            map(tuple, np.sort(want_rows % len(base), axis=1).tolist()))


def test_tie_aware_recall_counts_copies_of_equal_vectors() -> None:
    base, q = _unit(40), _unit(5, seed=2)
    n = 120  # three copies of each base row, ids 0..119
    scores, rows = tiled_exact(base, q, n, 10)
    # any copies of the right rows are right: shift every exact hit to another copy of its row
    found = np.array([[r + 40 * (j % 3) for j, r in enumerate(rs)] for rs in rows])
    assert tie_aware_recall(found, q, base, scores) == 1.0
    wrong = np.array([[r for r in np.argsort(base @ qq)[:10]] for qq in q])  # the 10 farthest rows
    assert tie_aware_recall(wrong, q, base, scores) == 0.0
    # on distinct vectors it is ordinary recall
    s1, r1 = exact_top(base, q, 10)
    half = np.concatenate([r1[:, :5], np.array([np.argsort(base @ qq)[:5] for qq in q])], axis=1)
    assert tie_aware_recall(half, q, base, s1) == pytest.approx(0.5)
    assert id_recall(half, r1) == pytest.approx(0.5)


def test_table_and_targets() -> None:
    text = table(["a", "b"], [["x", 1.5], ["yy", 12345]])
    assert text.splitlines()[0].startswith("a ") and "12,345" in text
    r = {
        "ask": {"seed": {"passages": 15, "store": "flat", "ask": {"median_ms": 12.0, "p95_ms": 20.0, "n": 10},
                         "breakdown_ms": {"embed_ms": 8.0}, "hit@5": 0.9}},
        "build": {"seed": {"seconds": 2.0, "passages": 15, "passages_per_s": 7.5, "chars_per_s": 3000,
                           "peak_rss_mib": 900.0}},
        "peers": {"seed": {
            "ours": {"seconds": 2.0, "passages": 15, "passages_per_s": 7.5, "chars_per_s": 3000, "peak_rss_mib": 900.0},
            "langchain": {"seconds": 3.0, "passages": 2, "passages_per_s": 0.7, "chars_per_s": 2000,
                          "peak_rss_mib": 950.0, "hit@5": 0.8, "query": {"median_ms": 9.0}},
            "ratios": {"langchain": {"passages_per_s_median": 10.7, "build_time_median": 1.5}}}},
        "cold": {"ask": {"to_answer": {"median_ms": 4500.0, "p95_ms": 5000.0, "n": 3}}},
    }
    got = {row[0]: row[3] for row in targets(r)}
    assert got["ask() warm, seed article (median)"] is True
    assert got["build passages/s vs langchain, seed"] is True  # 7.5 / 0.7 = 10.7x
    assert got["Hit@5 vs langchain, seed"] is True
    assert got["`rag ask` cold (median)"] is True
    titles = [t for t, _ in sections(r)]
    assert "Index build and retrieval, side by side" in titles and "Targets" in titles


@pytest.mark.integration
def test_search_measurement_on_real_vectors(real_embedder: object, seed_text: str) -> None:
    from rag.text.sentences import split_sentences

    sentences = [seed_text[s:e] for s, e in split_sentences(seed_text)]
    base = real_embedder.embed(sentences)  # type: ignore[attr-defined]
    queries = real_embedder.embed(["Who leads Syria?", "What did Turkey and Syria sign?"])  # type: ignore[attr-defined]
    row = measure_point(base, queries, 3 * len(base), kinds=("flat", "ivf-sq8"), latency_queries=2)
    assert row["copies"] == 3 and row["distinct"] == len(base)
    assert row["kinds"]["flat"]["recall@10"] == 1.0  # exact search is exact
    ivf = row["kinds"]["ivf-sq8"]
    assert ivf["recall@10"] >= 0.8 and ivf["memory_mib"] < row["kinds"]["flat"]["memory_mib"]
