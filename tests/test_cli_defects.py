"""Defects found by hostile testing of the `rag` command and the question path, each pinned by a test:
terminal escapes in articles and file names, long questions loading torch, bad question options, a closed
output pipe and a silent wait for the writer lock."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rag.api import ask
from rag.cli import main, visible
from rag.collection import build_index
from rag.engine import Engine
from rag.errors import QuestionError
from rag.index import disk as persist
from rag.index.index import Index

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"
MEMO = "When did Turkey and Syria sign the memorandum of understanding?"
CITED = MEMO  # answered (with the fake embedder too) by quoting the memo story
UNANSWERED = "Which pact did Iraq and Iran reject in 1975?"  # shares "pact" with the memo, which cannot answer it


# -- 3. terminal escapes -----------------------------------------------------------------------------------

ESCAPES = "\x1b]52;c;ZXZpbA==\x07 \x1b[2J \x9b31m \u202eevil\u202c \x7f"  # a \\r would become \\n on reading


def test_visible_shows_every_control_character_and_keeps_the_rest() -> None:
    assert visible("a\nb\tc") == "a\nb\tc"
    assert visible("\x1b]52;c;eA==\x07") == "\\x1b]52;c;eA==\\x07"
    assert visible("\x1b[2J\r\x00\x7f") == "\\x1b[2J\\x0d\\x00\\x7f"
    assert visible("\x85\x9b\x9f\xa0é") == "\\x85\\x9b\\x9f\xa0é"
    assert visible("\u202a\u202e\u2066\u2069\u200f") == "\\u202a\\u202e\\u2066\\u2069\u200f"
    assert visible("Türkiye 土耳其 🇹🇷") == "Türkiye 土耳其 🇹🇷"


def _unsafe(text: str) -> list[str]:
    bad = {*map(chr, range(0x20)), "\x7f", *map(chr, range(0x80, 0xA0)), *map(chr, range(0x202A, 0x202F)),
           *map(chr, range(0x2066, 0x206A))} - {"\n", "\t"}
    return sorted({ch for ch in text if ch in bad})


def test_rag_index_and_ask_print_no_escape_sequences_from_articles_or_file_names(
    memo_corpus: Path, memo_story: str, tmp_path: Path, fake_models: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    name = "memo\x1b[2J\u202e.txt"
    (memo_corpus / "memo.txt").rename(memo_corpus / name)
    (memo_corpus / "seed.txt").unlink()  # the answer is to come from this article
    # Long enough that a few control characters do not make the file look binary (rag.ingest.decode).
    text = f"Pact {ESCAPES} signed\n\n" + memo_story.replace("Aug. 13", f"Aug. 13 {ESCAPES}") + memo_story * 10
    (memo_corpus / name).write_text(text)
    (memo_corpus / "broken\x1b]52;c;eA==\x07.txt").write_bytes(b"\x00\x01binary\x00")
    idx = tmp_path / "idx"
    assert main(["index", str(memo_corpus), "--index-dir", str(idx)]) == 0
    out, err = capsys.readouterr()
    assert "failed: broken\\x1b]52;c;eA==\\x07.txt" in err
    assert not _unsafe(out + err)
    # The stored text keeps them: they are the article's.
    assert ESCAPES in Index.load(idx).documents[name].text
    # Both ways of answering: quoted sources, and the closest passages of an abstention.
    for question, shape in ((CITED, "Sources:"), (UNANSWERED, "Closest passages:")):
        assert main(["ask", question, "--index-dir", str(idx), "-k", "3"]) == 0
        out, err = capsys.readouterr()
        assert shape in out
        assert "\\x1b]52;c;ZXZpbA==\\x07 \\x1b[2J \\x9b31m \\u202eevil\\u202c \\x7f" in out
        assert "memo\\x1b[2J\\u202e.txt" in out
        assert not _unsafe(out + err), _unsafe(out + err)
    # --json keeps the data as it is (escaped the JSON way, which is safe to show too).
    assert main(["ask", MEMO, "--index-dir", str(idx), "-k", "3", "--json"]) == 0
    out, err = capsys.readouterr()
    assert not _unsafe(out.replace("\n", ""))
    strings = list(_strings(json.loads(out)))
    assert name in strings and any("\x1b]52;c;ZXZpbA==\x07" in s for s in strings), out


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def test_errors_are_shown_with_their_escapes_visible(
    tmp_path: Path, fake_models: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ask", MEMO, "--index-dir", str(tmp_path / "no\x1b[2Jindex")]) == 2
    _, err = capsys.readouterr()
    assert "no\\x1b[2Jindex" in err and not _unsafe(err.rstrip("\n"))


# -- 4. long questions stay on the numpy path --------------------------------------------------------------

def test_one_long_text_is_embedded_without_loading_torch() -> None:
    from rag.embed.model import SentenceTransformerEmbedder
    from rag.question import MAX_QUESTION_CHARS

    class Lite:
        dim, max_seq_length = 4, 256

        def __init__(self) -> None:
            self.calls: list[int] = []

        def encode(self, texts: list[str]) -> np.ndarray:
            self.calls.append(len(texts))
            return np.eye(4, dtype=np.float32)[: len(texts)]

    lite = Lite()

    class NoTorch(SentenceTransformerEmbedder):
        """Its numpy forward pass is `lite`; its torch model cannot be loaded."""

        @property
        def lite(self) -> Lite:
            return lite

        @property
        def model(self) -> None:
            raise AssertionError("the torch model was loaded")

    emb = NoTorch("/nonexistent-model")
    for n in (1_001, MAX_QUESTION_CHARS - 1, MAX_QUESTION_CHARS, 50_000):
        assert emb.embed(["Turkey " * (n // 7) + "x" * (n % 7)]).shape == (1, 4)
    assert emb.embed(["Why? " * 400, "Why? " * 400]).shape == (2, 4)  # one distinct text
    assert lite.calls == [1, 1, 1, 1, 1]
    with pytest.raises(AssertionError, match="torch model was loaded"):  # a corpus-sized input still goes to torch
        emb.embed(["a " * 400, "b " * 400])


LONG_QUESTION = (MEMO + " ") * 40


@pytest.mark.integration
def test_a_long_text_is_truncated_and_embedded_as_sentence_transformers_does(real_embedder: Any) -> None:
    lite = real_embedder.lite
    text = LONG_QUESTION[:1999]
    st = real_embedder.model
    theirs_ids = st.tokenize([text])["input_ids"][0].tolist()
    ours_ids = lite.tokenizer.encode(text).ids
    assert len(ours_ids) == st.max_seq_length == lite.max_seq_length  # truncated, to the same window
    assert ours_ids == theirs_ids
    theirs = st.encode([text], normalize_embeddings=True, convert_to_numpy=True)  # the float32 torch model
    ours = real_embedder.embed([text])
    assert np.array_equal(ours, lite.encode([text]))  # embed() took the numpy path
    assert np.abs(ours - theirs).max() < 1e-4


@pytest.mark.integration
def test_asking_a_1999_character_question_does_not_import_torch(tmp_path: Path, real_embedder: Any,
                                                                memo_story: str) -> None:
    idx = tmp_path / "idx"
    memo_corpus = tmp_path / "corpus"
    memo_corpus.mkdir()
    (memo_corpus / "memo.txt").write_text(memo_story)
    build_index(idx, [memo_corpus], embedder=real_embedder)
    question = LONG_QUESTION[:1999]
    code = (
        "import sys\n"
        "from rag.api import ask\n"
        f"a = ask({question!r}, index_dir={str(idx)!r})\n"
        "assert a.citations, a.text\n"
        "print(len(a.question), 'torch' in sys.modules, 'sentence_transformers' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(len(question.strip())), "False", "False"]


# -- 5. question options -----------------------------------------------------------------------------------

@pytest.fixture
def no_model(monkeypatch: pytest.MonkeyPatch) -> None:
    def load(*args: object, **kwargs: object) -> None:
        raise AssertionError("a model was loaded for a refused question")

    monkeypatch.setattr("rag.api.SentenceTransformerEmbedder", load)


BIG_HISTORY = [{"role": "user", "content": ("Who is Syria's defense minister? " * 31_250)[:1_000_000]},
               {"role": "assistant", "content": "Murhaf Abu Qasra."}]
BAD_REQUESTS: list[tuple[dict[str, Any], str]] = [
    ({"k": 0}, "k .* from 1 to 100, not 0"),
    ({"k": 101}, "not 101"),
    ({"k": True}, "not True"),
    ({"k": 2.5}, "not 2.5"),
    ({"mode": "fuzzy"}, "unknown search mode 'fuzzy'"),
    ({"history": "Who is Syria's defense minister?"}, "history must be a list"),
    ({"history": {"role": "user", "content": "x"}}, "history must be a list"),
    ({"history": ["not a message"]}, "history message 1"),
]


@pytest.mark.parametrize(("options", "why"), BAD_REQUESTS, ids=[repr(o)[:40] for o, _ in BAD_REQUESTS])
def test_bad_options_are_question_errors_before_any_model_loads(
    no_model: None, index_dir: Path, options: dict[str, Any], why: str
) -> None:
    with pytest.raises(QuestionError, match=why):
        ask("q", **options)
    assert not persist.exists(index_dir)  # nothing was built either


def test_a_follow_up_rewritten_past_the_limit_is_refused(index_dir: Path, fake_embedder: Any) -> None:
    build_index(index_dir, [SEEDS], embedder=fake_embedder)
    engine = Engine(Index.load(index_dir), fake_embedder)
    t0 = time.monotonic()
    with pytest.raises(QuestionError, match=r"history message \d+ \(an earlier question\) is 1,000,0\d\d characters"):
        engine.ask("And Turkey's?", history=BIG_HISTORY)
    assert time.monotonic() - t0 < 10
    for options, why in BAD_REQUESTS:
        with pytest.raises(QuestionError, match=why):
            engine.ask("q", **options)


def test_rag_ask_with_k_0_is_one_line_and_exit_2(no_model: None, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["ask", "-k", "0", "q"], ["ask", "-k", "101", "q"]):
        assert main(argv) == 2
        out, err = capsys.readouterr()
        assert not out and err.startswith("rag ask: k (passages to retrieve) must be a whole number")
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


# -- 6. a closed pipe, and a wait for the writer lock -------------------------------------------------------

_CHILD = """
import sys
import numpy as np
import rag.api


class Embedder:
    name, dim, max_tokens = "fake-hash-64", 64, 62

    def count_tokens(self, texts):
        return [len(t.split()) for t in texts]

    def embed(self, texts, *, progress=False):
        out = np.zeros((len(texts), 64), np.float32)
        out[:, 0] = 1.0
        return out


rag.api.SentenceTransformerEmbedder = lambda *a, **k: Embedder()
from rag.cli import main

sys.exit(main(sys.argv[1:]))
"""


def test_a_reader_that_goes_away_ends_rag_ask_quietly(index_dir: Path, fake_embedder: Any) -> None:
    build_index(index_dir, [SEEDS], embedder=fake_embedder)
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD, "ask", MEMO, "--index-dir", str(index_dir)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # `| head -0`: the reader is gone before the answer is written
    err = proc.stderr.read().decode()
    code = proc.wait(timeout=120)
    assert "Traceback" not in err and "BrokenPipeError" not in err and "Exception ignored" not in err, err
    assert code in (0, 141), (code, err)


@contextlib.contextmanager
def _lock_held_by_another_thread(index_dir: Path, seconds: float) -> Iterator[None]:
    """The writer lock of `index_dir` held by another thread of this process for `seconds` (flock is per open
    file, so this process's other threads wait for it as another process would)."""
    taken = threading.Event()

    def hold() -> None:
        with persist.lock(index_dir):
            taken.set()
            time.sleep(seconds)

    holder = threading.Thread(target=hold)
    holder.start()
    assert taken.wait(10)
    try:
        yield
    finally:
        holder.join()


def test_rag_index_says_whom_it_is_waiting_for(
    memo_corpus: Path, tmp_path: Path, fake_models: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    idx = tmp_path / "idx"
    with _lock_held_by_another_thread(idx, 1.0):
        assert main(["index", str(memo_corpus), "--index-dir", str(idx)]) == 0
    _, err = capsys.readouterr()
    line = f"waiting for process {os.getpid()}, which is updating the index in {idx} ..."
    assert err.count(line) == 1, err
    assert err.index("Indexing") < err.index(line)


def test_the_library_prints_nothing_while_waiting_and_calls_on_wait_once(
    memo_corpus: Path, index_dir: Path, fake_embedder: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[int | None] = []
    with _lock_held_by_another_thread(index_dir, 1.0):
        build_index(index_dir, [memo_corpus], embedder=fake_embedder, on_wait=calls.append)
    assert calls == [os.getpid()]
    assert capsys.readouterr() == ("", "")
    with _lock_held_by_another_thread(index_dir, 0.5):
        build_index(index_dir, [memo_corpus], embedder=fake_embedder)  # on_wait is optional
    calls.clear()
    with persist.lock(index_dir, on_wait=calls.append):  # not waiting: never called
        pass
    assert calls == []
