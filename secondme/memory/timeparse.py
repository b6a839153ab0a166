"""Relative dates resolved against the moment a message was written.

"I moved to Berlin last month", written on 2023-05-10, means April 2023. This module
finds such expressions in a sentence and resolves them against the message's timestamp
*in the writer's own time zone* (a message sent at 00:30 on 1 January in Berlin says
"yesterday" about 31 December, whatever UTC thinks).

Supported (case-insensitive): today, tonight, this morning/afternoon/evening, yesterday,
last night, tomorrow, the day before yesterday / after tomorrow; weekdays alone or with
last/this/next/on; last/this/next week, weekend, month, year; "N days/weeks/months/years
ago" and "in N days/weeks/months" (N as digits, words up to twenty, "a", "a couple of");
month names with or without a day and a year ("in March", "on 3 March", "March 3rd,
2021"); seasons ("last summer"); ISO dates; bare years ("in 2019").

Conventions (documented because people disagree):
- "last Saturday" is the most recent Saturday strictly before the message's day;
  "next Saturday" the first one strictly after; "this Saturday" the one on or after.
- a bare weekday or month ("on Saturday", "in March") is read by the sentence's tense:
  past tense → the most recent one (on or before), otherwise the coming one (on or after).
- weeks run Monday to Sunday; a weekend is that week's Saturday and Sunday; seasons are
  northern-hemisphere meteorological (summer = June–August; winter = December–February,
  named by the year its December falls in).

The result carries the span matched, the resolved range and a granularity so callers
can write "on 6 May 2023", "in April 2023" or "in the week of 1 May 2023".
"""
from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Callable, Optional

WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august",
          "september", "october", "november", "december"]
MONTH_ABBR = {m[:3]: i + 1 for i, m in enumerate(MONTHS)}
MONTH_ABBR["sept"] = 9
NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
    "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17,
    "eighteen": 18, "nineteen": 19, "twenty": 20, "a couple of": 2, "a couple": 2,
    "couple of": 2, "a few": 3, "few": 3,
}
SEASONS = {"spring": (3, 5), "summer": (6, 8), "autumn": (9, 11), "fall": (9, 11),
           "winter": (12, 2)}

_WD = "|".join(WEEKDAYS)
_MON = ("january|february|march|april|may|june|july|august|september|october|november|"
        "december|jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec")
_NUM = (r"\d{1,3}|a couple of|a couple|couple of|a few|an|a|one|two|three|four|five|six|"
        r"seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|"
        r"eighteen|nineteen|twenty")
_UNIT = r"days?|weeks?|months?|years?"
_ORD = r"(\d{1,2})(?:st|nd|rd|th)?"

# Order matters: longer, more specific patterns first; spans never overlap.
_PATTERNS: list[tuple[str, re.Pattern]] = [(name, re.compile(rx, re.I)) for name, rx in [
    ("iso", r"\b(\d{4})-(\d{2})-(\d{2})\b"),
    ("day_before_yesterday", r"\bthe day before yesterday\b"),
    ("day_after_tomorrow", r"\bthe day after tomorrow\b"),
    ("month_day", rf"\b(?:on\s+)?(?:(?:{_WD}),?\s+)?(?:the\s+)?({_MON})\.?\s+{_ORD}\b"
                  rf"(?:,?\s+(\d{{4}}))?"),
    ("day_range", rf"\b(?:from\s+|on\s+)?(?:the\s+)?{_ORD}\s*(?:[–—-]|to|until)\s*{_ORD}\s+"
                  rf"(?:of\s+)?({_MON})\b"
                  rf"(?:,?\s+(\d{{4}}))?"),
    ("day_month", rf"\b(?:on\s+)?(?:(?:{_WD}),?\s+)?(?:the\s+)?{_ORD}\s+(?:of\s+)?({_MON})\b"
                  rf"\.?(?:,?\s+(\d{{4}}))?"),
    # "on the 27th", "by the 5th": a day of this month or the next (the last, in the past)
    ("nth", r"(?:(?<=\bon )|(?<=\bby )|(?<=\buntil )|(?<=\btill )|(?<=\bfrom )|"
            r"(?<=\bsince )|(?<=\bbefore )|(?<=\bafter ))the\s+(\d{1,2})(?:st|nd|rd|th)\b"),
    ("ago", rf"\b({_NUM})\s+({_UNIT})\s+ago\b"),
    ("in_n", rf"\bin\s+({_NUM})\s+({_UNIT})(?:'?s?\s+time)?\b"),
    ("rel_weekday", rf"\b(last|this|next|this coming|coming)\s+({_WD})\b"),
    ("rel_period", r"\b(last|this|next|past|previous|coming)\s+(week|weekend|month|year)\b"),
    ("rel_season", r"\b(last|this|next)\s+(spring|summer|autumn|fall|winter)\b"),
    ("season_year", r"\b(?:in\s+)?(?:the\s+)?(spring|summer|autumn|fall|winter)\s+"
                    r"(?:of\s+)?(\d{4})\b"),
    ("month_year", rf"\b(?:in\s+)?({_MON})\.?\s+(\d{{4}})\b"),
    ("in_month", rf"\b(in|since|during|until|by|from|early|late|mid|end of|beginning of)\s+"
                 rf"({_MON})\b(?!\s+\d)"),
    ("weekday", rf"\b(?:on\s+)?({_WD})s?\b"),
    ("year", r"\b(in|since|during|until|by|from|of)\s+((?:19|20)\d{2})\b"),
    ("yesterday", r"\byesterday\b|\blast night\b"),
    ("today", r"\btoday\b|\btonight\b|\bthis (?:morning|afternoon|evening)\b|\bearlier today\b"),
    ("tomorrow", r"\btomorrow\b"),
]]

_PAST_MARKERS = re.compile(
    r"\b(was|were|had|did|went|got|made|came|saw|met|took|left|moved|started|finished|"
    r"bought|found|told|said|ate|drove|flew|visited|ago|last|yesterday|already|"
    r"became|began|gave|won|lost|spent|sold|wrote|ran)\b", re.I)
# "-ed" words count as past unless they are participles after be/get ("is excited",
# "getting married")
_WEAK_PAST = re.compile(r"(?<!\bis )(?<!\bam )(?<!\bare )(?<!\bbe )(?<!\bget )(?<!\bgetting )"
                        r"(?<!'m )(?<!'re )(?<!'s )(?<!\bbeen )\b[a-z]{3,}ed\b", re.I)
_FUTURE_MARKERS = re.compile(
    r"\b(will|'ll|shall|going to|gonna|plan|plans|planning|planned to|next|tomorrow|"
    r"want to|wants to|hope to|hoping to|intend|can't wait|cannot wait|looking forward|"
    r"about to|upcoming|soon|booked|scheduled|(?:is|am|are|'m|'re|'s) (?:\w+ly )?"
    r"(?:getting|going|leaving|flying|starting|moving|meeting|seeing|visiting|having|"
    r"coming|travell?ing|driving|taking|doing|playing|celebrating|running))\b", re.I)
_STRONG_FUTURE = re.compile(r"\b(will|'ll|going to|gonna|next|tomorrow|upcoming|"
                            r"(?:is|am|are|'m|'re|'s) (?:\w+ly )?\w+ing)\b", re.I)


@dataclass(frozen=True)
class ResolvedDate:
    """A date expression found in text and the absolute range it stands for."""

    start: date
    end: date                 # inclusive
    granularity: str          # day | weekend | week | month | season | year
    text: str                 # the expression as written
    span: tuple[int, int]     # character offsets in the sentence
    absolute: bool = False    # the text already named the date (no rewrite needed)

    def bare(self) -> str:
        """The range in words without a preposition: "6 May 2023", "April 2023"."""
        s = self.start
        if self.granularity == "day":
            return (f"{WEEKDAYS[s.weekday()].capitalize()}, {s.day} "
                    f"{MONTHS[s.month - 1].capitalize()} {s.year}")
        if self.granularity == "days":          # "22–26 March 2024"
            e = self.end
            if (e.year, e.month) == (s.year, s.month):
                return f"{s.day}–{e.day} {MONTHS[s.month - 1].capitalize()} {s.year}"
            return (f"{s.day} {MONTHS[s.month - 1].capitalize()} {s.year} – {e.day} "
                    f"{MONTHS[e.month - 1].capitalize()} {e.year}")
        if self.granularity == "weekend":
            return f"the weekend of {s.day} {MONTHS[s.month - 1].capitalize()} {s.year}"
        if self.granularity == "week":
            return f"the week of {s.day} {MONTHS[s.month - 1].capitalize()} {s.year}"
        if self.granularity == "month":
            return f"{MONTHS[s.month - 1].capitalize()} {s.year}"
        if self.granularity == "season":
            name = {3: "spring", 6: "summer", 9: "autumn", 12: "winter"}[s.month]
            return f"{name} {s.year}"
        return str(s.year)

    def phrase(self) -> str:
        """The range with its natural preposition: "on Saturday, 6 May 2023", "in April 2023"."""
        if self.granularity in ("day", "weekend"):
            return "on " + self.bare()
        if self.granularity == "days":
            return "from " + self.bare().replace("–", " to ", 1)
        return "in " + self.bare()

    def iso(self) -> str:
        """The first day of the range as YYYY-MM-DD (what valid_from stores)."""
        return self.start.isoformat()


def local_date(ts: datetime | str | None) -> Optional[date]:
    """The calendar day of ``ts`` in its own time zone (ISO strings are parsed)."""
    if ts is None:
        return None
    if isinstance(ts, str):
        try:
            ts = datetime.fromisoformat(ts.replace("Z", "+00:00"))
        except ValueError:
            return None
    return ts.date()


def tense(sentence: str) -> str:
    """``past``, ``future`` or ``unknown``: a cheap reading of a sentence's tense."""
    fut = _FUTURE_MARKERS.search(sentence)
    past = _PAST_MARKERS.search(sentence) or _WEAK_PAST.search(sentence)
    if fut and not past:
        return "future"
    if past and not fut:
        return "past"
    if fut and past:
        # "I booked a flight for next Friday", "she is getting married in June": a
        # future-only construction wins
        return "future" if _STRONG_FUTURE.search(sentence) else "past"
    return "unknown"


def _num(s: str) -> Optional[int]:
    s = s.lower().strip()
    if s.isdigit():
        return int(s)
    return NUMBER_WORDS.get(s)


def _month_num(s: str) -> int:
    s = s.lower().rstrip(".")
    if s in MONTHS:
        return MONTHS.index(s) + 1
    return MONTH_ABBR[s[:4] if s.startswith("sept") else s[:3]]


def _add_months(d: date, n: int) -> date:
    m = d.month - 1 + n
    y = d.year + m // 12
    m = m % 12 + 1
    return date(y, m, min(d.day, calendar.monthrange(y, m)[1]))


def _month_range(y: int, m: int) -> tuple[date, date]:
    return date(y, m, 1), date(y, m, calendar.monthrange(y, m)[1])


def _week_start(d: date) -> date:
    return d - timedelta(days=d.weekday())


def _season_range(name: str, year: int) -> tuple[date, date]:
    a, b = SEASONS[name]
    if name == "winter":
        return date(year, 12, 1), _month_range(year + 1, 2)[1]
    return date(year, a, 1), _month_range(year, b)[1]


def _season_of(d: date) -> tuple[str, int]:
    if d.month in (12, 1, 2):
        return "winter", d.year if d.month == 12 else d.year - 1
    for name in ("spring", "summer", "autumn"):
        a, b = SEASONS[name]
        if a <= d.month <= b:
            return name, d.year
    raise AssertionError(d)


_Resolved = Optional[tuple[date, date, str, bool]]   # start, end, granularity, absolute


def _day(d: date, absolute: bool = False) -> _Resolved:
    return d, d, "day", absolute


def _iso(g: tuple, ref: date, when: str) -> _Resolved:
    try:
        return _day(date(int(g[0]), int(g[1]), int(g[2])), True)
    except ValueError:
        return None


def _calendar_day(month: int, day: int, year: Optional[str], ref: date, when: str) -> _Resolved:
    """"3 March" / "March 3rd, 2021": the year named, else the one the tense points to."""
    if year:
        try:
            return _day(date(int(year), month, day), True)
        except ValueError:
            return None
    try:
        d = date(ref.year, month, day)
    except ValueError:
        return None
    if when == "unknown" and abs((d - ref).days) > 183:
        try:
            d = date(ref.year + (1 if d < ref else -1), month, day)
        except ValueError:
            return None
    if when == "past" and d > ref:
        d = date(ref.year - 1, month, day) if not (month == 2 and day == 29) else None
    elif when != "past" and d < ref and when == "future":
        d = date(ref.year + 1, month, day) if not (month == 2 and day == 29) else None
    return _day(d) if d is not None else None


def _month_day(g: tuple, ref: date, when: str) -> _Resolved:
    return _calendar_day(_month_num(g[0]), int(g[1]), g[2], ref, when)


def _day_month(g: tuple, ref: date, when: str) -> _Resolved:
    return _calendar_day(_month_num(g[1]), int(g[0]), g[2], ref, when)


def _day_range(g: tuple, ref: date, when: str) -> _Resolved:
    """"22–26 March", "from 10 to 14 June": the days of one month, the year as for a day."""
    last = _calendar_day(_month_num(g[2]), int(g[1]), g[3], ref, when)
    if last is None or not 1 <= int(g[0]) < int(g[1]):
        return None
    end = last[0]
    return end.replace(day=int(g[0])), end, "days", False


def _nth(g: tuple, ref: date, when: str) -> _Resolved:
    """"on the 27th": the next such day (today counts), or the last one when the sentence
    is in the past."""
    day = int(g[0])
    step = -1 if when == "past" else 1
    y, m = ref.year, ref.month
    for _ in range(3):
        try:
            d = date(y, m, day)
        except ValueError:
            d = None
        if d and (d >= ref if step > 0 else d <= ref):
            return _day(d)
        m += step
        y, m = (y + 1, 1) if m > 12 else (y - 1, 12) if m < 1 else (y, m)
    return None


def _shifted(ref: date, n: int, unit: str) -> _Resolved:
    """The day, week, month or year ``n`` units away from ``ref`` (n < 0: ago)."""
    if unit == "day":
        return _day(ref + timedelta(days=n))
    if unit == "week":
        d = _week_start(ref + timedelta(weeks=n))
        return d, d + timedelta(days=6), "week", False
    if unit == "month":
        d = _add_months(ref, n)
        a, b = _month_range(d.year, d.month)
        return a, b, "month", False
    return date(ref.year + n, 1, 1), date(ref.year + n, 12, 31), "year", False


def _ago(g: tuple, ref: date, when: str) -> _Resolved:
    n = _num(g[0])
    return None if n is None else _shifted(ref, -n, g[1].lower().rstrip("s"))


def _in_n(g: tuple, ref: date, when: str) -> _Resolved:
    n = _num(g[0])
    return None if n is None else _shifted(ref, n, g[1].lower().rstrip("s"))


def _rel_weekday(g: tuple, ref: date, when: str) -> _Resolved:
    rel, wd = g[0].lower(), WEEKDAYS.index(g[1].lower())
    delta = (wd - ref.weekday()) % 7
    if rel == "last":
        return _day(ref - timedelta(days=(ref.weekday() - wd) % 7 or 7))
    if rel == "next":
        return _day(ref + timedelta(days=delta or 7))
    return _day(ref + timedelta(days=delta))   # this / coming


def _rel_period(g: tuple, ref: date, when: str) -> _Resolved:
    rel, unit = g[0].lower(), g[1].lower()
    step = {"last": -1, "past": -1, "previous": -1, "this": 0, "next": 1, "coming": 1}[rel]
    if unit == "week":
        d = _week_start(ref) + timedelta(weeks=step)
        return d, d + timedelta(days=6), "week", False
    if unit == "weekend":
        sat = _week_start(ref) + timedelta(days=5)
        if rel == "coming" and ref <= sat + timedelta(days=1):
            step = 0
        d = sat + timedelta(weeks=step)
        return d, d + timedelta(days=1), "weekend", False
    if unit == "month":
        d = _add_months(ref.replace(day=1), step)
        a, b = _month_range(d.year, d.month)
        return a, b, "month", False
    y = ref.year + step
    return date(y, 1, 1), date(y, 12, 31), "year", False


def _rel_season(g: tuple, ref: date, when: str) -> _Resolved:
    rel, name = g[0].lower(), g[1].lower()
    name = "autumn" if name == "fall" else name
    cur_name, _ = _season_of(ref)
    # the occurrence of this season that contains or follows ref's season start
    a, b = _season_range(name, ref.year if name != "winter" else
                         (ref.year if ref.month == 12 else ref.year - 1))
    if rel == "this":
        if b < ref and name != cur_name:
            a, b = _season_range(name, a.year + 1)
    elif rel == "last":
        if a > ref or (a <= ref <= b):
            a, b = _season_range(name, a.year - 1)
    elif a <= ref:
        a, b = _season_range(name, a.year + 1)
    return a, b, "season", False


def _season_year(g: tuple, ref: date, when: str) -> _Resolved:
    name = "autumn" if g[0].lower() == "fall" else g[0].lower()
    a, b = _season_range(name, int(g[1]))
    return a, b, "season", True


def _month_year(g: tuple, ref: date, when: str) -> _Resolved:
    a, b = _month_range(int(g[1]), _month_num(g[0]))
    return a, b, "month", True


def _in_month(g: tuple, ref: date, when: str) -> _Resolved:
    month = _month_num(g[1])
    year = ref.year
    if when == "past" and month > ref.month:
        year -= 1
    elif when == "future" and month < ref.month:
        year += 1
    elif when == "unknown" and abs(month - ref.month) > 6:
        # no tense to go by: the nearest such month ("in January" said in December)
        year += 1 if month < ref.month else -1
    a, b = _month_range(year, month)
    return a, b, "month", False


def _weekday(g: tuple, ref: date, when: str) -> _Resolved:
    wd = WEEKDAYS.index(g[0].lower())
    if when == "past":
        return _day(ref - timedelta(days=(ref.weekday() - wd) % 7))
    return _day(ref + timedelta(days=(wd - ref.weekday()) % 7))


def _year(g: tuple, ref: date, when: str) -> _Resolved:
    y = int(g[1])
    return date(y, 1, 1), date(y, 12, 31), "year", True


def _days_from_ref(n: int) -> Callable[[tuple, date, str], _Resolved]:
    return lambda g, ref, when: _day(ref + timedelta(days=n))


#: pattern name → resolver(groups, reference day, tense)
_RESOLVERS: dict[str, Callable[[tuple, date, str], _Resolved]] = {
    "iso": _iso, "today": _days_from_ref(0), "yesterday": _days_from_ref(-1),
    "tomorrow": _days_from_ref(1), "day_before_yesterday": _days_from_ref(-2),
    "day_after_tomorrow": _days_from_ref(2), "month_day": _month_day,
    "day_month": _day_month, "day_range": _day_range, "nth": _nth, "ago": _ago, "in_n": _in_n,
    "rel_weekday": _rel_weekday,
    "rel_period": _rel_period, "rel_season": _rel_season, "season_year": _season_year,
    "month_year": _month_year, "in_month": _in_month, "weekday": _weekday, "year": _year,
}


def _resolve(kind: str, m: re.Match, ref: date, when: str) -> _Resolved:
    """The range the match of pattern ``kind`` stands for, read against ``ref``."""
    return _RESOLVERS[kind](m.groups(), ref, when)


def find_dates(sentence: str, ref: datetime | date | str | None,
               when: Optional[str] = None) -> list[ResolvedDate]:
    """Every date expression in ``sentence`` resolved against ``ref``, in text order.

    ``ref`` is the message's timestamp (aware datetime or ISO string; its own offset
    decides the calendar day) or a date. ``when`` (past|future|unknown) overrides the
    tense read from the sentence. Expressions that cannot be resolved are skipped.
    Returns [] when ``ref`` is None (relative dates then stay as written) except for
    absolute expressions.
    """
    ref_day = ref if isinstance(ref, date) and not isinstance(ref, datetime) else local_date(ref)
    if when is None:
        when = tense(sentence)
    taken: list[tuple[int, int]] = []
    out: list[ResolvedDate] = []
    for kind, rx in _PATTERNS:
        for m in rx.finditer(sentence):
            a, b = m.span()
            if any(a < y and x < b for x, y in taken):
                continue
            if kind == "weekday" and m.group(0).lower().endswith("s") and not \
                    m.group(1).lower().endswith("s"):
                continue  # "on Saturdays" is a habit, not a date
            if kind == "weekday" and re.search(r"\b(?:the|that|this|a|every|each|every other|"
                                               r"every second|alternate)\s*$",
                                               sentence[:a], re.I):
                continue  # "I'll take the Friday off": which Friday the chat knows, not us
            if kind == "in_n" and re.search(r"\b(?:first|last|only|best|worst|longest|"
                                            r"not|never|no)\b|n't\b", sentence[:a], re.I):
                continue  # "first time in nine years", "haven't seen her in years": a span
            mon_tok = {"month_day": 1, "day_month": 2, "in_month": 2, "month_year": 1,
                       "day_range": 2}.get(kind)
            if mon_tok and m.group(mon_tok) in ("may", "march") and kind != "in_month":
                continue  # lower-case "may"/"march" are verbs far more often than months
            if ref_day is None:
                if kind not in ("iso", "month_year", "season_year", "year"):
                    continue
                r = _resolve(kind, m, date(2000, 1, 1), when)
                if r is None or not r[3]:
                    continue
            else:
                r = _resolve(kind, m, ref_day, when)
            if r is None:
                continue
            start, end, gran, absolute = r
            span = (a, b)
            # keep a leading preposition out of the rewritten part so that it survives:
            # "since March" → "since March 2023", "early March" → "early March 2023"
            if kind in ("in_month", "year"):
                span = (m.start(2), b)
            elif kind == "month_year" and m.group(0).lower().startswith("in "):
                span = (m.start(1), b)
            text = sentence[span[0]:span[1]]
            taken.append((a, b))
            out.append(ResolvedDate(start, end, gran, text, span, absolute))
    out.sort(key=lambda r: r.span[0])
    return out


_PREPS = ("in", "on", "since", "until", "by", "from", "during", "before", "after",
          "till", "around", "of", "early", "late", "mid", "end of", "beginning of")


def rewrite_dates(sentence: str, ref: datetime | date | str | None,
                  when: Optional[str] = None) -> tuple[str, list[ResolvedDate]]:
    """``sentence`` with each relative date replaced by its absolute form.

    "I moved to Berlin last month" (ref 2023-05-10) → "I moved to Berlin in April 2023";
    "since March" → "since March 2023"; absolute dates are left as written.
    Returns (new sentence, resolved dates).
    """
    found = find_dates(sentence, ref, when)
    if not found:
        return sentence, found
    out = []
    pos = 0
    for r in found:
        a, b = r.span
        out.append(sentence[pos:a])
        if r.absolute:
            out.append(sentence[a:b])
        else:
            before = sentence[:a].rstrip().lower()
            has_prep = any(before.endswith(" " + p) or before == p for p in _PREPS)
            # "on Saturday": the pattern swallowed "on" — keep our own preposition
            stripped = r.text.lower()
            if stripped.startswith("on "):
                has_prep = False
            out.append(r.bare() if has_prep else r.phrase())
        pos = b
    out.append(sentence[pos:])
    return re.sub(r"\s{2,}", " ", "".join(out)), found
