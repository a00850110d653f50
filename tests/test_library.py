"""rag.collection: the documents collection behind the chat (sync, add uploads, remove), with nothing lost."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.collection import Collection
from rag.collection.uploads import STATE_FILE, UPLOADED_FILE, human_size, safe_name
from rag.errors import RagError
from rag.index import disk as persist
from rag.index.index import Index

SEED_FILE = next((Path(__file__).resolve().parents[1] / "seeds").glob("*.txt"))

HARBOUR = """Port of Valmara reopens after storm

The Port of Valmara reopened on Sept. 1 after a week-long closure caused by Storm Elira.
Harbour master Ines Calloway said that 42 cargo ships had waited offshore during the closure.
"""


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / SEED_FILE.name).write_text(SEED_FILE.read_text(encoding="utf-8"), encoding="utf-8")
    return folder


@pytest.fixture
def library(index_dir: Path, corpus: Path, fake_embedder) -> Collection:
    lib = Collection(index_dir, [corpus], embedder=fake_embedder, max_upload_bytes=4096)
    lib.sync()
    return lib


def _write(folder: Path, name: str, text: str | bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


@pytest.mark.parametrize(("given", "expected"), [
    ("article.txt", "article.txt"),
    ("../../etc/passwd.txt", "passwd.txt"),
    ("/abs/path/news.MD", "news.md"),
    ("..\\..\\windows\\evil.html", "evil.html"),
    ("..", "upload"),
    (".hidden.txt", "hidden.txt"),
    ("a b;rm -rf *|x$.txt", "a_b_rm_-rf_x.txt"),
    ("Überschrift café.pdf", "Überschrift_café.pdf"),
    ("line\nbreak\x00.txt", "line_break.txt"),
])
def test_safe_name_keeps_uploads_inside_the_folder(given: str, expected: str) -> None:
    assert safe_name(given) == expected


def test_human_size() -> None:
    sizes = (20 * 2**20, 1.5 * 2**20, 10_240, 999)
    assert [human_size(n) for n in sizes] == ["20 MiB", "1.5 MiB", "10 KiB", "999 bytes"]


def test_sync_builds_then_reuses(library: Collection, index_dir: Path, corpus: Path, fake_embedder) -> None:
    assert [d.id for d in library.documents()] == [SEED_FILE.name]
    assert (index_dir / "uploads").is_dir()
    again = Collection(index_dir, [corpus], embedder=fake_embedder).sync()
    assert not again.report.touched  # nothing re-embedded when nothing changed


def test_add_files_indexes_and_serves_the_upload(library: Collection, tmp_path: Path) -> None:
    src = _write(tmp_path / "in", "harbour.txt", HARBOUR)
    gen_before = persist.current_generation(library.index_dir).name
    result = library.add_files([src])
    assert result.added == ("harbour.txt",) and not result.failures
    assert (library.uploads_dir / "harbour.txt").read_text(encoding="utf-8") == HARBOUR
    assert persist.current_generation(library.index_dir).name != gen_before
    assert {d.id for d in library.documents()} == {SEED_FILE.name, "harbour.txt"}
    assert [d.uploaded for d in library.documents()] == [False, True]
    answer = library.engine.ask("How many cargo ships waited offshore?", mode="lexical")
    assert answer.passages[0].passage.doc_id == "harbour.txt"  # retrieved first (the answer: integration test)
    # The index on disk holds it too, and a later sync keeps it (uploads are part of the corpus).
    assert "harbour.txt" in Index.load(library.index_dir).documents
    assert "harbour.txt" in {d.id for d in library.sync().ingest.documents}
    assert "harbour.txt" in library.engine.index.documents


def test_upload_names_with_dot_dot_stay_inside_uploads(library: Collection, tmp_path: Path) -> None:
    src = _write(tmp_path / "in", "x.txt", HARBOUR)
    result = library.add_files([src], names=["../../outside.txt"])
    assert result.added == ("outside.txt",)
    assert result.renamed == (("../../outside.txt", "outside.txt"),)
    assert (library.uploads_dir / "outside.txt").is_file()
    assert not (library.index_dir.parent / "outside.txt").exists()
    assert not (library.index_dir / "outside.txt").exists()
    leftovers = [p.name for p in library.uploads_dir.iterdir() if p.name.startswith(".")]
    assert leftovers == [UPLOADED_FILE]  # only the record of what was uploaded


def test_failures_are_named_and_lose_nothing(library: Collection, tmp_path: Path) -> None:
    before = Index.load(library.index_dir).fingerprints()
    gen_before = persist.current_generation(library.index_dir).name
    files = [
        _write(tmp_path / "in", "empty.txt", ""),
        _write(tmp_path / "in", "big.txt", "word " * 2000),  # 10 kB > the 4 kB limit of this library
        _write(tmp_path / "in", "binary.txt", b"\x00\x01\x02" * 10),
        _write(tmp_path / "in", "sheet.xlsx", "not an article"),
    ]
    result = library.add_files(files)
    assert not result.added
    reasons = {f.path: f.reason for f in result.failures}
    assert set(reasons) == {"empty.txt", "big.txt", "binary.txt", "sheet.xlsx"}
    assert "empty" in reasons["empty.txt"]
    assert reasons["big.txt"] == "the file is 9.8 KiB; the upload limit is 4 KiB"
    assert "binary" in reasons["binary.txt"]
    assert "unsupported" in reasons["sheet.xlsx"]
    assert persist.current_generation(library.index_dir).name == gen_before  # the index was not rewritten
    assert Index.load(library.index_dir).fingerprints() == before
    assert list(library.uploads_dir.iterdir()) == []


def test_one_bad_file_does_not_stop_the_others(library: Collection, tmp_path: Path) -> None:
    good = _write(tmp_path / "in", "harbour.txt", HARBOUR)
    bad = _write(tmp_path / "in", "empty.md", "   ")
    result = library.add_files([bad, good])
    assert result.added == ("harbour.txt",)
    assert [f.path for f in result.failures] == ["empty.md"]


def test_same_name_again_replaces_and_same_text_is_unchanged(library: Collection, tmp_path: Path) -> None:
    first = _write(tmp_path / "a", "harbour.txt", HARBOUR)
    library.add_files([first])
    assert library.add_files([first]).unchanged == ("harbour.txt",)
    second = _write(tmp_path / "b", "harbour.txt", HARBOUR.replace("42", "57"))
    result = library.add_files([second])
    assert result.replaced == ("harbour.txt",)
    assert "57 cargo ships" in library.engine.index.documents["harbour.txt"].text


def test_a_corpus_document_name_is_not_overwritten(library: Collection, tmp_path: Path) -> None:
    src = _write(tmp_path / "in", SEED_FILE.name, HARBOUR)
    result = library.add_files([src])
    stored = SEED_FILE.stem + "-2.txt"
    assert result.added == (stored,) and result.renamed == ((SEED_FILE.name, stored),)
    docs = library.engine.index.documents
    assert "Turkey" in docs[SEED_FILE.name].text and "Valmara" in docs[stored].text


def test_remove_an_upload_deletes_its_file(library: Collection, tmp_path: Path) -> None:
    library.add_files([_write(tmp_path / "in", "harbour.txt", HARBOUR)])
    report = library.remove("harbour.txt")
    assert report.removed == ("harbour.txt",)
    assert not (library.uploads_dir / "harbour.txt").exists()
    assert "harbour.txt" not in library.engine.index.documents
    assert "harbour.txt" not in library.sync().ingest.documents


def test_the_last_document_cannot_be_removed(library: Collection) -> None:
    with pytest.raises(RagError, match="only document"):
        library.remove(SEED_FILE.name)
    assert SEED_FILE.name in Index.load(library.index_dir).documents


def test_removed_corpus_document_stays_removed(
    library: Collection, corpus: Path, index_dir: Path, tmp_path: Path, fake_embedder
) -> None:
    library.add_files([_write(tmp_path / "in", "harbour.txt", HARBOUR)])
    library.remove(SEED_FILE.name)
    assert (corpus / SEED_FILE.name).is_file()  # the user's file is left alone
    assert json.loads((index_dir / STATE_FILE).read_text())["removed"] == [SEED_FILE.name]
    fresh = Collection(index_dir, [corpus], embedder=fake_embedder)
    fresh.sync()
    assert set(fresh.engine.index.documents) == {"harbour.txt"}
    with pytest.raises(RagError, match="no document"):
        fresh.remove(SEED_FILE.name)


def test_questions_in_flight_keep_their_index(library: Collection, tmp_path: Path) -> None:
    engine_before = library.engine
    library.add_files([_write(tmp_path / "in", "harbour.txt", HARBOUR)])
    assert "harbour.txt" not in engine_before.index.documents  # updates build a new index, never mutate
    assert library.engine is not engine_before


def test_progress_is_reported_per_file(library: Collection, tmp_path: Path) -> None:
    seen: list[tuple[float, str]] = []
    library.add_files([_write(tmp_path / "in", "harbour.txt", HARBOUR)], on_progress=lambda f, d: seen.append((f, d)))
    assert [d for _, d in seen] == ["Reading harbour.txt", "Embedding harbour.txt", "Saving the index"]
    assert [f for f, _ in seen] == sorted(f for f, _ in seen) and seen[-1][0] == 1.0


@pytest.mark.integration
def test_upload_with_the_real_model_is_answered(index_dir: Path, corpus: Path, tmp_path: Path, real_embedder) -> None:
    lib = Collection(index_dir, [corpus], embedder=real_embedder)
    lib.sync()
    lib.add_files([_write(tmp_path / "in", "harbour.txt", HARBOUR)])
    answer = lib.engine.ask("How many cargo ships waited offshore during the closure?")
    assert "42 cargo ships" in answer.text and "[1]" in answer.text
    assert answer.citations[0].doc_id == "harbour.txt"
    seed = lib.engine.ask("When did Turkey and Syria sign the memorandum of understanding?")
    assert "Aug. 13" in seed.text  # what was indexed before is still answered
