"""The short answer through the real model and the real index: the seed article's acceptance questions are
answered with the right phrase, cited exactly inside its sentence; the off-topic question is still declined;
`rag ask --answerer sentences` keeps the answer as it was before the short answer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import rag
from rag.engine import Engine

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def seed_engine(tmp_path_factory: pytest.TempPathFactory, seed_file: Path, real_embedder: Any) -> Engine:
    idx = tmp_path_factory.mktemp("span") / "index"
    rag.build_index(idx, [seed_file], embedder=real_embedder)
    return Engine.open_with(idx, real_embedder)


@pytest.mark.parametrize(("question", "short"), [
    ("When did Turkey and Syria sign the memorandum of understanding?", "Aug. 13"),
    ("Who is Syria's defense minister?", "Murhaf Abu Qasra"),
    ("On what date did the opposition coalition launch the offensive that led to al-Assad's fall?",
     "Nov. 27, 2024"),
])
def test_seed_questions_are_answered_with_the_right_short_answer(seed_engine: Engine, question: str,
                                                                 short: str) -> None:
    answer = seed_engine.ask(question)
    assert answer.short_answer == short, answer.text
    lead, sentence = answer.citations[:2]
    assert (lead.marker, lead.role, sentence.role) == (1, "answer", "support")
    assert sentence.start <= lead.start < lead.end <= sentence.end and lead.doc_id == sentence.doc_id
    assert seed_engine.index.documents[lead.doc_id].text[lead.start:lead.end] == short
    assert answer.text.startswith(f"{short} [1] — ")
    assert answer.to_dict()["short_answer"] == short


def test_an_off_topic_question_is_still_declined(seed_engine: Engine) -> None:
    answer = seed_engine.ask("Who won the 2022 FIFA World Cup?")
    assert answer.abstained and answer.short_answer is None and not answer.citations


def test_a_calendar_date_never_says_how_long() -> None:
    from rag.span.model import short_answers

    sentence = "The longest special, broadcast in November 2013, ran 72 minutes."
    assert [a.text for a in short_answers("How long was the longest special?", sentence, limit=3)][:1] == ["72 minutes"]
    mou = "On Aug. 13, Turkey and Syria signed a memorandum of understanding (MoU)."
    assert short_answers("How long will the memorandum remain in force?", mou, limit=3) == []
    assert short_answers("When was the memorandum signed?", mou, limit=1)[0].text == "Aug. 13"
    assert short_answers("How long has the magazine been in print?", "It has been published since 1979.",
                         limit=1)[0].text in ("1979", "since 1979")  # a bare year may say it


def test_a_number_counting_something_else_does_not_say_how_many() -> None:
    from rag.span.model import short_answers

    lead = ("KESTREL VALLEY (Wire) — Regulators on Wednesday approved a 300-megawatt solar farm in Kestrel Valley, "
            "the largest in the region, after a two-year review.")
    assert "300" not in [a.text for a in short_answers("How many homes will the solar farm power?", lead,
                                                       threshold=False)]
    assert short_answers("How many megawatts will the solar farm produce?", lead, limit=1)[0].text.startswith("300")
    homes = "The project is expected to power 90,000 homes when it opens in 2026."
    assert short_answers("How many homes will the solar farm power?", homes, limit=1)[0].text.startswith("90,000")


def test_the_initials_of_the_questions_own_words_are_not_an_answer() -> None:
    from rag.span.model import short_answers
    from rag.span.reader import load_reader

    hts = ("Known as Operation Deterrence of Aggression, the offensive was spearheaded by Hayat Tahrir al-Sham (HTS) "
           "and supported by Turkish-backed factions.")
    assert "HTS" not in [a.text for a in short_answers("Who leads Hayat Tahrir al-Sham?", hts, threshold=False)]
    assert short_answers("What is the abbreviation of Hayat Tahrir al-Sham?", hts, limit=1)[0].text == "HTS"
    mou = ("On Aug. 13, Turkey and Syria signed a memorandum of understanding (MoU) outlining the framework for "
           "their military cooperation.")
    # neither the question's words abbreviated nor a day of the calendar ("Aug. 13", "On Aug. 13") says where
    where = "Where was the Turkey-Syria memorandum of understanding signed?"
    assert {"MoU", "On Aug. 13"} <= {s.text for s in load_reader().spans(where, mou)}  # what the reader proposes
    assert not {"MoU", "Aug. 13", "On Aug. 13"} & {a.text for a in short_answers(where, mou, threshold=False)}


def test_the_previous_answerer_stays_selectable(seed_engine: Engine, project_root: Path, tmp_path: Path) -> None:
    question = "Who is Syria's defense minister?"
    before = seed_engine.ask(question, answerer="sentences")
    assert before.short_answer is None and all(c.role == "support" for c in before.citations)
    with pytest.raises(rag.QuestionError, match="answerer"):
        seed_engine.ask(question, answerer="llm")  # type: ignore[arg-type]
    env = dict(os.environ, RAG_INDEX_DIR=str(tmp_path / "cli-index"), HF_HUB_OFFLINE="1")
    run = [sys.executable, "-m", "rag.cli"]
    subprocess.run([*run, "index", str(project_root / "seeds")], check=True, capture_output=True, env=env,
                   cwd=project_root, timeout=300)
    out = subprocess.run([*run, "ask", question, "--answerer", "sentences", "--json"], capture_output=True,
                         text=True, env=env, cwd=project_root, timeout=300)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["short_answer"] is None
    out = subprocess.run([*run, "ask", question], capture_output=True, text=True, env=env, cwd=project_root,
                         timeout=300)
    assert out.stdout.startswith("Murhaf Abu Qasra [1] — ") and "the short answer" in out.stdout, out.stdout
