"""rag.chat.handlers: the page's events over a real Collection (fake embedder), without a server or a browser."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from rag.chat.feedback import FeedbackLog
from rag.chat.handlers import Handlers, check_settings, engine_history
from rag.cite import make_citation
from rag.collection import Collection
from rag.followup import rewrite
from rag.question import check_question
from rag.records import Answer, ScoredPassage

SEED_FILE = next((Path(__file__).resolve().parents[1] / "seeds").glob("*.txt"))
QUESTION = "When did Turkey and Syria sign the memorandum of understanding?"


QUOTE = ("On Aug. 13, Turkey and Syria signed a memorandum of understanding (MoU) outlining the framework for their "
         "military cooperation.")


def _quoting_answer(engine: Any, question: str, *, history: Any = None, k: int = 8, mode: str = "hybrid") -> Answer:
    """What the extractive answerer gives for QUESTION, whatever is asked: these tests are about the page, not
    about answer quality (tests/test_ui_e2e.py asks the real engine)."""
    question = check_question(question)
    doc = engine.index.documents[SEED_FILE.name]
    start = doc.text.index(QUOTE)
    passages = [p for p in engine.index.passages.values() if p.start <= start < p.end][:k]
    scored = tuple(ScoredPassage(passage=p, title=doc.title, score=0.03 / (i + 1), rank=i + 1, dense_score=0.7,
                                 lexical_score=3.1) for i, p in enumerate(passages))
    cite = make_citation(doc, start, start + len(QUOTE), marker=1, passage_id=passages[0].id)
    return Answer(text=f"{QUOTE} [1]", citations=(cite,), passages=scored, abstained=False,
                  query=rewrite(question, history), question=question)


@pytest.fixture
def handlers(index_dir: Path, tmp_path: Path, fake_embedder, monkeypatch: pytest.MonkeyPatch) -> Handlers:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / SEED_FILE.name).write_text(SEED_FILE.read_text(encoding="utf-8"), encoding="utf-8")
    lib = Collection(index_dir, [corpus], embedder=fake_embedder, max_upload_bytes=10_000)
    lib.sync()
    engine = lib.engine
    monkeypatch.setattr(engine, "ask", lambda question, **kw: _quoting_answer(engine, question, **kw))
    return Handlers(lib, FeedbackLog(index_dir))


def _run(h: Handlers, question: str, history: list[dict[str, Any]] | None = None, answers: dict | None = None,
         **kw: Any) -> list[tuple]:
    return list(h.respond(question, history or [], kw.get("k", 8), kw.get("mode", "lexical"), answers))


def test_respond_streams_then_renders_answer_sources_and_search(handlers: Handlers) -> None:
    steps = _run(handlers, QUESTION)
    first_msgs = steps[0][0]
    assert first_msgs[0]["metadata"]["status"] == "pending"  # shown while the engine works
    messages, panel, answers = steps[-1]
    assert "Aug. 13" in messages[0]["content"] and messages[0]["content"].endswith("[1]")
    assert [m.get("metadata", {}).get("title") for m in messages[1:]] == ["Sources (1)",
                                                                         "How the articles were searched"]
    assert "<mark class=\"rag-cited\"" in panel and "On Aug. 13, Turkey and Syria signed" in panel
    assert answers[0].question == QUESTION and answers[0].citations[0]["quote"].startswith("On Aug. 13")


def test_follow_up_uses_the_conversation(handlers: Handlers) -> None:
    history = [{"role": "user", "content": [{"type": "text", "text": "What is HTS?"}]},
               {"role": "assistant", "content": [{"type": "text", "text": "HTS&#44; led by..."}]},
               {"role": "assistant", "content": "sources", "metadata": {"title": "Sources (1)"}}]
    assert engine_history(history) == [{"role": "user", "content": "What is HTS?"},
                                       {"role": "assistant", "content": "HTS, led by..."}]
    _, panel, answers = _run(handlers, "Who leads it?", history)[-1]
    assert answers[3].query == "Who leads HTS?"  # keyed by the position of the user's message
    assert "Who leads HTS?" in panel and "rewritten" in panel


@pytest.mark.parametrize(("question", "k", "mode", "says"), [
    ("   ", 8, "hybrid", "empty"),
    ("?!?", 8, "hybrid", "no words"),
    (QUESTION, 0, "hybrid", "between 1 and"),
    (QUESTION, 8, "fuzzy", "search mode"),
])
def test_bad_questions_and_settings_get_a_plain_message(handlers: Handlers, question, k, mode, says) -> None:
    steps = _run(handlers, question, k=k, mode=mode)
    assert len(steps) == 2
    (msg,), _, answers = steps[-1]
    assert says in msg["content"] and "metadata" not in msg
    assert answers == {}


def test_like_and_dislike_are_logged_with_question_answer_and_citations(handlers: Handlers, index_dir: Path) -> None:
    messages, _, answers = _run(handlers, QUESTION)[-1]
    history = [{"role": "user", "content": QUESTION}, *messages]
    handlers.like(history, answers, SimpleNamespace(index=1, liked=True, value=None))
    handlers.like(history, answers, SimpleNamespace(index=3, liked=False, value=None))  # a metadata message
    rows = [json.loads(line) for line in (index_dir / "feedback.jsonl").read_text().splitlines()]
    assert [r["rating"] for r in rows] == ["like", "dislike"]
    assert rows[0]["question"] == QUESTION and "Aug. 13" in rows[0]["answer"]
    assert rows[0]["citations"][0]["quote"].startswith("On Aug. 13") and rows[0]["mode"] == "lexical"


def test_ask_api_returns_the_answer_dict(handlers: Handlers) -> None:
    import gradio as gr

    out = handlers.ask_api(QUESTION, 4, "hybrid")
    assert out["text"].endswith("[1]") and len(out["passages"]) <= 4
    assert out == json.loads(json.dumps(out))  # plain JSON
    with pytest.raises(gr.Error, match="empty"):
        handlers.ask_api("")


def test_upload_and_remove_through_the_documents_view(handlers: Handlers, tmp_path: Path) -> None:
    good = tmp_path / "harbour.txt"
    good.write_text("The Port of Valmara reopened on Sept. 1 after Storm Elira closed it for a week.\n")
    bad = tmp_path / "scan.pdf"
    bad.write_bytes(b"%PDF-1.4 not really a pdf")
    seen: list[str] = []
    status, table, choices, cleared = handlers.upload([str(good), str(bad)],
                                                      lambda f, desc: seen.append(desc))
    assert "Added: harbour.txt" in status and "Failed: scan.pdf" in status
    assert "harbour.txt" in table and cleared is None and seen
    assert "harbour.txt" in [value for _, value in choices["choices"]]
    status, table, _ = handlers.remove("harbour.txt")
    assert "Removed harbour.txt" in status and "harbour.txt" not in table
    status, _, _ = handlers.remove(None)
    assert "Choose a document" in status
    status, _, _ = handlers.remove(SEED_FILE.name)
    assert "only document" in status  # refused, and said so


class EchoGenerator:
    """A stand-in text generator: streams one sentence of the seed article in three pieces."""

    name = "echo"
    max_prompt_tokens = None

    def __init__(self, text: str) -> None:
        self.text = text

    def prompt_tokens(self, prompt: object) -> int:
        return len(str(prompt).split())

    def stream(self, prompt: object, *, max_new_tokens: int | None = None) -> Iterator[str]:
        third = len(self.text) // 3
        yield from (self.text[:third], self.text[third:2 * third], self.text[2 * third:])

    def generate(self, prompt: object, *, max_new_tokens: int | None = None) -> str:
        return "".join(self.stream(prompt))


def test_a_generator_streams_its_text_then_the_checked_answer_replaces_it(handlers: Handlers) -> None:
    handlers.generator = EchoGenerator("Turkey and Syria signed a memorandum of understanding on Aug. 13.")
    steps = _run(handlers, QUESTION)
    drafts = [s[0][0]["content"].removesuffix(" …") for s in steps[1:-1]]
    assert len(drafts) == 3 and drafts[-1] == handlers.generator.text
    assert drafts[0] in drafts[1] in drafts[2]  # the text grows as it is generated
    assert all(s[0][0]["metadata"]["status"] == "pending" for s in steps[1:-1])
    messages, _, answers = steps[-1]
    assert "metadata" not in messages[0] and answers[0].answer  # the checked answer, not the draft


def test_check_settings() -> None:
    assert check_settings(8.0, "dense") == (8, "dense")
    with pytest.raises(ValueError, match="whole number"):
        check_settings("many", "dense")

