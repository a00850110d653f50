"""Measuring helpers shared by the bench sections: medians and percentiles, peak memory, child processes.

The machines are shared (2 cores, other people's jobs beside ours), so single timings are noise: every figure
is a median of repeats, and comparisons are made side by side in one run.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval.stats import percentile

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
PYTHON = sys.executable


@dataclass(frozen=True, slots=True)
class Timing:
    """Repeated measurements of one thing, in milliseconds."""

    samples: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else float("nan")

    @property
    def p95(self) -> float:
        p95 = percentile(self.samples, 95)
        return float("nan") if p95 is None else p95

    def to_dict(self) -> dict[str, Any]:
        return {"median_ms": round(self.median, 3), "p95_ms": round(self.p95, 3), "n": len(self.samples),
                "min_ms": round(min(self.samples), 3) if self.samples else None}


def time_calls(fn: Callable[[], object], *, repeat: int, warmup: int = 3) -> Timing:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return Timing(tuple(out))


def peak_rss_mib() -> float:
    """This process's peak resident memory so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mib() -> float:
    """This process's resident memory now, in MiB."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return float("nan")


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(extra)
    return env


def run_worker(task: str, args: dict[str, Any], *, timeout: float = 3600) -> dict[str, Any]:
    """Run `bench.worker <task>` in a fresh interpreter (its own peak memory, no warm caches) and return the
    JSON it prints last."""
    proc = subprocess.run(
        [PYTHON, "-m", "bench.worker", task, json.dumps(args)],
        cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=timeout, check=False,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout)[-2000:]
        raise RuntimeError(f"bench worker {task} failed (exit {proc.returncode}):\n{tail}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or not b:
        return None
    return round(a / b, 2)
