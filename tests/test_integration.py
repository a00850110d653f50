"""Through the real all-MiniLM-L6-v2 and a real FAISS index on the seed article: the issue's acceptance cases."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import rag
from rag import api, ask
from rag.index.index import Index

pytestmark = pytest.mark.integration
HISTORY = [{"role": "user", "content": "Who is Syria's defense minister?"},
           {"role": "assistant", "content": "Syria’s Defense Minister Murhaf Abu Qasra [1]"}]


def _check(answer: rag.Answer) -> None:
    docs = api.get_engine().index.documents
    for c in answer.citations:
        assert docs[c.doc_id].text[c.start:c.end] == c.quote


def test_memorandum_question_quotes_the_aug_13_sentence() -> None:
    a = ask("When did Turkey and Syria sign the memorandum of understanding?")
    assert not a.abstained
    short, first = a.citations[:2]
    assert (short.role, short.quote, a.short_answer) == ("answer", "Aug. 13", "Aug. 13")
    assert first.quote.startswith("On Aug. 13, Turkey and Syria signed a memorandum of understanding")
    assert a.text.startswith(f"Aug. 13 [1] — {first.quote} [2]")
    _check(a)


def test_question_the_article_does_not_answer_abstains() -> None:
    a = ask("Who won the 2022 FIFA World Cup?")
    assert a.abstained and not a.citations
    assert a.text.startswith("The articles do not say")
    assert a.passages  # the closest passages are still offered


def test_questions_about_the_article_itself_are_answered_from_its_byline() -> None:
    # The seed's first line is "08/18/2025 / By Zoey Sky": no sentence of the story says who wrote it.
    for question, short in (("Who wrote the article?", "Zoey Sky"), ("What date is the article dated?", "08/18/2025"),
                            ("When was the article about Turkey and Syria published?", "08/18/2025")):
        a = ask(question)
        assert not a.abstained and a.short_answer == short, a.text
        assert [c.quote for c in a.citations] == [short, "08/18/2025 / By Zoey Sky"]
        assert a.text == f"{short} [1] — 08/18/2025 / By Zoey Sky [2]"
        _check(a)
    assert ask("Who wrote the memorandum?").short_answer != "Zoey Sky"  # a document, not the article


def test_follow_up_uses_the_conversation() -> None:
    first = ask("Who is Syria's defense minister?")
    assert "Murhaf Abu Qasra" in first.text
    a = ask("And Turkey's?", history=HISTORY)
    assert a.query == "Who is Turkey's defense minister?"
    assert "Yasar Guler" in a.text
    _check(a)


def test_second_ask_reuses_model_and_index(monkeypatch: pytest.MonkeyPatch) -> None:
    loads = {"index": 0, "model": 0}
    real_load = Index.load.__func__  # type: ignore[attr-defined]
    import sentence_transformers

    real_model = sentence_transformers.SentenceTransformer

    def count_index(cls, *a, **k):  # type: ignore[no-untyped-def]
        loads["index"] += 1
        return real_load(cls, *a, **k)

    def count_model(*a, **k):  # type: ignore[no-untyped-def]
        loads["model"] += 1
        return real_model(*a, **k)

    monkeypatch.setattr(Index, "load", classmethod(count_index))
    monkeypatch.setattr(sentence_transformers, "SentenceTransformer", count_model)  # what loading the model calls
    ask("Who leads HTS?")
    after_first = dict(loads)
    assert after_first["model"] == 1
    ask("What is Captagon?")
    ask("Who leads HTS?", k=3, mode="dense")
    assert loads == after_first


def test_index_from_another_model_is_a_clear_error(tmp_path: Path, real_embedder: rag.Embedder,
                                                   fake_embedder: rag.Embedder, seed_file: Path) -> None:
    idx = tmp_path / "other"
    rag.build_index(idx, [seed_file], embedder=fake_embedder)
    with pytest.raises(rag.IndexMismatchError, match="rebuild"):
        ask("Who leads HTS?", index_dir=idx)


@pytest.fixture
def rag_cli(project_root: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Runs `python -m rag.cli ARGS` from the project root."""

    def run(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, **(env_extra or {}))
        return subprocess.run([sys.executable, "-m", "rag.cli", *args], capture_output=True, text=True, env=env,
                              cwd=project_root, timeout=300)

    return run


def test_cli_index_ask_and_errors(index_dir: Path, tmp_path: Path, project_root: Path,
                                  rag_cli: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    out = rag_cli("index", str(project_root / "seeds"))
    assert out.returncode == 0, out.stderr
    assert "1 added, 0 changed, 0 removed" in out.stdout
    out = rag_cli("ask", "When did Turkey and Syria sign the memorandum of understanding?", "--json")
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    assert d["abstained"] is False and "Aug. 13" in d["citations"][0]["quote"]
    assert {"text", "citations", "passages", "abstained", "query", "timings"} <= set(d)
    out = rag_cli("ask", "When did Turkey and Syria sign the memorandum of understanding?")
    assert "[1]" in out.stdout and "Sources:" in out.stdout and "“On Aug. 13," in out.stdout
    history = tmp_path / "history.json"
    history.write_text(json.dumps(HISTORY))
    out = rag_cli("ask", "And Turkey's?", "--history", str(history))
    assert out.returncode == 0 and "Yasar Guler" in out.stdout and "searched for: Who is Turkey's" in out.stdout
    for bad, why in [("   ", "empty"), ("x" * 5000, "limit")]:
        out = rag_cli("ask", bad)
        assert out.returncode == 2 and why in out.stderr and "Traceback" not in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1
    out = rag_cli("index", str(tmp_path / "missing"))
    assert out.returncode == 2 and "not found" in out.stderr
    before = sorted(p.name for p in index_dir.iterdir())
    out = rag_cli("ask", "Who leads HTS?", "--model", str(tmp_path))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert sorted(p.name for p in index_dir.iterdir()) == before  # the index on disk untouched
