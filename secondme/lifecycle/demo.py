"""Synthetic data for lifecycle development, tests and benchmarks.

Chats go through the import pipeline (:func:`secondme.ingest.pipeline.append_messages`)
and the facts formed from them through the notes writer, exactly as imports and memory
formation store them, so that the lifecycle jobs can be exercised on their own. To fill
a data directory with a small life (two years of chats with a few friends and the facts
formed from them)::

    with SecondMe(home) as sm:
        sm.update_settings(me_name="Sam")
        chat_history(sm, 1000)

Notes in states the writer refuses to produce (no history, no sources, any strength)
are fabricated by ``tests/fabricate.py``, which tests and benchmarks use; the app's own
code writes notes only through :mod:`secondme.memory.notes`.

Every function takes ``sm``: the service, or anything with its ``store`` and ``clock``.
"""
from __future__ import annotations

import hashlib
import random
from datetime import datetime, timedelta, timezone
from typing import Any, Optional, Sequence

from ..ingest.model import Conversation, Message
from ..ingest.pipeline import append_messages
from ..memory.notes import insert_note as write_note

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
    """Store one conversation through the import pipeline; ``messages`` are dicts with
    ``speaker``, ``text``, ``timestamp`` (aware datetime) and optional ``is_me`` /
    ``external_id``. Returns the ids of the messages added, in order."""
    ext = external_id or f"{fmt}-{_hash(title + str(len(messages)))[:12]}"
    msgs = [Message(m.get("external_id", f"m{pos + 1}"), m["speaker"], m["timestamp"],
                    m["text"], is_me=bool(m.get("is_me", False)))
            for pos, m in enumerate(messages)]
    return append_messages(sm.store, Conversation(
        fmt, ext, title, sorted({m["speaker"] for m in messages}), msgs))


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
            with sm.store.write() as db:
                for i, text, ftype in facts:
                    at = _iso(msgs[i]["timestamp"])
                    write_note(db.conn, text=text, sources=[("message", ids[i])],
                               fact_type=ftype, valid_from=at, at=at,
                               keywords=" ".join(w.lower() for w in text.split()
                                                 if w[:1].isupper()))
            made["facts"] += len(facts)
        made["conversations"] += 1
        made["messages"] += size
        remaining -= size
        conv_no += 1
        t += timedelta(hours=rng.randint(2, 48))
    return made
