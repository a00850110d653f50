"""rag.chat.render: answers to chat messages and the sources panel; article text always shown as text."""

from __future__ import annotations

import html
import re

import pytest

from rag.chat import render
from rag.collection import AddResult, DocumentInfo
from rag.errors import IngestError
from rag.records import Answer, Citation, Passage, ScoredPassage

DOC = "Intro line.\nOn Aug. 13, the pact was <b>signed</b>. The end *here* [x](javascript:alert(1)) {{7*7}} ${1}."


def _answer(*, abstain: bool = False, query: str = "When was it signed?") -> Answer:
    start = DOC.index("On Aug. 13")
    end = DOC.index(". The end") + 1
    passage = Passage(id=3, doc_id="d.txt", start=0, end=len(DOC), text=DOC, sentences=((0, 11), (12, end)))
    sp = ScoredPassage(passage=passage, title="<i>Title</i>", score=0.0328, rank=1, dense_score=0.61,
                       lexical_score=None)
    cites = () if abstain else (Citation(marker=1, doc_id="d.txt", title="<i>Title</i>", start=start, end=end,
                                         quote=DOC[start:end], passage_id=3, date="2025-08-18", source="Wire"),)
    text = "The articles do not say." if abstain else f"{DOC[start:end]} [1]"
    return Answer(text=text, citations=cites, passages=(sp,), abstained=abstain, query=query,
                  question="When was it signed?")


def _visible(markup: str) -> str:
    """The text a browser shows for `markup` (tags dropped, character references decoded)."""
    return html.unescape(re.sub(r"<[^>]+>", "", markup))


@pytest.mark.parametrize("text", [
    "<script>alert(1)</script>", '<img src=x onerror="alert(1)">', "**bold** _it_ `code` ~~s~~",
    "[link](javascript:alert(1))", "{{constructor}} ${x}", "# heading", "1. item", "- item", "> quote", "a | b",
    "&amp; stays &amp;", "Çà 中文 😀",
])
def test_esc_leaves_no_markup_and_shows_the_same_text(text: str) -> None:
    out = render.esc(text)
    assert not re.search(r"[<>`*_\[\]{}$|~]", out)
    assert not re.match(r"\s*([#>+=-]|\d+[.)])", out)
    assert html.unescape(out) == text


def test_answer_pieces_stream_up_to_each_marker() -> None:
    a = _answer()
    a2 = Answer(text="First fact. [1] Second fact. [2]", citations=a.citations * 2, passages=a.passages,
                abstained=False, query="q", question="q")
    assert render.answer_pieces(a2) == ["First fact. [1]", "First fact. [1] Second fact. [2]"]
    assert render.answer_pieces(_answer(abstain=True)) == ["The articles do not say."]


def test_answer_messages_cite_with_metadata_messages() -> None:
    msgs = render.answer_messages(_answer(), mode="dense")
    assert msgs[0]["role"] == "assistant" and msgs[0]["content"].endswith("[1]") and "metadata" not in msgs[0]
    assert "&#60;b&#62;signed&#60;/b&#62;" in msgs[0]["content"]  # the article's tags, shown as text
    assert msgs[1]["metadata"] == {"title": "Sources (1)", "status": "done"}
    assert "2025-08-18" in msgs[1]["content"] and "**[1]**" in msgs[1]["content"]
    assert msgs[2]["metadata"]["title"] == "How the articles were searched"
    assert "dense search" in msgs[2]["content"] and "score 0.0328" in msgs[2]["content"]
    for m in msgs:
        assert "<b>" not in m["content"] and "<i>" not in m["content"] and "](javascript" not in m["content"]


def test_abstention_offers_the_closest_passages_open() -> None:
    msgs = render.answer_messages(_answer(abstain=True))
    assert msgs[1]["metadata"] == {"title": "Closest passages"}  # no status: shown open
    assert "Intro line" in msgs[1]["content"]
    panel = render.sources_html(_answer(abstain=True))
    assert "do not answer" in panel and "Intro line" in _visible(panel)


def test_sources_panel_highlights_the_exact_span_inside_its_passage() -> None:
    a = _answer(query="When was the pact signed?")
    panel = render.sources_html(a, mode="hybrid")
    marks = re.findall(r'<mark class="rag-cited" data-marker="1">(.*?)</mark>', panel)
    assert marks and all(html.unescape(m) == a.citations[0].quote for m in marks)
    source = panel.split('<section class="rag-source"', 1)[1].split("</section>")[0]
    assert "Intro line." in _visible(source)  # the span is shown inside its surrounding passage
    assert "<b>" not in panel and "<i>" not in panel and "<script" not in panel
    assert "&#60;i&#62;Title&#60;/i&#62;" in panel
    assert "Retrieved passages (1, hybrid search)" in panel and "dense 0.610" in panel and "lexical –" in panel
    assert "When was the pact signed?" in panel and "rewritten" in panel


def test_documents_and_upload_report_are_escaped() -> None:
    docs = [DocumentInfo(id="a<b>.txt", title="<script>x</script>", date=None, source="S", passages=2,
                         characters=10, uploaded=True)]
    table = render.documents_html(docs)
    assert "<script>" not in table and "1 documents, 2 passages" in table and "(uploaded)" in table
    assert render.document_choices(docs) == [("<script>x</script> (a<b>.txt)", "a<b>.txt")]  # Gradio shows as text
    report = render.upload_report_html(AddResult(added=("a.txt",), renamed=(("../a.txt", "a.txt"),),
                                                 failures=(IngestError("<b>x.pdf", "the PDF has no text layer"),)))
    assert "Added: a.txt" in report and "Failed: &#60;b&#62;x.pdf: the PDF has no text layer" in report
    assert "Stored ../a.txt as a.txt" in _visible(report)

