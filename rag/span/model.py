"""The short answer in a sentence: by the reader (`rag.span.reader`, the default) or by the span ranker.

The span ranker, kept for comparison (`model=load_span_model()`): `span_model.json` (written by
`eval/train_span.py`, with `span_model.meta.json` beside it recording the data it saw, its settings and its
held-out figures) holds LightGBM lambdarank trees that numpy evaluates (`rag.rank.trees`) and the score below
which a sentence's best phrase is not offered as the short answer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import RagError
from rag.rank.query import question_type
from rag.rank.trees import Trees
from rag.span.features import FEATURES, TITLES, another_countrys_office, sentence_phrases
from rag.span.phrases import abbreviates, is_month, phrases, tokens
from rag.span.reader import Reader, load_reader
from rag.text.terms import terms

MODEL_FILE = Path(__file__).with_name("span_model.json")
META_FILE = Path(__file__).with_name("span_model.meta.json")
# "Why" and "how" (not "how many") questions ask for an explanation, not a phrase.
_EXPLAIN = re.compile(r"\bwhy\b|\bhow\b(?!\s+(?:many|much|long|old|far|big|large|often))", re.I)
_WHERE = re.compile(r"\bwhere\b", re.I)
# A number's compound: "-megawatt", "-year-old", "-year old" (group 2: an age).
_COMPOUND = re.compile(r"-([A-Za-z]+)((?:-|\s)old\b)?")
_AGE = re.compile(r"\bhow old\b|\bage[ds]?\b", re.I)


class SpanModelError(RagError):
    """The span model file is missing, damaged or was fitted on other features."""


@dataclass(frozen=True, slots=True)
class ShortAnswer:
    """The short answer: its offsets inside the sentence it was found in, its text, the ranker's score and the
    kind of phrase it is ("quote", "date", "number", "name" or "words")."""

    start: int
    end: int
    text: str
    score: float
    kind: str


@dataclass(frozen=True, slots=True)
class SpanModel:
    trees: Trees
    threshold: float  # the best phrase is offered only when it scores at least this
    names: tuple[str, ...] = FEATURES

    def scores(self, matrix: np.ndarray) -> np.ndarray:
        return self.trees.predict(matrix) if len(matrix) else np.zeros(0)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "lightgbm-lambdarank", "features": list(self.names), "threshold": self.threshold,
                "trees": self.trees.to_dict()}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> SpanModel:
        names = tuple(raw.get("features", ()))
        if names != FEATURES:
            raise SpanModelError(f"the span model was fitted on features {list(names)}, not {list(FEATURES)}: "
                                 "refit it with `python eval/train_span.py`")
        return cls(Trees.from_dict(raw["trees"]), float(raw["threshold"]), names)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), separators=(",", ":")) + "\n", encoding="utf-8")


@cache
def load_span_model(path: Path = MODEL_FILE) -> SpanModel:
    """The committed span model (cached); SpanModelError when it is missing or unreadable."""
    try:
        return SpanModel.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SpanModelError(f"cannot read the span model {path}: {exc}") from exc


def without_titles(text: str) -> tuple[int, int]:
    """The offsets of a name without the words of office before it ("Defense Minister Murhaf Abu Qasra" ->
    "Murhaf Abu Qasra"): a "who" answer is the person; the title stays in the sentence cited beside it."""
    toks = tokens(text)
    first = 0
    while first < len(toks) - 1 and toks[first].text.lower() in TITLES:
        first += 1
    return (toks[first].start, toks[-1].end) if toks else (0, len(text))


def short_answer(question: str, sentence: str, *, model: SpanModel | Reader | None = None,
                 threshold: bool = True) -> ShortAnswer | None:
    """The phrase of `sentence` that answers `question`, or None: for a "why"/"how" question, when no phrase
    is new to the question, or (with `threshold`) when the best one scores below the model's threshold."""
    ranked = short_answers(question, sentence, model=model, threshold=threshold, limit=1)
    return ranked[0] if ranked else None


def short_answers(question: str, sentence: str, *, model: SpanModel | Reader | None = None, threshold: bool = True,
                  limit: int | None = None) -> list[ShortAnswer]:
    """The phrases of `sentence` that may answer `question`, best first (at most `limit`; with `threshold`,
    only those scoring at least the model's threshold). Empty for a "why"/"how" question, or when no phrase is
    new to the question. `model`: the reader (`rag.span.reader`, the default) or the span ranker's trees."""
    if _EXPLAIN.search(question):
        return []
    model = model or load_reader()
    if isinstance(model, Reader):
        return _by_reader(model, question, sentence, threshold=threshold, limit=limit)
    found = sentence_phrases(question, sentence)
    if not found.phrases:
        return []
    scores = model.scores(found.matrix)
    out = []
    for i in np.argsort(-scores, kind="stable")[:limit]:
        if threshold and scores[i] < model.threshold:
            break
        start, end = found.span(int(i))
        if found.phrases[i].kind == "name":
            a, b = without_titles(sentence[start:end])
            start, end = start + a, start + b
        out.append(ShortAnswer(start, end, sentence[start:end], float(scores[i]), found.phrases[i].kind))
    return out


def explains(question: str) -> bool:
    """Whether `question` asks for an explanation ("why", "how" but not "how many"): no phrase answers it."""
    return bool(_EXPLAIN.search(question))


def offer_threshold(model: SpanModel | Reader | None = None) -> float:
    """The score at which `model` (default: the reader) offers its best span as the short answer."""
    return (model or load_reader()).threshold


def prefetch(question: str, sentences: Sequence[str]) -> None:
    """Read `sentences` for `question` with the default reader at once, for the `short_answer`s that follow."""
    if sentences and not _EXPLAIN.search(question):
        load_reader().prefetch(question, sentences)


def phrase_kind(text: str) -> str:
    """The kind of phrase `text` is as a whole ("date", "number", "name", "quote"), else "words"."""
    toks = [t for t in tokens(text) if t.text[:1].isalnum() or t.text in "$£€%,"]  # the comma of "April 1, 1999"
    if not toks:
        return "words"
    whole = [p.kind for p in phrases(toks) if p.first == 0 and p.last == len(toks) - 1]
    return whole[0] if whole else "words"


def counts_another_thing(question: str, sentence: str, end: int) -> bool:
    """Whether the number ending at `end` of `sentence` is the first part of a compound counting something the
    question does not ask about: "a 300-megawatt solar farm" does not say how many homes it will power; "a
    33-yard field goal" says how many yards, "a 101-year-old man" how old he is."""
    if not sentence[end - 1:end].isdigit() or not (m := _COMPOUND.match(sentence, end)):
        return False
    if set(terms(m.group(1))) & set(terms(question)):
        return False
    return not (m.group(2) and _AGE.search(question))


def _by_reader(reader: Reader, question: str, sentence: str, *, threshold: bool,
               limit: int | None) -> list[ShortAnswer]:
    """`short_answers` by the reader: its best spans that say something the question does not."""
    asked = set(terms(question))
    counting = question_type(question) == "number"  # how long, how many, how much, how old, how far
    counting_or_place = counting or bool(_WHERE.search(question))  # a day of the calendar answers none of them
    out = []
    for span in reader.spans(question, sentence, limit=max(limit or 5, 5)):
        if threshold and span.score < reader.threshold:
            break
        said = set(terms(span.text))
        # a span must say something the question does not: not its words, nor their initials ("HTS" for "Who
        # leads Hayat Tahrir al-Sham?")
        if (not said or said <= asked or abbreviates(span.text, question)
                or another_countrys_office(question, sentence, span.start, span.end)):
            continue
        start, end, kind = span.start, span.end, phrase_kind(span.text)
        if counting_or_place and kind in ("date", "words") and any(
                t.text[:1].isupper() and is_month(t.text) for t in tokens(span.text)):
            # a day or month of the calendar ("Aug. 13", "November 2013") never says how long, how many, how
            # much or where, with or without its "on"; a bare year may say how long ("since 1979", and "2000"
            # guests reads as a year)
            continue
        if counting and counts_another_thing(question, sentence, span.end):
            continue
        if kind == "name":
            a, b = without_titles(span.text)
            start, end = start + a, start + b
        out.append(ShortAnswer(start, end, sentence[start:end], span.score, kind))
        if limit is not None and len(out) >= limit:
            break
    return out
