"""Publication dates wired through: every reader sets `date` and `date_source` by `rag.ingest.dates`, the index
keeps them, and every citation shows the date and where it was read (`rag ask`, the chat's panels, JSON)."""

from __future__ import annotations

import html
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from rag import cli
from rag.chat import render
from rag.cite import make_citation
from rag.index.index import Index
from rag.ingest.corpus import load_corpus, read_file
from rag.records import Answer, Citation, Document, Passage, ScoredPassage

STORY = "The council approved the harbour budget after a long debate. Work starts next spring."
SEED_QUESTION = "When did Turkey and Syria sign the memorandum of understanding?"


def _write(folder: Path, name: str, content: str | bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def _rows(folder: Path, rows: list[dict]) -> Path:
    return _write(folder, "corpus.jsonl", "".join(json.dumps(r) + "\n" for r in rows))


def _dated(doc: Document) -> tuple[str | None, str | None]:
    return doc.date, doc.date_source


# -- every reader ---------------------------------------------------------------------------------------------------
def test_corpus_rows_are_dated_from_their_date_then_url_then_dateline(tmp_path: Path) -> None:
    rows = [
        {"_id": "given", "text": STORY, "date": "Aug. 18, 2025", "url": "https://x.example/2024/06/14/story"},
        {"_id": "url", "text": STORY, "url": "https://x.example/news/2024/06/14/harbour-budget"},
        {"_id": "dateline", "text": "June 14, 2024 — " + STORY},
        {"_id": "year", "text": STORY, "date": 2023},
        {"_id": "year-and-url", "text": STORY, "date": "2024", "url": "https://x.example/2024/06/14/b"},
        {"_id": "stamp", "text": STORY, "date": "2024-06-14T23:30:00-05:00"},
        {"_id": "none", "text": STORY, "url": "https://x.example/news/harbour"},
    ]
    docs = {d.id: d for d in load_corpus([_rows(tmp_path, rows)]).documents}
    assert _dated(docs["given"]) == ("2025-08-18", "metadata")  # the corpus's own date beats its URL
    assert _dated(docs["url"]) == ("2024-06-14", "url")
    assert _dated(docs["dateline"]) == ("2024-06-14", "text")
    assert _dated(docs["year"]) == ("2023", "metadata")  # a year stays a year: never completed to a day
    assert _dated(docs["year-and-url"]) == ("2024-06-14", "url")  # a day of the year given
    assert _dated(docs["stamp"]) == ("2024-06-14", "metadata")  # the day as written
    assert _dated(docs["none"]) == (None, None)


def test_an_unreadable_row_date_fails_its_line(tmp_path: Path) -> None:
    rows = [{"_id": "ok", "text": STORY, "date": "2024-06-14"}] + [
        {"_id": f"bad{i}", "text": STORY, "date": value, "url": "https://x.example/2024/06/14/s"}
        for i, value in enumerate(["yesterday", "2024-13-45", "June 2024", "06/07/2024"])
    ]
    result = load_corpus([_rows(tmp_path, rows)])
    assert [d.id for d in result.documents] == ["ok"]
    errors = [str(f) for f in result.failures]
    assert [e.split(":")[:2] for e in errors] == [["corpus.jsonl", str(n)] for n in (2, 3, 4, 5)]
    assert all("'date' must be a date string or a year" in e for e in errors)
    assert '"yesterday"' in errors[0] and '"2024-13-45"' in errors[1]


def test_markdown_front_matter_then_its_text(tmp_path: Path) -> None:
    folder = tmp_path / "md"
    _write(folder, "a.md", f"---\ntitle: Budget\ndate: 2025-09-02\n---\n# Budget\n\n{STORY}\n")
    _write(folder, "b.md", f"---\ntitle: Budget\nurl: https://x.example/2024/06/14/budget\n---\n{STORY}\n")
    _write(folder, "c.md", f"---\ntitle: Budget\n---\nMarch 3, 2023 | By Ann Lee\n\n{STORY}\n")
    _write(folder, "d.md", f"---\ntitle: Budget\ndate: someday\n---\n{STORY}\n")
    result = load_corpus([folder])
    docs = {d.id: d for d in result.documents}
    assert _dated(docs["a.md"]) == ("2025-09-02", "metadata")
    assert _dated(docs["b.md"]) == ("2024-06-14", "url")
    assert _dated(docs["c.md"]) == ("2023-03-03", "text")
    assert [f.path for f in result.failures] == ["d.md"] and "someday" in result.failures[0].reason


def test_a_text_byline_gives_the_date_from_the_text_and_the_author(tmp_path: Path) -> None:
    doc = read_file(_write(tmp_path, "seed.txt", f"08/18/2025 / By Zoey Sky\n{STORY}\n"), "seed.txt")
    assert _dated(doc) == ("2025-08-18", "text") and doc.author == "Zoey Sky"
    assert doc.title.startswith("The council approved")  # the byline is not the title
    undated = read_file(_write(tmp_path, "plain.txt", f"{STORY} It was agreed on June 14, 2024.\n"), "plain.txt")
    assert _dated(undated) == (None, None)  # a date inside the story's sentences is not its publication date


PAGE = """<!doctype html><html><head><title>Harbour budget</title>{head}</head>
<body><article><h1>Harbour budget</h1><p>{story}</p><p>{story}</p><p>On May 3, 2021, the talks began.</p>
</article></body></html>"""
JSON_LD = ('<script type="application/ld+json">{"@context": "https://schema.org", "@type": "NewsArticle", '
           '"datePublished": "2024-06-14T10:00:00Z", "dateModified": "2024-06-20T08:00:00Z"}</script>')


def test_html_metadata_then_canonical_url_then_nothing_from_the_story(tmp_path: Path) -> None:
    ld = read_file(_write(tmp_path, "ld.html", PAGE.format(head=JSON_LD, story=STORY)), "ld.html")
    assert _dated(ld) == ("2024-06-14", "metadata")
    canonical = '<link rel="canonical" href="https://x.example/2023/03/03/harbour-budget">'
    url = read_file(_write(tmp_path, "url.html", PAGE.format(head=canonical, story=STORY)), "url.html")
    assert _dated(url) == ("2023-03-03", "url") and url.url == "https://x.example/2023/03/03/harbour-budget"
    bare = read_file(_write(tmp_path, "bare.html", PAGE.format(head="", story=STORY)), "bare.html")
    assert _dated(bare) == (None, None)  # "On May 3, 2021" is the story's, not its publication date


def test_a_pdf_is_dated_by_its_text_never_its_creation_date(tmp_path: Path) -> None:
    from reportlab.pdfgen import canvas

    def pdf(first_line: str) -> bytes:
        buf = io.BytesIO()
        c = canvas.Canvas(buf)  # reportlab stamps today as the file's CreationDate
        c.drawString(72, 760, first_line)
        c.drawString(72, 740, STORY)
        c.showPage()
        c.save()
        return buf.getvalue()

    dated = read_file(_write(tmp_path, "dated.pdf", pdf("June 14, 2024 | By Ann Lee")), "dated.pdf")
    assert _dated(dated) == ("2024-06-14", "text")
    assert _dated(read_file(_write(tmp_path, "plain.pdf", pdf("Harbour budget")), "plain.pdf")) == (None, None)


# -- the typed field ------------------------------------------------------------------------------------------------
def test_document_date_and_source_are_both_set_or_neither() -> None:
    assert Document("d", "t", "x", date="2025-08-18").date_source == "metadata"  # as written before sources
    assert Document("d", "t", "x", date="2025-08-18", date_source="url").date_source == "url"
    for bad in [{"date_source": "text"}, {"date": "2025-08-18", "date_source": "guess"}, {"date": "Aug. 18"}]:
        with pytest.raises(ValueError):
            Document("d", "t", "x", **bad)  # type: ignore[arg-type]
    old = {"id": "d", "title": "t", "text": "x", "date": "2025-08-18"}  # documents.jsonl of format 2
    assert Document.from_dict(old).date_source == "metadata"
    doc = Document("d", "t", "x", date="2024-06-14", date_source="text")
    assert Document.from_dict(doc.to_dict()) == doc and doc.meta["date_source"] == "text"


def test_index_save_and_load_keep_the_date_source(tmp_path: Path, index_dir: Path, fake_embedder: Any) -> None:
    rows = [{"_id": "url", "text": STORY, "url": "https://x.example/2024/06/14/s"},
            {"_id": "text", "text": "June 14, 2024 — The mayor resigned on Tuesday after a vote of the council."},
            {"_id": "none", "text": "The bridge reopened to traffic after repairs to its deck and railings."}]
    index = Index.create(fake_embedder)
    index.sync(load_corpus([_rows(tmp_path, rows)]).documents, embedder=fake_embedder)
    index.save(index_dir)
    loaded = Index.load(index_dir).documents
    assert {k: _dated(d) for k, d in loaded.items()} == {
        "url": ("2024-06-14", "url"), "text": ("2024-06-14", "text"), "none": (None, None)}


# -- shown beside every citation ------------------------------------------------------------------------------------
def _answer(*citations: Citation) -> Answer:
    passage = Passage(id=0, doc_id="seed.txt", start=0, end=len(STORY), text=STORY, sentences=((0, len(STORY)),))
    text = " ".join(f"{c.quote} [{c.marker}]" for c in citations)
    return Answer(text=text, citations=citations, abstained=False, query="q", question="q",
                  passages=(ScoredPassage(passage=passage, title="Budget", score=0.5, rank=1),))


def test_citations_carry_the_date_source_into_the_cli_and_json() -> None:
    dated = Document("seed.txt", "Budget", STORY, date="2025-08-18", date_source="text")
    c1 = make_citation(dated, 0, 60, marker=1)
    c2 = make_citation(Document("other.txt", "Other", STORY), 0, 60, marker=2)
    assert (c1.date, c1.date_source) == ("2025-08-18", "text") and (c2.date, c2.date_source) == (None, None)
    a = _answer(c1, c2)
    out = cli.format_answer(a)
    assert "[1] Budget (2025-08-18, date from the text; seed.txt, characters 0-60)" in out
    assert "[2] Other (undated; other.txt, characters 0-60)" in out
    d = json.loads(json.dumps(a.to_dict()))
    assert [(c["date"], c["date_source"]) for c in d["citations"]] == [("2025-08-18", "text"), (None, None)]


def test_the_chat_shows_the_date_and_its_source_as_text() -> None:
    doc = Document("seed.txt", "<i>Budget</i>", STORY, date="2024-06-14", date_source="url", source="<b>Wire</b>")
    a = _answer(make_citation(doc, 0, 60, marker=1, passage_id=0),
                make_citation(Document("u.txt", "U", STORY), 0, 60, marker=2))
    panel = render.sources_html(a)
    metas = [html.unescape(m) for m in re.findall(r'<div class="rag-source-meta">(.*?)</div>', panel)]
    assert metas[0] == "2024-06-14, date from the URL · <b>Wire</b> · seed.txt, characters 0–60"
    assert metas[1] == "undated · u.txt, characters 0–60"
    assert "<b>" not in panel and "<i>" not in panel
    sources = render.answer_messages(a)[1]["content"]
    assert "2024-06-14, date from the URL" in html.unescape(sources) and "<b>" not in sources


@pytest.mark.integration
def test_rag_ask_on_the_seed_cites_its_byline_date(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str], real_embedder: Any,
                                                   seeds_dir: Path) -> None:
    monkeypatch.setattr("rag.embed.model.SentenceTransformerEmbedder", lambda model=None: real_embedder)
    monkeypatch.setattr("rag.api.SentenceTransformerEmbedder", lambda model=None: real_embedder)
    idx = str(tmp_path / "idx")
    assert cli.main(["index", str(seeds_dir), "--index-dir", idx]) == 0
    capsys.readouterr()
    assert cli.main(["ask", SEED_QUESTION, "--index-dir", idx]) == 0
    out = capsys.readouterr().out
    assert re.search(r"\[1\] .+ \(2025-08-18, date from the text; 000_346b15368b31c8c0\.txt, characters "
                     r"\d+-\d+(?:, the short answer)?\)", out), out
    assert cli.main(["ask", SEED_QUESTION, "--index-dir", idx, "--json"]) == 0
    first = json.loads(capsys.readouterr().out)["citations"][0]
    assert (first["date"], first["date_source"]) == ("2025-08-18", "text")
