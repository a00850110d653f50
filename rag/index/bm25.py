"""Lexical search: BM25 over passages (bm25s), with English stemming and stop words.

Names, dates and numbers are what news questions are full of and what dense vectors blur; BM25 finds them.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import IndexCorruptError
from rag.records import Document

FOLDER = "bm25"
# Bump when `terms()` changes (stop words, stemming, mappings): a saved BM25 index of another version is rebuilt.
VERSION = 3
# Keep one-character tokens out but numbers in ("13", "2024"); bm25s' default pattern drops 1-char tokens too.
_TOKEN = r"(?u)\b\w\w+\b|\b\d\b"
_WORD = re.compile(_TOKEN)
# Function words: question words, auxiliaries, pronouns, determiners, common prepositions. bm25s' own English
# list (33 words) keeps "who", "did", "what"..., which occur in no article and would weigh most in a question.
# Numbers and content words are never stop words: "how many" questions need them.
_STOP = frozenset("""
a about above after again against all also am an and any are as at be because been before being below between
both but by can could did do does doing down during each either for from further had has have having he her here
hers herself him himself his how i if in into is it its itself just may me might more most must my myself no nor
not now of off on once only or other ought our ours ourselves out over own same shall she should so some such
than that the their theirs them themselves then there these they this those through to too under until up upon us
very was we were what whatever when where whether which while who whom whose why will with within without would
you your yours yourself yourselves according article articles named called say says said
""".split())


# Nationality adjectives count as their country: "Turkish Defense Minister" answers "Turkey's defense minister?".
_DEMONYMS = {
    "afghan": "afghanistan", "african": "africa", "american": "america", "australian": "australia",
    "brazilian": "brazil", "british": "britain", "canadian": "canada", "chinese": "china", "cuban": "cuba",
    "egyptian": "egypt", "emirati": "emirates", "ethiopian": "ethiopia", "european": "europe", "french": "france",
    "german": "germany", "greek": "greece", "indian": "india", "iranian": "iran", "iraqi": "iraq",
    "irish": "ireland", "israeli": "israel", "italian": "italy", "japanese": "japan", "jordanian": "jordan",
    "korean": "korea", "kurdish": "kurd", "kurds": "kurd", "lebanese": "lebanon", "libyan": "libya",
    "mexican": "mexico", "nigerian": "nigeria", "pakistani": "pakistan", "palestinian": "palestine",
    "polish": "poland", "qatari": "qatar", "russian": "russia", "saudi": "saudi", "spanish": "spain",
    "sudanese": "sudan", "swedish": "sweden", "syrian": "syria", "taiwanese": "taiwan", "turkish": "turkey",
    "ukrainian": "ukraine", "venezuelan": "venezuela", "yemeni": "yemen", "dutch": "netherlands",
    "finnish": "finland", "norwegian": "norway", "danish": "denmark", "swiss": "switzerland",
}


# Irregular past forms, which a suffix stemmer leaves apart from their verb ("led" vs "leads").
_IRREGULAR = dict(pair.split(":") for pair in """
led:lead won:win fled:flee met:meet took:take taken:take left:leave began:begin begun:begin struck:strike
sought:seek held:hold found:find gave:give given:give told:tell fought:fight paid:pay sold:sell bought:buy
brought:bring thought:think ran:run became:become chose:choose chosen:choose drew:draw drawn:draw fell:fall
fallen:fall flew:fly flown:fly grew:grow grown:grow kept:keep knew:know known:know lost:lose made:make
rose:rise risen:rise sent:send shot:shoot spoke:speak spoken:speak spent:spend stood:stand stole:steal
stolen:steal swore:swear sworn:swear taught:teach threw:throw thrown:throw wrote:write written:write
went:go gone:go came:come saw:see seen:see got:get gotten:get hid:hide hidden:hide broke:break
broken:break built:build caught:catch dealt:deal fed:feed felt:feel forbade:forbid forgave:forgive
froze:freeze frozen:freeze heard:hear hung:hang laid:lay lent:lend meant:mean overthrew:overthrow
overthrown:overthrow quit:quit rode:ride ridden:ride rang:ring sang:sing sank:sink slew:slay slain:slay
sped:speed spun:spin split:split spread:spread stuck:stick stung:sting strove:strive swept:sweep swam:swim
tore:tear torn:tear understood:understand undertook:undertake undertaken:undertake upheld:uphold
withdrew:withdraw withdrawn:withdraw woke:wake wore:wear worn:wear wound:wind
""".split())


def _stemmer() -> Any:
    try:
        import Stemmer

        return Stemmer.Stemmer("english")
    except ImportError:  # stemming is an improvement, not a requirement
        return None


def field_text(doc: Document) -> str:
    """A document's author and date as searchable words, indexed with its first passage (where the byline is):
    "Who wrote the article?" and "When was it published?" then find it. Offsets and quotes are unaffected."""
    words = []
    if doc.author:
        words.append(f"author writer written wrote byline {doc.author}")
    if doc.date:
        words.append(f"date dated published {doc.date}")
        try:
            day = datetime.date.fromisoformat(doc.date[:10])
            words.append(f"{day:%B} {day.day} {day.year}")
        except ValueError:
            pass
    return " ".join(words)


class LexicalIndex:
    """BM25 over a list of passage texts; `ids[i]` is the passage id of row i."""

    def __init__(self, retriever: Any, ids: np.ndarray) -> None:
        self._bm25 = retriever
        self.ids = ids
        self._stem = _stemmer()
        self._df: np.ndarray | None = None
        self._cache: dict[str, str] = {}

    @classmethod
    def build(cls, texts: Sequence[str], ids: Sequence[int]) -> LexicalIndex:
        import bm25s

        retriever = bm25s.BM25()
        index = cls(retriever, np.asarray(ids, dtype=np.int64))
        if texts:
            # One tokenizer for passages and queries: what BM25 indexes is exactly what `terms()` returns.
            retriever.index([index.terms(t) or ["\x00"] for t in texts], show_progress=False)
        return index

    def __len__(self) -> int:
        return len(self.ids)

    def terms(self, text: str) -> list[str]:
        """The stemmed, stop-word-free terms of `text`, as BM25 sees them."""
        out = []
        for w in _WORD.findall(text.lower()):
            if w in _STOP:
                continue
            stem = self._cache.get(w)
            if stem is None:
                base = _DEMONYMS.get(w) or _IRREGULAR.get(w, w)
                stem = self._cache[w] = self._stem.stemWord(base) if self._stem is not None else base
            out.append(stem)
        return out

    def idf(self, terms: Sequence[str]) -> np.ndarray:
        """Inverse document frequency of each term over the passages (unknown terms get the highest)."""
        n = max(len(self), 1)
        vocab = getattr(self._bm25, "vocab_dict", None) or {}
        if self._df is None:
            scores = getattr(self._bm25, "scores", None)
            indptr = scores.get("indptr") if isinstance(scores, dict) else None
            self._df = np.diff(indptr) if indptr is not None else np.zeros(0)
        df = np.array([self._df[vocab[t]] if t in vocab and vocab[t] < len(self._df) else 0 for t in terms])
        return np.log(1 + (n - df + 0.5) / (df + 0.5))

    def search(self, query: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, passage ids) of the best `k` passages; empty when no query term is indexed."""
        vocab = getattr(self._bm25, "vocab_dict", None) or {}
        terms = [t for t in self.terms(query) if t in vocab]
        if not terms or not len(self):
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        k = min(k, len(self))
        docs, scores = self._bm25.retrieve([terms], k=k, show_progress=False, n_threads=1)
        docs, scores = docs[0], scores[0]
        keep = scores > 0
        return scores[keep].astype(np.float32), self.ids[docs[keep]]

    def save(self, folder: Path) -> list[str]:
        target = folder / FOLDER
        target.mkdir(parents=True, exist_ok=True)
        if len(self.ids):  # bm25s cannot save an empty index; an empty one is just its (empty) ids
            self._bm25.save(str(target), show_progress=False)
        np.save(target / "ids.npy", self.ids)
        return [f"{FOLDER}/{p.name}" for p in sorted(target.iterdir())]

    @classmethod
    def load(cls, folder: Path) -> LexicalIndex:
        import bm25s

        target = folder / FOLDER
        try:
            ids = np.load(target / "ids.npy")
            if len(ids) == 0:
                return cls(bm25s.BM25(), ids)
            retriever = bm25s.BM25.load(str(target), show_progress=False)
        except (OSError, ValueError) as exc:
            raise IndexCorruptError(f"cannot read the BM25 index in {target}: {exc}") from exc
        return cls(retriever, ids)
