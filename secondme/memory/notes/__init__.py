"""The one writer of notes, note sources, note slots, entity mentions, links and history.

Every module that changes these tables calls this package — the person's actions
(``MemoryOps``), memory formation, consolidation, decay and reinforcement — so that each
change is recorded the same way and can be undone by one :func:`undo`:

- :mod:`.rows` — a note's row, ``content_hash`` (:func:`note_hash`) and its **snapshot**,
  the one shape stored in ``history.before`` / ``history.after``;
- :mod:`.write` — insert, update, delete and restore notes; sources, slots, mentions and
  links; the history row (:func:`record`, :func:`recorded`); set-based changes of many
  notes (decay, reinforcement);
- :mod:`.merge` — the one merge (the survivor absorbs, the others are archived);
- :mod:`.undo` — the one undo, by the recorded action, and its redo.

All functions take a connection inside a write transaction
(``with store.write() as db: f(db.conn, ...)``) and never commit.
"""
from __future__ import annotations

from .merge import MERGED_AWAY_SQL, merge
from .rows import NOTE_COLUMNS, note_hash, note_row, now_iso, require_note, snapshot
from .undo import Undone, redo, undo
from .write import (
    add_link,
    add_mentions,
    add_sources,
    delete_note,
    ensure_link,
    insert_note,
    link_notes,
    purge_notes,
    record,
    recorded,
    remove_links,
    replace_auto_links,
    replace_sources,
    restore,
    set_archived_many,
    set_fields,
    set_retention,
    strengthen,
    unlink_notes,
    update_note,
)

__all__ = [
    "MERGED_AWAY_SQL", "NOTE_COLUMNS", "Undone", "add_link", "add_mentions", "add_sources",
    "delete_note", "ensure_link", "insert_note", "link_notes", "merge", "note_hash",
    "note_row", "now_iso", "purge_notes", "record", "recorded", "redo", "remove_links",
    "replace_auto_links", "replace_sources", "require_note", "restore", "set_archived_many",
    "set_fields", "set_retention", "snapshot", "strengthen", "undo", "unlink_notes",
    "update_note",
]
