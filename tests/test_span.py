"""The short answer (rag.span): candidate phrases, their features, a span ranker trained in seconds through the
same code as the committed one, its numpy trees against LightGBM, and the committed model's choices."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from eval import train_span
from rag.rank.trees import Trees
from rag.span.features import FEATURES, sentence_phrases
from rag.span.model import SpanModel, SpanModelError, counts_another_thing, load_span_model, short_answer
from rag.span.phrases import abbreviates, phrases, tokens

SEED_SENTENCE = ("The agreement, which was finalized after meetings between Turkish Defense Minister Yasar Guler, "
                 "Syria’s Defense Minister Murhaf Abu Qasra and intelligence chiefs, aims to enhance coordination.")


def _texts(sentence: str) -> set[str]:
    toks = tokens(sentence)
    return {sentence[toks[p.first].start:toks[p.last].end] for p in phrases(toks)}


def test_candidates_are_the_names_dates_numbers_and_quotes_a_reader_points_at() -> None:
    found = _texts("On Aug. 13, officials said the quake of Nov. 27, 2024 killed 150 people and cost $3 billion, "
                   "under the slogan “Safer with Susan”.")
    assert {"Aug. 13", "Nov. 27, 2024", "150 people", "150", "$3 billion", "Safer with Susan"} <= found
    assert {"Yasar Guler", "Murhaf Abu Qasra", "Turkish Defense Minister Yasar Guler"} <= _texts(SEED_SENTENCE)


def test_a_sentence_final_stop_is_not_part_of_a_phrase_but_an_abbreviation_keeps_its_own() -> None:
    found = _texts("The treaty was signed by Gen. Smith in Denver.")
    assert "Denver" in found and "Denver." not in found
    assert "Gen. Smith" in found
    assert "Covid-19 vaccine" not in {t for t in _texts("The Covid-19 vaccine works.") if t[:1].isdigit()}


@pytest.mark.parametrize(("text", "question", "restates"), [
    ("HTS", "Who leads Hayat Tahrir al-Sham?", True),  # "al-" may be skipped
    ("MoU", "Where was the Turkey-Syria memorandum of understanding signed?", True),
    ("U.N.", "What did the United Nations say?", True),
    ("MSC", "Where was the Manned Spacecraft Center located?", True),
    ("NFL", "What is the National Football League's abbreviation?", False),  # asked for: the answer
    ("NATO", "What does NATO stand for?", False),
    ("US", "Which country is under sanctions?", False),  # two letters only from a name's capitals
    ("SDF", "Who is Turkey fighting?", False),
    ("Syria", "Where is the Syrian Democratic Forces' base?", False),  # a word, not initials
])
def test_a_span_that_only_abbreviates_the_questions_words_restates_it(text: str, question: str,
                                                                      restates: bool) -> None:
    assert abbreviates(text, question) is restates


@pytest.mark.parametrize(("question", "sentence", "number", "another"), [
    ("How many homes will the solar farm power?", "Regulators approved a 300-megawatt solar farm.", "300", True),
    ("How many major titles has he won?", "He finished the tournament 12-under to win.", "12", True),
    ("How many yards was the field goal?", "McManus kicked a 33-yard field goal.", "33", False),
    ("How many years had Davis played?", "Davis, an 11-year veteran, broke his arm.", "11", False),
    ("A man was convicted this week. How old is he?", "A 101-year-old man was convicted.", "101", False),
    ("What age was she?", "Lucile Randon, a 118-year old French nun, died.", "118", False),
    ("How many people died?", "The quake killed 300 people.", "300", False),  # no compound
])
def test_a_number_in_a_compound_counts_the_compounds_noun(question: str, sentence: str, number: str,
                                                            another: bool) -> None:
    assert counts_another_thing(question, sentence, sentence.index(number) + len(number)) is another


def test_phrases_that_only_repeat_the_question_are_not_candidates() -> None:
    found = sentence_phrases("Who is Syria's defense minister?", SEED_SENTENCE)
    texts = {found.text[a:b] for a, b in map(found.span, range(len(found.phrases)))}
    assert "Defense Minister" not in texts and "Murhaf Abu Qasra" in texts
    assert found.matrix.shape == (len(found.phrases), len(FEATURES))
    assert sentence_phrases("anything?", "").matrix.shape == (0, len(FEATURES))


def _synthetic(n: int) -> list[train_span.Example]:
    """Questions whose answer is always the name after "met": a pattern a ranker learns from a few dozen."""
    rng = np.random.default_rng(0)
    first = ["Anna", "Boris", "Chen", "Dara", "Emil", "Farah", "Goran", "Hana", "Ivo", "Jana"]
    last = ["Kovac", "Lindqvist", "Moreau", "Novak", "Okafor", "Petrov", "Quinn", "Rossi", "Sato", "Tanaka"]
    out = []
    for i in range(n):
        a, b, c = (f"{rng.choice(first)} {rng.choice(last)}" for _ in range(3))
        sentence = f"In Geneva on Monday, minister {a} met {b} while {c} waited outside."
        question = f"Whom did {a.split()[1]} meet in Geneva?"
        found = sentence_phrases(question, sentence)
        texts = [sentence[s:e] for s, e in map(found.span, range(len(found.phrases)))]
        labels = np.array([train_span._grade(train_span.squad_f1(t, (b,))) for t in texts])
        out.append(train_span.Example("synthetic", f"g{i % 5}", question, (b,), texts, found.matrix, labels))
    return out


def test_a_tiny_span_ranker_trained_through_the_same_code_finds_the_answer(tmp_path: Path) -> None:
    data = _synthetic(120)
    booster = train_span.train(data[:90])
    trees = Trees.from_dump(booster.dump_model())
    rows = np.vstack([d.x for d in data[90:]])
    assert np.abs(trees.predict(rows) - booster.predict(rows)).max() < 1e-6  # numpy equals LightGBM
    right = [train_span.squad_em(train_span.best(d, trees)[0], d.answers) for d in data[90:]]
    assert np.mean(right) >= 0.9
    model = SpanModel(trees, threshold=-1.0)
    path = tmp_path / "span.json"
    model.save(path)
    back = load_span_model.__wrapped__(path)
    assert np.array_equal(back.scores(rows), model.scores(rows)) and back.threshold == -1.0


def test_a_model_fitted_on_other_features_or_a_damaged_file_is_refused(tmp_path: Path) -> None:
    raw = load_span_model().to_dict()
    raw["features"] = raw["features"][:-1]
    (tmp_path / "other.json").write_text(json.dumps(raw))
    with pytest.raises(SpanModelError, match="refit"):
        load_span_model.__wrapped__(tmp_path / "other.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(SpanModelError, match=r"bad\.json"):
        load_span_model.__wrapped__(tmp_path / "bad.json")


@pytest.mark.parametrize(("question", "sentence", "expected"), [
    ("Who is Syria's defense minister?", SEED_SENTENCE, "Murhaf Abu Qasra"),
    ("When did Turkey and Syria sign the memorandum of understanding?",
     "On Aug. 13, Turkey and Syria signed a memorandum of understanding (MoU) outlining the framework.", "Aug. 13"),
    ("How many people died in the Port Alden earthquake?",
     "A magnitude 6.4 earthquake struck Port Alden early Saturday, killing at least 12 people, officials said.", "12"),
])
def test_the_committed_model_picks_the_phrase_that_answers(question: str, sentence: str, expected: str) -> None:
    found = short_answer(question, sentence, model=load_span_model())
    assert found is not None and found.text == expected
    assert sentence[found.start:found.end] == found.text


def test_why_and_how_questions_get_no_short_answer() -> None:
    for model in (None, load_span_model()):  # the reader (the default) and the span ranker
        assert short_answer("Why did Turkey sign the agreement?", SEED_SENTENCE, model=model) is None
        assert short_answer("How will the agreement work?", SEED_SENTENCE, model=model) is None


def test_the_committed_model_records_what_it_saw_and_its_held_out_figures(project_root: Path) -> None:
    meta = json.loads((project_root / "rag" / "span" / "span_model.meta.json").read_text())
    assert set(meta["data"]) == {"squad-dev", "news-rtqa"}
    assert all(len(d["files_sha256"]["gold.jsonl"]) == 64 for d in meta["data"].values())
    assert meta["features"] == list(FEATURES)
    assert meta["held_out"]["news-rtqa"]["f1_top"] > 0.4
    assert (project_root / "rag" / "span" / "span_model.json").stat().st_size < 1_000_000
