"""The citation checker on hand-written generated texts: supported, unsupported, wrong marker, no marker,
marker to a passage that does not exist. Every citation that comes out quotes its document exactly."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rag.cite import MARKER, verify
from rag.generative.check import UNSUPPORTED, GroundParams, answer_sentences, check, is_prose, render, segment
from rag.records import Document, Passage, ScoredPassage
from rag.text.sentences import split_sentences

ACCORD = Document(
    id="accord", title="Turkey and Syria sign military accord",
    text=("On Aug. 13, Turkey and Syria signed a memorandum of understanding on military cooperation.\n"
          "The agreement was finalized after meetings between Turkish Defense Minister Yasar Guler and "
          "Syria's Defense Minister Murhaf Abu Qasra.\n"
          "Turkey offered to train Syrian forces in the use of the equipment."),
)
OFFENSIVE = Document(
    id="offensive", title="How the offensive unfolded",
    text=("The offensive was launched by a coalition of opposition groups on Nov. 27, 2024.\n"
          "It was spearheaded by Hayat Tahrir al-Sham, led by Abu Mohammed al-Julani.\n"
          "Officials said the army did not resist the advance on Damascus."),
)
DOCS = {d.id: d for d in (ACCORD, OFFENSIVE)}


def _passages(*docs: Document) -> list[ScoredPassage]:
    out = []
    for i, doc in enumerate(docs):
        sents = tuple(split_sentences(doc.text))
        p = Passage(id=i, doc_id=doc.id, start=sents[0][0], end=sents[-1][1], text=doc.text[sents[0][0]:sents[-1][1]],
                    sentences=sents)
        out.append(ScoredPassage(passage=p, title=doc.title, score=1.0 / (i + 1), rank=i + 1))
    return out


PASSAGES = _passages(ACCORD, OFFENSIVE)  # [1] = accord, [2] = offensive


def _quotes(checked):
    return [[DOCS[s.doc_id].text[s.start:s.end] for s in c.support] for c in checked]


def _assert_exact(text, citations):
    for c in citations:
        assert c.quote == DOCS[c.doc_id].text[c.start:c.end]
    verify(text, citations, DOCS)


def test_supported_sentence_cites_the_exact_source_sentence():
    checked = check("Turkey and Syria signed a memorandum of understanding on Aug. 13 [1].", PASSAGES, DOCS)
    assert len(checked) == 1 and checked[0].supported and not checked[0].repaired
    assert checked[0].cited == (1,)
    assert _quotes(checked) == [[ACCORD.text.splitlines()[0]]]
    text, citations, supported = render(checked, DOCS)
    assert text == "Turkey and Syria signed a memorandum of understanding on Aug. 13. [1]"
    assert supported == (True,)
    _assert_exact(text, citations)


@pytest.mark.parametrize("claim", [
    "The memorandum was signed in Paris by the French president [1].",  # invented content
    "Turkey and Syria signed a memorandum of understanding on Aug. 14 [1].",  # a wrong number
    "Turkey and Syria did not sign a memorandum of understanding [1].",  # negation the source lacks
    "The army resisted the advance on Damascus [2].",  # drops the source's negation
    "The offensive was launched on Nov. 27, 2023 [2].",  # a wrong year
    "Yes [1].",  # no content to check
])
def test_unsupported_sentence_is_marked_and_never_cited(claim):
    checked = check(claim, PASSAGES, DOCS)
    assert [c.supported for c in checked] == [False]
    text, citations, supported = render(checked, DOCS)
    assert citations == () and supported == (False,)
    assert text.endswith(UNSUPPORTED) and not MARKER.search(text)
    dropped, none, flags = render(checked, DOCS, drop_unsupported=True)
    assert (dropped, none, flags) == ("", (), ())


def test_wrong_marker_is_repaired_to_the_passage_that_supports_the_sentence():
    checked = check("The offensive was spearheaded by Hayat Tahrir al-Sham [1].", PASSAGES, DOCS)
    (c,) = checked
    assert c.supported and c.repaired and c.cited == (1,)
    assert c.support[0].number == 2 and c.support[0].doc_id == "offensive"
    text, citations, _ = render(checked, DOCS)
    assert citations[0].quote == "It was spearheaded by Hayat Tahrir al-Sham, led by Abu Mohammed al-Julani."
    _assert_exact(text, citations)


def test_sentence_without_marker_is_tied_to_its_source_or_marked():
    checked = check("Turkey offered to train Syrian forces. Turkey also sent fighter jets to Damascus.",
                    PASSAGES, DOCS)
    assert [c.supported for c in checked] == [True, False]
    assert checked[0].repaired and checked[0].cited == ()
    text, citations, supported = render(checked, DOCS)
    assert text == "Turkey offered to train Syrian forces. [1] Turkey also sent fighter jets to Damascus. [unsupported]"
    assert supported == (True, False)
    _assert_exact(text, citations)


def test_marker_to_a_passage_that_does_not_exist():
    # Supported elsewhere: repaired; not supported anywhere: no citation at all.
    checked = check("HTS is led by Abu Mohammed al-Julani [7]. The deal is worth 5 billion dollars [9].",
                    PASSAGES, DOCS)
    assert [c.supported for c in checked] == [True, False]
    assert checked[0].repaired and checked[0].support[0].number == 2
    text, citations, _ = render(checked, DOCS)
    assert [c.marker for c in citations] == [1]
    assert "[7]" not in text and "[9]" not in text
    _assert_exact(text, citations)


def test_two_facts_of_one_sentence_cite_two_source_sentences_in_order():
    text = ("Yasar Guler met Syria's Defense Minister Murhaf Abu Qasra, and Turkey offered to train Syrian forces "
            "in the use of the equipment [1].")
    (c,) = check(text, PASSAGES, DOCS)
    assert c.supported and len(c.support) == 2
    assert [s.start for s in c.support] == sorted(s.start for s in c.support)
    out, citations, _ = render([c], DOCS)
    assert out.endswith("[1][2]")
    _assert_exact(out, citations)


def test_marker_forms_and_markers_left_at_the_next_sentence():
    segs = segment("Turkey signed on Aug. 13. [1] [2, 3] HTS led the offensive [2-3]. [Passage 1]")
    assert [(s[0].split(" [")[0], s[1]) for s in segs] == [("Turkey signed on Aug. 13.", [1, 2, 3]),
                                                          ("HTS led the offensive", [2, 3, 1])]
    checked = check("<think>maybe [2]</think>Turkey and Syria signed a memorandum on Aug. 13. [1]", PASSAGES, DOCS)
    assert len(checked) == 1 and checked[0].supported and "think" not in checked[0].text


def test_lead_ins_are_left_out_and_lists_keep_their_lines():
    generated = ("Here is what the passages say:\n- Turkey offered to train Syrian forces [1].\n"
                 "- The offensive was launched on Nov. 27, 2024 [2].")
    checked = check(generated, PASSAGES, DOCS)
    assert [c.text for c in checked] == ["- Turkey offered to train Syrian forces.",
                                         "- The offensive was launched on Nov. 27, 2024."]
    text, citations, supported = render(checked, DOCS)
    assert text.splitlines() == ["- Turkey offered to train Syrian forces. [1]",
                                 "- The offensive was launched on Nov. 27, 2024. [2]"]
    assert supported == (True, True)
    _assert_exact(text, citations)


def test_model_cannot_forge_markers_or_tags():
    generated = "Every claim here is verified by the editors [unsupported] [1][2]. Trust this answer [1]."
    checked = check(generated, PASSAGES, DOCS)
    assert not any(c.supported for c in checked)
    text, citations, _ = render(checked, DOCS)
    assert citations == () and text.count(UNSUPPORTED) == 2


def test_keyword_runs_are_not_sentences():
    assert not is_prose("Syria accord Turkey military agreement signed")
    assert is_prose("Turkey and Syria signed an accord")
    assert is_prose("Yasar Guler")
    (c,) = check("Syria Turkey memorandum understanding military cooperation signed [1]", PASSAGES, DOCS)
    assert not c.supported


def test_low_similarity_rejects_a_lexical_match():
    claim = "Turkey offered to train Syrian forces [1]."
    high = check(claim, PASSAGES, DOCS, similarity=lambda c, k: np.full((len(c), len(k)), 0.9, np.float32))
    low = check(claim, PASSAGES, DOCS, similarity=lambda c, k: np.full((len(c), len(k)), 0.1, np.float32))
    assert high[0].supported and high[0].support[0].cosine == pytest.approx(0.9)
    assert not low[0].supported
    lenient = check(claim, PASSAGES, DOCS, params=GroundParams(min_cosine=0.0, min_cosine_strong=0.0),
                    similarity=lambda c, k: np.full((len(c), len(k)), 0.1, np.float32))
    assert lenient[0].supported


def test_answer_sentences_cuts_rendered_text_back():
    checked = check("Turkey offered to train Syrian forces [1]. The deal is worth 5 billion dollars [1]. "
                    "HTS was led by Abu Mohammed al-Julani [2].", PASSAGES, DOCS)
    text, _, supported = render(checked, DOCS)
    pieces = answer_sentences(text)
    assert [ok for _, ok in pieces] == list(supported) == [True, False, True]
    assert " ".join(p for p, _ in pieces) == text


_SENTENCES = [ACCORD.text[s:e] for s, e in split_sentences(ACCORD.text)] + \
             [OFFENSIVE.text[s:e] for s, e in split_sentences(OFFENSIVE.text)]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_SENTENCES), st.integers(0, 12), st.integers(0, 4),
                          st.sampled_from(["", "[{n}]", " [{n}].", "[{n}, {m}]", "[Passage {n}]", " (invented 99)"])),
                min_size=1, max_size=5))
def test_every_citation_is_exact_whatever_the_model_writes(parts):
    # Pieces of real sentences, cut anywhere, with markers valid or not: citations stay exact and verified.
    generated = " ".join(s[: max(len(s) - cut * 5, 3)] + tail.format(n=n, m=n + 1) for s, cut, n, tail in parts)
    checked = check(generated, PASSAGES, DOCS)
    text, citations, supported = render(checked, DOCS)
    _assert_exact(text, citations)
    assert len(supported) == len(checked)
    assert [int(m) for m in re.findall(r"\[(\d+)\]", text)] == list(range(1, len(citations) + 1))
