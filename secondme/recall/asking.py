"""The core of ``ask``: from search results to a decided, cited answer.

:class:`~secondme.recall.ops.RecallOps` gathers the store, settings and models and calls
these functions; they take only what they need (a store, the search results, an LLM):

- :func:`gather` — the numbered sources (messages with the two messages before them and
  their conversation's people), the question's type (:mod:`.qtypes`), the scored
  sentences (:mod:`.reader`), evidence strength and the premise check (:mod:`.premise`);
- :func:`decide` — abstain (weak evidence / unsupported premise), correct a wrong person,
  or answer: a capable model's draft with typed evidence in its prompt, kept only when it
  is grounded and of the asked type, else the typed extractive answer;
- :func:`finish` — extractive answers are renumbered so that their markers run 1, 2, …
  in order of use, and ``Answer.citations`` holds exactly the numbers the text uses.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Optional

from ..api import Citation, SearchResult
from ..errors import Cancelled
from .answer import (
    GROUNDED_MIN,
    NO_MEMORY,
    CitationFilter,
    Source,
    annotated,
    build_messages,
    cited_numbers,
    discount_unknown_terms,
    evidence_strength,
    grounding,
    typed_grounding,
)
from .premise import UNSUPPORTED_DISCOUNT, Premise, check_premise, correction
from .qtypes import QuestionSpec, analyze_question
from .query import content_terms
from .reader import Reading, Sent, read, read_sentences
from .search import SearchTrace, name_index

#: evidence strength of "would X likely …" questions is multiplied by this
LIKELY_BOOST = 1.6


@dataclass
class Evidence:
    """Everything ``ask`` knows about a question once it has searched."""

    question: str
    results: list[SearchResult]
    sources: list[Source]
    spec: QuestionSpec
    sents: list[Sent]
    strength: float
    premise: Premise
    people: dict[str, set[str]]
    trace: SearchTrace = field(default_factory=SearchTrace)
    base_strength: float = 0.0      # the 0.1 reader's (no type or premise adjustments)


@dataclass
class Decision:
    """The answer before it is streamed and stored."""

    text: str
    cited: list[int]                # the sources' numbers the text uses
    method: str                     # model | extractive | corrected | abstained
    abstained: bool
    quotes: dict[int, str] = field(default_factory=dict)
    rejected: bool = False
    streamed: bool = False          # a model's draft already went out token by token
    kind: str = ""                  # what the reader built: span | list | count | …


def _ts(r: SearchResult) -> Optional[float]:
    if not r.timestamp:
        return None
    try:
        d = datetime.fromisoformat(r.timestamp)
    except ValueError:
        return None
    if d.tzinfo is None:
        d = d.replace(tzinfo=timezone.utc)
    return d.timestamp()


def display(r: SearchResult) -> str:
    """A result's text with its speaker and date (what the strength check reads)."""
    return " ".join(x for x in (r.speaker or "", r.text, r.date or "") if x)


def people_index(store) -> dict[str, set[str]]:
    """Known people: conversation participants, speakers and person entities (canonical
    name → lower-case words that name them)."""
    idx = name_index(store)
    conn = store.conn
    persons = {r[0] for r in conn.execute("select name from entities where kind = 'person'")}
    speakers = {r[0] for r in conn.execute("select distinct speaker from messages "
                                           "where speaker != ''")}
    for (parts,) in conn.execute("select participants from conversations"):
        try:
            speakers.update(p for p in json.loads(parts or "[]") if isinstance(p, str))
        except ValueError:
            pass
    return {n: keys for n, keys in idx.names.items() if n in persons or n in speakers}


def make_sources(store, given: list[SearchResult]) -> list[Source]:
    """The numbered sources; messages get the two messages before them (what "she" and
    "yesterday" refer to) and their conversation's participants."""
    conn = store.conn
    sources = [Source(n=i + 1, kind=r.kind, id=r.id, text=r.text, ts=_ts(r), speaker=r.speaker,
                      timestamp=r.timestamp, sources=r.sources, score=r.score)
               for i, r in enumerate(given)]
    parts_cache: dict[int, list[str]] = {}
    for s in sources:
        if s.kind != "message":
            continue
        row = conn.execute("select conversation_id, position from messages where id = ?",
                           [s.id]).fetchone()
        if row is None:
            continue
        conv, pos = row
        rows = conn.execute(
            "select speaker, text, timestamp from messages where conversation_id = ? and "
            "position < ? and position >= ? order by position", [conv, pos, pos - 2]).fetchall()
        s.context_items = [{"speaker": r[0], "text": r[1], "timestamp": r[2]} for r in rows]
        s.context = " ".join(r[1] for r in rows)
        if conv not in parts_cache:
            prow = conn.execute("select participants from conversations where id = ?",
                                [conv]).fetchone()
            try:
                parts = [p for p in json.loads((prow[0] if prow else None) or "[]")
                         if isinstance(p, str)]
            except ValueError:
                parts = []
            if len(parts) < 2:
                parts = sorted({r[0] for r in conn.execute(
                    "select distinct speaker from messages where conversation_id = ? and "
                    "speaker != '' limit 20", [conv])} | set(parts))
            parts_cache[conv] = parts
        s.participants = parts_cache[conv]
    return sources


def gather(store, question: str, query: str, results: list[SearchResult], trace: SearchTrace,
           k: int, term_stats: Callable[[list[str]], tuple[dict, set]]) -> Evidence:
    """Read the search results for ``question`` (see the module docstring)."""
    given = results[:k]
    sources = make_sources(store, given)
    q_terms = content_terms(query)
    idf, unknown = term_stats(q_terms)
    best_sim = max((trace.dense_sims.get((r.kind, r.id), 0.0) for r in given[:3]), default=0.0)
    strength = evidence_strength(q_terms, [display(r) for r in given], idf, best_sim)
    parsed = trace.parsed
    people = people_index(store)
    names = [n for n in (parsed.names if parsed else []) if n in people]
    spec = analyze_question(question, names)
    # the strength the 0.1 reader decided on (the benchmarks' baseline)
    base = discount_unknown_terms(strength, q_terms, idf, unknown, best_sim)
    if spec.atype == "likely":
        # "would X likely enjoy a ceramics workshop?": an inference — its words are
        # hypothetical, so words found nowhere do not make it unanswerable
        strength = min(1.0, strength * LIKELY_BOOST)
    else:
        # category words ("what book …", "which city …") are often never said in chats
        focus = set(spec.focus) if spec.atype in ("which", "list", "kind", "name") else set()
        strength = discount_unknown_terms(strength, q_terms, idf, unknown - focus, best_sim)
    own_idf = dict(idf)
    for t in spec.terms:
        own_idf.setdefault(t, max(idf.values(), default=3.0))
    sents = read_sentences(spec, sources, own_idf, people, parsed.time if parsed else None)
    premise = check_premise(spec, sents)
    if premise.verdict == "unsupported":
        # nothing about the asked person carries the question: the evidence is weak
        strength *= UNSUPPORTED_DISCOUNT
    return Evidence(question, results, sources, spec, sents, strength, premise, people, trace,
                    base)


def extractive(ev: Evidence) -> Reading:
    """The typed answer of the model-free reader (see :mod:`.reader`)."""
    return read(ev.spec, ev.sents, ev.people)


def decide(ev: Evidence, *, threshold: float, llm=None, history: list[dict] = (),
           emit: Callable[[str], None] = lambda s: None, cancel=None,
           timings: Optional[dict] = None) -> Decision:
    """Abstain, correct the premise, or answer (see the module docstring)."""
    timings = timings if timings is not None else {}
    if ev.premise.verdict == "wrong_person" and ev.sources:
        # a declined question either way; saying who it was is the more useful decline
        s = ev.premise.sent
        return Decision(correction(ev.premise), [s.src.n], "corrected", True,
                        {s.src.n: s.text}, kind="premise")
    if ev.strength < threshold or not ev.sources:
        return Decision(NO_MEMORY, [], "abstained", True)
    reading = extractive(ev)
    if ev.spec.names and reading.involves and all(v is False for v in reading.involves):
        # all it found is about someone else (in a chat the asked person is not in):
        # "What is Jules's cat called?" is not answered with Grace's cat
        return Decision(NO_MEMORY, [], "abstained", True)
    rejected = False
    if llm is not None:
        got = _model_draft(ev, reading, llm, history, emit, cancel, timings)
        if got is not None and got.method == "abstained":
            return got
        if got is not None and not got.rejected:
            return got
        rejected = got is not None and got.rejected
    if not reading.text:
        return Decision(NO_MEMORY, [], "abstained", True, rejected=rejected)
    return Decision(reading.text, reading.cited, "extractive", False, reading.quotes,
                    rejected=rejected, kind=reading.kind)


def _model_draft(ev: Evidence, reading: Reading, llm, history, emit, cancel,
                 timings: dict) -> Optional[Decision]:
    """A capable model's draft, streamed through the citation filter; kept only when it
    is grounded in the sources it cites and of the asked type."""
    import time

    t_m = time.perf_counter()
    filt = CitationFilter([s.n for s in ev.sources], emit=emit)
    try:
        llm.chat(build_messages(ev.question, ev.sources, list(history), spec=ev.spec,
                                reading=reading),
                 max_tokens=320, temperature=0.0, on_token=filt.feed, cancel=cancel)
    except Cancelled:
        raise
    draft = filt.close().strip()
    timings["model_ms"] = (time.perf_counter() - t_m) * 1000
    cited = [n for n in filt.used if 1 <= n <= len(ev.sources)]
    if NO_MEMORY.lower().rstrip(".") in draft.lower():
        return Decision(NO_MEMORY, [], "abstained", True, streamed=True)
    # what the model saw: relative dates resolved ("last weekend (the weekend of 14
    # January 2023)"), so a resolved date counts as grounded
    texts = [" ".join(filter(None, [ev.sources[n - 1].speaker, ev.sources[n - 1].text,
                                    annotated(ev.sources[n - 1])]))
             for n in cited]
    g = grounding(draft, texts)
    timings["grounding"] = round(g, 3)
    typed_ok = typed_grounding(draft, ev.spec, [ev.sources[n - 1] for n in cited], reading)
    if cited and g >= GROUNDED_MIN and typed_ok:
        return Decision(draft, cited, "model", False, streamed=True)
    return Decision("", [], "model", False, rejected=True, streamed=True)


def renumber(text: str, cited: list[int]) -> tuple[str, dict[int, int]]:
    """``text`` with its markers renumbered 1, 2, … in order of first use; returns the
    new text and {old number: new number}."""
    order = [n for n in cited_numbers(text) if n in cited] or list(cited)
    mapping = {old: i + 1 for i, old in enumerate(dict.fromkeys(order))}

    def sub(m: re.Match) -> str:
        nums = [int(x) for x in re.findall(r"\d+", m.group(1))]
        kept = [mapping[n] for n in nums if n in mapping]
        return "".join(f"[{n}]" for n in dict.fromkeys(kept))
    return re.sub(r"\[(\s*\d{1,3}(?:\s*[,;]\s*\d{1,3})*\s*)\]", sub, text), mapping


def citations_for(text: str, ev: Evidence, mapping: dict[int, int],
                  quotes: dict[int, str]) -> list[Citation]:
    """One citation per marker number the final ``text`` uses (and no other)."""
    back = {new: old for old, new in mapping.items()}
    by_n = {s.n: (s, r) for s, r in zip(ev.sources, ev.results)}
    out = []
    for n in cited_numbers(text):
        old = back.get(n, n)
        if old not in by_n:
            continue
        s, r = by_n[old]
        out.append(Citation(n=n, id=s.id, kind=s.kind, text=s.text, sources=r.sources,
                            date=r.date, speaker=r.speaker, quote=quotes.get(old)))
    return out
