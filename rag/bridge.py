"""Answers that take two sentences: the question describes its subject instead of naming it.

"Who leads the group that spearheaded Operation Deterrence of Aggression?" is answered by no single sentence of
the article. One sentence names the group the question describes ("... spearheaded by Hayat Tahrir al-Sham
(HTS)"), another says who leads it ("HTS, led by Abu Mohammed al-Julani, ..."). A reader links the two through
the name they share; so does this module (the "bridge entity" of multi-hop question answering):

- only for a question that describes something by a relative clause ("the group that ...", "the president
  whose ...");
- a *link* sentence among the best candidates gives a name the question does not, and an *answer* sentence among
  all candidates repeats that name (by its terms: "Turkish" is Turkey's);
- together the two cover at least `MIN_GAIN` more of the question's rarity-weighted terms than any one sentence
  does, each covering terms the other lacks;
- the short answer is sought in both with the name added to the question (so the name itself is no answer),
  and the sentence whose phrase scores best is the answer sentence;
- the pair is judged answerable by the same answerability model as one sentence, fed what the two say
  together (their joint coverage, the rare question terms neither passage holds).

Both sentences are cited, so the reader sees the link the answer rests on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import numpy as np

from rag.extractive import AnswerParams, Candidate, abstain_vector, answerable
from rag.index.index import Index
from rag.rank.query import QueryTerms
from rag.span.entities import relative_pronouns
from rag.span.model import short_answer
from rag.span.phrases import phrases, tokens
from rag.text.terms import terms

# A description by relative clause: "the group that ...", "the Syrian president whose ...", "a country which".
_DESCRIBES = re.compile(r"\b(?:the|a|an)\s+(?:[\w'’-]+\s+){1,4}?(that|which|who|whose|whom|where)\b", re.I)
# "What is", "Who was", ...: the description after it is what the question asks for.
_ASKS_FOR_IT = re.compile(r"^\s*(?:what|which|who)\s+(?:is|was|are|were)\s*$", re.I)
# "anyone who plays", "those that ...": a class of things, not one thing another sentence can name.
_ANYONE = re.compile(r"\b(?:any|some|every|no)(?:one|body|thing)\s*$|\b(?:those|ones?)\s*$", re.I)
# A relative clause ends at a comma, a semicolon or the question mark.
_CLAUSE_END = re.compile(r"[,;?]")
# A name defined beside another in brackets: "Hayat Tahrir al-Sham (HTS)", "HTS (Hayat Tahrir al-Sham)".
_BRACKETED = r"([A-Z][\w'’-]*(?:\s+(?:al-|of\s+|the\s+|de\s+)?[A-Z][\w'’-]*)*)\s*\(\s*{}\s*\)"
# The pair must cover this much more of the question (rarity-weighted terms) than the best single sentence.
MIN_GAIN = 0.15
# Link sentences are sought among the best candidates only; answer sentences among this many.
_LINKS, _POOL = 5, 40


@dataclass(frozen=True, slots=True)
class Bridge:
    """Two sentences that answer together: `answer` holds the short answer, `link` names what the question
    describes (`entity`, the name both hold); `question` is the question with that name added, which the short
    answer is sought for; `confidence`, the answerability of the pair."""

    answer: Candidate
    link: Candidate
    entity: str
    question: str
    confidence: float

    def chosen(self) -> list[Candidate]:
        """The pair as the answer's sentences, link first when it comes first in the same article. The answer
        sentence carries the pair's probability, so that the short answer is sought in it."""
        top = replace(self.answer, probability=max(self.answer.probability, self.link.probability) + 1e-6)
        pair = [top, self.link]
        return sorted(pair, key=lambda c: (c.doc_id != top.doc_id, c.start))


def _clauses(question: str) -> list[re.Match[str]]:
    """The question's descriptions by relative clause (`_DESCRIBES`) whose pronoun follows a noun (tagged:
    `rag.span.entities.relative_pronouns`) and whose noun is not what the question asks for ("What is the
    company that developed it?" asks for that company: no other sentence need be linked)."""
    matches = list(_DESCRIBES.finditer(question))
    if not matches:  # most questions: no tagging needed
        return []
    found = set(relative_pronouns(question))
    return [m for m in matches
            if m.start(1) in found and not _ASKS_FOR_IT.match(re.split(r"[.?!]\s", question[:m.start()])[-1])
            and not _ANYONE.search(question[:m.start(1)])]


def describes(question: str) -> bool:
    """Whether the question describes something by a relative clause ("the group that spearheaded ...")."""
    return bool(_clauses(question))


def _names(sentence: str, asked: set[str]) -> list[tuple[str, frozenset[str]]]:
    """The names in `sentence` (runs of capitalised words and the parts of each) with their terms, leaving out
    those whose terms the question already holds."""
    toks = tokens(sentence)
    out: dict[frozenset[str], str] = {}
    for p in phrases(toks):
        if p.kind != "name":
            continue
        text = sentence[toks[p.first].start:toks[p.last].end]
        found = frozenset(terms(text))
        if found and not found <= asked:
            out.setdefault(found, text)
    return [(text, found) for found, text in out.items()]


def bridge(index: Index, question: str, cands: list[Candidate], *, params: AnswerParams) -> Bridge | None:
    """The best pair of candidate sentences that answers a describing question together (see the module), or
    None: the question describes nothing, or no pair covers it `MIN_GAIN` better than one sentence does."""
    if len(cands) < 2 or index.lexical is None or not describes(question):
        return None
    q = QueryTerms.of(index.lexical, question)
    if not float(q.idf.sum()):
        return None
    pool = cands[:_POOL]
    texts = [index.documents[c.doc_id].text[c.start:c.end] for c in pool]
    sets = [set(terms(t)) for t in texts]
    single = max(q.coverage(s) for s in sets)
    best: tuple[float, int, int, str] | None = None
    for i in range(min(_LINKS, len(pool))):
        for name, name_terms in _names(texts[i], set(q.terms)):
            for j in range(len(pool)):
                if j == i or not name_terms <= sets[j]:
                    continue
                joint = q.coverage(sets[i] | sets[j])
                if (joint - single < MIN_GAIN or q.coverage(sets[i] - sets[j]) <= 0
                        or q.coverage(sets[j] - sets[i]) <= 0):
                    continue
                if best is None or joint > best[0]:
                    best = (joint, i, j, name)
    if best is None:
        return None
    _, i, j, name = best
    return _judged(index, q, pool, (i, j), texts, name, params=params)


def aliases(text: str, name: str) -> list[str]:
    """The other names `text` gives `name` in brackets: "Hayat Tahrir al-Sham (HTS)" gives "HTS" the long form
    and the long form "HTS"."""
    found = [m.group(1) for m in re.finditer(_BRACKETED.format(re.escape(name)), text)]
    after = rf"(?<![\w-]){re.escape(name)}\s*\(\s*([A-Z][\w'’-]*(?:\s+[\w'’-]+)*?)\s*\)"
    found += [m.group(1) for m in re.finditer(after, text)]
    return [a for a in dict.fromkeys(found) if a != name]


def sub_question(question: str, link: str, names: list[str]) -> str:
    """The question asked of the answer sentence: the relative clause that the `link` sentence answers (most
    of its terms are there) replaced by the names it gives, or, when none is, the question with the names
    added. "Who leads the group that spearheaded Operation X?" -> "Who leads the group (HTS)?"."""
    label = f"({', '.join(names)})"
    have = set(terms(link))
    best: tuple[float, int, int] | None = None
    for m in _clauses(question):
        end_m = _CLAUSE_END.search(question, m.end())
        end = end_m.start() if end_m else len(question)
        clause = terms(question[m.end():end])
        share = sum(t in have for t in clause) / len(clause) if clause else 0.0
        if share > 0.5 and (best is None or share > best[0]):
            best = (share, m.start(1), end)
    if best is None:
        return f"{question} {label}"
    _, start, end = best
    return f"{question[:start].rstrip()} {label}{question[end:]}"


def _judged(index: Index, q: QueryTerms, pool: list[Candidate], pair: tuple[int, int], texts: list[str], name: str,
            *, params: AnswerParams) -> Bridge | None:
    """The pair as a `Bridge`: its answer sentence (whose best phrase for the `sub_question` scores highest,
    the link being the other) and its answerability; None when neither sentence holds a phrase that answers."""
    names = [name, *dict.fromkeys(a for k in pair for a in aliases(texts[k], name))]
    asked = {k: sub_question(q.text, texts[other], names) for k, other in (pair, pair[::-1])}
    spans = {k: short_answer(asked[k], texts[k], threshold=False) for k in pair}
    scored = [(s.score, k) for k, s in spans.items() if s is not None]
    if not scored:
        return None
    score, a = max(scored)
    link = pair[1] if a == pair[0] else pair[0]
    answer_c, link_c = pool[a], pool[link]
    both = set(terms(texts[a])) | set(terms(texts[link]))
    context = both | set(terms(answer_c.passage.passage.text)) | set(terms(link_c.passage.passage.text))
    missing = np.array([t not in context for t in q.terms], dtype=bool)
    f = answer_c.features
    joint = f._replace(
        cosine=max(f.cosine, link_c.features.cosine), coverage=q.coverage(both), coverage_gap=0.0,
        context_coverage=q.coverage(context), missing_rare=float(q.rarity[missing].max()) if missing.any() else 0.0,
        passage_dense=max(f.passage_dense, link_c.features.passage_dense))
    x = abstain_vector(joint, best_probability=max(answer_c.probability, link_c.probability),
                       max_coverage=max(c.features.coverage for c in pool),
                       max_bigrams=max(c.features.bigrams for c in pool),
                       top_passage_score=max(c.passage.score for c in pool), span_score=score,
                       question=q.text, context=context, index=index)
    return Bridge(answer_c, link_c, name, asked[a], answerable(x, params=params))
