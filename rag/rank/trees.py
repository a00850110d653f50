"""A LightGBM tree ensemble evaluated with numpy: the reranker's trees without the library (whose import takes
about a second and pulls in scikit-learn and pandas).

`Trees.from_dump` reads `lightgbm.Booster.dump_model()`; `to_dict` / `from_dict` keep the same trees as compact
arrays in LightGBM's own node numbering (internal nodes 0.., a child below 0 is leaf ~child). Splits are
numerical (`decision_type` "<="); each applies LightGBM's rule for missing values (tree.h, NumericalDecision):
a NaN counts as 0 unless the split's missing type is "NaN"; a missing value (NaN under "NaN", zero under "Zero")
goes to the `default_left` side; any other value goes left when it is <= the threshold. `predict` equals the
booster's raw score (`Booster.predict`, no transform); tests/test_ranker_trees.py checks it to 1e-6.

All trees are evaluated at once, without walking them node by node: for every row, tree and split, whether the
row goes left (one comparison over an array); then, per tree, a leaf is where the row ends exactly when every
split on its path turned the way the path does, which one batched matrix product counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

MISSING_TYPES = ("None", "Zero", "NaN")
ZERO_THRESHOLD = float(np.float32(1e-35))  # LightGBM's kZeroThreshold: |x| below it is zero for a "Zero" missing type


class TreeFormatError(ValueError):
    """A tree model this evaluator cannot compute exactly (a categorical split, an unknown missing type)."""


def _flatten(structure: dict[str, Any]) -> dict[str, list[Any]]:
    """One tree of `dump_model()` as arrays indexed by its `split_index` / `leaf_index`."""
    if "leaf_index" not in structure and "split_index" not in structure:  # a tree of one leaf
        return {"split_feature": [], "threshold": [], "default_left": [], "missing_type": [], "left_child": [],
                "right_child": [], "leaf_value": [float(structure["leaf_value"])]}
    nodes: dict[int, dict[str, Any]] = {}
    leaves: dict[int, float] = {}

    def child(node: dict[str, Any]) -> int:
        if "leaf_index" in node:
            leaves[node["leaf_index"]] = float(node["leaf_value"])
            return ~int(node["leaf_index"])
        if node.get("decision_type") != "<=":
            raise TreeFormatError(f"split {node.get('split_index')} is {node.get('decision_type')!r}: only "
                                  "numerical '<=' splits are supported")
        if node.get("missing_type") not in MISSING_TYPES:
            raise TreeFormatError(f"unknown missing type {node.get('missing_type')!r}")
        nodes[node["split_index"]] = node
        node["_left"], node["_right"] = child(node["left_child"]), child(node["right_child"])
        return int(node["split_index"])

    child(structure)
    order = range(len(nodes))
    return {"split_feature": [int(nodes[i]["split_feature"]) for i in order],
            "threshold": [float(nodes[i]["threshold"]) for i in order],
            "default_left": [bool(nodes[i]["default_left"]) for i in order],
            "missing_type": [MISSING_TYPES.index(nodes[i]["missing_type"]) for i in order],
            "left_child": [nodes[i]["_left"] for i in order], "right_child": [nodes[i]["_right"] for i in order],
            "leaf_value": [leaves[i] for i in range(len(leaves))]}


def _paths(left: list[int], right: list[int], n_leaves: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """turns[j, l]: +1 when leaf l lies below split j's left child, -1 below its right child, 0 off its path;
    lefts[l]: how many left turns lead to leaf l."""
    turns = np.zeros((width, n_leaves))
    stack: list[tuple[int, list[tuple[int, int]]]] = [(0, [])] if left else [(~0, [])]
    while stack:
        node, path = stack.pop()
        if node < 0:
            for j, sign in path:
                turns[j, ~node] = sign
            continue
        stack.append((left[node], [*path, (node, 1)]))
        stack.append((right[node], [*path, (node, -1)]))
    return turns, (turns > 0).sum(axis=0).astype(np.float64)


@dataclass(frozen=True, slots=True)
class Trees:
    """An ensemble of regression trees; `predict` sums one leaf value per tree (LightGBM's raw score)."""

    arrays: tuple[dict[str, list[Any]], ...]  # per tree, as `to_dict` writes it
    feature: np.ndarray  # (trees, splits): feature index of each split (padding: 0)
    threshold: np.ndarray  # (trees, splits) (padding: +inf)
    default_left: np.ndarray  # (trees, splits) bool
    missing: np.ndarray  # (trees, splits): index into MISSING_TYPES
    turns: np.ndarray  # (trees, splits, leaves), float32: see `_paths` (small integers, exact in float32)
    lefts: np.ndarray  # (trees, leaves), float32: left turns to each leaf (padding: -1, never reached)
    leaf_value: np.ndarray  # (trees, leaves) (padding: 0)
    n_features: int

    @classmethod
    def from_dump(cls, dump: dict[str, Any]) -> Trees:
        """The trees of `lightgbm.Booster.dump_model()` (a single-output model: regression or ranking)."""
        if dump.get("num_tree_per_iteration", 1) != 1 or dump.get("average_output"):
            raise TreeFormatError("only single-output boosted models are supported")
        trees = [_flatten(t["tree_structure"]) for t in dump["tree_info"]]
        return cls.from_dict({"n_features": int(dump["max_feature_idx"]) + 1, "trees": trees})

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Trees:
        """Trees written by `to_dict`."""
        trees = tuple(raw["trees"])
        n, width = len(trees), max([len(t["split_feature"]) for t in trees] + [1])
        n_leaves = max([len(t["leaf_value"]) for t in trees] + [1])
        feature, default_left = np.zeros((n, width), np.int64), np.zeros((n, width), bool)
        threshold, missing = np.full((n, width), np.inf), np.zeros((n, width), np.int8)
        turns, lefts = np.zeros((n, width, n_leaves)), np.full((n, n_leaves), -1.0)
        leaf_value = np.zeros((n, n_leaves))
        for i, t in enumerate(trees):
            s, m = len(t["split_feature"]), len(t["leaf_value"])
            feature[i, :s], threshold[i, :s] = t["split_feature"], t["threshold"]
            default_left[i, :s], missing[i, :s] = t["default_left"], t["missing_type"]
            turns[i, :, :m], lefts[i, :m] = _paths(t["left_child"], t["right_child"], m, width)
            leaf_value[i, :m] = t["leaf_value"]
        return cls(trees, feature, threshold, default_left, missing, turns.astype(np.float32),
                   lefts.astype(np.float32), leaf_value, int(raw["n_features"]))

    def to_dict(self) -> dict[str, Any]:
        return {"n_features": self.n_features, "trees": list(self.arrays)}

    def _go_left(self, x: np.ndarray) -> np.ndarray:
        """(rows, trees, splits): whether each row goes left at each split."""
        fv = x[:, self.feature]
        if not self.missing.any():  # every split of missing type "None": a NaN is 0
            return (np.where(np.isnan(fv), 0.0, fv) if np.isnan(x).any() else fv) <= self.threshold
        nan = np.isnan(fv)
        fv = np.where(nan & (self.missing != 2), 0.0, fv)
        is_missing = ((self.missing == 1) & (fv > -ZERO_THRESHOLD) & (fv <= ZERO_THRESHOLD)) | (
            (self.missing == 2) & nan)
        return np.where(is_missing, self.default_left, fv <= self.threshold)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The raw score of each row of `x` (rows × n_features)."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(f"expected rows of {self.n_features} features, got an array of shape {x.shape}")
        if not len(x) or not len(self.arrays):
            return np.zeros(len(x))
        go_left = self._go_left(x).transpose(1, 0, 2).astype(np.float32)  # (trees, rows, splits)
        # Per leaf: left turns taken on its path minus right turns refused. It equals the leaf's count of left
        # turns exactly when the row follows the whole path (small integers: exact in floating point).
        reached = (go_left @ self.turns) == self.lefts[:, None, :]
        return np.einsum("trl,tl->r", reached, self.leaf_value)
