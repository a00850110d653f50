"""Named entities for the span ranker (`rag.span.entities`), through the real spaCy pipeline: kinds, the entity
a phrase falls on, and the question's asked-for kind in the span features."""

from __future__ import annotations

import numpy as np

from rag.span.entities import entities, entity_at
from rag.span.features import FEATURES, sentence_phrases

SENTENCE = ("HTS, led by Abu Mohammed al-Julani, is a well-organized group that has controlled the Idlib "
            "governorate for years.")
BACKED = "The Syrian Democratic Forces (SDF), a Kurdish-led group backed by the United States, said on Monday."


def _span(text: str, phrase: str) -> tuple[int, int]:
    start = text.index(phrase)
    return start, start + len(phrase)


def test_entities_have_kinds_and_exact_offsets() -> None:
    found = entities(BACKED)
    by_text = {BACKED[e.start:e.end]: e.kind for e in found}
    assert by_text["the United States"] == "place"
    assert by_text["Monday"] == "date"
    assert by_text["Kurdish"] == "group"
    assert any(kind == "org" for kind in by_text.values())
    assert entities(BACKED) is found  # tagged once, however often it is asked


def test_entity_at_is_exact_only_on_the_same_span_the_aside() -> None:
    found = entities(SENTENCE)
    person, exact = entity_at(SENTENCE, found, *_span(SENTENCE, "Abu Mohammed al-Julani"))
    assert person is not None and person.kind == "person" and exact
    part, exact = entity_at(SENTENCE, found, *_span(SENTENCE, "Abu Mohammed"))
    assert part == person and not exact
    wider, exact = entity_at(SENTENCE, found, *_span(SENTENCE, "by Abu Mohammed al-Julani"))
    assert wider == person and not exact  # a phrase that starts before the entity is not it
    assert entity_at(SENTENCE, found, *_span(SENTENCE, "well-organized")) == (None, False)
    the, exact = entity_at(BACKED, entities(BACKED), *_span(BACKED, "United States"))
    assert the is not None and exact  # "the United States" is the phrase "United States"


def test_span_features_carry_the_asked_kind_and_the_phrase_kind() -> None:
    sp = sentence_phrases("Who leads HTS?", SENTENCE)
    rows = {SENTENCE[slice(*sp.span(i))]: dict(zip(FEATURES, sp.matrix[i], strict=True))
            for i in range(len(sp.phrases))}
    julani = rows["Abu Mohammed al-Julani"]
    assert julani["q_person"] == 1.0 and julani["e_person"] == 1.0 and julani["e_exact"] == 1.0
    assert rows["years"]["e_date"] == 1.0 and rows["years"]["e_person"] == 0.0
    assert sp.matrix.shape == (len(sp.phrases), len(FEATURES)) and np.isfinite(sp.matrix).all()
    where = sentence_phrases("Which governorate has HTS controlled?", SENTENCE)
    assert where.matrix[:, FEATURES.index("q_place")].min() == 1.0
    assert where.matrix[:, FEATURES.index("q_person")].max() == 0.0


MEETING = ("The agreement was finalized after meetings between Turkish Defense Minister Yasar Guler, Syria’s Defense "
           "Minister Murhaf Abu Qasra and intelligence chiefs.")


def _names(question: str) -> set[str]:
    sp = sentence_phrases(question, MEETING)
    return {MEETING[slice(*sp.span(i))] for i, p in enumerate(sp.phrases) if p.kind == "name"}


def test_a_name_holding_another_countrys_office_is_no_candidate() -> None:
    syria = _names("Who is Syria's defense minister?")
    assert "Murhaf Abu Qasra" in syria and not {"Yasar Guler", "Turkish Defense Minister Yasar Guler"} & syria
    turkey = _names("Who is the Turkish defense minister?")
    assert "Yasar Guler" in turkey and "Murhaf Abu Qasra" not in turkey
    # no office asked: every name stays; a country asked for stays a candidate
    assert {"Yasar Guler", "Murhaf Abu Qasra"} <= _names("Who met in Ankara?")
    assert "Syria" in _names("Which country's minister met Turkey's?")
