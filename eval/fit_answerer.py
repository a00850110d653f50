"""Fit the extractive answerer's sentence weights and abstention threshold on gold data.

    python -m eval.fit_answerer [--sample 400] [--seed 0] [--write]

Sentence model: logistic regression over `rag.answer.FEATURES`, label = the sentence overlaps gold evidence.
Abstention: the threshold on the best sentence's probability that maximises balanced accuracy between
answerable questions (answered) and unanswerable ones (declined). Unanswerable questions are the seed gold
set's own (near misses on the article's topic) plus questions of one benchmark asked against another corpus.
Then the rule for adding further sentences (ratio to the best, at most N) is chosen for containment plus
citation precision. With --write, the result goes to rag/answer_params.json with the figures it was fitted on.
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from rag.answer import DEFAULT_PARAMS, FEATURES, PARAMS_FILE, AnswerParams, Candidate, candidates, select
from rag.embed import SentenceTransformerEmbedder
from rag.engine import build_index
from rag.index import Index
from rag.retrieve import retrieve

from .gold import GoldQuestion, load_gold, normalize_answer, overlaps

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT.parent / "shared" / "benchmarks"
CACHE = ROOT / "eval" / "out" / "fit-cache"


@dataclass
class Row:
    dataset: str
    question: GoldQuestion
    cands: list[Candidate]
    labels: np.ndarray  # per candidate: hits gold evidence


def _label(c: Candidate, q: GoldQuestion, text: str) -> bool:
    return any(overlaps(c.doc_id, c.start, c.end, ev, text, q.answers) for ev in q.evidence)


def collect(name: str, index: Index, questions: list[GoldQuestion], embedder: SentenceTransformerEmbedder,
            *, k: int, unanswerable: bool = False) -> list[Row]:
    vecs = embedder.embed([q.question for q in questions])
    rows = []
    for q, v in zip(questions, vecs, strict=True):
        passages = retrieve(index, q.question, v, k=k)
        cands = candidates(index, q.question, v, passages, params=DEFAULT_PARAMS)
        docs = index.documents
        labels = np.array([False if unanswerable else _label(c, q, docs[c.doc_id].text[c.start:c.end])
                           for c in cands], dtype=bool)
        if unanswerable:
            q = replace(q, answers=(), evidence=())
        rows.append(Row(name, q, cands, labels))
    return rows


def probabilities(rows: list[Row], weights: np.ndarray) -> None:
    for r in rows:
        if not r.cands:
            continue
        feats = np.stack([c.features for c in r.cands])
        probs = 1 / (1 + np.exp(-(feats @ weights)))
        r.cands = [replace(c, probability=float(p)) for c, p in zip(r.cands, probs, strict=True)]
        order = np.argsort(-probs, kind="stable")
        r.cands = [r.cands[i] for i in order]
        r.labels = r.labels[order]


def answer_scores(rows: list[Row], params: AnswerParams, index_of: dict[str, Index]) -> dict[str, float]:
    answered = contained = cited = precise = 0.0
    n = 0
    for r in rows:
        if not r.question.answerable:
            continue
        n += 1
        chosen = select(r.cands, params=params)
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sample", type=int, default=400, help="questions sampled from each benchmark")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-k", type=int, default=8)
    ap.add_argument("--write", action="store_true", help=f"write {PARAMS_FILE.relative_to(ROOT)}")
    args = ap.parse_args(argv)
    from sklearn.linear_model import LogisticRegression

    rng = random.Random(args.seed)
    embedder = SentenceTransformerEmbedder()
    sets = {
        "seed": (ROOT / "seeds", ROOT / "eval" / "gold" / "seed.jsonl"),
        "squad-dev": (BENCH / "squad-dev" / "corpus.jsonl", BENCH / "squad-dev" / "gold.jsonl"),
        "news-rtqa": (BENCH / "news-rtqa" / "corpus.jsonl", BENCH / "news-rtqa" / "gold.jsonl"),
    }
    index_of: dict[str, Index] = {}
    gold: dict[str, list[GoldQuestion]] = {}
    for name, (corpus, gold_path) in sets.items():
        print(f"[{name}] index ...", flush=True)
        build_index(CACHE / name, [corpus], embedder=embedder, progress=True)
        index_of[name] = Index.load(CACHE / name, verify=False)
        gold[name] = load_gold(gold_path, index_of[name].documents)
    rows: list[Row] = []
    for name, qs in gold.items():
        sample = qs if name == "seed" else rng.sample(qs, min(args.sample, len(qs)))
        rows += collect(name, index_of[name], sample, embedder, k=args.k)
    # Off-corpus questions: a benchmark's questions asked of another corpus have no answer there.
    cross = [("seed", "news-rtqa"), ("seed", "squad-dev"), ("news-rtqa", "squad-dev"), ("squad-dev", "news-rtqa")]
    for target, source in cross:
        qs = rng.sample(gold[source], min(args.sample // 4, len(gold[source])))
        rows += collect(f"{target}", index_of[target], qs, embedder, k=args.k, unanswerable=True)

    ans = [r for r in rows if r.question.answerable and r.cands]
    neg = [r for r in rows if not r.question.answerable and r.cands]
    X = np.vstack([np.stack([c.features for c in r.cands]) for r in ans + neg])
    y = np.concatenate([r.labels for r in ans + neg])
    # Each question weighs the same, however many candidate sentences it has.
    w = np.concatenate([np.full(len(r.cands), 1 / len(r.cands)) for r in ans + neg])
    model = LogisticRegression(C=1.0, fit_intercept=False, max_iter=2000)
    model.fit(X, y, sample_weight=w * len(w) / w.sum())
    weights = model.coef_[0]
    probabilities(rows, weights)

    # Threshold: balanced accuracy; the seed set's own near misses count as much as all off-corpus ones.
    best_p = {id(r): (r.cands[0].probability if r.cands else 0.0) for r in rows}
    near = [r for r in neg if r.dataset == "seed" and r.question.id.startswith("seed-")]
    far = [r for r in neg if r not in near]
    grid = np.linspace(0.05, 0.95, 181)

    def balanced(t: float) -> float:
        answered = np.mean([best_p[id(r)] >= t for r in ans])
        declined_near = np.mean([best_p[id(r)] < t for r in near]) if near else 1.0
        declined_far = np.mean([best_p[id(r)] < t for r in far]) if far else 1.0
        return float(0.5 * answered + 0.25 * declined_near + 0.25 * declined_far)

    threshold = float(max(grid, key=balanced))
    params = AnswerParams(weights=tuple(float(x) for x in weights), threshold=threshold)
    best = None
    for ratio in (0.6, 0.7, 0.8, 0.9, 0.95):
        for most in (1, 2, 3):
            p = replace(params, second_ratio=ratio, max_sentences=most)
            s = answer_scores(rows, p, {**index_of})
            score = s["containment"] + s["citation_precision"]
            if best is None or score > best[0]:
                best = (score, p, s)
    assert best is not None
    _, params, figures = best
    report = {
        "weights": dict(zip(FEATURES, params.weights, strict=True)),
        "threshold": round(params.threshold, 4),
        "second_ratio": params.second_ratio,
        "max_sentences": params.max_sentences,
        "fitted_on": {
            "questions": {"answerable": len(ans), "unanswerable_near": len(near), "unanswerable_off_corpus": len(far)},
            "sample": args.sample, "seed": args.seed, "k": args.k,
            "balanced_accuracy": round(balanced(params.threshold), 4),
            "answer": {k: round(v, 4) for k, v in figures.items()},
            "declined_near": round(float(np.mean([best_p[id(r)] < threshold for r in near])), 4),
            "declined_off_corpus": round(float(np.mean([best_p[id(r)] < threshold for r in far])), 4),
        },
    }
    print(json.dumps(report, indent=1))
    if args.write:
        PARAMS_FILE.write_text(json.dumps(report, indent=1) + "\n")
        print(f"wrote {PARAMS_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
