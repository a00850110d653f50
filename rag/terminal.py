"""How the CLI shows things on a terminal: an answer with its numbered sources, and any text with the control
characters a terminal would act on written out as escapes."""

from __future__ import annotations

from collections.abc import Mapping

from rag.records import Answer, Document

# Characters a terminal acts on rather than shows: C0 controls but newline and tab, DEL, C1 controls, and the
# bidi embeddings, overrides and isolates (which reorder what follows them on screen).
_UNSAFE = [*range(0x20), 0x7F, *range(0x80, 0xA0), *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
_VISIBLE = {c: (f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}") for c in _UNSAFE if chr(c) not in "\n\t"}
# JSON escapes C0 itself; the others, which it leaves raw, get \uXXXX escapes: the same JSON value, safe to show.
JSON_SAFE = {c: f"\\u{c:04x}" for c in _UNSAFE if c >= 0x7F}


def visible(text: object) -> str:
    """`text` as it may be shown on a terminal: every control character written out as an escape (ESC as
    `\\x1b`), so that an article or a file name cannot move the cursor, clear the screen, set the clipboard or
    reorder the line. Only for what the CLI prints; stored text and `--json` output stay as they are."""
    return str(text).translate(_VISIBLE)


def _copy(doc_id: str, documents: Mapping[str, Document] | None) -> str:
    """Another outlet's copy of a cited story: "title (date, source)", or its id when the index is not at hand."""
    doc = (documents or {}).get(doc_id)
    if doc is None:
        return doc_id
    return f"{doc.title or doc_id} ({', '.join(x for x in (doc.date or 'undated', doc.attribution) if x)})"


def format_answer(answer: Answer, *, documents: Mapping[str, Document] | None = None) -> str:
    """The answer, then its numbered sources with their quoted spans (or the closest passages on abstention).
    `documents` (the index's) names the other outlets that carried a cited story by title, date and source."""
    lines = [answer.text, ""]
    if answer.query != answer.question:
        lines.insert(0, f"(searched for: {answer.query})")
    if answer.window is not None:
        w = answer.window
        lines.insert(-1, f"(searched {w.description}" + (f"; {w.note}" if w.note else "") + ")")
    if answer.current_as_of:
        lines.insert(-1, f"(as of {answer.current_as_of}, the newest article cited)")
    if answer.answerer == "generative":
        lines.insert(-1, f"(generated; {sum(answer.supported)} of {len(answer.supported)} sentences supported "
                         "by the sources below; [unsupported] marks the others)")
    if answer.citations:
        lines.append("Sources:")
        for c in answer.citations:
            where = f"{c.doc_id}, characters {c.start}-{c.end}" + (f", page {c.page}" if c.page else "")
            role = ", the short answer" if c.role == "answer" else ""
            lines.append(f"[{c.marker}] {c.title} ({c.dated}; {where}{role})")
            lines.append(f"    “{c.quote}”")
            if c.also_in:
                lines.append("    also in: " + "; ".join(_copy(d, documents) for d in c.also_in))
    else:
        lines.append("Closest passages:")
        for sp in answer.passages[:3]:
            text = sp.passage.text if len(sp.passage.text) < 300 else sp.passage.text[:297] + "..."
            lines.append(f"  - {sp.title} ({sp.passage.doc_id}): {text}")
    return visible("\n".join(lines))


__all__ = ["JSON_SAFE", "format_answer", "visible"]
