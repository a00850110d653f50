"""The one place a question and its options are checked, before any model or index is touched.

`ask()`, `Engine.ask`, the CLI and the chat all pass through `check_request`: a bad question, `k` or `mode`
is a `QuestionError` naming the problem, never a `ValueError` from deep inside retrieval.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal, NamedTuple

from rag.errors import QuestionError

MAX_QUESTION_CHARS = 2000
MAX_K = 100  # passages per question: past this the answer sees more text than a reader can check
Mode = Literal["hybrid", "dense", "lexical"]
MODES: tuple[str, ...] = ("hybrid", "dense", "lexical")
DEFAULT_K = 10  # passages retrieved per question; the answerer is fitted at this depth
# How hybrid search merges its two lists: the trained reranker (rag.rank) or reciprocal rank fusion.
Fusion = Literal["ranker", "rrf"]
FUSIONS: tuple[str, ...] = ("ranker", "rrf")
Message = Mapping[str, object]


class Request(NamedTuple):
    """A checked question with its options."""

    question: str
    k: int
    mode: Mode


def check_question(question: object, *, what: str = "the question") -> str:
    """The question, stripped, control characters made spaces; QuestionError when it is empty, too long or has
    no words. `what` names it in the message ("the question", "the rewritten question")."""
    if not isinstance(question, str):
        raise QuestionError(f"{what} must be text, not {type(question).__name__}")
    q = question.strip()
    if not q:
        raise QuestionError(f"{what} is empty: type a question about the articles")
    if len(q) > MAX_QUESTION_CHARS:
        raise QuestionError(f"{what} is {len(q):,} characters long; the limit is {MAX_QUESTION_CHARS:,}")
    if not any(ch.isalnum() for ch in q):
        raise QuestionError(f"{what} has no words in it")
    return "".join(ch if ch.isprintable() or ch in "\n\t" else " " for ch in q)


def check_request(question: object, *, k: object = DEFAULT_K, mode: object = "hybrid") -> Request:
    """The question and its options, checked together (see `check_question`)."""
    q = check_question(question)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise QuestionError(f"k (passages to retrieve) must be a whole number from 1 to {MAX_K}, not {k!r}")
    if mode not in MODES:
        raise QuestionError(f"unknown search mode {mode!r}: use one of {', '.join(MODES)}")
    return Request(q, k, mode)  # type: ignore[arg-type]  # mode is one of MODES, checked above


def check_fusion(fusion: object) -> Fusion:
    """`fusion` when it is one of FUSIONS, else QuestionError naming them."""
    if fusion not in FUSIONS:
        raise QuestionError(f"unknown fusion {fusion!r}: use one of {', '.join(FUSIONS)}")
    return fusion  # type: ignore[return-value]  # one of FUSIONS, checked above


def check_history(history: object) -> Sequence[Message] | None:
    """A chat history as a list of {role, content} mappings, or QuestionError saying what is wrong with it."""
    if history is None:
        return None
    if not isinstance(history, Sequence) or isinstance(history, str):
        raise QuestionError("the history must be a list of {role, content} messages")
    for i, msg in enumerate(history):
        if not isinstance(msg, Mapping):
            raise QuestionError(f"history message {i + 1} is not a {{role, content}} mapping")
        content = msg.get("content")
        # Earlier questions obey the question's own limit: a follow-up is rewritten from them (and the
        # rewriting's entity scan grows with their length), so a longer one would smuggle a huge query in.
        if msg.get("role") == "user" and isinstance(content, str) and len(content.strip()) > MAX_QUESTION_CHARS:
            raise QuestionError(f"history message {i + 1} (an earlier question) is {len(content.strip()):,} "
                                f"characters long; the limit is {MAX_QUESTION_CHARS:,}")
    return history
