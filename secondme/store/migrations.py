"""Named, ordered schema migrations.

Each migration is a function ``(conn) -> None`` registered with :func:`migration`.
They run in name order, each in its own transaction together with the row that records
it in ``migrations``; a failed migration leaves the store exactly as it was.

Name ranges, so that work on different parts of the app never collides:
``m0xx`` foundation, ``m1xx`` import, ``m2xx`` memory, ``m3xx`` recall,
``m4xx`` lifecycle, ``m5xx`` privacy, ``m6xx`` integrations, ``m7xx`` desktop app.

DDL is executed statement by statement with ``conn.execute`` (never ``executescript``,
which would commit the surrounding transaction).
"""
from __future__ import annotations

import sqlite3
from typing import Callable

MIGRATIONS: dict[str, Callable[[sqlite3.Connection], None]] = {}


def migration(name: str):
    """Register a migration function under ``name`` (must be unique)."""

    def register(fn):
        if name in MIGRATIONS:
            raise RuntimeError(f"duplicate migration {name}")
        MIGRATIONS[name] = fn
        return fn

    return register


def run_sql(conn: sqlite3.Connection, script: str) -> None:
    """Execute ``script`` statement by statement inside the current transaction."""
    buf = ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                conn.execute(buf)
            buf = ""
    if buf.strip():
        raise RuntimeError(f"incomplete SQL statement: {buf[:80]!r}")


FTS_TOKENIZE = "porter unicode61 remove_diacritics 2"


def fts_sql(table: str, columns: list[str], *, tokenize: str = FTS_TOKENIZE) -> str:
    """SQL for an external-content FTS5 table over ``table`` kept in sync by triggers."""
    cols = ", ".join(columns)
    new = ", ".join(f"new.{c}" for c in columns)
    old = ", ".join(f"old.{c}" for c in columns)
    fts = f"{table}_fts"
    return f"""
CREATE VIRTUAL TABLE {fts} USING fts5({cols}, content='{table}', content_rowid='id',
    tokenize='{tokenize}');
CREATE TRIGGER {table}_ai AFTER INSERT ON {table} BEGIN
  INSERT INTO {fts}(rowid, {cols}) VALUES (new.id, {new});
END;
CREATE TRIGGER {table}_ad AFTER DELETE ON {table} BEGIN
  INSERT INTO {fts}({fts}, rowid, {cols}) VALUES ('delete', old.id, {old});
END;
CREATE TRIGGER {table}_au AFTER UPDATE ON {table} BEGIN
  INSERT INTO {fts}({fts}, rowid, {cols}) VALUES ('delete', old.id, {old});
  INSERT INTO {fts}(rowid, {cols}) VALUES (new.id, {new});
END;
"""


@migration("m001_initial")
def _initial(conn: sqlite3.Connection) -> None:
    run_sql(conn, """
CREATE TABLE settings (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL,
  version INTEGER NOT NULL
);

-- one imported file, folder or archive
CREATE TABLE sources (
  id INTEGER PRIMARY KEY,
  kind TEXT NOT NULL,                 -- chatgpt, claude, whatsapp, ..., markdown, pdf, generic, chat
  path TEXT NOT NULL,
  content_hash TEXT,
  imported_at TEXT NOT NULL,
  counts TEXT NOT NULL DEFAULT '{}',  -- JSON
  errors TEXT NOT NULL DEFAULT '[]'   -- JSON list of {conversation, position, problem}
);
CREATE INDEX sources_path ON sources(path);

CREATE TABLE conversations (
  id INTEGER PRIMARY KEY,
  source_id INTEGER REFERENCES sources(id) ON DELETE SET NULL,
  format TEXT NOT NULL,
  external_id TEXT NOT NULL,          -- the export's own id (or a stable derived one)
  title TEXT NOT NULL DEFAULT '',
  participants TEXT NOT NULL DEFAULT '[]',
  started_at TEXT,
  updated_at TEXT,
  metadata TEXT NOT NULL DEFAULT '{}',
  UNIQUE(format, external_id)
);

-- episodic memory: kept verbatim, never rewritten
CREATE TABLE messages (
  id INTEGER PRIMARY KEY,
  conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
  external_id TEXT NOT NULL,
  position INTEGER NOT NULL,          -- order within the conversation
  speaker TEXT NOT NULL DEFAULT '',
  is_me INTEGER NOT NULL DEFAULT 0,
  kind TEXT NOT NULL DEFAULT 'message',  -- message | system
  timestamp TEXT,                     -- ISO 8601 with offset, as in the export
  ts REAL,                            -- the same instant as UTC epoch seconds
  text TEXT NOT NULL DEFAULT '',
  reply_to TEXT,                      -- external id of the message replied to
  attachments TEXT NOT NULL DEFAULT '[]',
  content_hash TEXT NOT NULL,
  UNIQUE(conversation_id, external_id)
);
CREATE INDEX messages_conv_pos ON messages(conversation_id, position);
CREATE INDEX messages_ts ON messages(ts);
CREATE INDEX messages_speaker ON messages(speaker);

CREATE TABLE documents (
  id INTEGER PRIMARY KEY,
  source_id INTEGER REFERENCES sources(id) ON DELETE SET NULL,
  format TEXT NOT NULL,
  path TEXT NOT NULL,
  title TEXT NOT NULL DEFAULT '',
  content_hash TEXT NOT NULL,
  created_at TEXT,
  modified_at TEXT,
  metadata TEXT NOT NULL DEFAULT '{}',   -- front matter, tags, aliases
  UNIQUE(path)
);

CREATE TABLE chunks (
  id INTEGER PRIMARY KEY,
  document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
  position INTEGER NOT NULL,
  text TEXT NOT NULL,
  page INTEGER,                       -- 1-based page for paged formats
  heading TEXT NOT NULL DEFAULT '',   -- heading path, "A > B > C"
  char_start INTEGER NOT NULL DEFAULT 0,
  char_end INTEGER NOT NULL DEFAULT 0,
  content_hash TEXT NOT NULL
);
CREATE INDEX chunks_doc_pos ON chunks(document_id, position);

-- semantic memory
CREATE TABLE notes (
  id INTEGER PRIMARY KEY,
  kind TEXT NOT NULL DEFAULT 'fact',  -- fact | summary | profile | user
  fact_type TEXT NOT NULL DEFAULT '', -- biography, preference, event, plan, ...
  text TEXT NOT NULL,
  keywords TEXT NOT NULL DEFAULT '',  -- space separated, for FTS and display
  tags TEXT NOT NULL DEFAULT '',      -- space separated
  context TEXT NOT NULL DEFAULT '',   -- one line
  valid_from TEXT,
  valid_to TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  strength REAL NOT NULL DEFAULT 1.0, -- S = 1 + reinforcements
  last_recalled TEXT,
  retention REAL NOT NULL DEFAULT 1.0,
  pinned INTEGER NOT NULL DEFAULT 0,
  archived INTEGER NOT NULL DEFAULT 0,
  version INTEGER NOT NULL DEFAULT 1,
  user_edited INTEGER NOT NULL DEFAULT 0,
  origin TEXT NOT NULL DEFAULT 'extract',  -- extract | user | chat | consolidate | mcp:<client>
  confidence REAL NOT NULL DEFAULT 1.0,
  content_hash TEXT NOT NULL DEFAULT ''
);
CREATE INDEX notes_kind ON notes(kind, archived);

-- every note cites at least one message or chunk
CREATE TABLE note_sources (
  note_id INTEGER NOT NULL REFERENCES notes(id) ON DELETE CASCADE,
  message_id INTEGER REFERENCES messages(id) ON DELETE CASCADE,
  chunk_id INTEGER REFERENCES chunks(id) ON DELETE CASCADE,
  source_note_id INTEGER REFERENCES notes(id) ON DELETE CASCADE,  -- summaries cite notes
  CHECK ((message_id IS NOT NULL) + (chunk_id IS NOT NULL) + (source_note_id IS NOT NULL) = 1)
);
CREATE INDEX note_sources_note ON note_sources(note_id);
CREATE INDEX note_sources_message ON note_sources(message_id);
CREATE INDEX note_sources_chunk ON note_sources(chunk_id);
CREATE UNIQUE INDEX note_sources_unique
  ON note_sources(note_id, IFNULL(message_id, 0), IFNULL(chunk_id, 0), IFNULL(source_note_id, 0));

CREATE TABLE links (
  id INTEGER PRIMARY KEY,
  src_id INTEGER NOT NULL REFERENCES notes(id) ON DELETE CASCADE,
  dst_id INTEGER NOT NULL REFERENCES notes(id) ON DELETE CASCADE,
  kind TEXT NOT NULL DEFAULT 'related', -- related | same_entity | updates | contradicts | part_of | wikilink
  weight REAL NOT NULL DEFAULT 1.0,
  created_by TEXT NOT NULL DEFAULT 'auto', -- auto | model | user
  created_at TEXT NOT NULL,
  UNIQUE(src_id, dst_id, kind)
);
CREATE INDEX links_dst ON links(dst_id);

-- links between imported documents (Obsidian wikilinks), before any note exists
CREATE TABLE document_links (
  src_document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
  target TEXT NOT NULL,                -- the wikilink target as written
  dst_document_id INTEGER REFERENCES documents(id) ON DELETE SET NULL,
  heading TEXT NOT NULL DEFAULT '',
  alias TEXT NOT NULL DEFAULT '',
  embed INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (src_document_id, target, heading)
);

CREATE TABLE entities (
  id INTEGER PRIMARY KEY,
  kind TEXT NOT NULL DEFAULT 'person',  -- person | place | organisation | other
  name TEXT NOT NULL,
  norm_name TEXT NOT NULL,
  aliases TEXT NOT NULL DEFAULT '[]',
  is_me INTEGER NOT NULL DEFAULT 0,
  UNIQUE(kind, norm_name)
);

CREATE TABLE entity_mentions (
  entity_id INTEGER NOT NULL REFERENCES entities(id) ON DELETE CASCADE,
  note_id INTEGER REFERENCES notes(id) ON DELETE CASCADE,
  message_id INTEGER REFERENCES messages(id) ON DELETE CASCADE,
  chunk_id INTEGER REFERENCES chunks(id) ON DELETE CASCADE
);
CREATE INDEX entity_mentions_entity ON entity_mentions(entity_id);
CREATE INDEX entity_mentions_note ON entity_mentions(note_id);
CREATE INDEX entity_mentions_message ON entity_mentions(message_id);

-- every change to a note, so that edits, merges and consolidations can be undone
CREATE TABLE history (
  id INTEGER PRIMARY KEY,
  note_id INTEGER NOT NULL,
  action TEXT NOT NULL,                -- create | edit | merge | invalidate | archive | ...
  before TEXT,                         -- JSON snapshot or NULL
  after TEXT,                          -- JSON snapshot or NULL
  actor TEXT NOT NULL DEFAULT 'system',
  at TEXT NOT NULL,
  undone INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX history_note ON history(note_id);

-- embeddings by content hash: never recomputed for text already embedded
CREATE TABLE embeddings (
  content_hash TEXT NOT NULL,
  model_id TEXT NOT NULL,
  vector BLOB NOT NULL,                -- float32, little endian
  PRIMARY KEY (content_hash, model_id)
) WITHOUT ROWID;

-- what the vector index holds: one label per embedded item
CREATE TABLE vector_items (
  label INTEGER PRIMARY KEY,
  kind TEXT NOT NULL,                  -- message | chunk | note
  item_id INTEGER NOT NULL,
  content_hash TEXT NOT NULL,
  UNIQUE(kind, item_id)
);

CREATE TABLE jobs (
  name TEXT PRIMARY KEY,
  next_run TEXT,
  last_run TEXT,
  last_outcome TEXT,                   -- ok | failed | cancelled | null
  last_error TEXT,
  paused INTEGER NOT NULL DEFAULT 0,
  state TEXT NOT NULL DEFAULT '{}'     -- job-specific resumable state (JSON)
);
""")
    run_sql(conn, fts_sql("messages", ["text", "speaker"]))
    run_sql(conn, fts_sql("chunks", ["text", "heading"]))
    run_sql(conn, fts_sql("notes", ["text", "keywords", "tags", "context"]))
