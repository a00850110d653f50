"""Warm `ask()` latency of this checkout against another commit, on the same index and questions.

    python -m bench.ask_latency INDEX_DIR --gold eval/gold/seed.jsonl --against HEAD [--rounds 2] [--busy]

Each side runs in a fresh process (the other commit from a temporary `git worktree`), the sides alternating for
`--rounds`, so that the machine's noise falls on both alike. Every process asks each gold question once to warm
up and then once timed; it prints the median and 95th percentile, the median of each stage (`Answer.timings`)
and a digest of the answers (text, citations, confidence), so that a change meant to be faster alone shows the
same digest on both sides. `--busy` keeps one core spinning in another process meanwhile: a machine with other
work on it, where splitting products across threads can cost more than it gains.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def measure(index_dir: str, gold: Path) -> dict[str, object]:
    """One side's figures: every question asked once to warm up, then once timed."""
    import rag

    questions = [json.loads(line)["question"] for line in gold.read_text(encoding="utf-8").splitlines() if line]
    for q in questions:
        rag.ask(q, index_dir=index_dir)
    digest = hashlib.sha256()
    totals: list[float] = []
    stages: dict[str, list[float]] = {}
    for q in questions:
        t = time.perf_counter()
        answer = rag.ask(q, index_dir=index_dir)
        totals.append((time.perf_counter() - t) * 1000)
        digest.update(repr((answer.text, [(c.doc_id, c.start, c.end) for c in answer.citations],
                            round(answer.confidence or 0.0, 3))).encode())
        for name, ms in answer.timings.items():
            stages.setdefault(name, []).append(ms)
    totals.sort()
    return {"questions": len(questions), "p50_ms": round(statistics.median(totals), 1),
            "p95_ms": round(totals[min(len(totals) - 1, int(0.95 * len(totals)))], 1),
            "stages_p50_ms": {k: round(statistics.median(v), 1) for k, v in stages.items()},
            "answers": digest.hexdigest()[:16]}


def _side(root: Path, index_dir: str, gold: Path) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(root), "HF_HUB_OFFLINE": "1"}
    # this file runs as a script (the other commit may not have it); PYTHONPATH picks whose `rag` it imports
    out = subprocess.run([sys.executable, __file__, "--measure", index_dir, "--gold", str(gold)], cwd=root, env=env,
                         capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"the side at {root} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("index_dir")
    ap.add_argument("--gold", type=Path, default=ROOT / "eval" / "gold" / "seed.jsonl")
    ap.add_argument("--against", default="HEAD", help="the git revision to compare with")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--busy", action="store_true", help="keep one core spinning in another process")
    ap.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)  # one side, in its own process
    args = ap.parse_args()
    if args.measure:
        print(json.dumps(measure(args.index_dir, args.gold)))
        return
    index_dir, gold = str(Path(args.index_dir).resolve()), args.gold.resolve()
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.busy else None
    with tempfile.TemporaryDirectory() as tmp:
        other = Path(tmp) / "other"
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(other), args.against], cwd=ROOT, check=True)
        try:
            p50s: dict[str, list[float]] = {"this": [], args.against: []}
            for n in range(args.rounds):
                for name, root in ((args.against, other), ("this", ROOT)):
                    figures = _side(root, index_dir, gold)
                    p50s[name].append(float(figures["p50_ms"]))  # type: ignore[arg-type]
                    print(f"round {n + 1} {name:>10}: {json.dumps(figures)}", flush=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(other)], cwd=ROOT, check=False)
            if spinner is not None:
                spinner.kill()
    this, that = statistics.median(p50s["this"]), statistics.median(p50s[args.against])
    print(f"p50 (median of rounds): this {this:.1f} ms, {args.against} {that:.1f} ms, ratio {this / that:.2f}"
          + (" (one core busy)" if args.busy else ""))


if __name__ == "__main__":
    main()
