"""What the span ranker sees of a candidate phrase: the kind of fact asked for against the kind of phrase, how
near the phrase stands to the question's words in its sentence, the words around it, its length and place.

`FEATURES` names the columns, in order; `rag/span/span_model.json` records them, and a model fitted on other
columns is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from rag.rank.query import question_type
from rag.span.entities import KINDS, Entity, entities, entity_at
from rag.span.phrases import Phrase, Token, phrases, tokens
from rag.span.places import COUNTRIES, US_STATES
from rag.text.terms import terms

FEATURES: tuple[str, ...] = (
    "q_date", "q_number", "q_name", "q_other",
    "wh_who", "wh_where", "wh_when", "wh_which", "wh_what", "wh_how_many",
    "p_quote", "p_date", "p_number", "p_name", "p_words",
    "words", "chars", "in_question", "any_in_question", "capitalised", "sentence_initial", "position",
    "left_distance", "right_distance", "near_4", "near_10",
    "after_preposition", "after_by", "after_comma", "before_comma", "in_brackets", "after_the",
    "whole_run", "has_digit", "head_near", "head_follows", "starts_with_title", "holds_title", "q_amount",
    "possessive", "q_country", "q_state", "p_country", "p_state",
    "q_person", "q_org", "q_place", *(f"e_{k}" for k in KINDS), "e_exact", "left_4", "owner_asked",
)
# The nouns a question asks for a person, an organisation or a place by ("which minister", "what group").
_PERSON_NOUNS = frozenset("person man woman official politician lawmaker executive founder author writer owner "
                          "candidate player spokesperson".split())
_ORG_NOUNS = frozenset("group organization organisation company party agency alliance team firm militia coalition "
                       "body ministry department union network club bank university newspaper outlet movement "
                       "faction force forces army bloc council court board institution".split())
_PLACE_NOUNS = frozenset("city town country nation region province state place governorate village area capital "
                         "district county island continent port site location territory border".split())
# Countries as terms ("Turkish" and "Turkey" are both "turkey"), for telling whose office a name holds.
_COUNTRY_TERMS = frozenset(t for c in COUNTRIES if " " not in c for t in terms(c))
_ASKED = re.compile(r"\b(?:which|what)\s+(\w+)(?:\s+(\w+))?", re.I)
_FAR = 20  # token distance standing for "no question word on that side"
_PREPOSITIONS = frozenset("in on at from to for with as than into during since until".split())
# Words of rank or office that precede a name: "Defense Minister Yasar Guler" answers "who" with the name alone.
TITLES = frozenset("minister president secretary prime chancellor governor gov gov. senator sen sen. rep rep. "
                    "mayor king queen prince princess ceo chairman chair director general gen gen. judge "
                    "justice commissioner ambassador spokesman spokeswoman spokesperson leader chief head "
                    "mr mr. mrs mrs. ms ms. dr dr. defense defence foreign interior finance deputy vice "
                    "pope bishop coach captain officer professor prof prof. sir lord lady".split())
# The titles as question terms: a question that names an office ("defense minister").
_TITLE_TERMS = frozenset(terms(t)[0] for t in TITLES if terms(t))
# The noun asked for: "which NFL team" -> team, "how many people" -> people.
_HEAD = re.compile(r"\b(?:(?:which|what)\s+(?:\w+\s+)?|how\s+(?:many|much)\s+)(\w+)", re.I)
# A question after an amount without saying "how many": "what was the death toll", "what budget".
_AMOUNT = re.compile(r"\b(toll|number|price|cost|budget|rate|percentage|population|amount|salary|score|total|age|"
                     r"fare|figure|size|value|share|fine|sum)s?\b", re.I)


@dataclass(frozen=True, slots=True)
class SentencePhrases:
    """A sentence's tokens, its candidate phrases and their feature rows (one per phrase, `FEATURES` order)."""

    text: str
    tokens: tuple[Token, ...]
    phrases: tuple[Phrase, ...]
    matrix: np.ndarray

    def span(self, i: int) -> tuple[int, int]:
        """The character offsets of phrase `i` inside the sentence."""
        p = self.phrases[i]
        return self.tokens[p.first].start, self.tokens[p.last].end


def _wh(question: str) -> list[float]:
    q = question.lower()
    has = [bool(re.search(rf"\b{w}\b", q)) for w in ("who|whom|whose", "where", "when", "which", "what")]
    return [*map(float, has), float(bool(re.search(r"\bhow (many|much)\b", q)))]


def _asks_for(question: str) -> list[float]:
    """Whether the question asks for a country (or nation) and for a state, by the noun it asks for."""
    m = _HEAD.search(question)
    noun = m.group(1).lower() if m else ""
    return [float(noun in ("country", "countries", "nation", "nations")), float(noun in ("state", "states"))]


def _asks_kind(question: str) -> list[float]:
    """Whether the question asks for a person ("who", "which minister"), an organisation ("which group") or a
    place ("where", "which city"), by its wh-word and the nouns after "which"/"what"."""
    q = question.lower()
    m = _ASKED.search(q)
    nouns = {w for w in (m.groups() if m else ()) if w}
    person = bool(re.search(r"\bwho(m)?\b", q)) or bool(nouns & (_PERSON_NOUNS | TITLES))
    return [float(person), float(bool(nouns & _ORG_NOUNS)),
            float(bool(re.search(r"\bwhere\b", q)) or bool(nouns & _PLACE_NOUNS))]


def _entity_part(entity: Entity | None, exact: bool) -> list[float]:
    return [*(float(entity is not None and entity.kind == k) for k in KINDS), float(exact)]


def _head(question: str) -> str | None:
    m = _HEAD.search(question)
    found = terms(m.group(1)) if m else []
    return found[0] if found else None


def _distances(hits: np.ndarray, p: Phrase) -> tuple[float, float]:
    left = [p.first - i for i in np.flatnonzero(hits[: p.first])]
    right = [i - p.last for i in np.flatnonzero(hits[p.last + 1:]) + p.last + 1]
    return float(min(left, default=_FAR)), float(min(right, default=_FAR))


def _left(token_terms: list[set[str]], q_terms: set[str], p: Phrase, width: int) -> float:
    """The share of the question's terms in the `width` tokens before the phrase: what modifies a name stands
    before it ("Syria's Defense Minister Murhaf Abu Qasra"); a term after it may belong to the next name."""
    if not q_terms:
        return 0.0
    return len(set().union(*token_terms[max(0, p.first - width): p.first]) & q_terms) / len(q_terms)


def _owner_asked(toks: list[Token], token_terms: list[set[str]], q_terms: set[str], p: Phrase) -> float:
    """Whether a possessive whose owner the question names stands just before the phrase: "Syria's Defense
    Minister Murhaf Abu Qasra" for "Who is Syria's defense minister?"."""
    for i in range(max(1, p.first - 4), p.first):
        if toks[i].text in ("'s", "’s") and token_terms[i - 1] & q_terms:
            return 1.0
    return 0.0


def _offices_asked(question_terms: set[str], toks: list[Token]) -> frozenset[str]:
    """The countries whose office the question asks about ("Who is Syria's defense minister?" -> {syria}), when
    the sentence names an office too; empty otherwise (then no phrase is another country's office holder)."""
    if not question_terms & _TITLE_TERMS or not any(t.text.lower() in TITLES for t in toks):
        return frozenset()
    return frozenset(question_terms & _COUNTRY_TERMS)


def _another_country(toks: list[Token], token_terms: list[set[str]], asked: frozenset[str], p: Phrase) -> bool:
    """Whether the phrase names the holder of another country's office than the question asks about (`asked`,
    `_offices_asked`): the words of office before the name (in the phrase or just before it) follow another
    country ("Turkish Defense Minister Yasar Guler" for "Who is Syria's defense minister?")."""
    if not asked:
        return False
    i = p.first - 1
    while i >= 0 and (toks[i].text[:1].isupper() or toks[i].text in ("'s", "’s")):
        i -= 1
    titled = False
    for j in range(p.last, i, -1):  # right to left: a title, then the country it belongs to
        titled = titled or toks[j].text.lower() in TITLES
        if titled and token_terms[j] & _COUNTRY_TERMS:
            return not token_terms[j] & asked
    return False


def another_countrys_office(question: str, sentence: str, start: int, end: int) -> bool:
    """Whether the words `sentence[start:end]` name the holder of another country's office than the question asks
    about ("Turkish Defense Minister Yasar Guler" for "Who is Syria's defense minister?"; `_another_country`)."""
    toks = tokens(sentence)
    asked = _offices_asked(set(terms(question)), toks)
    inside = [i for i, t in enumerate(toks) if start <= t.start and t.end <= end]
    if not asked or not inside:
        return False
    return _another_country(toks, [set(terms(t.text)) for t in toks], asked, Phrase(inside[0], inside[-1], "name"))


def _unclaimed(hits: np.ndarray, toks: list[Token], found: tuple[Entity, ...], entity: Entity | None, p: Phrase
               ) -> np.ndarray:
    """`hits` (tokens holding a question term) without those in the 4 tokens before the next entity of the
    phrase's own kind (`entity`, the one it falls on): in "Defense Minister Yasar Guler, Syria's Defense Minister
    Murhaf Abu Qasra", "Syria's Defense Minister" is said of Murhaf Abu Qasra, not of Yasar Guler."""
    if entity is None:
        return hits
    after = next((e for e in found if e.kind == entity.kind and e.start >= toks[p.last].end), None)
    first = next((i for i, t in enumerate(toks) if after is not None and t.start >= after.start), None)
    if first is None:
        return hits
    out = hits.copy()
    out[max(p.last + 1, first - 4): first] = False
    return out


def _near(token_terms: list[set[str]], q_terms: set[str], p: Phrase, width: int) -> float:
    if not q_terms:
        return 0.0
    around = set().union(*token_terms[max(0, p.first - width): p.first], *token_terms[p.last + 1: p.last + 1 + width])
    return len(around & q_terms) / len(q_terms)


def _row(question_part: list[float], toks: list[Token], token_terms: list[set[str]], q_terms: set[str],
         head: str | None, amount: float, asks: list[float], p: Phrase, hits: np.ndarray) -> list[float]:
    words = toks[p.first: p.last + 1]
    p_terms = set().union(*token_terms[p.first: p.last + 1])
    prev = toks[p.first - 1].text.lower() if p.first else ""
    nxt = toks[p.last + 1].text if p.last + 1 < len(toks) else ""
    left, right = _distances(hits, p)
    opened = sum(t.text in "([" for t in toks[: p.first]) - sum(t.text in ")]" for t in toks[: p.first])
    extends = (p.first and toks[p.first - 1].text[:1].isupper()) or nxt[:1].isupper()
    head_near = head is not None and any(head in s for s in token_terms[max(0, p.first - 3): p.last + 4])
    name = " ".join(t.text for t in words).lower()
    return [
        *question_part,
        *(float(p.kind == k) for k in ("quote", "date", "number", "name", "words")),
        float(len(words)), (words[-1].end - words[0].start) / 10,
        len(p_terms & q_terms) / len(p_terms) if p_terms else 1.0, float(bool(p_terms & q_terms)),
        float(words[0].text[:1].isupper()), float(p.first == 0), p.first / max(len(toks), 1),
        left, right, _near(token_terms, q_terms, p, 4), _near(token_terms, q_terms, p, 10),
        float(prev in _PREPOSITIONS), float(prev == "by"), float(prev == ","), float(nxt == ","),
        float(opened > 0), float(prev == "the"),
        float(not extends), float(any(c.isdigit() for t in words for c in t.text)), float(head_near),
        float(head is not None and p.last + 1 < len(toks) and head in token_terms[p.last + 1]),
        float(words[0].text.lower() in TITLES), float(any(t.text.lower() in TITLES for t in words)),
        amount, float(words[-1].text.endswith(("'s", "’s"))),
        *asks, float(name in COUNTRIES), float(name in US_STATES),
    ]


def sentence_phrases(question: str, sentence: str) -> SentencePhrases:
    """The candidate short answers of `sentence` for `question`, with their features. A phrase whose words all
    occur in the question is not a candidate: it repeats what was asked."""
    toks = tokens(sentence)
    token_terms = [set(terms(t.text)) for t in toks]
    q_terms = set(terms(question))
    kind = question_type(question)
    if kind == "other" and _AMOUNT.search(question):
        kind = "number"  # "what was the death toll": asked as a "what", answered by a number
    question_part = [*(float(kind == k) for k in ("date", "number", "name", "other")), *_wh(question)]
    head = _head(question)
    hits = np.array([bool(s & q_terms) for s in token_terms], dtype=bool)
    offices = _offices_asked(q_terms, toks)
    keep = []
    for p in phrases(toks):
        p_terms = set().union(*token_terms[p.first: p.last + 1])
        if p_terms and not p_terms <= q_terms and not _another_country(toks, token_terms, offices, p):
            keep.append(p)
    amount = float(bool(_AMOUNT.search(question)))
    asks = _asks_for(question)
    kinds = _asks_kind(question)
    found = entities(sentence) if keep else ()
    rows = []
    for p in keep:
        entity, exact = entity_at(sentence, found, toks[p.first].start, toks[p.last].end)
        rows.append([*_row(question_part, toks, token_terms, q_terms, head, amount, asks, p,
                           _unclaimed(hits, toks, found, entity, p)), *kinds, *_entity_part(entity, exact),
                     _left(token_terms, q_terms, p, 4), _owner_asked(toks, token_terms, q_terms, p)])
    matrix = np.array(rows, dtype=np.float64).reshape(len(rows), len(FEATURES))
    return SentencePhrases(sentence, tuple(toks), tuple(keep), matrix)
