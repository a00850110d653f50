"""report.md: the scorecard, the side-by-side retrieval table, two plots (Hit@n against n, the ask() latency
distribution) and the questions to look at first."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .records import QuestionRun
from .tables import GROUPS, PEER_COLUMNS, fmt, peer_rows, plural

HIT_PLOT = "hit_at_k.png"
LATENCY_PLOT = "latency.png"
LISTED = 15  # questions listed per error-analysis heading


def run_title(report: dict[str, Any]) -> str:
    gold = report["gold"]
    return gold.get("dataset") or Path(report["settings"]["gold"]).name


def plot_hits(report: dict[str, Any], path: Path) -> None:
    """Hit@n against n for this run and, when present, each baseline."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    curves = [(f"rag ({report['settings']['mode']})", report["more"]["hit_curve"])]
    curves += [(name, figs["hit_curve"]) for name, figs in (report.get("baselines") or {}).items()
               if name != "ours" and figs.get("hit_curve")]
    for name, curve in curves:
        pts = [(int(n), v) for n, v in curve.items() if v is not None]
        ax.plot([n for n, _ in pts], [v for _, v in pts], marker="o", label=name)
    ax.set_xlabel("n (passages read)")
    ax.set_ylabel("Hit@n (answerable questions)")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title(f"Hit@n · {run_title(report)}")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_latency(report: dict[str, Any], latencies: Sequence[float], path: Path) -> None:
    """Histogram of ask() latency with the median and p95 marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    ax.hist(latencies, bins=min(40, max(5, len(latencies) // 5)), color="#4477aa")
    for key, style in (("latency_p50_ms", "-"), ("latency_p95_ms", "--")):
        value = report["metrics"][key]
        if value is not None:
            ax.axvline(value, color="#cc3311", linestyle=style, label=f"{key[8:11]} {value:.1f} ms")
    ax.set_xlabel("ask() latency (ms)")
    ax.set_ylabel("questions")
    ax.legend()
    ax.set_title(f"ask() latency · {run_title(report)} · {len(latencies)} questions")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _listing(title: str, runs: Sequence[QuestionRun], why: str) -> list[str]:
    if not runs:
        return []
    lines = [f"### {title} ({len(runs)})", "", why, ""]
    for r in runs[:LISTED]:
        got = "(declined)" if r.answer is None or r.answer.abstained else r.answer.text
        got = got if len(got) <= 160 else got[:157] + "..."
        gold = " / ".join(r.question.answers) or "(not in the corpus)"
        lines.append(f"- `{r.question.id}` {r.question.question} — gold: {gold}; got: {got}")
    if len(runs) > LISTED:
        lines.append(f"- ... and {len(runs) - LISTED} more in results.jsonl")
    return [*lines, ""]


def _scorecard(report: dict[str, Any]) -> list[str]:
    """The run's heading, what it ran on, and the metric table with its notes."""
    m, more, s, cost = report["metrics"], report["more"], report["settings"], report["cost"]
    v = report["versions"]
    lines = [
        f"# Evaluation · {run_title(report)}",
        "",
        f"{more['questions']} questions ({more['answerable']} answerable, {more['unanswerable']} "
        f"unanswerable) over {plural(report['corpus']['documents'], 'document')}; mode `{s['mode']}`, "
        f"k={s['k']}, "
        f"answerer {', '.join(s['answerers_seen']) or 'n/a'}; "
        f"corpus fingerprint `{report['corpus']['fingerprint']}`; "
        f"rag {v.get('git', v.get('rag-news', '?'))}, torch {v.get('torch', '?')}, {report['created_at']}.",
        "",
        "| group | metric | value |",
        "| --- | --- | ---: |",
    ]
    for title, keys in GROUPS:
        lines += [f"| {title} | `{key}` | {fmt(key, m[key])} |" for key in keys]
    if more["short_answers"]:
        lines.append(f"| Answers | SQuAD EM / F1, every answerable question (none given: 0) | "
                     f"{fmt('f1', more['exact_match'])} / {fmt('f1', more['f1'])} |")
        lines.append(f"| Answers | SQuAD EM / F1 of the {more['short_answers']} short answers given | "
                     f"{fmt('f1', more['exact_match_given'])} / {fmt('f1', more['f1_given'])} |")
    lines += [f"| Cost | peak memory (MiB) | {cost['peak_memory_mib']:.0f} |", "",
              "Rates are fractions in [0, 1]. Retrieval, answer and citation figures are over the answerable "
              "questions; `abstain_correct` over the unanswerable ones. Latency is ask() wall time measured by the "
              f"harness after one untimed warm-up ask (mean {fmt('x', cost['latency_mean_ms'])} ms). `build_s` is "
              "the index build time" + (" (index reused from the cache; the figure is from its build)"
                                        if cost["index_reused"] else "")
              + f". Peak memory: {cost['peak_memory_method']}.", ""]
    return lines


def _side_by_side(report: dict[str, Any]) -> list[str]:
    """The retrieval table of our run beside the baselines' (nothing when the run had none)."""
    rows = peer_rows(report)
    if not rows:
        return []
    lines = ["## Retrieval side by side", "",
             "Same questions, same documents, same embedding model (all-MiniLM-L6-v2); the peers with "
             "their default splitters and FAISS stores. Query latency is query embedding plus search.", "",
             "| system | " + " | ".join(PEER_COLUMNS) + " |",
             "| --- |" + " ---: |" * len(PEER_COLUMNS)]
    lines += [f"| {name} | " + " | ".join(fmt(c, f.get(c)) for c in PEER_COLUMNS) + " |"
              for name, f in rows]
    return [*lines, ""]


def _questions_to_look_at(runs: Sequence[QuestionRun], k: int) -> list[str]:
    """The error-analysis listings, bugs first."""
    ans = [r for r in runs if r.question.answerable]
    lines = ["", "## Questions to look at", ""]
    lines += _listing("Citations not equal to the document text (bugs)",
                      [r for r in runs if not all(r.score.citation_valid)], "Every one of these is a bug.")
    lines += _listing("Errors", [r for r in runs if r.score.error], "ask() raised.")
    lines += _listing("Retrieval missed", [r for r in ans if not any(r.score.passage_hits)],
                      f"No passage of the top {k} overlaps the gold evidence.")
    lines += _listing("Wrongly declined", [r for r in ans if r.score.abstained],
                      "Answerable, but the engine said the articles do not say.")
    lines += _listing("Answered an unanswerable question",
                      [r for r in runs
                       if not r.question.answerable and not r.score.abstained and not r.score.error],
                      "The articles do not answer these; the engine answered anyway.")
    lines += _listing("Answered, but no citation on the gold evidence",
                      [r for r in ans if not r.score.abstained and not any(r.score.citation_hits)],
                      "The answer cites sentences other than the gold evidence.")
    return lines


def write_markdown(report: dict[str, Any], runs: Sequence[QuestionRun], out: Path) -> None:
    """report.md and its PNG plots into `out`."""
    latencies = [r.score.latency_ms for r in runs if r.score.latency_ms is not None]
    plot_hits(report, out / HIT_PLOT)
    if latencies:
        plot_latency(report, latencies, out / LATENCY_PLOT)
    lines = [*_scorecard(report), *_side_by_side(report), "## Plots", "", f"![Hit@n]({HIT_PLOT})"]
    if latencies:
        lines.append(f"![Latency]({LATENCY_PLOT})")
    lines += _questions_to_look_at(runs, report["settings"]["k"])
    (out / "report.md").write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
