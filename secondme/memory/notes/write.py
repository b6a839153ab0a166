"""Notes in the store: insert, snapshot, history and undo.

Every change to a note goes through here so that it is recorded in ``history`` with a
JSON snapshot before and after, and can be undone. A snapshot holds the note's row, its
sources, its slot, its entity mentions and (for deletes and merges) its links.

All functions take a connection that is inside a write transaction
(``with store.write() as db: f(db.conn, ...)``); none commits.
"""
from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone
from typing import Any, Iterable, Optional

from ..errors import InvalidInput, NotFound
from ..models.embed import content_hash

NOTE_COLUMNS = ("id", "kind", "fact_type", "text", "keywords", "tags", "context", "valid_from",
                "valid_to", "created_at", "updated_at", "strength", "last_recalled",
                "retention", "pinned", "archived", "version", "user_edited", "origin",
                "confidence", "content_hash")
_COLS = ", ".join(NOTE_COLUMNS)


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def note_hash(text: str) -> str:
    return content_hash(" ".join(text.lower().split()))


def note_row(conn: sqlite3.Connection, note_id: int) -> Optional[dict]:
    row = conn.execute(f"select {_COLS} from notes where id = ?", [note_id]).fetchone()
    return dict(zip(NOTE_COLUMNS, row)) if row else None


def require_note(conn: sqlite3.Connection, note_id: int) -> dict:
    row = note_row(conn, int(note_id))
    if row is None:
        raise NotFound(f"note {note_id} does not exist")
    return row


def snapshot(conn: sqlite3.Connection, note_id: int, *, with_links: bool = False) -> Optional[dict]:
    """Everything needed to restore the note ``note_id`` as it is now (None if gone)."""
    row = note_row(conn, note_id)
    if row is None:
        return None
    snap: dict[str, Any] = {"note": row}
    snap["sources"] = [list(r) for r in conn.execute(
        "select message_id, chunk_id, source_note_id from note_sources where note_id = ? "
        "order by rowid", [note_id])]
    slot = conn.execute("select subject, attribute, value from note_slots where note_id = ?",
                        [note_id]).fetchone()
    snap["slot"] = list(slot) if slot else None
    snap["mentions"] = [r[0] for r in conn.execute(
        "select entity_id from entity_mentions where note_id = ?", [note_id])]
    if with_links:
        snap["links"] = [list(r) for r in conn.execute(
            "select src_id, dst_id, kind, weight, created_by, created_at from links "
            "where src_id = ? or dst_id = ?", [note_id, note_id])]
    return snap


def record(conn: sqlite3.Connection, note_id: int, action: str, before: Optional[dict],
           after: Optional[dict], actor: str = "system", at: Optional[str] = None) -> int:
    """Append a history row; returns its id."""
    return conn.execute(
        "insert into history (note_id, action, before, after, actor, at) values (?,?,?,?,?,?)",
        [note_id, action, json.dumps(before) if before is not None else None,
         json.dumps(after) if after is not None else None, actor, at or now_iso()]).lastrowid


def add_sources(conn: sqlite3.Connection, note_id: int,
                sources: Iterable[tuple[str, int]]) -> int:
    """Attach sources ("message"|"chunk"|"note", id) to a note; returns how many were new."""
    n = 0
    for kind, sid in sources:
        col = {"message": "message_id", "chunk": "chunk_id", "note": "source_note_id"}[kind]
        cur = conn.execute(f"insert or ignore into note_sources (note_id, {col}) values (?, ?)",
                           [note_id, int(sid)])
        n += cur.rowcount
    return n


def insert_note(conn: sqlite3.Connection, *, text: str, sources: list[tuple[str, int]],
                kind: str = "fact", fact_type: str = "", keywords: str = "", tags: str = "",
                context: str = "", valid_from: Optional[str] = None,
                valid_to: Optional[str] = None, origin: str = "extract",
                confidence: float = 1.0, strength: float = 1.0, at: Optional[str] = None,
                slot: Optional[tuple[str, str, str]] = None,
                entity_ids: Iterable[int] = (), actor: str = "system",
                note_id: Optional[int] = None) -> int:
    """Insert a note with its sources, slot and mentions, and record ``create``.

    Raises InvalidInput when ``sources`` is empty: no provenance, no note.
    """
    if not sources:
        raise InvalidInput("a note needs at least one source message, chunk or note")
    if not text or not text.strip():
        raise InvalidInput("a note needs some text")
    at = at or now_iso()
    cols = ["kind", "fact_type", "text", "keywords", "tags", "context", "valid_from",
            "valid_to", "created_at", "updated_at", "strength", "origin", "confidence",
            "content_hash"]
    vals = [kind, fact_type, text.strip(), keywords, tags, context, valid_from, valid_to, at,
            at, strength, origin, confidence, note_hash(text)]
    if note_id is not None:
        cols.insert(0, "id")
        vals.insert(0, note_id)
    nid = conn.execute(f"insert into notes ({', '.join(cols)}) values "
                       f"({', '.join('?' * len(cols))})", vals).lastrowid
    add_sources(conn, nid, sources)
    if slot:
        conn.execute("insert or replace into note_slots (note_id, subject, attribute, value) "
                     "values (?,?,?,?)", [nid, *slot])
    for eid in set(entity_ids):
        conn.execute("insert or ignore into entity_mentions (entity_id, note_id) values (?, ?)",
                     [eid, nid])
    record(conn, nid, "create", None, snapshot(conn, nid), actor, at)
    return nid


def update_note(conn: sqlite3.Connection, note_id: int, action: str, actor: str = "system",
                *, sources: Iterable[tuple[str, int]] = (), slot: Any = "keep",
                extra_after: Optional[dict] = None, **fields: Any) -> int:
    """Change columns of a note (and add sources), recording ``action`` in history.

    ``slot``: "keep", None (remove) or a (subject, attribute, value) tuple. Returns the
    history id. ``updated_at`` and ``content_hash`` follow automatically.
    """
    before = snapshot(conn, note_id)
    if before is None:
        raise NotFound(f"note {note_id} does not exist")
    fields = dict(fields)
    fields.setdefault("updated_at", now_iso())
    if "text" in fields:
        fields["content_hash"] = note_hash(fields["text"])
    if fields:
        sets = ", ".join(f"{k} = ?" for k in fields)
        conn.execute(f"update notes set {sets} where id = ?", [*fields.values(), note_id])
    add_sources(conn, note_id, sources)
    if slot != "keep":
        conn.execute("delete from note_slots where note_id = ?", [note_id])
        if slot:
            conn.execute("insert into note_slots (note_id, subject, attribute, value) "
                         "values (?,?,?,?)", [note_id, *slot])
    after = snapshot(conn, note_id)
    if extra_after:
        after.update(extra_after)
    return record(conn, note_id, action, before, after, actor)


def delete_note(conn: sqlite3.Connection, note_id: int, actor: str = "user",
                action: str = "delete") -> int:
    """Delete a note, keeping a full snapshot (with links) in history. Returns history id."""
    before = snapshot(conn, note_id, with_links=True)
    if before is None:
        raise NotFound(f"note {note_id} does not exist")
    hid = record(conn, note_id, action, before, None, actor)
    conn.execute("delete from notes where id = ?", [note_id])
    return hid


def restore(conn: sqlite3.Connection, snap: dict) -> None:
    """Put a note back exactly as in ``snap`` (re-creating it if it was deleted)."""
    row = snap["note"]
    nid = row["id"]
    exists = conn.execute("select 1 from notes where id = ?", [nid]).fetchone()
    if exists:
        sets = ", ".join(f"{c} = ?" for c in NOTE_COLUMNS if c != "id")
        conn.execute(f"update notes set {sets} where id = ?",
                     [row[c] for c in NOTE_COLUMNS if c != "id"] + [nid])
    else:
        conn.execute(f"insert into notes ({_COLS}) values ({', '.join('?' * len(NOTE_COLUMNS))})",
                     [row[c] for c in NOTE_COLUMNS])
    conn.execute("delete from note_sources where note_id = ?", [nid])
    for m, c, s in snap.get("sources", []):
        # a source deleted meanwhile (privacy) is not brought back
        try:
            conn.execute("insert or ignore into note_sources (note_id, message_id, chunk_id, "
                         "source_note_id) values (?,?,?,?)", [nid, m, c, s])
        except sqlite3.IntegrityError:
            pass
    conn.execute("delete from note_slots where note_id = ?", [nid])
    if snap.get("slot"):
        conn.execute("insert into note_slots (note_id, subject, attribute, value) values "
                     "(?,?,?,?)", [nid, *snap["slot"]])
    conn.execute("delete from entity_mentions where note_id = ?", [nid])
    for eid in snap.get("mentions", []):
        conn.execute("insert or ignore into entity_mentions (entity_id, note_id) select ?, ? "
                     "where exists (select 1 from entities where id = ?)", [eid, nid, eid])
    for src, dst, kind, weight, by, at in snap.get("links", []):
        conn.execute("insert or ignore into links (src_id, dst_id, kind, weight, created_by, "
                     "created_at) select ?,?,?,?,?,? where exists (select 1 from notes where "
                     "id = ?) and exists (select 1 from notes where id = ?)",
                     [src, dst, kind, weight, by, at, src, dst])


def add_link(conn: sqlite3.Connection, a: int, b: int, kind: str, weight: float,
             created_by: str = "auto") -> bool:
    """Insert a link (symmetric kinds are stored with the smaller id first).

    An existing link keeps the higher weight; a user link is never downgraded to auto.
    Returns True when a new link row was written.
    """
    if a == b:
        return False
    if kind in ("related", "same_entity"):
        a, b = min(a, b), max(a, b)
    cur = conn.execute(
        "insert into links (src_id, dst_id, kind, weight, created_by, created_at) "
        "values (?,?,?,?,?,?) on conflict(src_id, dst_id, kind) do update set "
        "weight = max(weight, excluded.weight), "
        "created_by = case when links.created_by = 'user' then 'user' else excluded.created_by end",
        [a, b, kind, float(weight), created_by, now_iso()])
    return cur.rowcount > 0
