"""Odd questions get a sensible answer or a clear refusal (QuestionError; exit 2 and one line from `rag ask`),
never a traceback: through Engine.ask with the fake embedder (and arbitrary Unicode, by hypothesis), through
ask() with the real model and index, and through the `rag ask` command."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag import ask
from rag.cli import main
from rag.collection import build_index
from rag.embed.model import Embedder
from rag.engine import Engine
from rag.errors import QuestionError
from rag.index.index import Index
from rag.records import Answer

MEMO = "When did Turkey and Syria sign the memorandum of understanding?"
REFUSED = [
    ("", "empty"),
    ("   \n\t  ", "empty"),
    ("x" * 100_000, "100,000 characters long; the limit is 2,000"),
    ("Who? " * 20_000, "limit"),
    ("?!?... ,;: «»", "no words"),
    ("🇹🇷🤝🇸🇾❓😀", "no words"),
    ("\x00\x01\x02\x1b\x7f", "no words"),
    ("\u200b\u200d\ufeff", "no words"),
]
ANSWERED = [
    "متى وقعت تركيا وسوريا مذكرة التفاهم؟",  # Arabic
    "土耳其和叙利亚什么时候签署了谅解备忘录？",  # Chinese
    "Когда Турция и Сирия подписали меморандум?",  # Cyrillic
    "When did Turkey 🇹🇷 and Syria 🇸🇾 sign the memorandum of understanding? 🤔",
    "When did Turkey\x00 and Syria\x1b[31m sign the\u202e memorandum of understanding?\x07",
    "When did Turkey and Syria sign the memorandum of understanding\ud800?",  # a lone surrogate
    "<script>alert(1)</script> When did Turkey and Syria sign the memorandum?",
    "' OR 1=1; DROP TABLE articles; --",
    "%s%s%n {0} {{x}} $(rm -rf /)",
    "a",
    "Turkey " * 280,  # long, but within the limit
]


def _check(answer: Answer, engine: Engine) -> None:
    assert isinstance(answer, Answer)
    assert all(ch.isprintable() or ch in "\n\t" for ch in answer.question)
    assert not any(0xD800 <= ord(ch) <= 0xDFFF for ch in answer.question + answer.query)
    for c in answer.citations:
        assert engine.index.documents[c.doc_id].text[c.start:c.end] == c.quote
    if answer.abstained:
        assert answer.text.startswith("The articles do not say")


@pytest.fixture(scope="module")
def fake_engine(tmp_path_factory: pytest.TempPathFactory, make_fake_embedder: Any, seeds_dir: Path) -> Engine:
    emb = make_fake_embedder()  # a module-scoped fixture cannot take the function-scoped fake_embedder
    index_dir = tmp_path_factory.mktemp("fake-index")
    build_index(index_dir, [seeds_dir], embedder=emb)
    return Engine(Index.load(index_dir), emb)


@pytest.mark.parametrize(("question", "why"), REFUSED)
def test_refused_clearly(fake_engine: Engine, question: str, why: str) -> None:
    with pytest.raises(QuestionError, match=why):
        fake_engine.ask(question)


@pytest.mark.parametrize("question", ANSWERED)
def test_answered_or_abstained(fake_engine: Engine, question: str) -> None:
    _check(fake_engine.ask(question), fake_engine)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(question=st.text(max_size=300), history=st.lists(st.text(max_size=80), max_size=3))
def test_any_unicode_question_is_answered_or_refused(fake_engine: Engine, question: str, history: list[str]) -> None:
    messages = [{"role": "user" if i % 2 == 0 else "assistant", "content": h} for i, h in enumerate(history)]
    try:
        answer = fake_engine.ask(question, history=messages)
    except QuestionError as exc:
        assert str(exc)
        return
    _check(answer, fake_engine)
    assert answer.to_dict()["question"] == answer.question


@pytest.fixture(scope="module")
def real_index(tmp_path_factory: pytest.TempPathFactory, real_embedder: Embedder, seeds_dir: Path) -> Path:
    index_dir = tmp_path_factory.mktemp("real-index")
    build_index(index_dir, [seeds_dir], embedder=real_embedder)
    return index_dir


@pytest.mark.integration
def test_through_ask_with_the_real_model_and_index(real_index: Path, real_embedder: Embedder) -> None:
    engine = Engine(Index.load(real_index), real_embedder)
    for question, why in REFUSED:
        with pytest.raises(QuestionError, match=why):
            ask(question, index_dir=real_index)
    clean = [(c.doc_id, c.start, c.end) for c in engine.ask(MEMO).citations]
    for question in ANSWERED:
        answer = engine.ask(question)
        _check(answer, engine)
        if "memorandum of understanding" in question:
            # Emoji, control characters or a lone surrogate around a real question do not change its answer.
            assert [(c.doc_id, c.start, c.end) for c in answer.citations] == clean, question
    # And through the public ask() (its own model and index, loaded once).
    answer = ask(ANSWERED[4], index_dir=real_index)
    assert [(c.doc_id, c.start, c.end) for c in answer.citations] == clean


@pytest.mark.integration
def test_through_the_rag_ask_command(real_index: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for question, why in REFUSED:
        if "\x00" in question:
            continue  # a command line cannot hold a NUL byte
        assert main(["ask", question, "--index-dir", str(real_index)]) == 2
        out, err = capsys.readouterr()
        assert not out and err.startswith("rag ask: ") and why in err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    for question in (ANSWERED[0], ANSWERED[1], ANSWERED[3], ANSWERED[6]):
        assert main(["ask", question, "--index-dir", str(real_index)]) == 0
        out, err = capsys.readouterr()
        assert "Traceback" not in err and out.strip()
        assert ("Sources:" in out) or ("The articles do not say" in out and "Closest passages:" in out)
