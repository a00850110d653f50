"""Ground: check a generated answer sentence by sentence against the retrieved passages, in deterministic code.

Each generated sentence is resolved to the exact source sentence spans (`quote == doc.text[start:end]`) that
best support it: first among the passages its `[n]` markers name, then, when those do not support it (a wrong
marker, a marker to a passage that does not exist, or none at all), among every passage in the prompt.
A source sentence supports a claim when the claim's content terms are (mostly) its terms, every number of the
claim appears in it, negation agrees, and, where sentence vectors are at hand, the meanings are close.
A sentence with no support is marked `[unsupported]` (or dropped) and is never shown as cited.

This is a lexical-and-semantic check, not a proof of entailment: it catches invented names, numbers, dates and
negations and claims that borrow little from the sources, and puts the verbatim quote beside every sentence so a
reader can check the rest.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np

from rag.cite import make_citation, verify
from rag.records import Citation, Document, ScoredPassage
from rag.text.sentences import split_sentences
from rag.text.terms import terms as terms_of

Key = tuple[str, int, int]  # (doc_id, start, end) of a source sentence
Similarity = Callable[[Sequence[str], Sequence[Key]], np.ndarray]  # claims x source sentences -> cosine
Terms = Callable[[str], list[str]]

UNSUPPORTED = "[unsupported]"
_MARKERS = re.compile(
    r"\[\s*(?:(?:passages?|sources?|refs?|doc(?:ument)?s?)\s*)?(\d+(?:\s*(?:,|;|and|&|–|-)\s*\d+)*)\s*\]",
    re.IGNORECASE,
)
_FAKE_TAG = re.compile(r"\[\s*unsupported\s*\]", re.IGNORECASE)
_THINK = re.compile(r"<think>.*?(?:</think>|$)", re.DOTALL | re.IGNORECASE)
_BULLET = re.compile(r"^\s*(?:[-*•]|\d{1,2}[.)])\s+")
_NEGATION = re.compile(r"\b(?:not|no|never|none|nobody|nothing|neither|nor|without|cannot)\b|n['’]t\b",
                       re.IGNORECASE)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_WORDS = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")


@dataclass(frozen=True, slots=True)
class GroundParams:
    min_coverage: float = 0.6  # share of a claim's content terms that its spans must contain
    min_cosine: float = 0.5  # best cosine between claim and a span, when sentence vectors are at hand...
    strong_coverage: float = 0.75  # ...or, when the spans hold at least this share of the claim's terms,
    min_cosine_strong: float = 0.3  # this much: a short claim drawn from a long sentence scores low cosines
    second_gain: int = 2  # content terms a second span must add to be cited too
    max_spans: int = 2  # source sentences cited per generated sentence
    min_supported: float = 0.5  # share of claim sentences supported, else fall back to the extractive answer
    drop_unsupported: bool = False  # drop unsupported sentences instead of showing them marked
    abstain_with_extractive: bool = True  # no generation when the extractive answerer abstains


DEFAULT_PARAMS = GroundParams()


@dataclass(frozen=True, slots=True)
class Support:
    """A source sentence backing a generated sentence; `number` is its passage's number in the prompt."""

    number: int
    passage: ScoredPassage
    doc_id: str
    start: int
    end: int
    coverage: float
    cosine: float | None


@dataclass(frozen=True, slots=True)
class CheckedSentence:
    """One generated sentence: its text as shown (markers removed), the markers the model gave, its support."""

    text: str
    cited: tuple[int, ...]
    support: tuple[Support, ...]
    repaired: bool  # support was found outside the passages the model cited (or it cited none, or bad ones)
    separator: str  # white space that preceded it in the generated text ("\n" keeps lists and paragraphs)

    @property
    def supported(self) -> bool:
        return bool(self.support)


@cache
def _default_terms() -> Terms:
    return terms_of  # the engine's own stemming, stop words and demonyms


@cache
def _function_words() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


def is_prose(claim: str) -> bool:
    """Whether `claim` reads as a sentence: five or more words with not one function word among them ("the",
    "of", "is", ...) is a run of keywords (degenerate or random output), whatever words it borrows."""
    words = [w.lower() for w in _WORDS.findall(claim)]
    return len(words) < 5 or any(w in _function_words() for w in words)


def _numbers(text: str) -> set[str]:
    return {n.replace(",", "").rstrip(".") for n in _NUMBER.findall(text)}


_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][\w'’-]+")


def _names(claim: str, terms: Terms) -> set[str]:
    """Terms of the capitalised words inside a claim (not its first word): names, places, organisations."""
    return {t for m in _NAME.finditer(claim.strip()) for t in terms(m.group(0))}


def _markers(text: str) -> list[int]:
    out: list[int] = []
    for m in _MARKERS.finditer(text):
        for part in re.split(r"\s*(?:,|;|and|&)\s*", m.group(1)):
            a, _, b = re.sub(r"\s*[–-]\s*", "-", part).partition("-")
            lo, hi = int(a), int(b) if b else int(a)
            out.extend(range(lo, min(hi, lo + 20) + 1) if hi >= lo else [lo])
    return list(dict.fromkeys(out))


def _tidy(text: str) -> str:
    text = _FAKE_TAG.sub("", _MARKERS.sub("", text))
    text = re.sub(r"[ \t]+", " ", text)
    return re.sub(r"\s+([.,;:!?])", r"\1", text).strip()


def segment(text: str) -> list[tuple[str, list[int], str]]:
    """Generated text as (sentence with markers, markers, preceding white space); markers that a sentence
    splitter leaves at the start of the next sentence ("... 13. [1] Then ...") go back to the one they follow."""
    text = _THINK.sub("", text).strip()
    out: list[tuple[str, list[int], str]] = []
    prev_end = 0
    for s, e in split_sentences(text):
        piece, sep = text[s:e], ("\n" if "\n" in text[prev_end:s] else " ")
        prev_end = e
        lead = re.match(rf"^(?:\s*{_MARKERS.pattern})+[.,;]?", piece, re.IGNORECASE)
        if lead and out:
            head = out[-1]
            out[-1] = (head[0] + " " + lead.group(0), head[1] + _markers(lead.group(0)), head[2])
            piece = piece[lead.end():].strip()
        if not any(ch.isalnum() for ch in _MARKERS.sub("", piece)):
            continue  # nothing left but markers or punctuation
        out.append((piece, _markers(piece), sep))
    return out


def _best_spans(
    claim: str, cterms: set[str], pool: Sequence[tuple[int, ScoredPassage, Key]], terms: Terms,
    documents: Mapping[str, Document], cosines: Mapping[Key, float] | None, params: GroundParams,
) -> tuple[Support, ...]:
    """The spans of `pool` that support `claim` (in document order), or () when none does. Coverage is the
    share of the claim's content terms `cterms` that the spans hold. (Weighting terms by IDF was tried: over a
    few articles IDF is noise, and it rejected more true claims than uniform weights.)"""
    if not cterms or not pool:
        return ()

    def coverage(found: set[str]) -> float:
        return len(found) / len(cterms)

    scored = []
    for number, sp, key in pool:
        text = documents[key[0]].text[key[1]:key[2]]
        found = cterms & set(terms(text))
        cov = coverage(found)
        cos = cosines.get(key) if cosines is not None else None
        scored.append((cov + 0.5 * (cos or 0.0), cov, cos, number, sp, key, found, text))
    scored.sort(key=lambda r: -r[0])
    chosen = [scored[0]]
    covered = set(scored[0][6])
    for row in scored[1:]:
        if len(chosen) >= params.max_spans or len(covered) == len(cterms):
            break
        if len(row[6] - covered) >= params.second_gain and row[1] >= 0.3:
            chosen.append(row)
            covered |= row[6]
    quoted = " ".join(r[7] for r in chosen)
    share = coverage(covered)
    if share < params.min_coverage:
        return ()
    if not _numbers(claim) <= _numbers(quoted):
        return ()  # a number the sources do not give: invented or miscopied
    if not _names(claim, terms) <= set(terms(quoted)):
        return ()  # a name the sources do not give ("signed in Geneva"): invented
    if bool(_NEGATION.search(claim)) != any(_NEGATION.search(r[7]) for r in chosen):
        return ()  # "did not sign" is not supported by "signed", nor the reverse
    needed = params.min_cosine_strong if share >= params.strong_coverage else params.min_cosine
    if cosines is not None and max(r[2] or 0.0 for r in chosen) < needed:
        return ()
    return tuple(Support(r[3], r[4], r[5][0], r[5][1], r[5][2], round(r[1], 4),
                         None if r[2] is None else round(float(r[2]), 4))
                 for r in sorted(chosen, key=lambda r: (r[5][0], r[5][1])))


def check(
    text: str,
    passages: Sequence[ScoredPassage],
    documents: Mapping[str, Document],
    *,
    terms: Terms | None = None,
    similarity: Similarity | None = None,
    params: GroundParams = DEFAULT_PARAMS,
) -> tuple[CheckedSentence, ...]:
    """Every sentence of the generated `text`, resolved against `passages` (marker [n] is `passages[n - 1]`).

    `terms` tokenises for the lexical check (default: the engine's BM25 terms); `similarity`, when given,
    returns the cosine between each claim and each source sentence. Lead-ins ending in ":" state nothing and
    are left out.
    """
    terms = terms or _default_terms()
    pool = [(n, sp, (sp.passage.doc_id, s, e)) for n, sp in enumerate(passages, 1) for s, e in sp.passage.sentences]
    segs = [(raw, cited, sep) for raw, cited, sep in segment(text) if not _tidy(raw).endswith(":")]
    claims = [_BULLET.sub("", _tidy(raw)) for raw, _, _ in segs]
    cosine_rows: list[dict[Key, float] | None] = [None] * len(claims)
    if similarity is not None and claims and pool:
        keys = list(dict.fromkeys(k for _, _, k in pool))
        matrix = similarity(claims, keys)
        cosine_rows = [dict(zip(keys, map(float, row), strict=True)) for row in matrix]
    out = []
    for (raw, cited, sep), claim, cos in zip(segs, claims, cosine_rows, strict=True):
        cterms = set(terms(claim)) if is_prose(claim) else set()
        valid = [n for n in cited if 1 <= n <= len(passages)]
        support = _best_spans(claim, cterms, [p for p in pool if p[0] in valid], terms, documents, cos, params)
        repaired = not support or len(valid) < len(cited)
        if not support:
            support = _best_spans(claim, cterms, pool, terms, documents, cos, params)
        out.append(CheckedSentence(text=_tidy(raw), cited=tuple(cited), support=support,
                                   repaired=repaired and bool(support), separator=sep))
    return tuple(out)


def render(
    checked: Sequence[CheckedSentence], documents: Mapping[str, Document], *, drop_unsupported: bool = False
) -> tuple[str, tuple[Citation, ...], tuple[bool, ...]]:
    """(answer text, citations, supported per sentence shown): each supported sentence followed by markers
    numbered 1, 2... in order, each unsupported one followed by `[unsupported]` (or left out). Checked by
    `cite.verify`."""
    parts: list[str] = []
    citations: list[Citation] = []
    supported: list[bool] = []
    for cs in checked:
        if cs.supported:
            marks = []
            for sup in cs.support:
                marker = len(citations) + 1
                citations.append(make_citation(documents[sup.doc_id], sup.start, sup.end, marker=marker,
                                               passage_id=sup.passage.passage.id))
                marks.append(f"[{marker}]")
            line = f"{cs.text} {''.join(marks)}"
        elif drop_unsupported:
            continue
        else:
            line = f"{cs.text} {UNSUPPORTED}"
        parts.append((cs.separator if parts else "") + line)
        supported.append(cs.supported)
    text = "".join(parts)
    verify(text, citations, documents)
    return text, tuple(citations), tuple(supported)


def answer_sentences(text: str) -> list[tuple[str, bool]]:
    """An answer text made by `render` cut back into (sentence with its markers, supported) pairs, for a UI
    that styles unsupported sentences; an extractive answer's sentences all come back supported."""
    pieces: list[tuple[str, bool]] = []
    pos = 0
    for m in re.finditer(r"(?:\s*\[\d+\])+|\s*\[unsupported\]", text):
        nxt = text[m.end():m.end() + 1]
        if nxt and not nxt.isspace():
            continue
        pieces.append((text[pos:m.end()].strip(), "[unsupported]" not in m.group(0)))
        pos = m.end()
    if text[pos:].strip():
        pieces.append((text[pos:].strip(), False))
    return pieces
