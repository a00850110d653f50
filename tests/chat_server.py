"""Starting the real `rag chat` on loopback and driving it in headless Chromium, shared by the end-to-end tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@dataclass
class Server:
    url: str
    index_dir: Path
    base: Path
    startup_s: float


def free_port() -> int:
    for port in range(7870, 7880):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 7870-7879")


@contextmanager
def running_chat(base: Path, corpus: Path | None, *extra: str) -> Iterator[Server]:
    """`rag chat` on `corpus` with the index under `base` (None: no --corpus, the command's default), until the
    block ends."""
    index_dir = base / "index"
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False", "RAG_CHAT_AUTH": ""}
    log_path = base / "server.log"
    t0 = time.perf_counter()
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "rag.cli", "chat", "--port", str(port), "--index-dir", str(index_dir),
             *(["--corpus", str(corpus)] if corpus is not None else []), *extra],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"rag chat exited with {proc.returncode}:\n{log_path.read_text()}")
            if time.perf_counter() - t0 > 300:
                pytest.fail(f"rag chat was not ready after 300 s:\n{log_path.read_text()}")
            try:
                with urllib.request.urlopen(url, timeout=5) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        startup = time.perf_counter() - t0
        yield Server(url=url, index_dir=index_dir, base=base, startup_s=startup)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).is_file(), f"{CHROMIUM} is missing: apt-get install chromium"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


def open_page(browser: Any, server: Server) -> tuple[Any, list[str]]:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(server.url, wait_until="load")
    page.wait_for_selector("#rag-question textarea:not([disabled])", timeout=60_000)
    return page, dialogs


def ask(page: Any, question: str) -> float:
    """Type `question`, press Enter, wait until the answer is complete; the seconds that took."""
    before = page.inner_html("#rag-sources")
    page.fill("#rag-question textarea", question)
    t0 = time.perf_counter()
    page.keyboard.press("Enter")
    page.wait_for_function(
        """before => { const p = document.querySelector('#rag-sources'),
                             t = document.querySelector('#rag-question textarea');
                       return p && p.innerHTML !== before && t && !t.disabled; }""",
        arg=before, timeout=90_000)
    return time.perf_counter() - t0


def last_answer(page: Any) -> str:
    return page.locator("#rag-chat .message:not(.thought) > [data-testid='bot']").last.inner_text()


