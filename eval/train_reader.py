"""Train and measure the reader: LoRA adapters and a start/end head over all-MiniLM-L6-v2 (rag.span.reader).

    python -m eval.train_reader [--write] [--epochs 3] [--limit N]

Examples: every answerable question of squad-dev and news-rtqa whose evidence lies inside one sentence and whose
gold answer is written in it, read as (question, that sentence) with the answer's tokens as the target; for
news-archive, whose evidence is whole articles, the sentence of those articles that writes a gold answer (as whole
words) and shares the most terms with the question, at least MIN_SHARED (`answer_sentence`); and, for about half of
them, another sentence of the same article that holds no gold answer, with [CLS] as the target (the head's "no
answer here", which the answerer's wrong sentences need). Questions are split into 5 folds as for the reranker
(squad-dev by article, the dated benchmarks by ISO week); fold 0 is never trained on: the held-out figures below
are taken on it, through the committed numpy path (`rag.span.reader.Reader`) reading the written file, beside the
span ranker's (`rag.span.model`) on the same sentences. The seed gold set is not used at all.
The threshold (the lowest score at which offered short answers are right, F1 >= 0.5, at least half the time over
the 200 nearest held-out scores, negatives counting as wrong) is chosen on fold 0 too.

torch is needed (a dependency of sentence-transformers); training runs on the CPU, 2 threads, seeded. With
--write the adapters and head go to rag/span/reader.npz (float16 adapters, about 1.3 MB) and reader.meta.json
(data fingerprints, settings, held-out figures, times). Settings are fixed below, chosen on a 1-epoch trial on
fold 0 before the final run.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag.embed.adapters import write
from rag.ingest.corpus import load_corpus
from rag.records import Document
from rag.span.model import load_span_model, short_answer
from rag.span.reader import META_FILE, WEIGHTS_FILE, Reader, base_folder
from rag.text.sentences import split_sentences
from rag.text.terms import terms

from .gold import Evidence, GoldQuestion, load_gold
from .lora import FOLDS, HELD_OUT, adapted_base, adapter_arrays, fit, write_meta
from .metrics import squad_em, squad_f1
from .ranker_data import BENCH, assign_folds, evidence_sentence, group_of

BENCHMARKS = ("squad-dev", "news-rtqa", "news-archive")
SETTINGS: dict[str, Any] = {"rank": 16, "alpha": 32, "lr": 1e-3, "weight_decay": 0.01, "batch": 16,
                            "warmup_steps": 50, "max_length": 128, "negatives": 0.5, "seed": 0, "threads": 2}
MIN_PRECISION = 0.5
MIN_SHARED = 2  # question terms an archive sentence holding the answer must share to be taken as its evidence


@dataclass(frozen=True, slots=True)
class Example:
    """A question and a sentence; `answer` is the gold answer's character span in it, None for a negative."""

    benchmark: str
    fold: int
    question: str
    sentence: str
    answer: tuple[int, int] | None
    answers: tuple[str, ...]


def _locate(sentence: str, offset: int, q: GoldQuestion, ev_start: int, ev_end: int) -> tuple[int, int] | None:
    """The gold answer inside the sentence: the occurrence overlapping the evidence span, else the first."""
    first = None
    for a in q.answers:
        i = sentence.find(a) if a else -1
        while i >= 0:
            first = first or (i, i + len(a))
            if offset + i < ev_end and ev_start < offset + i + len(a):
                return i, i + len(a)
            i = sentence.find(a, i + 1)
    return first


def examples(name: str, limit: int | None, rng: random.Random) -> list[Example]:
    """The benchmark's positive and negative examples, each with its question's fold."""
    docs = {d.id: d for d in load_corpus([BENCH / name / "corpus.jsonl"]).documents}
    questions = [q for q in load_gold(BENCH / name / "gold.jsonl", docs) if q.answerable][:limit]
    folds = assign_folds([group_of(name, q) for q in questions], FOLDS)
    out: list[Example] = []
    sentences: dict[str, list[tuple[int, int]]] = {}
    for q, fold in zip(questions, folds, strict=True):
        if (found_in := evidence_sentence(q, docs, sentences) or answer_sentence(q, docs, sentences)) is None:
            continue
        ev, start, end = found_in
        text = docs[ev.doc_id].text
        sentence = text[start:end]
        loc = _locate(sentence, start, q, ev.start, ev.end)
        if loc is None:
            continue
        out.append(Example(name, int(fold), q.question, sentence, loc, q.answers))
        others = [text[s:e] for s, e in sentences[ev.doc_id]
                  if (s, e) != (start, end) and not any(a and a in text[s:e] for a in q.answers)]
        if others and rng.random() < SETTINGS["negatives"]:
            out.append(Example(name, int(fold), q.question, rng.choice(others), None, q.answers))
    return out


def answer_sentence(q: GoldQuestion, docs: Mapping[str, Document], sentences: dict[str, list[tuple[int, int]]]
                    ) -> tuple[Evidence, int, int] | None:
    """For a question whose evidence is whole articles (news-archive): the sentence of those articles that writes
    a gold answer and shares the most terms with the question, at least MIN_SHARED (distant supervision: the
    answer written beside the question's own words); None when no sentence does."""
    asked = set(terms(q.question))
    written = re.compile("|".join(rf"(?<!\w){re.escape(a)}(?!\w)" for a in q.answers if a))  # "6", not "11.6"
    best: tuple[int, Evidence, int, int] | None = None
    for doc_id in dict.fromkeys(e.doc_id for e in q.evidence if e.whole_doc):
        text = docs[doc_id].text
        if doc_id not in sentences:
            sentences[doc_id] = split_sentences(text)
        for s, e in sentences[doc_id]:
            if (m := written.search(text, s, e)) is not None:
                shared = len(asked & set(terms(text[s:e])))
                if shared >= MIN_SHARED and (best is None or shared > best[0]):
                    best = (shared, Evidence(doc_id, m.start(), m.end()), s, e)
    return best[1:] if best else None


def _targets(enc: Any, batch: Sequence[Example]) -> tuple[list[int], list[int]]:
    """Each example's start and end token (0, 0: [CLS], for a negative or an answer cut off by truncation)."""
    starts, ends = [], []
    for i, ex in enumerate(batch):
        st = en = 0
        if ex.answer is not None:
            a, b = ex.answer
            for j, (seq, (o1, o2)) in enumerate(zip(enc.sequence_ids(i), enc["offset_mapping"][i].tolist(),
                                                    strict=True)):
                if seq != 1 or o2 <= o1:
                    continue
                if not st and o2 > a:
                    st = j
                if o1 < b:
                    en = j
            if not st or en < st:
                st = en = 0
        starts.append(st)
        ends.append(en)
    return starts, ends


def train(data: Sequence[Example], epochs: float, *, base: Path | None = None,
          settings: dict[str, Any] = SETTINGS) -> tuple[dict[str, np.ndarray], float]:
    """LoRA adapters and the head over the model at `base` (default: `base_folder()`), fitted on `data`;
    returns the arrays to save and the training seconds."""
    import torch
    from torch import nn

    tok, model, adapted, rng = adapted_base(settings, base)
    head = nn.Linear(model.config.hidden_size, 2)
    loss_fn = nn.CrossEntropyLoss()

    def loss_of(batch: list[Example]) -> Any:
        enc = tok([b.question for b in batch], [b.sentence for b in batch], truncation="only_second",
                  max_length=settings["max_length"], padding=True, return_offsets_mapping=True,
                  return_tensors="pt")
        starts, ends = _targets(enc, batch)
        hidden = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                       token_type_ids=enc["token_type_ids"]).last_hidden_state
        logits = head(hidden).masked_fill((enc["attention_mask"] == 0)[..., None], -1e4)
        return (loss_fn(logits[..., 0], torch.tensor(starts)) + loss_fn(logits[..., 1], torch.tensor(ends))) / 2

    params = [p for p in model.parameters() if p.requires_grad] + list(head.parameters())
    train_s = fit(model, params, data, epochs, settings, rng, loss_of, report_every=100)
    arrays = adapter_arrays(adapted)
    arrays["head.weight"] = head.weight.detach().numpy().astype(np.float32)
    arrays["head.bias"] = head.bias.detach().numpy().astype(np.float32)
    return arrays, train_s


def save(path: Path, arrays: dict[str, np.ndarray], threshold: float, *, base: Path | None = None,
         settings: dict[str, Any] = SETTINGS) -> None:
    """The adapters and head as `rag.span.reader.Reader.load` reads them, tied to the base model's checksum."""
    write(path, arrays, folder=base or base_folder(), scale=settings["alpha"] / settings["rank"],
          rank=settings["rank"], threshold=threshold)


def choose_threshold(scored: Sequence[tuple[float, bool]]) -> float:
    """The lowest score at which offered answers are right at least MIN_PRECISION of the time (200-window)."""
    pairs = sorted(scored)
    right = np.array([r for _, r in pairs], dtype=np.float64)
    window = np.convolve(right, np.ones(200) / 200, mode="same")
    above = np.flatnonzero(window >= MIN_PRECISION)
    return float(pairs[above[0]][0]) if len(above) else float(pairs[-1][0])


def held_out(reader: Reader, test: Sequence[Example]) -> dict[str, Any]:
    """Fold 0 through the numpy reader and through the span ranker, per benchmark; and the threshold."""
    ranker = load_span_model()
    rows: dict[str, list[tuple[Example, str, float, str]]] = {}
    for ex in test:
        spans = reader.spans(ex.question, ex.sentence, limit=1)
        top = spans[0] if spans else None
        old = short_answer(ex.question, ex.sentence, model=ranker, threshold=False)
        rows.setdefault(ex.benchmark, []).append(
            (ex, top.text if top else "", top.score if top else float("-inf"), old.text if old else ""))
    scored = [(s, ex.answer is not None and squad_f1(t, ex.answers) >= 0.5)
              for r in rows.values() for ex, t, s, _ in r if t]
    threshold = choose_threshold(scored)
    table: dict[str, Any] = {"threshold": threshold}
    for name, r in rows.items():
        pos = [x for x in r if x[0].answer is not None]
        neg = [x for x in r if x[0].answer is None]
        n = max(len(pos), 1)
        offered = [(ex, t) for ex, t, s, _ in pos if t and s >= threshold]
        table[name] = {
            "questions": len(pos),
            "reader_em": round(sum(squad_em(t, ex.answers) for ex, t, _, _ in pos) / n, 4),
            "reader_f1": round(sum(squad_f1(t, ex.answers) for ex, t, _, _ in pos) / n, 4),
            "span_ranker_em": round(sum(squad_em(o, ex.answers) for ex, _, _, o in pos) / n, 4),
            "span_ranker_f1": round(sum(squad_f1(o, ex.answers) for ex, _, _, o in pos) / n, 4),
            "offered": round(len(offered) / n, 4),
            "f1_offered": round(sum(squad_f1(t, ex.answers) for ex, t in offered) / max(len(offered), 1), 4),
            "negatives": len(neg),
            "negatives_offered": round(sum(s >= threshold for _, t, s, _ in neg if t) / max(len(neg), 1), 4),
        }
    return table


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=float, default=3.0)
    ap.add_argument("--limit", type=int, default=None, help="first N questions of each benchmark (a quick run)")
    ap.add_argument("--write", action="store_true", help=f"write {WEIGHTS_FILE.name} and {META_FILE.name}")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    rng = random.Random(SETTINGS["seed"])
    data = {n: examples(n, args.limit, rng) for n in BENCHMARKS}
    train_on = [ex for ds in data.values() for ex in ds if ex.fold != HELD_OUT]
    test = [ex for ds in data.values() for ex in ds if ex.fold == HELD_OUT]
    print(f"examples: {len(train_on)} to train on, {len(test)} held out (fold {HELD_OUT})", flush=True)
    arrays, train_s = train(train_on, args.epochs)
    with tempfile.TemporaryDirectory() as tmp:
        path = WEIGHTS_FILE if args.write else Path(tmp) / WEIGHTS_FILE.name
        save(path, arrays, 0.0)
        table = held_out(Reader.load(path), test)
        save(path, arrays, table["threshold"])
    print(json.dumps(table, indent=1), flush=True)
    write_meta(WEIGHTS_FILE, META_FILE, data, settings=SETTINGS, epochs=args.epochs, limit=args.limit, table=table,
               train_s=train_s, t0=t0, write=args.write)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
