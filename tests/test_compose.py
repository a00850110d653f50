"""rag.compose: the short answer leads the answer as its own exact citation; reports of one story that give
different values are shown side by side, newest first; and the chat marks the short answer inside its sentence."""

from __future__ import annotations

import re

from rag.chat import render
from rag.cite import verify
from rag.compose import answer_text, citations
from rag.extractive import Candidate, SentenceFeatures
from rag.records import Answer, Document, Passage, ScoredPassage

EARLY = "PORT ALDEN — A strong earthquake struck Port Alden on Saturday, killing at least 12 people, officials said."
LATER = "PORT ALDEN — The death toll from the Port Alden earthquake rose to 31 people on Monday, officials said."
QUESTION = "How many people died in the Port Alden earthquake?"


def _doc(doc_id: str, text: str, date: str | None, source: str) -> Document:
    return Document(id=doc_id, title=f"{source} report", text=text, date=date, source=source)


def _cand(doc: Document, pid: int, probability: float) -> Candidate:
    passage = Passage(id=pid, doc_id=doc.id, start=0, end=len(doc.text), text=doc.text,
                      sentences=((0, len(doc.text)),))
    sp = ScoredPassage(passage=passage, title=doc.title, score=1.0, rank=pid + 1)
    return Candidate(doc.id, 0, len(doc.text), sp, SentenceFeatures(*([0.0] * 12)), probability)


def _docs(*docs: Document) -> dict[str, Document]:
    return {d.id: d for d in docs}


def test_the_short_answer_leads_as_an_exact_span_inside_its_cited_sentence() -> None:
    early = _doc("a", EARLY, "2024-03-02", "Harbor Times")
    cited = citations(_docs(early), QUESTION, [_cand(early, 0, 0.9)], short=True)
    assert [(c.marker, c.role, c.quote) for c in cited] == [(1, "answer", "12"), (2, "support", EARLY)]
    assert EARLY[cited[0].start:cited[0].end] == "12"
    text = answer_text(QUESTION, cited, None)
    assert text == f"12 [1] — {EARLY} [2]"
    verify(text, cited, _docs(early))
    plain = citations(_docs(early), QUESTION, [_cand(early, 0, 0.9)], short=False)
    assert [c.role for c in plain] == ["support"] and answer_text(QUESTION, plain, None) == f"{EARLY} [1]"


def test_two_reports_of_one_story_with_different_values_are_shown_newest_first() -> None:
    early, later = _doc("a", EARLY, "2024-03-02", "Harbor Times"), _doc("b", LATER, "2024-03-04", "Coastal Herald")
    docs = _docs(early, later)
    cited = citations(docs, QUESTION, [_cand(early, 0, 0.9)], short=True, rivals=[_cand(later, 1, 0.5)])
    assert [(c.role, c.quote, c.date) for c in cited[:2]] == [("answer", "31", "2024-03-04"),
                                                              ("answer", "12", "2024-03-02")]
    assert {c.doc_id for c in cited if c.role == "support"} == {"a", "b"}  # both sentences quoted
    text = answer_text(QUESTION, cited, None)
    assert text.startswith("Reports differ: 31 [1] (Coastal Herald, 2024-03-04); 12 [2] (Harbor Times, "
                           "2024-03-02) — ")
    verify(text, cited, docs)
    answer = Answer(text=text, citations=cited, passages=(), abstained=False, query=QUESTION, question=QUESTION)
    assert answer.short_answer == "31"


def test_agreeing_values_other_kinds_and_other_stories_are_not_called_a_conflict() -> None:
    early = _doc("a", EARLY, "2024-03-02", "Harbor Times")
    same_number = _doc("c", EARLY.replace("at least 12 people", "12 people at least"), "2024-03-03", "Wire")
    months_later = _doc("d", LATER, "2024-09-04", "Coastal Herald")
    for rival in (same_number, months_later):
        cited = citations(_docs(early, rival), QUESTION, [_cand(early, 0, 0.9)], short=True,
                          rivals=[_cand(rival, 1, 0.8)])
        assert [c.quote for c in cited if c.role == "answer"] == ["12"], rival.id
        assert not answer_text(QUESTION, cited, None).startswith("Reports differ")


BUDGET_Q = "What budget did the Elmwood council approve for the new library?"
BUDGET = "ELMWOOD — The Elmwood town council approved a budget of $4.2 million for the new public library."
CORRECTION = "The town council approved a budget of $2.4 million, not $4.2 million."


def test_a_later_correction_leads_with_the_corrected_value_and_its_sentence_first() -> None:
    original = _doc("a", BUDGET, "2024-04-02", "River Gazette")
    fix = _doc("b", CORRECTION, "2024-04-03", "River Gazette")
    docs = _docs(original, fix)
    # The correcting sentence is a weak candidate of the search, neither chosen nor a rival: it still leads.
    cited = citations(docs, BUDGET_Q, [_cand(original, 0, 0.95)], short=True, searched=[_cand(fix, 1, 0.04)])
    assert [(c.role, c.quote) for c in cited] == [("answer", "$2.4 million"), ("support", CORRECTION),
                                                  ("support", BUDGET)]
    text = answer_text(BUDGET_Q, cited, None)
    assert text.startswith("$2.4 million [1] — The town council approved")
    verify(text, cited, docs)
    # The rejected value is never offered as another report, nor as the correction's own short answer.
    cited = citations(docs, BUDGET_Q, [_cand(fix, 1, 0.9)], short=True, rivals=[_cand(original, 0, 0.8)])
    assert [c.quote for c in cited if c.role == "answer"] == ["$2.4 million"]


def test_a_correction_needs_a_later_article_that_rejects_the_value() -> None:
    fix_before = _doc("b", CORRECTION, "2024-04-01", "River Gazette")  # older than the article: not its fix
    original = _doc("a", BUDGET, "2024-04-02", "River Gazette")
    cited = citations(_docs(original, fix_before), BUDGET_Q, [_cand(original, 0, 0.95)], short=True,
                      searched=[_cand(fix_before, 1, 0.04)])
    assert [c.quote for c in cited if c.role == "answer"] == ["$4.2 million"]
    other = _doc("c", "The council approved a budget of $2.4 million for the new pool.", "2024-04-05", "Gazette")
    cited = citations(_docs(original, other), BUDGET_Q, [_cand(original, 0, 0.95)], short=True,
                      searched=[_cand(other, 2, 0.3)])
    assert [c.quote for c in cited if c.role == "answer"] == ["$4.2 million"]  # a different value, no rejection


def test_the_sources_panel_marks_the_short_answer_inside_its_highlighted_sentence() -> None:
    early = _doc("a", EARLY, "2024-03-02", "Harbor Times")
    cand = _cand(early, 0, 0.9)
    cited = citations(_docs(early), QUESTION, [cand], short=True)
    answer = Answer(text=answer_text(QUESTION, cited, None), citations=cited, passages=(cand.passage,),
                    abstained=False, query=QUESTION, question=QUESTION)
    panel = render.sources_html(answer)
    assert re.search(r'<mark class="rag-cited" data-marker="2">[^<]*<mark class="rag-answer" data-marker="1">12'
                     r"</mark>[^<]*</mark>", panel), panel
    assert panel.count('class="rag-source"') == 1  # one section: the sentence, with its short answer inside
    bubble = render.answer_messages(answer)[0]["content"]
    assert bubble.startswith("**12** [1]")


def test_a_full_date_is_a_date_so_two_reports_of_it_can_differ() -> None:
    # "April 1, 1999" was a run of words (its comma was dropped before the date was recognised), so a report
    # giving it never showed beside one giving "Aug. 13": the two were not values of one kind.
    from rag.span.model import phrase_kind

    assert [phrase_kind(t) for t in ("April 1, 1999", "Nov. 27, 2024", "Aug. 13", "12,500", "Yasar Guler")] == [
        "date", "date", "date", "number", "name"]


def test_a_word_that_starts_like_a_month_is_not_one() -> None:
    # "Mar-a-Lago" and "Maryland" were dates (any word starting "mar" was March), so "Florida" and "Mar-a-Lago",
    # two names from two reports, were never compared as values of one kind.
    from rag.span.model import phrase_kind

    assert [phrase_kind(t) for t in ("Mar-a-Lago", "Maryland", "Janet Yellen", "Augusta", "Sept. 9", "Jun 2024",
                                     "May 2022")] == ["name", "name", "name", "name", "date", "date", "date"]
