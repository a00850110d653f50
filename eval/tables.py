"""Tables: how figures are shown, in the terminal and in Markdown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .metrics import RATE_KEYS


def plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def fmt(key: str, value: Any) -> str:
    """A figure as shown in tables: rates with 3 decimals, other floats with 1; n/a for None."""
    if value is None:
        return "n/a"
    if key in RATE_KEYS or key.startswith(("hit@", "mrr@", "evidence_recall", "exact_match", "f1")):
        return f"{value:.3f}"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


GROUPS = (
    ("Retrieval (answerable)", ("hit@1", "hit@5", "hit@10", "mrr@10", "evidence_recall@k")),
    ("Answers (answerable)", ("answer_containment",)),
    ("Citations (answerable)", ("span_validity", "citation_precision", "citation_recall")),
    ("Abstention", ("abstain_correct", "abstain_false")),
    ("Cost", ("build_s", "latency_p50_ms", "latency_p95_ms")),
)
PEER_COLUMNS = ("hit@1", "hit@5", "hit@10", "mrr@10", "evidence_recall@k", "passages", "mean_passage_chars",
                "build_s", "query_p50_ms", "query_p95_ms")


def peer_rows(report: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(system, figures) for the side-by-side retrieval table: ours first, then each baseline."""
    base = report.get("baselines") or {}
    if not base:
        return []
    return [(f"rag ({report['settings']['mode']})", base["ours"])] + [
        (name, figs) for name, figs in base.items() if name != "ours"]


def terminal_table(report: dict[str, Any]) -> str:
    m, more, s = report["metrics"], report["more"], report["settings"]
    name = report["gold"].get("dataset") or Path(s["gold"]).name
    lines = [f"{name}: {more['questions']} questions ({more['answerable']} answerable, "
             f"{more['unanswerable']} unanswerable) · mode {s['mode']} · k={s['k']} · "
             f"corpus of {plural(report['corpus']['documents'], 'document')}"]
    notes = {"abstain_correct": f"of {more['unanswerable']} unanswerable",
             "abstain_false": f"of {more['answerable']} answerable",
             "span_validity": f"{more['citations']} citations",
             "evidence_recall@k": f"k={s['k']}",
             "build_s": "reused from the cache" if report["cost"]["index_reused"] else ""}
    for title, keys in GROUPS:
        lines.append(f"  {title}")
        for key in keys:
            note = notes.get(key, "")
            lines.append(f"    {key:<20}{fmt(key, m[key]):>10}   {note}".rstrip())
    if more["short_answers"]:
        lines.append(f"    {'exact_match':<20}{fmt('exact_match', more['exact_match']):>10}   SQuAD, over every "
                     "answerable question (none given: 0)")
        lines.append(f"    {'f1':<20}{fmt('f1', more['f1']):>10}   {more['short_answers']} short answers given; "
                     f"EM/F1 over those {fmt('f1', more['exact_match_given'])}/{fmt('f1', more['f1_given'])}")
    peak = report["cost"]["peak_memory_mib"]
    lines.append(f"    {'peak_memory_mib':<20}{peak:>10.0f}   peak RSS (getrusage)")
    if more["invalid_span_questions"]:
        bad = ", ".join(more["invalid_span_questions"])
        lines.append(f"  BUG: citations not equal to the document text in {bad}")
    for err in more["errors"][:10]:
        lines.append(f"  ERROR {err['id']}: {err['error']}")
    rows = peer_rows(report)
    if rows:
        lines += ["", "  Retrieval side by side (answerable questions; latency = query embedding + search):"]
        head = ["system", *PEER_COLUMNS]
        table = [head] + [[name] + [fmt(c, figs.get(c)) for c in PEER_COLUMNS] for name, figs in rows]
        widths = [max(len(r[i]) for r in table) for i in range(len(head))]
        for r in table:
            lines.append("    " + "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in
                                           enumerate(zip(r, widths, strict=True))))
    return "\n".join(lines)
