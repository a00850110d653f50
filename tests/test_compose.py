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
