"""`rag eval --compare A B`: two reports side by side with the differences, so that a change's effect is
one command.

Rates show B − A in the same units; times show B − A and the ratio B / A. Settings that differ are listed
first, so that an ablation reads as "this flag moved these figures".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rag.errors import RagError

from .metrics import METRIC_KEYS, RATE_KEYS
from .tables import fmt

SETTING_KEYS = ("corpus", "gold", "k", "mode", "fusion", "ranker", "limit", "seed", "max_tokens", "overlap",
                "model", "answerer", "generator", "answerers_seen")
LOWER_IS_BETTER = frozenset({"abstain_false", "latency_p50_ms", "latency_p95_ms", "build_s",
                             "peak_memory_mib"})


def load_report(path: Path) -> dict[str, Any]:
    """A report.json, or the report.json inside a run folder."""
    file = path / "report.json" if path.is_dir() else path
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RagError(f"cannot read the report {file}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise RagError(f"{file} is not a JSON report ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("metrics"), dict):
        raise RagError(f"{file} is not a report.json of `rag eval` (no \"metrics\")")
    return data


def _delta(key: str, a: Any, b: Any) -> str:
    if not isinstance(a, int | float) or not isinstance(b, int | float):
        return ""
    d = b - a
    text = f"{d:+.3f}" if key in RATE_KEYS else f"{d:+.1f}" + (f" (×{b / a:.2f})" if a else "")
    if abs(d) < 1e-12:
        return text
    better = (d < 0) if key in LOWER_IS_BETTER else (d > 0)
    return text + ("  better" if better else "  worse")


def compare(a_path: Path, b_path: Path) -> str:
    """The comparison table of two reports, as text."""
    a, b = load_report(a_path), load_report(b_path)
    lines = [f"A: {a_path}", f"B: {b_path}"]
    sa, sb = a.get("settings", {}), b.get("settings", {})
    differ = [k for k in SETTING_KEYS if sa.get(k) != sb.get(k)]
    for key in differ:
        lines.append(f"  setting {key}: {sa.get(key)!r} -> {sb.get(key)!r}")
    if not differ:
        lines.append("  same settings")
    qa, qb = a.get("gold", {}).get("questions_run"), b.get("gold", {}).get("questions_run")
    if qa != qb:
        lines.append(f"  questions: {qa} -> {qb} (the figures are over different question sets)")
    if a.get("corpus", {}).get("fingerprint") != b.get("corpus", {}).get("fingerprint"):
        lines.append("  corpus fingerprints differ (the corpora are not the same)")
    ca, cb = a.get("index", {}).get("indexing_code"), b.get("index", {}).get("indexing_code")
    if ca and cb and ca != cb:
        lines.append("  the indexing code differs (chunking, sentence splitting, embedding or storage changed)")
    ga, gb = a.get("versions", {}).get("git"), b.get("versions", {}).get("git")
    if ga != gb:
        lines.append(f"  code: {ga} -> {gb}")
    keys = list(METRIC_KEYS) + [k for k in b["metrics"] if k not in METRIC_KEYS]
    rows = [("metric", "A", "B", "B - A")]
    for key in keys:
        va, vb = a["metrics"].get(key), b["metrics"].get(key)
        rows.append((key, fmt(key, va), fmt(key, vb), _delta(key, va, vb)))
    for key in ("peak_memory_mib",):
        va, vb = a.get("cost", {}).get(key), b.get("cost", {}).get(key)
        rows.append((key, fmt(key, va), fmt(key, vb), _delta(key, va, vb)))
    w = [max(len(r[i]) for r in rows) for i in range(3)]
    lines.append("")
    for r in rows:
        lines.append(f"  {r[0]:<{w[0]}}  {r[1]:>{w[1]}}  {r[2]:>{w[2]}}  {r[3]}".rstrip())
    return "\n".join(lines)
