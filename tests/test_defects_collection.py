"""Defects found by hostile testing of the collection, its metadata and the chat's renderer: each test failed
before its fix."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rag import cli
from rag.chat import render
from rag.cite import make_citation
from rag.collection import Collection
from rag.collection.uploads import UPLOADED_FILE, removed_ids
from rag.errors import IngestError, RagError
from rag.index import disk
from rag.index.bm25 import field_text
from rag.index.index import Index
from rag.ingest.corpus import load_corpus, read_file
from rag.records import Document

HARBOUR = """Port of Valmara reopens after storm

The Port of Valmara reopened on Sept. 1 after a week-long closure caused by Storm Elira.
Harbour master Ines Calloway said that 42 cargo ships had waited offshore during the closure.
"""
BRIDGE = """Bridge over the Orlan river opens

The new bridge over the Orlan river opened to traffic on Monday, six months late.
Engineer Pavel Marsh said the bridge carries 30,000 cars a day.
"""
TUNNEL = "Tunnel works begin\n\nWorks on the Kessel tunnel began in March. The tunnel will be 9 km long.\n"


def _write(folder: Path, name: str, text: str | bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def _jsonl(folder: Path, rows: list[dict]) -> Path:
    return _write(folder, "corpus.jsonl", "".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture
def library(index_dir: Path, tmp_path: Path, fake_embedder) -> Collection:
    corpus = tmp_path / "corpus"
    _write(corpus, "bridge.txt", BRIDGE)
    lib = Collection(index_dir, [corpus], embedder=fake_embedder)
    lib.sync()
    return lib


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


# -- 1. Remove never deletes a file outside the index --------------------------------------------------------------
HOSTILE_IDS = ("../../victim/x.txt", "../CURRENT", "../library.json", "nul\u0000id.txt")


def test_remove_deletes_only_recorded_uploads_never_a_path_made_of_an_id(
    tmp_path: Path, index_dir: Path, fake_embedder
) -> None:
    victim = _write(tmp_path / "victim", "x.txt", "the victim's file")
    corpus = tmp_path / "corpus"
    _jsonl(corpus, [{"_id": i, "title": f"Row {n}", "text": f"Row number {n} about topic {n}."}
                    for n, i in enumerate(HOSTILE_IDS)] + [{"_id": "keep", "text": TUNNEL}])
    lib = Collection(index_dir, [corpus], embedder=fake_embedder)
    lib.sync()
    lib.add_files([_write(tmp_path / "in", "harbour.txt", HARBOUR)])
    (index_dir / "library.json").write_text('{"removed": []}')
    uploaded = {d.id: d.uploaded for d in lib.documents()}
    assert uploaded == {**dict.fromkeys(HOSTILE_IDS, False), "keep": False, "harbour.txt": True}
    for doc_id in HOSTILE_IDS:
        lib.remove(doc_id)
    assert victim.read_text() == "the victim's file"
    assert (index_dir / "CURRENT").is_file()
    assert set(Index.load(index_dir).documents) == {"keep", "harbour.txt"}
    # Corpus rows are remembered as removed (their file is left alone), and stay out on the next sync.
    assert set(json.loads((index_dir / "library.json").read_text())["removed"]) == set(HOSTILE_IDS)
    lib.sync()
    assert set(lib.engine.index.documents) == {"keep", "harbour.txt"}
    lib.remove("harbour.txt")  # a real upload: its file is deleted
    assert not (lib.uploads_dir / "harbour.txt").exists()
    assert victim.is_file() and (index_dir / "CURRENT").is_file()
    assert set(Index.load(index_dir).documents) == {"keep"}


def test_a_corpus_row_named_like_an_upload_is_not_an_upload(library: Collection, tmp_path: Path) -> None:
    # The uploaded file is "harbour.txt"; a corpus row with the id "./harbour.txt" is not it.
    library.add_files([_write(tmp_path / "in", "harbour.txt", HARBOUR)])
    _jsonl(library.corpus[0], [{"_id": "./harbour.txt", "text": TUNNEL}])
    library.sync()
    assert {d.id: d.uploaded for d in library.documents()}["./harbour.txt"] is False
    library.remove("./harbour.txt")
    assert (library.uploads_dir / "harbour.txt").read_text(encoding="utf-8") == HARBOUR


def test_uploads_made_before_the_record_existed_are_still_known(library: Collection, tmp_path: Path) -> None:
    library.add_files([_write(tmp_path / "in", "harbour.txt", HARBOUR)])
    for p in library.uploads_dir.iterdir():  # an index from before uploads were recorded: only the files
        if p.name.startswith("."):
            p.unlink()
    fresh = Collection(library.index_dir, library.corpus, embedder=library.embedder)
    assert {d.id: d.uploaded for d in fresh.documents()} == {"bridge.txt": False, "harbour.txt": True}
    fresh.remove("harbour.txt")
    assert not (fresh.uploads_dir / "harbour.txt").exists()


# -- 2. Metadata is typed when read --------------------------------------------------------------------------------
HOSTILE_ROWS = [
    {"_id": "dated", "title": "Dated", "text": HARBOUR, "date": 2025},
    {"_id": "listed", "title": "Listed", "text": BRIDGE, "source": ["Reuters", "AP"], "author": ["A. One", "B. Two"]},
    {"_id": "paged", "title": "Paged", "text": TUNNEL, "page_starts": "abc"},
]


def test_hostile_metadata_is_typed_or_refused_by_line(tmp_path: Path) -> None:
    rows = [*HOSTILE_ROWS,
            {"_id": "float-date", "text": "Some text.", "date": 2025.5},
            {"_id": "bool-date", "text": "Some text.", "date": True},
            {"_id": "dict-source", "text": "Some text.", "source": {"name": "x"}},
            {"_id": "num-url", "text": "Some text.", "url": 5},
            {"_id": "bad-pages", "text": "Some text.", "page_starts": [0, "3"]},
            {"_id": "free", "text": "Some free text.", "tags": ["a", 1], "views": 12, "note": None,
             "metadata": {"k": "v"}, "date": " 2024-01-02 "}]
    result = load_corpus([_jsonl(tmp_path, rows)])
    docs = {d.id: d for d in result.documents}
    assert set(docs) == {"dated", "listed", "free"}
    assert docs["dated"].date == "2025"
    assert docs["listed"].source == "Reuters, AP" and docs["listed"].author == "A. One, B. Two"
    assert docs["free"].date == "2024-01-02" and docs["free"].page_starts == ()
    assert dict(docs["free"].extra) == {"tags": ("a", 1), "views": 12, "metadata": '{"k": "v"}'}
    errors = {str(f).split(":")[1]: str(f) for f in result.failures}
    assert sorted(errors) == ["3", "4", "5", "6", "7", "8"]
    assert all(e.startswith("corpus.jsonl:") for e in errors.values())
    assert "'page_starts' must be a list of character offsets" in errors["3"]
    assert "'date' must be a date string or a year" in errors["4"] and "2025.5" in errors["4"]
    assert "'date' must be a date string or a year" in errors["5"]
    assert "'source' must be a string" in errors["6"]
    assert "'url' must be a string" in errors["7"]
    assert "'page_starts'" in errors["8"]


def test_documents_are_type_checked_and_survive_the_index(index_dir: Path, tmp_path: Path, fake_embedder) -> None:
    with pytest.raises(TypeError):
        Document("d", "t", "text", date=2025)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Document("d", "t", "text", page_starts=("abc",))  # type: ignore[arg-type]
    lib = Collection(index_dir, [_jsonl(tmp_path / "c", HOSTILE_ROWS)], embedder=fake_embedder)
    assert [str(f).split(":", 2)[:2] for f in lib.sync().ingest.failures] == [["corpus.jsonl", "3"]]
    docs = Index.load(index_dir).documents
    assert docs["dated"].date == "2025" and docs["listed"].source == "Reuters, AP"
    assert "2025" in field_text(docs["dated"]) and "A. One" in field_text(docs["listed"])
    c = make_citation(docs["listed"], 0, 10, marker=1)
    assert (c.date, c.source, c.page) == (None, "Reuters, AP", None)


def test_the_renderer_shows_typed_metadata(index_dir: Path, tmp_path: Path, fake_embedder) -> None:
    lib = Collection(index_dir, [_jsonl(tmp_path / "c", HOSTILE_ROWS)], embedder=fake_embedder)
    lib.sync()
    table = render.documents_html(lib.documents())  # the chat's documents tab, drawn when it starts
    assert "<td>2025</td>" in table and "Reuters, AP" in table
    answer = lib.engine.ask("What did engineer Pavel Marsh say the bridge carries?")
    assert answer.citations and answer.citations[0].doc_id == "listed"
    panel = render.sources_html(answer)
    assert "Reuters, AP" in panel
    assert "Reuters, AP" in render.answer_messages(answer)[1]["content"]


def test_rag_ask_with_hostile_metadata_answers_or_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], fake_embedder
) -> None:
    monkeypatch.setattr("rag.embed.model.SentenceTransformerEmbedder", lambda model=None: fake_embedder)
    monkeypatch.setattr("rag.api.SentenceTransformerEmbedder", lambda model=None: fake_embedder)
    corpus = _jsonl(tmp_path / "c", HOSTILE_ROWS)
    idx = str(tmp_path / "idx")
    assert cli.main(["index", str(corpus), "--index-dir", idx]) == 0
    err = capsys.readouterr().err
    assert "corpus.jsonl:3: 'page_starts' must be a list of character offsets" in err
    for question in ("When did works on the Kessel tunnel begin?", "How long will the Kessel tunnel be?",
                     "How many cargo ships waited offshore?", "How many cars does the Orlan bridge carry?"):
        rc = cli.main(["ask", question, "--index-dir", idx, "--mode", "lexical"])
        out, err = capsys.readouterr()
        assert rc in (0, 2) and "Traceback" not in out + err
        assert rc == 0 or len(err.strip().splitlines()) == 1


# -- 3. Disk full ---------------------------------------------------------------------------------------------------
def _enospc(*_a: object, **_k: object) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


def _visible(folder: Path) -> list[str]:
    return [n for n in _files(folder) if n != UPLOADED_FILE]  # the record of what was uploaded


def test_a_full_disk_while_copying_leaves_nothing(library: Collection, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    gen = disk.current_generation(library.index_dir).name

    def half_copy(src: object, dst: object, *a: object, **k: object) -> None:
        Path(str(dst)).write_bytes(b"Port of Val")
        _enospc()

    monkeypatch.setattr(shutil, "copyfile", half_copy)
    result = library.add_files([_write(tmp_path / "in", "harbour.txt", HARBOUR)])
    assert not result.added and [f.path for f in result.failures] == ["harbour.txt"]
    assert "No space left on device" in result.failures[0].reason
    assert _visible(library.uploads_dir) == []
    assert disk.current_generation(library.index_dir).name == gen


@pytest.mark.parametrize("where", ["rag.index.disk.write_manifest", "os.replace"])
def test_a_full_disk_while_saving_leaves_nothing(library: Collection, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    library.add_files([_write(tmp_path / "in", "harbour.txt", HARBOUR)])
    gen = disk.current_generation(library.index_dir).name
    before = Index.load(library.index_dir).fingerprints()
    engine = library.engine
    files = [_write(tmp_path / "new", "harbour.txt", HARBOUR.replace("42", "57")),
             _write(tmp_path / "new", "tunnel.txt", TUNNEL)]
    real_replace = os.replace

    def failing_replace(src: object, dst: object) -> None:
        if Path(str(dst)).name == "tunnel.txt":  # after harbour.txt's new version took the old one's place
            _enospc()
        real_replace(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(where, failing_replace if where == "os.replace" else _enospc)
    with pytest.raises(RagError, match="No space left on device") as info:
        library.add_files(files)
    assert "\n" not in str(info.value)
    monkeypatch.undo()
    assert _visible(library.uploads_dir) == ["harbour.txt"]
    assert (library.uploads_dir / "harbour.txt").read_text(encoding="utf-8") == HARBOUR  # the old version
    assert disk.current_generation(library.index_dir).name == gen
    assert Index.load(library.index_dir).fingerprints() == before
    assert library.engine is engine
    # The chat starts again (the collection syncs) with what was there, and the upload can be retried.
    fresh = Collection(library.index_dir, library.corpus, embedder=library.embedder)
    assert not fresh.sync().report.touched
    assert fresh.add_files(files).added == ("tunnel.txt",)


def test_stray_and_unreadable_files_in_uploads_never_stop_a_sync(library: Collection, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    library.add_files([_write(tmp_path / "in", "harbour.txt", HARBOUR)])
    up = library.uploads_dir
    _write(up, "empty.txt", b"")
    _write(up, "partial.pdf", b"%PDF-1.4\n1 0 obj <<")
    _write(up, "junk.md", b"\x00\x01\x02" * 50)
    _write(up, "locked.txt", HARBOUR.replace("Valmara", "Lockton"))
    (up / "folder.txt").mkdir()
    (up / "gone.txt").symlink_to(tmp_path / "nowhere.txt")
    os.mkfifo(up / "pipe.txt")
    _write(up, UPLOADED_FILE, b"{not json")  # a damaged record of the uploads
    real_open = Path.open

    def open_(self: Path, *a: object, **k: object):  # type: ignore[no-untyped-def]
        if self.name == "locked.txt":
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_open(self, *a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "open", open_)
    fresh = Collection(library.index_dir, library.corpus, embedder=library.embedder)
    result = fresh.sync()
    failed = {f.path for f in result.ingest.failures}
    assert {"empty.txt", "partial.pdf", "junk.md", "locked.txt", "gone.txt", "pipe.txt"} <= failed
    assert {"bridge.txt", "harbour.txt"} <= set(fresh.engine.index.documents)
    assert {d.id: d.uploaded for d in fresh.documents()}["harbour.txt"]


def test_a_full_disk_while_syncing_is_one_line(library: Collection, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    _write(library.corpus[0], "tunnel.txt", TUNNEL)
    monkeypatch.setattr("rag.index.disk.write_manifest", _enospc)
    with pytest.raises(RagError, match="No space left on device"):
        library.sync()


def test_a_full_disk_while_removing_changes_nothing(library: Collection, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    library.add_files([_write(tmp_path / "in", "harbour.txt", HARBOUR)])
    monkeypatch.setattr("rag.index.disk.write_manifest", _enospc)
    for doc_id in ("harbour.txt", "bridge.txt"):
        with pytest.raises(RagError, match="No space left on device"):
            library.remove(doc_id)
    monkeypatch.undo()
    assert set(Index.load(library.index_dir).documents) == {"bridge.txt", "harbour.txt"}
    assert (library.uploads_dir / "harbour.txt").is_file()
    assert removed_ids(library.index_dir) == set()
    assert {d.id for d in library.sync().ingest.documents} == {"bridge.txt", "harbour.txt"}


# -- 4. Smaller ones ------------------------------------------------------------------------------------------------
def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_incoming_files_are_cleared(library: Collection, tmp_path: Path) -> None:
    up = library.uploads_dir
    dead = _write(up, f".incoming-{_dead_pid()}-140000-harbour.txt", HARBOUR[:20])
    live_proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = _write(up, f".incoming-{live_proc.pid}-140000-bridge.txt", BRIDGE[:20])
        library.sync()
        assert not dead.exists() and live.exists()
        dead2 = _write(up, f".incoming-{_dead_pid()}-1-x.txt", b"x")
        library.add_files([_write(tmp_path / "in", "harbour.txt", HARBOUR)])
        assert not dead2.exists() and live.exists()
    finally:
        live_proc.kill()
        live_proc.wait()


def test_the_same_text_under_other_names_is_added_once(library: Collection, tmp_path: Path) -> None:
    files = [_write(tmp_path / "in", n, HARBOUR) for n in ("a.txt", "b.txt", "c.md")]
    result = library.add_files(files)
    assert result.added == ("a.txt",)
    assert result.duplicates == (("b.txt", "a.txt"), ("c.md", "a.txt"))
    again = library.add_files([_write(tmp_path / "in2", "d.txt", HARBOUR), _write(tmp_path / "in2", "a.txt", HARBOUR)])
    assert again.duplicates == (("d.txt", "a.txt"),) and again.unchanged == ("a.txt",) and not again.added
    corpus_copy = library.add_files([_write(tmp_path / "in3", "copy.txt", BRIDGE)])
    assert corpus_copy.duplicates == (("copy.txt", "bridge.txt"),)
    assert _visible(library.uploads_dir) == ["a.txt"]
    assert sorted(library.engine.index.documents) == ["a.txt", "bridge.txt"]
    answer = library.engine.ask("How many cargo ships waited offshore?", mode="lexical")
    assert len({c.doc_id for c in answer.citations}) <= 1
    assert "Already indexed as a.txt: b.txt" in render.upload_report_html(result)


ZERO_WIDTH = "\u200b\u200c\u200d\ufeff\u2060"


def test_a_text_of_zero_width_characters_is_empty(tmp_path: Path, library: Collection) -> None:
    for name, data in (("zw.txt", ZERO_WIDTH * 40), ("zw.md", f"\n{ZERO_WIDTH} \n\t{ZERO_WIDTH}\n")):
        with pytest.raises(IngestError, match="the file is empty"):
            read_file(_write(tmp_path, name, data), name)
    rows = [{"_id": "zw", "text": ZERO_WIDTH * 3}, {"_id": "ok", "text": "Hi."}]
    result = load_corpus([_jsonl(tmp_path / "j", rows)])
    assert [d.id for d in result.documents] == ["ok"]
    assert [str(f) for f in result.failures] == ["corpus.jsonl:1: there is no text in it"]
    added = library.add_files([_write(tmp_path / "up", "blank.txt", ZERO_WIDTH * 10)])
    assert not added.added and "the file is empty" in added.failures[0].reason
    assert read_file(_write(tmp_path, "word.txt", f"{ZERO_WIDTH}word"), "word.txt").text == f"{ZERO_WIDTH}word"


def test_the_same_file_name_in_two_folders_names_both(tmp_path: Path) -> None:
    a, b = tmp_path / "desk-a", tmp_path / "desk-b"
    _write(a, "story.txt", HARBOUR)
    _write(b, "story.txt", BRIDGE)
    result = load_corpus([a, b])
    assert [d.id for d in result.documents] == ["story.txt"] and "Valmara" in result.documents[0].text
    (failure,) = result.failures
    assert str(a / "story.txt") in str(failure) and str(b / "story.txt") in str(failure)
    assert "\n" not in str(failure)
