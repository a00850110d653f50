"""The page: a chat (gr.ChatInterface) beside a sources panel, a documents tab, and the `/ask` API endpoint.

Gradio reads the wrappers' type hints (gr.LikeData, gr.Progress, the API's parameters), so this module does not
use `from __future__ import annotations`.
"""

from collections.abc import Sequence
from typing import Any

from rag.chat import render
from rag.chat.feedback import FeedbackLog
from rag.chat.handlers import Handlers
from rag.collection import Collection
from rag.collection.uploads import UPLOAD_SUFFIXES, human_size

TITLE = "Ask the articles"
INTRO = (
    "Answers quote the indexed articles word for word. Each marker [1], [2] points to a source on the right, "
    "where the quoted words are highlighted inside their passage. When the articles do not say, the answer says so."
)


def build(library: Collection, *, examples: Sequence[str] = (), concurrency: int = 8, generator: object = None) -> Any:
    """The Gradio Blocks of the chat over `library` (not launched). With a `generator` (model path or name),
    answers are generated and checked instead of quoted (see `rag.engine.Engine.ask_stream`)."""
    import gradio as gr

    handlers = Handlers(library, FeedbackLog(library.index_dir), generator=generator)

    def ask(question: str, k: int = 10, mode: str = "hybrid", as_of: str = "", since: str = "", until: str = "",
            sources: list[str] | None = None) -> dict:
        """Answer a question from the indexed articles. Returns the Answer as JSON: text with [n] markers,
        citations (exact quotes with document offsets), the passages retrieved, abstained, query, timings,
        and the window searched. as_of, since, until: YYYY-MM-DD or empty; sources: outlet names."""
        return handlers.ask_api(question, k, mode, as_of, since, until, sources)

    # delete_cache: Gradio keeps a copy of every uploaded file in its temp folder; the index keeps its own.
    with gr.Blocks(title=TITLE, analytics_enabled=False, fill_height=True, delete_cache=(600, 600)) as demo:
        gr.Markdown(f"## {TITLE}\n{INTRO}")
        answers = gr.State({})
        with gr.Tab("Chat"):
            _chat_tab(handlers, answers, examples=examples, concurrency=concurrency)
        with gr.Tab("Documents"):
            table, choice = _documents_tab(handlers, library)
        demo.load(handlers.refresh, None, [table, choice], api_visibility="private")
        gr.api(ask, api_name="ask", concurrency_limit=concurrency)
    return demo


def _chat_tab(handlers: Handlers, answers: Any, *, examples: Sequence[str], concurrency: int) -> None:
    """The chat, its settings (k, search mode) and the sources panel beside it."""
    import gradio as gr

    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            panel = gr.HTML(render.EMPTY_PANEL, elem_id="rag-sources", render=False)
            k = gr.Slider(1, 20, value=10, step=1, label="Passages to retrieve (k)", render=False)
            mode = gr.Radio(["hybrid", "dense", "lexical"], value="hybrid", label="Search mode",
                            info="hybrid: meaning and words; dense: meaning only; lexical: words only",
                            render=False)
            since = gr.Textbox(label="Articles from (YYYY-MM-DD)", placeholder="any date", elem_id="rag-since",
                               render=False)
            until = gr.Textbox(label="Articles up to (YYYY-MM-DD)", placeholder="any date", elem_id="rag-until",
                               info="answers as of this day: 'this week' counts back from it", render=False)
            outlets = gr.Dropdown(choices=handlers.outlets(), value=[], multiselect=True, label="Outlets",
                                  info="only articles of these outlets (none chosen: all)", elem_id="rag-outlets",
                                  render=False)
            chatbot = gr.Chatbot(elem_id="rag-chat", height=560, latex_delimiters=[], buttons=["copy"],
                                 label="Chat", placeholder="Ask about the indexed articles.")
            gr.ChatInterface(
                handlers.respond,
                chatbot=chatbot,
                textbox=gr.Textbox(placeholder="Ask a question about the articles…", elem_id="rag-question",
                                   show_label=False, scale=7, submit_btn=True, stop_btn=True),
                additional_inputs=[k, mode, answers, since, until, outlets],
                additional_outputs=[panel, answers],
                additional_inputs_accordion=gr.Accordion("Settings", open=False, render=False),
                examples=[[q, None, None, None, None, None, None] for q in examples] or None,
                api_name="chat",
                concurrency_limit=concurrency,
                fill_height=False,
            )
        with gr.Column(scale=2, min_width=320):
            panel.render()

    def like(history: list, answers: dict, data: gr.LikeData) -> None:
        handlers.like(history, answers, data)

    chatbot.like(like, [chatbot, answers], None, api_visibility="private")


def _documents_tab(handlers: Handlers, library: Collection) -> tuple[Any, Any]:
    """The table of indexed documents, the upload area and the remove control; returns (table, choice)."""
    import gradio as gr

    def upload(files: list | None, progress: gr.Progress = gr.Progress()) -> tuple:  # noqa: B008 (Gradio's idiom)
        return handlers.upload(files, progress)

    docs = library.documents()
    table = gr.HTML(render.documents_html(docs), elem_id="rag-documents")
    files = gr.File(label=f"Add articles ({', '.join(UPLOAD_SUFFIXES)}; at most "
                          f"{human_size(library.max_upload_bytes)} each)",
                    file_count="multiple", file_types=list(UPLOAD_SUFFIXES), type="filepath",
                    elem_id="rag-upload")
    status = gr.HTML(elem_id="rag-doc-status")
    with gr.Row():
        choice = gr.Dropdown(choices=render.document_choices(docs), value=None, label="Remove a document",
                             elem_id="rag-remove-choice", scale=4)
        remove = gr.Button("Remove from the index", variant="stop", elem_id="rag-remove", scale=1)
    files.upload(upload, [files], [status, table, choice, files], api_visibility="private",
                 concurrency_limit=1, show_progress_on=status)
    remove.click(handlers.remove, [choice], [status, table, choice], api_visibility="private",
                 concurrency_limit=1, show_progress_on=status)
    return table, choice
