"""Train and measure the span ranker: the short answer inside a sentence (rag.span).

    python -m eval.train_span [--write] [--limit N]

Needs the `train` extra (LightGBM). For every answerable gold question of squad-dev and news-rtqa whose evidence
is a span inside one sentence, that sentence's candidate phrases get their features (rag.span.features) and a
graded label from their SQuAD F1 against the gold answers (3: exact, 2: F1 >= 0.67, 1: F1 >= 0.4, else 0). No
index and no model are needed: the gold sentence stands for the sentence the answerer chose. Cross-validation is
by group, 5 folds, as for the reranker (squad-dev by article, news-rtqa by ISO week): fold f is scored by a model
fitted on the other folds of both benchmarks. Printed per benchmark: how often some candidate is the exact
answer, and the held-out EM and F1 of the top phrase (always offered, then above the threshold). The threshold is
chosen on the held-out scores before the final fit: the lowest score at which offered answers are right (F1 >=
0.5) at least `MIN_PRECISION` of the time. With --write the final model, fitted on every question, goes to
rag/span/span_model.json and span_model.meta.json (data fingerprints, settings, held-out figures, fit time).
Hyperparameters are fixed below, chosen before any fold was scored.
"""

from __future__ import annotations

import argparse
import datetime
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import require
from rag.ingest.corpus import load_corpus
from rag.rank.trees import Trees
from rag.span.features import FEATURES, sentence_phrases
from rag.span.model import META_FILE, MODEL_FILE, SpanModel, without_titles

from .gold import GoldQuestion, load_gold
from .metrics import squad_em, squad_f1
from .ranker_data import BENCH, assign_folds, evidence_sentence, group_of, sha256

BENCHMARKS = ("squad-dev", "news-rtqa")
FOLDS = 5
MIN_PRECISION = 0.5
LGBM_PARAMS: dict[str, Any] = {
    "objective": "lambdarank", "metric": "ndcg", "ndcg_eval_at": [1, 3], "lambdarank_truncation_level": 10,
    "num_leaves": 15, "learning_rate": 0.05, "min_data_in_leaf": 50, "feature_fraction": 0.8,
    "lambda_l2": 1.0, "num_threads": 2, "verbose": -1, "seed": 0, "deterministic": True,
}
LGBM_ROUNDS = 300


@dataclass
class Example:
    """One gold question's sentence, candidate phrases with their features and labels, and its gold answers."""

    benchmark: str
    group: str
    question: str
    answers: tuple[str, ...]
    texts: list[str]  # each candidate's text
    x: np.ndarray
    labels: np.ndarray


def _grade(f1: float) -> int:
    return 3 if f1 >= 0.999 else 2 if f1 >= 0.67 else 1 if f1 >= 0.4 else 0


def examples(name: str, limit: int | None) -> list[Example]:
    """The benchmark's questions whose evidence lies inside one sentence, as span-ranking examples."""
    docs = {d.id: d for d in load_corpus([BENCH / name / "corpus.jsonl"]).documents}
    questions: list[GoldQuestion] = [q for q in load_gold(BENCH / name / "gold.jsonl", docs) if q.answerable]
    out: list[Example] = []
    sentences: dict[str, list[tuple[int, int]]] = {}
    for q in questions[:limit]:
        if (found_in := evidence_sentence(q, docs, sentences)) is None:
            continue
        ev, start, end = found_in
        text = docs[ev.doc_id].text
        found = sentence_phrases(q.question, text[start:end])
        texts = [found.text[a:b] for a, b in map(found.span, range(len(found.phrases)))]
        labels = np.array([_grade(squad_f1(t, q.answers)) for t in texts], dtype=np.int64)
        out.append(Example(name, group_of(name, q), q.question, q.answers, texts, found.matrix, labels))
    return out


def train(data: Sequence[Example]) -> Any:
    import lightgbm

    keep = [d for d in data if d.labels.any()]
    x = np.vstack([d.x for d in keep])
    y = np.concatenate([d.labels for d in keep])
    ds = lightgbm.Dataset(x, y, group=[len(d.labels) for d in keep], feature_name=list(FEATURES))
    return lightgbm.train(LGBM_PARAMS, ds, num_boost_round=LGBM_ROUNDS)


def best(d: Example, trees: Trees) -> tuple[str, float]:
    """The top phrase and its score ("" and -inf when the sentence has none)."""
    if not d.texts:
        return "", float("-inf")
    scores = trees.predict(d.x)
    i = int(np.argmax(scores))
    text = d.texts[i]
    if d.x[i, FEATURES.index("p_name")]:  # as `short_answer` gives it: a name without its titles
        a, b = without_titles(text)
        text = text[a:b]
    return text, float(scores[i])


def cross_validate(data: dict[str, list[Example]]) -> dict[str, list[tuple[str, float]]]:
    """Each example's held-out top phrase and score."""
    folds = {n: assign_folds([d.group for d in ds], FOLDS) for n, ds in data.items()}
    held: dict[str, list[tuple[str, float]]] = {n: [("", float("-inf"))] * len(ds) for n, ds in data.items()}
    for f in range(FOLDS):
        fitted = [d for n, ds in data.items() for d, g in zip(ds, folds[n], strict=True) if g != f]
        trees = Trees.from_dump(train(fitted).dump_model())
        for n, ds in data.items():
            for i in np.flatnonzero(folds[n] == f):
                held[n][i] = best(ds[i], trees)
        print(f"  fold {f + 1}/{FOLDS}: fitted on {len(fitted)} questions", flush=True)
    return held


def choose_threshold(data: dict[str, list[Example]], held: dict[str, list[tuple[str, float]]]) -> float:
    """The lowest score at which offered answers are right (F1 >= 0.5) in at least MIN_PRECISION of cases, over
    a sliding window of the 200 nearest held-out scores."""
    pairs = sorted((s, squad_f1(t, d.answers) >= 0.5) for n, ds in data.items()
                   for d, (t, s) in zip(ds, held[n], strict=True) if t)
    scores = np.array([s for s, _ in pairs])
    right = np.array([r for _, r in pairs], dtype=np.float64)
    window = np.convolve(right, np.ones(200) / 200, mode="same")
    above = np.flatnonzero(window >= MIN_PRECISION)
    return float(scores[above[0]]) if len(above) else float(scores[-1])


def figures(ds: Sequence[Example], held: Sequence[tuple[str, float]], threshold: float) -> dict[str, float]:
    n = max(len(ds), 1)
    offered = [(t if s >= threshold else "") for t, s in held]
    return {
        "questions": len(ds),
        "candidate_recall": round(sum(bool((d.labels == 3).any()) for d in ds) / n, 4),
        "em_top": round(sum(squad_em(t, d.answers) for d, (t, _) in zip(ds, held, strict=True)) / n, 4),
        "f1_top": round(sum(squad_f1(t, d.answers) for d, (t, _) in zip(ds, held, strict=True)) / n, 4),
        "offered": round(sum(bool(t) for t in offered) / n, 4),
        "em_offered": round(sum(squad_em(t, d.answers) for d, t in zip(ds, offered, strict=True) if t)
                            / max(sum(bool(t) for t in offered), 1), 4),
        "f1_offered": round(sum(squad_f1(t, d.answers) for d, t in zip(ds, offered, strict=True) if t)
                            / max(sum(bool(t) for t in offered), 1), 4),
    }


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=None, help="first N questions of each benchmark (a quick run)")
    ap.add_argument("--write", action="store_true", help=f"write {MODEL_FILE.name} and {META_FILE.name}")
    args = ap.parse_args(argv)
    require("lightgbm", extra="train")
    t0 = time.perf_counter()
    data = {n: examples(n, args.limit) for n in BENCHMARKS}
    print(f"examples: { {n: len(ds) for n, ds in data.items()} } in {time.perf_counter() - t0:.1f} s", flush=True)
    held = cross_validate(data)
    threshold = choose_threshold(data, held)
    table = {n: figures(ds, held[n], threshold) for n, ds in data.items()}
    print(f"threshold {threshold:.4f}\n" + json.dumps(table, indent=1), flush=True)
    t_fit = time.perf_counter()
    final = SpanModel(Trees.from_dump(train([d for ds in data.values() for d in ds]).dump_model()), threshold)
    fit_s = time.perf_counter() - t_fit
    meta = {"fitted": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "data": {n: {"files_sha256": {f: sha256(BENCH / n / f) for f in ("corpus.jsonl", "gold.jsonl")},
                         "examples": len(ds)} for n, ds in data.items()},
            "features": list(FEATURES), "settings": {"lightgbm": {**LGBM_PARAMS, "rounds": LGBM_ROUNDS},
                                                     "folds": FOLDS, "min_precision": MIN_PRECISION,
                                                     "limit": args.limit},
            "threshold": threshold, "held_out": table, "final_fit_s": round(fit_s, 2),
            "total_s": round(time.perf_counter() - t0, 1)}
    if args.write:
        final.save(MODEL_FILE)
        Path(META_FILE).write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {MODEL_FILE} ({MODEL_FILE.stat().st_size:,} bytes) and {META_FILE.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
