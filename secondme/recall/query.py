"""Understanding a question before searching: terms, time ranges, people.

Everything here is pure (no database, no models) so it is cheap and testable:

- :func:`content_terms` — the words that carry meaning (stop words and question frame
  words like "what did … say" removed, possessives stripped);
- :func:`fts_query` — an FTS5 MATCH expression that ORs the terms, each one quoted, so
  that no user input (quotes, hyphens, colons, ``NEAR``, ``*``) can ever be read as FTS
  syntax and raise;
- :func:`parse_time` — a time range from phrases like "yesterday", "last May",
  "in 2022", "three weeks ago", "in March 2023", "last summer", or an anchored range
  "two weeks before the wedding" (the anchor is resolved later by search);
- :func:`question_type` — when / who / where / how many / what / yesno;
- :func:`match_names` — which known people (speakers, entities) a question names.

Relative phrases are resolved against a *reference time* given by the caller: search
uses the time of the latest imported message (so "last May" means the May before the
end of the memories, which is also "now" for a person who imports regularly) — see
docs/recall.md.
"""
from __future__ import annotations

import calendar
import itertools
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import Iterable, Iterator, Optional

STOP_WORDS = frozenset("""
a about above after again against all am an and any are aren't as at be because been
before being below between both but by can can't cannot could couldn't did didn't do does
doesn't doing don't down during each few for from further had hadn't has hasn't have
haven't having he he'd he'll he's her here here's hers herself him himself his how how's
i i'd i'll i'm i've if in into is isn't it it's its itself let's me more most mustn't my
myself no nor not of off on once only or other ought our ours ourselves out over own
same shan't she she'd she'll she's should shouldn't so some such than that that's the
their theirs them themselves then there there's these they they'd they'll they're
they've this those through to too under until up very was wasn't we we'd we'll we're
we've were weren't what what's when when's where where's which while who who's whom why
why's with won't would wouldn't you you'd you'll you're you've your yours yourself
yourselves also just really ever got get gets getting go going gone went u ur im ive
dont didnt cant wont yeah yes ok okay oh hey hi lol haha
""".split())

# Words that frame a question rather than say what it is about.
QUESTION_FRAME = frozenset("""
say said says tell told telling mention mentioned mentions talk talked talking speak
spoke discuss discussed remember remembered recall know knew think thought ask asked
kind sort type thing things much many time times date day long often ago called
""".split())

MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
MONTHS.update({name.lower(): i for i, name in enumerate(calendar.month_abbr) if name})
MONTHS["sept"] = 9
WEEKDAYS = {name.lower(): i for i, name in enumerate(calendar.day_name)}
NUMBER_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
                "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11,
                "twelve": 12, "couple": 2, "few": 3, "several": 3}
SEASONS = {"spring": (3, 5), "summer": (6, 8), "autumn": (9, 11), "fall": (9, 11),
           "winter": (12, 2)}
UNIT_DAYS = {"day": 1, "week": 7, "month": 30, "year": 365, "weekend": 7}

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens; apostrophes inside words are kept, possessive 's dropped."""
    return list(_iter_tokens(text))


def _iter_tokens(text: str) -> Iterator[str]:
    for m in _WORD.finditer(text.lower()):
        w = m.group(0).replace("’", "'")
        if w.endswith("'s"):
            w = w[:-2]
        if w:
            yield w


def content_terms(text: str, *, question: bool = True) -> list[str]:
    """The meaningful words of ``text`` in order, without duplicates.

    Drops stop words, one-letter words and (for questions) question-frame words.
    """
    return list(_iter_content_terms(text, question))


def has_content_terms(text: str, n: int) -> bool:
    """``len(content_terms(text, question=False)) >= n``, reading only as far as needed
    (search asks it of every candidate message)."""
    return sum(1 for _ in itertools.islice(_iter_content_terms(text, False), n)) >= n


def _iter_content_terms(text: str, question: bool) -> Iterator[str]:
    seen: set[str] = set()
    for w in _iter_tokens(text):
        if w in STOP_WORDS or (question and w in QUESTION_FRAME):
            continue
        if len(w) < 2 and not w.isdigit():
            continue
        w = w.replace("'", "")
        if w and w not in seen:
            seen.add(w)
            yield w


def fts_query(terms: Iterable[str]) -> Optional[str]:
    """An FTS5 MATCH string OR-ing ``terms``, each a quoted string; None if no terms.

    Quoting makes every term a plain phrase: FTS operators, column filters, ``*``,
    ``^``, hyphens and colons in the input lose their meaning instead of raising.
    """
    parts = []
    for t in terms:
        t = t.replace('"', " ").strip()
        if t:
            parts.append('"' + t + '"')
    return " OR ".join(parts) if parts else None


# -- time ------------------------------------------------------------------------------
@dataclass
class TimeRange:
    """A half-open UTC range [start, end) with the phrase it came from.

    ``anchor`` is set for ranges relative to an event ("two weeks before the wedding"):
    search finds the event, then shifts ``offset_days`` from its date; ``start``/``end``
    are then filled in.
    """

    start: Optional[datetime]
    end: Optional[datetime]
    phrase: str = ""
    anchor: str = ""
    offset_days: float = 0.0
    slack_days: float = 0.0

    def contains(self, ts: Optional[float]) -> Optional[bool]:
        """Whether epoch seconds ``ts`` fall in the range (None when unknown)."""
        if ts is None or (self.start is None and self.end is None):
            return None
        if self.start is not None and ts < self.start.timestamp():
            return False
        if self.end is not None and ts >= self.end.timestamp():
            return False
        return True

    def distance_days(self, ts: Optional[float]) -> Optional[float]:
        """Days from ``ts`` to the nearest edge of the range (0 inside)."""
        if ts is None:
            return None
        if self.start is not None and ts < self.start.timestamp():
            return (self.start.timestamp() - ts) / 86400
        if self.end is not None and ts >= self.end.timestamp():
            return (ts - self.end.timestamp()) / 86400
        return 0.0

    def describe(self) -> str:
        if self.start and self.end:
            last = self.end - timedelta(seconds=1)
            return f"{fmt_date(self.start)} – {fmt_date(last)}"
        if self.start:
            return f"after {fmt_date(self.start)}"
        if self.end:
            return f"before {fmt_date(self.end)}"
        return self.phrase


def fmt_date(d: datetime | date) -> str:
    """An unambiguous absolute date a person reads: ``8 May 2023``."""
    return f"{d.day} {calendar.month_name[d.month]} {d.year}"


def _day(d: datetime) -> datetime:
    return d.replace(hour=0, minute=0, second=0, microsecond=0)


def _month_start(y: int, m: int, tz) -> datetime:
    return datetime(y, m, 1, tzinfo=tz)


def _add_months(y: int, m: int, n: int) -> tuple[int, int]:
    k = y * 12 + (m - 1) + n
    return k // 12, k % 12 + 1


def _num(word: str) -> Optional[int]:
    if word.isdigit():
        return int(word)
    return NUMBER_WORDS.get(word)


_NUM = (r"(\d+|a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|couple|"
        r"few|several)")
_UNIT = r"(day|week|weekend|month|year)s?"
_MONTH = (r"(january|february|march|april|may|june|july|august|september|october|november|"
          r"december|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec)")
_MONTH_PHRASE = re.compile(r"\b(last|this|in|of|since|before|after|during)?\s*" + _MONTH
                           + r"(?:\s+(?:of\s+)?(\d{4}))?\b")


@dataclass
class _When:
    """What every time matcher gets: the lower-cased question and the reference time."""

    q: str
    ref: datetime      # aware
    today: datetime    # ref at midnight
    tz: tzinfo


# Each matcher returns (range, the match of its phrase) or None; parse_time tries them in
# this order (the first that matches wins).
_Found = Optional[tuple[TimeRange, re.Match]]


def _anchored(w: _When) -> _Found:
    """ "two weeks before the wedding", "3 days after my birthday" """
    m = re.search(_NUM + r"\s+" + _UNIT + r"\s+(before|after)\s+"
                  r"(?:the\s+|my\s+|our\s+|his\s+|her\s+)?"
                  r"([^\W\d_][\w' -]{1,40}?)(?=[?.!,]|$|\s+(?:did|was|were|when|what|and))",
                  w.q)
    if not m:
        return None
    days = (_num(m.group(1)) or 1) * UNIT_DAYS[m.group(2)]
    sign = -1 if m.group(3) == "before" else 1
    return (TimeRange(None, None, phrase=m.group(0), anchor=m.group(4).strip(),
                      offset_days=sign * days, slack_days=max(2.0, days * 0.35)), m)


def _one_day(w: _When) -> _Found:
    """ "yesterday", "today", "tonight", "last night", "this morning" """
    m = re.search(r"\b(yesterday|today|tonight|last night|this morning)\b", w.q)
    if not m:
        return None
    start = w.today - timedelta(days=1 if m.group(1) in ("yesterday", "last night") else 0)
    return TimeRange(start, start + timedelta(days=1), m.group(0)), m


def _span_back(w: _When) -> _Found:
    """ "in the past two weeks", "last 3 days", "two weeks ago" """
    m = re.search(r"\b(?:in the )?(?:past|last)\s+" + _NUM + r"\s+" + _UNIT + r"\b", w.q)
    if m:
        start = w.today - timedelta(days=(_num(m.group(1)) or 1) * UNIT_DAYS[m.group(2)])
        return TimeRange(start, w.today + timedelta(days=1), m.group(0)), m
    m = re.search(r"\b" + _NUM + r"\s+" + _UNIT + r"\s+ago\b", w.q)
    if not m:
        return None
    days = (_num(m.group(1)) or 1) * UNIT_DAYS[m.group(2)]
    centre = w.today - timedelta(days=days)
    half = max(1.5, days * 0.3)
    return (TimeRange(centre - timedelta(days=half), centre + timedelta(days=half + 1),
                      m.group(0)), m)


def _this_or_last_unit(w: _When) -> _Found:
    """ "last week", "this weekend", "next month", "last year" """
    m = re.search(r"\b(last|this|next)\s+(week|weekend|month|year)\b", w.q)
    if not m:
        return None
    unit = m.group(2)
    shift = {"last": -1, "this": 0, "next": 1}[m.group(1)]
    if unit in ("week", "weekend"):
        monday = w.today - timedelta(days=w.today.weekday()) + timedelta(weeks=shift)
        start = monday + timedelta(days=5) if unit == "weekend" else monday
        end = monday + timedelta(days=7)
    elif unit == "month":
        y, mo = _add_months(w.ref.year, w.ref.month, shift)
        start = _month_start(y, mo, w.tz)
        end = _month_start(*_add_months(y, mo, 1), w.tz)
    else:
        start = datetime(w.ref.year + shift, 1, 1, tzinfo=w.tz)
        end = datetime(w.ref.year + shift + 1, 1, 1, tzinfo=w.tz)
    return TimeRange(start, end, m.group(0)), m


def _weekday(w: _When) -> _Found:
    """ "last friday", "this monday" """
    m = re.search(r"\b(last|this)\s+(" + "|".join(WEEKDAYS) + r")\b", w.q)
    if not m:
        return None
    back = (w.today.weekday() - WEEKDAYS[m.group(2)]) % 7 or (7 if m.group(1) == "last" else 0)
    start = w.today - timedelta(days=back)
    return TimeRange(start, start + timedelta(days=1), m.group(0)), m


def _season(w: _When) -> _Found:
    """ "last summer", "in winter 2022" """
    m = re.search(r"\b(last|this|in)\s+(spring|summer|autumn|fall|winter)"
                  r"(?:\s+(?:of\s+)?(\d{4}))?\b", w.q)
    if not m:
        return None
    a, b = SEASONS[m.group(2)]
    year = int(m.group(3)) if m.group(3) else w.ref.year
    if not m.group(3) and (m.group(1) == "last" or (w.ref.month < a and a != 12)):
        year -= 1
    start = _month_start(year, a, w.tz)
    ey, em = (year + 1, b + 1) if b < a else _add_months(year, b, 1)
    return TimeRange(start, _month_start(ey, em, w.tz), m.group(0)), m


def _date(w: _When) -> _Found:
    """ "on 8 May 2023", "May 8th, 2023", "8th of May" """
    m = re.search(r"\b(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?" + _MONTH
                  + r"\b(?:,?\s+(\d{4}))?", w.q) \
        or re.search(r"\b" + _MONTH + r"\s+(\d{1,2})(?:st|nd|rd|th)?\b(?:,?\s+(\d{4}))?", w.q)
    if not m:
        return None
    g = m.groups()
    if g[0].isdigit():
        day, mon, year = int(g[0]), MONTHS[g[1]], g[2]
    else:
        mon, day, year = MONTHS[g[0]], int(g[1]), g[2]
    y = int(year) if year else w.ref.year
    try:
        start = datetime(y, mon, day, tzinfo=w.tz)
    except ValueError:
        return None
    if not year and start > w.ref:
        start = start.replace(year=y - 1)
    return TimeRange(start, start + timedelta(days=1), m.group(0)), m


def _month(w: _When) -> _Found:
    """ "last May", "in May", "May 2023", "since March", "before June 2022" """
    m = _MONTH_PHRASE.search(w.q)
    while m and not (m.group(1) or m.group(3)):
        # a bare "may"/"march" is a verb more often than a month
        if m.group(2) not in ("may", "march"):
            break
        m = _MONTH_PHRASE.search(w.q, m.end())
    if not m:
        return None
    prep, mon, year = m.group(1), MONTHS[m.group(2)], m.group(3)
    if year:
        y = int(year)
    else:
        y = w.ref.year
        if mon > w.ref.month or (prep == "last" and mon >= w.ref.month):
            y -= 1
    start = _month_start(y, mon, w.tz)
    end = _month_start(*_add_months(y, mon, 1), w.tz)
    if prep in ("since", "after"):
        return TimeRange(end if prep == "after" else start, None, m.group(0)), m
    if prep == "before":
        return TimeRange(None, start, m.group(0)), m
    return TimeRange(start, end, m.group(0).strip()), m


def _year(w: _When) -> _Found:
    """ "in 2022", "since 2019", "before 2020" """
    m = re.search(r"\b(in|since|before|after|during)?\s*((?:19|20)\d{2})\b", w.q)
    if not m:
        return None
    y = int(m.group(2))
    start, end = datetime(y, 1, 1, tzinfo=w.tz), datetime(y + 1, 1, 1, tzinfo=w.tz)
    prep = m.group(1)
    if prep == "since":
        return TimeRange(start, None, m.group(0)), m
    if prep == "after":
        return TimeRange(end, None, m.group(0)), m
    if prep == "before":
        return TimeRange(None, start, m.group(0)), m
    return TimeRange(start, end, m.group(0).strip()), m


def _recently(w: _When) -> _Found:
    """ "recently", "lately", "these days": the last 30 days """
    m = re.search(r"\b(recently|lately|these days)\b", w.q)
    if not m:
        return None
    return TimeRange(w.today - timedelta(days=30), w.today + timedelta(days=1), m.group(0)), m


_TIME_MATCHERS = (_anchored, _one_day, _span_back, _this_or_last_unit, _weekday, _season,
                  _date, _month, _year, _recently)


def parse_time(question: str, ref: datetime) -> tuple[Optional[TimeRange], str]:
    """A time range found in ``question`` relative to ``ref``, and the question without
    the phrase (so the phrase's words do not also count as search terms).

    Returns ``(None, question)`` when the question names no time. Ambiguous month
    words ("may") only count as months next to a year, "in", "last", "this", "of",
    "since", "before" or "after".
    """
    ref = ref if ref.tzinfo else ref.replace(tzinfo=timezone.utc)
    w = _When(question.lower(), ref, _day(ref), ref.tzinfo)
    for matcher in _TIME_MATCHERS:
        found = matcher(w)
        if found is not None:
            tr, m = found
            return tr, (question[:m.start()] + " " + question[m.end():]).strip()
    return None, question


# -- question type ------------------------------------------------------------------
def question_type(question: str) -> str:
    """``when`` | ``name`` | ``who`` | ``where`` | ``howmany`` | ``why`` | ``yesno`` | ``what``."""
    q = question.lower().strip()
    if re.search(r"\b(when|what (?:date|day|year|month|time)|which (?:date|day|year|month)|"
                 r"how long ago|since when)\b", q):
        return "when"
    if re.search(r"\b(?:name|named|called)\b", q) and not re.match(r"who\b", q):
        return "name"
    if re.search(r"\bhow (?:many|much|old|long|far)\b", q):
        return "howmany"
    if re.search(r"\b(?:who|whom|whose|with whom)\b", q):
        return "who"
    if re.search(r"\bwhere\b", q):
        return "where"
    if re.search(r"\bwhy\b", q):
        return "why"
    if re.match(r"(?:is|are|was|were|did|does|do|has|have|had|can|could|will|would|should)\b", q):
        return "yesno"
    return "what"


# -- names ---------------------------------------------------------------------------
@dataclass
class NameIndex:
    """Known people and things: canonical name → lower-case words that refer to it."""

    names: dict[str, set[str]] = field(default_factory=dict)

    def add(self, name: str, aliases: Iterable[str] = ()) -> None:
        name = (name or "").strip()
        if not name:
            return
        keys = self.names.setdefault(name, set())
        for n in [name, *aliases]:
            toks = tokens(n)
            if not toks:
                continue
            keys.add(" ".join(toks))
            if len(toks) > 1 and toks[0] not in STOP_WORDS and len(toks[0]) > 2:
                keys.add(toks[0])  # first name alone: "Anna" for "Anna Schmidt"


def match_names(question: str, index: NameIndex) -> list[str]:
    """Canonical names whose name, alias or first name occurs in ``question``."""
    toks = tokens(question)
    text = " " + " ".join(toks) + " "
    found = []
    for name, keys in index.names.items():
        for k in keys:
            if k and k not in STOP_WORDS and f" {k} " in text:
                found.append(name)
                break
    return found


@dataclass
class ParsedQuery:
    """A question taken apart for search."""

    text: str
    terms: list[str]
    time: Optional[TimeRange] = None
    qtype: str = "what"
    names: list[str] = field(default_factory=list)
    about_me: bool = False

    @property
    def fts(self) -> Optional[str]:
        return fts_query(self.terms)


_ME = re.compile(r"\b(i|me|my|mine|myself|i'm|i've|i'd)\b", re.I)


def parse_query(question: str, ref: datetime, names: Optional[NameIndex] = None) -> ParsedQuery:
    """Parse ``question`` into terms, time range, question type and named people."""
    time_range, rest = parse_time(question, ref)
    terms = content_terms(rest)
    if not terms:  # "what did she say?" — better some words than none
        terms = [t for t in tokens(rest) if t not in STOP_WORDS][:8]
    found = match_names(question, names) if names else []
    return ParsedQuery(text=question, terms=terms, time=time_range,
                       qtype=question_type(question), names=found,
                       about_me=bool(_ME.search(question)))
