"""Memory formation's tables (migrations ``m2xx``).

- ``formation_windows``: one row per session window that was formed (a run of messages
  of one conversation, or a group of chunks of one document): which items, their
  content hash, which extractor, how many facts. A record of work done.
- ``formed_items``: every message/chunk that has been through formation, with the
  window that formed it. Written in the same transaction as the window's notes, so a
  crash or quit loses no work and repeats none; new messages appended to a conversation
  later are formed on their own.
- ``formation_state``: per conversation, the rolling summary the LLM extractor carries
  from one window to the next.
- ``note_slots``: a fact's (subject, attribute, value) when one could be read from it
  ("Anna lives in Berlin" → anna / residence / berlin). Two current facts with the same
  subject and attribute but different values contradict each other.
"""
from __future__ import annotations

import sqlite3

from ..store.schema import migration, run_sql


@migration("m201_memory_formation")
def _m201(conn: sqlite3.Connection) -> None:
    run_sql(conn, """
CREATE TABLE formation_windows (
  id INTEGER PRIMARY KEY,
  conversation_id INTEGER REFERENCES conversations(id) ON DELETE CASCADE,
  document_id INTEGER REFERENCES documents(id) ON DELETE CASCADE,
  first_item_id INTEGER NOT NULL,
  last_item_id INTEGER NOT NULL,
  items INTEGER NOT NULL,
  content_hash TEXT NOT NULL,
  extractor TEXT NOT NULL,
  facts INTEGER NOT NULL DEFAULT 0,
  rejected INTEGER NOT NULL DEFAULT 0,
  formed_at TEXT NOT NULL
);
CREATE INDEX formation_windows_conv ON formation_windows(conversation_id);
CREATE INDEX formation_windows_doc ON formation_windows(document_id);

CREATE TABLE formed_items (
  item_kind TEXT NOT NULL,            -- message | chunk
  item_id INTEGER NOT NULL,
  window_id INTEGER NOT NULL REFERENCES formation_windows(id) ON DELETE CASCADE,
  PRIMARY KEY (item_kind, item_id)
) WITHOUT ROWID;

CREATE TABLE formation_state (
  conversation_id INTEGER PRIMARY KEY REFERENCES conversations(id) ON DELETE CASCADE,
  summary TEXT NOT NULL DEFAULT '',
  updated_at TEXT NOT NULL
);

CREATE TABLE note_slots (
  note_id INTEGER PRIMARY KEY REFERENCES notes(id) ON DELETE CASCADE,
  subject TEXT NOT NULL,
  attribute TEXT NOT NULL,
  value TEXT NOT NULL
);
CREATE INDEX note_slots_key ON note_slots(subject, attribute);

CREATE INDEX IF NOT EXISTS notes_valid_from ON notes(valid_from);
CREATE INDEX IF NOT EXISTS notes_updated ON notes(updated_at);
CREATE INDEX IF NOT EXISTS links_src ON links(src_id);
CREATE INDEX IF NOT EXISTS entity_mentions_chunk ON entity_mentions(chunk_id);
CREATE UNIQUE INDEX IF NOT EXISTS entity_mentions_note_unique
  ON entity_mentions(entity_id, note_id) WHERE note_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS entities_norm ON entities(norm_name);
""")
