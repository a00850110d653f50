"""Train and measure the question encoder's adapters (rag.embed.query): LoRA on all-MiniLM-L6-v2, questions only.

    python -m eval.train_query [--write] [--epochs 2] [--limit N]

Each answerable question of squad-dev and news-rtqa is paired with the sentences of its evidence (the index's
sentence vectors, as the harness builds the index: the base model's, fixed; nothing is re-embedded). A question's
vector is pulled towards its evidence sentence and away from the other questions' evidence sentences in its batch
and from 15 hard negatives: sentences the base model ranks near the top for it that hold none of its gold answers
(contrastive loss, temperature 0.05, as sentence-transformers' MultipleNegativesRankingLoss). Questions are split
into the reader's 5 folds (squad-dev by article, news-rtqa by ISO week); fold 0 is never trained on, and the
held-out figures are taken on it through the committed numpy path (`rag.embed.query.QueryEncoder`) reading the
written file: the rank of the evidence sentence among every sentence of the benchmark, base against adapted.
The seed gold set and news-archive are not used.

torch is needed (a dependency of sentence-transformers); training runs on the CPU, 2 threads, seeded. With
--write the adapters go to rag/embed/query.npz (float16, about 0.6 MB) and query.meta.json (data fingerprints,
settings, held-out figures, times). The settings are sentence-transformers' usual ones for this loss (rank 8,
learning rate 5e-4, batch 32, 2 epochs), fixed before the first run and not tuned on fold 0.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag.embed.adapters import write
from rag.embed.model import SentenceTransformerEmbedder
from rag.embed.numpy_bert import NumpyBert
from rag.embed.query import META_FILE, WEIGHTS_FILE, QueryEncoder
from rag.index.index import Index
from rag.span.reader import base_folder

from .lora import FOLDS, HELD_OUT, adapted_base, adapter_arrays, fit, write_meta
from .ranker_data import assign_folds, group_of, open_benchmark

BENCHMARKS = ("squad-dev", "news-rtqa")
SETTINGS: dict[str, Any] = {"rank": 8, "alpha": 16, "lr": 5e-4, "weight_decay": 0.01, "batch": 32, "warmup_steps": 30,
                            "temperature": 0.05, "hard_negatives": 15, "hard_pool": 30, "max_length": 64, "seed": 0,
                            "threads": 2}


@dataclass(frozen=True, slots=True)
class Example:
    """A question, its fold, and rows of its benchmark's sentence vectors: its evidence and hard negatives."""

    benchmark: str
    fold: int
    question: str
    positives: tuple[int, ...]
    negatives: tuple[int, ...]


def examples(name: str, index: Index, questions: Sequence[Any], base: NumpyBert) -> list[Example]:
    """The benchmark's examples, each answerable question with sentence rows holding its evidence."""
    keys = index.sentence_keys
    vectors = np.asarray(index.sentence_vectors, dtype=np.float32)
    by_doc: dict[str, list[tuple[int, int, int]]] = {}
    for row, (doc, start, end) in enumerate(keys):
        by_doc.setdefault(doc, []).append((row, start, end))
    qs = [q for q in questions if q.answerable and q.evidence]
    folds = assign_folds([group_of(name, q) for q in qs], FOLDS)
    qvecs = QueryEncoder(base).encode([q.question for q in qs])
    texts: dict[str, str] = {}
    out = []
    for q, fold, qv in zip(qs, folds, qvecs, strict=True):
        pos = sorted({row for ev in q.evidence for row, s, e in by_doc.get(ev.doc_id, [])
                      if s < ev.end and ev.start < e})
        if not pos:
            continue
        scores = vectors @ qv
        top = np.argpartition(-scores, 2 * SETTINGS["hard_pool"])[: 2 * SETTINGS["hard_pool"]]
        negatives = []
        for row in top[np.argsort(-scores[top])]:
            doc, s, e = keys[int(row)]
            if int(row) in pos:
                continue
            text = texts.setdefault(doc, index.documents[doc].text)[s:e].lower()
            if not any(a and a.lower() in text for a in q.answers):  # a sentence that also answers is no negative
                negatives.append(int(row))
        out.append(Example(name, int(fold), q.question, tuple(pos), tuple(negatives[: SETTINGS["hard_pool"]])))
    return out


def train(data: Sequence[Example], vectors: dict[str, np.ndarray], epochs: float, *, base: Path | None = None,
          settings: dict[str, Any] = SETTINGS) -> tuple[dict[str, np.ndarray], float]:
    """LoRA adapters over the model at `base` (default: `base_folder()`) fitted on `data` against the fixed
    sentence `vectors` of each benchmark; returns the arrays to save and the training seconds."""
    import torch

    tok, model, adapted, rng = adapted_base(settings, base)
    table = {name: torch.from_numpy(v) for name, v in vectors.items()}

    def loss_of(batch: list[Example]) -> Any:
        enc = tok([b.question for b in batch], padding=True, truncation=True, max_length=settings["max_length"],
                  return_tensors="pt")
        hidden = model(**enc).last_hidden_state
        mask = enc["attention_mask"].unsqueeze(-1).float()
        q = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
        positives = torch.stack([table[b.benchmark][rng.choice(b.positives)] for b in batch])
        in_batch = q @ positives.T  # row i: its own evidence at i, the other questions' beside it
        losses = []
        for i, b in enumerate(batch):
            hard = rng.sample(b.negatives, min(settings["hard_negatives"], len(b.negatives)))
            own = table[b.benchmark][hard] @ q[i] if hard else q.new_zeros(0)
            logits = torch.cat([in_batch[i, i:i + 1], own, in_batch[i, :i], in_batch[i, i + 1:]])
            logits = logits / settings["temperature"]
            losses.append(torch.nn.functional.cross_entropy(logits[None], torch.zeros(1, dtype=torch.long)))
        return torch.stack(losses).mean()

    params = [p for p in model.parameters() if p.requires_grad]
    train_s = fit(model, params, data, epochs, settings, rng, loss_of, report_every=50)
    return adapter_arrays(adapted), train_s


def save(path: Path, arrays: dict[str, np.ndarray], *, base: Path | None = None,
         settings: dict[str, Any] = SETTINGS) -> None:
    """The adapters as `rag.embed.query.QueryEncoder.load` reads them, tied to the base model's checksum."""
    write(path, arrays, folder=base or base_folder(), scale=settings["alpha"] / settings["rank"],
          rank=settings["rank"])


def ranks(encoder: QueryEncoder, test: Sequence[Example], vectors: np.ndarray) -> dict[str, float]:
    """Where each held-out question's best evidence sentence ranks among all the benchmark's sentences."""
    qvecs = encoder.encode([ex.question for ex in test])
    found = []
    for ex, qv in zip(test, qvecs, strict=True):
        scores = vectors @ qv
        found.append(int((scores > scores[list(ex.positives)].max()).sum()) + 1)
    r = np.array(found)
    return {"questions": len(r), "hit@1": round(float((r <= 1).mean()), 4), "hit@5": round(float((r <= 5).mean()), 4),
            "hit@20": round(float((r <= 20).mean()), 4),
            "mrr@10": round(float(np.where(r <= 10, 1.0 / r, 0.0).mean()), 4)}


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=float, default=2.0)
    ap.add_argument("--limit", type=int, default=None, help="first N questions of each benchmark (a quick run)")
    ap.add_argument("--write", action="store_true", help=f"write {WEIGHTS_FILE.name} and {META_FILE.name}")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    base = NumpyBert.from_folder(base_folder())
    assert base is not None
    embedder = SentenceTransformerEmbedder(query_adapter=False)
    data: dict[str, list[Example]] = {}
    vectors: dict[str, np.ndarray] = {}
    for name in BENCHMARKS:
        index, questions, _ = open_benchmark(name, embedder)
        vectors[name] = np.asarray(index.sentence_vectors, dtype=np.float32)
        data[name] = examples(name, index, questions[: args.limit], base)
    train_on = [ex for ds in data.values() for ex in ds if ex.fold != HELD_OUT]
    held_out = sum(len(d) for d in data.values()) - len(train_on)
    print(f"questions: {len(train_on)} to train on, {held_out} held out", flush=True)
    arrays, train_s = train(train_on, vectors, args.epochs)
    with tempfile.TemporaryDirectory() as tmp:
        path = WEIGHTS_FILE if args.write else Path(tmp) / WEIGHTS_FILE.name
        save(path, arrays)
        tuned = QueryEncoder.load(base_folder(), path)
        table = {name: {"base": ranks(QueryEncoder(base), [ex for ex in ds if ex.fold == HELD_OUT], vectors[name]),
                        "adapted": ranks(tuned, [ex for ex in ds if ex.fold == HELD_OUT], vectors[name])}
                 for name, ds in data.items()}
    print(json.dumps(table, indent=1), flush=True)
    write_meta(WEIGHTS_FILE, META_FILE, data, settings=SETTINGS, epochs=args.epochs, limit=args.limit, table=table,
               train_s=train_s, t0=t0, write=args.write)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
