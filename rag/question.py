"""The one place a question and its options are checked, before any model or index is touched.

`ask()`, `Engine.ask`, the CLI and the chat all pass through `check_request`: a bad question, `k` or `mode`
is a `QuestionError` naming the problem, never a `ValueError` from deep inside retrieval.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Literal, NamedTuple

from rag.errors import QuestionError

MAX_QUESTION_CHARS = 2000
MAX_SOURCES = 100  # outlets one question may name
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
    as_of: dt.date | None = None  # answer as of this day: no article dated later is used
    since: dt.date | None = None  # only articles dated on or after this day
    until: dt.date | None = None  # only articles dated on or before this day
    sources: tuple[str, ...] = ()  # only articles of these outlets (any case); empty: all

    @property
    def filtered(self) -> bool:
        """Whether any date or outlet option was given."""
        return bool(self.as_of or self.since or self.until or self.sources)


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


def check_day(value: object, *, what: str) -> dt.date | None:
    """An ISO day ("2024-06-14"), a date or None (no bound), else QuestionError naming `what` and the value.
    "today" is the CLI's word for today, accepted here too."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.lower() == "today":
            return dt.date.today()
        if len(text) == 10:  # Python also reads "20240614" and week dates; a reader means YYYY-MM-DD
            with contextlib.suppress(ValueError):
                return dt.date.fromisoformat(text)
    raise QuestionError(f"{what} must be a day written as YYYY-MM-DD, not {value!r}")


def check_sources(sources: object) -> tuple[str, ...]:
    """Outlet names (one name, or a list of them), stripped; QuestionError for anything else."""
    if sources is None:
        return ()
    items = [sources] if isinstance(sources, str) else sources
    if not isinstance(items, Sequence | set | frozenset) or len(items) > MAX_SOURCES:
        raise QuestionError(f"sources must be a list of at most {MAX_SOURCES} outlet names, not {sources!r}")
    out = []
    for name in items:
        if not isinstance(name, str) or not name.strip():
            raise QuestionError(f"sources must be outlet names (non-empty text), not {name!r}")
        out.append(name.strip())
    return tuple(dict.fromkeys(out))


def check_request(
    question: object,
    *,
    k: object = DEFAULT_K,
    mode: object = "hybrid",
    as_of: object = None,
    since: object = None,
    until: object = None,
    sources: object = None,
) -> Request:
    """The question and its options, checked together (see `check_question`, `check_day`, `check_sources`):
    also that `since` is not after `until`, nor after `as_of`."""
    q = check_question(question)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise QuestionError(f"k (passages to retrieve) must be a whole number from 1 to {MAX_K}, not {k!r}")
    if mode not in MODES:
        raise QuestionError(f"unknown search mode {mode!r}: use one of {', '.join(MODES)}")
    day_as_of, day_since, day_until = (check_day(as_of, what="as_of"), check_day(since, what="since"),
                                       check_day(until, what="until"))
    for later, name in ((day_until, "until"), (day_as_of, "as_of")):
        if day_since and later and day_since > later:
            raise QuestionError(f"since ({day_since.isoformat()}) is after {name} ({later.isoformat()})")
    return Request(q, k, mode, day_as_of, day_since, day_until,  # type: ignore[arg-type]  # mode: one of MODES
                   check_sources(sources))


# How the extractive answer is written: led by the short answer phrase (rag.span), or the sentences alone, as
# before the span ranker (kept for comparisons: `rag ask --answerer sentences`, `rag eval --answerer sentences`).
Answerer = Literal["span", "sentences"]
ANSWERERS: tuple[str, ...] = ("span", "sentences")


def check_answerer(answerer: object) -> Answerer:
    """`answerer` when it is one of ANSWERERS, else QuestionError naming them."""
    if answerer not in ANSWERERS:
        raise QuestionError(f"unknown answerer {answerer!r}: use one of {', '.join(ANSWERERS)}")
    return answerer  # type: ignore[return-value]  # one of ANSWERERS


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
