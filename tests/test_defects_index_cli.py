"""Defects found by hostile testing of the index on disk and the `rag` command, each pinned by a test:
an edited manifest, a full disk, terminal escapes in articles and file names, long questions loading torch,
bad question options, a closed output pipe and a silent wait for the writer lock."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rag.api import ask
from rag.cli import main, visible
from rag.collection import build_index
from rag.engine import Engine
from rag.errors import IndexCorruptError, IndexMismatchError, IndexWriteError, QuestionError
from rag.index import disk as persist
from rag.index.index import Index

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"
MEMO = "When did Turkey and Syria sign the memorandum of understanding?"
CITED = "Turkey Syria memorandum military cooperation Aug. 13"  # the fake embedder's answer quotes STORY
UNANSWERED = "Which pact did Iraq and Iran reject in 1975?"  # shares "pact" with the memo, which cannot answer it
STORY = (
    "Turkey and Syria signed a memorandum of understanding on military cooperation on Aug. 13, officials said. "
    "The agreement covers training and intelligence sharing between the two armies.\n"
)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    root.mkdir()
    shutil.copy(next(SEEDS.glob("*.txt")), root / "seed.txt")
    (root / "memo.txt").write_text(STORY)
    return root


@pytest.fixture
def fake_models(monkeypatch: pytest.MonkeyPatch, fake_embedder: Any) -> Any:
    """`rag index` and `rag ask` get the fake embedder instead of loading MiniLM."""
    monkeypatch.setattr("rag.embed.model.SentenceTransformerEmbedder", lambda *a, **k: fake_embedder)
    monkeypatch.setattr("rag.api.SentenceTransformerEmbedder", lambda *a, **k: fake_embedder)
    return fake_embedder


def _edit_manifest(gen: Path, change: Callable[[dict[str, Any]], object], *, seal: bool = False) -> None:
    """Change a generation's manifest as valid JSON; with `seal`, also give it a matching checksum (as a buggy
    writer would), so that only the checks of its content can catch the change."""
    m = json.loads((gen / persist.MANIFEST).read_text())
    change(m)
    if seal:
        m[persist.MANIFEST_CHECKSUM] = persist.manifest_checksum(m)
    (gen / persist.MANIFEST).write_text(json.dumps(m))


def _generations(index_dir: Path) -> list[str]:
    return sorted(p.name for p in index_dir.glob("gen-*"))


# -- 1. the manifest is checked, and the last good generation kept ----------------------------------------

@pytest.mark.parametrize("field", ["next_id", "dim", "corpus", "saved_at"])
def test_an_edited_manifest_is_caught_and_the_last_good_generation_kept(
    corpus: Path, index_dir: Path, fake_embedder: Any, field: str
) -> None:
    build_index(index_dir, [corpus], embedder=fake_embedder)
    gen = persist.current_generation(index_dir)
    good = Index.load(index_dir).fingerprints()
    edits: dict[str, Callable[[dict[str, Any]], object]] = {
        "next_id": lambda m: m.update(next_id=0),
        "dim": lambda m: m.update(dim=32),
        "corpus": lambda m: m.update(corpus=["/elsewhere"]),
        "saved_at": lambda m: m.update(saved_at="2001-01-01T00:00:00"),
    }
    _edit_manifest(gen, edits[field])
    expected = rf"{gen / 'manifest.json'} does not match its own checksum.*rag index --rebuild"
    with pytest.raises(IndexCorruptError, match=expected):
        Index.load(index_dir)
    (corpus / "new.txt").write_text("A new article about the harbour bridge opened on Friday.\n")
    with pytest.raises(IndexCorruptError, match=expected):
        build_index(index_dir, [corpus], embedder=fake_embedder)
    # Nothing was deleted: the damaged generation is still there for a person to look at, and still live.
    assert _generations(index_dir) == [gen.name] and persist.current_generation(index_dir) == gen
    _edit_manifest(gen, lambda m: None, seal=True)  # undo the damage by re-sealing: the documents were never lost
    if field in ("saved_at", "corpus"):
        assert Index.load(index_dir).fingerprints() == good


BAD_ENTRIES: list[tuple[str, object]] = [
    ("x.npy", 5),
    ("x.npy", {"bytes": "many", "sha256": "0" * 64}),
    ("x.npy", {"bytes": -1, "sha256": "0" * 64}),
    ("x.npy", {"bytes": True, "sha256": "0" * 64}),
    ("x.npy", {"bytes": 3, "sha256": "not a digest"}),
    ("x.npy", {"bytes": 3}),
    ("/etc/passwd", {"bytes": 3, "sha256": "0" * 64}),
    ("../../outside.npy", {"bytes": 3, "sha256": "0" * 64}),
    ("bm25/./ids.npy", {"bytes": 3, "sha256": "0" * 64}),
    ("manifest.json", {"bytes": 3, "sha256": "0" * 64}),
]


@pytest.mark.parametrize("seal", [False, True], ids=["edited", "sealed"])
@pytest.mark.parametrize(("entry", "value"), BAD_ENTRIES, ids=[f"{e}={v!r}"[:40] for e, v in BAD_ENTRIES])
def test_a_malformed_files_entry_names_the_manifest_and_the_entry(
    index_dir: Path, fake_embedder: Any, entry: str, value: object, seal: bool
) -> None:
    build_index(index_dir, [SEEDS], embedder=fake_embedder)
    gen = persist.current_generation(index_dir)
    _edit_manifest(gen, lambda m: m["files"].update({entry: value}), seal=seal)
    for verify in (True, False):
        with pytest.raises(IndexCorruptError) as caught:
            persist.read_manifest(gen, verify=verify)
        message = str(caught.value)
        assert message.startswith(f"{gen / 'manifest.json'} has a malformed entry for {entry!r}"), message
        assert "rag index --rebuild" in message


@pytest.mark.parametrize("target", ["vectors.faiss", "passages.jsonl"])
def test_a_changed_size_or_digest_in_the_manifest_is_blamed_on_the_manifest(
    index_dir: Path, fake_embedder: Any, target: str
) -> None:
    build_index(index_dir, [SEEDS], embedder=fake_embedder)
    gen = persist.current_generation(index_dir)
    _edit_manifest(gen, lambda m: m["files"][target].update(bytes=m["files"][target]["bytes"] - 1))
    with pytest.raises(IndexCorruptError, match=rf"^{gen / 'manifest.json'} does not match its own checksum"):
        Index.load(index_dir)
    _edit_manifest(gen, lambda m: m["files"][target].update(bytes=m["files"][target]["bytes"] + 1,
                                                            sha256="f" * 64))
    with pytest.raises(IndexCorruptError, match=rf"^{gen / 'manifest.json'} does not match its own checksum"):
        Index.load(index_dir)


def test_a_manifest_without_its_checksum_is_refused(index_dir: Path, fake_embedder: Any) -> None:
    build_index(index_dir, [SEEDS], embedder=fake_embedder)
    gen = persist.current_generation(index_dir)
    _edit_manifest(gen, lambda m: m.pop(persist.MANIFEST_CHECKSUM))
    with pytest.raises(IndexCorruptError, match=r"manifest\.json has no checksum of its own"):
        Index.load(index_dir)
    # A format-1 manifest (written before manifests had checksums) is an old index: rebuilt, not trusted.
    _edit_manifest(gen, lambda m: m.update(format_version=1))
    with pytest.raises(IndexMismatchError, match="format version 1"):
        Index.load(index_dir)
    assert build_index(index_dir, [SEEDS], embedder=fake_embedder).rebuilt
    assert Index.load(index_dir).fingerprints()


def test_a_sealed_manifest_with_a_malformed_field_is_refused_not_a_traceback(
    index_dir: Path, fake_embedder: Any
) -> None:
    build_index(index_dir, [SEEDS], embedder=fake_embedder)
    gen = persist.current_generation(index_dir)
    _edit_manifest(gen, lambda m: m.update(dim="wide"), seal=True)
    with pytest.raises(IndexCorruptError, match=r"manifest\.json has a malformed field"):
        Index.load(index_dir)


def _damage_while_syncing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Flip a byte of the generation being written after its manifest, as a bad disk or a buggy writer would."""
    real = persist.write_manifest  # the last file of a generation: nothing is written between it and the switch

    def damaging(root: Path, manifest: dict[str, Any]) -> None:
        real(root, manifest)
        target = root / "passages.jsonl"
        data = bytearray(target.read_bytes())
        data[len(data) // 2] ^= 0x01
        target.write_bytes(bytes(data))

    monkeypatch.setattr(persist, "write_manifest", damaging)


def test_the_previous_generation_is_kept_until_the_new_one_is_read_back(
    corpus: Path, index_dir: Path, fake_embedder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_index(index_dir, [corpus], embedder=fake_embedder)
    old = persist.current_generation(index_dir)
    good = Index.load(index_dir).fingerprints()
    (corpus / "new.txt").write_text("A new article about the harbour bridge opened on Friday.\n")
    _damage_while_syncing(monkeypatch)
    with pytest.raises(IndexCorruptError, match=r"could not be read back.*previous index is still in use"):
        build_index(index_dir, [corpus], embedder=fake_embedder)
    # Switched back: the old generation is live and whole, the new one is gone, nothing is left behind.
    assert persist.current_generation(index_dir) == old
    assert _generations(index_dir) == [old.name] and not list(index_dir.glob(".*tmp*"))
    assert Index.load(index_dir).fingerprints() == good
    monkeypatch.undo()
    assert "new.txt" in Index.load(index_dir).fingerprints() or build_index(
        index_dir, [corpus], embedder=fake_embedder
    ).report.added == ("new.txt",)


def test_a_first_build_that_cannot_be_read_back_leaves_no_index(
    index_dir: Path, fake_embedder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _damage_while_syncing(monkeypatch)
    with pytest.raises(IndexCorruptError, match="could not be read back"):
        build_index(index_dir, [SEEDS], embedder=fake_embedder)
    assert not persist.exists(index_dir) and not _generations(index_dir)


# -- 2. a full disk ----------------------------------------------------------------------------------------

def _enospc(*args: object, **kwargs: object) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


def _faiss_full(*args: object, **kwargs: object) -> None:
    # What faiss itself raises when fwrite fails on a full disk.
    raise RuntimeError("Error in void faiss::write_index(const Index*, IOWriter*, int) at index_write.cpp:499: "
                       "Error: 'ret == (size * 4)' failed: write error in vectors.faiss: 4051 != 16000 "
                       "(No space left on device)")


FULL_DISK: dict[str, Callable[[pytest.MonkeyPatch], None]] = {
    "np.save": lambda mp: mp.setattr(np, "save", _enospc),
    "faiss.write_index": lambda mp: mp.setattr(__import__("faiss"), "write_index", _faiss_full),
    "manifest": lambda mp: mp.setattr(persist, "write_manifest", _enospc),
    "fsync": lambda mp: mp.setattr(persist.os, "fsync", _enospc),
}


@pytest.mark.parametrize("where", list(FULL_DISK))
def test_a_full_disk_is_one_line_and_leaves_the_index_as_it_was(
    corpus: Path, tmp_path: Path, fake_models: Any, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], where: str
) -> None:
    idx = tmp_path / "idx"
    assert main(["index", str(corpus), "--index-dir", str(idx)]) == 0
    before = (Index.load(idx).fingerprints(), _generations(idx), (idx / "CURRENT").read_bytes())
    capsys.readouterr()
    (corpus / "new.txt").write_text("A new article about the harbour bridge opened on Friday.\n")
    FULL_DISK[where](monkeypatch)
    assert main(["index", str(corpus), "--index-dir", str(idx)]) == 2
    _, err = capsys.readouterr()
    last = err.strip().splitlines()[-1]
    assert last.startswith("rag index: cannot write the index to ") and "No space left on device" in last, err
    assert "Traceback" not in err
    monkeypatch.undo()
    assert not list(idx.glob(".tmp-*")) and not list(idx.glob(".CURRENT*"))
    assert (Index.load(idx).fingerprints(), _generations(idx), (idx / "CURRENT").read_bytes()) == before


def test_a_full_disk_is_an_index_write_error_from_the_library(
    index_dir: Path, fake_embedder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(np, "save", _enospc)
    with pytest.raises(IndexWriteError) as caught:
        build_index(index_dir, [SEEDS], embedder=fake_embedder)
    assert caught.value.reason == "No space left on device" and caught.value.path
    assert not persist.exists(index_dir) and not _generations(index_dir) and not list(index_dir.glob(".tmp-*"))


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
    corpus: Path, tmp_path: Path, fake_models: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    name = "memo\x1b[2J\u202e.txt"
    (corpus / "memo.txt").rename(corpus / name)
    (corpus / "seed.txt").unlink()  # the answer is to come from this article
    # Long enough that a few control characters do not make the file look binary (rag.ingest.decode).
    text = f"Pact {ESCAPES} signed\n\n" + STORY.replace("Aug. 13", f"Aug. 13 {ESCAPES}") + STORY * 10
    (corpus / name).write_text(text)
    (corpus / "broken\x1b]52;c;eA==\x07.txt").write_bytes(b"\x00\x01binary\x00")
    idx = tmp_path / "idx"
    assert main(["index", str(corpus), "--index-dir", str(idx)]) == 0
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
def test_asking_a_1999_character_question_does_not_import_torch(tmp_path: Path, real_embedder: Any) -> None:
    idx = tmp_path / "idx"
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "memo.txt").write_text(STORY)
    build_index(idx, [corpus], embedder=real_embedder)
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
    corpus: Path, tmp_path: Path, fake_models: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    idx = tmp_path / "idx"
    with _lock_held_by_another_thread(idx, 1.0):
        assert main(["index", str(corpus), "--index-dir", str(idx)]) == 0
    _, err = capsys.readouterr()
    line = f"waiting for process {os.getpid()}, which is updating the index in {idx} ..."
    assert err.count(line) == 1, err
    assert err.index("Indexing") < err.index(line)


def test_the_library_prints_nothing_while_waiting_and_calls_on_wait_once(
    corpus: Path, index_dir: Path, fake_embedder: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[int | None] = []
    with _lock_held_by_another_thread(index_dir, 1.0):
        build_index(index_dir, [corpus], embedder=fake_embedder, on_wait=calls.append)
    assert calls == [os.getpid()]
    assert capsys.readouterr() == ("", "")
    with _lock_held_by_another_thread(index_dir, 0.5):
        build_index(index_dir, [corpus], embedder=fake_embedder)  # on_wait is optional
    calls.clear()
    with persist.lock(index_dir, on_wait=calls.append):  # not waiting: never called
        pass
    assert calls == []
