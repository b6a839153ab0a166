"""Small text tools shared by the extractors, enrichment and reconciliation.

Tokenising, stop words, keyword choice, topic tags, name normalisation and the
similarity measures (token F1, character-trigram Jaccard) that decide duplicates and
entity matches. Pure functions, no database, no model.
"""
from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from functools import lru_cache
from typing import Iterable, Optional

STOPWORDS = frozenset("""
a about above after again against all almost also although always am among an and another
any anybody anyone anything anyway anyways are aren't around as at be became because become
been before being below between both but by can can't cannot could couldn't did didn't do
does doesn't doing don't done down during each either else enough even ever every
everybody everyone everything few for from further get gets getting go goes going gone got
gotten had hadn't has hasn't have haven't having he he'd he'll he's her here here's hers
herself him himself his how how's however i i'd i'll i'm i've if in into is isn't it it's
its itself just kind least less let let's like likely lot lots made make makes many may
maybe me might mine more most much must mustn't my myself need needs neither never next no
nobody none nor not nothing now of off often oh ok okay on once one ones only or other
others otherwise ought our ours ourselves out over own per perhaps please quite rather
really right said same say says see seem seems several shall shan't she she'd she'll she's
should shouldn't since so some somebody someone something sometimes somewhat soon still
such sure take than that that's the their theirs them themselves then there there's these
they they'd they'll they're they've thing things think this those though through thus till
to too toward towards u under until up upon ur us very via was wasn't way we we'd we'll
we're we've well were weren't what what's whatever when when's where where's whether which
while who who's whom whose why why's will with within without won't would wouldn't yeah
yes yet you you'd you'll you're you've your yours yourself yourselves
lol haha hahaha lmao omg btw tbh idk imo yep nope nah hmm hm uh um ah wow cool nice great
good fine thanks thank thx pls really actually literally basically totally definitely
probably anyway gonna wanna gotta kinda sorta stuff day days week weeks month months year
years time times today yesterday tomorrow tonight morning evening night afternoon last
monday tuesday wednesday thursday friday saturday sunday january february march april june
july august september october november december weekend ago
""".split())

_WORD = re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿ0-9][A-Za-zÀ-ÖØ-öø-ÿ0-9'’\-]*")

TOPICS: dict[str, tuple[str, ...]] = {
    "work": ("job", "work", "works", "working", "office", "boss", "colleague", "coworker",
             "promotion", "promoted", "salary", "hired", "fired", "quit", "interview",
             "manager", "company", "startup", "project", "deadline", "career", "client",
             "meeting", "team", "engineer", "developer", "teacher", "nurse", "doctor"),
    "family": ("mom", "mum", "mother", "dad", "father", "sister", "brother", "son",
               "daughter", "wife", "husband", "kids", "kid", "children", "child", "baby",
               "grandma", "grandpa", "grandmother", "grandfather", "aunt", "uncle",
               "cousin", "parents", "family", "pregnant", "niece", "nephew"),
    "relationship": ("girlfriend", "boyfriend", "partner", "married", "wedding", "engaged",
                     "dating", "date", "divorce", "divorced", "breakup", "anniversary"),
    "travel": ("trip", "travel", "travelling", "traveling", "flight", "flew", "fly",
               "flying", "vacation", "holiday", "holidays", "hotel", "visit", "visited",
               "visiting", "abroad", "airport", "passport", "beach", "backpacking"),
    "home": ("moved", "move", "moving", "apartment", "flat", "house", "rent", "lease",
             "roommate", "neighbour", "neighbor", "lives", "live", "living", "garden"),
    "health": ("doctor", "hospital", "sick", "ill", "surgery", "allergic", "allergy",
               "injury", "injured", "broke", "pain", "therapy", "therapist", "diet",
               "vegetarian", "vegan", "medication", "pregnant", "gym", "running", "ran",
               "marathon", "workout", "yoga", "sleep", "knee", "back"),
    "food": ("food", "cook", "cooking", "recipe", "restaurant", "pizza", "sushi", "pasta",
             "coffee", "tea", "wine", "beer", "vegetarian", "vegan", "dinner", "lunch",
             "breakfast", "bake", "baking", "cake", "eat", "ate", "eating"),
    "education": ("school", "university", "college", "degree", "study", "studies",
                  "studying", "exam", "exams", "course", "class", "thesis", "phd",
                  "masters", "bachelor", "graduated", "graduate", "learning", "learn"),
    "money": ("money", "bought", "buy", "buying", "sold", "sell", "price", "paid", "pay",
              "savings", "loan", "mortgage", "bank", "budget", "invest", "expensive"),
    "hobby": ("guitar", "piano", "painting", "photography", "hiking", "hike", "climbing",
              "reading", "book", "books", "novel", "game", "games", "gaming", "music",
              "band", "concert", "movie", "film", "series", "knitting", "chess",
              "football", "soccer", "tennis", "swimming", "cycling", "bike", "sing"),
    "pets": ("dog", "cat", "puppy", "kitten", "pet", "pets", "vet", "adopted"),
    "tech": ("laptop", "phone", "computer", "app", "software", "code", "coding",
             "python", "server", "website", "iphone", "android"),
}
_TOPIC_OF = {w: t for t, ws in TOPICS.items() for w in ws}


def words(text: str) -> list[str]:
    """Word tokens as written (apostrophes kept, other punctuation dropped)."""
    return [w.replace("’", "'") for w in _WORD.findall(text)]


# Formation compares each new fact with the notes it may repeat, and the same few thousand
# texts are tokenised again and again (215k calls for 3,000 chat messages: a quarter of
# formation's time). The token lists are cached per text; callers get fresh lists.
_CACHE = 16384


def tokens(text: str) -> list[str]:
    """Lower-case word tokens with a possessive 's removed ("Anna's" → "anna")."""
    return list(_tokens(text))


@lru_cache(maxsize=_CACHE)
def _tokens(text: str) -> tuple[str, ...]:
    out = []
    for w in words(text):
        w = w.lower()
        if w.endswith("'s"):
            w = w[:-2]
        w = w.strip("'-")
        if w:
            out.append(w)
    return tuple(out)


def content_tokens(text: str) -> list[str]:
    """Tokens that carry meaning: not stop words, not bare numbers of one digit."""
    return list(_content(text))


@lru_cache(maxsize=_CACHE)
def _content(text: str) -> tuple[str, ...]:
    return tuple(t for t in _tokens(text) if t not in STOPWORDS and (len(t) > 1 or t.isdigit()))


@lru_cache(maxsize=_CACHE)
def _bag(text: str) -> Counter:
    """The content tokens counted (shared: never modified)."""
    return Counter(_content(text))


@lru_cache(maxsize=_CACHE)
def _set(text: str) -> frozenset:
    return frozenset(_content(text))


def token_f1(a: str, b: str) -> float:
    """Bag-of-content-tokens F1 between two texts (0..1); the fact-matching measure."""
    ta, tb = _bag(a), _bag(b)
    if not ta or not tb:
        return 0.0
    common = sum((ta & tb).values())
    if common == 0:
        return 0.0
    p, r = common / ta.total(), common / tb.total()
    return 2 * p * r / (p + r)


def containment(small: str, big: str) -> float:
    """Share of ``small``'s content tokens that also occur in ``big`` (0..1)."""
    ts = _set(small)
    if not ts:
        return 0.0
    return len(ts & _set(big)) / len(ts)


def keywords(text: str, k: int = 6, *, doc_freq: Optional[dict[str, int]] = None,
             n_docs: int = 1, extra: Iterable[str] = ()) -> list[str]:
    """Up to ``k`` keywords: the rarest content tokens first (A-MEM style).

    ``doc_freq``/``n_docs`` give corpus frequencies (e.g. over the conversation); without
    them longer words rank first. ``extra`` (entity names) are always kept up front.
    """
    out: list[str] = []
    for e in extra:
        e = e.lower()
        if e and e not in out:
            out.append(e)
    cands = []
    seen = set(out)
    for i, t in enumerate(content_tokens(text)):
        if t in seen or t.isdigit():
            continue
        seen.add(t)
        df = (doc_freq or {}).get(t, 0)
        idf = math.log((n_docs + 1) / (df + 1)) if doc_freq is not None else 0.0
        cands.append((-idf, -len(t), i, t))
    cands.sort()
    out += [c[3] for c in cands]
    return out[:k]


def topic_tags(text: str) -> list[str]:
    """Topic tags (work, family, travel, …) from a small lexicon of telling words."""
    found: list[str] = []
    for t in tokens(text):
        topic = _TOPIC_OF.get(t)
        if topic and topic not in found:
            found.append(topic)
    return found


def strip_accents(s: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c))


def norm_name(name: str) -> str:
    """A name reduced for exact matching: lower case, no accents, no punctuation, single
    spaces, no leading "@" ("  Zoë  O'Neil" → "zoe oneil")."""
    s = strip_accents(name).lower().lstrip("@")
    s = re.sub(r"[’'`.]", "", s)
    s = re.sub(r"[^a-z0-9]+", " ", s)
    return s.strip()


def trigrams(s: str) -> set[str]:
    s = f"  {s} "
    return {s[i:i + 3] for i in range(len(s) - 2)}


def trigram_jaccard(a: str, b: str) -> float:
    """Jaccard similarity of the character trigrams of two normalised names."""
    ta, tb = trigrams(norm_name(a)), trigrams(norm_name(b))
    if not ta or not tb:
        return 0.0
    return len(ta & tb) / len(ta | tb)
