"""Example questions for the loaded corpus: read from a file, or made from what the articles themselves define.

No text generator is involved. Two shapes of sentence make safe questions that the extractive engine answers
well: a name given with its role ("Defense Minister Yasar Guler", "led by Abu Mohammed al-Julani") asks
"Who is ...?", and an abbreviation spelled out ("North Atlantic Treaty Organization (NATO)") asks "What is ...?".
The names mentioned most often fill any places left.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from rag.records import Document

_WORD = r"(?:al-)?[A-Z][\w-]*"
# Capitalised runs, allowing joiners inside names ("Hayat Tahrir al-Sham", "Ministry of Defense").
_NAME = re.compile(rf"\b{_WORD}(?:[ ]+(?:(?:of|the|bin|de|van|von)[ ]+)?{_WORD})*")
_PERSON = re.compile(
    rf"\b(?:[Mm]inister|[Pp]resident|[Pp]rime [Mm]inister|[Ll]eader|[Cc]hief|[Ss]ecretary|[Ss]pokes(?:wo)?man|"
    rf"[Gg]overnor|[Mm]ayor|[Gg]eneral|[Cc]ommander|CEO|[Ff]ounder|[Dd]irector|led by|headed by)[ ,]+"
    rf"({_WORD}(?:[ ]+{_WORD}){{1,3}})"
)
_ACRONYM = re.compile(r"\(([A-Z][A-Za-z]{1,5}[A-Z])\)")
_SKIP_WORDS = """
a an and as at but by for from he her his however if in it its of on or she so that the their these they this
those to we what when where which while who why with yet also after additionally despite during meanwhile since
sources tagged under watch related known
jan feb mar apr may jun jul aug sep sept oct nov dec january february march april june july august september
october november december monday tuesday wednesday thursday friday saturday sunday
"""
_SKIP = frozenset(_SKIP_WORDS.split())


def _names(text: str) -> Iterable[str]:
    for m in _NAME.finditer(text):
        words = m.group(0).split()
        while words and words[0].lower().rstrip(".") in _SKIP:
            words = words[1:]
        name = " ".join(words)
        if len(name) >= 3 and name.lower().rstrip(".") not in _SKIP:
            yield name


def _ranked(counts: Counter[str], limit: int, taken: list[str]) -> list[str]:
    out: list[str] = []
    for name, _ in counts.most_common():
        if len(out) == limit:
            break
        if not any(name in t or t in name for t in taken + out):
            out.append(name)
    return out


def suggest(documents: Iterable[Document], *, limit: int = 4) -> list[str]:
    """Up to `limit` questions about the people and organisations the articles name and introduce."""
    people: Counter[str] = Counter()
    acronyms: Counter[str] = Counter()
    names: Counter[str] = Counter()
    for doc in documents:
        text = doc.text
        people.update(m.group(1) for m in _PERSON.finditer(text))
        for m in _ACRONYM.finditer(text):
            acronyms[m.group(1)] += len(re.findall(rf"\b{re.escape(m.group(1))}\b", text))
        names.update(n for n in _names(text) if not n.isupper())
    picked_people = _ranked(people, (limit + 1) // 2, [])
    picked_acronyms = _ranked(acronyms, limit - len(picked_people), [])
    questions = [f"Who is {p}?" for p in picked_people] + [f"What is {a}?" for a in picked_acronyms]
    others = [n for n in _ranked(names, limit, picked_people + picked_acronyms) if names[n] >= 3]
    questions += [f"What do the articles say about {n}?" for n in others[: limit - len(questions)]]
    return questions


def read_examples(path: str | Path) -> list[str]:
    """One question per non-empty line of `path` (lines starting with # are comments)."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
