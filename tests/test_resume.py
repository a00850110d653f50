"""A killed build resumes where it stopped (rag.index.resume): builders SIGKILLed after some batches leave a
checkpoint, the live index stays the previous one, and the next build embeds only what the checkpoint lacks and
ends with exactly the index an uninterrupted build makes."""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from fakes import FakeEmbedder  # subclassed at module level for the forkserver builders, which no fixture reaches

from rag.cli import main as cli_main
from rag.collection import build_index
from rag.index import disk
from rag.index.index import Index
from rag.index.resume import POINTER

_CTX = multiprocessing.get_context("forkserver")
_CTX.set_forkserver_preload(["rag.collection", "rag.index.index", "fakes"])
BATCH = 8  # texts per batch: a few of these short stories each, so a build of 24 is a dozen batches


class _DyingEmbedder(FakeEmbedder):
    """Dies like a killed `rag index` (SIGKILL: no cleanup runs) at its `nth` embed call."""

    def __init__(self, nth: int) -> None:
        super().__init__()
        self.nth = nth

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        if len(self.calls) + 1 >= self.nth:
            os.kill(os.getpid(), signal.SIGKILL)
        return super().embed(texts, progress=progress)


def _build_and_die(index_dir: str, corpus: str, nth: int) -> None:
    build_index(index_dir, [corpus], embedder=_DyingEmbedder(nth), batch_texts=BATCH, checkpoint_every=0)


def _build_and_die_in_a_checkpoint(index_dir: str, corpus: str, nth: int) -> None:
    """Killed while writing its `nth` checkpoint, after its data files and before its manifest."""
    from rag.index import files

    real, calls = files.disk.write_manifest, [0]

    def trap(*args: object) -> None:
        calls[0] += 1
        if calls[0] >= nth:
            os.kill(os.getpid(), signal.SIGKILL)
        real(*args)  # type: ignore[arg-type]

    files.disk.write_manifest = trap  # type: ignore[assignment]
    build_index(index_dir, [corpus], embedder=FakeEmbedder(), batch_texts=BATCH, checkpoint_every=0)


def _killed_build(index_dir: Path, corpus: Path, *, nth: int, target=_build_and_die) -> None:  # type: ignore[no-untyped-def]
    proc = _CTX.Process(target=target, args=(str(index_dir), str(corpus), nth))
    proc.start()
    proc.join(120)
    assert proc.exitcode == -signal.SIGKILL


def _write_corpus(root: Path, n: int = 24, *, edit: int | None = None) -> Path:
    root.mkdir(exist_ok=True)
    for i in range(n):
        extra = " A correction was added later." if i == edit else ""
        (root / f"story-{i:02d}.txt").write_text(
            f"Story {i} headline\nOfficials in town {i} said on Monday that {i * 7} people attended the event. "
            f"The mayor spoke for {i % 13} minutes.{extra}\n")
    return root


def _same_index(a: Index, b: Index) -> None:
    assert a.fingerprints() == b.fingerprints()
    assert list(a.passages) == list(b.passages)
    assert [a.passages[i].text for i in a.passages] == [b.passages[i].text for i in b.passages]
    np.testing.assert_array_equal(a.sentence_vectors, b.sentence_vectors)
    q = FakeEmbedder().embed(["how many people attended in town 17"])
    ha, hb = a.store.search(q, 10), b.store.search(q, 10)
    np.testing.assert_array_equal(ha.ids, hb.ids)
    assert a.lexical is not None and b.lexical is not None
    np.testing.assert_array_equal(a.lexical.search("mayor town 17", 10).ids, b.lexical.search("mayor town 17", 10).ids)


def _reference(tmp_path: Path, corpus: Path) -> tuple[Index, int]:
    """The index an uninterrupted build of `corpus` makes, and how many texts it embedded."""
    ref = tmp_path / "reference-index"
    embedder = FakeEmbedder()
    build_index(ref, [corpus], embedder=embedder, batch_texts=BATCH)
    return Index.load(ref), sum(embedder.calls)


def _same_content(a: Index, b: Index) -> None:
    """The same documents and passages, numbered differently (a document embedded again gets new ids)."""
    assert a.fingerprints() == b.fingerprints()
    assert sorted(p.text for p in a.passages.values()) == sorted(p.text for p in b.passages.values())
    assert len(a.sentences) == len(b.sentences) and len(a.store) == len(b.store)


def _checkpoints(index_dir: Path) -> list[str]:
    return sorted(p.name for p in index_dir.glob("partial-*"))


def test_a_killed_build_resumes_where_it_stopped(tmp_path: Path, index_dir: Path) -> None:
    corpus = _write_corpus(tmp_path / "corpus")
    _killed_build(index_dir, corpus, nth=6)  # five batches embedded and checkpointed, killed in the sixth
    assert not disk.exists(index_dir)  # nothing was ever live
    assert len(_checkpoints(index_dir)) == 1 and (index_dir / POINTER).is_file()

    counting = FakeEmbedder()
    result = build_index(index_dir, [corpus], embedder=counting, batch_texts=BATCH)
    assert 0 < result.resumed < 24
    assert len(result.report.added) == 24 - result.resumed  # the rest only was embedded
    reference, texts = _reference(tmp_path, corpus)
    assert 0 < sum(counting.calls) < texts
    _same_index(Index.load(index_dir), reference)
    assert _checkpoints(index_dir) == [] and not (index_dir / POINTER).exists()


def test_a_build_killed_while_writing_a_checkpoint_resumes_from_the_one_before(tmp_path: Path,
                                                                               index_dir: Path) -> None:
    corpus = _write_corpus(tmp_path / "corpus")
    _killed_build(index_dir, corpus, nth=4, target=_build_and_die_in_a_checkpoint)
    assert list(index_dir.glob(".tmp-partial-*"))  # the half-written one
    result = build_index(index_dir, [corpus], embedder=FakeEmbedder(), batch_texts=BATCH)
    assert result.resumed > 0
    _same_index(Index.load(index_dir), _reference(tmp_path, corpus)[0])
    assert not list(index_dir.glob(".tmp-*")) and not _checkpoints(index_dir)


def test_the_live_index_stays_the_previous_one_until_the_resumed_build_is_saved(tmp_path: Path,
                                                                                index_dir: Path) -> None:
    corpus = _write_corpus(tmp_path / "corpus", n=6)
    build_index(index_dir, [corpus], embedder=FakeEmbedder(), batch_texts=BATCH)
    before = Index.load(index_dir).fingerprints()
    _write_corpus(corpus, n=24)  # eighteen new stories
    _killed_build(index_dir, corpus, nth=4)
    assert _checkpoints(index_dir)
    assert Index.load(index_dir).fingerprints() == before  # readers see the previous index, whole

    result = build_index(index_dir, [corpus], embedder=FakeEmbedder(), batch_texts=BATCH)
    assert result.resumed > 6  # the six it had plus what the killed build embedded
    _same_index(Index.load(index_dir), _reference(tmp_path, corpus)[0])


def test_a_file_changed_after_the_kill_is_embedded_again(tmp_path: Path, index_dir: Path) -> None:
    corpus = _write_corpus(tmp_path / "corpus")
    _killed_build(index_dir, corpus, nth=6)
    _write_corpus(corpus, edit=0)  # story 0 was in the checkpoint; it is corrected before the build resumes
    (corpus / "story-01.txt").unlink()  # and story 1 removed
    result = build_index(index_dir, [corpus], embedder=FakeEmbedder(), batch_texts=BATCH)
    assert result.resumed and "story-00.txt" in {Path(d).name for d in result.report.changed}
    index = Index.load(index_dir)
    assert "correction was added" in next(d.text for i, d in index.documents.items() if i.endswith("story-00.txt"))
    assert not any(i.endswith("story-01.txt") for i in index.documents)
    _same_content(index, _reference(tmp_path, corpus)[0])


def test_no_resume_starts_over_and_a_damaged_checkpoint_is_not_used(tmp_path: Path, index_dir: Path) -> None:
    corpus = _write_corpus(tmp_path / "corpus")
    _killed_build(index_dir, corpus, nth=6)
    result = build_index(index_dir, [corpus], embedder=FakeEmbedder(), batch_texts=BATCH, resume=False)
    assert result.resumed == 0 and len(result.report.added) == 24 and not _checkpoints(index_dir)

    other = tmp_path / "other-index"
    _killed_build(other, corpus, nth=6)
    (other / _checkpoints(other)[0] / "sentence_vectors.npy").write_bytes(b"damaged")
    result = build_index(other, [corpus], embedder=FakeEmbedder(), batch_texts=BATCH)
    assert result.resumed == 0
    _same_index(Index.load(other), _reference(tmp_path, corpus)[0])


def test_a_checkpoint_of_another_model_or_start_is_not_used(tmp_path: Path, index_dir: Path) -> None:
    corpus = _write_corpus(tmp_path / "corpus")
    _killed_build(index_dir, corpus, nth=6)
    result = build_index(index_dir, [corpus], embedder=FakeEmbedder("another-model"), batch_texts=BATCH)
    assert result.resumed == 0 and not _checkpoints(index_dir)

    _killed_build(index_dir, corpus, nth=3)  # began from the live generation of the other model...
    build_index(index_dir, [corpus], embedder=FakeEmbedder("another-model"), rebuild=True, resume=False,
                batch_texts=BATCH)  # ...which someone replaced since
    _killed_build(index_dir, corpus, nth=3)
    assert _checkpoints(index_dir)
    result = build_index(index_dir, [corpus], embedder=FakeEmbedder(), batch_texts=BATCH, rebuild=True)
    assert result.resumed == 0  # its checkpoint began from an update, not a rebuild


@pytest.mark.integration
def test_rag_index_resumes_a_killed_build_with_the_real_model(tmp_path: Path, seed_text: str,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """The real MiniLM, the real `rag index`: a build killed after some batches resumes and ends with the same
    index (vectors equal to the model's precision: bfloat16 results depend a little on what shares a batch)."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    paragraphs = [p for p in seed_text.split("\n") if len(p.split()) > 20]
    for i, p in enumerate(paragraphs):
        (corpus / f"part-{i:02d}.txt").write_text(f"Part {i}\n{p}\n")
    index_dir = tmp_path / "index"
    proc = _CTX.Process(target=_real_build_and_die, args=(str(index_dir), str(corpus)))
    proc.start()
    proc.join(300)
    assert proc.exitcode == -signal.SIGKILL and _checkpoints(index_dir)

    assert cli_main(["index", str(corpus), "--index-dir", str(index_dir)]) == 0
    assert "Resumed a build that was stopped" in capsys.readouterr().err
    reference = tmp_path / "reference"
    assert cli_main(["index", str(corpus), "--index-dir", str(reference)]) == 0
    a, b = Index.load(index_dir), Index.load(reference)
    assert a.fingerprints() == b.fingerprints() and list(a.passages) == list(b.passages)
    assert [a.passages[i].text for i in a.passages] == [b.passages[i].text for i in b.passages]
    va, vb = np.asarray(a.sentence_vectors, np.float32), np.asarray(b.sentence_vectors, np.float32)
    assert va.shape == vb.shape and float(np.min(np.sum(va * vb, axis=1))) > 0.999


def _real_build_and_die(index_dir: str, corpus: str) -> None:
    from rag.embed.model import SentenceTransformerEmbedder

    class Dying(SentenceTransformerEmbedder):
        calls = 0

        def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
            Dying.calls += 1
            if Dying.calls == 3:
                os.kill(os.getpid(), signal.SIGKILL)
            return super().embed(texts, progress=progress)

    build_index(index_dir, [corpus], embedder=Dying(), batch_texts=8, checkpoint_every=0)
