"""Synthetic data for lifecycle development, tests, benchmarks and screenshots.

Rows are written straight into the store (conversations, messages, notes with their
sources), the same shape the importers and memory formation write, so the lifecycle
jobs can be exercised on their own: ``python -m secondme.lifecycle.demo HOME`` fills a
data directory with a small life (two years of chats with a few friends and the facts
formed from them).
"""
from __future__ import annotations

import hashlib
import random
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Optional, Sequence

PEOPLE = ["Anna", "Bob", "Chen", "Dana", "Emil"]
PLACES = ["Berlin", "Lisbon", "Kyoto", "Oslo", "Lyon"]
HOBBIES = ["hiking", "climbing", "sourdough baking", "chess", "cycling", "jazz piano"]
FOODS = ["ramen", "dumplings", "tapas", "falafel", "pho"]


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _iso(dt: datetime) -> str:
    return dt.isoformat(timespec="seconds")


def insert_conversation(sm: Any, title: str, messages: Sequence[dict], *,
                        fmt: str = "demo", external_id: Optional[str] = None) -> list[int]:
    """Insert one conversation; ``messages`` are dicts with ``speaker``, ``text``,
    ``timestamp`` (aware datetime) and optional ``is_me``/``external_id``. Returns the
    message ids in order."""
    ext = external_id or f"{fmt}-{_hash(title + str(len(messages)))[:12]}"
    ids = []
    with sm.store.write() as db:
        c = db.conn
        started = messages[0]["timestamp"] if messages else None
        conv_id = c.execute(
            "insert into conversations (format, external_id, title, participants, "
            "started_at, updated_at) values (?, ?, ?, ?, ?, ?)",
            [fmt, ext, title,
             __import__("json").dumps(sorted({m["speaker"] for m in messages})),
             _iso(started) if started else None,
             _iso(messages[-1]["timestamp"]) if messages else None]).lastrowid
        for pos, m in enumerate(messages):
            ts = m["timestamp"]
            ids.append(c.execute(
                "insert into messages (conversation_id, external_id, position, speaker, "
                "is_me, timestamp, ts, text, content_hash) values (?,?,?,?,?,?,?,?,?)",
                [conv_id, m.get("external_id", f"m{pos + 1}"), pos, m["speaker"],
                 int(m.get("is_me", False)), _iso(ts), ts.timestamp(), m["text"],
                 _hash(m["speaker"] + m["text"])]).lastrowid)
    return ids


def insert_note(sm: Any, text: str, *, kind: str = "fact", fact_type: str = "",
                created_at: Optional[datetime] = None, last_recalled: Optional[datetime] = None,
                strength: float = 1.0, pinned: bool = False, archived: bool = False,
                valid_from: Optional[datetime] = None, user_edited: bool = False,
                keywords: str = "", tags: str = "", origin: str = "extract",
                message_ids: Iterable[int] = (), source_note_ids: Iterable[int] = ()) -> int:
    """Insert one note with its sources. Returns its id."""
    created = created_at or sm.clock()
    with sm.store.write() as db:
        c = db.conn
        nid = c.execute(
            "insert into notes (kind, fact_type, text, keywords, tags, valid_from, created_at, "
            "updated_at, strength, last_recalled, pinned, archived, user_edited, origin, "
            "content_hash) values (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [kind, fact_type, text, keywords, tags,
             _iso(valid_from) if valid_from else None, _iso(created), _iso(created), strength,
             _iso(last_recalled) if last_recalled else None, int(pinned), int(archived),
             int(user_edited), origin, _hash(text)]).lastrowid
        c.executemany("insert into note_sources (note_id, message_id) values (?, ?)",
                      [(nid, m) for m in message_ids])
        c.executemany("insert into note_sources (note_id, source_note_id) values (?, ?)",
                      [(nid, n) for n in source_note_ids])
    return nid


def bulk_notes(sm: Any, n: int, *, now: Optional[datetime] = None, seed: int = 1,
               chunk: int = 20_000) -> None:
    """Insert ``n`` fact notes spread over two years, with random strengths, some
    reinforced and a few pinned (for the decay benchmark). Sources are not written."""
    rng = random.Random(seed)
    now = now or sm.clock()
    for start in range(0, n, chunk):
        rows = []
        for i in range(start, min(n, start + chunk)):
            created = now - timedelta(days=rng.uniform(0, 730))
            recalled = created + timedelta(days=rng.uniform(0, (now - created).days or 1)) \
                if rng.random() < 0.3 else None
            text = f"fact {i}: {rng.choice(PEOPLE)} likes {rng.choice(HOBBIES)}"
            rows.append(("fact", text, _iso(created), _iso(created),
                         float(1 + (rng.random() < 0.3) * rng.randint(1, 5)),
                         _iso(recalled) if recalled else None, int(rng.random() < 0.01),
                         _hash(text)))
        with sm.store.write() as db:
            db.conn.executemany(
                "insert into notes (kind, text, created_at, updated_at, strength, "
                "last_recalled, pinned, content_hash) values (?,?,?,?,?,?,?,?)", rows)


def chat_history(sm: Any, n_messages: int, *, start: Optional[datetime] = None,
                 seed: int = 7, me: str = "Sam", with_facts: bool = True) -> dict:
    """A life in chats: ``n_messages`` messages in conversations with a few friends over
    many days, plus (``with_facts``) the fact notes formation would derive from the
    messages that state something, each citing its message. Returns counts."""
    rng = random.Random(seed)
    start = start or datetime(2024, 1, 1, 9, 0, tzinfo=timezone.utc)
    templates_me = [
        ("I went {hobby} with {person} in {place} today", "event"),
        ("I really love {food}, had it again with {person}", "preference"),
        ("{person} told me they are moving to {place}", "biography"),
        ("I started learning {hobby}", "plan"),
        ("My favourite food is {food}", "preference"),
        ("I live in {place} now", "biography"),
    ]
    small = ["ok", "haha yes", "see you soon", "sounds good", "what time?", "sure thing",
             "how are you?", "good night", "thanks!", "on my way"]
    made = {"conversations": 0, "messages": 0, "facts": 0}
    t = start
    remaining = n_messages
    conv_no = 0
    while remaining > 0:
        person = PEOPLE[conv_no % len(PEOPLE)]
        size = min(remaining, rng.randint(20, 60))
        msgs = []
        facts = []
        for i in range(size):
            t += timedelta(minutes=rng.randint(1, 240))
            is_me = i % 2 == 0
            if rng.random() < 0.3:
                tpl, ftype = rng.choice(templates_me)
                text = tpl.format(hobby=rng.choice(HOBBIES), person=person,
                                  place=rng.choice(PLACES), food=rng.choice(FOODS))
                if not is_me:
                    for a, b in (("I really love", f"{person} really loves"),
                                 ("I live", f"{person} lives"), ("I went", f"{person} went"),
                                 ("I started", f"{person} started"),
                                 ("My favourite", f"{person}'s favourite"),
                                 (f"with {person}", "with me"), (" told me they are", " is")):
                        text = text.replace(a, b)
                facts.append((i, text, ftype))
            else:
                text = rng.choice(small)
            msgs.append({"speaker": me if is_me else person, "is_me": is_me, "text": text,
                         "timestamp": t, "external_id": f"c{conv_no}-m{i + 1}"})
        ids = insert_conversation(sm, f"Chat with {person}", msgs,
                                  external_id=f"demo-chat-{conv_no}")
        if with_facts:
            rows = []
            for i, text, ftype in facts:
                ts = msgs[i]["timestamp"]
                rows.append((text, ftype, ts, ids[i]))
            with sm.store.write() as db:
                for text, ftype, ts, mid in rows:
                    kw = " ".join(w.lower() for w in text.split() if w[:1].isupper())
                    nid = db.conn.execute(
                        "insert into notes (kind, fact_type, text, keywords, valid_from, "
                        "created_at, updated_at, content_hash) values "
                        "('fact', ?, ?, ?, ?, ?, ?, ?)",
                        [ftype, text, kw, _iso(ts), _iso(ts), _iso(ts), _hash(text)]).lastrowid
                    db.conn.execute("insert into note_sources (note_id, message_id) "
                                    "values (?, ?)", [nid, mid])
            made["facts"] += len(rows)
        made["conversations"] += 1
        made["messages"] += size
        remaining -= size
        conv_no += 1
        t += timedelta(hours=rng.randint(2, 48))
    return made


def main(argv: Optional[list[str]] = None) -> None:
    """``python -m secondme.lifecycle.demo HOME [N_MESSAGES]``."""
    import sys

    from ..service import SecondMe

    args = argv if argv is not None else sys.argv[1:]
    if not args:
        raise SystemExit("usage: python -m secondme.lifecycle.demo HOME [N_MESSAGES]")
    n = int(args[1]) if len(args) > 1 else 1000
    with SecondMe(args[0]) as sm:
        if not sm.settings.me_name:
            sm.update_settings(me_name="Sam")
        print(chat_history(sm, n))


if __name__ == "__main__":
    main()
