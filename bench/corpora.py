"""The corpora the bench measures on, their gold questions, and the real texts behind the scale points.

Scale points are never random vectors (approximate indexes behave very differently on them): `scale_texts`
lists real, distinct texts cut from the two benchmark corpora, in a fixed order — the engine's own passages,
then their sentences, then overlapping word windows of the documents — and they are embedded with the real
model (bench/search.py caches the vectors under bench/out/cache/).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path

from rag.text.chunk import TokenCounter

from .measure import ROOT, SHARED

WINDOW_WORDS = 16  # about one news sentence
WINDOW_STRIDE = 3  # words between window starts: neighbours share most words, as near-duplicate news does


@dataclass(frozen=True, slots=True)
class Corpus:
    name: str
    paths: tuple[Path, ...]
    gold: Path


def corpora() -> dict[str, Corpus]:
    bench = SHARED / "benchmarks"
    return {
        "seed": Corpus("seed", (ROOT / "seeds",), ROOT / "eval" / "gold" / "seed.jsonl"),
        "squad-dev": Corpus("squad-dev", (bench / "squad-dev" / "corpus.jsonl",), bench / "squad-dev" / "gold.jsonl"),
        "news-rtqa": Corpus("news-rtqa", (bench / "news-rtqa" / "corpus.jsonl",), bench / "news-rtqa" / "gold.jsonl"),
    }


def gold_questions(corpus: Corpus, *, limit: int | None, seed: int = 7) -> list[tuple[str, object]]:
    """(question text, GoldQuestion) of the answerable gold questions, a fixed random sample of `limit`."""
    from eval.gold import load_gold
    from rag.ingest.corpus import load_corpus

    docs = load_corpus(list(corpus.paths)).documents
    questions = [q for q in load_gold(corpus.gold, {d.id: d for d in docs}) if q.answerable]
    if limit is not None and len(questions) > limit:
        questions = random.Random(seed).sample(questions, limit)
    return [(q.question, q) for q in questions]


def query_texts(limit: int, *, seed: int = 11) -> list[str]:
    """Real user questions for searching the scale points: gold questions of both benchmarks, none of which
    is among the indexed texts."""
    import json

    qs: list[str] = []
    for name in ("squad-dev", "news-rtqa"):
        with (SHARED / "benchmarks" / name / "gold.jsonl").open(encoding="utf-8") as fh:
            qs.extend(json.loads(line)["question"] for line in fh if line.strip())
    qs = list(dict.fromkeys(qs))
    return random.Random(seed).sample(qs, min(limit, len(qs)))


def scale_texts(limit: int, *, count_tokens: TokenCounter, max_tokens: int = 128) -> list[str]:
    """Up to `limit` distinct real texts from squad-dev and news-rtqa: the passages the engine makes (with
    `count_tokens`, `max_tokens`), their sentences, then word windows."""
    from rag.ingest.corpus import load_corpus
    from rag.text.chunk import chunk_document

    paths = [c.paths[0] for n, c in corpora().items() if n != "seed"]
    docs = load_corpus(paths).documents
    seen: dict[str, None] = {}
    sentences: list[str] = []
    for doc in docs:
        for p in chunk_document(doc, count_tokens=count_tokens, max_tokens=max_tokens, overlap=1):
            seen.setdefault(p.text, None)
            sentences.extend(doc.text[s:e] for s, e in p.sentences)
    for s in sentences:
        seen.setdefault(s, None)
    # Interleave the documents' windows so that any prefix of the list spans both corpora.
    windows: list[list[str]] = []
    for doc in docs:
        words = re.findall(r"\S+", doc.text)
        stop = max(1, len(words) - WINDOW_WORDS + 1)
        windows.append([" ".join(words[i:i + WINDOW_WORDS]) for i in range(0, stop, WINDOW_STRIDE)])
    depth = max((len(w) for w in windows), default=0)
    for i in range(depth):
        for w in windows:
            if i < len(w):
                seen.setdefault(w[i], None)
        if len(seen) >= limit:
            break
    return list(seen)[:limit]
