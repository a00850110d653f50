"""The candidate short answers of a sentence: names (runs of capitalised words, with the connectors names use),
dates, numbers with their unit, and runs of content words, as token ranges of the sentence."""

from __future__ import annotations

import re
from typing import NamedTuple

MAX_WORDS = 8  # longer phrases are sentences, not answers

# A number with thousands separators or decimals is one token ("62,500", "3.4"); then words (with inner
# apostrophes, dots, hyphens: "al-Assad", "U.S.", "XBB.1.5") and single marks.
_TOKEN = re.compile(r"\$|£|€|%|\d{1,3}(?:,\d{3})+(?:\.\d+)?|\w+(?:[’'.&–-]\w+)*\.?|[^\w\s]")
_POSSESSIVE = ("'s", "’s")
_MONTH_NAMES = frozenset(("january february march april may june july august september october november december "
                          "jan feb mar apr jun jul aug sep sept oct nov dec").split())
_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_NUMBER_WORDS = frozenset("one two three four five six seven eight nine ten eleven twelve fifteen twenty thirty "
                          "forty fifty sixty seventy eighty ninety hundred thousand million billion trillion "
                          "dozen dozens half percent".split())
_SCALE = frozenset("hundred thousand million billion trillion percent per cent % pounds dollars euros".split())
# Words that join the parts of one name: "Secretary of State", "Bashar al-Assad", "Leonardo da Vinci".
_NAME_JOINERS = frozenset("of de da del di van von bin al la le du &".split())
_STOP = frozenset("a an the and or but of in on at to for by with from as is are was were be been being has have "
                  "had do does did that this these those it its he she they them his her their we our you your "
                  "i me my not no so than then there here which who whom whose what when where why how also "
                  "would could should will can may might must said says say about into over after before "
                  "while during since until up down out off more most such only just very between among against "
                  "through across under within without via per near toward towards including like despite amid "
                  "upon onto because if whether both either neither each every all any some".split())


class Token(NamedTuple):
    start: int
    end: int
    text: str


class Phrase(NamedTuple):
    """A candidate short answer: tokens `first`..`last` of its sentence (inclusive), `kind` of phrase."""

    first: int
    last: int
    kind: str  # "quote", "date", "number", "name" or "words"


def tokens(text: str) -> list[Token]:
    """The words, numbers and marks of `text` with their offsets. A word keeps a final full stop only when it
    is short and not the last token ("Aug. 13", "Gen. Smith"): a sentence's own stop is not part of an answer."""
    found = [Token(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(text)]
    out = []
    for i, t in enumerate(found):
        if t.text.endswith(".") and len(t.text) > 1 and (len(t.text) > 4 or i == len(found) - 1):
            out.append(Token(t.start, t.end - 1, t.text[:-1]))
            out.append(Token(t.end - 1, t.end, "."))
        elif t.text.endswith(_POSSESSIVE) and len(t.text) > 2:  # "Trump’s": the name, then its possessive
            out.append(Token(t.start, t.end - 2, t.text[:-2]))
            out.append(Token(t.end - 2, t.end, t.text[-2:]))
        else:
            out.append(t)
    return out


def is_month(word: str) -> bool:
    """A month's name or its abbreviation ("August", "Aug.", "Sept"); not a word that starts like one
    ("Maryland", "Janet", "Augusta", "Junior")."""
    w = word.lower().rstrip(".")
    return w in _MONTH_NAMES


def _is_number(word: str) -> bool:
    """A numeral ("12", "3.4", "1,200", "19th") or a number word; not a name holding digits ("Covid-19")."""
    return word[:1].isdigit() or word.lower() in _NUMBER_WORDS


def _is_cap(word: str) -> bool:
    return word[:1].isupper() or (word[:3] == "al-" and word[3:4].isupper())


def _dates(toks: list[Token]) -> list[Phrase]:
    out = []
    for i, t in enumerate(toks):
        w = t.text
        if is_month(w) and _is_cap(w):
            last = i
            if i + 1 < len(toks) and toks[i + 1].text.isdigit() and len(toks[i + 1].text) <= 2:
                last = i + 1
                if last + 2 < len(toks) and toks[last + 1].text == "," and len(toks[last + 2].text) == 4:
                    last += 2
            elif i + 1 < len(toks) and toks[i + 1].text.isdigit() and len(toks[i + 1].text) == 4:
                last = i + 1
            if last > i or w.lower() not in ("may",):
                out.append(Phrase(i, last, "date"))
        elif w.isdigit() and len(w) == 4 and w[:2] in ("18", "19", "20"):
            out.append(Phrase(i, i, "date"))
        elif w.isdigit() and len(w) <= 2 and i + 1 < len(toks) and is_month(toks[i + 1].text):
            out.append(Phrase(i, i + 1 + (i + 2 < len(toks) and len(toks[i + 2].text) == 4), "date"))
        elif w.lower() in _DAYS:
            out.append(Phrase(i, i, "date"))
    return out


def _numbers(toks: list[Token]) -> list[Phrase]:
    out = []
    i = 0
    while i < len(toks):
        first = i - 1 if i and toks[i - 1].text in "$£€" else i
        if not _is_number(toks[i].text) or (toks[i].text.isdigit() and len(toks[i].text) == 4 and first == i):
            i += 1
            continue
        last = i
        while last + 1 < len(toks) and (toks[last + 1].text.lower() in _SCALE or _is_number(toks[last + 1].text)):
            last += 1
        out.append(Phrase(first, last, "number"))
        nxt = last + 1
        if nxt < len(toks) and toks[nxt].text[:1].isalpha() and toks[nxt].text.lower() not in _STOP:
            out.append(Phrase(first, nxt, "number"))  # "150 people", "12 years"
        i = last + 1
    return out


def _names(toks: list[Token]) -> list[Phrase]:
    """Runs of capitalised words, and every shorter run inside one: a title or a place often precedes the name
    asked for ("Turkish Defense Minister Yasar Guler")."""
    out: list[Phrase] = []
    i = 0
    while i < len(toks):
        if not _is_cap(toks[i].text) or not toks[i].text[:1].isalpha() or toks[i].text.lower() in _STOP:
            i += 1
            continue
        last = i
        while last + 1 < len(toks):
            nxt = toks[last + 1].text
            if _is_cap(nxt) and nxt[:1].isalpha():
                last += 1
            elif (nxt.lower() in _NAME_JOINERS and last + 2 < len(toks) and _is_cap(toks[last + 2].text)
                  and toks[last + 2].text[:1].isalpha()):
                last += 2
            else:
                break
        out.extend(Phrase(a, b, "name") for a in range(i, last + 1) for b in range(a, last + 1)
                   if toks[a].text.lower() not in _NAME_JOINERS and toks[b].text.lower() not in _NAME_JOINERS
                   and b - a < MAX_WORDS)
        i = last + 1
    return out


def _word_runs(toks: list[Token]) -> list[Phrase]:
    """Runs of content words (no stop word or punctuation inside), and each run with the one before it joined
    through "of" ("the price of oil")."""
    out: list[Phrase] = []
    i = 0
    while i < len(toks):
        if not toks[i].text[:1].isalnum() or toks[i].text.lower() in _STOP:
            i += 1
            continue
        last = i
        while (last + 1 < len(toks) and toks[last + 1].text[:1].isalnum()
               and toks[last + 1].text.lower() not in _STOP):
            last += 1
        joined = [t.text.lower() for t in toks[out[-1].last + 1: i]] if out else []
        if joined in (["of"], ["of", "the"], ["of", "a"], ["and"]):
            out.append(Phrase(out[-1].first, last, "words"))
        out.append(Phrase(i, last, "words"))
        # Shorter runs inside a long one: the answer is often its head ("buy moon rocks" -> "moon rocks").
        out.extend(Phrase(a, b, "words") for a in range(i, last + 1) for b in range(a, min(a + 3, last + 1))
                   if (a, b) != (i, last))
        i = last + 1
    return out


def _quoted(toks: list[Token]) -> list[Phrase]:
    """The words between quotation marks: a slogan, a title, a nickname."""
    out = []
    opened: int | None = None
    for i, t in enumerate(toks):
        if t.text in "“\"" and opened is None:
            opened = i
        elif t.text in "”\"" and opened is not None:
            if 0 < i - opened - 1 <= MAX_WORDS:
                out.append(Phrase(opened + 1, i - 1, "quote"))
            opened = None
    return out


def phrases(toks: list[Token]) -> list[Phrase]:
    """Every candidate phrase of a sentence's tokens, each (first, last) once, the most specific kind kept."""
    found: dict[tuple[int, int], Phrase] = {}
    for p in [*_quoted(toks), *_dates(toks), *_numbers(toks), *_names(toks), *_word_runs(toks)]:
        if p.last - p.first < MAX_WORDS:
            found.setdefault((p.first, p.last), p)
    return list(found.values())


# A question that asks for an abbreviation is answered by one, even of its own words.
_ASKS_ABBREVIATION = re.compile(r"\babbreviat|\bacronym|\binitials\b|\bstands? for\b|\bshort for\b", re.I)
_ABBREVIATION = re.compile(r"[A-Za-z](?:[A-Za-z]|\.(?=[A-Za-z]))*\.?")  # "NATO", "MoU", "U.N."
# Words an abbreviation may take a letter from or skip: "Memorandum of Understanding" is "MoU" or "MU".
_SKIPPABLE = frozenset("of the and for de da du la al el on in to".split())


def abbreviates(text: str, question: str) -> bool:
    """Whether `text` is only the initials of consecutive words of `question` ("HTS" for "Who leads Hayat
    Tahrir al-Sham?", "MoU" for "memorandum of understanding"), so it tells the asker nothing new, unless the
    question asks for an abbreviation. Two letters count only from capitalised words ("US" is not "under
    sanctions")."""
    text = text.strip()
    letters = text.replace(".", "")
    if (not _ABBREVIATION.fullmatch(text) or not 2 <= len(letters) <= 8 or sum(c.isupper() for c in letters) < 2
            or _ASKS_ABBREVIATION.search(question)):
        return False
    words = [w for w in re.split(r"[^\w’']+|[-–]", question) if w]
    return any(_initials(letters.upper(), words[i:]) for i in range(len(words)) if words[i][:1].upper() == letters[0]
               and words[i].lower() not in _SKIPPABLE)


def _initials(letters: str, words: list[str], *, took: int = 0, lower: bool = False) -> bool:
    """Whether `letters` are the initials of the first words of `words`, skippable words optional (`took`:
    letters matched so far; `lower`: a lowercase word gave one)."""
    if not letters:
        return took > 2 or not lower
    if not words:
        return False
    w = words[0]
    if w[:1].upper() == letters[0] and _initials(letters[1:], words[1:], took=took + 1,
                                                 lower=lower or not w[:1].isupper()):
        return True
    return w.lower() in _SKIPPABLE and _initials(letters, words[1:], took=took, lower=lower)
