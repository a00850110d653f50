"""Cold starts, as a user meets them: `rag ask` from process start to the printed answer, and `rag chat` from
process start until its page answers over HTTP. The index is already built; each run is a fresh process."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from .measure import PYTHON, ROOT, Timing, child_env

CHAT_PORT = 7890


def rag_command() -> list[str]:
    """The installed `rag` script beside this interpreter, else `python -m rag.cli`."""
    script = Path(PYTHON).with_name("rag")
    return [str(script)] if script.is_file() else [PYTHON, "-m", "rag.cli"]


def cold_ask(index_dir: Path, question: str, *, repeat: int) -> dict[str, Any]:
    """Seconds from spawning `rag ask` to the first byte of its answer on stdout, and to its exit."""
    first, total = [], []
    output = ""
    for _ in range(repeat):
        t0 = time.perf_counter()
        with tempfile.TemporaryFile() as err:
            proc = subprocess.Popen([*rag_command(), "ask", question, "--index-dir", str(index_dir)], cwd=ROOT,
                                    env=child_env(), stdout=subprocess.PIPE, stderr=err)
            assert proc.stdout is not None
            head = proc.stdout.read(1)
            first.append((time.perf_counter() - t0) * 1000)
            rest = proc.stdout.read()
            proc.wait(timeout=300)
            total.append((time.perf_counter() - t0) * 1000)
            proc.stdout.close()
            output = (head + rest).decode("utf-8", "replace")
            if proc.returncode != 0:
                err.seek(0)
                raise RuntimeError(f"rag ask failed (exit {proc.returncode}): {err.read().decode()[-1000:]}")
    return {"to_answer": Timing(tuple(first)).to_dict(), "to_exit": Timing(tuple(total)).to_dict(),
            "answer_head": output.strip().splitlines()[0][:160] if output.strip() else ""}


def import_profile(index_dir: Path, question: str, *, top: int = 12) -> dict[str, Any]:
    """`python -X importtime` of `rag ask`: the slowest imports (cumulative ms) and whether gradio loaded."""
    proc = subprocess.run([PYTHON, "-X", "importtime", "-m", "rag.cli", "ask", question, "--index-dir",
                           str(index_dir)], cwd=ROOT, env=child_env(), capture_output=True, text=True,
                          timeout=300, check=False)
    rows = []
    for line in proc.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)", line)
        if m:
            rows.append((int(m.group(2)) / 1000, len(m.group(3)), m.group(4)))
    top_level = sorted((r for r in rows if r[1] <= 2), reverse=True)[:top]
    names = {r[2] for r in rows}
    return {"top_cumulative_ms": [[name, round(ms, 1)] for ms, _, name in top_level],
            "gradio_imported": any(n == "gradio" or n.startswith("gradio.") for n in names),
            "torch_imported": "torch" in names, "modules": len(rows)}


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return int(resp.status) == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def cold_chat(index_dir: Path, corpus: Path, *, repeat: int, port: int = CHAT_PORT,
              timeout: float = 180) -> dict[str, Any]:
    """Seconds from spawning `rag chat` until http://127.0.0.1:PORT answers 200."""
    url = f"http://127.0.0.1:{port}/"
    if _answers(url):
        raise RuntimeError(f"something already answers on port {port}: stop it first")
    ready = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        proc = subprocess.Popen([*rag_command(), "chat", "--port", str(port), "--index-dir", str(index_dir),
                                 "--corpus", str(corpus)], cwd=ROOT, env=child_env(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        try:
            while not _answers(url):
                if proc.poll() is not None:
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    raise RuntimeError(f"rag chat exited with {proc.returncode}: {err[-1000:]}")
                if time.perf_counter() - t0 > timeout:
                    raise RuntimeError(f"rag chat did not answer on {url} within {timeout:.0f} s")
                time.sleep(0.05)
            ready.append((time.perf_counter() - t0) * 1000)
        finally:
            _stop(proc)
    return {"to_ready": Timing(tuple(ready)).to_dict(), "port": port}


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop the chat we started (its own process group: gradio may fork helpers), politely first."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)
    if proc.stderr:
        proc.stderr.close()
