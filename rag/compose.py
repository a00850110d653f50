"""Compose the extractive answer: the chosen sentences' citations, led by the short answer, and the text.

The short answer is the phrase of a chosen sentence that answers the question (`rag.span`), cited as an exact
span inside that sentence. When the chosen sentences of different articles give different values, each a date,
a number or a name ("12" in one, "31" in another), neither is picked silently: each value leads the answer with
its own citation, newest article first, and the text says the reports differ, giving each one's outlet and
date. A value that a later article of the story says is wrong ("a budget of $2.4 million, not $4.2 million",
a correction) is neither the answer nor a rival report: the corrected value leads.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace

from rag.cite import make_citation
from rag.extractive import Candidate
from rag.records import Citation, Document, SearchWindow
from rag.span.model import ShortAnswer, short_answers
from rag.text.terms import terms
from rag.window import day_range

# Months written out or abbreviated are the same value: "Aug. 13" and "August 13" agree.
_MONTH_PREFIX = 3
# Reports of one story that differ are days or weeks apart; a value months away is another story's.
SAME_STORY_DAYS = 31
# The kinds of value two reports can give differently: a free phrase ("words") differs without disagreeing.
_VALUES = frozenset({"date", "number", "name"})


_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def _value(text: str) -> frozenset[str]:
    """What a short answer says, for comparing two of them: its numbers whole ("2.4" is not "4.2"), and its
    other terms, months cut to their first letters."""
    numbers = _NUMBER.findall(text)
    words = (t[:_MONTH_PREFIX] if t.isalpha() else t for t in terms(_NUMBER.sub(" ", text)))
    return frozenset([*(n.replace(",", "") for n in numbers), *words])


def _agree(a: str, b: str) -> bool:
    """Two short answers say the same when the terms of one hold the other's ("Guler", "Yasar Guler")."""
    va, vb = _value(a), _value(b)
    return not va or not vb or va <= vb or vb <= va


def _differs(found: ShortAnswer, leads: Sequence[ShortAnswer]) -> bool:
    """Whether `found` is another value of the same kind as the leading short answers (a number against a
    number, a name against a name), not one they hold."""
    return found.kind in _VALUES and all(x.kind == found.kind and not _agree(found.text, x.text) for x in leads)


# What a sentence says just before a value it rejects: "$2.4 million, not $4.2 million", "rather than 12".
_REJECTS = re.compile(r"\b(?:not|rather than|instead of)\s*$", re.IGNORECASE)


def _rejects(sentence: str, value: str) -> bool:
    """Whether `sentence` rejects `value`: it gives it right after "not", "rather than" or "instead of"."""
    at = sentence.lower().find(value.lower())
    while at >= 0:
        if _REJECTS.search(sentence[:at]):
            return True
        at = sentence.lower().find(value.lower(), at + 1)
    return False


def _answer(question: str, sentence: str) -> ShortAnswer | None:
    """The sentence's short answer, passing over a phrase the sentence itself rejects ("..., not $4.2 million")."""
    return next((a for a in short_answers(question, sentence, limit=3) if not _rejects(sentence, a.text)), None)


def _days_apart(a: Document, b: Document) -> int:
    """Days between two articles' dates (0 when either is undated: nothing says they are far apart)."""
    da, db = day_range(a.date), day_range(b.date)
    if da is None or db is None:
        return 0
    return max(0, (da[0] - db[1]).days, (db[0] - da[1]).days)


Lead = tuple[Candidate, ShortAnswer]  # a sentence and the short answer found in it


def _leads(documents: Mapping[str, Document], question: str, chosen: Sequence[Candidate],
           rivals: Sequence[Candidate], searched: Sequence[Candidate]) -> tuple[list[Lead], Candidate | None]:
    """The sentences whose short answers lead the answer, with them: the best chosen sentence's alone, or, when
    other articles' chosen sentences or `rivals` give another date, number or name, one sentence per value,
    newest article first (undated last). A sentence of a later article among all those `searched` that rejects the
    best one's value and gives another (a correction) leads instead; it is returned second (else None). Empty
    when the best sentence holds no short answer."""
    best = max(chosen, key=lambda c: c.probability)
    first = _answer(question, _text(documents, best))
    if first is None:
        return [], None
    others = [c for c in [*chosen, *rivals] if c is not best
              and _days_apart(documents[c.doc_id], documents[best.doc_id]) <= SAME_STORY_DAYS]
    same_story = [c for c in searched if _days_apart(documents[c.doc_id], documents[best.doc_id]) <= SAME_STORY_DAYS]
    chosen_best = best
    best, first = _corrected(documents, question, (best, first), same_story)
    leads = [(best, first)]
    rejected = [_text(documents, best)]
    for c in others:
        if c is best or c.doc_id in {x.doc_id for x, _ in leads}:
            continue
        found = _answer(question, _text(documents, c))
        if (found is not None and _differs(found, [s for _, s in leads])
                and not any(_rejects(text, found.text) for text in rejected)):
            leads.append((c, found))
            rejected.append(_text(documents, c))
    leads.sort(key=lambda cs: documents[cs[0].doc_id].date or "", reverse=True)
    return leads, (best if best is not chosen_best else None)


def _corrected(documents: Mapping[str, Document], question: str, lead: tuple[Candidate, ShortAnswer],
               others: Sequence[Candidate]) -> tuple[Candidate, ShortAnswer]:
    """`lead`, or the sentence of a later article that rejects its value and gives another of the same kind."""
    c0, s0 = lead
    for c in others:
        text = _text(documents, c)
        later = (documents[c.doc_id].date or "") > (documents[c0.doc_id].date or "")
        if c.doc_id == c0.doc_id or not later or not _rejects(text, s0.text):
            continue
        found = _answer(question, text)
        if found is not None and found.kind == s0.kind and not _agree(found.text, s0.text):
            return c, found
    return lead


def _text(documents: Mapping[str, Document], c: Candidate) -> str:
    return documents[c.doc_id].text[c.start:c.end]


def _copies(c: Candidate) -> tuple[str, ...]:
    """The other documents whose copy of the candidate's passage was folded into it (`rag.copies`)."""
    return tuple(d for d in c.passage.also_in if d != c.doc_id)


def citations(documents: Mapping[str, Document], question: str, chosen: Sequence[Candidate], *,
              short: bool, rivals: Sequence[Candidate] = (), searched: Sequence[Candidate] = ()
) -> tuple[Citation, ...]:
    """The answer's citations: the short answer(s) (role "answer"), then every chosen sentence, numbered from 1
    in that order. `rivals` are sentences of other articles nearly as likely to answer as the chosen ones: one
    that gives a different value joins the answer, its value beside the chosen one's. Any sentence `searched` (the
    search's candidates) of a later article that corrects the best one's value leads instead. Without `short`,
    or when no phrase answers, the chosen sentences alone."""
    leads, correction = _leads(documents, question, chosen, rivals, searched) if short and chosen else ([], None)
    lead = [replace(make_citation(documents[c.doc_id], c.start + found.start, c.start + found.end, marker=i,
                                  passage_id=c.passage.passage.id, role="answer"), also_in=_copies(c))
            for i, (c, found) in enumerate(leads, 1)]
    # A correction's sentence comes first: it says which value it corrects ("$2.4 million, not $4.2 million").
    sentences = list(dict.fromkeys([*([correction] if correction else []), *chosen, *(c for c, _ in leads)]))
    # A sentence's citation lists the other outlets whose copy of its passage was folded into it (rag.copies).
    return (*lead, *(
        replace(make_citation(documents[c.doc_id], c.start, c.end, marker=i, passage_id=c.passage.passage.id),
                also_in=_copies(c))
        for i, c in enumerate(sentences, len(lead) + 1)
    ))


def _who_when(c: Citation) -> str:
    return ", ".join(x for x in (c.source or c.title, c.date or "undated") if x)


def answer_text(question: str, cited: Sequence[Citation], window: SearchWindow | None) -> str:
    """The answer's text: the short answer (or, when reports differ, each value with its outlet and date), a
    dash, then the cited sentences, each quote verbatim with its marker; or the abstention, saying which
    window was searched when one applied."""
    if cited:
        short = [c for c in cited if c.role == "answer"]
        sentences = " ".join(f"{c.quote} [{c.marker}]" for c in cited if c.role == "support")
        if len(short) > 1:
            values = "; ".join(f"{c.quote} [{c.marker}] ({_who_when(c)})" for c in short)
            return f"Reports differ: {values} — {sentences}"
        if short:
            return f"{short[0].quote} [{short[0].marker}] — {sentences}"
        return sentences
    text = (f"The articles do not say. Nothing in the indexed articles answers “{question}”; "
            "the closest passages are listed below.")
    if window is not None:
        text += f" (Searched {window.description}" + (f"; {window.note})" if window.note else ".)")
    return text
