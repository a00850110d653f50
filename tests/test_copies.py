"""Wire copies: near-duplicate passages of different documents fold into one, the others listed in `also_in`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rag.cli import format_answer
from rag.copies import fold, groups
from rag.engine import Engine
from rag.index.index import Index
from rag.ingest.corpus import read_jsonl_corpus
from rag.records import Answer, Citation, Document, Passage, ScoredPassage
from rag.retrieve import retrieve

SOLAR = ("wire-solar-northern-courier", "wire-solar-daily-ledger", "wire-solar-plains-tribune")


def _dated_docs(project_root: Path) -> list[Document]:
    docs = [d for d in read_jsonl_corpus(project_root / "eval" / "gold" / "dated" / "corpus.jsonl")]
    assert all(isinstance(d, Document) for d in docs)
    return docs  # type: ignore[return-value]


def _sp(pid: int, doc_id: str, text: str) -> ScoredPassage:
    return ScoredPassage(Passage(pid, doc_id, 0, len(text), text, ((0, len(text)),)), doc_id, 1.0 / (pid + 1), pid + 1)


@pytest.fixture(scope="module")
def dated_index(project_root: Path) -> tuple[Index, Any]:
    from fakes import FakeEmbedder  # module-scoped fixture: cannot take the function-scoped fake_embedder

    emb = FakeEmbedder()
    index = Index.create(emb)
    index.update(_dated_docs(project_root), embedder=emb)
    return index, emb


def test_the_dated_corpus_holds_three_wire_copies(project_root: Path) -> None:
    solar = [d for d in _dated_docs(project_root) if d.id in SOLAR]
    assert len(solar) == 3 and len({d.text for d in solar}) == 3  # near-copies, not identical bytes


@pytest.mark.parametrize("fusion", ["ranker", "rrf"])
@pytest.mark.parametrize("mode", ["hybrid", "lexical"])
def test_top_k_holds_one_copy_naming_the_others(dated_index: tuple[Index, Any], fusion: str, mode: str) -> None:
    index, emb = dated_index
    k, query = 4, "Kestrel Valley solar farm Halden Energy homes"
    qvec = None if mode == "lexical" else emb.embed([query])[0]
    top = retrieve(index, query, qvec, k=k, mode=mode, fusion=fusion)  # type: ignore[arg-type]
    assert len(top) == k and [sp.rank for sp in top] == list(range(1, k + 1))
    solar = [sp for sp in top if sp.passage.doc_id in SOLAR]
    assert len(solar) >= 1
    first = solar[0]
    assert set(first.also_in) == set(SOLAR) - {first.passage.doc_id}
    # no other slot repeats the folded story: every other solar passage left is another part of the article
    texts = {sp.passage.text for sp in top}
    assert len(texts) == k


def test_exact_duplicates_fold_and_unrelated_passages_do_not() -> None:
    story = ("The city council voted on Tuesday to extend the night bus service to the airport, starting in "
             "March, after a year of complaints from shift workers about the lack of late connections.")
    other = ("A new library branch opened in the east district with a reading room, a maker space and a "
             "children's section funded by a private donation from a local family foundation.")
    passages = [_sp(0, "a", story), _sp(1, "b", other), _sp(2, "c", story), _sp(3, "d", story.upper())]
    folded = fold(passages)
    assert [sp.passage.doc_id for sp in folded] == ["a", "b"]
    assert folded[0].also_in == ("c", "d") and folded[1].also_in == ()
    assert [sp.rank for sp in folded] == [1, 2]


def test_same_document_passages_and_short_texts() -> None:
    # two passages of one document never fold; short texts fold only when their words are the same
    long = " ".join(f"word{i}" for i in range(40))
    assert groups([long, long], ["a", "a"]) == [0, 1]
    assert groups(["Markets closed higher.", "markets  closed HIGHER", "Markets closed lower."],
                  ["a", "b", "c"]) == [0, 0, 2]
    assert groups(["", ""], ["a", "b"]) == [0, 1]  # nothing to compare: not copies


def test_a_changed_tail_still_folds_a_different_story_does_not() -> None:
    base = ("Regulators on Wednesday approved a 300-megawatt solar farm in Kestrel Valley, the largest in the "
            "region, after a two-year review. The project, built by Halden Energy, will cover about 1,500 acres "
            "of former farmland and is expected to power 90,000 homes when it opens. ")
    tail_a, tail_b = "Construction starts next spring.", "Construction begins next summer."
    other = base.replace("solar farm", "wind farm").replace("Halden Energy", "Norsk Power").replace("1,500", "900")
    assert groups([base + tail_a, base + tail_b, other], ["a", "b", "c"])[:2] == [0, 0]
    assert groups([base + tail_a, other], ["a", "c"]) == [0, 1]


def test_folding_sixty_distinct_passages_is_deterministic_and_keeps_them_all() -> None:
    # (its speed, a few ms, is measured by `rag bench`, not asserted here: a timed test fails on a busy machine)
    texts = [" ".join(f"w{i}x{j}" for j in range(120)) for i in range(60)]
    passages = [_sp(i, f"d{i}", t) for i, t in enumerate(texts)]
    assert fold(passages) == fold(passages)
    assert len(fold(passages)) == 60


def _answer(also_in: tuple[str, ...]) -> Answer:
    c = Citation(1, "a", "Solar farm approved", 0, 5, "Solar", date="2024-06-12", source="Courier",
                 also_in=also_in)
    return Answer(text="Solar [1].", citations=(c,), passages=(), abstained=False, query="q", question="q")


def test_the_cli_lists_the_other_copies_escaped() -> None:
    docs = {"b": Document("b", "Regulators \x1b[2Japprove", "x", date="2024-06-12", source="Daily Ledger"),
            "c": Document("c", "", "x")}
    out = format_answer(_answer(("b", "c", "gone")), documents=docs)
    assert "    also in: Regulators \\x1b[2Japprove (2024-06-12, Daily Ledger); c (undated); gone" in out
    assert "also in" not in format_answer(_answer(()))
    assert "also in: b; c" in format_answer(_answer(("b", "c")))
    assert _answer(("b",)).citations[0].to_dict()["also_in"] == ["b"]


def test_the_chat_panel_lists_the_other_copies_escaped() -> None:
    from rag.chat.render import sources_html

    html = sources_html(_answer(("<b>x</b>",)))
    assert "Also in: &#60;b&#62;x&#60;" in html and "<b>x" not in html


@pytest.mark.integration
def test_the_solar_question_cites_one_copy_with_the_others(project_root: Path, real_embedder: Any) -> None:
    index = Index.create(real_embedder)
    index.update(_dated_docs(project_root), embedder=real_embedder)
    answer = Engine(index, real_embedder).ask("How many homes will the Kestrel Valley solar farm power?")
    cited = [c for c in answer.citations if c.doc_id in SOLAR]
    assert cited, answer.text
    assert set(cited[0].also_in) == set(SOLAR) - {cited[0].doc_id}
    solar_slots = [sp for sp in answer.passages if sp.passage.doc_id in SOLAR]
    assert len({sp.passage.text for sp in answer.passages}) == len(answer.passages)
    assert len(solar_slots) < len(answer.passages)
