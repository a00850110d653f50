"""Messy real-world files: each bad one is reported by name with a clear reason, the good ones are still read,
and nothing already indexed is lost when a corpus goes bad."""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from rag.collection import build_index
from rag.errors import CorpusError, IngestError
from rag.index import disk as persist
from rag.index.index import Index
from rag.ingest import corpus as ingest
from rag.ingest.corpus import load_corpus, read_file, read_jsonl_corpus
from rag.records import Document

GOOD = "Storm hits coast\nA storm hit the coast on Monday. Officials said 3 people were hurt.\n"


def _pdf(*pages: str, encrypt: str | None = None) -> bytes:
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf, encrypt=encrypt)
    for text in pages:
        if text:
            c.drawString(72, 760, text)
        else:
            c.rect(100, 100, 200, 200, fill=1)  # a page with a drawing and no text, like a scan
        c.showPage()
    c.save()
    return buf.getvalue()


def _failure(result: ingest.IngestResult, name: str) -> str:
    matches = [f for f in result.failures if f.path == name]
    assert matches, f"no failure reported for {name}: {[str(f) for f in result.failures]}"
    assert str(matches[0]).startswith(f"{name}: ")
    return matches[0].reason


def test_each_bad_file_is_named_with_its_reason_and_the_good_ones_are_read(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    root.mkdir()
    (root / "good.txt").write_text(GOOD)
    (root / "empty.txt").write_bytes(b"")
    (root / "blank.md").write_text(" \n\t\n")
    (root / "binary.txt").write_bytes(bytes(range(256)) * 40)
    (root / "noisy.txt").write_bytes(b"".join(bytes([b]) for b in range(1, 32)) * 200)  # controls, no NUL
    (root / "photo.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    (root / "report.txt").write_bytes(_pdf("Text hidden in a PDF named .txt"))
    (root / "scan.pdf").write_bytes(_pdf(""))
    (root / "broken.pdf").write_bytes(_pdf("Some text")[:400])
    (root / "fake.pdf").write_text("this is not a PDF at all")
    (root / "locked.pdf").write_bytes(_pdf("secret text", encrypt="pw"))
    (root / "menu.html").write_text(
        "<html><head><title>Daily News</title></head><body><nav><ul><li><a href='/w'>World</a></li>"
        "<li><a href='/p'>Politics</a></li><li><a href='/s'>Sport</a></li></ul></nav>"
        "<ul><li><a href='/a1'>Turkey and Syria sign military deal</a></li><li><a href='/a2'>Markets rally "
        "after rate cut</a></li></ul><footer><a href='/privacy'>Privacy</a> © 2025</footer></body></html>"
    )
    (root / "links.htm").write_text("<html><body><a href='/'>Home</a> <a href='/n'>News</a> "
                                    "<a href='/s'>Sport</a></body></html>")
    result = load_corpus([root])
    assert [d.id for d in result.documents] == ["good.txt"]
    reasons = {name: _failure(result, name) for name in [
        "empty.txt", "blank.md", "binary.txt", "noisy.txt", "photo.txt", "report.txt", "scan.pdf", "broken.pdf",
        "fake.pdf", "locked.pdf", "menu.html", "links.htm",
    ]}
    assert reasons["empty.txt"] == "the file is empty"
    assert reasons["blank.md"] == "the file is empty"
    assert "binary" in reasons["binary.txt"] and "binary" in reasons["noisy.txt"]
    assert "PNG image" in reasons["photo.txt"]
    assert "PDF document (name it .pdf)" in reasons["report.txt"]
    assert "no text layer" in reasons["scan.pdf"]
    assert "damaged" in reasons["broken.pdf"]
    assert "not a PDF" in reasons["fake.pdf"]
    assert "password" in reasons["locked.pdf"]
    assert "only navigation" in reasons["menu.html"] and "only navigation" in reasons["links.htm"]
    assert len(result.failures) == len(reasons)


def test_a_pdf_with_text_is_read_with_its_pages(tmp_path: Path) -> None:
    path = tmp_path / "brief.pdf"
    path.write_bytes(_pdf("Turkey and Syria signed a memorandum on Aug. 13.", "", "Page three says more."))
    doc = read_file(path, "brief.pdf")
    assert doc.meta["pages"] == 3
    assert doc.text.startswith("Turkey and Syria signed a memorandum on Aug. 13.")
    assert doc.page_of(doc.text.index("Page three")) == 3


@pytest.mark.parametrize(
    ("encoding", "prefix"),
    [("latin-1", b""), ("cp1252", b""), ("utf-16", b""), ("utf-16-le", b"\xff\xfe"), ("utf-16-be", b"\xfe\xff"),
     ("utf-16-le", b""), ("utf-16-be", b""), ("utf-8-sig", b"")],
)
def test_other_encodings_are_decoded_exactly(tmp_path: Path, encoding: str, prefix: bytes) -> None:
    text = "Café in Zürich\nThe café’s owner said “señor Müller” paid €5 — no more.\n"
    if encoding == "latin-1":
        text = text.replace("’", "'").replace("“", '"').replace("”", '"').replace("€", "EUR").replace("—", "-")
    path = tmp_path / "article.txt"
    path.write_bytes(prefix + text.encode(encoding))
    doc = read_file(path, "article.txt")
    assert doc.text == text and doc.title == "Café in Zürich"


def test_the_size_limit_is_checked_before_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = tmp_path / "dump.txt"
    with big.open("wb") as fh:  # a sparse 50 MB file: the refusal must come from its size, not from reading it
        fh.truncate(50 * 2**20)
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail("read a file over the limit"))
    with pytest.raises(IngestError, match=r"dump.txt: the file is 50.0 MiB; the limit for a .txt article is 8 MiB"):
        read_file(big, "dump.txt")
    monkeypatch.undo()
    # A file that grows past the limit between stat() and read() is refused too.
    monkeypatch.setattr(ingest, "MAX_TEXT_BYTES", 1000)
    small = tmp_path / "grows.txt"
    small.write_text("x " * 400)
    real_stat = Path.stat

    def stat_then_grow(self: Path, **kw: bool) -> os.stat_result:
        st = real_stat(self, **kw)
        if self.name == "grows.txt":
            with self.open("a") as fh:
                fh.write("y " * 400)
        return st

    monkeypatch.setattr(Path, "stat", stat_then_grow)
    with pytest.raises(IngestError, match="limit"):
        read_file(small, "grows.txt")


def test_a_document_too_long_for_one_article_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from rag.ingest import formats as readers

    monkeypatch.setattr(readers, "MAX_DOC_CHARS", 100)
    path = tmp_path / "corpus.jsonl"
    path.write_text(json.dumps({"_id": "long", "text": "word " * 50}) + "\n"
                    + json.dumps({"_id": "short", "text": "A short one."}) + "\n")
    items = list(read_jsonl_corpus(path))
    assert isinstance(items[0], IngestError) and str(items[0]).startswith("corpus.jsonl:1: the text is 250")
    assert not isinstance(items[1], IngestError) and items[1].id == "short"


def test_duplicate_files_are_indexed_once_with_both_names_known(tmp_path: Path, index_dir: Path, fake_embedder: Any,
                                                                seed_file: Path) -> None:
    root = tmp_path / "corpus"
    (root / "b").mkdir(parents=True)
    shutil.copy(seed_file, root / "a.txt")
    shutil.copy(seed_file, root / "b" / "copy of a.txt")
    (root / "c.txt").write_bytes(seed_file.read_text(encoding="utf-8").encode("utf-16"))  # same text, other bytes
    (root / "d.txt").write_text(GOOD)
    result = load_corpus([root])
    assert [d.id for d in result.documents] == ["a.txt", "d.txt"] and not result.failures
    assert list(result.documents[0].meta["also_at"]) == ["b/copy of a.txt", "c.txt"]
    assert "also_at" not in result.documents[1].meta
    emb = fake_embedder
    build_index(index_dir, [root], embedder=emb)
    index = Index.load(index_dir)
    assert sorted(index.documents) == ["a.txt", "d.txt"]
    assert list(index.documents["a.txt"].meta["also_at"]) == ["b/copy of a.txt", "c.txt"]


def test_corpus_rows_keep_their_ids_even_with_the_same_text(tmp_path: Path) -> None:
    path = tmp_path / "corpus.jsonl"
    path.write_text("".join(json.dumps({"_id": i, "text": "Same text."}) + "\n" for i in ("q1", "q2")))
    assert [d.id for d in load_corpus([path]).documents] == ["q1", "q2"]


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
def test_symlink_loops_end_the_scan_with_a_note(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "story.txt").write_text(GOOD)
    os.symlink(root, root / "sub" / "back")  # a loop: corpus/sub/back -> corpus
    os.symlink("self.txt", root / "self.txt")  # a link to itself
    os.symlink("missing.txt", root / "dangling.txt")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "linked.txt").write_text("Linked news\nA linked folder is read once.\n")
    os.symlink(outside, root / "linked")
    result = load_corpus([root])
    assert [d.id for d in result.documents] == ["linked/linked.txt", "sub/story.txt"]
    assert "already read" in _failure(result, "sub/back")
    assert "symbolic link loop" in _failure(result, "self.txt")
    assert "disappeared" in _failure(result, "dangling.txt")


def test_a_file_that_vanishes_mid_scan_is_named_and_its_indexed_version_kept(
    tmp_path: Path, index_dir: Path, monkeypatch: pytest.MonkeyPatch, make_fake_embedder: Any
) -> None:
    root = tmp_path / "corpus"
    root.mkdir()
    (root / "a.txt").write_text(GOOD)
    (root / "b.txt").write_text("Budget passes\nThe council passed the budget on Tuesday.\n")
    (root / "c.txt").write_text("Bridge opens\nThe new bridge opened on Friday.\n")
    build_index(index_dir, [root], embedder=make_fake_embedder())
    before = Index.load(index_dir)

    real_read = ingest.read_file

    def reader(path: Path, doc_id: str) -> Document:
        if doc_id == "a.txt":  # b.txt is listed already; it is deleted before it is read
            (root / "b.txt").unlink(missing_ok=True)  # a.txt is read again when its batch is embedded
        return real_read(path, doc_id)

    monkeypatch.setattr(ingest, "read_file", reader)
    (root / "c.txt").write_text("Bridge opens\nThe new bridge opened on Friday after two years.\n")
    result = build_index(index_dir, [root], embedder=make_fake_embedder())
    assert [str(f) for f in result.ingest.failures] == [
        "b.txt: the file disappeared while the corpus was being read (or is a broken link)"
    ]
    after = Index.load(index_dir)
    assert after.documents["b.txt"] == before.documents["b.txt"]  # kept, as indexed
    assert "after two years" in after.documents["c.txt"].text  # the others updated as usual
    # The next scan no longer lists it: now it is removed.
    monkeypatch.undo()
    result = build_index(index_dir, [root], embedder=make_fake_embedder())
    assert result.report.removed == ("b.txt",) and not result.ingest.failures


def test_a_damaged_file_keeps_its_last_good_version(tmp_path: Path, index_dir: Path, make_fake_embedder: Any,
                                                    seed_file: Path) -> None:
    root = tmp_path / "corpus"
    root.mkdir()
    (root / "a.txt").write_text(GOOD)
    shutil.copy(seed_file, root / "seed.txt")
    build_index(index_dir, [root], embedder=make_fake_embedder())
    before = Index.load(index_dir)
    (root / "seed.txt").write_bytes(b"\x00\x01\x02" * 1000)  # overwritten with garbage
    (root / "new.pdf").write_bytes(b"%PDF-1.4 truncated")
    result = build_index(index_dir, [root], embedder=make_fake_embedder())
    assert {f.path for f in result.ingest.failures} == {"seed.txt", "new.pdf"}
    after = Index.load(index_dir)
    assert after.documents == before.documents
    assert after.passages == before.passages


def test_a_corpus_that_reads_as_nothing_leaves_the_index_as_it_was(tmp_path: Path, index_dir: Path,
                                                                    make_fake_embedder: Any) -> None:
    root = tmp_path / "corpus"
    root.mkdir()
    (root / "a.txt").write_text(GOOD)
    build_index(index_dir, [root], embedder=make_fake_embedder())
    gen = persist.current_generation(index_dir)
    (root / "a.txt").unlink()
    (root / "empty.txt").write_text("")
    for rebuild in (False, True):
        with pytest.raises(CorpusError, match=r"nothing was indexed \(empty.txt: the file is empty\)"):
            build_index(index_dir, [root], embedder=make_fake_embedder(), rebuild=rebuild)
        assert persist.current_generation(index_dir) == gen and list(Index.load(index_dir).documents) == ["a.txt"]
    (root / "empty.txt").unlink()
    with pytest.raises(CorpusError, match=r"nothing was indexed \(no .htm/.html/.jsonl/.markdown/.md/.pdf/.txt"):
        build_index(index_dir, [root], embedder=make_fake_embedder())


def test_bad_corpus_lines_are_named_by_file_and_line(tmp_path: Path) -> None:
    sub = tmp_path / "bench"
    sub.mkdir()
    lines = [
        json.dumps({"_id": "ok", "title": "Fine", "text": "A fine line."}),
        "{not json",
        json.dumps({"title": "no id or text"}),
        json.dumps(["a", "list"]),
        json.dumps({"_id": "n", "text": None}),
        json.dumps({"_id": None, "text": "no id"}),
        json.dumps({"_id": "t", "text": "x", "title": 5}),
        json.dumps({"_id": "e", "text": "   "}),
        "",
        json.dumps({"_id": "s", "text": "Lone \ud800 surrogate.", "tags": ["\udfff"]}),
    ]
    body = "\n".join(lines).encode() + b"\n" + b'{"_id": "latin", "text": "caf\xe9"}\n'
    (sub / "corpus.jsonl").write_bytes(body)
    result = load_corpus([tmp_path])
    assert [d.id for d in result.documents] == ["ok", "s"]
    got = [str(f) for f in result.failures]
    assert got[0].startswith("bench/corpus.jsonl:2: Expecting property name")
    assert got[1:] == [
        "bench/corpus.jsonl:3: missing key(s) _id, text",
        "bench/corpus.jsonl:4: not a JSON object",
        "bench/corpus.jsonl:5: 'text' must be a string, not NoneType",
        "bench/corpus.jsonl:6: '_id' must be a non-empty string or number",
        "bench/corpus.jsonl:7: 'title' must be a string, not int",
        "bench/corpus.jsonl:8: there is no text in it",
        "bench/corpus.jsonl:11: not UTF-8 text",
    ]
    # Lone surrogates (valid JSON escapes, unwritable as UTF-8) become U+FFFD, so the index can be saved.
    s = result.documents[1]
    assert s.text == "Lone \ufffd surrogate." and list(s.meta["tags"]) == ["\ufffd"]


def test_odd_file_names_are_kept_and_can_be_saved(tmp_path: Path, index_dir: Path, fake_embedder: Any) -> None:
    root = tmp_path / "corpus"
    root.mkdir()
    (root / "naïve café – report.txt").write_text(GOOD)
    raw = os.fsencode(root) + b"/caf\xe9.txt"  # a Latin-1 file name: not decodable as UTF-8
    with open(raw, "wb") as fh:
        fh.write(b"Latin-1 name\nThe file name is not UTF-8.\n")
    result = load_corpus([root])
    assert sorted(d.id for d in result.documents) == ["caf\ufffd.txt", "naïve café – report.txt"]
    build_index(index_dir, [root], embedder=fake_embedder)
    assert sorted(Index.load(index_dir).documents) == ["caf\ufffd.txt", "naïve café – report.txt"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_named_pipe_is_not_read(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    with pytest.raises(IngestError, match=r"pipe\.txt: not a regular file"):
        read_file(fifo, "pipe.txt")


def test_a_folder_that_cannot_be_listed_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "corpus"
    (root / "private").mkdir(parents=True)
    (root / "private" / "hidden.txt").write_text(GOOD)
    (root / "a.txt").write_text(GOOD.replace("Monday", "Sunday"))
    real_scandir = os.scandir

    def scandir(path: str | os.PathLike[str]) -> object:
        if os.fspath(path).endswith("private"):  # what chmod 000 does, for a user who is not root
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    result = load_corpus([root])
    assert [d.id for d in result.documents] == ["a.txt"]
    assert _failure(result, "private") == "cannot list the folder (Permission denied)"
