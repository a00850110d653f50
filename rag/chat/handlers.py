"""What the page's events do: each handler calls the library (questions, uploads, removals) and renders the
result. No retrieval or answering happens here; the engine's errors become messages on the page."""

from __future__ import annotations

import html
import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from rag.chat import render
from rag.chat.feedback import Feedback, FeedbackLog, rated
from rag.collection import Collection
from rag.errors import QuestionError, RagError
from rag.question import MODES
from rag.records import Answer

log = logging.getLogger(__name__)
MAX_K = 50
Answers = dict[int, Feedback]  # per browser session: index of the user's message -> what its answer was


def _text(content: object) -> str:
    """The text of a chat message's content, in any of Gradio's forms (str, or a list of typed parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        return " ".join(_text(part) for part in content)
    if isinstance(content, Mapping) and content.get("type") == "text":
        return str(content.get("text", ""))
    return ""


def engine_history(history: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """The chat as the engine reads it: user questions and answer texts, without sources or search details."""
    out = []
    for msg in history:
        meta = msg.get("metadata") or {}
        role = msg.get("role")
        if role not in ("user", "assistant") or (isinstance(meta, Mapping) and meta.get("title")):
            continue
        text = _text(msg.get("content"))
        out.append({"role": str(role), "content": html.unescape(text) if role == "assistant" else text})
    return out


def check_settings(k: object, mode: object) -> tuple[int, str]:
    """(k, mode) from the page's or the API's values, or QuestionError saying what is wrong."""
    try:
        kk = int(k)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise QuestionError(f"the number of passages must be a whole number, not {k!r}") from None
    if not 1 <= kk <= MAX_K:
        raise QuestionError(f"the number of passages must be between 1 and {MAX_K}, not {kk}")
    if mode not in MODES:
        raise QuestionError(f"the search mode must be one of {', '.join(MODES)}, not {mode!r}")
    return kk, str(mode)


def date_filters(since: object, until: object, sources: object) -> dict[str, Any]:
    """The page's date range and outlets as `Engine.ask` takes them (checked there): empty boxes are no bound;
    the range's end is also the day the question is asked as of, so "this week" counts back from it."""
    def day(value: object) -> object:
        return value.strip() or None if isinstance(value, str) else value

    end = day(until)
    outlets = [sources] if isinstance(sources, str) else list(sources) if isinstance(sources, Sequence) else None
    return {"since": day(since), "until": end, "as_of": end, "sources": outlets or None}


class Handlers:
    """The page's event handlers over one `Collection` (shared by every browser session)."""

    def __init__(self, library: Collection, feedback: FeedbackLog, *, generator: object | None = None) -> None:
        self.library = library
        self.feedback = feedback
        self.generator = generator  # model path or name, or a Generator; None: extractive

    # -- chat ------------------------------------------------------------------------------------------
    def respond(
        self, message: str, history: list[dict[str, Any]], k: float, mode: str, answers: Answers | None,
        since: str | None = None, until: str | None = None, sources: Sequence[str] | None = None,
    ) -> Iterator[tuple[list[dict[str, Any]], Any, Any]]:
        """ChatInterface's function: yields the assistant's messages as they are composed, with the sources
        panel and the session's answers (for like/dislike) as additional outputs. `since`/`until` (YYYY-MM-DD,
        empty: open) and `sources` (outlets) limit the articles searched (`date_filters`)."""
        import gradio as gr

        answers = dict(answers or {})
        yield [render.pending_message(message)], gr.skip(), gr.skip()
        answer: Answer | None = None
        try:
            kk, mm = check_settings(k, mode)
            engine, chat = self.library.engine, engine_history(history)
            # Only the filters set: a question without them is asked exactly as before.
            dates = {key: v for key, v in date_filters(since, until, sources).items() if v is not None}
            if self.generator is None:
                answer = engine.ask(message, history=chat, k=kk, mode=mm, **dates)  # type: ignore[arg-type]
            else:  # the generated text streams as it comes, then the checked answer replaces it
                for item in engine.ask_stream(message, generator=self.generator, history=chat, k=kk,  # type: ignore[arg-type]
                                              mode=mm, **dates):  # type: ignore[arg-type]
                    if isinstance(item, Answer):
                        answer = item
                    else:
                        yield [render.draft_message(item)], gr.skip(), gr.skip()
        except QuestionError as exc:
            yield [render.notice_message(f"Please rephrase: {exc}.")], render.EMPTY_PANEL, answers
            return
        except RagError as exc:
            yield [render.notice_message(f"Sorry, the question could not be answered: {exc}")], gr.skip(), answers
            return
        assert answer is not None  # ask_stream always ends with the Answer
        # An extractive answer is complete once chosen; it is shown cited sentence by cited sentence.
        if self.generator is None:
            for piece in render.answer_pieces(answer)[:-1]:
                yield [{"role": "assistant", "content": piece}], gr.skip(), gr.skip()
        answers[len(history)] = Feedback.of(answer, k=kk, mode=mm)
        outlets = render.copy_names(answer, self.library.engine.index.documents)
        yield render.answer_messages(answer, mode=mm), render.sources_html(answer, mode=mm, copies=outlets), answers

    def like(self, history: list[dict[str, Any]], answers: Answers | None, data: Any) -> None:
        """Store a like/dislike (Gradio's LikeData) with the question, answer and citations it rates."""
        import gradio as gr

        index = data.index[0] if isinstance(data.index, (list, tuple)) else int(data.index)
        user = next((i for i in range(min(index, len(history) - 1), -1, -1) if history[i].get("role") == "user"),
                    None)
        record = (answers or {}).get(user) if user is not None else None
        if record is None:
            gr.Warning("This message is not an answer that can be rated.")
            return
        self.feedback.add(rated(record, data.liked))

    def ask_api(
        self, question: str, k: int = 10, mode: str = "hybrid", as_of: str | None = None,
        since: str | None = None, until: str | None = None, sources: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """Answer `question` from the indexed articles; returns the Answer as JSON (Answer.to_dict()). `as_of`,
        `since`, `until` (YYYY-MM-DD) and `sources` (outlet names) are those of `rag.ask`."""
        import gradio as gr

        try:
            kk, mm = check_settings(k, mode)
            given = {"as_of": as_of, "since": since, "until": until, "sources": list(sources) if sources else None}
            dates = {key: v for key, v in given.items() if v}  # unset: asked exactly as before
            return self.library.engine.ask(question, k=kk, mode=mm, **dates).to_dict()  # type: ignore[arg-type]
        except RagError as exc:
            raise gr.Error(str(exc)) from exc

    # -- documents -------------------------------------------------------------------------------------
    def outlets(self) -> list[str]:
        """The outlets of the indexed articles, for the page's outlet filter (read from the listing: no model
        is loaded for it)."""
        return sorted({d.source for d in self.library.documents() if d.source}, key=str.casefold)

    def _listing(self, status: str) -> tuple[str, str, Any]:
        import gradio as gr

        docs = self.library.documents()
        return status, render.documents_html(docs), gr.update(choices=render.document_choices(docs), value=None)

    def refresh(self) -> tuple[str, Any]:
        _, table, choices = self._listing("")
        return table, choices

    def upload(self, files: Sequence[Any] | None, progress: Any = None) -> tuple[str, str, Any, None]:
        """Index uploaded files (Gradio file paths), reporting each failure by name; the listing is refreshed."""
        paths = [str(getattr(f, "name", f)) for f in files or []]
        if not paths:
            return (*self._listing(render.notice_html("No file was uploaded.")), None)

        def note(fraction: float, what: str) -> None:
            if progress is not None:
                progress(fraction, desc=what)

        try:
            result = self.library.add_files(paths, on_progress=note)
        except RagError as exc:  # the index itself could not be updated (locked, corrupt): nothing changed
            log.exception("upload failed")
            return (*self._listing(render.notice_html(f"Nothing was added: {exc}", error=True)), None)
        return (*self._listing(render.upload_report_html(result)), None)

    def remove(self, doc_id: str | None) -> tuple[str, str, Any]:
        if not doc_id:
            return self._listing(render.notice_html("Choose a document to remove first.", error=True))
        try:
            self.library.remove(doc_id)
        except RagError as exc:
            return self._listing(render.notice_html(f"Nothing was removed: {exc}", error=True))
        return self._listing(render.notice_html(f"Removed {doc_id} from the index."))
