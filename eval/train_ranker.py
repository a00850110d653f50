"""Train and measure the reranker over the union of dense and lexical candidates (rag.rank).

    python -m eval.train_ranker [--write] [--limit N] [--latency 300]

Needs the `train` extra (LightGBM). For each benchmark (squad-dev, news-rtqa, news-archive) the harness's cached
index is built or reused and every answerable gold question gets its candidates, features and labels
(eval.ranker_data); the dated ones (news-rtqa, news-archive) twice, as the engine searches them with the
question's date as `as_of` (its window inside both searches, the date as the time features' reference) and
without (time features neutral). Cross-validation is by group, 5 folds: squad-dev by article, the dated ones by
the ISO week of the question's date (both variants of a question in the same fold), so no fold sees the article
or week it is scored on; fold f's model is fitted on the other folds of every data set at once (one model serves
all, as the final one does). The held-out Hit@1/5/10 and MRR@10 of dense-only, lexical-only, the RRF hybrid and
the union reranked by logistic and LightGBM models, with the time features and without them ("before"), are
printed per data set; every model is scored as a question is answered (rag.rank.model, LightGBM trees in numpy).
Then the final model (all features) is fitted on every question; its numpy scores are checked against LightGBM's
on every row, and with --write it goes to rag/rank/model.json with rag/rank/model.meta.json (data fingerprints,
settings, held-out figures, fit time). Hyperparameters are fixed below, chosen before any fold was scored:
nothing is tuned on the reported folds.
"""

from __future__ import annotations

import argparse
import datetime
import json
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np

from rag.embed.model import SentenceTransformerEmbedder, embed_queries
from rag.errors import require
from rag.rank.features import FEATURES, TIME_FEATURES, WINDOW_FEATURES
from rag.rank.model import CANDIDATE_DEPTH, CHECK_FILE, META_FILE, MODEL_FILE, PREFER_MARGIN, Ranker, ranked, rerank
from rag.retrieve import RRF_K, dense_hits, fuse, lexical_hits, limits, windows

from .ranker_data import DATED, FIRST_STAGE_DEPTH, QuestionData, assign_folds, load_data, open_benchmark, question_date
from .ranker_figures import K, Table, figures, never_loses, print_table, union_recall
from .stats import percentile

BENCHMARKS = ("squad-dev", "news-rtqa", "news-archive")
# Each data set: a benchmark, searched with its questions' dates as as_of or not (a dated benchmark is both).
DATASETS = tuple((name, as_of) for name in BENCHMARKS for as_of in ((False, True) if name in DATED else (False,)))
NO_WINDOW = tuple(n for n in FEATURES if n not in WINDOW_FEATURES)  # time, not the question's own window
BEFORE = tuple(n for n in NO_WINDOW if n not in TIME_FEATURES)  # the features before the time ones
FINAL_FEATURES = {"all": FEATURES, "no-window": NO_WINDOW}  # --features: what the final model reads
FOLDS = 5
# Fixed before scoring any fold. Few leaves and many rows per leaf: about 20 features, thousands of questions.
LGBM_PARAMS: dict[str, Any] = {
    "objective": "lambdarank", "metric": "ndcg", "ndcg_eval_at": [1, 5, 10], "lambdarank_truncation_level": 20,
    "num_leaves": 15, "learning_rate": 0.05, "min_data_in_leaf": 50, "feature_fraction": 0.8,
    "lambda_l2": 1.0, "num_threads": 2, "verbose": -1, "seed": 0, "deterministic": True,
}
LGBM_ROUNDS = 200
LOGISTIC_L2 = 1.0
# The logistic model is kept unless LightGBM beats it by more than this on a benchmark's Hit@5 or MRR@10.
PREFER_LOGISTIC_MARGIN = 0.005
CHECK_ROWS = 200  # real feature rows written to CHECK_FILE with LightGBM's own scores of them


def label(name: str, as_of: bool) -> str:
    return f"{name} as-of" if as_of else name


def _stack(
    data: Sequence[QuestionData], names: tuple[str, ...] = FEATURES
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[int]]:
    """Rows (columns `names`), labels, per-row weights (each question weighs the same) and group sizes, of
    questions with at least one relevant candidate (the others teach a ranker nothing)."""
    keep = [d for d in data if d.labels.any()]
    cols = [FEATURES.index(n) for n in names]
    x = np.vstack([d.fm.values[:, cols] for d in keep])
    y = np.concatenate([d.labels for d in keep])
    w = np.concatenate([np.full(len(d.labels), 1.0 / len(d.labels)) for d in keep])
    return x, y, w * len(w) / w.sum(), [len(d.labels) for d in keep]


def fit_logistic(data: Sequence[QuestionData], *, l2: float = LOGISTIC_L2, names: tuple[str, ...] = FEATURES) -> Ranker:
    """Pointwise logistic regression on standardised features (L-BFGS), every question weighing the same."""
    from scipy.optimize import minimize

    x, y, w, _ = _stack(data, names)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale = np.where(scale > 1e-9, scale, 1.0)
    xb = np.column_stack([(x - mean) / scale, np.ones(len(x))])

    def loss(beta: np.ndarray) -> tuple[float, np.ndarray]:
        s = xb @ beta
        p = 1 / (1 + np.exp(-s))
        reg = np.append(beta[:-1], 0.0)
        return float(np.sum(w * (np.logaddexp(0, s) - y * s)) + 0.5 * l2 * reg @ reg), xb.T @ (w * (p - y)) + l2 * reg

    beta = minimize(loss, np.zeros(xb.shape[1]), jac=True, method="L-BFGS-B").x
    return Ranker("logistic", names, weights=beta[:-1], bias=float(beta[-1]), mean=mean, scale=scale)


def train_booster(data: Sequence[QuestionData], *, rounds: int = LGBM_ROUNDS, names: tuple[str, ...] = FEATURES) -> Any:
    """A LightGBM lambdarank booster, one query group per question."""
    import lightgbm

    x, y, _, sizes = _stack(data, names)
    train = lightgbm.Dataset(x, y, group=sizes, feature_name=list(names), free_raw_data=True)
    return lightgbm.train(LGBM_PARAMS, train, num_boost_round=rounds)


def fit_lightgbm(data: Sequence[QuestionData], *, names: tuple[str, ...] = FEATURES) -> Ranker:
    """LightGBM lambdarank, kept as trees that numpy scores (rag.rank.trees)."""
    return Ranker.from_booster(train_booster(data, names=names), names)


# "before": the same data without the time (and window) features; "no-window": with the time features but not the
# question's own window (which then only breaks exact ties); the chosen final model is one of the last two.
FITTERS: dict[str, Callable[[Sequence[QuestionData]], Ranker]] = {
    "logistic before": partial(fit_logistic, names=BEFORE), "lightgbm before": partial(fit_lightgbm, names=BEFORE),
    "lightgbm no-window": partial(fit_lightgbm, names=NO_WINDOW),
    "union+logistic": fit_logistic, "union+lightgbm": fit_lightgbm}
# The bounded tie-break (rag.rank.model.ranked): a candidate inside the question's window goes ahead of one
# outside it scoring less than the margin higher. Measured on these models' held-out scores at these margins
# (lambdarank raw-score units), besides 0 (exact ties only); the engine uses PREFER_MARGIN.
MARGINS: dict[str, tuple[float, ...]] = {"lightgbm no-window": (0.1, 0.3, 1.0, 3.0),
                                         "union+lightgbm": (0.1, 0.3, 1.0, 3.0)}


def methods() -> list[str]:
    """Every held-out method of a fitted model: each fitter, and each measured margin of those in MARGINS."""
    return [*FITTERS, *(f"{m} margin {x:g}" for m, xs in MARGINS.items() for x in xs)]


def first_stage_ranking(d: QuestionData, method: str) -> list[int]:
    """The top K passage ids of a method that needs no model: as rag.retrieve ranks them."""
    if method == "dense":
        return d.dense.ids[:K].tolist()
    if method == "lexical":
        return d.lexical.ids[:K].tolist()
    return [pid for pid, _ in fuse([d.dense, d.lexical], k=K, rrf_k=RRF_K)]


def model_ranking(d: QuestionData, ranker: Ranker, margin: float = PREFER_MARGIN) -> list[int]:
    """The top K of the union by `ranker`, in the order rag.rank.model.rerank returns (`ranked`: inside the
    question's window first on a tie, or within `margin`; then the smaller id)."""
    order, _ = ranked(d.fm, ranker.score(d.fm), margin)
    return [int(d.fm.ids[i]) for i in order[:K]]


def cross_validate(data: dict[str, list[QuestionData]]) -> tuple[Table, Table]:
    """Held-out figures per benchmark and method, over all folds and fold by fold (keys "1".."5", Hit@5): fold
    f is scored by models fitted on the other folds."""
    folds = {name: assign_folds([d.group for d in ds], FOLDS) for name, ds in data.items()}
    held: dict[str, dict[str, list[list[int]]]] = {
        name: {m: [[] for _ in ds] for m in methods()} for name, ds in data.items()}
    for f in range(FOLDS):
        train = [d for name, ds in data.items() for d, g in zip(ds, folds[name], strict=True) if g != f]
        for method, fit in FITTERS.items():
            t0 = time.perf_counter()
            ranker = fit(train)
            for name, ds in data.items():
                for i in np.flatnonzero(folds[name] == f):
                    held[name][method][i] = model_ranking(ds[i], ranker, 0.0)  # the window only breaks ties
                    for x in MARGINS.get(method, ()):
                        held[name][f"{method} margin {x:g}"][i] = model_ranking(ds[i], ranker, x)
            print(f"  fold {f + 1}/{FOLDS} {method}: fitted on {len(train)} questions and scored in "
                  f"{time.perf_counter() - t0:.1f} s", flush=True)
    table: Table = {}
    by_fold: Table = {}  # benchmark -> fold -> method -> Hit@5
    for name, ds in data.items():
        rankings: dict[str, list[list[int]]] = {m: [first_stage_ranking(d, m) for d in ds]
                                                for m in ("dense", "lexical", "rrf")}
        rankings.update(held[name])
        table[name] = {m: figures(ds, r) for m, r in rankings.items()}
        by_fold[name] = {}
        for f in range(FOLDS):
            rows = np.flatnonzero(folds[name] == f)
            by_fold[name][str(f + 1)] = {m: figures([ds[i] for i in rows], [r[i] for i in rows])["hit@5"]
                                         for m, r in rankings.items()}
    return table, by_fold


def choose(table: Table) -> str:
    """LightGBM only where it clearly beats the logistic model (see PREFER_LOGISTIC_MARGIN)."""
    gbm_better = any(rows["union+lightgbm"][m] > rows["union+logistic"][m] + PREFER_LOGISTIC_MARGIN
                     for rows in table.values() for m in ("hit@5", "mrr@10"))
    return "union+lightgbm" if gbm_better else "union+logistic"


def check_trees(data: Sequence[QuestionData], booster: Any, final: Ranker) -> dict[str, Any]:
    """The numpy trees against LightGBM's own predict on every training row (they must agree to 1e-6), and a
    sample of real rows with LightGBM's scores: written to CHECK_FILE, so that a test can check the committed
    trees without LightGBM."""
    cols = [FEATURES.index(n) for n in final.names]
    x = np.vstack([d.fm.values[:, cols] for d in data])
    ours = np.concatenate([final.score(d.fm) for d in data])
    theirs = booster.predict(x, num_threads=1)
    worst = float(np.abs(ours - theirs).max())
    if worst > 1e-6:
        raise SystemExit(f"the numpy trees differ from LightGBM's predict by {worst:g}: not written")
    pick = np.random.default_rng(0).choice(len(x), size=min(CHECK_ROWS, len(x)), replace=False)
    return {"rows_checked": len(x), "max_abs_diff": worst, "sample_rows": x[pick].tolist(),
            "sample_lightgbm_scores": theirs[pick].tolist()}


def latency(name: str, embedder: Any, ranker: Ranker, n: int) -> dict[str, float]:
    """Per question, warm: feature extraction plus scoring of the union (`rerank`), after both searches; a dated
    benchmark's questions as of their date."""
    index, questions, _ = open_benchmark(name, embedder)
    questions = questions[:n]
    times = []
    for q, v in zip(questions, embed_queries(embedder, [q.question for q in questions]), strict=True):
        day = question_date(q) if name in DATED else None
        searched, prefer = windows(q.question, as_of=day) if day else (None, None)
        allowed, _ = limits(index, searched)
        dense = dense_hits(index, v, FIRST_STAGE_DEPTH, allowed=allowed)
        lexical = lexical_hits(index, q.question, FIRST_STAGE_DEPTH, allowed=allowed)
        t0 = time.perf_counter()
        rerank(index, q.question, v, dense, lexical, ranker=ranker, k=K, reference=day, prefer=prefer)
        times.append((time.perf_counter() - t0) * 1000)
    return {"questions": len(times), "p50_ms": round(percentile(times, 50) or 0.0, 3),
            "p95_ms": round(percentile(times, 95) or 0.0, 3)}


def settings(limit: int | None) -> dict[str, Any]:
    return {"first_stage_depth": FIRST_STAGE_DEPTH, "candidate_depth": CANDIDATE_DEPTH, "k": K, "folds": FOLDS,
            "fold_groups": {"squad-dev": "article", "news-rtqa": "ISO week of date",
                            "news-archive": "ISO week of date"},
            "data_sets": [label(n, a) for n, a in DATASETS],
            "lightgbm": {**LGBM_PARAMS, "rounds": LGBM_ROUNDS}, "logistic_l2": LOGISTIC_L2,
            "prefer_logistic_margin": PREFER_LOGISTIC_MARGIN, "prefer_margin": PREFER_MARGIN, "limit": limit}


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=None, help="first N questions of each benchmark (a quick run)")
    ap.add_argument("--latency", type=int, default=300, help="questions per benchmark timed for rerank latency")
    ap.add_argument("--write", action="store_true", help=f"write {MODEL_FILE.name} and {META_FILE.name}")
    ap.add_argument("--no-query-adapter", dest="query_adapter", action="store_false",
                    help="questions embedded as passages are, not through the question adapters (rag.embed.query)")
    ap.add_argument("--features", choices=sorted(FINAL_FEATURES), default="all",
                    help="what the final model reads: every feature, or all but the question's window ones")
    args = ap.parse_args(argv)
    require("lightgbm", extra="train")
    t_start = time.perf_counter()
    embedder = SentenceTransformerEmbedder(query_adapter=args.query_adapter)
    data, seen = {}, {}
    for name, as_of in DATASETS:
        key = label(name, as_of)
        print(f"[{key}] candidates and features ...", flush=True)
        data[key], seen[key] = load_data(name, embedder, args.limit, as_of=as_of)
    recall = {key: union_recall(ds) for key, ds in data.items()}
    print(f"questions with evidence among the candidates: {recall}", flush=True)
    print("cross-validation ...", flush=True)
    table, by_fold = cross_validate(data)
    print_table(table, by_fold, {n: len(ds) for n, ds in data.items()}, folds=FOLDS)
    chosen = choose(table)
    print("\nnever loses to dense-only or lexical-only at Hit@1/5/10: "
          + ", ".join(f"{m} {never_loses(table, m)}" for m in ("rrf", *methods())))
    every = [d for ds in data.values() for d in ds]
    names = FINAL_FEATURES[args.features]
    t_fit = time.perf_counter()
    booster = train_booster(every, names=names) if chosen == "union+lightgbm" else None
    final = Ranker.from_booster(booster, names) if booster is not None else fit_logistic(every, names=names)
    fit_s = time.perf_counter() - t_fit
    print(f"final model: {chosen}, fitted on every question in {fit_s:.1f} s", flush=True)
    check = check_trees(every, booster, final) if booster is not None else None
    if check:
        print(f"numpy trees vs LightGBM predict on {check['rows_checked']:,} rows: max |diff| "
              f"{check['max_abs_diff']:g}", flush=True)
    trees_check = {k: v for k, v in (check or {}).items() if not k.startswith("sample")} or None
    timing = {name: latency(name, embedder, final, args.latency) for name in BENCHMARKS}
    print(f"rerank latency {timing}", flush=True)
    meta = {"model": chosen, "model_file": MODEL_FILE.name, "date": datetime.datetime.now().astimezone().isoformat(),
            "data": seen, "final_features": args.features, "features": list(names), "settings": settings(args.limit),
            "query_adapter": args.query_adapter,
            "held_out": table, "held_out_hit@5_by_fold": by_fold, "union_recall": recall,
            "never_loses": {m: never_loses(table, m) for m in ("rrf", *methods())},
            "latency_rerank_ms": timing, "final_fit_s": round(fit_s, 2),
            "total_s": round(time.perf_counter() - t_start, 1), "trees_check": trees_check}
    if args.write:
        final.save(MODEL_FILE)
        META_FILE.write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
        if check:
            sample = {"rows": check["sample_rows"], "lightgbm_scores": check["sample_lightgbm_scores"]}
            CHECK_FILE.write_text(json.dumps(sample, separators=(",", ":")) + "\n", encoding="utf-8")
        else:
            CHECK_FILE.unlink(missing_ok=True)
        print(f"wrote {MODEL_FILE} ({MODEL_FILE.stat().st_size:,} bytes), {META_FILE} and {CHECK_FILE.name}")
    else:
        print(json.dumps({k: meta[k] for k in ("model", "never_loses", "latency_rerank_ms")}, indent=1))
    return 0


if __name__ == "__main__":
    # Run as the module eval.train_ranker, not as __main__: the pickled cache names its classes by module.
    from eval import train_ranker

    raise SystemExit(train_ranker.main())
