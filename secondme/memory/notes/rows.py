"""Reading a note's row and its snapshot — the one shape every history row stores.

A **snapshot** is everything needed to put a note back exactly as it was::

    {"note":     {every column of ``notes``},
     "sources":  [[message_id, chunk_id, source_note_id], ...],   # note_sources, in order
     "slot":     [subject, attribute, value] | null,              # note_slots
     "mentions": [entity_id, ...],                                # entity_mentions
     "links":    [[src_id, dst_id, kind, weight, created_by, created_at], ...]}

It is built by one SQL expression (:data:`SNAPSHOT_SQL`), so a single note
(:func:`snapshot`) and thousands at once (decay's archive pass) are recorded alike.
REAL columns are written with 17 significant digits so that a restore is exact.
"""
from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone
from typing import Optional

from ...errors import NotFound
from ...models.embed import content_hash

NOTE_COLUMNS = ("id", "kind", "fact_type", "text", "keywords", "tags", "context", "valid_from",
                "valid_to", "created_at", "updated_at", "strength", "last_recalled",
                "retention", "pinned", "archived", "version", "user_edited", "origin",
                "confidence", "content_hash")
_REAL_COLUMNS = frozenset({"strength", "retention", "confidence"})
_COLS = ", ".join(NOTE_COLUMNS)


def _column_json(col: str) -> str:
    # SQLite's JSON writes reals with 15 digits; printf('%!.17g') round-trips a double
    return f"json(printf('%!.17g', n.{col}))" if col in _REAL_COLUMNS else f"n.{col}"


#: SQL for the snapshot (JSON text) of the note ``n`` of the enclosing query
SNAPSHOT_SQL = (
    "json_object('note', json_object("
    + ", ".join(f"'{c}', {_column_json(c)}" for c in NOTE_COLUMNS) + "), "
    "'sources', json((select json_group_array(json_array(s.message_id, s.chunk_id, "
    "s.source_note_id)) from (select message_id, chunk_id, source_note_id from note_sources "
    "where note_id = n.id order by rowid) s)), "
    "'slot', json((select json_array(subject, attribute, value) from note_slots "
    "where note_id = n.id)), "
    "'mentions', json((select json_group_array(entity_id) from (select entity_id from "
    "entity_mentions where note_id = n.id order by rowid))), "
    "'links', json((select json_group_array(json_array(l.src_id, l.dst_id, l.kind, l.weight, "
    "l.created_by, l.created_at)) from (select * from links where src_id = n.id union "
    "select * from links where dst_id = n.id order by id) l)))")


def now_iso() -> str:
    """Now (UTC, seconds) as stored in ``created_at`` / ``updated_at`` / ``history.at``."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def note_hash(text: str) -> str:
    """``notes.content_hash``: the hash of the text, lower-cased with its whitespace
    collapsed, so that notes saying exactly the same thing share it (consolidation
    groups exact duplicates by it before comparing words)."""
    return content_hash(" ".join(text.lower().split()))


def note_row(conn: sqlite3.Connection, note_id: int) -> Optional[dict]:
    """The note's columns as a dict, or None when it does not exist."""
    row = conn.execute(f"select {_COLS} from notes where id = ?", [note_id]).fetchone()
    return dict(zip(NOTE_COLUMNS, row)) if row else None


def require_note(conn: sqlite3.Connection, note_id: int) -> dict:
    """Like :func:`note_row`; raises NotFound when the note does not exist."""
    row = note_row(conn, int(note_id))
    if row is None:
        raise NotFound(f"note {note_id} does not exist", item="memory")
    return row


def snapshot(conn: sqlite3.Connection, note_id: int) -> Optional[dict]:
    """The snapshot of note ``note_id`` as it is now (None when it does not exist)."""
    row = conn.execute(f"select {SNAPSHOT_SQL} from notes n where n.id = ?",
                       [note_id]).fetchone()
    return json.loads(row[0]) if row else None
