"""Load test of a running chat server: N simultaneous users asking gold questions for a fixed time.

    python bench/load_chat.py http://127.0.0.1:7860/ [--users 20] [--seconds 60] [--max-questions 1000]
        [--api-name /ask] [--gold eval/gold/seed.jsonl] [--server-pid PID] [--auth USER:PASSWORD] [--out FILE]

Each user is a thread with its own `gradio_client.Client`, asking questions one after another. First every
question is asked once, alone: the answers that contain a gold answer become the reference (the others are
left out of the load, since they would test the answerer, not the server). Under load, an answer is correct
when it is the reference answer for *its* question (same text, same cited spans): a server that mixed up
concurrent requests, dropped one or failed would show here. Prints latency percentiles (median, p90, p99,
max), throughput, failures and wrong answers; with --server-pid, the server's resident memory before, during
and after, to show whether it grows with the number of questions. Exit code 1 when any request failed or any
answer was wrong.

Loopback only: the URL must be 127.0.0.1, ::1 or localhost. Bounded: --seconds and --max-questions, whichever
comes first. The script does not start the server (start it with `rag chat` first).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
LOOPBACK = {"127.0.0.1", "::1", "localhost"}


@dataclass
class Tally:
    """What the users saw, shared between their threads (under `lock`)."""

    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    asked: int = 0
    rss_kib: list[tuple[int, int]] = field(default_factory=list)  # (questions asked so far, server RSS)
    lock: threading.Lock = field(default_factory=threading.Lock)


def normalise(text: str) -> str:
    import re
    import string

    text = "".join(ch for ch in text.lower() if ch not in string.punctuation and ch not in "‘’“”")
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())


def signature(result: Any) -> tuple[str, tuple[tuple[str, int, int], ...]]:
    """The answer text and cited spans of an /ask result (an Answer as JSON), or the text of anything else."""
    if isinstance(result, str):
        try:
            result = json.loads(result)
        except ValueError:
            return result, ()
    if isinstance(result, list | tuple) and result:
        result = result[0]
    if isinstance(result, dict) and "text" in result:
        cites = tuple((str(c.get("doc_id")), int(c.get("start", -1)), int(c.get("end", -1)))
                      for c in result.get("citations", []) if isinstance(c, dict))
        return str(result["text"]), cites
    return json.dumps(result, sort_keys=True, default=str), ()


def server_rss_kib(pid: int | None) -> int | None:
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def load_gold(path: Path) -> list[tuple[str, list[str]]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [(r["question"], list(r["answers"])) for r in rows if r.get("answers")]


def references(client: Any, api: str, gold: list[tuple[str, list[str]]]) -> dict[str, tuple[Any, ...]]:
    """Each question asked once, alone; kept with its answer when that answer contains a gold answer."""
    refs: dict[str, tuple[Any, ...]] = {}
    for question, answers in gold:
        sig = signature(client.predict(question, api_name=api))
        if any(normalise(a) and normalise(a) in normalise(sig[0]) for a in answers):
            refs[question] = sig
    return refs


def user(n: int, url: str, api: str, auth: tuple[str, str] | None, refs: dict[str, tuple[Any, ...]],
         tally: Tally, stop: threading.Event, max_questions: int, pid: int | None) -> None:
    from gradio_client import Client

    client = Client(url, auth=auth, verbose=False, download_files=False)
    questions = list(refs)
    i = n  # users start at different questions, so that different questions are in flight together
    while not stop.is_set():
        with tally.lock:
            if tally.asked >= max_questions:
                stop.set()
                break
            tally.asked += 1
            asked = tally.asked
        question = questions[i % len(questions)]
        i += 1
        t0 = time.perf_counter()
        try:
            sig = signature(client.predict(question, api_name=api))
        except Exception as exc:  # a load test counts every failure, whatever it is
            with tally.lock:
                tally.failures.append(f"user {n}: {question!r}: {type(exc).__name__}: {exc}")
            continue
        dt = time.perf_counter() - t0
        with tally.lock:
            tally.latencies.append(dt)
            if sig != refs[question]:
                tally.wrong.append(f"user {n}: {question!r} got {sig[0][:120]!r}")
            if pid is not None and asked % 100 == 0 and (rss := server_rss_kib(pid)) is not None:
                tally.rss_kib.append((asked, rss))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line, with its bounds checked (loopback only, users 1..100, seconds 0..3600)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("url", help="the chat server, on loopback (http://127.0.0.1:PORT/)")
    p.add_argument("--users", type=int, default=20)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--max-questions", type=int, default=1000)
    p.add_argument("--api-name", default="/ask", help="the server's question endpoint (default /ask)")
    p.add_argument("--gold", type=Path, default=ROOT / "eval" / "gold" / "seed.jsonl")
    p.add_argument("--server-pid", type=int, help="sample this process's resident memory (the server)")
    p.add_argument("--auth", metavar="USER:PASSWORD")
    p.add_argument("--out", type=Path, help="also write the figures as JSON here")
    args = p.parse_args(argv)
    host = urlparse(args.url).hostname or ""
    if host not in LOOPBACK:
        p.error(f"{args.url}: only a server on loopback (127.0.0.1, ::1, localhost) may be load-tested")
    if not 1 <= args.users <= 100 or not 0 < args.seconds <= 3600 or args.max_questions < 1:
        p.error("--users must be 1..100, --seconds 0..3600 and --max-questions at least 1")
    return args


def load(args: argparse.Namespace, auth: tuple[str, str] | None, refs: dict[str, tuple[Any, ...]]
         ) -> tuple[Tally, float]:
    """Run the users against the server until --seconds or --max-questions; return what they saw and the wall
    time. The server's memory is sampled before and after (and by the users every 100 questions)."""
    tally = Tally()
    rss0 = server_rss_kib(args.server_pid)
    if rss0 is not None:
        tally.rss_kib.append((0, rss0))
    stop = threading.Event()
    threads = [threading.Thread(target=user, args=(n, args.url, args.api_name, auth, refs, tally, stop,
                                                   args.max_questions, args.server_pid), daemon=True)
               for n in range(args.users)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    stop.wait(args.seconds)
    stop.set()
    for t in threads:
        t.join(timeout=120)
    wall = time.perf_counter() - t0
    rss1 = server_rss_kib(args.server_pid)
    if rss1 is not None:
        tally.rss_kib.append((tally.asked, rss1))
    return tally, wall


def latency_figures(lat: list[float]) -> dict[str, float]:
    """Median, p90, p99 and max of the latencies in seconds (percentiles by linear interpolation)."""
    if str(ROOT) not in sys.path:  # run as `python bench/load_chat.py`: the checkout root is not on the path
        sys.path.insert(0, str(ROOT))
    from eval.stats import percentile

    p90, p99 = percentile(lat, 90), percentile(lat, 99)
    assert p90 is not None and p99 is not None, "latencies needed"
    return {"median": round(statistics.median(lat), 3), "p90": round(p90, 3), "p99": round(p99, 3),
            "max": round(max(lat), 3)}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    auth = tuple(args.auth.split(":", 1)) if args.auth else None

    from gradio_client import Client

    client = Client(args.url, auth=auth, verbose=False, download_files=False)
    gold = load_gold(args.gold)
    refs = references(client, args.api_name, gold)
    print(f"{len(refs)} of {len(gold)} gold questions answered correctly when asked alone; loading with those.")
    if not refs:
        print("no question to load the server with", file=sys.stderr)
        return 1
    tally, wall = load(args, auth, refs)
    lat = tally.latencies
    figures: dict[str, Any] = {
        "users": args.users, "seconds": round(wall, 1), "questions": len(refs), "answered": len(lat),
        "failed": len(tally.failures), "wrong": len(tally.wrong),
        "per_second": round(len(lat) / wall, 2) if wall else None,
    }
    if lat:
        figures["latency_s"] = latency_figures(lat)
    if tally.rss_kib:
        figures["server_rss_mib"] = [(n, round(kib / 1024, 1)) for n, kib in tally.rss_kib]
    print(json.dumps(figures, indent=1))
    for line in (tally.failures + tally.wrong)[:20]:
        print("  " + line, file=sys.stderr)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({**figures, "failures": tally.failures, "wrong_answers": tally.wrong},
                                       indent=1))
    return 1 if tally.failures or tally.wrong or not lat else 0


if __name__ == "__main__":
    raise SystemExit(main())
