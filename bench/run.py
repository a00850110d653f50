"""`rag bench`: speed and memory of the engine, side by side with LangChain and LlamaIndex, in one run.

    rag bench                       # everything (about 30-60 minutes on 2 shared cores)
    rag bench --quick               # the seed article only: a few minutes
    rag bench --sections build,ask --corpora news-rtqa

Prints tables and writes bench/out/bench-<time>.json (and bench/out/latest.json). Sections:
  embedding  float32 against bfloat16 texts/s, their agreement (cosine), batch token budgets, one query
  build      our index build per corpus: passages/s, chars/s, peak memory (a fresh process per build)
  ask        ask() latency median and p95 after warm-up, and retrieval Hit@5, on each built index
  peers      LangChain and LlamaIndex defaults on the same corpus: build and query time, Hit@5, as ratios
  search     flat against ivf-sq8 on real embeddings: latency, recall@10, memory; up to 100k real, 1M tiled
  scale      ask() on copies of the real indexes at 100k and 1M passages
  cold       `rag ask` start to printed answer; `rag chat` start to page answering (port 7890)
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .measure import ROOT, run_worker
from .report import print_report

SECTIONS = ("embedding", "build", "ask", "peers", "search", "scale", "cold")
OUT = ROOT / "bench" / "out"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rag bench", description="Measure speed and memory (see bench/run.py).")
    p.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}")
    p.add_argument("--corpora", default="seed,squad-dev,news-rtqa", help="corpora to build and ask on")
    p.add_argument("--peers", default="langchain,llamaindex", help="peer pipelines to compare ('' for none)")
    p.add_argument("--peer-corpora", default="news-rtqa,squad-dev", help="corpora the peers are compared on")
    p.add_argument("--questions", type=int, default=200, help="gold questions per corpus for latency and Hit@5")
    p.add_argument("--build-repeat", type=int, default=1, help="builds per corpus and system (median reported)")
    p.add_argument("--cold-repeat", type=int, default=5, help="cold starts of `rag ask` and `rag chat`")
    p.add_argument("--real", type=int, default=100_000, help="real texts embedded for the search section")
    p.add_argument("--scale", default="100000,1000000", help="passage counts of the scale section")
    p.add_argument("--hnsw", action="store_true", help="also measure HNSW (float32) up to 100k in the search section")
    p.add_argument("--out", type=Path, default=OUT, help="output folder (default bench/out)")
    p.add_argument("--quick", action="store_true", help="seed article only, few questions: a smoke run")
    return p


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def environment() -> dict[str, Any]:
    import faiss
    import torch

    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    return {"cpu": cpu, "cores": os.cpu_count(), "torch": torch.__version__, "faiss": faiss.__version__,
            "python": platform.python_version(), "load_average": os.getloadavg(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


@dataclass(frozen=True, slots=True)
class Plan:
    """What one `rag bench` run measures: the command line (after --quick narrowed it) and its lists."""

    args: argparse.Namespace
    sections: frozenset[str]
    corpora: list[str]
    peers: list[str]
    peer_corpora: list[str]

    @property
    def out(self) -> Path:
        return Path(self.args.out)

    @property
    def indexes(self) -> Path:
        return self.out / "indexes"


def plan(args: argparse.Namespace) -> Plan:
    """The sections and corpora to run; --quick narrows them (and `args`, which the results record)."""
    sections = set(_csv(args.sections))
    unknown = sections - set(SECTIONS)
    if unknown:
        raise SystemExit(f"rag bench: unknown section(s) {', '.join(sorted(unknown))}; use {', '.join(SECTIONS)}")
    corpora, peers, peer_corpora = _csv(args.corpora), _csv(args.peers), _csv(args.peer_corpora)
    if args.quick:
        corpora, peer_corpora, args.questions = ["seed"], ["seed"], min(args.questions, 20)
        sections -= {"search", "scale"}
        args.cold_repeat = min(args.cold_repeat, 2)
    return Plan(args, frozenset(sections), corpora, peers, peer_corpora)


# Each section writes into `results` as it goes, so a section failing half-way keeps what it had measured.
def _embedding(p: Plan, results: dict[str, Any]) -> None:
    results["embedding"] = run_worker("embedding", {"repeat": 3})


def _build(p: Plan, results: dict[str, Any]) -> None:
    from .corpora import corpora as known

    for name in p.corpora:
        runs = [run_worker("build", {"index_dir": str(p.indexes / name),
                                     "paths": [str(path) for path in known()[name].paths]})
                for _ in range(max(1, p.args.build_repeat))]
        results.setdefault("build", {})[name] = _median_run(runs)


def _ask(p: Plan, results: dict[str, Any]) -> None:
    for name in p.corpora:
        results.setdefault("ask", {})[name] = run_worker(
            "ask", {"index_dir": str(p.indexes / name), "corpus": name, "questions": p.args.questions,
                    "repeat": 3 if name == "seed" else 1})


def _peers(p: Plan, results: dict[str, Any]) -> None:
    from .corpora import corpora as known

    for name in p.peer_corpora:
        # Rounds of ours, then each peer, back to back: load from other jobs drifts over minutes, so
        # each round's ratio compares builds made under about the same load.
        runs: dict[str, list[dict[str, Any]]] = {"ours": [], **{peer: [] for peer in p.peers}}
        for _ in range(max(1, p.args.build_repeat)):
            runs["ours"].append(run_worker("build", {
                "index_dir": str(p.out / "scratch" / name), "paths": [str(path) for path in known()[name].paths]}))
            for peer in p.peers:
                runs[peer].append(run_worker("peer", {"peer": peer, "corpus": name,
                                                      "questions": p.args.questions}))
        row: dict[str, Any] = {system: _median_run(r) for system, r in runs.items()}
        row["ratios"] = {peer: _round_ratios(runs["ours"], runs[peer]) for peer in p.peers}
        results.setdefault("peers", {})[name] = row


def _search(p: Plan, results: dict[str, Any]) -> None:
    results["search"] = run_worker(
        "scale", {"what": "search", "real": p.args.real, "queries": 500, "probes": [16, 32, 64, 128, 256],
                  "hnsw": p.args.hnsw},
        timeout=4 * 3600)


def _scale(p: Plan, results: dict[str, Any]) -> None:
    dirs = [str(p.indexes / n) for n in ("squad-dev", "news-rtqa")]
    if not all((Path(d) / "CURRENT").is_file() for d in dirs):
        raise RuntimeError("the scale section copies the squad-dev and news-rtqa indexes: run the build "
                           "section on them first")
    for n in (int(x) for x in _csv(p.args.scale)):
        results.setdefault("scale", {})[str(n)] = run_worker(
            "scale", {"what": "ask", "n": n, "index_dirs": dirs, "questions": p.args.questions},
            timeout=3 * 3600)


def _cold(p: Plan, results: dict[str, Any]) -> None:
    from .cold import cold_ask, cold_chat, import_profile

    seed_index = p.indexes / "seed"
    if not (seed_index / "CURRENT").is_file():
        raise RuntimeError("cold starts use the seed index: run the build section on seed first")
    q = "When did Turkey and Syria sign the memorandum of understanding?"
    results["cold"] = {"ask": cold_ask(seed_index, q, repeat=p.args.cold_repeat),
                       "imports": import_profile(seed_index, q)}
    results["cold"]["chat"] = cold_chat(seed_index, ROOT / "seeds", repeat=p.args.cold_repeat)


STEPS: dict[str, Callable[[Plan, dict[str, Any]], None]] = {
    "embedding": _embedding, "build": _build, "ask": _ask, "peers": _peers, "search": _search, "scale": _scale,
    "cold": _cold,
}  # in the order of SECTIONS: build before ask, scale and cold, which use its indexes


def step(name: str, fn: Callable[[], None], results: dict[str, Any]) -> None:
    """Run one section, timed; its failure is recorded under results["errors"] and the run goes on."""
    print(f"[bench] {name} ...", flush=True)
    t0 = time.perf_counter()
    try:
        fn()
    except Exception as exc:  # one failing section must not lose the others' figures
        results.setdefault("errors", {})[name] = f"{type(exc).__name__}: {exc}"
        print(f"[bench] {name} FAILED: {exc}", flush=True)
    print(f"[bench] {name} done in {time.perf_counter() - t0:.0f} s", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    p = plan(args)
    out = p.out
    results: dict[str, Any] = {"environment": environment(), "args": vars(args) | {"out": str(out)}}
    t_start = time.perf_counter()
    for name in SECTIONS:
        if name in p.sections and (name != "peers" or p.peers):
            step(name, functools.partial(STEPS[name], p, results), results)

    results["environment"]["load_average_end"] = os.getloadavg()
    results["environment"]["seconds"] = round(time.perf_counter() - t_start, 1)
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for path in (out / f"bench-{stamp}.json", out / "latest.json"):
        path.write_text(json.dumps(results, indent=2))
    print_report(results)
    print(f"\nFigures written to {out / f'bench-{stamp}.json'}")
    return 1 if results.get("errors") else 0


def _round_ratios(ours: list[dict[str, Any]], peer: list[dict[str, Any]]) -> dict[str, Any]:
    """Per round: our passages/s over the peer's, and the peer's build time over ours; with their medians."""
    import statistics

    pps = [o["passages_per_s"] / p["passages_per_s"] for o, p in zip(ours, peer, strict=True)]
    time_ = [p["seconds"] / o["seconds"] for o, p in zip(ours, peer, strict=True)]
    return {"passages_per_s": [round(x, 2) for x in pps], "passages_per_s_median": round(statistics.median(pps), 2),
            "build_time": [round(x, 2) for x in time_], "build_time_median": round(statistics.median(time_), 2)}


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median build time, with every run's seconds beside it."""
    ordered = sorted(runs, key=lambda r: r["seconds"])
    chosen = dict(ordered[len(ordered) // 2])
    chosen["runs_seconds"] = [r["seconds"] for r in runs]
    return chosen


if __name__ == "__main__":
    raise SystemExit(main())
