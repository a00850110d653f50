"""Two-sentence answers (`rag.bridge`): a question that describes its subject ("the group that spearheaded ...")
is answered through the sentence that names it. Unit tests of the question and name handling and of the pair
found in a fake-embedded index; the real model and index on the seed article's multi-hop questions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import rag
from rag.bridge import aliases, bridge, describes, sub_question
from rag.collection import build_index
from rag.engine import Engine
from rag.extractive import candidates, load_params
from rag.index.index import Index
from rag.retrieve import retrieve

STORY = (
    "Rebels seized the Vardo valley in March. "
    "Known as Operation Blue Lantern, the offensive was spearheaded by the Northern Brigade (NB) and backed by "
    "local militias. "
    "NB, commanded by Colonel Ruth Amsel, has held the border town of Kessel for years. "
    "Aid groups warned of shortages in the valley."
)


def test_describes_wants_a_relative_clause_after_a_noun() -> None:
    assert describes("Who leads the group that spearheaded Operation Deterrence of Aggression?")
    assert describes("What was the first name of the father of the Syrian president whose ousting preceded it?")
    assert not describes("Who leads Hayat Tahrir al-Sham?")
    assert not describes("Which group spearheaded Operation Deterrence of Aggression?")
    # an interrogative after a preposition, a "that" after a verb, a description that is what is asked for
    assert not describes("The CEO of which major entertainment company stepped down this week?")
    assert not describes("A study in the journal Science Advances postulates that life existed there. Where?")
    assert not describes("What is the private company that developed the spacecraft?")
    assert not describes("What is the name of the trophy given to anyone who plays on the winning team?")
    assert not describes("Crew Dragon returned. What is the private company that developed the spacecraft?")
    assert describes("Which military alliance is the country that signed the Aug. 13 MoU with Syria a member of?")


def test_aliases_are_the_names_given_in_brackets_either_way() -> None:
    text = "The offensive was spearheaded by Hayat Tahrir al-Sham (HTS) and backed by the Syrian National Army."
    assert aliases(text, "HTS") == ["Hayat Tahrir al-Sham"]
    assert aliases(text, "Hayat Tahrir al-Sham") == ["HTS"]
    assert aliases(text, "Syrian National Army") == []


def test_sub_question_replaces_the_clause_the_link_sentence_answers() -> None:
    link = "Known as Operation Deterrence of Aggression, the offensive was spearheaded by Hayat Tahrir al-Sham (HTS)."
    q = "Who leads the group that spearheaded Operation Deterrence of Aggression?"
    assert sub_question(q, link, ["HTS"]) == "Who leads the group (HTS)?"
    # a clause the link does not answer stays; the names are added
    q2 = "Which minister took part in the meetings that finalized the accord?"
    assert sub_question(q2, "Turkey is a member of NATO.", ["Turkish"]) == f"{q2} (Turkish)"


def test_the_pair_links_the_description_to_the_answer_through_the_name(
        tmp_path: Path, fake_embedder: Any) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "story.txt").write_text(STORY)
    build_index(tmp_path / "index", [tmp_path / "docs"], embedder=fake_embedder)
    index = Index.load(tmp_path / "index")
    question = "Which town had long been held by the group that spearheaded Operation Blue Lantern?"
    qv = fake_embedder.embed([question])[0]
    params = load_params()
    cands = candidates(index, question, qv, retrieve(index, question, qv, k=5), params=params)
    found = bridge(index, question, cands, params=params)
    assert found is not None
    text = index.documents["story.txt"].text
    assert "Kessel" in text[found.answer.start:found.answer.end]
    assert "Operation Blue Lantern" in text[found.link.start:found.link.end]
    assert found.entity in ("NB", "Northern Brigade")
    assert found.question.startswith("Which town had long been held by the group (")
    assert 0.0 <= found.confidence <= 1.0
    # a question that names its subject takes one sentence
    named = "Which town has NB held for years?"
    qv = fake_embedder.embed([named])[0]
    assert bridge(index, named, candidates(index, named, qv, retrieve(index, named, qv, k=5), params=params),
                  params=params) is None


@pytest.fixture(scope="module")
def seed_engine(tmp_path_factory: pytest.TempPathFactory, seed_file: Path, real_embedder: Any) -> Engine:
    idx = tmp_path_factory.mktemp("bridge") / "index"
    rag.build_index(idx, [seed_file], embedder=real_embedder)
    return Engine.open_with(idx, real_embedder)


@pytest.mark.integration
@pytest.mark.parametrize(("question", "answer", "link"), [
    ("Who leads the group that spearheaded Operation Deterrence of Aggression?", "al-Julani", "spearheaded"),
    ("Which governorate had long been controlled by the group that spearheaded Operation Deterrence of "
     "Aggression?", "Idlib", "spearheaded"),
    ("Which country backs the group whose forces clashed with Syrian government forces earlier this month?",
     "United States", "Clashes"),
])
def test_seed_multi_hop_questions_cite_both_sentences(seed_engine: Engine, question: str, answer: str,
                                                      link: str) -> None:
    a = seed_engine.ask(question)
    assert not a.abstained, a.text
    sentences = [c.quote for c in a.citations if c.role == "support"]
    assert len(sentences) == 2, a.text
    assert any(answer in s for s in sentences) and any(link in s for s in sentences), a.text
    short = [c for c in a.citations if c.role == "answer"]
    assert short and any(s.start <= short[0].start < short[0].end <= s.end for s in a.citations
                         if s.role == "support" and s.doc_id == short[0].doc_id)


@pytest.mark.integration
def test_a_single_sentence_question_is_answered_as_before(seed_engine: Engine) -> None:
    a = seed_engine.ask("Who is Syria's defense minister?")
    assert a.short_answer == "Murhaf Abu Qasra" and len([c for c in a.citations if c.role == "support"]) == 1
