"""Answer and documents to what the page shows: chat messages (Markdown) and the sources panel (HTML).

Every piece of article text goes through `esc()`: it is shown as text, never interpreted as HTML, Markdown or
a template, whatever an uploaded article contains.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rag.cite import MARKER
from rag.collection import AddResult, DocumentInfo
from rag.records import Answer, Citation, Document, ScoredPassage

# Characters with a meaning inside a line of HTML, Markdown or a Gradio HTML template, written as numeric
# character references: the browser shows the character, and no parser treats it as markup. Article text is
# only ever placed in element content, never in attributes, so quotes need no escaping.
_ESCAPES = str.maketrans({c: f"&#{ord(c)};" for c in "&<>`\\*_{}[]~$|"})
# What makes a line a heading, list, quote or rule when it starts one.
_LINE_START = re.compile(r"^([ \t]*)([#>+=-]|\d+(?=[.)]))", re.MULTILINE)
_NEWLINES = re.compile(r"\s*\n\s*")

Message = dict[str, Any]


def esc(text: str) -> str:
    """`text` made inert for HTML and Markdown: each special character as a character reference."""
    text = text.translate(_ESCAPES)
    return _LINE_START.sub(lambda m: m.group(1) + "".join(f"&#{ord(c)};" for c in m.group(2)), text)


def esc_line(text: str) -> str:
    """`esc()`, with line breaks folded into spaces (a chat bubble would otherwise read them as Markdown)."""
    return esc(_NEWLINES.sub(" ", text.strip()))


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


def _where(c: Citation) -> str:
    parts = [p for p in (c.dated, c.source) if p]
    parts.append(f"{c.doc_id}, characters {c.start}–{c.end}" + (f", page {c.page}" if c.page else ""))
    return " · ".join(parts)


# -- chat messages --------------------------------------------------------------------------------------
def answer_pieces(answer: Answer) -> list[str]:
    """The answer text as Markdown, cut after each marker: the chat streams these one after another. The
    short answer, when there is one, is in bold."""
    short = {c.marker: esc_line(c.quote) for c in answer.citations if c.role == "answer"}
    pieces: list[str] = []
    pos = 0
    for m in MARKER.finditer(answer.text):
        words = esc_line(answer.text[pos:m.start()])
        value = short.get(int(m.group(1)))
        if value and words.endswith(value):  # a short answer ("31" of "Reports differ: 31") in bold
            words = f"{words[: len(words) - len(value)]}**{value}**"
        pieces.append(words + f" [{m.group(1)}]")
        pos = m.end()
    if answer.text[pos:].strip() or not pieces:
        pieces.append(esc_line(answer.text[pos:]))
    return [" ".join(pieces[: i + 1]) for i in range(len(pieces))]


def _passage_line(sp: ScoredPassage, *, limit: int = 280) -> str:
    scores = f"score {sp.score:.4f}"
    if sp.dense_score is not None:
        scores += f", dense {sp.dense_score:.3f}"
    if sp.lexical_score is not None:
        scores += f", lexical {sp.lexical_score:.2f}"
    return f"{sp.rank}. **{esc_line(sp.title)}** ({scores}): {esc_line(_clip(sp.passage.text, limit))}"


def answer_messages(answer: Answer, *, text: str | None = None, mode: str = "hybrid") -> list[Message]:
    """The assistant's turn: the answer (or a prefix of it, while streaming), then metadata messages, shown
    collapsed, with the sources and with how the articles were searched (query, passages and scores)."""
    messages: list[Message] = [{"role": "assistant", "content": answer_pieces(answer)[-1] if text is None else text}]
    if answer.citations:
        body = "\n\n".join(f"**[{c.marker}]** {esc_line(c.title)}, {esc_line(_where(c))}  \n“{esc_line(c.quote)}”"
                           for c in answer.citations)
        messages.append({"role": "assistant", "content": body,
                         "metadata": {"title": f"Sources ({len(answer.citations)})", "status": "done"}})
    else:
        body = "\n".join(_passage_line(sp) for sp in answer.passages[:3]) or "No passage was retrieved."
        messages.append({"role": "assistant", "content": body, "metadata": {"title": "Closest passages"}})
    rewritten = answer.query != answer.question
    details = [f"Searched for: “{esc_line(answer.query)}”"
               + (" (your question, rewritten using the conversation)" if rewritten else ""),
               f"Answer: {_answerer(answer)}.",
               *([_window_line(answer)] if answer.window is not None else []),
               *([f"True as of {esc_line(answer.current_as_of)}, the newest article cited."]
                 if answer.current_as_of else []),
               f"{len(answer.passages)} passages retrieved ({mode} search):", "",
               *(_passage_line(sp, limit=160) for sp in answer.passages)]
    messages.append({"role": "assistant", "content": "\n".join(details),
                     "metadata": {"title": "How the articles were searched", "status": "done"}})
    return messages


def _window_line(answer: Answer) -> str:
    """"Searched articles up to 2024-06-14 from CNN, preferring 2024-06-07 to 2024-06-14 (“this week”).", and
    what a reader should know about it (`SearchWindow.note`)."""
    w = answer.window
    assert w is not None
    return f"Searched {esc_line(w.description)}" + (f"; {esc_line(w.note)}." if w.note else ".")


def _answerer(answer: Answer) -> str:
    if answer.answerer == "generative":
        return (f"generated, {sum(answer.supported)} of {len(answer.supported)} sentences supported by the sources "
                "([unsupported] marks the others)")
    return "quoted from the articles" if answer.citations else "none found in the articles"


def pending_message(question: str) -> Message:
    return {"role": "assistant", "content": "",
            "metadata": {"title": f"Searching the articles for “{_clip(question, 60)}”", "status": "pending"}}


def draft_message(text: str) -> Message:
    """Generated text still being written: shown as it comes, marked as not yet checked."""
    return {"role": "assistant", "content": esc_line(text) + " …",
            "metadata": {"title": "Writing the answer; every sentence is checked against the sources next",
                         "status": "pending"}}


def notice_message(text: str) -> Message:
    """A plain assistant message (a refusal or an error), escaped."""
    return {"role": "assistant", "content": esc_line(text)}


# -- sources panel --------------------------------------------------------------------------------------
def _highlight(passage_text: str, base: int, spans: Iterable[tuple[int, int, int]], *,
               css: str = "rag-cited") -> str:
    """`passage_text` (starting at document offset `base`) escaped, with each (start, end, marker) span
    wrapped in <mark>. A span inside another (the short answer inside its sentence) is marked inside it."""
    ordered = sorted(spans, key=lambda t: (t[0], -t[1]))
    outer = [t for t in ordered if not any(o != t and o[0] <= t[0] and t[1] <= o[1] for o in ordered)]
    out, pos = [], 0
    for start, end, marker in outer:
        s, e = max(start - base, pos), min(end - base, len(passage_text))
        if s >= e:
            continue
        inner = [t for t in ordered if t not in outer and start <= t[0] and t[1] <= end]
        body = (_highlight(passage_text[s:e], base + s, inner, css="rag-answer") if inner
                else esc(passage_text[s:e]))
        out.append(esc(passage_text[pos:s]))
        out.append(f'<mark class="{css}" data-marker="{marker}">{body}</mark>')
        pos = e
    out.append(esc(passage_text[pos:]))
    return "".join(out)


def _cited_spans(answer: Answer, sp: ScoredPassage) -> list[tuple[int, int, int]]:
    p = sp.passage
    return [(c.start, c.end, c.marker) for c in answer.citations
            if c.doc_id == p.doc_id and c.start < p.end and c.end > p.start]


def _source_html(c: Citation, passages: Sequence[ScoredPassage], inner: Sequence[Citation] = (),
                 names: Mapping[str, str] | None = None) -> str:
    """One cited sentence in its passage, with the short answer (`inner`) marked inside it."""
    sp = next((s for s in passages if s.passage.id == c.passage_id), None)
    spans = [(c.start, c.end, c.marker), *((i.start, i.end, i.marker) for i in inner)]
    # The span is shown alone when its passage is not among those retrieved.
    text, base = (c.quote, c.start) if sp is None else (sp.passage.text, sp.passage.start)
    body = _highlight(text, base, spans)
    return (f'<section class="rag-source" id="rag-source-{c.marker}">'
            f'<div class="rag-source-title"><span class="rag-marker">[{c.marker}]</span> {esc(c.title)}</div>'
            f'<div class="rag-source-meta">{esc(_where(c))}</div>'
            f'<p class="rag-passage">{body}</p>{_also_in(c, names or {})}</section>')


def copy_names(answer: Answer, documents: Mapping[str, Document]) -> dict[str, str]:
    """How a reader is shown each document in the answer's "also in" lists: its outlet (else title) and date."""
    ids = {d for c in answer.citations for d in c.also_in}
    out = {}
    for d in ids:
        doc = documents.get(d)
        out[d] = d if doc is None else f"{doc.attribution or doc.title or d} ({doc.date or 'undated'})"
    return out


def _also_in(c: Citation, names: Mapping[str, str]) -> str:
    """The other outlets that carried the cited story (`rag.copies`); empty when none."""
    if not c.also_in:
        return ""
    shown = ", ".join(names.get(d, d) for d in c.also_in)
    return f'<div class="rag-source-meta rag-also-in">Also in: {esc(shown)}</div>'


def _scores(sp: ScoredPassage) -> str:
    dense = "–" if sp.dense_score is None else f"{sp.dense_score:.3f}"
    lexical = "–" if sp.lexical_score is None else f"{sp.lexical_score:.2f}"
    return f"score {sp.score:.4f} · dense {dense} · lexical {lexical}"


def sources_html(answer: Answer, *, mode: str = "hybrid", copies: Mapping[str, str] | None = None) -> str:
    """The sources panel: each citation's title, date (and where it was read) and source, the cited span
    highlighted inside its passage, and the other outlets that carried the story (`copies` names them:
    document id -> what a reader is shown); on abstention the closest passages; then, collapsed, every passage
    retrieved (with scores) and the query that was searched."""
    parts = ['<div class="rag-panel">']
    if answer.citations:
        parts.append("<h3>Sources</h3>")
        short = [c for c in answer.citations if c.role == "answer"]
        for c in answer.citations:
            inside = [a for a in short if a.doc_id == c.doc_id and c.start <= a.start and a.end <= c.end]
            if c.role == "support":
                parts.append(_source_html(c, answer.passages, inside, copies))
            elif not any(s.role == "support" and s.doc_id == c.doc_id and s.start <= c.start and c.end <= s.end
                         for s in answer.citations):
                parts.append(_source_html(c, answer.passages, names=copies))  # outside every cited sentence
    else:
        parts.append('<h3>No answer in the articles</h3><p class="rag-abstain">The indexed articles do not answer '
                     "this question. The closest passages:</p>")
        for sp in answer.passages[:3]:
            parts.append(f'<section class="rag-source"><div class="rag-source-title">{esc(sp.title)}</div>'
                         f'<div class="rag-source-meta">{esc(sp.passage.doc_id)}</div>'
                         f'<p class="rag-passage">{esc(sp.passage.text)}</p></section>')
    items = "".join(
        f'<li><div class="rag-source-title">{esc(sp.title)}</div><div class="rag-source-meta">{esc(_scores(sp))} · '
        f'{esc(sp.passage.doc_id)}</div><p class="rag-passage">'
        f"{_highlight(sp.passage.text, sp.passage.start, _cited_spans(answer, sp))}</p></li>"
        for sp in answer.passages
    )
    parts.append(f'<details class="rag-retrieved"><summary>Retrieved passages ({len(answer.passages)}, {esc(mode)} '
                 f"search)</summary><ol>{items}</ol></details>")
    note = " (your question, rewritten using the conversation)" if answer.query != answer.question else ""
    parts.append(f'<details class="rag-query"><summary>Search query</summary><p>{esc(answer.query)}{note}</p>'
                 "</details></div>")
    return "".join(parts)


EMPTY_PANEL = ('<div class="rag-panel"><h3>Sources</h3><p class="rag-hint">Ask a question: the exact words each '
               "answer relies on appear here, highlighted inside their passage.</p></div>")


# -- documents view -------------------------------------------------------------------------------------
def documents_html(docs: Sequence[DocumentInfo]) -> str:
    if not docs:
        return '<p class="rag-hint">No document is indexed yet: upload some articles below.</p>'
    rows = "".join(
        f"<tr><td>{esc(d.title)}</td><td>{esc(d.date or '–')}</td><td>{esc(d.source or '–')}</td>"
        f"<td>{d.passages}</td><td><code>{esc(d.id)}</code>{' (uploaded)' if d.uploaded else ''}</td></tr>"
        for d in docs
    )
    total = sum(d.passages for d in docs)
    return (f'<table class="rag-docs"><caption>{len(docs)} documents, {total} passages</caption><thead><tr>'
            "<th>Title</th><th>Date</th><th>Source</th><th>Passages</th><th>File</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>")


def document_choices(docs: Sequence[DocumentInfo]) -> list[tuple[str, str]]:
    """(label, id) pairs for the remove-a-document dropdown."""
    return [(f"{_clip(d.title, 70)} ({d.id})", d.id) for d in docs]


def upload_report_html(result: AddResult) -> str:
    lines = []
    for label, ids in (("Added", result.added), ("Replaced", result.replaced), ("Already indexed", result.unchanged)):
        if ids:
            lines.append(f"<li>{label}: {esc(', '.join(ids))}</li>")
    lines.extend(f"<li>Stored {esc(a)} as {esc(b)}</li>" for a, b in result.renamed)
    lines.extend(f"<li>Already indexed as {esc(b)}: {esc(a)} (the same text; not added again)</li>"
                 for a, b in result.duplicates)
    lines.extend(f'<li class="rag-failed">Failed: {esc(f.path)}: {esc(f.reason)}</li>' for f in result.failures)
    return f'<ul class="rag-report">{"".join(lines) or "<li>No file was given.</li>"}</ul>'


def notice_html(text: str, *, error: bool = False) -> str:
    return f'<p class="{"rag-failed" if error else "rag-hint"}">{esc(text)}</p>'


CSS = """
.rag-panel { font-size: 0.95rem; }
.rag-source { border-left: 3px solid var(--color-accent); padding: 0.2rem 0.6rem; margin: 0.6rem 0; }
.rag-source-title { font-weight: 600; }
.rag-source-meta { color: var(--body-text-color-subdued); font-size: 0.85rem; }
.rag-passage { white-space: pre-wrap; margin: 0.3rem 0; }
mark.rag-cited { background: #ffe066; color: #000; padding: 0 1px; }
mark.rag-answer { background: #ff9f1c; color: #000; font-weight: 600; padding: 0 1px; }
.rag-marker { color: var(--color-accent); }
.rag-retrieved .rag-source-title { font-weight: 500; font-size: 0.85rem; }
.rag-failed { color: #c0392b; }
.rag-hint { color: var(--body-text-color-subdued); }
#rag-doc-status { min-height: 3.5rem; }
table.rag-docs td, table.rag-docs th { padding: 0.2rem 0.5rem; vertical-align: top; }
"""
