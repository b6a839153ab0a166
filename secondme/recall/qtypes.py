"""What a question wants: its answer type, focus noun, people and predicate.

:func:`analyze_question` is pure and cheap (regular expressions over the question), so
it runs on every ``ask`` and is tested on labelled questions
(``tests/fixtures/recall/answers/``). Answer types:

=========  ==========================================  ============================
type       asked as                                    answered with
=========  ==========================================  ============================
when       when …, what date/year/month/time …         a date (relative phrases
                                                       resolved), a time, a habit
who        who …, whom, whose, with whom               a name or a relation
where      where …, which city/country/place …         a place
howmany    how many …, how old                         a number / a count of events
howoften   how often …, how frequently                 "every Sunday", "twice a week"
howmuch    how much …                                  an amount ("400 pounds")
howlong    how long …                                  a duration ("two weeks")
name       what is the name of …, what is X called     a proper name
kind       what kind/type/sort/style/breed of X        modifiers + X ("abstract art")
which      which X …, what X did …                     a span of the kind X
list       what has X painted, what activities …       several spans, across sources
yesno      is/did/does/has … ?                         yes / no
likely     would X likely …, is X likely to …          likely yes / likely no
why        why …, how come …                           a reason clause
how        how did X hurt …                            a manner ("skiing")
what       anything else                               the best span, else sentence
=========  ==========================================  ============================
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

from .query import QUESTION_FRAME, STOP_WORDS, tokens
from .spans import RELATIONS, is_verb_form, stem

ANSWER_TYPES = ("when", "who", "where", "howmany", "howoften", "howmuch", "howlong", "name",
                "kind", "which", "what", "list", "yesno", "likely", "why", "how")

#: focus nouns that make "which/what X" a place question
PLACE_NOUNS = frozenset("""
city cities country countries place places town towns village neighbourhood neighborhood
neighbourhoods neighborhoods state states island islands beach beaches park parks
restaurant restaurants cafe bar venue venues location locations area region continent
street address destination destinations spot spots lake lakes mountain mountains
""".split())
#: focus nouns that make "which/what X" a time question
TIME_NOUNS = frozenset("date day year month time week weekend season hour".split())
#: focus nouns that make "which/what X" a person question
PERSON_NOUNS = frozenset("""
person people friend friends family member members relative relatives sibling siblings
sister brother mother father mom mum dad parent parents son daughter kid kids child
children partner husband wife boyfriend girlfriend teacher coach doctor artist musician
singer author writer colleague coworker boss mentor neighbour neighbor cousin aunt uncle
grandmother grandfather grandma grandpa roommate classmate
""".split())
PLURAL_LIST_NOUNS = frozenset("""
activities hobbies things items books movies films songs bands artists places countries
cities animals pets sports instruments games foods dishes events classes courses hobbies
plans goals gifts instruments languages names shows paintings projects countries herbs
""".split())

_LIGHT_VERBS = frozenset("be am is are was were been do does did have has had get got go "
                         "going make made".split())
_LIGHT_STEMS = frozenset(stem(v) for v in _LIGHT_VERBS)
_AUX = (r"(?:is|are|was|were|did|does|do|has|have|had|can|could|will|would|should|might|"
        r"may|shall|am)")
_LIKELY = re.compile(r"^(?:would|will|could|might|may)\b.*|^(?:is|are|was|were|does|do)\b.*"
                     r"\b(?:likely|probably|unlikely)\b.*|.*\b(?:likely|probably)\b.*\?*$", re.I)
_WH_START = re.compile(r"^\s*(?:and\s+|so\s+|also\s+)?(what|which|who|whom|whose|when|where|"
                       r"why|how)\b", re.I)


@dataclass
class QuestionSpec:
    """A question taken apart for answering (see the module docstring)."""

    text: str
    atype: str
    focus: list[str] = field(default_factory=list)     # head noun(s): "art", "job"
    names: list[str] = field(default_factory=list)     # known people it names
    terms: list[str] = field(default_factory=list)     # content terms (no names)
    habitual: bool = False      # "when does she …": a habit, not one date
    granularity: str = ""       # when: day | month | year | time
    count_events: bool = False  # "how many times …": count the events themselves
    negated: bool = False       # "didn't", "never" in the question
    verbs: list[str] = field(default_factory=list)      # the predicate's verbs: "work"
    weights: dict[str, float] = field(default_factory=dict)  # term weights (the reader's)
    about_relative: bool = False  # "Melanie's sister …": about someone the person knows
    look_like: bool = False     # "what does X look like"
    age: bool = False           # "how old"

    @property
    def wants_person(self) -> bool:
        return self.atype == "who" or (self.atype == "which" and
                                       any(f in PERSON_NOUNS for f in self.focus))


def _focus_after(q: str, pattern: str) -> list[str]:
    """The noun phrase right after ``pattern`` (up to the first aux/verb-ish word)."""
    m = re.search(pattern + r"\s+((?:[a-z][\w'-]*\s*){1,3})", q)
    if not m:
        return []
    out = []
    for w in m.group(1).split():
        w = w.strip("'")
        if w in STOP_WORDS or re.fullmatch(_AUX, w) or w.endswith("ed") and out:
            break
        out.append(w)
    return out[-2:]


def _kind_focus(q: str) -> list[str]:
    m = re.search(r"\b(?:kind|kinds|type|types|sort|sorts|style|styles|genre|genres|breed|"
                  r"form|variety)\s+of\s+((?:[a-z][\w'-]*\s*){1,2})", q)
    if not m:
        return []
    out = []
    for w in m.group(1).split():
        if w in STOP_WORDS or re.fullmatch(_AUX, w):
            break
        out.append(w)
    return out


def _possessed(q: str) -> list[str]:
    """ "what is Tom's job" → ["job"]; "what was Lena's time in the 10k" → ["time"] """
    m = re.search(r"\b[a-z]+'s\s+((?:[a-z][\w-]*\s*){1,2})", q)
    if not m:
        return []
    out = []
    for w in m.group(1).split():
        if w in STOP_WORDS or re.fullmatch(_AUX, w):
            break
        out.append(w)
    return out


def _when_granularity(q: str) -> str:
    if re.search(r"\bwhat time\b|\bat what time\b", q):
        return "time"
    if re.search(r"\b(?:which|what|in which|in what)\s+year\b", q):
        return "year"
    if re.search(r"\b(?:which|what|in which|in what)\s+month\b", q):
        return "month"
    return "day"


_DOES_FOR_WORK = re.compile(r"what (?:does|did|do) (?!you\b)[\w' ]+? do(?: for (?:work|a living))?"
                            r"(?: now| these days| nowadays)?\s*\??$")


def _classify(q: str) -> str:
    """The answer type of lower-cased question ``q`` (see ANSWER_TYPES)."""
    if re.match(r"^(?:would|will|could|might)\b", q) or (
            re.match(_AUX + r"\b", q) and re.search(r"\b(?:likely|probably|unlikely)\b", q)):
        return "likely"
    if re.search(r"\bhow often\b|\bhow frequently\b|\bhow regularly\b", q):
        return "howoften"
    if re.search(r"\bhow long ago\b|\bsince when\b", q):
        return "when"
    if re.search(r"\bhow long\b", q):
        return "howlong"
    if re.search(r"\bhow many (?:hours|minutes|days|weeks|months|years)\b", q):
        return "howlong"
    if re.match(r"what (?:was|is|were)\s+\w+'s\s+(?:finishing\s+|final\s+|best\s+)?"
                r"(?:time|pace)\b", q):
        return "howlong"
    if re.search(r"\bhow (?:many|old)\b", q):
        return "howmany"
    if re.search(r"\bhow much\b", q):
        return "howmuch"
    if re.search(r"\bwhy\b|\bhow come\b|\bfor what reason\b|\bwhat (?:made|makes|motivated|"
                 r"inspired|prompted)\b", q):
        return "why"
    if _DOES_FOR_WORK.match(q):
        return "which"  # "what does Ella's sister do?": a job
    lead = _WH_START.match(q)
    lead_wh = lead.group(1) if lead else ""
    if lead_wh in ("who", "whom", "whose"):
        return "who"
    if lead_wh == "where":
        return "where"
    if re.search(r"\bwhen\b", q) or re.search(r"\b(?:what|which|in which|in what|on which|"
                                               r"on what)\s+(?:date|day|year|month|time)\b", q):
        return "when"
    if re.search(r"\b(?:name|named|called)\b", q) and not re.match(r"who\b", q):
        return "name"
    if re.search(r"\bwhere\b", q):
        return "where"
    if re.search(r"\b(?:who|whom|whose)\b", q):
        return "who"
    if re.search(r"\b(?:kind|kinds|type|types|sort|sorts|style|styles|genre|genres|breed)\s+of\b",
                 q):
        return "kind"
    if re.match(r"(?:and\s+)?how\b", q):
        return "how"
    wh = _WH_START.match(q)
    if not wh:
        if re.match(_AUX + r"\b", q):
            return "yesno"
        return "what"
    if wh.group(1) == "which":
        focus = _focus_after(q, r"\bwhich")
        if any(f in PLURAL_LIST_NOUNS for f in focus):
            return "list"
        if any(f in PLACE_NOUNS for f in focus):
            return "where"
        if any(f in TIME_NOUNS for f in focus):
            return "when"
        if any(f in PERSON_NOUNS for f in focus):
            return "who"
        return "which"
    # what …
    if re.match(r"what (?:are|were) (?:some|all)\b|what (?:all|else)\b", q):
        return "list"
    focus = _focus_after(q, r"^what")
    if focus and not re.fullmatch(_AUX, focus[0]):
        if any(f in PLURAL_LIST_NOUNS for f in focus):
            return "list"
        if any(f in PLACE_NOUNS for f in focus):
            return "where"
        return "which"
    if re.match(r"what (?:has|have)\b", q) and not re.search(r"\bhappened\b", q):
        return "list"
    if re.search(r"\bwhat (?:are|were)\b.*'s?\s+\w+s\b\s*\??$", q):
        return "list"
    return "what"


_TERM_NOISE = frozenset("likely probably unlikely".split())
_TIME_PHRASE = re.compile(
    r"\b(?:in|on|during|since|before|after|last|this|next|of)?\s*(?:(?:january|february|"
    r"march|april|may|june|july|august|september|october|november|december)(?:\s+\d{1,2})?"
    r"(?:,?\s+(?:19|20)\d\d)?|(?:19|20)\d\d|yesterday|today|tonight|last (?:week|month|year|"
    r"weekend|night)|this (?:week|month|year|weekend|morning)|(?:spring|summer|autumn|fall|"
    r"winter)(?:\s+(?:19|20)\d\d)?)\b")


def _without_time(q: str) -> str:
    """The question without its time phrase ("in June", "in 2023"): those words say
    when, not what, and search already ranks by them."""
    return _TIME_PHRASE.sub(" ", q)


def analyze_question(question: str, names: Optional[list[str]] = None) -> QuestionSpec:
    """The answer type and parts of ``question``; ``names`` are the known people it names
    (search's :func:`~secondme.recall.query.match_names`)."""
    q = " ".join(question.lower().replace("’", "'").split())
    atype = _classify(q)
    name_toks = {t for n in (names or []) for t in tokens(n)}
    focus: list[str] = []
    if atype == "kind":
        focus = _kind_focus(q)
    elif atype in ("which", "list", "where", "who", "when"):
        focus = _focus_after(q, r"\b(?:which|what)") if re.search(r"\b(?:which|what)\s+[a-z]",
                                                                   q) else []
        focus = [f for f in focus if not re.fullmatch(_AUX, f)]
    if _DOES_FOR_WORK.match(q):
        focus = ["job"]
    if not focus:
        focus = _possessed(q)
    if atype == "name":
        m = re.search(r"\bname of\s+(?:\w+'s\s+|the\s+|his\s+|her\s+|their\s+|my\s+)?([a-z]+)", q)
        focus = [m.group(1)] if m else focus
    focus = [f for f in focus if f not in name_toks and f not in ("name", "names")]
    terms = [t for t in tokens(_without_time(q)) if t not in STOP_WORDS and t not in name_toks
             and t not in QUESTION_FRAME and len(t) > 1 and t not in _TERM_NOISE]
    if atype == "name":
        terms = [t for t in terms if t not in ("name", "names")]
    if re.search(r"\blook(?:s|ed)? like\b", q):
        terms = [t for t in terms if t not in ("look", "looks", "looked", "like")]
    return QuestionSpec(
        text=question, atype=atype, focus=focus, names=list(names or []),
        terms=list(dict.fromkeys(terms)),
        habitual=atype == "when" and bool(re.search(r"\bwhen (?:does|do|is|are)\b", q))
        and not re.search(r"\b(?:going to|gonna|start|starts|open|opens|launch|launches|"
                          r"leave|leaves|arrive|arrives|end|ends|due)\b", q),
        granularity=_when_granularity(q) if atype == "when" else "",
        count_events=atype == "howmany" and bool(re.search(
            r"\bhow many (?:[a-z]+ )?(?:times|trips|visits|occasions)\b", q)),
        look_like=bool(re.search(r"\blook(?:s|ed)? like\b", q)),
        age=bool(re.search(r"\bhow old\b", q)),
        negated=bool(re.search(r"\b(?:not|never|n't|didnt|doesnt)\b", q)),
        verbs=[t for t in terms if is_verb_form(t) and stem(t) not in _LIGHT_STEMS],
        about_relative=bool(name_toks) and bool(re.search(
            r"\b(?:" + "|".join(re.escape(n) for n in sorted(name_toks)) + r")'s\s+(?:\w+\s+)?"
            r"(?:" + "|".join(sorted(RELATIONS)) + r")\b", q)))
