"""Report: the figures of one run as report.json and results.jsonl (per question, for error analysis), and
report.md with its plots (eval.markdown); the terminal table is eval.tables."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from importlib import metadata
from pathlib import Path
from typing import Any

from rag.config import PROJECT_ROOT

from .markdown import write_markdown
from .metrics import METRIC_KEYS
from .options import EvalSettings
from .records import QuestionRun, QuestionScore

PACKAGES = ("rag-news", "torch", "sentence-transformers", "transformers", "faiss-cpu", "numpy", "bm25s",
            "langchain-core", "langchain-community", "langchain-text-splitters", "langchain-huggingface",
            "llama-index-core", "llama-index-embeddings-huggingface", "llama-index-vector-stores-faiss")
PREVIEW_CHARS = 300  # of each retrieved passage in results.jsonl; its offsets give the whole text


def versions() -> dict[str, Any]:
    out: dict[str, Any] = {"python": platform.python_version(), "platform": platform.platform()}
    for pkg in PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    try:
        head = subprocess.run(["git", "-C", str(PROJECT_ROOT), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        out["git"] = head + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return out


def _round(x: Any) -> Any:
    return round(x, 4) if isinstance(x, float) else x


def build(
    *,
    settings: EvalSettings,
    metrics: dict[str, float | None],
    more: dict[str, Any],
    runs: Sequence[QuestionRun],
    corpus: dict[str, Any],
    gold: dict[str, Any],
    index: dict[str, Any],
    cost: dict[str, Any],
    baselines: dict[str, Any],
) -> dict[str, Any]:
    """The report.json document: every figure, the settings, versions and corpus fingerprint."""
    answerers = sorted({r.answer.answerer for r in runs if r.answer is not None})
    latencies = [r.score.latency_ms for r in runs if r.score.latency_ms is not None]
    cfg = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(settings).items()}
    cfg["baselines"] = list(settings.baselines)
    return {
        "metrics": {k: _round(metrics[k]) for k in METRIC_KEYS},
        "more": {k: ({n: _round(v) for n, v in x.items()} if k == "hit_curve" else _round(x))
                 for k, x in more.items()},
        "cost": {"build_s": metrics["build_s"], "latency_p50_ms": _round(metrics["latency_p50_ms"]),
                 "latency_p95_ms": _round(metrics["latency_p95_ms"]),
                 "latency_mean_ms": round(sum(latencies) / len(latencies), 3) if latencies else None,
                 "index_reused": index.get("reused", False), "index_load_s": index.get("load_s"), **cost},
        "settings": {**cfg, "answerers_seen": answerers},
        "corpus": corpus,
        "gold": gold,
        "index": index,
        "versions": versions(),
        "baselines": baselines,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def result_row(run: QuestionRun) -> dict[str, Any]:
    """One line of results.jsonl: the question, what came back, and how it scored."""
    q, a, s = run.question, run.answer, run.score
    row: dict[str, Any] = {
        "id": q.id, "question": q.question, "answers": list(q.answers), "answerable": q.answerable,
        "kind": q.extra.get("kind"), "error": s.error, "abstained": s.abstained,
        "first_hit": s.first_hit, "hit@1": any(s.passage_hits[:1]), "hit@5": any(s.passage_hits[:5]),
        "hit@10": any(s.passage_hits[:10]), "evidence_recall": round(s.evidence_recall, 4),
        "contained": s.contained, "latency_ms": None if s.latency_ms is None else round(s.latency_ms, 3),
        "short_answer": s.short_answer, "exact_match": s.exact_match, "f1": s.f1,
        "evidence": [{"doc": e.doc_id, "start": e.start, "end": e.end, "item": e.item} for e in q.evidence],
    }
    if a is not None:
        row.update({
            "answer": a.text, "query": a.query, "answerer": a.answerer, "confidence": a.confidence,
            "timings": dict(a.timings),
            "citations": [{"marker": c.marker, "role": c.role, "doc_id": c.doc_id, "start": c.start, "end": c.end,
                           "quote": c.quote, "date": c.date, "also_in": list(c.also_in), "valid": v,
                           "on_evidence": h}
                          for c, v, h in zip(a.citations, s.citation_valid, s.citation_hits, strict=True)],
            "passages": [{"rank": p.rank, "doc_id": p.passage.doc_id, "start": p.passage.start,
                          "end": p.passage.end, "score": p.score, "dense_score": p.dense_score,
                          "lexical_score": p.lexical_score, "also_in": list(p.also_in), "hit": h,
                          "text": p.passage.text[:PREVIEW_CHARS]}
                         for p, h in zip(a.passages, s.passage_hits, strict=False)],
        })
    return row


def _peer_cell(s: QuestionScore) -> dict[str, Any]:
    ms = None if s.latency_ms is None else round(s.latency_ms, 3)
    return {"first_hit": s.first_hit, "evidence_recall": round(s.evidence_recall, 4), "latency_ms": ms}


def write(report: dict[str, Any], runs: Sequence[QuestionRun], out: Path,
          peers: Mapping[str, Sequence[QuestionScore]] | None = None) -> None:
    """report.json, results.jsonl and report.md (with its PNG plots) into `out`. `peers` are the baselines'
    scores, question by question in the order of `runs`, added to each results.jsonl line."""
    out.mkdir(parents=True, exist_ok=True)
    with (out / "results.jsonl").open("w", encoding="utf-8") as fh:
        for i, run in enumerate(runs):
            row = result_row(run)
            if peers:
                row["baselines"] = {name: _peer_cell(scores[i]) for name, scores in peers.items()}
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp = out / ".report.json.tmp"
    tmp.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, out / "report.json")
    write_markdown(report, runs, out)
