"""Metrics: one gold question and what the engine did with it in, a `QuestionScore` out; many scores in, the
overall figures out. Pure functions over records, so every figure can be checked by hand.

Overlap follows ../shared/GOLD_FORMAT.md (`eval.gold.overlaps`): a passage or citation hits an evidence span
when their character ranges in the same document overlap; whole-document evidence is hit by a span of that
document whose text contains one of the answers.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from rag.records import Answer, Document, Span  # Span: a passage or a citation as a document range

from .gold import Evidence, GoldQuestion, normalize_answer, overlaps
from .records import QuestionScore
from .stats import percentile

MARKER = re.compile(r"\[\d+\]")
# The keys of report.json's "metrics", in the order the issue lists them.
METRIC_KEYS = (
    "hit@1", "hit@5", "hit@10", "mrr@10", "evidence_recall@k", "answer_containment", "span_validity",
    "citation_precision", "citation_recall", "abstain_correct", "abstain_false", "latency_p50_ms",
    "latency_p95_ms", "build_s",
)
RATE_KEYS = frozenset(METRIC_KEYS[:11])


def evidence_items(question: GoldQuestion) -> list[tuple[Evidence, ...]]:
    """The question's evidence grouped by gold item (all occurrences of one quote together); an item that
    resolves to exactly the same spans as an earlier one (SQuAD's annotators often agree) counts once."""
    groups: dict[int, list[Evidence]] = {}
    for ev in question.evidence:
        groups.setdefault(ev.item, []).append(ev)
    seen: set[frozenset[tuple[str, int, int, bool]]] = set()
    out = []
    for spans in groups.values():
        key = frozenset((e.doc_id, e.start, e.end, e.whole_doc) for e in spans)
        if key not in seen:
            seen.add(key)
            out.append(tuple(spans))
    return out


def hits_evidence(question: GoldQuestion, span: Span, evidence: Sequence[Evidence] | None = None) -> bool:
    """Whether `span` overlaps any of `evidence` (default: all the question's evidence)."""
    evs = question.evidence if evidence is None else evidence
    return any(overlaps(span.doc_id, span.start, span.end, ev, span.text, question.answers) for ev in evs)


def evidence_recall(question: GoldQuestion, spans: Sequence[Span]) -> float:
    """Share of the question's evidence items overlapped by at least one of `spans`."""
    items = evidence_items(question)
    if not items:
        return 0.0
    return sum(any(hits_evidence(question, s, item) for s in spans) for item in items) / len(items)


def contains_answer(text: str, answers: Sequence[str]) -> bool:
    """A gold answer, normalised, occurs in the normalised text as whole words ("Iraq" is not in "Iraqi").
    Citation markers [1], [2]... are dropped first so that they cannot match a numeric answer."""
    norm = f" {normalize_answer(MARKER.sub(' ', text))} "
    return any(n and f" {n} " in norm for n in (normalize_answer(a) for a in answers))


def squad_em(prediction: str, answers: Sequence[str]) -> float:
    """SQuAD exact match: 1.0 when the normalised prediction equals a normalised gold answer."""
    return float(any(normalize_answer(prediction) == normalize_answer(a) for a in answers))


def squad_f1(prediction: str, answers: Sequence[str]) -> float:
    """SQuAD token F1 against the best-matching gold answer."""
    pred = normalize_answer(prediction).split()
    best = 0.0
    for a in answers:
        gold = normalize_answer(a).split()
        common = sum((Counter(pred) & Counter(gold)).values())
        if common:
            p, r = common / len(pred), common / len(gold)
            best = max(best, 2 * p * r / (p + r))
        elif not pred and not gold:
            best = max(best, 1.0)
    return best


def score_answer(
    question: GoldQuestion,
    answer: Answer,
    documents: dict[str, Document],
    *,
    latency_ms: float,
    k: int,
) -> QuestionScore:
    """Score one `Answer` against its gold question. Citations are checked against `documents` (the corpus as
    read by the harness, not the engine's copy), so an engine bug cannot vouch for itself."""
    passages = [Span(p.passage.doc_id, p.passage.start, p.passage.end, p.passage.text)
                for p in answer.passages[:k]]
    # A passage stands for the wire copies folded into it (rag.copies): the evidence in a copy counts where the
    # passage stands, since the reader is shown that story and told which outlets also carried it.
    copies = [[Span(c.doc_id, c.start, c.end, c.text) for c in getattr(p, "copies", ())]
              for p in answer.passages[:k]]
    cites = [Span(c.doc_id, c.start, c.end, c.quote) for c in answer.citations]
    valid = tuple(c.doc_id in documents and documents[c.doc_id].text[c.start:c.end] == c.quote
                  for c in answer.citations)
    short = getattr(answer, "short_answer", None)
    short = short if isinstance(short, str) and short.strip() else None
    answerable = question.answerable
    return QuestionScore(
        id=question.id,
        answerable=answerable,
        passage_hits=tuple(any(hits_evidence(question, s) for s in (p, *cs))
                           for p, cs in zip(passages, copies, strict=True)),
        evidence_recall=evidence_recall(question, [*passages, *(s for cs in copies for s in cs)]),
        abstained=answer.abstained,
        contained=not answer.abstained and contains_answer(answer.text, question.answers),
        citation_valid=valid,
        citation_hits=tuple(hits_evidence(question, c) for c in cites),
        latency_ms=latency_ms,
        short_answer=short,
        # SQuAD style, over every answerable question: no short answer (or an abstention) scores 0.
        exact_match=squad_em(short or "", question.answers) if answerable else None,
        f1=squad_f1(short or "", question.answers) if answerable else None,
    )


def failed(question: GoldQuestion, error: str) -> QuestionScore:
    """The score of a question whose ask() raised: nothing retrieved, cited or declined."""
    return QuestionScore(question.id, question.answerable, (), 0.0, False, False, (), (), None, error=error)


def _mean(xs: Sequence[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def hit_at(scores: Sequence[QuestionScore], n: int, k: int) -> float | None:
    """Share of the questions with a passage on gold evidence in the top `n`; None when fewer than `n`
    passages were asked for (`k` < n), since a miss there is not measured."""
    if n > k:
        return None
    return _mean([float(any(s.passage_hits[:n])) for s in scores])


def mrr(scores: Sequence[QuestionScore], n: int, k: int) -> float | None:
    """Mean reciprocal rank of the first passage on gold evidence within the top `n` (0 when none)."""
    if n > k:
        return None
    return _mean([1.0 / s.first_hit if s.first_hit and s.first_hit <= n else 0.0 for s in scores])


def retrieval_figures(scores: Sequence[QuestionScore], *, k: int) -> dict[str, float | None]:
    """hit@1/5/10, mrr@10 and evidence_recall@k over the answerable questions among `scores`."""
    ans = [s for s in scores if s.answerable]
    return {
        "hit@1": hit_at(ans, 1, k),
        "hit@5": hit_at(ans, 5, k),
        "hit@10": hit_at(ans, 10, k),
        "mrr@10": mrr(ans, 10, k),
        "evidence_recall@k": _mean([s.evidence_recall for s in ans]),
    }


def summarize(scores: Sequence[QuestionScore], *, k: int, build_s: float) -> dict[str, float | None]:
    """The overall figures, keyed as report.json's "metrics".

    Retrieval, answer and citation figures are over the answerable questions; `abstain_correct` is over the
    unanswerable ones and `abstain_false` over the answerable ones. Span validity and citation precision pool
    the citations of all answerable questions. A figure with nothing to measure is None. Latency is over every
    question whose ask() returned.
    """
    ans = [s for s in scores if s.answerable]
    unans = [s for s in scores if not s.answerable]
    cites_valid = [v for s in ans for v in s.citation_valid]
    cites_hit = [h for s in ans for h in s.citation_hits]
    latencies = [s.latency_ms for s in scores if s.latency_ms is not None]
    out: dict[str, float | None] = retrieval_figures(scores, k=k)
    out.update({
        "answer_containment": _mean([float(s.contained) for s in ans]),
        "span_validity": _ratio(sum(cites_valid), len(cites_valid)),
        "citation_precision": _ratio(sum(cites_hit), len(cites_hit)),
        "citation_recall": _mean([float(any(s.citation_hits)) for s in ans]),
        "abstain_correct": _mean([float(s.abstained) for s in unans]),
        "abstain_false": _mean([float(s.abstained) for s in ans]),
        "latency_p50_ms": percentile(latencies, 50),
        "latency_p95_ms": percentile(latencies, 95),
        "build_s": build_s,
    })
    assert tuple(out) == METRIC_KEYS
    return out


def extra_figures(scores: Sequence[QuestionScore], *, k: int) -> dict[str, Any]:
    """Figures beyond the fixed keys: the Hit@n curve, SQuAD EM/F1 where the engine gave a short answer,
    counts, and the questions whose citations were not exact (a bug: should always be empty)."""
    ans = [s for s in scores if s.answerable]
    short = [s for s in ans if s.short_answer is not None]
    return {
        "hit_curve": {str(n): hit_at(ans, n, k) for n in range(1, k + 1)},
        # Over every answerable question (none given counts 0, as in SQuAD), then over those given one.
        "exact_match": _mean([s.exact_match or 0.0 for s in ans]) if short else None,
        "f1": _mean([s.f1 or 0.0 for s in ans]) if short else None,
        "exact_match_given": _mean([s.exact_match or 0.0 for s in short]),
        "f1_given": _mean([s.f1 or 0.0 for s in short]),
        "short_answers": len(short),
        "questions": len(scores),
        "answerable": len(ans),
        "unanswerable": len(scores) - len(ans),
        "citations": sum(len(s.citation_valid) for s in ans),
        "errors": [{"id": s.id, "error": s.error} for s in scores if s.error],
        "invalid_span_questions": [s.id for s in scores if not all(s.citation_valid)],
    }


def _first_day(date: str) -> str:
    """The first day an ISO day or year stands for, as an ISO string (comparable as text)."""
    return f"{date}-01-01" if len(date) == 4 else date[:10]


def cites_after_as_of(runs: Sequence[tuple[GoldQuestion, Answer | None]]) -> dict[str, Any]:
    """Of the answered questions that have a `date`, the share whose answer cites an article dated after it
    (None when no answered question has a date): an as-of answer must never do so."""
    dated = [(q.extra["date"], a) for q, a in runs
             if a is not None and not a.abstained and isinstance(q.extra.get("date"), str)]
    late = sum(any(c.date and _first_day(c.date) > str(day)[:10] for c in a.citations) for day, a in dated)
    return {"share": round(late / len(dated), 4) if dated else None, "late": late, "answered_dated": len(dated)}
