"""Step 3 of consolidation: day, week and topic summaries.

One summary per day (messages and facts of that date), per ISO week (its days and top
facts) and per topic (an entity or a keyword shared by several facts). Each is a note of
kind ``summary`` (``fact_type`` ``day`` / ``week`` / ``topic``) citing the notes and
messages it rests on; its parts are linked to it ``part_of``. With a capable model the
model writes the text from numbered evidence under a JSON schema (invalid citations are
dropped); otherwise a deterministic template does (top facts by strength × retention,
people, counts, keywords). These functions only build (:class:`.common.Built`);
:mod:`.write` stores.
"""
from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from datetime import date, timedelta
from typing import Any, Optional

from ...progress import CancelToken, check
from .common import STOPWORDS, Built, Fact, input_hash, join_names, model_text, top_facts, words

MIN_DAY_MESSAGES = 3
DAY_TOP_FACTS = 5
WEEK_TOP_FACTS = 5
TOPIC_MIN_FACTS = 3
TOPIC_MAX = 40
TOPIC_TOP_FACTS = 8
MAX_CITED_MESSAGES = 12


def build_day_summaries(conn, facts: dict[int, Fact], me_name: str, llm: Any,
                        budget: list[int], cancel: Optional[CancelToken]) -> list[Built]:
    """One summary per day with at least ``MIN_DAY_MESSAGES`` messages or one fact."""
    days: dict[str, dict] = defaultdict(lambda: {"messages": [], "people": Counter(),
                                                 "convs": set(), "words": Counter()})
    for mid, ts, speaker, is_me, conv, text, _title in conn.execute(
            "select m.id, m.timestamp, m.speaker, m.is_me, m.conversation_id, m.text, c.title "
            "from messages m join conversations c on c.id = m.conversation_id "
            "where m.kind = 'message' and m.timestamp is not null order by m.ts"):
        d = days[ts[:10]]
        d["messages"].append((mid, is_me, conv, text))
        if not is_me and speaker:
            d["people"][speaker] += 1
        d["convs"].add(conv)
        d["words"].update(set(words(text)))
    by_day: dict[str, list[Fact]] = defaultdict(list)
    for f in facts.values():
        if f.day:
            by_day[f.day].append(f)
    df = Counter()
    for d in days.values():
        df.update(d["words"].keys())
    n_days = max(1, len(days))
    out = []
    for day in sorted(set(days) | set(by_day)):
        check(cancel)
        d = days.get(day) or {"messages": [], "people": Counter(), "convs": set(),
                              "words": Counter()}
        day_facts = top_facts(by_day.get(day, []), DAY_TOP_FACTS)
        if len(d["messages"]) < MIN_DAY_MESSAGES and not day_facts:
            continue
        try:
            weekday = date.fromisoformat(day).strftime("%A")
        except ValueError:
            continue
        people = [p for p, _ in d["people"].most_common(4)]
        # keywords: frequent that day, rare over the whole history (tf-idf)
        kw = sorted(((c * math.log(1 + n_days / df[w]), w) for w, c in d["words"].items()
                     if c >= 2 and not w.isdigit()), reverse=True)
        keywords = [w for _, w in kw[:5]]
        cited = [f.id for f in day_facts]
        msgs: list[int] = []
        for f in day_facts:
            msgs.extend(f.messages[:2])
        kwset = set(keywords)
        for mid, _is_me, _conv, text in d["messages"]:
            if len(msgs) >= MAX_CITED_MESSAGES:
                break
            if kwset & set(words(text)) and mid not in msgs:
                msgs.append(mid)
        if not msgs and d["messages"]:
            msgs = [m[0] for m in d["messages"][:3]]
        lead = f"{day} ({weekday}): "
        n = len(d["messages"])
        if n:
            talk = f"talked with {join_names(people)}" if people else "only you wrote"
            lead += f"{talk} ({n} message{'s' * (n != 1)} in {len(d['convs'])} " \
                    f"conversation{'s' * (len(d['convs']) != 1)})."
        parts = [lead]
        if keywords:
            parts.append("Topics: " + ", ".join(keywords) + ".")
        if day_facts:
            parts.append("Noted: " + " ".join(f"• {f.text.rstrip('.')}." for f in day_facts))
        text = " ".join(parts)
        method = "template"
        hash_in = input_hash("day", day, n, sorted(d["people"].items()), [(f.id, f.text)
                                                                    for f in day_facts], msgs)
        if llm is not None and day_facts:
            ev = [f.text for f in day_facts]
            got = model_text(llm, f"Summarise the day {day} of {me_name or 'the user'} in "
                                   "two sentences.", ev, budget, cancel)
            if got:
                text, idx = got
                text = f"{day} ({weekday}): {text}"
                cited = [day_facts[i].id for i in idx]
                method = "model"
        out.append(Built(f"day:{day}", "summary", "day", text, notes=cited, messages=msgs,
                         parts=[f.id for f in day_facts], valid_from=day,
                         keywords=" ".join(keywords + [p.lower() for p in people]),
                         method=method, input_hash=hash_in))
    return out


def build_week_summaries(days: list[Built], day_ids: dict[str, int], facts: dict[int, Fact],
                         llm: Any, budget: list[int],
                         cancel: Optional[CancelToken]) -> list[Built]:
    """One summary per ISO week, resting on its day summaries and top facts."""
    weeks: dict[str, list[Built]] = defaultdict(list)
    for b in days:
        y, w, _ = date.fromisoformat(b.valid_from).isocalendar()
        weeks[f"{y}-W{w:02d}"].append(b)
    out = []
    for week, members in sorted(weeks.items()):
        check(cancel)
        members.sort(key=lambda b: b.valid_from)
        first = date.fromisoformat(members[0].valid_from)
        monday = first - timedelta(days=first.weekday())
        sunday = monday + timedelta(days=6)
        wfacts = top_facts((facts[i] for b in members for i in b.parts if i in facts),
                      WEEK_TOP_FACTS)
        people = Counter()
        for b in members:
            m = re.search(r"talked with (.+?) \(", b.text)
            if m:
                for p in re.split(r", | and ", m.group(1)):
                    people[p] += 1
        text = (f"Week {week} ({monday:%d %b} – {sunday:%d %b %Y}): {len(members)} active "
                f"day{'s' * (len(members) != 1)}")
        if people:
            text += "; mostly with " + join_names([p for p, _ in people.most_common(3)])
        text += "."
        if wfacts:
            text += " Highlights: " + " ".join(f"• {f.text.rstrip('.')}." for f in wfacts)
        cited = [day_ids[b.key] for b in members if b.key in day_ids] + [f.id for f in wfacts]
        msgs = [m for f in wfacts for m in f.messages[:1]][:MAX_CITED_MESSAGES]
        method = "template"
        hash_in = input_hash("week", week, [(b.key, b.input_hash) for b in members],
                     [f.id for f in wfacts])
        if llm is not None and wfacts:
            ev = [b.text for b in members] + [f.text for f in wfacts]
            got = model_text(llm, f"Summarise week {week} in three sentences.", ev, budget,
                              cancel)
            if got:
                body, idx = got
                text = f"Week {week}: {body}"
                srcs = [day_ids.get(b.key) for b in members] + [f.id for f in wfacts]
                cited = [srcs[i] for i in idx if srcs[i] is not None]
                method = "model"
        out.append(Built(f"week:{week}", "summary", "week", text, notes=cited, messages=msgs,
                         parts=[day_ids[b.key] for b in members if b.key in day_ids],
                         valid_from=monday.isoformat(), method=method, input_hash=hash_in))
    return out


def _topics(conn, facts: dict[int, Fact]) -> list[tuple[str, str, list[int]]]:
    """(key, label, fact ids) for entities / keywords shared by ≥ TOPIC_MIN_FACTS facts."""
    topics: list[tuple[str, str, list[int]]] = []
    covered: set[str] = set()
    has_entities = conn.execute("select count(*) from entity_mentions where note_id is not "
                                "null").fetchone()[0]
    if has_entities:
        ent_facts: dict[int, list[int]] = defaultdict(list)
        names = {}
        for eid, name, kind, is_me in conn.execute(
                "select id, name, kind, is_me from entities"):
            names[eid] = (name, kind, is_me)
        for eid, nid in conn.execute("select entity_id, note_id from entity_mentions "
                                     "where note_id is not null"):
            if nid in facts:
                ent_facts[eid].append(nid)
        for eid, ids in ent_facts.items():
            name, kind, is_me = names.get(eid, ("", "", 0))
            if len(ids) >= TOPIC_MIN_FACTS and name and not is_me:
                topics.append((f"topic:{kind}:{name.lower()}", name, sorted(set(ids))))
                covered.add(name.lower())
    kw_facts: dict[str, list[int]] = defaultdict(list)
    for f in facts.values():
        # names in the text, and keywords that occur in the text itself (a merged
        # note's keywords are the union of its parts')
        low = set(words(f.text))
        terms = {w.lower() for w in re.findall(r"\b[A-Z][a-z]{2,}\b", f.text)} | {
            k for k in f.keywords.lower().split() if k in low}
        for t in terms - STOPWORDS:
            kw_facts[t].append(f.id)
    for term, ids in kw_facts.items():
        if len(ids) >= TOPIC_MIN_FACTS and term not in covered and \
                (len(facts) < 20 or len(ids) < 0.5 * len(facts)):
            topics.append((f"topic:keyword:{term}", term.capitalize(), sorted(ids)))
    topics.sort(key=lambda t: (-len(t[2]), t[0]))
    return topics[:TOPIC_MAX]


def build_topic_summaries(conn, facts: dict[int, Fact], llm: Any, budget: list[int],
                          cancel: Optional[CancelToken]) -> list[Built]:
    """One summary per topic (entity or keyword shared by several facts)."""
    out = []
    for key, label, ids in _topics(conn, facts):
        check(cancel)
        top = top_facts((facts[i] for i in ids), TOPIC_TOP_FACTS)
        top.sort(key=lambda f: (f.day or "", f.id))
        days = [f.day for f in top if f.day]
        span = f" ({days[0]} – {days[-1]})" if days and days[0] != days[-1] else ""
        text = (f"About {label}{span}, {len(ids)} memories: " +
                " ".join(f"• {f.text.rstrip('.')}." for f in top))
        method = "template"
        cited = [f.id for f in top]
        hash_in = input_hash("topic", key, [(f.id, f.text) for f in top], len(ids))
        if llm is not None:
            got = model_text(llm, f"Summarise what is known about {label} in two sentences.",
                              [f.text for f in top], budget, cancel)
            if got:
                body, idx = got
                text = f"About {label}: {body}"
                cited = [top[i].id for i in idx]
                method = "model"
        msgs = [m for f in top for m in f.messages[:1]][:MAX_CITED_MESSAGES]
        out.append(Built(key, "summary", "topic", text, notes=cited, messages=msgs,
                         parts=[f.id for f in top], keywords=label.lower(), method=method,
                         input_hash=hash_in))
    return out
