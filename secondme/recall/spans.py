"""Typed spans in a sentence: dates, times, habits, durations, amounts, counts, people,
places, titles, and the plain noun phrases ("chunks") a "what" question is answered by.

Classic NLP without a model: a word-class lexicon (function words, prepositions, common
verbs, time words), regular expressions for the typed spans, and a chunker that cuts a
sentence at function words, verbs and punctuation. Every span carries its character
offsets so the reader can prefer spans close to the words the question shares with the
sentence. Pure functions; the reader (:mod:`.reader`) decides which span answers.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Optional

from .query import STOP_WORDS

_IRREGULAR = {"went": "go", "gone": "go", "took": "take", "taken": "take", "made": "make",
              "got": "get", "saw": "see", "seen": "see", "ran": "run", "met": "meet",
              "bought": "buy", "brought": "bring", "taught": "teach", "thought": "think",
              "told": "tell", "said": "say", "won": "win", "lost": "lose", "flew": "fly",
              "drove": "drive", "wrote": "write", "ate": "eat", "sold": "sell", "left": "leave",
              "began": "begin", "broke": "break", "broken": "break", "gave": "give",
              "found": "find", "felt": "feel", "kept": "keep", "paid": "pay", "built": "build",
              "sang": "sing", "swam": "swim", "rode": "ride", "drew": "draw", "grew": "grow",
              "spent": "spend", "caught": "catch", "learnt": "learn", "hurt": "hurt",
              "stood": "stand", "children": "child", "kids": "kid", "mum": "mom",
              "mother": "mom", "father": "dad", "practice": "practis", "practise": "practis",
              "lent": "lend", "fell": "fall", "hid": "hide", "chose": "choose", "wore": "wear",
              "threw": "throw", "married": "marry", "studied": "study", "tried": "try"}


@lru_cache(maxsize=65536)
def stem(w: str) -> str:
    """A crude stem (irregular verbs mapped to their base) shared by question and source."""
    w = w.lower().replace("’", "'")
    w = _IRREGULAR.get(w, w)
    if w.endswith("'s"):
        w = w[:-2]
    if len(w) > 4:
        if w.endswith("ies"):
            w = w[:-3] + "y"
        elif re.search(r"(?:ss|x|z|ch|sh)es$", w):
            w = w[:-2]
        elif w.endswith("s") and not w.endswith(("ss", "us", "is")):
            w = w[:-1]
        elif w.endswith("ing") and len(w) > 5:
            w = w[:-3]
        elif w.endswith("ed") and len(w) > 4:
            w = w[:-2]
        elif w.endswith("ly") and len(w) > 5:
            w = w[:-2]
    if len(w) > 3 and w.endswith("e"):
        w = w[:-1]            # "hire" / "hired", "game" / "games"
    if len(w) > 3 and w[-1] == w[-2] and w[-1] not in "lsaeiou":
        w = w[:-1]            # "running" / "run", "stopped" / "stop"
    return w[:6]



# -- word classes ------------------------------------------------------------------------
FILLERS = frozenset("""
lol lmao haha hahaha hehe omg wow yeah yea yep yes no nope nah ok okay oh ah aw aww ugh hmm
um uh btw tbh idk imo like really so very just still already actually finally literally
totally pretty super kinda sorta quite even ever maybe probably definitely honestly basically
thanks thank please sure cool nice great awesome amazing love yay ooh hey hi hello dear
well anyway anyways though everywhere somewhere anywhere
""".split())
PREPOSITIONS = frozenset("""
in on at to from with for of about by near around into onto over under through during after
before since until till across along behind between among via inside outside towards toward
without within upon beside besides against past up down off out
""".split())
TIME_WORDS = frozenset("""
yesterday today tonight tomorrow morning mornings afternoon afternoons evening evenings night
nights weekend weekends week weeks month months year years day days hour hours minute minutes
ago now recently soon later earlier lately monday tuesday wednesday thursday friday saturday
sunday mondays tuesdays wednesdays thursdays fridays saturdays sundays january february march
april may june july august september october november december spring summer autumn fall
winter last next this every each daily weekly monthly yearly annually once twice
""".split())
# frequent verbs (base, past, participle, -ing, 3rd person): a chunk never spans them
_VERB_BASES = """
be am is are was were been being have has had having do does did done doing go goes went
gone going get gets got gotten getting make makes made making take takes took taken taking
see sees saw seen seeing come comes came coming know knows knew known think thinks thought
want wants wanted say says said tell tells told give gives gave given find finds found
feel feels felt try tries tried leave leaves left call calls called keep keeps kept let
lets begin begins began begun start starts started show shows showed hear hears heard play
plays played run runs ran move moves moved live lives lived believe believes believed bring
brings brought happen happens happened write writes wrote written sit sits sat stand stands
stood lose loses lost pay pays paid meet meets met include includes included continue set
sets learn learns learned learnt change changes changed lead leads led understand watch
watches watched follow follows followed stop stops stopped create creates created speak
speaks spoke read reads allow add adds added spend spends spent grow grows grew grown open
opens opened walk walks walked win wins won offer offers offered remember remembers
remembered love loves loved consider appear buy buys bought wait waits waited serve die dies
died send sends sent expect build builds built stay stays stayed fall falls fell cut cuts
reach kill remain suggest raise raises raised pass sell sells sold require report decide
decided pull visit visits visited teach teaches taught bake bakes baked cook cooks cooked
paint paints painted draw draws drew drawn adopt adopts adopted sign signs signed ride rides
rode hike hikes hiked swim swims swam sing sings sang dance dances danced study studies
studied work works worked join joins joined hire hires hired book booked fly flies flew flown
drive drives drove driven catch caught eat eats ate eaten drink drank sleep slept wake woke
hurt hurts broke broken break breaks finish finishes finished practise practice practises
practices practised practiced need needs needed hope hopes hoped like likes liked enjoy
enjoys enjoyed plan plans planned help helps helped look looks looked seem seems seemed
turn turns turned use uses used ask asks asked put puts feel got went came
""".split()
VERBS = frozenset(_VERB_BASES) | {"'m", "'re", "'ve", "'ll", "'d", "'s"}
_VERB_STEMS: set[str] = set()


def is_verb_form(w: str) -> bool:
    """A form of a frequent verb ("growing", "volunteered", "paints")."""
    lw = w.lower()
    if lw in VERBS:
        return True
    if not _VERB_STEMS:
        _VERB_STEMS.update(stem(v) for v in VERBS if len(v) > 3)
    if lw.endswith(("ing", "ed", "s")) and len(lw) > 4:
        return stem(lw) in _VERB_STEMS
    return False
PRONOUNS = frozenset("""
i me my mine myself you your yours yourself he him his himself she her hers herself it its
itself we us our ours ourselves they them their theirs themselves this that these those
there here who whom whose which what someone somebody everyone everybody anyone anything
something everything nothing one
""".split())
DETERMINERS = frozenset("a an the my your his her our their its this that these those some "
                        "any no every each another".split())
POSSESSIVES = frozenset("my your his her our their".split())
NUM_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90, "hundred": 100, "dozen": 12, "once": 1, "twice": 2,
}
# capitalised words that are not names
NOT_NAMES = frozenset("""
i i'm i've i'll i'd omg lol ok okay oh yes no hey hi hello thanks thank wow yay haha poll
monday tuesday wednesday thursday friday saturday sunday january february march april may
june july august september october november december christmas easter mr mrs ms dr
mondays tuesdays wednesdays thursdays fridays saturdays sundays update oof ooh yikes phew
the a an and but so if when what where who why how which this that these those my your
his her our their it its we they he she you me us them is are was were do did does have
has had can could will would should just also well still really maybe sure nice great
good love cool awesome amazing congrats congratulations happy sorry please guess speaking
""".split())

_NUM_RX = (r"(?:\d+(?:[.,]\d+)*(?:\s*(?:k|m|million|billion|thousand|hundred))?|"
           r"(?:a |one |two |three |four |five |six |seven |eight |nine |ten |twelve |a few |"
           r"a couple of )?(?:hundred|thousand|dozen)|" + "|".join(
               sorted((w for w in NUM_WORDS if w not in ("once", "twice", "hundred", "dozen")),
                      key=len, reverse=True)) + r"|a couple(?: of)?|a few|several|a)")
_NUM_ONLY = re.compile(r"\b(?:\d+(?:[.,]\d+)*|" + "|".join(NUM_WORDS) + r")\b", re.I)


@dataclass
class Span:
    """A candidate answer inside a sentence: its text and character offsets."""

    text: str
    start: int
    end: int
    kind: str           # date | time | habit | duration | amount | count | person | place |
    #                     title | chunk | reason | manner | yesno
    weight: float = 1.0  # how typical the span is of its kind (0..1)


_WORD = re.compile(r"[^\W_]+(?:['’&.-][^\W_]+)*\.?|&", re.UNICODE)


def words(sentence: str) -> list[tuple[str, int, int]]:
    """(word, start, end) for every word of ``sentence`` (apostrophes, hyphens and
    "&" kept inside words; "Co." keeps its dot)."""
    out = []
    for m in _WORD.finditer(sentence):
        w = m.group(0)
        end = m.end()
        if w.endswith(".") and not re.fullmatch(r"(?:[A-Z][a-z]{0,3}|[A-Z](?:\.[A-Z])+)\.", w):
            w, end = w[:-1], end - 1
        out.append((w, m.start(), end))
    return out


def is_verbish(w: str) -> bool:
    lw = w.lower().replace("’", "'")
    if lw in VERBS:
        return True
    return False


DEICTIC = frozenset("""
yesterday today tonight tomorrow ago now recently soon later earlier lately last next this
every each once twice then already
""".split())


def _boundary(w: str) -> bool:
    lw = w.lower().replace("’", "'")
    if lw in ("&",):
        return False
    base = lw[:-2] if lw.endswith("'s") else lw
    return (base in STOP_WORDS or base in FILLERS or base in PREPOSITIONS or base in PRONOUNS
            or base in VERBS or base in ("not", "n't", "and", "or", "but", "because", "if"))


_SUBJECTS = frozenset("i we you he she they it who that i've we've they've i'd".split())


def _verb_positions(ws: list[tuple[str, int, int]]) -> set[int]:
    """Indexes of words that are verbs by position or form: right after a subject
    pronoun ("I switched"), or an -ed/-ing form not after a determiner."""
    out = set()
    for i, (w, _a, _b) in enumerate(ws):
        lw = w.lower()
        prev = ws[i - 1][0].lower() if i else ""
        if prev in _SUBJECTS and lw not in DETERMINERS and not lw[:1].isdigit():
            out.add(i)
        elif len(lw) >= 5 and lw.endswith(("ed", "ing")) and prev not in DETERMINERS \
                and prev not in POSSESSIVES and not w[:1].isupper():
            out.add(i)
    return out


def objects_after(sentence: str, ends: list[int], *, keep_list: bool = False) -> list[Span]:
    """What follows a verb of the question in ``sentence`` ("researching | adoption
    agencies", "made | a bowl, your mug, two plates and a vase"): up to the end of the
    clause; without ``keep_list`` up to the first comma, "and" or preposition too."""
    out = []
    for end in ends:
        rest = sentence[end:]
        m = re.match(r"\s*(?:(?:up|out|on|off|back|about|into|to)\s+)?", rest)
        start = end + (m.end() if m else 0)
        tail = sentence[start:]
        stop = re.search(r"[.!?;:()]|\s-\s|\b(?:because|but|so|when|while|if|since|although|"
                         r"though|which|who|that|until|after|before|then)\b" +
                         ("" if keep_list else r"|,|\band\b|\b(?:in|at|on|for|with|from|to|by|"
                                               r"near|during|last|this|next|every|yesterday|"
                                               r"today|tonight|tomorrow)\b"), tail, re.I)
        text = tail[:stop.start()] if stop else tail
        text = text.rstrip(" ,")
        toks = text.split()
        while toks and toks[0].lower() in DETERMINERS | POSSESSIVES | {"some", "all", "the"}:
            toks = toks[1:]
        if not toks or len(toks) > (14 if keep_list else 6):
            continue
        if toks[0].lower() in STOP_WORDS or toks[0].lower() in PRONOUNS:
            continue
        clean = " ".join(toks)
        if keep_list:
            clean = re.sub(r"(,\s*|\band\s+)(?:a|an|the|my|your|his|her|our|their|some)\s+",
                           r"\1", clean, flags=re.I)
        a = sentence.find(toks[0], start)
        out.append(Span(clean, a, a + len(" ".join(toks)), "object", 1.0))
    return out


def chunks(sentence: str, *, keep_and: bool = False) -> list[Span]:
    """Noun-phrase-like runs of ``sentence``: maximal runs of content words, cut at
    function words, verbs, time words and punctuation. ``of`` joins two runs ("head of
    marketing"); ``&`` always joins; with ``keep_and`` "and"/commas join too (lists)."""
    ws = words(sentence)
    verbish = _verb_positions(ws)
    out: list[Span] = []
    i = 0
    while i < len(ws):
        w, a, b = ws[i]
        if _boundary(w) or w.lower() in DEICTIC or i in verbish:
            i += 1
            continue
        j = i
        end = b
        while j + 1 < len(ws):
            nw, na, nb = ws[j + 1]
            gap = sentence[end:na]
            if re.search(r"[,.;:!?()\"]", gap) and not (keep_and and gap.strip() == ","):
                break
            lnw = nw.lower()
            if lnw in ("of", "&") or (keep_and and lnw == "and"):
                if j + 2 < len(ws) and not _boundary(ws[j + 2][0]) and \
                        ws[j + 2][0].lower() not in DEICTIC:
                    j += 2
                    end = ws[j][2]
                    continue
                if lnw == "&" and j + 2 < len(ws):
                    j += 2
                    end = ws[j][2]
                    continue
                break
            if keep_and and gap.strip() == "," and (_boundary(nw) and lnw not in DETERMINERS
                                                    and lnw not in POSSESSIVES):
                break
            if keep_and and lnw in DETERMINERS | POSSESSIVES and gap.strip() in (",", ""):
                if gap.strip() == "," or (j > i and ws[j][0].lower() == "and"):
                    j += 1
                    end = nb
                    continue
            if _boundary(nw) or lnw in DEICTIC or (j + 1) in verbish:
                break
            j += 1
            end = nb
        out.append(Span(sentence[a:end], a, end, "chunk"))
        i = j + 1
    return out


# -- dates and times (see also memory.timeparse for relative dates) ---------------------
_CLOCK = re.compile(r"\b(?:at\s+)?((?:[01]?\d|2[0-3])(?::[0-5]\d)?\s*(?:am|pm|a\.m\.|p\.m\.)|"
                    r"(?:[01]?\d|2[0-3]):[0-5]\d|noon|midnight)\b", re.I)
_WEEKDAY = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
_HABIT = re.compile(
    r"\b(?:(?:every|each)\s+(?:other\s+)?(?:single\s+)?(?:" + _WEEKDAY + r"|day|night|morning|"
    r"evening|afternoon|week|weekend|month|year|summer|winter|spring|autumn|fall|"
    r"(?:two|three|four|few|couple of)\s+(?:days|weeks|months|years))"
    r"(?:\s+(?:morning|evening|afternoon|night)s?)?(?:\s+after\s+\w+)?|"
    r"(?:on\s+)?" + _WEEKDAY + r"s(?:\s+and\s+" + _WEEKDAY + r"s)?|"
    r"(?:on\s+)?" + _WEEKDAY + r"\s+(?:mornings|evenings|afternoons|nights)|"
    r"(?:once|twice|three times|four times|\d+\s+times|\w+\s+times)\s+(?:a|per|every)\s+"
    r"(?:day|week|month|year|fortnight)|"
    r"daily|weekly|monthly|nightly|yearly|on weekends|at weekends|most days|every day)\b", re.I)
_DURATION = re.compile(
    r"\b(?:for\s+|about\s+|almost\s+|nearly\s+|over\s+)?(?:" + _NUM_RX + r")(?:\s+and\s+a\s+half)?"
    r"[\s-]+(?:seconds?|minutes?|mins?|hours?|hrs?|days?|nights?|weeks?|months?|years?|"
    r"decades?)(?:\s+and\s+(?:" + _NUM_RX + r")\s+(?:seconds?|minutes?|hours?|days?|weeks?|"
    r"months?))?\b|\bsince\s+(?:i|he|she|we|they)\s+(?:was|were)\s+(?:a\s+)?\w+|"
    r"\b\d{1,2}:\d{2}(?::\d{2})?\b", re.I)
_AMOUNT = re.compile(
    r"(?:(?:about|around|almost|nearly|over|under)\s+)?(?:[$€£¥]\s?\d+(?:[.,]\d+)*(?:\s?(?:k|m|"
    r"million|billion|thousand))?|\d+(?:[.,]\d+)*\s?(?:k|m|million|billion|thousand)?\s*"
    r"(?:dollars?|euros?|pounds?|quid|bucks|usd|eur|gbp|yen|francs?|rupees?)|"
    r"\d+(?:[.,]\d+)*\s+(?:million|billion|thousand))", re.I)
_COUNT = re.compile(r"\b(" + _NUM_RX + r")(?:\s+([a-z][\w-]*(?:\s+[a-z][\w-]*)?))?\b", re.I)
_TIMES = re.compile(r"\b(once|twice|(?:" + _NUM_RX + r")\s+times)\b", re.I)


def clock_times(sentence: str) -> list[Span]:
    return [Span(m.group(1), m.start(1), m.end(1), "time") for m in _CLOCK.finditer(sentence)]


def habits(sentence: str) -> list[Span]:
    return [Span(m.group(0), m.start(), m.end(), "habit") for m in _HABIT.finditer(sentence)]


def durations(sentence: str) -> list[Span]:
    out = []
    for m in _DURATION.finditer(sentence):
        t = re.sub(r"^(?:for|about|almost|nearly|over)\s+", "", m.group(0), flags=re.I)
        if re.fullmatch(r"a\s+\w+", t, re.I) and not re.search(r"\bago\b",
                                                               sentence[m.end():m.end() + 5]):
            pass
        out.append(Span(t, m.end() - len(t), m.end(), "duration"))
    return out


def amounts(sentence: str) -> list[Span]:
    return [Span(m.group(0), m.start(), m.end(), "amount") for m in _AMOUNT.finditer(sentence)]


def counts(sentence: str) -> list[Span]:
    """Numbers with the noun they count ("240 loaves", "twelve kids", "two plates")."""
    out = []
    for m in _COUNT.finditer(sentence):
        num = m.group(1)
        if num.lower() in ("a", "several") or not re.search(r"\d|\w", num):
            continue
        nouns = []
        for w in (m.group(2) or "").split():
            if _boundary(w) or w.lower() in TIME_WORDS:
                break
            nouns.append(w)
        text = " ".join([num] + nouns)
        out.append(Span(text, m.start(), m.start() + len(text), "count",
                        weight=1.0 if nouns else 0.8))
    for m in _NUM_ONLY.finditer(sentence):
        if not any(s.start <= m.start() < s.end for s in out):
            out.append(Span(m.group(0), m.start(), m.end(), "count", weight=0.7))
    return out


def number_value(text: str) -> Optional[float]:
    """The number a count span starts with (digits or words), else None."""
    m = re.match(r"\s*(\d+(?:[.,]\d+)*)", text)
    if m:
        try:
            return float(m.group(1).replace(",", ""))
        except ValueError:
            return None
    first = text.strip().split()[0].lower() if text.strip() else ""
    v = NUM_WORDS.get(first)
    return float(v) if v is not None else None


# -- people, places, titles --------------------------------------------------------------
RELATIONS = frozenset("""
mom mum mother dad father parents sister sisters brother brothers cousin cousins aunt uncle
grandma grandpa grandmother grandfather grandparents son daughter kids children wife husband
partner boyfriend girlfriend fiance fiancee friend friends family mentor mentors teacher coach
boss neighbour neighbor neighbours neighbors roommate roommates colleague colleagues coworker
coworkers classmates classmate therapist doctor physio supervisor landlord niece nephew
twins baby students team
""".split())
_CAP_SEQ = re.compile(r"\b(?:(?:Dr|Mr|Mrs|Ms|Mx|Prof|St)\.?\s+)?[A-Z][\w'’-]*(?:\.?)"
                      r"(?:\s+(?:of\s+|the\s+|de\s+|da\s+|van\s+|von\s+|&\s+|and\s+(?=[A-Z]))?"
                      r"[A-Z0-9][\w'’.-]*)*")


def capitalized(sentence: str, *, skip_first: bool = True) -> list[Span]:
    """Runs of capitalised words that are not sentence openers or common capitals."""
    out = []
    for m in _CAP_SEQ.finditer(sentence):
        text = m.group(0).rstrip(".'’") if not m.group(0).endswith("Co.") else m.group(0)
        toks = text.split()
        # drop leading common capitals ("Guess Where", "Thanks Maya" → "Maya")
        while toks and toks[0].lower().strip(".,!?") in NOT_NAMES and not re.match(
                r"(?:Dr|Mr|Mrs|Ms|Mx|Prof)\.?$", toks[0]):
            toks = toks[1:]
        if not toks:
            continue
        while toks and toks[-1].lower() in ("of", "the", "and", "&", "de"):
            toks = toks[:-1]
        if not toks:
            continue
        text = " ".join(toks)
        start = sentence.find(text, m.start())
        if start < 0:
            continue
        first_word = not sentence[:start].strip() or re.search(r"[.!?:]\s*$", sentence[:start])
        if skip_first and first_word and len(toks) == 1 and toks[0].lower() in STOP_WORDS:
            continue
        out.append(Span(text, start, start + len(text), "title",
                        weight=0.7 if first_word and len(toks) == 1 else 1.0))
    return out


_POLL = re.compile(r"\bPoll: .*? \((?P<opts>[^()]*)\)")
_VOTES = re.compile(r"^(?P<name>.+?): (?P<votes>\d+) votes?$")


def poll_answers(sentence: str) -> list[Span]:
    """What a poll in ``sentence`` answers ("Poll: Which gym? (North: 2 votes / South: 1
    vote)", as imports write polls): the option with the most votes; when no votes are
    known, or none were cast, or the best are tied, the options as one span (a question
    about a poll is answered by what was proposed, not by one option guessed)."""
    m = _POLL.search(sentence)
    if not m:
        return []
    body_start = m.start("opts")
    body = m.group("opts").split(";")[0]
    opts, at = [], body_start
    for part in body.split(" / "):
        start = sentence.find(part.strip(), at)
        at = start + len(part.strip())
        v = _VOTES.match(part.strip())
        opts.append((v.group("name") if v else part.strip(), int(v.group("votes")) if v
                     else None, start))
    if not opts or any(o[2] < 0 for o in opts):
        return []
    votes = [o[1] for o in opts]
    if None not in votes and max(votes) > 0 and votes.count(max(votes)) == 1:
        name, _v, start = opts[votes.index(max(votes))]
        return [Span(name, start, start + len(name), "poll", 1.5)]
    end = body_start + len(body.rstrip())
    return [Span(sentence[body_start:end], body_start, end, "poll", 1.2)]


def quoted(sentence: str) -> list[Span]:
    out = []
    for m in re.finditer(r"[\"“]([^\"”]{2,60})[\"”]", sentence):
        out.append(Span(m.group(1), m.start(1), m.end(1), "title"))
    return out


def people(sentence: str, known: Iterable[str] = ()) -> list[Span]:
    """Names (capitalised, or known people) and relations ("my sister Joanna",
    "her mentors, family and friends", "the kids at school")."""
    out: list[Span] = []
    known_l = {k.lower() for k in known}
    for s in capitalized(sentence):
        first = s.text.split()[0].lower()
        if first in RELATIONS:
            continue
        if re.search(r"\b(?:in|at|from|to|near|around|visit(?:ed|ing)?|of)\s+(?:the\s+)?$",
                     sentence[:s.start], re.I):
            continue  # "visiting from Denver": a place
        if any(ch.isdigit() for ch in s.text):
            continue
        if "&" in s.text or re.search(r"\b(?:Co|Inc|Ltd|Labs|LLC|Street|Avenue|Road)\b", s.text):
            continue
        s.kind = "person"
        if s.text.lower() in known_l or first in known_l:
            s.weight = 1.0
        elif s.weight < 1.0:
            # a capitalised first word is a name only when a verb follows ("Lucy came up
            # with it"), not in "Definitely!" or "Tough week."
            nxt = re.match(r"\s*([\w']+)", sentence[s.end:])
            if not (sentence[s.end:s.end + 2] in ("'s", "’s") or
                    (nxt and (is_verbish(nxt.group(1)) or re.fullmatch(
                        r"[a-z]+(?:ed|s)", nxt.group(1))))):
                continue
            s.weight = 0.9
        out.append(s)
    rel = re.compile(r"\b(?:(?:my|her|his|their|our|your|the)\s+)?(?:(?:best|old|new|little|"
                     r"big|older|younger|close|dear)\s+)?(?:" + "|".join(sorted(RELATIONS)) +
                     r")(?:\s*(?:,|and)\s*(?:(?:my|her|his|their|our)\s+)?(?:" +
                     "|".join(sorted(RELATIONS)) + r"))*(?:\s+(?:at|from)\s+(?:school|work|"
                     r"the \w+))?(?:\s+[A-Z][a-z]+)?\b", re.I)
    for m in rel.finditer(sentence):
        named = bool(re.search(r"\s[A-Z][a-z]+$", m.group(0)))
        out.append(Span(m.group(0), m.start(), m.end(), "person", weight=1.0 if named else 0.85))
    return out


_PLACE_PREP = re.compile(
    r"\b(?:in|at|to|from|near|around|outside|inside|into|visit(?:ed|ing)?|toward|towards|"
    r"across|through|on top of|back to|up to|down to|off to|moving to|moved to|trip to|"
    r"flew to|drove to|went to|on(?=\s+[A-Z]))\s+("
    r"(?:the\s+)?(?:(?:old|new|little|local|big|small)\s+)?"
    r"(?:[A-Z][\w'’-]*(?:\s+(?:of\s+|de\s+)?[A-Z][\w'’-]*)*(?:,\s+[A-Z][\w'’-]*)?|"
    r"(?:the|a|my|her|his|their|our)\s+[a-z][\w'’-]*"
    r"(?:\s+(?!(?:on|in|at|to|from|with|for|of|by|near)\b)[a-z][\w'’-]*){0,2}))")


def places(sentence: str) -> list[Span]:
    out = []
    for m in _PLACE_PREP.finditer(sentence):
        text = m.group(1).strip()
        toks = text.split()
        # stop a lower-case place at verbs, time words and function words
        keep = []
        for i, t in enumerate(toks):
            lt = t.lower()
            if i > 0 and (lt in TIME_WORDS or lt in STOP_WORDS or is_verbish(t)
                          or lt in PREPOSITIONS):
                break
            keep.append(t)
        text = " ".join(keep)
        low = text.lower()
        if not keep or low in ("the", "a", "my") or any(k.lower() in TIME_WORDS for k in keep):
            continue
        if keep[0].lower() in TIME_WORDS or (keep[0][:1].isupper() and keep[0].lower() in
                                             NOT_NAMES) or keep[0].lower() in (
                "the end", "the moment", "the time"):
            continue
        cap = any(t[:1].isupper() for t in keep if t.lower() not in ("the",))
        start = m.start(1)
        out.append(Span(text, start, start + len(text), "place", weight=1.0 if cap else 0.9))
    # "outside the library downtown": keep a trailing place adverb
    for s in out:
        tail = re.match(r"\s+(downtown|uptown|nearby|abroad|upstairs|downstairs)\b",
                        sentence[s.end:])
        if tail:
            s.text += tail.group(0)
            s.end += len(tail.group(0))
    return out


_REASON = re.compile(r"\b(?:because(?:\s+of)?|cause|since|as|so that|so|in order to|"
                     r"that's why|which is why)\s+(.{3,160}?)(?=[.!?;]|$)", re.I)


def reasons(sentence: str) -> list[Span]:
    out = []
    m = re.search(r"^(.{3,160}?),?\s+(?:that's|that is|thats|which is)\s+why\b", sentence, re.I)
    if m:
        out.append(Span(m.group(1).strip(), m.start(1), m.end(1), "reason", weight=1.0))
    for m in _REASON.finditer(sentence):
        word = m.group(0).split()[0].lower()
        if word in ("that's", "which"):
            continue
        weight = 1.0 if word in ("because", "cause") else 0.6
        out.append(Span(m.group(1).strip(), m.start(1), m.end(1), "reason", weight=weight))
    m = re.search(r"\b(?:to|for)\s+((?:be|have|get|see|help|learn|make|find|spend|keep|"
                  r"feel|become|save|try|meet|visit|support|do)\b.{2,120}?)(?=[.!?;,]|$)",
                  sentence, re.I)
    if m:
        out.append(Span("to " + m.group(1).strip(), m.start(1), m.end(1), "reason", 0.7))
    return out


# -- categories: what "which instrument", "what breed", "what sport" … are answered by --
_CATEGORY_WORDS = {
    "instrument": """guitar piano violin cello ukulele drums drum flute saxophone sax trumpet harp
        oud bass banjo clarinet harmonica accordion mandolin keyboard trombone viola synth
        bagpipes sitar oboe""",
    "sport": """football soccer basketball tennis volleyball baseball rugby cricket golf hockey
        swimming running cycling climbing bouldering skiing snowboarding surfing yoga pilates
        boxing karate judo badminton squash rowing hiking skating archery fencing netball
        padel crossfit kayaking sailing dancing""",
    "language": """english spanish french german italian portuguese japanese chinese mandarin
        cantonese korean arabic russian hindi dutch swedish greek turkish polish hebrew
        norwegian danish finnish czech vietnamese thai""",
    "colour": """red blue green yellow orange purple pink black white grey gray brown teal navy
        gold silver beige turquoise""",
    "animal": """dog cat puppy kitten rabbit hamster parrot fish turtle horse pony snake lizard
        ferret budgie chicken goat tortoise""",
    "breed": """beagle labrador retriever poodle bulldog terrier collie corgi dachshund husky
        greyhound spaniel pug chihuahua shepherd boxer siamese tabby persian ragdoll bengal
        sphynx dalmatian rottweiler doberman schnauzer""",
    "job": """nurse doctor teacher engineer developer designer lawyer accountant chef baker banker
        architect photographer writer artist musician pilot firefighter scientist researcher
        analyst manager consultant dentist vet veterinarian pharmacist therapist counselor
        counsellor librarian electrician plumber carpenter mechanic journalist editor
        programmer midwife paramedic pediatrician paediatrician surgeon professor lecturer
        copywriter translator""",
    "drink": "coffee tea beer wine whisky juice smoothie latte cocktail cider",
}
_MULTI = {"breed": ["golden retriever", "border collie", "maine coon", "german shepherd",
                    "jack russell", "cocker spaniel", "french bulldog"],
          "job": ["product designer", "data analyst", "project manager", "software engineer",
                  "backend developer", "ux researcher", "account manager", "lab technician",
                  "head of marketing", "social worker", "personal trainer"]}
CATEGORY_OF = {"instrument": "instrument", "instruments": "instrument", "sport": "sport",
               "sports": "sport", "language": "language", "languages": "language",
               "colour": "colour", "color": "colour", "colours": "colour", "colors": "colour",
               "pet": "animal", "pets": "animal", "animal": "animal", "animals": "animal",
               "breed": "breed", "job": "job", "profession": "job", "career": "job",
               "occupation": "job", "title": "job", "drink": "drink", "drinks": "drink"}
_CATEGORY_RX: dict[str, re.Pattern] = {}


def category_spans(sentence: str, category: str) -> list[Span]:
    """Words of a known category in ``sentence`` ("ukulele" for an instrument)."""
    rx = _CATEGORY_RX.get(category)
    if rx is None:
        words_ = _CATEGORY_WORDS.get(category, "").replace(",", " ").split()
        alts = sorted(_MULTI.get(category, []) + words_, key=len, reverse=True)
        rx = re.compile(r"\b(?:" + "|".join(re.escape(a) for a in alts) + r")s?\b", re.I)
        _CATEGORY_RX[category] = rx
    return [Span(m.group(0), m.start(), m.end(), "category", 1.3) for m in rx.finditer(sentence)]

