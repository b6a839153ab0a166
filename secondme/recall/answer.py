"""Cited answers: citation markers that cannot be invented, grounding, extraction, abstention.

The pieces, each usable and testable on its own:

- :class:`CitationFilter` — sits between a model's token stream and whoever listens.
  It holds back anything that might be a ``[n]`` marker until the marker is complete,
  then lets through only numbers of sources actually given (``[7]`` with three sources
  is dropped; ``[2, 7]`` becomes ``[2]``). Nothing invalid ever reaches ``on_token`` or
  the final text: the final text *is* the concatenation of what the filter emitted.
- :func:`grounding` — how much of an answer's content (words, numbers) is supported by
  the sources it cites; a draft below :data:`GROUNDED_MIN` is replaced.
- :func:`extractive_answer` — the answer built from the sources themselves when the
  model is too weak (the embedded default) or its draft is not grounded: the date of the
  event for "when" questions (relative phrases like "yesterday" resolved against the
  message's own date), otherwise the sentence that best answers, with citations.
- :func:`evidence_strength` — a 0..1 score of how well the best sources cover the
  question; below ``settings.abstain_threshold`` secondme abstains.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Iterable, Optional

from ..memory.timeparse import find_dates
from .query import QUESTION_FRAME, STOP_WORDS, fmt_date, tokens

NO_MEMORY = "I have no memory of that."
GROUNDED_MIN = 0.6
_MARKER = re.compile(r"\[(\s*\d{1,3}(?:\s*[,;]\s*\d{1,3})*\s*)\]")
_PARTIAL = re.compile(r"\[[\d\s,;]{0,12}$")


def _filter_marker(inner: str, valid: set[int]) -> str:
    nums = [int(x) for x in re.split(r"[,;]", inner) if x.strip().isdigit()]
    keep = []
    for n in nums:
        if n in valid and n not in keep:
            keep.append(n)
    return "".join(f"[{n}]" for n in keep)


class CitationFilter:
    """A streaming filter that removes citation markers not in ``valid``.

    ``feed(piece)`` returns the text that may be shown now; ``close()`` returns the
    rest. Safe by construction: held-back text is only released after validation.
    """

    def __init__(self, valid: Iterable[int], emit: Optional[Callable[[str], None]] = None):
        self.valid = set(valid)
        self.emit = emit
        self.buf = ""
        self.out: list[str] = []
        self.used: list[int] = []

    def _release(self, text: str) -> None:
        if text:
            self.out.append(text)
            if self.emit:
                self.emit(text)

    def _process(self, final: bool) -> None:
        while self.buf:
            i = self.buf.find("[")
            if i < 0:
                self._release(self.buf)
                self.buf = ""
                return
            self._release(self.buf[:i])
            self.buf = self.buf[i:]
            m = _MARKER.match(self.buf)
            if m:
                kept = _filter_marker(m.group(1), self.valid)
                for n in re.findall(r"\d+", kept):
                    if int(n) not in self.used:
                        self.used.append(int(n))
                self._release(kept)
                self.buf = self.buf[m.end():]
                continue
            if _PARTIAL.match(self.buf) and not final:
                return  # maybe the start of a marker: wait for more
            if _PARTIAL.match(self.buf):  # a dangling "[1" at the end: drop it
                self.buf = ""
                return
            self._release("[")
            self.buf = self.buf[1:]

    def feed(self, piece: str) -> None:
        self.buf += piece
        self._process(final=False)

    def close(self) -> str:
        self._process(final=True)
        return self.text

    @property
    def text(self) -> str:
        return "".join(self.out)


def clean_citations(text: str, valid: Iterable[int]) -> str:
    """``text`` with every marker not in ``valid`` removed (non-streaming)."""
    f = CitationFilter(valid)
    f.feed(text)
    return f.close()


def cited_numbers(text: str) -> list[int]:
    """The citation numbers in ``text``, in order of first use."""
    out: list[int] = []
    for m in _MARKER.finditer(text):
        for x in re.split(r"[,;]", m.group(1)):
            if x.strip().isdigit() and int(x) not in out:
                out.append(int(x))
    return out


def _stem(w: str) -> str:
    w = w.lower()
    for suf in ("ing", "ed", "es", "s", "ly"):
        if len(w) > len(suf) + 3 and w.endswith(suf):
            return w[: -len(suf)][:6]
    return w[:6]


def _stems(text: str) -> set[str]:
    return {_stem(t) for t in tokens(text)}


def grounding(answer: str, cited_texts: list[str]) -> float:
    """Fraction of the answer's content words and numbers found in ``cited_texts``
    (0 when nothing is cited). Numbers must match exactly; words by a crude stem."""
    body = _MARKER.sub(" ", answer)
    words = [t for t in tokens(body) if t not in STOP_WORDS and t not in QUESTION_FRAME
             and len(t) > 2 or t.isdigit()]
    if not words:
        return 1.0 if cited_texts else 0.0
    if not cited_texts:
        return 0.0
    support = set()
    for t in cited_texts:
        support |= _stems(t)
        support |= set(tokens(t))
    ok = sum(1 for w in words if (w in support if w.isdigit() else _stem(w) in support))
    return ok / len(words)


# -- evidence strength -----------------------------------------------------------------
def evidence_strength(question_terms: list[str], texts: list[str],
                      idf: dict[str, float], dense_sim: float = 0.0) -> float:
    """How well the best sources cover the question, 0..1.

    IDF-weighted share of the question's content terms present in the best source
    (stems), blended with the union over the top three and the best dense similarity.
    A term found nowhere in the memories has the highest weight, so a question about
    something never mentioned scores low.
    """
    terms = [t for t in question_terms if t]
    if not terms or not texts:
        return 0.0
    w = {t: idf.get(t, max(idf.values(), default=5.0) or 5.0) for t in terms}
    total = sum(w.values()) or 1.0
    stems = [_stems(t) | set(tokens(t)) for t in texts[:5]]

    def cov(s: set[str]) -> float:
        return sum(w[t] for t in terms if t in s or _stem(t) in s) / total

    best = max(cov(s) for s in stems)
    union = cov(set().union(*stems[:3]))
    dense = max(0.0, min(1.0, (dense_sim - 0.25) / 0.45))
    return 0.55 * best + 0.25 * union + 0.2 * dense


UNKNOWN_TERM_DENSE_RESCUE = 0.6


def discount_unknown_terms(strength: float, question_terms: list[str],
                           idf: dict[str, float], unknown: set[str],
                           dense_sim: float = 0.0) -> float:
    """Lower ``strength`` by the IDF-weighted share of question terms that occur nowhere in
    the memories ("What is my dentist's name?" when no dentist was ever mentioned: the
    word "name" alone must not carry an answer).

    A source that is semantically very close (cosine ≥ 0.6: a synonym such as "partner"
    for "boyfriend") keeps the strength as it is.
    """
    terms = [t for t in question_terms if t]
    missing = [t for t in terms if t in unknown]
    if not missing or dense_sim >= UNKNOWN_TERM_DENSE_RESCUE:
        return strength
    top = max(idf.values(), default=5.0) or 5.0
    total = sum(idf.get(t, top) for t in terms) or 1.0
    share = sum(idf.get(t, top) for t in missing) / total
    return strength * (1.0 - share)


# -- extractive answers ----------------------------------------------------------------
# never split after an honorific: "My dentist is Dr. Okafor" is one sentence; nor before
# a parenthesis ("Poll: Which gym? (North: 2 votes / South: 1 vote)")
_SENT = re.compile(r"(?<=[.!?])(?<!\bDr\.)(?<!\bMr\.)(?<!\bMrs\.)(?<!\bMs\.)(?<!\bMx\.)"
                   r"(?<!\bProf\.)(?<!\bSt\.)\s+(?!\()|\n+")


def sentences(text: str) -> list[str]:
    """``text`` split into sentences (chat messages are often one)."""
    parts = [s.strip() for s in _SENT.split(text or "") if s and s.strip()]
    out: list[str] = []
    carry = ""
    for p in parts:  # "Pepper! she sleeps all day": a fragment joins the next sentence
        p = f"{carry} {p}".strip() if carry else p
        if len(tokens(p)) < 3:
            carry = p
            continue
        out.append(p)
        carry = ""
    if carry:
        if out and len(tokens(carry)) < 3:
            out[-1] = f"{out[-1]} {carry}"
        else:
            out.append(carry)
    return out or ([text.strip()] if text and text.strip() else [])


_NUMWORD = re.compile(r"\b(\d+|one|two|three|four|five|six|seven|eight|nine|ten|eleven|"
                      r"twelve|twenty|thirty|forty|fifty|hundred|dozen|couple|few)\b", re.I)
_PLACE = re.compile(r"\b(?:(?:in|at|to|near|around)\s+[A-Z][\w'-]+|"
                    r"(?:in|at|near)\s+(?:the|a|an|my|her|his|their)\s+[\w'-]+)")
_NAME = re.compile(r"\b[A-Z][a-z]+(?:\s+[A-Z][a-z]+)?\b")


@dataclass
class Source:
    """One numbered source given to the answerer."""

    n: int
    kind: str
    id: int
    text: str
    ts: Optional[float]
    speaker: Optional[str]
    timestamp: Optional[str]
    sources: list = field(default_factory=list)
    score: float = 0.0
    context: str = ""   # the two messages before it (what "she", "it" refer to)
    context_items: list = field(default_factory=list)  # those messages: speaker, text, timestamp
    participants: list = field(default_factory=list)   # the conversation's people


def _event_date(sentence: str, src: Source) -> Optional[str]:
    """The absolute date of what ``sentence`` talks about, resolved against the date the
    message was written ("yesterday" on 8 May 2023 → 7 May 2023)."""
    if src.ts is None:
        return None
    written = datetime.fromtimestamp(src.ts, tz=timezone.utc)
    ref = src.timestamp or written
    try:
        found = find_dates(sentence, ref)
    except Exception:
        return None
    if not found:
        return None
    r = found[0]
    return r.bare()


def _score_sentence(sent: str, q_terms: set[str], qtype: str, names: set[str],
                    idf: dict[str, float], context: str = "") -> float:
    st = _stems(sent) | set(tokens(sent))
    ctx = (_stems(context) | set(tokens(context))) if context else set()
    default = max(idf.values(), default=3.0)
    s = 0.0
    for t in q_terms:
        if t in st or _stem(t) in st:
            s += idf.get(t, default)
        elif t in ctx or _stem(t) in ctx:
            s += 0.5 * idf.get(t, default)  # said just before: "my sister Joanna…" / "she works…"
    if qtype == "where" and _PLACE.search(sent):
        s += 1.0
    elif qtype == "howmany" and _NUMWORD.search(sent):
        s += 1.0
    elif qtype == "name":
        capital = [w for w in re.findall(r"\b[A-Z][a-z]+\b", sent)
                   if w.lower() not in STOP_WORDS and w.lower() not in q_terms
                   and w.lower() not in names]
        if capital:
            s += 1.0
    elif qtype == "who":
        others = [m for m in _NAME.findall(sent) if m.lower() not in names and m.lower()
                  not in STOP_WORDS]
        if others:
            s += 1.0
    if len(tokens(sent)) < 3:
        s *= 0.5
    return s


_HONORIFIC = r"(?:(?:Dr|Mr|Mrs|Ms|Mx|Prof|Sr|Sra|Fr|Dra)\.?\s+)?"
_CAPS = re.compile(r"\b" + _HONORIFIC
                   + r"[A-Z][\w'’-]*(?:\s+(?:of\s+|the\s+|de\s+)?[A-Z][\w'’-]*)*")
_COUNT = re.compile(r"\b(\d+(?:[.,]\d+)?|one|two|three|four|five|six|seven|eight|nine|ten|"
                    r"eleven|twelve|twenty|thirty|forty|fifty|a hundred|a dozen|a couple of|"
                    r"a few)\s+([a-z]+)", re.I)


_TIME_WORDS = {"every", "each", "now", "yesterday", "today", "tomorrow", "tonight", "last",
               "next", "week", "weekend", "morning", "evening", "night"}


def answer_span(sentence: str, qtype: str, q_terms: set[str], names: set[str]) -> str:
    """The short part of ``sentence`` that answers a name/who/where/how-many question
    ("Biscuit", "at the community garden", "80 euros"); "" when there is none."""
    def known(w: str) -> bool:
        toks = tokens(w)
        return (not toks or all(t in STOP_WORDS or t in q_terms or t in names
                                or _stem(t) in {_stem(x) for x in q_terms} for t in toks))

    if qtype in ("name", "who"):
        for m in _CAPS.finditer(sentence):
            span = m.group(0).strip()
            if not known(span) and span.lower() not in ("i", "omg", "ok", "lol"):
                return span
        return ""
    if qtype == "where":
        m = _PLACE.search(sentence)
        if m:
            span = re.sub(r"^(?:in|at|to|near|around)\s+", "", m.group(0))
            rest = sentence[m.end():]
            tail = re.match(r"(?:\s+[A-Za-z][\w'’-]*){0,3}", rest)
            if tail and not span[0].isupper():
                # "at the community garden every Sunday": keep the place's own words
                words = []
                for w in tail.group(0).split():
                    if (w.lower() in STOP_WORDS or w.lower() in _TIME_WORDS
                            or (w[0].isupper() and words)):
                        break
                    words.append(w)
                span = " ".join([span] + words)
            if not known(span):
                return span
        return ""
    if qtype == "howmany":
        m = _COUNT.search(sentence)
        return m.group(0) if m else ""
    return ""


def extractive_answer(question: str, qtype: str, q_terms: list[str], names: list[str],
                      sources: list[Source], idf: dict[str, float]) -> tuple[str, list[int]]:
    """An answer made of the sources' own words, with citations; (text, cited numbers).

    "when" questions: the absolute date of the event in the best-matching message
    ("On 7 May 2023 [1]"; the message's own date when it names no other). Otherwise the
    best sentence (by IDF-weighted overlap with the question and the expected kind of
    answer), plus up to two more from other sources when they score nearly as well
    (lists, multi-part questions).
    """
    if not sources:
        return NO_MEMORY, []
    qset = set(q_terms)
    name_set = {t for n in names for t in tokens(n)}
    cands = []
    for rank, src in enumerate(sources):
        prior = 1.0 / (1.0 + 0.15 * rank)
        for sent in sentences(src.text):
            sc = _score_sentence(sent, qset, qtype, name_set, idf, src.context)
            cands.append((sc * prior + 0.01 * prior, rank, sent, src))
    if not cands:
        return NO_MEMORY, []
    cands.sort(key=lambda c: -c[0])
    best_score, _, best_sent, best_src = cands[0]
    if qtype == "when":
        # the first of the best sentences whose message has a date
        for _sc, _, sent, src in cands[:6]:
            if src.ts is None:
                continue
            event = _event_date(sent, src)
            if event:
                return f"{event} [{src.n}]", [src.n]
            written = fmt_date(datetime.fromtimestamp(src.ts, tz=timezone.utc))
            return f"{written} [{src.n}]", [src.n]
    span = answer_span(best_sent, qtype, qset, name_set)
    if span:
        return f"{span} [{best_src.n}]", [best_src.n]
    parts = [(best_sent, best_src)]
    for sc, _, sent, src in cands[1:]:
        if len(parts) >= 3 or sc < 0.75 * best_score or best_score < 1.0:
            break
        if all(src.n != p[1].n for p in parts):
            parts.append((sent, src))
    pieces = []
    for sent, src in parts:
        sent = sent.strip()
        if len(sent) > 300:
            sent = sent[:297].rsplit(" ", 1)[0] + "…"
        who = f"{src.speaker}: " if src.speaker and src.kind == "message" else ""
        pieces.append(f"{who}{sent} [{src.n}]")
    return " ".join(pieces), [p[1].n for p in parts]


# -- prompts for a capable model -------------------------------------------------------
SYSTEM_PROMPT = (
    "You answer questions about the user's own life using ONLY the numbered sources "
    "(their messages, documents and notes). Cite every statement with the source "
    "numbers in square brackets, like [2]. Give absolute dates (e.g. 7 May 2023), "
    "resolving words like 'yesterday' against the source's date. Answer in as few words "
    "as the question needs, of the type it asks for. If the question names the wrong "
    "person (the sources say someone else did it), say who it was. If the sources do not "
    f"contain the answer, reply exactly: {NO_MEMORY}")

#: what each answer type asks of the model (see :mod:`.qtypes`)
TYPE_HINTS = {
    "when": "a date: the absolute date of the event (e.g. 7 May 2023)",
    "who": "a person: a name or a relation (e.g. her sister Leila)",
    "where": "a place",
    "howmany": "a number",
    "howoften": "how often (e.g. every Sunday, twice a week)",
    "howmuch": "an amount (e.g. 400 pounds)",
    "howlong": "a duration (e.g. two weeks)",
    "name": "a name",
    "kind": "a kind of thing (e.g. abstract art)",
    "which": "the one thing asked for, by name",
    "what": "a short phrase",
    "list": "a short list of everything that applies, across the sources",
    "yesno": "yes or no, then a few words of why",
    "likely": "likely yes or likely no, then a few words of why",
    "why": "the reason, briefly",
    "how": "how, briefly",
}


def annotated(src: Source) -> str:
    """A source's text with relative dates resolved in place: "yesterday (13 January
    2023)" — the model need not do calendar arithmetic."""
    text = src.text.strip()[:600]
    ref = src.timestamp
    if ref is None and src.ts is not None:
        ref = datetime.fromtimestamp(src.ts, tz=timezone.utc)
    if ref is None:
        return text
    try:
        found = [r for r in find_dates(text, ref) if not r.absolute]
    except Exception:
        return text
    for r in reversed(found):
        a, b = r.span
        when = fmt_date(r.start) if r.granularity == "day" else r.bare()
        text = f"{text[:b]} ({when}){text[b:]}"
    return text


def source_line(src: Source) -> str:
    """How one source appears in the prompt: number, date, speaker, text (relative dates
    resolved in place)."""
    bits = []
    if src.ts is not None:
        bits.append(fmt_date(datetime.fromtimestamp(src.ts, tz=timezone.utc)))
    if src.speaker:
        bits.append(src.speaker)
    if src.kind == "chunk" and src.sources:
        s = src.sources[0]
        bits.append(f"{s.get('document')}" + (f" p.{s['page']}" if s.get("page") else ""))
    if src.kind == "note":
        bits.append("memory note")
    head = f"[{src.n}] ({', '.join(bits)})" if bits else f"[{src.n}]"
    return f"{head} {annotated(src)}"


def build_messages(question: str, sources: list[Source], history: list[dict], *,
                   spec=None, reading=None) -> list[dict]:
    """Chat messages for the model: system rules, earlier turns, sources + question, and
    — the typed evidence — the answer type wanted and the candidate answer the
    model-free reader found, with its source."""
    msgs = [{"role": "system", "content": SYSTEM_PROMPT}]
    for h in history[-4:]:
        msgs.append({"role": h["role"], "content": h["text"][:500]})
    body = "Sources:\n" + "\n".join(source_line(s) for s in sources)
    tail = f"Question: {question}"
    if spec is not None and spec.atype in TYPE_HINTS:
        tail += f"\nAnswer with {TYPE_HINTS[spec.atype]}."
    if reading is not None and reading.text and reading.kind != "sentence":
        tail += f"\nA candidate answer found in the sources: {reading.text}"
    msgs.append({"role": "user", "content": f"{body}\n\n{tail}"})
    return msgs


_MONTHS = ("january february march april may june july august september october november "
           "december").split()
_NUMBER = re.compile(r"\b(\d+(?:[.,]\d+)*|once|twice|one|two|three|four|five|six|seven|"
                     r"eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|hundred|"
                     r"thousand|dozen)\b", re.I)


def _dates_of(src: Source) -> set[str]:
    """Day/month/year words of every date a source stands for (its own, and the ones
    its relative phrases resolve to)."""
    out: set[str] = set()
    days = []
    if src.ts is not None:
        days.append(datetime.fromtimestamp(src.ts, tz=timezone.utc).date())
    ref = src.timestamp or (datetime.fromtimestamp(src.ts, tz=timezone.utc)
                            if src.ts is not None else None)
    try:
        found = find_dates(src.text, ref) if ref is not None else []
    except Exception:
        found = []
    for r in found:
        days += [r.start, r.end]
    for d in days:
        out |= {str(d.day), _MONTHS[d.month - 1], str(d.year)}
    return out


def typed_grounding(draft: str, spec, cited: list[Source], reading=None) -> bool:
    """Whether a model's ``draft`` is an answer of the type ``spec`` asks for, drawn from
    the sources it cites: a "when" answer names a date those sources stand for (their
    own dates or what their relative phrases resolve to); a count or amount uses numbers
    found there (or the count the reader made); a "who" answer names someone they
    mention; yes/no questions get a yes or a no. Other types: True."""
    if spec is None or not cited:
        return bool(cited) or spec is None
    body = _MARKER.sub(" ", draft)
    low = body.lower()
    t = spec.atype
    if t == "when" and spec.granularity != "time" and not spec.habitual:
        words = set(tokens(low))
        named = {w for w in words if w in _MONTHS} | {w for w in words
                                                      if re.fullmatch(r"(?:19|20)\d\d", w)}
        if not named:
            return False
        allowed = set().union(*(_dates_of(s) for s in cited))
        return named <= allowed
    if t in ("howmany", "howmuch", "howlong"):
        nums = [m.group(1).lower() for m in _NUMBER.finditer(body)]
        if not nums:
            return False
        support = " ".join(s.text.lower() for s in cited)
        if reading is not None:
            support += " " + reading.text.lower()
        return all(re.search(r"\b" + re.escape(n) + r"\b", support) for n in nums)
    if t in ("yesno", "likely"):
        return bool(re.match(r"\s*(?:likely\s+|probably\s+)?(?:yes|no|not)\b", low))
    if t == "who":
        support = " ".join(f"{s.speaker or ''} {s.text}" for s in cited).lower()
        caps = re.findall(r"\b[A-Z][a-z]+\b", body)
        asked = {w.lower() for n in spec.names for w in n.split()}
        names = [c for c in caps if c.lower() not in asked and c.lower() not in STOP_WORDS]
        return any(c.lower() in support for c in names) or any(
            re.search(r"\b" + w + r"\b", support) and re.search(r"\b" + w + r"\b", low)
            for w in ("mom", "mum", "dad", "mother", "father", "sister", "brother", "friend",
                      "friends", "family", "wife", "husband", "partner", "teacher", "kids"))
    return True


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD-style token F1 (lower-cased, punctuation and articles removed, markers
    stripped)."""
    def norm(s: str) -> list[str]:
        s = _MARKER.sub(" ", s or "").lower()
        toks = re.findall(r"[^\W_]+", s)
        return [t for t in toks if t not in ("a", "an", "the")]
    p, r = norm(prediction), norm(reference)
    if not p or not r:
        return float(p == r)
    rc: dict[str, int] = {}
    for t in r:
        rc[t] = rc.get(t, 0) + 1
    same = 0
    for t in p:
        if rc.get(t, 0) > 0:
            rc[t] -= 1
            same += 1
    if same == 0:
        return 0.0
    prec, rec = same / len(p), same / len(r)
    return 2 * prec * rec / (prec + rec)
