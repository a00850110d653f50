"""Terms: the one tokenizer of the library. BM25 indexes exactly these terms, and answer scoring and grounding
compare questions, sentences and claims through them.

Lower-cased words, function words out, nationality adjectives mapped to their country, irregular past forms to
their verb, then an English stemmer (PyStemmer, when installed).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

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




_STEMMER = _stemmer()


@lru_cache(maxsize=1 << 16)
def term(word: str) -> str:
    """The term of one lower-cased word that is not a stop word."""
    base = _DEMONYMS.get(word) or _IRREGULAR.get(word, word)
    return _STEMMER.stemWord(base) if _STEMMER is not None else base


def terms(text: str) -> list[str]:
    """The stemmed, stop-word-free terms of `text`, in order (repeats kept)."""
    return [term(w) for w in _WORD.findall(text.lower()) if w not in _STOP]
