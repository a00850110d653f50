"""The trained reranker: scores the union of the dense and lexical candidates of a question and orders them.

The model is fitted by `eval/train_ranker.py` on gold questions and committed beside this file as `model.json`,
with `model.meta.json` (what it was fitted on, its settings and its held-out figures). Two kinds: a logistic
model (weights over standardised features) and LightGBM lambdarank trees. Both are scored with numpy only: the
trees by `rag.rank.trees`, so answering a question never imports LightGBM (only training does).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import RagError
from rag.index.index import Index
from rag.records import Hits
from rag.window import TimeWindow

from .features import FEATURES, Candidates, FeatureMatrix, features, union
from .trees import TreeFormatError, Trees

MODEL_FILE = Path(__file__).with_name("model.json")
META_FILE = Path(__file__).with_name("model.meta.json")
# Real feature rows with LightGBM's own scores of them, written with the model: tests check the numpy trees on them.
CHECK_FILE = Path(__file__).with_name("model.check.json")
CANDIDATE_DEPTH = 30  # candidates taken from each retriever; the model was fitted on this depth
KINDS = ("logistic", "lightgbm")
# A candidate inside the window of the question's own time words ("this week") goes ahead of one outside it that
# the model scores less than this much higher (lambdarank raw-score units; 0: only on an exact tie). Chosen among
# 0, 0.1, 0.3 and 1 on eval/train_ranker.py's held-out folds, where every one is within a few questions of the
# others (docs/ranking.md).
PREFER_MARGIN = 1.0


class RankerError(RagError):
    """A reranker model that is missing, cannot be read, or was fitted on features this code does not compute."""


@dataclass(frozen=True)
class Ranker:
    """A fitted scoring model over `names` (a subset of rag.rank.features.FEATURES, in this order).

    logistic: score = standardise(x) @ weights + bias. lightgbm: the trees' raw score (LightGBM's `predict`).
    """

    kind: str
    names: tuple[str, ...]
    weights: np.ndarray | None = None
    bias: float = 0.0
    mean: np.ndarray | None = None
    scale: np.ndarray | None = None
    trees: Trees | None = None

    @classmethod
    def from_booster(cls, booster: Any, names: tuple[str, ...] = FEATURES) -> Ranker:
        """The trees of a trained `lightgbm.Booster` (its `dump_model()`), scored without LightGBM from then on."""
        return cls("lightgbm", names, trees=Trees.from_dump(booster.dump_model()))

    def _columns(self, fm: FeatureMatrix) -> np.ndarray:
        if fm.names == self.names:
            return fm.values
        return np.column_stack([fm.column(n) for n in self.names]) if len(fm.ids) else np.zeros((0, len(self.names)))

    def score(self, fm: FeatureMatrix) -> np.ndarray:
        """One score per row of `fm`: higher is more likely to hold the answer."""
        return self.score_rows(self._columns(fm))

    def score_rows(self, x: np.ndarray) -> np.ndarray:
        """One score per row of `x`, whose columns are `names` in order."""
        if not len(x):
            return np.zeros(0)
        if self.kind == "logistic":
            assert self.weights is not None and self.mean is not None and self.scale is not None
            return np.asarray(((x - self.mean) / self.scale) @ self.weights + self.bias, dtype=np.float64)
        assert self.trees is not None
        return self.trees.predict(x)

    def to_dict(self) -> dict[str, Any]:
        """The model as JSON-ready data (the inverse of `from_dict`)."""
        out: dict[str, Any] = {"kind": self.kind, "features": list(self.names)}
        if self.kind == "logistic":
            assert self.weights is not None and self.mean is not None and self.scale is not None
            out.update(weights=self.weights.tolist(), bias=self.bias, mean=self.mean.tolist(),
                       scale=self.scale.tolist())
        else:
            assert self.trees is not None
            out["trees"] = self.trees.to_dict()
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Ranker:
        """Read a model written by `to_dict`; RankerError when its kind or features are not this code's."""
        kind, names = raw.get("kind"), tuple(raw.get("features", ()))
        if kind not in KINDS:
            raise RankerError(f"unknown ranker kind {kind!r}: expected one of {', '.join(KINDS)}")
        unknown = [n for n in names if n not in FEATURES]
        if not names or unknown:
            raise RankerError(f"the ranker uses features this version does not compute: {unknown or 'none'}; "
                              "refit it with eval/train_ranker.py")
        try:
            if kind == "logistic":
                return cls(kind, names, weights=np.array(raw["weights"], dtype=np.float64), bias=float(raw["bias"]),
                           mean=np.array(raw["mean"], dtype=np.float64),
                           scale=np.array(raw["scale"], dtype=np.float64))
            trees = Trees.from_dict(raw["trees"])
        except (KeyError, TypeError, ValueError, TreeFormatError) as exc:
            raise RankerError(f"the {kind} ranker model is malformed: {exc!r}") from exc
        if trees.n_features != len(names):
            raise RankerError(f"the ranker's trees read {trees.n_features} features but it names {len(names)}")
        return cls(kind, names, trees=trees)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), separators=(",", ":")) + "\n", encoding="utf-8")


def load_ranker(path: Path | None = None) -> Ranker:
    """The model in `path` (default: the committed one); RankerError when it is missing or unreadable."""
    path = path or MODEL_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RankerError(f"cannot read the ranker model {path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise RankerError(f"the ranker model {path} is not a JSON object")
    return Ranker.from_dict(raw)


@cache
def default_ranker() -> Ranker:
    """The committed model, loaded once per process."""
    return load_ranker(MODEL_FILE)


def version(model: Path = MODEL_FILE, meta: Path = META_FILE) -> dict[str, Any]:
    """What identifies the committed model in a report: the SHA-256 of its model and meta files, its kind and
    the date it was fitted (from the meta file)."""
    out: dict[str, Any] = {}
    for key, path in (("model_sha256", model), ("meta_sha256", meta)):
        out[key] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
    try:
        info = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        info = {}
    out.update(kind=info.get("model"), date=info.get("date"))
    return out


def preferred_scores(fm: FeatureMatrix, scores: np.ndarray, margin: float = PREFER_MARGIN) -> tuple[np.ndarray,
                                                                                                   np.ndarray]:
    """The scores a ranking orders by, and which candidates lie inside the window of the question's own time
    words (`in_window`): those gain `margin`, so that they go ahead of any outside it scored less than `margin`
    higher, and first on a tie."""
    inside = (fm.column("in_window") == 1.0).astype(np.float64) if len(fm.ids) else np.zeros(0)
    return scores + margin * inside, inside


def ranked(fm: FeatureMatrix, scores: np.ndarray, margin: float = PREFER_MARGIN) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of `fm` best first, and the scores they were ordered by: by score (`preferred_scores`), then
    inside the question's window first, then the smaller passage id."""
    adjusted, inside = preferred_scores(fm, scores, margin)
    return np.lexsort((fm.ids, -inside, -adjusted)), adjusted


def rerank(
    index: Index,
    query: str,
    query_vector: np.ndarray,
    dense: Hits,
    lexical: Hits,
    *,
    ranker: Ranker,
    k: int,
    depth: int = CANDIDATE_DEPTH,
    reference: dt.date | None = None,
    prefer: TimeWindow | None = None,
) -> tuple[list[tuple[int, float]], Candidates]:
    """The best `k` (passage id, score) of the union of the top `depth` of each retriever's hits, best first,
    and the candidates themselves (for their retriever scores); ordered by `ranked`. `reference`: the date the
    search is made as of (the question's `as_of`; None: the time features are neutral); `prefer`: the window of
    the question's own time words, which the ranking prefers (None: the question names none)."""
    cands = union(dense, lexical, depth=depth)
    fm = features(index, query, query_vector, cands, reference=reference, prefer=prefer)
    order, scores = ranked(fm, ranker.score(fm))
    return [(int(cands.ids[i]), float(scores[i])) for i in order[:k]], cands
