"""The model-free reader: a short typed answer from the numbered sources, with citations.

Steps (each a function, tested on the labelled files in ``tests/fixtures/recall/answers``):

1. every sentence of the sources is scored (:func:`read_sentences`): the IDF-weighted share
   of the question's words it contains (the predicate's verbs count double; words of the
   rest of its message and of the two messages before it count half — "my sister Joanna"
   / "she works nights"), the source's rank, whether it is *about* the person the
   question names (a message by Tom saying "I…", a message to Tom saying "you…", or one
   naming Tom — not just calling him: "Tom!! guess what"), whether it answers a question
   the other person just asked ("which photo?" / "the northern lights one"), whether it
   holds a span of the wanted type, and whether its date falls in the question's range;
2. spans of the wanted type (:mod:`.qtypes`, :mod:`.spans`) are read from the best
   sentences and scored by the sentence and by their closeness to the words the question
   shares with the sentence; words the question already says are not an answer;
3. the best span is the answer ("Paris [1]"); lists gather spans across sources; counts
   of events count the sources; yes/no and "would X likely" questions read the polarity
   of the best sentence; "why"/"how" questions take the clause of the best sentence the
   question does not already say. The sentence a span came from is the citation's
   ``quote``: it is shown as the cited source, not as the answer;
4. only when no span of the wanted type is found is the best sentence the answer.

The answer text uses the sources' own numbers; :func:`read` returns them with it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Optional

from ..memory.timeparse import find_dates
from . import spans as sp
from .qtypes import PERSON_NOUNS, PLACE_NOUNS, QuestionSpec
from .query import STOP_WORDS, TimeRange, fmt_date, tokens
from .spans import stem

_FIRST = re.compile(r"\b(?:i|i'm|i've|i'll|i'd|im|ive|me|my|mine|myself|we|we're|we've|our|"
                    r"ours|us)\b", re.I)
_SECOND = re.compile(r"\b(?:you|your|you're|youre|yours|yourself|u|ur)\b", re.I)
_NEG = re.compile(r"\b(?:not|never|no|nope|nah|don't|dont|didn't|didnt|doesn't|doesnt|can't|"
                  r"cant|won't|wont|isn't|isnt|wasn't|wasnt|haven't|havent|hasn't|hasnt|"
                  r"couldn't|wouldn't|nothing|neither|nor|without)\b", re.I)
_NEG_CUES = re.compile(r"\b(?:hate[sd]?|dislike[sd]?|quit|quitting|enough|stopp?ed|gave up|"
                       r"give up|afraid|scared|refuse[sd]?|tired of|sick of|leaving|"
                       r"rather|instead|not for me|no longer|allergic|can't stand|"
                       r"failed|too \w+)\b", re.I)


#: how much more the question's verbs count than its other words ("work" in "where does
#: her sister work?")
VERB_WEIGHT = 1.5
#: how a sentence's share of the question's words turns into its score (sharper > 1)
MATCH_POWER = 1.0


@dataclass
class Sent:
    """One sentence of one source, scored against the question."""

    text: str
    src: object                 # answer.Source
    match: float = 0.0          # IDF-weighted share of question terms found (0..1)
    hits: list[int] = field(default_factory=list)   # char offsets of the shared words
    about: set[str] = field(default_factory=set)    # people the sentence is about
    involves: Optional[bool] = None  # about the question's people? None: no one named
    in_time: Optional[bool] = None
    score: float = 0.0
    prev: str = ""              # the sentence before it in the same source
    next: str = ""              # and the one after it


@dataclass
class Reading:
    """What the reader made of the sources."""

    text: str                   # the answer with [n] markers (the sources' numbers)
    cited: list[int]
    quotes: dict[int, str]      # source number → the sentence that supports the answer
    kind: str                   # span | list | count | polarity | clause | sentence | none
    atype: str = ""
    # whether each supporting sentence is about the person the question names (None:
    # no one named, or not said)
    involves: list = field(default_factory=list)


def _sentence_words(text: str) -> list[tuple[str, int, int, str]]:
    return [(w, a, b, stem(w)) for w, a, b in sp.words(text)]


# -- 1. sentences -------------------------------------------------------------------------
def _vocative(text: str, key: str) -> bool:
    """ "Marco!! guess what", "thanks, Marco": the name calls the person, it is not about
    them."""
    k = re.escape(key)
    return bool(re.match(r"\s*(?:hey|hi|hello|oh|omg|thanks|thank you|congrats|"
                         r"congratulations|yo|dear|morning|aww?)?[\s,]*" + k + r"\b\s*[!?,.]",
                         text, re.I) or
                re.search(r",\s*" + k + r"\s*[!?.]*\s*$", text, re.I))


def attribute(text: str, src, people: dict[str, set[str]]) -> set[str]:
    """The people ``text`` (a sentence of ``src``) is about: its speaker when it says "I",
    the other participant when it says "you", and anyone it names (not merely calls).
    ``people`` maps a canonical name to its lower-case name words."""
    about: set[str] = set()
    low = " " + " ".join(tokens(text)) + " "
    for name, keys in people.items():
        for k in keys:
            if f" {k} " in low and not _vocative(text, k):
                about.add(name)
                break
    speaker = getattr(src, "speaker", None)
    if getattr(src, "kind", "") == "message" and speaker:
        if _FIRST.search(text):
            about.add(speaker)
        if _SECOND.search(text):
            others = [p for p in getattr(src, "participants", []) if p != speaker]
            if len(others) == 1:
                about.add(others[0])
        if not about and _DROPPED_SUBJECT.match(text):
            about.add(speaker)  # "went to the beach with the kids today": the speaker
    return about


_DROPPED_SUBJECT = re.compile(r"\s*(?:just\s+|finally\s+|also\s+|then\s+)?(?:went|got|had|did|"
                              r"made|took|saw|met|ran|started|finished|bought|tried|spent|"
                              r"visited|booked|signed|joined|adopted|painted|moved|came|"
                              r"am|was|been|going|heading|off to|back from)\b", re.I)


def _event_ts(sent: str, src) -> Optional[float]:
    ts = getattr(src, "ts", None)
    if ts is None:
        return None
    found = _dates_in(sent, src)
    if found:
        d = found[0].start
        return datetime(d.year, d.month, d.day, 12, tzinfo=timezone.utc).timestamp()
    return ts


def _dates_in(sent: str, src) -> list:
    ref = getattr(src, "timestamp", None)
    if ref is None and getattr(src, "ts", None) is not None:
        ref = datetime.fromtimestamp(src.ts, tz=timezone.utc)
    if ref is None:
        return []
    try:
        return find_dates(sent, ref)
    except Exception:  # a malformed timestamp must never break an answer
        return []


def _has_type(spec: QuestionSpec, text: str) -> bool:
    """Whether ``text`` holds a span of the kind ``spec`` wants (cheap checks)."""
    t = spec.atype
    if t == "howmuch":
        return bool(sp.amounts(text))
    if t == "howlong":
        return bool(sp.durations(text))
    if t == "howoften":
        return bool(sp.habits(text))
    if t == "howmany":
        return bool(re.search(r"\d|\b(?:" + "|".join(sp.NUM_WORDS) + r")\b", text, re.I))
    if t == "when" and spec.granularity == "time":
        return bool(sp.clock_times(text))
    if t == "where":
        return bool(sp.places(text))
    if t == "why":
        return bool(sp.reasons(text))
    if t == "name":
        return bool(re.search(r"\b(?:called|named|name is|name's)\s+[\"“]?[A-Z]", text))
    return False


def _replies_to(spec_terms: set[str], src) -> bool:
    """The source answers a question the other person just asked that shares the
    question's words ("which photo?" → "the northern lights one")."""
    items = getattr(src, "context_items", None) or []
    if not items:
        return False
    last = items[-1]
    if last.get("speaker") == getattr(src, "speaker", None) or "?" not in (last.get("text") or ""):
        return False
    return bool({stem(w) for w in tokens(last.get("text") or "")} & spec_terms)


def read_sentences(spec: QuestionSpec, sources: list, idf: dict[str, float],
                   people: dict[str, set[str]], time: Optional[TimeRange] = None) -> list[Sent]:
    """Every sentence of ``sources`` scored against ``spec`` (best first)."""
    from .answer import sentences

    terms = [t for t in spec.terms if t not in STOP_WORDS]
    default = max(idf.values(), default=3.0) or 3.0
    weights = {t: max(0.3, idf.get(t, default)) * (VERB_WEIGHT if t in spec.verbs else 1.0)
               for t in terms}
    total = sum(weights.values()) or 1.0
    spec.weights = weights
    qstems = {stem(t): t for t in terms}
    asked = set(spec.names)
    out: list[Sent] = []
    for rank, src in enumerate(sources):
        prior = 1.0 / (1.0 + 0.12 * rank)
        ctx = {stem(w) for w in tokens(getattr(src, "context", "") or "")}
        outside = _foreign(src, asked, people)
        reply = 1.25 if _replies_to(set(qstems), src) else 1.0
        sents = sentences(src.text)
        own = [{stem(w) for w in tokens(x)} for x in sents]
        for i, text in enumerate(sents):
            ws = _sentence_words(text)
            found: dict[str, int] = {}
            for _w, a, _b, s in ws:
                t = qstems.get(s)
                if t is not None and t not in found:
                    found[t] = a
            near = ctx.union(*(o for j, o in enumerate(own) if j != i))
            m = sum(weights[t] for t in found) / total
            m += 0.5 * sum(weights[t] for t in terms if t not in found and stem(t) in near) / total
            sent = Sent(text, src, match=min(1.0, m), hits=sorted(found.values()),
                        prev=sents[i - 1] if i else "",
                        next=sents[i + 1] if i + 1 < len(sents) else "")
            sent.about = attribute(text, src, people)
            if asked and not spec.about_relative:
                if sent.about:
                    sent.involves = bool(sent.about & asked)
                elif outside:
                    sent.involves = False
                    sent.about = {src.speaker} if getattr(src, "speaker", None) else set()
            if time is not None:
                sent.in_time = time.contains(_event_ts(text, src))
            mult = {True: 1.0, None: 0.8, False: 0.5}[sent.involves]
            tmult = {True: 1.25, None: 1.0, False: 0.75}[sent.in_time]
            short = 0.6 if len(ws) < 3 else 1.0
            question = 0.7 if text.rstrip().endswith("?") else 1.0
            typed = 1.3 if _has_type(spec, text) else 1.0
            sent.score = (sent.match ** MATCH_POWER + 0.02) * prior * mult * tmult * short \
                * question * typed * reply
            out.append(sent)
    out.sort(key=lambda s: -s.score)
    return out


def _foreign(src, asked: set[str], people: dict[str, set[str]]) -> bool:
    """A message of a conversation none of the asked people take part in."""
    parts = getattr(src, "participants", None)
    if not asked or not parts or getattr(src, "kind", "") != "message":
        return False
    return not (set(parts) & asked)


# -- 2. typed spans ---------------------------------------------------------------------
@dataclass
class Candidate:
    text: str          # the answer as shown (a span, or a resolved date)
    sent: Sent
    score: float
    key: str = ""      # normalised text, to merge the same answer from several sources


def _closeness(span: sp.Span, sent: Sent) -> float:
    if not sent.hits:
        return 0.5
    d = min(min(abs(span.start - h), abs(span.end - h)) for h in sent.hits)
    after = any(0 <= span.start - h <= 40 for h in sent.hits)
    return min(1.0, (1.0 / (1.0 + d / 25.0)) * (1.15 if after else 1.0))


def _asked_words(spec: QuestionSpec) -> set[str]:
    return {stem(t) for t in tokens(spec.text)}


def _new_part(text: str, asked: set[str]) -> float:
    """Share of a span's content words the question does not already say."""
    toks = [t for t in tokens(text) if t not in STOP_WORDS]
    if not toks:
        return 0.0
    return sum(1 for t in toks if stem(t) not in asked) / len(toks)


_N_AGO = re.compile(r"\b(\w+)\s+(day|week)s?\s+ago\b", re.I)


def _fmt_resolved(r, granularity: str) -> str:
    if granularity == "year":
        return str(r.start.year)
    if granularity == "month" and r.granularity in ("day", "weekend", "week", "month"):
        return f"{r.start.strftime('%B')} {r.start.year}"
    if r.granularity == "day":
        return fmt_date(r.start)
    return r.bare()


def _ago_day(text: str, src) -> Optional[date]:
    """ "two weeks ago" written on 16 October 2022 → 2 October 2022 (the day, not the
    week: a person counts back from the day they said it)."""
    m = _N_AGO.search(text)
    if not m or getattr(src, "ts", None) is None:
        return None
    n = sp.NUM_WORDS.get(m.group(1).lower()) or (int(m.group(1)) if m.group(1).isdigit()
                                                 else (1 if m.group(1).lower() in ("a", "an")
                                                       else None))
    if n is None:
        return None
    day = datetime.fromtimestamp(src.ts, tz=timezone.utc).date()
    return day - timedelta(days=n * (7 if m.group(2).lower() == "week" else 1))


def _written(sent: Sent, granularity: str) -> Optional[str]:
    ts = getattr(sent.src, "ts", None)
    if ts is None:
        return None
    d = datetime.fromtimestamp(ts, tz=timezone.utc)
    if granularity == "year":
        return str(d.year)
    if granularity == "month":
        return f"{d.strftime('%B')} {d.year}"
    return fmt_date(d)


def when_candidates(spec: QuestionSpec, sents: list[Sent]) -> list[Candidate]:
    """Dates (relative phrases resolved against the message's own date), clock times and
    habits; the message's date when the best sentence names none."""
    out: list[Candidate] = []
    for s in sents:
        if spec.granularity == "time":
            for t in sp.clock_times(s.text):
                out.append(Candidate(t.text, s, s.score * (0.6 + 0.4 * _closeness(t, s))))
            continue
        if spec.habitual:
            for h in sp.habits(s.text):
                txt = re.sub(r"^on\s+", "", h.text, flags=re.I)
                out.append(Candidate(txt, s, s.score * 1.1 * (0.6 + 0.4 * _closeness(h, s))))
        found = _dates_in(s.text, s.src)
        for r in found:
            span = sp.Span(r.text, r.span[0], r.span[1], "date")
            ago = _ago_day(r.text, s.src) if spec.granularity == "day" else None
            text = fmt_date(ago) if ago else _fmt_resolved(r, spec.granularity)
            out.append(Candidate(text, s, s.score * (0.75 + 0.25 * _closeness(span, s))))
        ctx_date = _context_date(s) if not found else None
        if ctx_date is not None:
            out.append(Candidate(_fmt_resolved(ctx_date, spec.granularity), s, s.score * 0.8))
        written = _written(s, spec.granularity)
        if written:
            out.append(Candidate(written, s, s.score * 0.6))
    return out


def _context_date(s: Sent):
    """A relative date said just before by the same speaker ("guess where I was
    yesterday" / "I went to a baking course in Lyon"), or earlier in the message."""
    if s.prev:
        found = _dates_in(s.prev, s.src)
        if found:
            return found[0]
    prev = getattr(s.src, "context_items", None) or []
    for item in reversed(prev[-2:]):
        if item.get("speaker") != getattr(s.src, "speaker", None):
            continue
        try:
            found = find_dates(item.get("text", ""), item.get("timestamp"))
        except Exception:
            found = []
        if found:
            return found[0]
    return None


def _strip_asked(text: str, asked: set[str], *, keep_focus: set[str] = frozenset()) -> str:
    """Drop leading/trailing words the question already says (and determiners)."""
    toks = text.split()

    def known(w: str) -> bool:
        lw = w.lower().strip(",.!?")
        return (lw in STOP_WORDS or lw in sp.DETERMINERS or lw in sp.FILLERS or
                (stem(lw) in asked and stem(lw) not in keep_focus))
    while toks and known(toks[0]):
        toks = toks[1:]
    while toks and known(toks[-1]):
        toks = toks[:-1]
    return " ".join(toks).strip(" ,.;:")


_TITLED = frozenset("""
book books novel band bands song songs movie movies film films show shows series game games
journal magazine orchestra school university college company team restaurant app album
artist artists author painting play musical podcast brand shop store club gallery symphony
mountain river lake
""".split())
_JUNK = re.compile(r"^(?:\d+(?:st|nd|rd|th)|first|second|third|last|next|new|old|own|other|"
                   r"same|whole|big|little|good|great|best|lot|lots|bit|thing|things|stuff|"
                   r"way|kind|sort|one|ones|time|times|day|today|guess|news|ok|okay|oh|"
                   r"really|well|going|fun|nice|cool)$", re.I)


def typed_spans(spec: QuestionSpec, s: Sent, known_people: set[str]) -> list[sp.Span]:
    """Spans of ``s`` of the kind ``spec`` asks for (not yet scored)."""
    t = spec.atype
    text = s.text
    focus = set(spec.focus)
    if t in ("which", "what", "where", "who", "list", "kind", "name"):
        poll = sp.poll_answers(text)    # "which gym?" of a poll: the vote, not a guess
        if poll:
            return poll
    if t == "who" or spec.wants_person or (t == "list" and focus & PERSON_NOUNS):
        return sp.people(text, known_people)
    if t == "where" or (t == "list" and focus & PLACE_NOUNS):
        # a bare capitalised word ("Lisbon!") may be a place; one doing something ("Kat is
        # throwing me a party") is someone; places after "in/at/to …" come first
        return sp.places(text) + [
            sp.Span(c.text, c.start, c.end, c.kind, 0.7) for c in sp.capitalized(text)
            if c.weight >= 1.0 and not re.match(r"[\s,]+(?:is|was|has|had|says|said|and|so|"
                                                r"who|[a-z]+(?:ed|s))\b", text[c.end:])]
    if t == "howoften":
        return sp.habits(text)
    if t == "howlong":
        return sp.durations(text)
    if t == "howmuch":
        return sp.amounts(text) or [c for c in sp.counts(text) if c.weight >= 1.0]
    if t == "howmany":
        return sp.counts(text)
    if t == "name":
        called = re.search(r"\b(?:called|named|name is|name's|names? (?:him|her|it))\s+(.+)$",
                           text)
        asked_name = bool(re.search(r"\bnamed?\b|\bcalled\b",
                                    " ".join([s.prev, getattr(s.src, "context", "") or ""]),
                                    re.I))
        # an opener ("Pepper! she sleeps all day") is a name when it stands alone or
        # answers "name??"
        base = sp.quoted(text) + [
            c if c.weight >= 1.0 else sp.Span(c.text, c.start, c.end, c.kind, 0.9)
            for c in sp.capitalized(text)
            if c.weight >= 1.0 or asked_name or re.match(r"\s*(?:!|,|$)", text[c.end:])]
        if called:
            base = [sp.Span(b.text, b.start, b.end, b.kind, 1.2) for b in base
                    if b.start >= called.start(1)] + base
        return base
    if t == "kind":
        return _kind_spans(spec, text) + sp.objects_after(text, _verb_hits(spec, s))
    cats = {sp.CATEGORY_OF[f] for f in spec.focus if f in sp.CATEGORY_OF}
    if cats and t in ("which", "list", "what", "kind", "who"):
        got = [c for cat in cats for c in sp.category_spans(text, cat)]
        if got or t != "who":
            return got + (sp.objects_after(text, _verb_hits(spec, s)) if not got else [])
    if t in ("which", "list", "what"):
        caps = sp.quoted(text) + sp.capitalized(text)
        objs = sp.objects_after(text, _verb_hits(spec, s), keep_list=t == "list")
        return objs + caps + sp.chunks(text, keep_and=t == "list")
    return []


def _verb_hits(spec: QuestionSpec, s: Sent) -> list[int]:
    """End offsets of the question's verbs (and its last preposition: "about", "for")
    in ``s`` — what an object follows."""
    want = {stem(v) for v in spec.verbs} or {stem(w) for w in tokens(spec.text)
                                             if w in ("go", "get", "make", "have", "went",
                                                      "got", "made", "had")}
    tail = re.search(r"\b(about|for|with|to|from|of|like)\s*\?*\s*$", spec.text, re.I)
    out = []
    for w, _a, b, st in _sentence_words(s.text):
        if st in want or (tail and w.lower() == tail.group(1).lower()):
            out.append(b)
    return out


def _kind_spans(spec: QuestionSpec, text: str) -> list[sp.Span]:
    out: list[sp.Span] = []
    focus = {stem(f) for f in spec.focus}
    ws = sp.words(text)
    for i, (w, _a, b) in enumerate(ws):
        if stem(w) not in focus:
            continue
        j = i
        while j > 0 and not sp._boundary(ws[j - 1][0]) and ws[j - 1][0].lower() not in \
                sp.DEICTIC and not re.search(r"[,.;:!?]", text[ws[j - 1][2]:ws[j][1]]):
            j -= 1
        if j < i:
            out.append(sp.Span(text[ws[j][1]:b], ws[j][1], b, "chunk", 1.1))
    for c in sp.chunks(text):
        out.append(sp.Span(c.text, c.start, c.end, "chunk", 0.6))
    m = re.search(r"\b(?:it's|it is|she's|he's|they're|is|was|are)\s+(?:a|an|the)\s+"
                  r"((?:[a-z][\w-]*\s+){0,2}[a-z][\w-]*)", text, re.I)
    if m:
        out.append(sp.Span(m.group(1), m.start(1), m.end(1), "chunk", 0.6))
    return out


def span_candidates(spec: QuestionSpec, sents: list[Sent], known_people: set[str]
                    ) -> list[Candidate]:
    """Typed spans of the best sentences, scored (best first)."""
    asked = _asked_words(spec)
    keep = {stem(f) for f in spec.focus} if spec.atype == "kind" else set()
    subject_keys = {w.lower() for n in spec.names for w in n.split()}
    titled = spec.atype == "which" and bool(set(spec.focus) & _TITLED)
    # "where …", "the name of Marco's bakery": the people they know are no answer
    not_person = spec.atype == "where" or (
        spec.atype in ("name", "what", "which", "kind") and
        (bool(spec.focus) or spec.atype != "name") and not set(spec.focus) & PERSON_NOUNS)
    out: list[Candidate] = []
    for s in sents:
        cue = 1.0
        if spec.atype == "name":
            focus = "|".join(re.escape(f) for f in spec.focus) or "(?!)"
            cue = 1.5 if re.search(r"\b(?:called|named|name is|name's|names)\b|\b(?:" + focus +
                                   r")\s+(?:is|was)\s+(?:Dr\.?\s+)?[A-Z]", s.text, re.I) \
                else 0.7
        dates = [r.span for r in _dates_in(s.text, s.src)] if spec.atype not in (
            "howmany", "howlong", "howoften", "howmuch") else []
        # an argument of the question's verb: "works … at the hospital", not "visiting
        # from Denver"
        anchors = [b for _w, _a, b, st in _sentence_words(s.text)
                   if st in {stem(v) for v in spec.verbs}] if spec.verbs else []
        for span in typed_spans(spec, s, known_people):
            if any(a <= span.start < b or span.start <= a < span.end for a, b in dates):
                continue
            text = span.text.strip(" ,.;:!?\"'")
            if spec.atype not in ("howmany", "howmuch", "howlong", "howoften"):
                text = _strip_asked(text, asked, keep_focus=keep)
            if not text or _JUNK.match(text):
                continue
            if text.lower() in known_people and (_vocative(s.text, text) or not_person):
                continue  # "hey Ella! …" calls someone; a place or a shop is not a person
            new = _new_part(text, asked - keep)
            if spec.atype == "howmany":
                new = 1.0 if sp.number_value(text) is not None else 0.0
            if new <= 0.0:
                continue
            if spec.wants_person and text.lower() in subject_keys:
                continue
            if len(text.split()) > 12:
                continue
            rel_named = spec.wants_person and span.weight >= 1.0 and bool(
                re.match(r"(?:\w+\s+)?(?:" + "|".join(sp.RELATIONS) + r")\b", text.lower()))
            bonus = 1.0
            if titled:
                bonus = 1.25 if span.kind == "title" else 0.85
            if span.kind == "object":
                bonus *= 1.2
            length = 1.0 if len(text.split()) <= 5 else 0.8
            if spec.verbs and spec.atype in ("where", "who", "which", "what", "kind"):
                bonus *= 1.3 if any(0 <= span.start - e <= 60 for e in anchors) else 0.85
            score = s.score * span.weight * (0.45 + 0.55 * _closeness(span, s)) * new \
                * bonus * length * cue * (1.1 if rel_named else 1.0)
            out.append(Candidate(text, s, score, key=" ".join(tokens(text))))
    out.sort(key=lambda c: -c.score)
    return out


# -- 3. answers -------------------------------------------------------------------------
def _count_answer(spec: QuestionSpec, sents: list[Sent]) -> Optional[tuple[str, list[Sent]]]:
    """ "How many times …": the number of distinct events (sources on different days
    that match the question well and are about its person)."""
    if not sents:
        return None
    best = max(s.match for s in sents)
    nouns = [t for t in spec.terms if t not in spec.verbs]
    first = {stem(w) for w in tokens(sents[0].text)}
    key = max((t for t in nouns if stem(t) in first),
              key=lambda t: spec.weights.get(t, 0.0), default=None)
    events: list[Sent] = []
    days: set = set()
    for s in sents:
        if s.match < max(0.2, 0.5 * best) or s.involves is False:
            continue
        if key is not None and stem(key) not in {stem(w) for w in tokens(s.text)}:
            continue  # the event itself ("beach", "camping") must be in the sentence
        ts = _event_ts(s.text, s.src)
        day = None if ts is None else int(ts // 86400)
        if any(e.src.n == s.src.n for e in events) or (day is not None and day in days):
            continue
        events.append(s)
        if day is not None:
            days.add(day)
    if not events:
        return None
    n = len(events)
    times = re.search(r"\btimes\b", spec.text, re.I)
    words = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}
    if times:
        txt = {1: "once", 2: "twice"}.get(n, f"{words.get(n, n)} times")
    else:
        txt = str(words.get(n, n))
    return txt, events


def _polarity(spec: QuestionSpec, s: Sent) -> bool:
    """True for yes: the best sentence says it, without a negation or negative cue the
    question does not share."""
    q_neg = bool(_NEG.search(spec.text))
    neg = bool(_NEG.search(s.text)) or bool(_NEG_CUES.search(s.text))
    if neg and _NEG_CUES.search(spec.text) and not _NEG.search(s.text):
        neg = False
    return neg == q_neg


def _join(parts: list[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _list_answer(cands: list[Candidate]) -> tuple[str, list[Sent]]:
    if not cands:
        return "", []
    best = cands[0].score
    picked: list[Candidate] = []
    for c in cands:
        if c.score < 0.55 * best or len(picked) >= 5:
            break
        if any(c.key == p.key or c.key in p.key or p.key in c.key for p in picked):
            continue
        picked.append(c)
    if len(picked) > 1 and ("," in picked[0].text or " and " in picked[0].text):
        picked = [picked[0]] + [p for p in picked[1:] if p.sent.src.n != picked[0].sent.src.n]
    return _join([p.text for p in picked]), [p.sent for p in picked]


def _who_is(spec: QuestionSpec, sents: list[Sent]) -> Optional[tuple[str, Sent]]:
    """ "Who is Ruth?" → "Nadia's teacher" from "My teacher Ruth says …"."""
    m = re.match(r"\s*(?i:who)\s+(?i:is|was|'s)\s+([A-Z][\w'-]*(?:\s+[A-Z][\w'-]*)?)\s*\??\s*$",
                 spec.text)
    if not m:
        return None
    name = m.group(1)
    rel = "|".join(sorted(sp.RELATIONS | {"teacher", "boss"}))
    for s in sents[:6]:
        if name.lower() not in s.text.lower():
            continue
        pat = re.search(r"\b(my|our|her|his|their)\s+((?:[a-z]+\s+){0,2}?(?:" + rel + r"))\s*,?\s+"
                        + re.escape(name), s.text, re.I) or re.search(
            re.escape(name) + r",\s+(my|our|her|his|their)\s+((?:[a-z]+\s+){0,2}?(?:" + rel +
            r"))\b", s.text, re.I)
        if pat:
            owner = getattr(s.src, "speaker", None) if pat.group(1).lower() in ("my", "our") \
                else None
            what = pat.group(2)
            return (f"{owner}'s {what}" if owner else f"{pat.group(1).lower()} {what}"), s
    return None


_CLAUSE = re.compile(r"\s*(?:,|;|:|\s-\s|\band\b|\bbut\b|\bso\b|\bbecause\b|\bthat's why\b|"
                     r"\bwhich is why\b)\s*", re.I)


def _clause_answer(spec: QuestionSpec, sents: list[Sent]) -> Optional[tuple[str, Sent]]:
    """ "why"/"how": a reason span, else the clause of the best sentence that says the
    most the question does not ("the oven arrived broken")."""
    asked = _asked_words(spec)
    for s in sents[:3]:
        rs = [r for r in sp.reasons(s.text) if _new_part(r.text, asked) >= 0.5]
        if spec.atype == "why" and rs:
            best = max(rs, key=lambda r: r.weight)
            if best.weight >= 0.7:
                return best.text.strip(" ,.;"), s
    s = sents[0]
    parts = [p.strip(" ,.;:!?") for p in _CLAUSE.split(s.text) if p and p.strip()]
    if s.next and spec.atype == "how":
        parts.append(s.next.strip(" ,.;:!?"))  # "shoulder is sprained. at volleyball."
    parts = [p for p in parts if len([t for t in tokens(p) if t not in STOP_WORDS]) >= 2]
    if len(parts) < 2:
        return None
    best = max(parts, key=lambda p: (_new_part(p, asked), len(p)))
    if _new_part(best, asked) < 0.5:
        return None
    return best, s


def read(spec: QuestionSpec, sents: list[Sent], people: dict[str, set[str]]) -> Reading:
    """The typed answer to ``spec`` from the scored sentences of the sources
    (:func:`read_sentences`; see the module docstring)."""
    if not sents:
        return Reading("", [], {}, "none", spec.atype)
    top = sents[:8]
    known = {k for keys in people.values() for k in keys}
    t = spec.atype
    if t in ("yesno", "likely"):
        s = top[0]
        yes = _polarity(spec, s)
        if t == "likely" and yes:
            # an inference: any close source that speaks against it turns it
            for o in top[1:4]:
                if o.match >= 0.5 * s.match and not _polarity(spec, o):
                    yes, s = False, o
                    break
        word = ("Likely yes" if yes else "Likely no") if t == "likely" else ("Yes" if yes else "No")
        return _reading(word, [s], "polarity", t)
    if t == "howmany" and spec.count_events:
        explicit = [c for c in span_candidates(spec, top[:3], known)
                    if re.search(r"\btimes\b|\btwice\b|\bonce\b", c.text)]
        if explicit:
            return _reading(explicit[0].text, [explicit[0].sent], "span", t)
        got = _count_answer(spec, sents[:12])
        if got:
            return _reading(got[0], got[1], "count", t)
    if t == "who":
        got = _who_is(spec, top)
        if got:
            return _reading(got[0], [got[1]], "span", t)
    if t in ("why", "how"):
        got = _clause_answer(spec, top)
        if got:
            return _reading(got[0], [got[1]], "clause", t)
        return _sentence_answer(top, t)
    if spec.look_like:
        got = _looks(top, spec)
        if got:
            return _reading(got[0], [got[1]], "span", t)
    if t == "when":
        cands = when_candidates(spec, top[:4])
    else:
        cands = span_candidates(spec, top, known)
        if t == "who" and not cands:
            cands = _people_before(spec, top[:3], known)
    if t == "howmany" and cands:
        cands = [_number_only(c, spec) for c in cands]
    if t == "list" and cands:
        text, used = _list_answer(cands)
        if text:
            return _reading(text, used, "list", t)
    if cands:
        best = max(cands, key=lambda c: c.score)
        if best.score >= 0.15 * top[0].score or t == "when":
            return _reading(best.text, [best.sent], "span", t)
    if t == "name":
        # a name was asked for and the sources name nothing: they do not know it
        return Reading("", [], {}, "none", t)
    return _sentence_answer(top, t)


def _looks(top: list[Sent], spec: QuestionSpec) -> Optional[tuple[str, Sent]]:
    """ "What does the mug look like?" → "blue with little white dots" (a description
    right after the thing is named)."""
    want = {stem(t) for t in spec.terms}
    for s in sorted(top, key=lambda x: -x.score):
        here = {stem(w) for w in tokens(s.text)} | {stem(w) for w in tokens(s.prev)}
        if not here & want:
            continue
        m = re.search(r"\b(?:it's|it is|it was|looks|look|she's|he's|they're|is)\s+(?!a\b|an\b|"
                      r"so\b|really\b|very\b)([a-z][^.!?;]{2,60})", s.text, re.I)
        if m:
            return m.group(1).strip(" ,"), s
    return None


def _people_before(spec: QuestionSpec, top: list[Sent], known: set[str]) -> list[Candidate]:
    """ "She's doing all the accounting": the person is in the sentence before."""
    out = []
    for s in top:
        if not s.prev or not re.match(r"\s*(?:she|he|they)\b", s.text, re.I):
            continue
        prev = Sent(s.prev, s.src, s.match, [], s.about, s.involves, s.in_time, s.score * 0.9)
        out += span_candidates(spec, [prev], known)
    return out


def _number_only(c: Candidate, spec: QuestionSpec) -> Candidate:
    """ "240 loaves" → "240" when the question already says "loaves"."""
    parts = c.text.split()
    if len(parts) > 1 and sp.number_value(c.text) is not None:
        rest = [w for w in parts[1:] if stem(w) not in _asked_words(spec)]
        if not rest or spec.age:
            return Candidate(parts[0], c.sent, c.score, c.key)
    return c


def _reading(text: str, used: list[Sent], kind: str, atype: str) -> Reading:
    nums: list[int] = []
    quotes: dict[int, str] = {}
    for s in used:
        if s.src.n not in nums:
            nums.append(s.src.n)
            quotes[s.src.n] = s.text
    marks = "".join(f"[{n}]" for n in nums)
    return Reading(f"{text} {marks}".strip(), nums, quotes, kind, atype,
                   [s.involves for s in used])


def _sentence_answer(top: list[Sent], atype: str) -> Reading:
    """The fallback: the best sentence (plus, for list-like questions, up to two more
    from other sources scoring nearly as well)."""
    best = top[0]
    parts = [best]
    if atype in ("list", "what", "which"):
        for s in top[1:]:
            if len(parts) >= 3 or s.score < 0.75 * best.score or best.match < 0.3:
                break
            if all(s.src.n != p.src.n for p in parts):
                parts.append(s)
    pieces = []
    quotes = {}
    for s in parts:
        text = s.text.strip()
        if len(text) > 300:
            text = text[:297].rsplit(" ", 1)[0] + "…"
        pieces.append(f"{text} [{s.src.n}]")
        quotes[s.src.n] = s.text
    return Reading(" ".join(pieces), [p.src.n for p in parts], quotes, "sentence", atype,
                   [p.involves for p in parts])
