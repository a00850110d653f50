"""Measure the chat as a person meets it: `rag chat` to a ready page, and question to complete answer in Chromium.

    python -m bench.chat_startup [--port 7872] [--rounds 2]

Starts `rag chat` twice on a copy of seeds/ in a temporary folder (first with no index: the build is part of
the start; then with the index already built), opens the page in headless Chromium each time, and asks the
questions below one after another. Prints each figure and the medians. Needs playwright and Debian's chromium.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from rag.config import PROJECT_ROOT

QUESTIONS = [
    "When did Turkey and Syria sign the memorandum of understanding?",
    "Who is the leader of HTS?",
    "What is NATO?",
    "Who spearheaded the offensive?",
    "What drug was the Syrian economy reliant on?",
    "In which cities was the announcement of al-Assad's departure met with jubilation?",
    "Whose statues were toppled?",
    "Who is Yasar Guler?",
]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
WAIT_ANSWER = """before => { const p = document.querySelector('#rag-sources'),
                                   t = document.querySelector('#rag-question textarea');
                             return p && p.innerHTML !== before && t && !t.disabled; }"""
WAIT_FIRST = "n => document.querySelectorAll('#rag-chat [data-testid=\"bot\"]').length > n"


def _start(port: int, index_dir: Path, corpus: Path, log: Path) -> tuple[subprocess.Popen[bytes], float]:
    """Start `rag chat`; return it and the seconds until its page answered HTTP 200."""
    t0 = time.perf_counter()
    with log.open("w") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "chat", "--port", str(port), "--index-dir",
                                 str(index_dir), "--corpus", str(corpus)], cwd=PROJECT_ROOT, stdout=fh,
                                stderr=subprocess.STDOUT)
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"rag chat exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as resp:
                if resp.status == 200:
                    return proc, time.perf_counter() - t0
        except OSError:
            time.sleep(0.2)


def _session(browser: object, port: int, started: float) -> tuple[float, list[tuple[float, float]]]:
    """Open the page; (seconds from start to a usable page, [(first response, complete answer) per question])."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})  # type: ignore[attr-defined]
    page.goto(f"http://127.0.0.1:{port}/", wait_until="load")
    page.wait_for_selector("#rag-question textarea:not([disabled])", timeout=120_000)
    ready = time.perf_counter() - started
    times = []
    for q in QUESTIONS:
        before = page.inner_html("#rag-sources")
        bots = page.locator("#rag-chat [data-testid='bot']").count()
        page.fill("#rag-question textarea", q)
        t0 = time.perf_counter()
        page.keyboard.press("Enter")
        page.wait_for_function(WAIT_FIRST, arg=bots, timeout=120_000)
        first = time.perf_counter() - t0
        page.wait_for_function(WAIT_ANSWER, arg=before, timeout=120_000)
        times.append((first, time.perf_counter() - t0))
    page.close()
    return ready, times


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.chat_startup", description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, default=7872)
    p.add_argument("--rounds", type=int, default=2, help="questions asked this many times over (default 2)")
    args = p.parse_args(argv)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="rag-measure-") as tmp:
        base = Path(tmp)
        corpus = base / "corpus"
        shutil.copytree(PROJECT_ROOT / "seeds", corpus)
        all_times: list[tuple[float, float]] = []
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
            for label in ("no index yet (build included)", "index already built"):
                started = time.perf_counter()
                proc, http_s = _start(args.port, base / "index", corpus, base / "server.log")
                try:
                    ready, times = 0.0, []
                    for _ in range(args.rounds):
                        r, t = _session(browser, args.port, started)
                        ready = ready or r
                        times += t
                finally:
                    proc.terminate()
                    proc.wait(timeout=30)
                all_times += times
                print(f"`rag chat`, {label}: HTTP 200 after {http_s:.1f} s, page usable after {ready:.1f} s; "
                      f"{len(times)} questions: first response median {statistics.median(f for f, _ in times):.2f} s,"
                      f" complete answer median {statistics.median(c for _, c in times):.2f} s "
                      f"(min {min(c for _, c in times):.2f}, max {max(c for _, c in times):.2f})")
            browser.close()
        print(f"Load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        print(f"All {len(all_times)} questions: complete answer median {statistics.median(c for _, c in all_times):.2f}"
              " s in the browser (Enter pressed to sources panel filled and question box usable again)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
