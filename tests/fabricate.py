"""Fabricated note states for lifecycle tests and benchmarks.

These write ``notes`` rows directly, on purpose: a test of decay, backups or integrity
checks needs notes in states the notes writer (``secondme.memory.notes``) rightly refuses
to produce — any strength, pinned, archived, recalled at any time, without a ``create``
history entry, even without sources (an orphan the integrity check must report). The
app itself never writes notes except through that writer (tests/test_layout.py).

Every function takes ``sm``: the service, or anything with its ``store`` and ``clock``.
"""
from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any, Iterable, Optional

from secondme.lifecycle.demo import HOBBIES, PEOPLE
from secondme.memory.notes import note_hash


def _iso(dt: datetime) -> str:
    return dt.isoformat(timespec="seconds")


def insert_note(sm: Any, text: str, *, kind: str = "fact", fact_type: str = "",
                created_at: Optional[datetime] = None, last_recalled: Optional[datetime] = None,
                strength: float = 1.0, pinned: bool = False, archived: bool = False,
                valid_from: Optional[datetime] = None, user_edited: bool = False,
                keywords: str = "", tags: str = "", origin: str = "extract",
                message_ids: Iterable[int] = (), source_note_ids: Iterable[int] = ()) -> int:
    """Insert one note in exactly the state given, with its sources (none is fine: see
    the module docstring). Returns its id."""
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
             int(user_edited), origin, note_hash(text)]).lastrowid
        c.executemany("insert into note_sources (note_id, message_id) values (?, ?)",
                      [(nid, m) for m in message_ids])
        c.executemany("insert into note_sources (note_id, source_note_id) values (?, ?)",
                      [(nid, n) for n in source_note_ids])
    return nid


def bulk_notes(sm: Any, n: int, *, now: Optional[datetime] = None, seed: int = 1,
               chunk: int = 20_000) -> None:
    """Insert ``n`` fact notes spread over two years, with random strengths, some
    reinforced and a few pinned (for the decay benchmark). Sources and history are not
    written (see the module docstring)."""
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
                         note_hash(text)))
        with sm.store.write() as db:
            db.conn.executemany(
                "insert into notes (kind, text, created_at, updated_at, strength, "
                "last_recalled, pinned, content_hash) values (?,?,?,?,?,?,?,?)", rows)
