"""How far better sentence ranking or answerability could take the short answer with this reader: the ceiling.

    python -m eval.answer_ceiling [--benchmarks squad-dev news-rtqa] [--depth 6] [--limit N] [--out FILE]

For each held-out answerable question (fold 0 of the reader's folds: squad-dev by article, the dated benchmarks by
ISO week, searched as of the question's date as `rag eval` asks them), the engine's candidate sentences in its
order (`rag.extractive.candidates` with the committed parameters, the reader reordering the first two), its
answerability, and for the first `depth` sentences the reader's best span (`rag.span.model.short_answer`, offered
or not). From those it reports, per benchmark:

- sentence hit@k: the share of questions whose first k candidate sentences write a gold answer;
- the engine's choice: the first sentence, answered when answerability reaches the threshold; its containment
  (the sentence writes a gold answer) and the SQuAD F1 of the reader's offered span in it;
- the same never declining: what a perfect answerability model could add at most;
- the gold sentence first: the first of the `depth` sentences that writes a gold answer chosen and answered, the
  reader's best span in it: what perfect sentence ranking and answerability together could reach with this reader;
- the reader as a reranker: sentence hit@1 when the first `depth` are reordered by a logistic model over the
  sentence model's log-odds, the reader's best-span score and the rank (2-fold cross-validated by group).

These approximate `rag eval` (which adds the two-sentence bridge, rival reports and the byline) within a point.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from rag.embed.model import Embedder
from rag.extractive import READ_NONE, answerability, load_params, log_odds
from rag.index.index import Index
from rag.span.model import offer_threshold, prefetch, short_answer

from . import answer_data
from .gold import GoldQuestion, normalize_answer
from .logistic import fit_logistic
from .lora import FOLDS, HELD_OUT
from .metrics import squad_f1
from .ranker_data import DATED, assign_folds, group_of

NO_SPAN = READ_NONE  # the span score of a sentence whose reader finds no span, as the engine's reordering takes it


@dataclass(frozen=True, slots=True)
class Sentence:
    """One candidate: the sentence model's log-odds, whether it writes a gold answer, the reader's best span
    (offered or not) with its score, and whether the reader offers it (score at least its threshold)."""

    log_odds: float
    gold: bool
    span: str
    score: float
    offered: bool


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    group: str
    answers: tuple[str, ...]
    confidence: float
    sentences: tuple[Sentence, ...]


def collect(index: Index, questions: Sequence[GoldQuestion], embedder: Embedder, *, benchmark: str, depth: int,
            k: int = 10) -> list[Question]:
    """Each question's first `depth` candidate sentences as the engine finds and orders them (module doc)."""
    params = load_params()
    rows = answer_data.collect(benchmark, index, list(questions), embedder, k=k, as_of=benchmark in DATED,
                               params=params)
    out = []
    for row in rows:
        q, cands = row.question, row.cands
        texts = [index.documents[c.doc_id].text[c.start:c.end] for c in cands[:depth]]
        prefetch(row.asked, texts)
        answers = [normalize_answer(a) for a in q.answers if a]
        sentences = []
        for c, text in zip(cands, texts, strict=False):
            best = short_answer(row.asked, text, threshold=False)
            sentences.append(Sentence(log_odds(c), any(a in normalize_answer(text) for a in answers),
                                      best.text if best else "", best.score if best else NO_SPAN,
                                      best is not None and best.score >= offer_threshold()))
        out.append(Question(q.id, group_of(benchmark, q), tuple(q.answers),
                            answerability(cands, row.asked, index=index, params=params), tuple(sentences)))
    return out


def held_out(benchmark: str, questions: Sequence[GoldQuestion]) -> list[GoldQuestion]:
    """The answerable questions of the reader's held-out fold (`eval.train_reader`'s folds)."""
    answerable = [q for q in questions if q.answerable]
    folds = assign_folds([group_of(benchmark, q) for q in answerable], FOLDS)
    return [q for q, f in zip(answerable, folds, strict=True) if f == HELD_OUT]


def _f1(s: Sentence | None, q: Question, *, offered_only: bool = True) -> float:
    if s is None or (offered_only and not s.offered):
        return 0.0
    return squad_f1(s.span, list(q.answers))


def reordered_hit1(rows: Sequence[Question], depth: int) -> float:
    """Sentence hit@1 after reordering each question's first `depth` by a logistic model over the log-odds, the
    reader's score and the rank, fitted on half the groups and applied to the other half, both ways."""
    names = ("log_odds", "span_score", "has_span", "rank", "bias")

    def features(q: Question) -> np.ndarray:
        return np.array([[s.log_odds, s.score, float(s.score > NO_SPAN), 1.0 / (i + 1), 1.0]
                         for i, s in enumerate(q.sentences[:depth])])

    groups = sorted({q.group for q in rows})
    hits = 0
    for half in (0, 1):
        test = set(groups[half::2])
        train = [q for q in rows if q.group not in test and q.sentences]
        labels = np.concatenate([[s.gold for s in q.sentences[:depth]] for q in train]) if train else np.zeros(0)
        if len(set(labels.tolist())) < 2:  # nothing to learn from: the engine's order stands
            hits += sum(bool(q.sentences) and q.sentences[0].gold for q in rows if q.group in test)
            continue
        beta = fit_logistic(np.vstack([features(q) for q in train]), labels, np.ones(len(labels)), names)
        for q in (q for q in rows if q.group in test and q.sentences):
            hits += q.sentences[int(np.argmax(features(q) @ beta))].gold
    return hits / max(len(rows), 1)


def summarize(rows: Sequence[Question], *, threshold: float, depth: int) -> dict[str, float]:
    """The figures of the module doc for one benchmark's questions."""
    n = max(len(rows), 1)

    def share(values: Sequence[float]) -> float:
        return round(float(sum(values)) / n, 4)

    first = [q.sentences[0] if q.sentences else None for q in rows]
    answered = [q.confidence >= threshold for q in rows]
    gold_first = [next((s for s in q.sentences[:depth] if s.gold), None) for q in rows]
    out = {"questions": float(len(rows)), "answered": share(answered)}
    out |= {f"sentence_hit@{k}": share([any(s.gold for s in q.sentences[:k]) for q in rows])
            for k in range(1, depth + 1)}
    out |= {
        "containment": share([a and s is not None and s.gold for s, a in zip(first, answered, strict=True)]),
        "f1": share([_f1(s, q) if a else 0.0 for s, q, a in zip(first, rows, answered, strict=True)]),
        "containment_never_declined": share([s is not None and s.gold for s in first]),
        "f1_never_declined": share([_f1(s, q) for s, q in zip(first, rows, strict=True)]),
        "f1_gold_sentence_first": share([_f1(s, q, offered_only=False) for s, q in zip(gold_first, rows,
                                                                                      strict=True)]),
        "reordered_sentence_hit@1": round(reordered_hit1(rows, depth), 4),
    }
    return out


def main(argv: Sequence[str] | None = None) -> int:
    from rag.byline import asks_about_article
    from rag.embed.model import SentenceTransformerEmbedder

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--benchmarks", nargs="+", default=["squad-dev", "news-rtqa"],
                    help="benchmarks of ../shared/benchmarks, or seed (all its answerable questions but those the "
                         "byline answers: the reader never trains on it)")
    ap.add_argument("--depth", type=int, default=6, help="candidate sentences read per question")
    ap.add_argument("--limit", type=int, default=None, help="first N held-out questions of each (a quick run)")
    ap.add_argument("--out", type=Path, default=None, help="also write the figures and rows here (JSON)")
    args = ap.parse_args(argv)
    embedder = SentenceTransformerEmbedder()
    index_of, gold = answer_data.load_sets(embedder, tuple(b for b in args.benchmarks if b != "seed"))
    threshold = load_params().threshold
    report: dict[str, object] = {"depth": args.depth, "threshold": threshold}
    for name in args.benchmarks:
        asked = ([q for q in gold[name] if q.answerable and asks_about_article(q.question) is None]
                 if name == "seed" else held_out(name, gold[name]))
        rows = collect(index_of[name], asked[:args.limit], embedder, benchmark=name, depth=args.depth)
        figures = summarize(rows, threshold=threshold, depth=args.depth)
        print(f"\n{name} ({'all' if name == 'seed' else f'fold {HELD_OUT}'}, {len(rows)} answerable questions)")
        for key, value in figures.items():
            print(f"  {key:28s} {value:8.4f}")
        report[name] = {"figures": figures, "rows": [asdict(q) for q in rows]}
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
