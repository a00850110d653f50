"""The generative path through the real MiniLM index on the seed article: a tiny random-weight generator (its
gibberish must never come out cited), a reply written as a good model would (checked with MiniLM cosines),
and `rag ask --generator`."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from tiny_lm import ScriptedGenerator, build_tiny_model, cite

from rag.cli import main
from rag.collection import build_index
from rag.engine import Engine
from rag.extractive import load_params
from rag.generative.answer import index_similarity
from rag.generative.check import UNSUPPORTED, check
from rag.generative.model import forget_generators, get_generator
from rag.index.index import Index
from rag.records import Answer

pytestmark = pytest.mark.integration

QUESTIONS = [
    "When did Turkey and Syria sign the memorandum of understanding?",
    "Who leads HTS?",
    "Why did the al-Assad regime collapse?",
]


@pytest.fixture(scope="module")
def index_folder(real_embedder, tmp_path_factory, seeds_dir) -> Path:
    folder = tmp_path_factory.mktemp("minilm-index")
    build_index(folder, [seeds_dir], embedder=real_embedder)
    return folder


@pytest.fixture(scope="module")
def engine(real_embedder, index_folder) -> Engine:
    return Engine(Index.load(index_folder), real_embedder)


@pytest.fixture(scope="module")
def eager(engine) -> Engine:
    """The same index with the extractive answerer's abstention off, so the generative path always runs
    (whether it runs depends on that fitted threshold; what is tested here is the checking)."""
    return Engine(engine.index, engine.embedder, params=dataclasses.replace(load_params(), threshold=0.0))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, seeds_dir) -> Path:
    seed = next(seeds_dir.glob("*.txt")).read_text(encoding="utf-8")
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "llama", texts=[seed], kind="llama")


def _exact(answer: Answer, engine: Engine) -> None:
    for c in answer.citations:
        assert c.quote == engine.index.documents[c.doc_id].text[c.start:c.end]


@pytest.mark.parametrize("question", QUESTIONS)
def test_gibberish_is_never_shown_as_cited(eager, tiny, question):
    engine = eager
    gen = get_generator(str(tiny))
    try:
        base = engine.ask(question)
        items = list(engine.ask_stream(question, generator=gen))
    finally:
        forget_generators()
    *partial, final = items
    assert isinstance(final, Answer)
    # The random model wrote something, and none of it survived the check.
    assert partial and partial[-1].strip()
    assert final.answerer == "extractive" and final.text == base.text and final.citations == base.citations
    assert final.abstained == base.abstained
    assert partial[-1].strip() not in final.text
    _exact(final, engine)


def test_a_good_reply_is_cited_with_exact_spans_and_an_invented_claim_is_marked(eager):
    engine = eager

    def reply(p):
        return (f"Turkey and Syria signed a memorandum of understanding on Aug. 13 [{cite(p, 'On Aug. 13')}]. "
                f"The move came after months of negotiations [{cite(p, 'months of negotiations')}]. "
                "The agreement also commits Turkey to build three air bases in Aleppo by 2026 [1].")

    answer = engine.ask(QUESTIONS[0], generator=ScriptedGenerator(reply))
    assert answer.answerer == "generative" and answer.supported == (True, True, False)
    assert answer.text.endswith(f"by 2026. {UNSUPPORTED}")
    assert answer.citations[0].quote.startswith("On Aug. 13, Turkey and Syria signed a memorandum")
    assert "months of negotiations" in answer.citations[1].quote
    assert len(answer.citations) == 2
    _exact(answer, engine)


# (question, generated sentence, supported?): what a model might write, true and false, about the seed article.
CLAIMS = [
    (QUESTIONS[0], "Turkey and Syria signed a memorandum of understanding on Aug. 13 [1].", True),
    (QUESTIONS[0], "The agreement was signed on Aug. 13 after months of negotiations [2].", True),
    (QUESTIONS[0], "Turkey and Syria signed a memorandum of understanding on Aug. 14 [1].", False),
    (QUESTIONS[0], "Turkey and Syria did not sign a memorandum of understanding [1].", False),
    (QUESTIONS[0], "The memorandum was signed in Paris by the French president [1].", False),
    (QUESTIONS[1], "HTS is led by Abu Mohammed al-Julani [1].", True),
    (QUESTIONS[1], "HTS is a well-organized group that has controlled the Idlib governorate for years [1].", True),
    (QUESTIONS[1], "HTS is led by Ahmed Hussein [1].", False),
    ("What did the agreement include?", "The accord covers military training, weapon systems and logistical "
                                        "materials [1].", True),
    ("What did the agreement include?", "Turkey will provide weapons, logistical support and training to the "
                                        "Syrian army [1].", True),
    ("What did the agreement include?", "The agreement includes a plan to build nuclear power plants in "
                                        "Damascus [1].", False),
    (QUESTIONS[2], "The economy relied heavily on the illicit trade of Captagon [1].", True),
    (QUESTIONS[2], "Many soldiers abandoned their posts [2].", True),
    (QUESTIONS[2], "Russia was distracted by its invasion of Ukraine [1].", True),
    (QUESTIONS[2], "Russia sent thousands of troops to defend Damascus [1].", False),
    ("When was the offensive launched?", "The offensive began on Nov. 27, 2024 [1].", True),
    ("When was the offensive launched?", "The offensive began on Nov. 27, 2023 [1].", False),
    ("When was the offensive launched?", "Syria accord Turkey military agreement Syria signed [1].", False),
    ("Who is Turkey's defense minister?", "Turkey's defense minister is Yasar Guler [1].", True),
    ("Who is Syria's defense minister?", "Syria's defense minister is Murhaf Abu Qasra [1].", True),
]


@pytest.mark.parametrize(("question", "claim", "expected"), CLAIMS, ids=[c[1][:40] for c in CLAIMS])
def test_checker_on_claims_about_the_seed_article(engine, question, claim, expected):
    base = engine.ask(question)
    (checked,) = check(claim, base.passages, engine.index.documents, terms=engine.index.lexical.terms,
                       similarity=index_similarity(engine.index, engine.embedder))
    assert checked.supported is expected
    for s in checked.support:
        assert s.cosine is not None and 0 <= s.coverage <= 1


def test_a_relabelled_answer_keeps_pointing_at_the_right_passage(eager):
    engine = eager

    # Markers shuffled by the model: each sentence is re-tied to the passage that supports it.
    def reply(p):
        wrong = max(p) + 3
        return (f"HTS is led by Abu Mohammed al-Julani [{wrong}]. "
                f"HTS has controlled the Idlib governorate for years [{wrong}].")

    answer = engine.ask(QUESTIONS[1], generator=ScriptedGenerator(reply))
    assert answer.answerer == "generative" and answer.supported == (True, True)
    assert all("al-Julani" in c.quote for c in answer.citations)
    _exact(answer, engine)


def test_rag_ask_with_generator(index_folder, tiny, tmp_path, capsys, monkeypatch):
    index_dir = index_folder
    try:
        code = main(["ask", QUESTIONS[0], "--index-dir", str(index_dir), "--generator", str(tiny), "--json"])
        flag = json.loads(capsys.readouterr().out)
        monkeypatch.setenv("RAG_GENERATOR", str(tiny))
        assert main(["ask", QUESTIONS[0], "--index-dir", str(index_dir), "--json"]) == 0
        env = json.loads(capsys.readouterr().out)
        assert main(["ask", QUESTIONS[0], "--index-dir", str(index_dir), "--generator", "none", "--json"]) == 0
        off = json.loads(capsys.readouterr().out)
        assert main(["ask", QUESTIONS[0], "--index-dir", str(index_dir), "--generator", str(tmp_path / "nope")]) == 2
        err = capsys.readouterr().err
    finally:
        forget_generators()
    assert code == 0 and flag["answerer"] == env["answerer"] == "extractive"
    # The generator runs unless the extractive answerer abstained (then the abstention stands, ungenerated).
    assert ("generate_ms" in flag["timings"]) == ("generate_ms" in env["timings"]) == (not off["abstained"])
    assert "generate_ms" not in off["timings"]
    assert flag["text"] == off["text"]
    assert err.startswith("rag ask: no model folder at") and "nope" in err
