"""Follow-up questions: resolve an elliptical question ("And Turkey's?") against the conversation.

No generator is needed: the rules below rewrite the common follow-up shapes of a news conversation, and the
query actually used is returned with every answer, so a reader can see what was searched.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

_LEAD = re.compile(r"^\s*(?:and|but|also|so|ok(?:ay)?|what about|how about|and what about|and how about)\b[\s,]*",
                   re.IGNORECASE)
_PRONOUN = re.compile(r"\b(it|its|they|them|their|he|him|his|she|her|that|this|these|those|there)\b", re.IGNORECASE)
_POSSESSIVE = re.compile(r"\b([A-Z][\w.-]*(?:\s+[A-Z][\w.-]*)*)(['’]s)\b")
_ENTITY = re.compile(r"\b([A-Z][\w.-]*(?:\s+(?:of\s+|al-)?[A-Z][\w.-]*)*)")
_WH = re.compile(r"^\s*(who|what|when|where|which|why|how|did|does|do|is|are|was|were|has|have|can|will)\b",
                 re.IGNORECASE)


def last_user_question(history: Sequence[Mapping[str, object]] | None) -> str | None:
    """The latest user message in a chat history (role/content messages), if any."""
    for msg in reversed(history or []):
        content = msg.get("content")
        if msg.get("role") == "user" and isinstance(content, str) and content.strip():
            return content.strip()
    return None


def _entities(text: str) -> list[str]:
    # Capitalised runs, not counting the first word of the sentence when it is a question word.
    found = []
    for m in _ENTITY.finditer(text):
        if m.start() == 0 and _WH.match(m.group(1)):
            continue
        found.append(m.group(1))
    return found


def is_follow_up(question: str) -> bool:
    """Whether `question` leans on the conversation: a leading "and"/"what about", or a short, bare question."""
    words = re.findall(r"\w+", question)
    if _LEAD.match(question):
        rest = _LEAD.sub("", question)
        # "And who is Syria's defense minister?" stands on its own: a question word, a name and no pronoun.
        return not (_WH.match(rest) and _entities(rest) and not _PRONOUN.search(rest))
    if len(words) <= 6 and _PRONOUN.search(question) and not _entities(question):
        return True
    return len(words) <= 3 and not _WH.match(question)


def rewrite(question: str, history: Sequence[Mapping[str, object]] | None) -> str:
    """The self-contained query for `question` in the conversation `history` (unchanged when not a follow-up)."""
    question = question.strip()
    previous = last_user_question(history)
    if not previous or not is_follow_up(question):
        return question
    rest = _LEAD.sub("", question).strip().rstrip("?.! ").strip()
    prev = previous.rstrip("?.! ").strip()
    if rest and not _WH.match(rest):
        # "And Turkey's?" after "Who is Syria's defense minister?": swap the possessive.
        new_poss = _POSSESSIVE.fullmatch(rest)
        old_poss = _POSSESSIVE.search(prev)
        if new_poss and old_poss:
            return f"{prev[: old_poss.start()]}{rest}{prev[old_poss.end():]}?"
        # "What about Iran?" after "Did Russia support Assad?": swap the first named entity.
        olds = _entities(prev)
        if olds and _entities(rest):
            return prev.replace(olds[0], rest, 1) + "?"
        return f"{prev} {rest}?"
    # "Who leads it?" after "What is HTS?": put the earlier question's subject in place of the pronoun.
    olds = _entities(prev)
    if olds and _PRONOUN.search(rest):
        subject = max(olds, key=len)
        def sub(m: re.Match[str]) -> str:
            w = m.group(1).lower()
            return f"{subject}'s" if w in ("its", "their", "his", "her") else subject
        return _PRONOUN.sub(sub, question, count=1)
    return f"{question} ({prev})"
