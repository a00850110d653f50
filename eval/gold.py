"""Gold questions, read exactly as ../shared/GOLD_FORMAT.md lays them out, with every evidence item resolved
to character spans of the corpus. A line that cannot be resolved is an error naming the file and line."""

from __future__ import annotations

import json
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rag.errors import GoldFormatError
from rag.records import Document


@dataclass(frozen=True, slots=True)
class Evidence:
    """A gold span. `whole_doc` evidence is hit by any passage of the document that contains an answer.

    `item` is the position of the evidence item in the gold line that the span came from: a plain quote found
    several times in the corpus gives one span per occurrence, all with the same `item`, and evidence recall
    counts items, not occurrences.
    """

    doc_id: str
    start: int
    end: int
    whole_doc: bool = False
    item: int = 0


@dataclass(frozen=True, slots=True)
class GoldQuestion:
    id: str
    question: str
    answers: tuple[str, ...]
    evidence: tuple[Evidence, ...]
    line: int
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


def normalize_answer(text: str) -> str:
    """SQuAD's normalisation: lower-case, drop punctuation and the articles a/an/the, collapse white space."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation) and ch not in "‘’“”")
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def _all_occurrences(text: str, quote: str) -> list[int]:
    found, i = [], text.find(quote)
    while i >= 0:
        found.append(i)
        i = text.find(quote, i + 1)
    return found


def _resolve(item: Any, docs: Mapping[str, Document], where: str, pos: int = 0) -> list[Evidence]:
    return [replace(span, item=pos) for span in _resolve_item(item, docs, where)]


def _resolve_item(item: Any, docs: Mapping[str, Document], where: str) -> list[Evidence]:
    if isinstance(item, str):
        spans = [Evidence(d.id, i, i + len(item))
                 for d in docs.values() for i in _all_occurrences(d.text, item)]
        if not item or not spans:
            raise GoldFormatError(f"{where}: evidence quote not found in the corpus: {item[:80]!r}")
        return spans
    if not isinstance(item, dict) or "doc" not in item:
        raise GoldFormatError(f"{where}: evidence must be a quote string or an object with a 'doc' key")
    doc = docs.get(str(item["doc"]))
    if doc is None:
        raise GoldFormatError(f"{where}: evidence names unknown document {item['doc']!r}")
    quote = item.get("quote")
    if quote is None:
        return [Evidence(doc.id, 0, len(doc.text), whole_doc=True)]
    if not isinstance(quote, str) or not quote:
        raise GoldFormatError(f"{where}: evidence 'quote' must be a non-empty string")
    if "start" in item or "end" in item:
        try:
            s, e = int(item["start"]), int(item["end"])
        except (KeyError, TypeError, ValueError):
            raise GoldFormatError(f"{where}: evidence needs both integer 'start' and 'end'") from None
        if doc.text[s:e] != quote:
            raise GoldFormatError(
                f"{where}: {doc.id}[{s}:{e}] is {doc.text[s:e][:60]!r}, not the quote {quote[:60]!r}")
        return [Evidence(doc.id, s, e)]
    spans = [Evidence(doc.id, i, i + len(quote)) for i in _all_occurrences(doc.text, quote)]
    if not spans:
        raise GoldFormatError(f"{where}: quote not found in document {doc.id!r}: {quote[:80]!r}")
    return spans


def load_gold(path: str | Path, documents: Mapping[str, Document]) -> list[GoldQuestion]:
    """Every question of a gold.jsonl file, its evidence resolved against `documents` (id -> Document)."""
    path = Path(path)
    out: list[GoldQuestion] = []
    seen: set[str] = set()
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except OSError as exc:
        raise GoldFormatError(f"cannot read gold file {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise GoldFormatError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason})") from exc
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise GoldFormatError(f"{where}: not valid JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise GoldFormatError(f"{where}: a line must be a JSON object")
        missing = [k for k in ("id", "question", "answers", "evidence") if k not in row]
        if missing:
            raise GoldFormatError(f"{where}: missing key(s) {', '.join(missing)}")
        qid = str(row.pop("id"))
        if qid in seen:
            raise GoldFormatError(f"{where}: duplicate id {qid!r}")
        seen.add(qid)
        answers, evidence = row.pop("answers"), row.pop("evidence")
        if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
            raise GoldFormatError(f"{where}: 'answers' must be a list of strings")
        if not isinstance(evidence, list):
            raise GoldFormatError(f"{where}: 'evidence' must be a list")
        question = row.pop("question")
        if not isinstance(question, str) or not question.strip():
            raise GoldFormatError(f"{where}: 'question' must be a non-empty string")
        spans = tuple(span for pos, item in enumerate(evidence)
                      for span in _resolve(item, documents, where, pos))
        out.append(GoldQuestion(qid, question, tuple(answers), spans, lineno, row))
    return out


def overlaps(doc_id: str, start: int, end: int, ev: Evidence, text: str | None = None,
             answers: tuple[str, ...] = ()) -> bool:
    """Whether a passage or citation span hits `ev`: same document and overlapping ranges; for whole-document
    evidence, the span's text (given) must contain one of the answers."""
    if doc_id != ev.doc_id:
        return False
    if ev.whole_doc:
        norm = normalize_answer(text or "")
        return any(normalize_answer(a) and normalize_answer(a) in norm for a in answers)
    return start < ev.end and ev.start < end
