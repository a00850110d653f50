"""Fit the extractive answerer's sentence weights and abstention threshold on gold data.

    python -m eval.fit_answerer [--sample 400] [--seed 0] [--keep-sentence-weights PARAMS] [--write]

Sentence model: logistic regression over `rag.extractive.FEATURES`, label = the sentence overlaps gold evidence.
Abstention: the threshold on the best sentence's probability that maximises balanced accuracy between
answerable questions (answered) and unanswerable ones (declined). Unanswerable questions are the seed gold
set's own (near misses on the article's topic) plus questions of one benchmark asked against another corpus.
Answerable benchmark questions are sampled from squad-dev, news-rtqa and news-archive, the dated ones searched as
of their date as `rag eval` asks them (eval.answer_data). The answerability model and its threshold are also
fitted fold by fold (5 folds by group: squad-dev by article, the news benchmarks by ISO week, the seed set by
question), and the held-out shares answered and declined per data set are what is reported. Then the rule for
adding further sentences (ratio to the best, at most N) is chosen for containment plus citation precision. With
--write, the result goes to rag/answer_params.json with the figures it was fitted on.
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from rag.embed.model import SentenceTransformerEmbedder
from rag.extractive import (
    ABSTAIN_FEATURES,
    FEATURES,
    PARAMS_FILE,
    AnswerParams,
    abstain_features,
    answerable,
    load_params,
    reread,
    select,
)
from rag.index.index import Index

from .answer_data import BENCHMARKS, ROOT, Row, _label, collect_rows, load_sets
from .gold import normalize_answer
from .logistic import fit_logistic
from .ranker_data import assign_folds

FOLDS = 5


def probabilities(rows: list[Row], weights: np.ndarray, index_of: dict[str, Index]) -> None:
    """Each row's candidates scored by the sentence `weights` and ordered as `rag.extractive.candidates` orders
    them: by probability, the first two as the reader reorders them (`reread`)."""
    for r in rows:
        if not r.cands:
            continue
        feats = np.stack([c.features for c in r.cands])
        probs = 1 / (1 + np.exp(-(feats @ weights)))
        scored = [replace(c, probability=float(p)) for c, p in zip(r.cands, probs, strict=True)]
        order = np.argsort(-probs, kind="stable")
        ranked = reread([scored[i] for i in order], r.asked, index=index_of[r.dataset])
        at = {id(c): i for i, c in enumerate(scored)}
        r.labels = r.labels[[at[id(c)] for c in ranked]]
        r.cands = ranked


def _x(r: Row, index_of: dict[str, Index]) -> np.ndarray:
    """The row's answerability inputs, computed once (each reads the best sentence with the reader)."""
    if r.x is None:
        r.x = abstain_features(r.cands, r.asked, index=index_of[r.dataset])
    return r.x


def answer_scores(rows: list[Row], params: AnswerParams, index_of: dict[str, Index]) -> dict[str, float]:
    answered = contained = cited = precise = 0.0
    n = 0
    for r in rows:
        if not r.question.answerable:
            continue
        n += 1
        confidence = answerable(_x(r, index_of), params=params)
        chosen = select(r.cands, confidence=confidence, params=params)
        if not chosen:
            continue
        answered += 1
        docs = index_of[r.dataset].documents
        text = " ".join(docs[c.doc_id].text[c.start:c.end] for c in chosen)
        norm = normalize_answer(text)
        contained += any(normalize_answer(a) in norm for a in r.question.answers if normalize_answer(a))
        hits = [_label(c, r.question, docs[c.doc_id].text[c.start:c.end]) for c in chosen]
        precise += sum(hits) / len(hits)
        cited += any(hits)
    return {"answered": answered / n, "containment": contained / n, "citation_precision": precise / max(answered, 1),
            "citation_recall": cited / n}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sample", type=int, default=400, help="questions sampled from each benchmark")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-k", type=int, default=10)
    ap.add_argument("--min-declined-near", type=float, default=0.8, help="least share of seed near misses declined")
    ap.add_argument("--seed-weight", type=float, default=5.0, help="weight of a seed question against a benchmark one")
    ap.add_argument("--keep-sentence-weights", type=Path, metavar="PARAMS",
                    help="refit only answerability and selection, keeping the sentence model of this params file")
    ap.add_argument("--previous", type=Path, default=PARAMS_FILE,
                    help="the params to compare with, and whose answerability weights the second variant keeps")
    ap.add_argument("--benchmarks", default=",".join(BENCHMARKS),
                    help="the benchmarks sampled besides the seed set, comma-separated (default: all three)")
    ap.add_argument("--write", action="store_true", help=f"write {PARAMS_FILE.relative_to(ROOT)}")
    ap.add_argument("--no-query-adapter", dest="query_adapter", action="store_false",
                    help="questions embedded as passages are, not through the question adapters (rag.embed.query)")
    return ap.parse_args(argv)


def fit_sentences(ans: list[Row], neg: list[Row], *, seed_weight: float) -> np.ndarray:
    """The sentence model's weights over the candidates of answerable (`ans`) and unanswerable (`neg`) rows."""
    X = np.vstack([np.stack([c.features for c in r.cands]) for r in ans + neg])
    y = np.concatenate([r.labels for r in ans + neg])
    # Each question weighs the same, however many candidate sentences it has.
    # The seed article is the product's own kind of text: its questions weigh more than a benchmark's.
    w = np.concatenate([np.full(len(r.cands), (seed_weight if r.dataset == "seed" else 1.0) / len(r.cands))
                        for r in ans + neg])
    return fit_logistic(X, y, w * len(w) / w.sum(), FEATURES)


@dataclass(frozen=True, slots=True)
class Groups:
    """The four groups the answerability model weighs alike: the seed article's answerable questions and its
    near misses (the product's own kind of text), and the benchmarks' answerable and off-corpus questions."""

    own: list[Row]
    bench: list[Row]
    near: list[Row]
    far: list[Row]


@dataclass(frozen=True, slots=True)
class Abstention:
    weights: np.ndarray
    threshold: float
    conf: dict[int, float]  # id(row) -> probability that the row's question is answerable
    balanced_accuracy: float
    held_out: dict[str, float]  # held-out shares answered (answerable) or declined (not), per variant and group


def _kinds(g: Groups) -> tuple[list[Row], np.ndarray]:
    """Every row of the four groups, and its group's code: 0 own, 1 bench, 2 near, 3 far."""
    rows = g.own + g.bench + g.near + g.far
    return rows, np.repeat([0, 1, 2, 3], [len(g.own), len(g.bench), len(g.near), len(g.far)])


def balanced(p: np.ndarray, kind: np.ndarray, t: float) -> float:
    """Mean of the four groups' rates of the right call (answer or decline) at threshold `t`."""
    return float(np.mean([np.mean((p[kind == i] >= t) == (i < 2)) for i in range(4) if (kind == i).any()]))


def _fit(QX: np.ndarray, kind: np.ndarray, *, min_declined_near: float,
         weights: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """The answerability weights (the four groups weighing alike; `weights` when given, kept as they are) and the
    threshold: the best balanced accuracy among those that decline at least `min_declined_near` of the seed near
    misses (CI's floor is 0.75)."""
    sizes = np.bincount(kind, minlength=4)
    w = 0.25 / np.maximum(sizes[kind], 1)
    beta = weights if weights is not None else fit_logistic(QX, kind < 2, w * len(w) / w.sum(), ABSTAIN_FEATURES)
    p = 1 / (1 + np.exp(-(QX @ beta)))
    grid = np.linspace(0.05, 0.95, 181)
    allowed = [t for t in grid if np.mean(p[kind == 2] < t) >= min_declined_near] or list(grid)
    return beta, float(max(allowed, key=lambda t: balanced(p, kind, t)))


def fit_abstention(g: Groups, index_of: dict[str, Index], *, min_declined_near: float,
                   weights: np.ndarray | None = None) -> Abstention:
    """Answerability: a question-level model, answerable vs not, and its threshold, fitted on every row; and
    the same fit fold by fold (5 folds by group, `Row.group`), each fold's rows scored by the model and threshold
    fitted without it: the held-out shares answered and declined. With `weights`, only the threshold is fitted."""
    rows, kind = _kinds(g)
    QX = np.stack([_x(r, index_of) for r in rows])
    beta, threshold = _fit(QX, kind, min_declined_near=min_declined_near, weights=weights)
    p = 1 / (1 + np.exp(-(QX @ beta)))
    fold = assign_folds([r.group for r in rows], FOLDS)
    answered = np.zeros(len(rows), bool)  # held out: by the model and threshold fitted without the row's fold
    for f in range(FOLDS):
        test = fold == f
        b, t = _fit(QX[~test], kind[~test], min_declined_near=min_declined_near, weights=weights)
        answered[test] = 1 / (1 + np.exp(-(QX[test] @ b))) >= t
    held_answered = dict(zip(map(id, rows), answered.tolist(), strict=True))
    held = right_calls(g, lambda r: held_answered[id(r)])
    conf = {id(r): float(x) for r, x in zip(rows, p, strict=True)}
    return Abstention(beta, threshold, conf, balanced(p, kind, threshold), held)


def held_out_balanced(ab: Abstention) -> float:
    """The mean of the four groups' held-out rates of the right call."""
    return round(float(np.mean([ab.held_out[k] for k in ("answered_seed", "answered_benchmarks", "declined_near",
                                                           "declined_off_corpus")])), 4)


def right_calls(g: Groups, answers: Callable[[Row], bool]) -> dict[str, float]:
    """The share of right calls (answered when answerable, declined when not) per variant and group, when
    `answers` says which rows are answered."""
    rows, kind = _kinds(g)
    right = np.array([answers(r) == (k < 2) for r, k in zip(rows, kind, strict=True)])
    labels = [("seed near misses" if k == 2 else r.variant) for r, k in zip(rows, kind, strict=True)]
    out = {name: round(float(np.mean(right[[x == name for x in labels]])), 4) for name in dict.fromkeys(labels)}
    out.update({name: round(float(np.mean(right[kind == i])), 4) for i, name in enumerate(
        ("answered_seed", "answered_benchmarks", "declined_near", "declined_off_corpus"))})
    return out


def _previous(index_of: dict[str, Index], before: AnswerParams) -> Callable[[Row], bool]:
    """Whether the previous answerability (`--previous`) answers a row."""

    def answers(r: Row) -> bool:
        return answerable(_x(r, index_of), params=before) >= before.threshold

    return answers


def tune_selection(rows: list[Row], params: AnswerParams, index_of: dict[str, Index]
                   ) -> tuple[AnswerParams, dict[str, float]]:
    """The rule for further sentences (ratio to the best, at most N) with the best containment plus citation
    precision, and its answer figures."""
    best = None
    for ratio in (0.6, 0.7, 0.8, 0.9, 0.95):
        for most in (1, 2, 3):
            p = replace(params, second_ratio=ratio, max_sentences=most)
            s = answer_scores(rows, p, {**index_of})
            score = s["containment"] + s["citation_precision"]
            if best is None or score > best[0]:
                best = (score, p, s)
    assert best is not None
    return best[1], best[2]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rng = random.Random(args.seed)
    embedder = SentenceTransformerEmbedder(query_adapter=args.query_adapter)
    benchmarks = tuple(b for b in args.benchmarks.split(",") if b)
    unknown = set(benchmarks) - set(BENCHMARKS)
    if unknown:
        raise SystemExit(f"unknown benchmarks {sorted(unknown)}: choose from {', '.join(BENCHMARKS)}")
    index_of, gold = load_sets(embedder, benchmarks)
    rows = collect_rows(index_of, gold, embedder, rng, sample=args.sample, k=args.k)
    ans = [r for r in rows if r.question.answerable and r.cands]
    neg = [r for r in rows if not r.question.answerable and r.cands]
    weights = (np.array(load_params(args.keep_sentence_weights).weights) if args.keep_sentence_weights else
               fit_sentences(ans, neg, seed_weight=args.seed_weight))
    probabilities(rows, weights, index_of)
    near = [r for r in neg if r.dataset == "seed" and r.question.id.startswith("seed-")]
    g = Groups(own=[r for r in ans if r.dataset == "seed"], bench=[r for r in ans if r.dataset != "seed"],
               near=near, far=[r for r in neg if r not in near])
    previous = load_params(args.previous)
    # Two ways to refit, judged by their held-out balanced accuracy: a new model with its threshold, or the previous
    # model's weights with only the threshold refitted.
    variants = {"refit": fit_abstention(g, index_of, min_declined_near=args.min_declined_near),
                "previous weights, threshold refitted": fit_abstention(
                    g, index_of, min_declined_near=args.min_declined_near, weights=np.array(previous.abstain_weights))}
    chosen = max(variants, key=lambda v: held_out_balanced(variants[v]))
    ab = variants[chosen]
    fitted = AnswerParams(weights=tuple(float(x) for x in weights), threshold=ab.threshold,
                          abstain_weights=tuple(float(x) for x in ab.weights))
    params, figures = tune_selection(rows, fitted, index_of)
    report = {
        "weights": dict(zip(FEATURES, params.weights, strict=True)),
        "abstain_weights": dict(zip(ABSTAIN_FEATURES, params.abstain_weights, strict=True)),
        "threshold": round(params.threshold, 4),
        "second_ratio": params.second_ratio,
        "max_sentences": params.max_sentences,
        "fitted_on": {
            "questions": {"answerable": len(ans), "unanswerable_near": len(g.near),
                          "unanswerable_off_corpus": len(g.far)},
            "per_variant": {v: sum(r.variant == v for r in ans + neg) for v in dict.fromkeys(r.variant for r in rows)},
            "sample": args.sample, "seed": args.seed, "k": args.k, "benchmarks": list(benchmarks),
            "sentence_weights_kept_from": str(args.keep_sentence_weights) if args.keep_sentence_weights else None,
            "query_adapter": args.query_adapter,
            "balanced_accuracy": round(ab.balanced_accuracy, 4),
            "answer": {k: round(v, 4) for k, v in figures.items()},
            "in_sample": right_calls(g, lambda r: ab.conf[id(r)] >= ab.threshold),
            "held_out_5_folds_by_group": ab.held_out,
            "previous_params_on_these_rows": right_calls(g, _previous(index_of, previous)),
            "previous_params": str(args.previous),
            "variants": {v: {"threshold": round(x.threshold, 4), "held_out_balanced": held_out_balanced(x),
                             "held_out": x.held_out} for v, x in variants.items()},
            "chosen": chosen,
        },
    }
    print(json.dumps(report, indent=1))
    if args.write:
        PARAMS_FILE.write_text(json.dumps(report, indent=1) + "\n")
        print(f"wrote {PARAMS_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
