"""The numpy evaluator of LightGBM trees (rag.rank.trees) against LightGBM itself: equal to 1e-6 on real
feature rows, with missing values of every kind, and on the committed model's recorded rows."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from conftest import FakeEmbedder
from test_ranker import _corpus

from eval.ranker_data import QuestionData, collect
from eval.train_ranker import train_booster
from rag.index.index import Index
from rag.rank.features import FEATURES
from rag.rank.model import CHECK_FILE, Ranker, default_ranker
from rag.rank.trees import TreeFormatError, Trees

TOLERANCE = 1e-6


@pytest.fixture(scope="module")
def real_rows() -> list[QuestionData]:
    """Feature rows as rag.rank.features computes them, over a FakeEmbedder index of small articles."""
    emb = FakeEmbedder()
    docs, gold = _corpus()
    index = Index.create(emb)
    index.update(docs, embedder=emb)
    return collect("tiny", index, gold, emb)


def _committed_sample() -> tuple[np.ndarray, np.ndarray]:
    raw = json.loads(CHECK_FILE.read_text())
    return np.array(raw["rows"], dtype=np.float64), np.array(raw["lightgbm_scores"], dtype=np.float64)


def test_committed_trees_score_as_lightgbm_did_when_they_were_written() -> None:
    """No LightGBM needed: the training script recorded real benchmark rows with the booster's own scores."""
    ranker = default_ranker()
    if ranker.kind != "lightgbm":
        pytest.skip("the committed model is not a tree model")
    rows, expected = _committed_sample()
    assert len(rows) >= 100 and rows.shape[1] == len(ranker.names)
    assert ranker.trees is not None
    np.testing.assert_allclose(ranker.trees.predict(rows), expected, rtol=0, atol=TOLERANCE)


def _missing_types(dump: dict[str, Any]) -> set[str]:
    found = set()

    def walk(node: dict[str, Any]) -> None:
        if "split_index" in node:
            found.add(node["missing_type"])
            walk(node["left_child"])
            walk(node["right_child"])

    for tree in dump["tree_info"]:
        walk(tree["tree_structure"])
    return found


def test_numpy_trees_equal_lightgbm_predict_on_real_rows(real_rows: list[QuestionData]) -> None:
    pytest.importorskip("lightgbm")
    names = default_ranker().names  # the committed sample's columns: the features the committed model reads
    booster = train_booster(real_rows, rounds=30, names=names)
    ranker = Ranker.from_booster(booster, names)
    x = np.vstack([d.fm.values[:, [FEATURES.index(n) for n in names]] for d in real_rows])
    committed, _ = _committed_sample()
    for rows in (x, committed):
        np.testing.assert_allclose(ranker.score_rows(rows), booster.predict(rows, num_threads=1), rtol=0,
                                   atol=TOLERANCE)
    again = Ranker.from_dict(json.loads(json.dumps(ranker.to_dict())))  # as the model file keeps it
    np.testing.assert_array_equal(again.score_rows(x), ranker.score_rows(x))


@pytest.mark.parametrize("zero_as_missing", [False, True])
def test_missing_values_go_where_lightgbm_sends_them(real_rows: list[QuestionData], zero_as_missing: bool) -> None:
    """Rows with NaNs (and zeros): trained on such rows, LightGBM's splits get missing type NaN (or Zero) with
    either default side; a model without them turns NaN into 0. The numpy trees must follow each rule."""
    lightgbm = pytest.importorskip("lightgbm")
    rng = np.random.default_rng(1)
    x = np.vstack([d.fm.values for d in real_rows])
    y = np.concatenate([d.labels for d in real_rows])
    holes = x.copy()
    holes[rng.random(x.shape) < 0.2] = np.nan
    holes[rng.random(x.shape) < 0.1] = 0.0
    params = {"objective": "binary", "num_leaves": 7, "min_data_in_leaf": 5, "verbose": -1, "seed": 0,
              "deterministic": True, "num_threads": 1, "zero_as_missing": zero_as_missing}
    booster = lightgbm.train(params, lightgbm.Dataset(holes, y), num_boost_round=20)
    assert _missing_types(booster.dump_model()) - {"None"}, "the test should exercise missing-value splits"
    trees = Trees.from_dump(booster.dump_model())
    probe = np.vstack([holes, x, np.where(rng.random(x.shape) < 0.5, np.nan, x), np.zeros_like(x[:5]),
                       np.full_like(x[:5], 1e-40), np.full_like(x[:5], -1e-40)])
    np.testing.assert_allclose(trees.predict(probe), booster.predict(probe, raw_score=True, num_threads=1),
                               rtol=0, atol=TOLERANCE)
    plain = lightgbm.train({**params, "zero_as_missing": False}, lightgbm.Dataset(x, y), num_boost_round=20)
    np.testing.assert_allclose(Trees.from_dump(plain.dump_model()).predict(probe),
                               plain.predict(probe, raw_score=True, num_threads=1), rtol=0, atol=TOLERANCE)


def test_one_leaf_trees_and_unsupported_splits() -> None:
    leaf = {"tree_structure": {"leaf_value": 0.25}}
    split = {"tree_structure": {"split_index": 0, "split_feature": 1, "threshold": 0.5, "decision_type": "<=",
                                "default_left": True, "missing_type": "None",
                                "left_child": {"leaf_index": 0, "leaf_value": -1.0},
                                "right_child": {"leaf_index": 1, "leaf_value": 2.0}}}
    trees = Trees.from_dump({"max_feature_idx": 1, "tree_info": [leaf, split]})
    x = np.array([[0.0, 0.5], [0.0, 0.6], [0.0, np.nan]])
    np.testing.assert_allclose(trees.predict(x), [-0.75, 2.25, -0.75])  # NaN counts as 0 under "None"
    with pytest.raises(ValueError, match="features"):
        trees.predict(np.zeros((2, 3)))
    categorical = json.loads(json.dumps(split).replace('"<="', '"=="'))
    with pytest.raises(TreeFormatError, match="numerical"):
        Trees.from_dump({"max_feature_idx": 1, "tree_info": [categorical]})

