"""Every schema migration of the store, in one ordered list: :data:`MIGRATIONS`.

A migration is a function ``(conn) -> None``. :meth:`secondme.store.db.Store.migrate` runs
each one not yet recorded in the ``migrations`` table, in list order, in its own
transaction together with the row that records it, so a failed migration leaves the store
exactly as it was.

Names are recorded in every database: a released migration never changes its name or what
it does. A new one goes at the end of the list and takes the next number (``m403_…``,
then ``m404_…``), whichever part of the app it is for. The numbers of the first release
came from per-area ranges (``m0xx`` foundation, ``m2xx`` memory, ``m3xx`` recall, ``m4xx``
lifecycle) and stay as they are; the list is ordered by number, so the order in which a
database applied them and the order of its ``migrations`` rows by name agree.

DDL is executed statement by statement with :func:`run_sql` (never ``executescript``,
which would commit the surrounding transaction).
"""
from __future__ import annotations

import sqlite3
from typing import Callable

Migration = Callable[[sqlite3.Connection], None]


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


# -- m001: the foundation -------------------------------------------------------------
def _m001_imports(conn: sqlite3.Connection) -> None:
    """Settings, and what imports write: sources, conversations, messages, documents."""
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
""")  # noqa: E501 - the released schema text, comments included


def _m001_notes(conn: sqlite3.Connection) -> None:
    """Semantic memory: notes, their sources, links between notes and between documents."""
    run_sql(conn, """
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
""")  # noqa: E501 - the released schema text, comments included


def _m001_entities_history_index(conn: sqlite3.Connection) -> None:
    """Entities and their mentions, note history, embeddings, the vector index map, jobs."""
    run_sql(conn, """
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


def m001_initial(conn: sqlite3.Connection) -> None:
    """The foundation: every table of the first schema, and FTS5 over messages, chunks
    and notes kept in step by triggers."""
    _m001_imports(conn)
    _m001_notes(conn)
    _m001_entities_history_index(conn)
    run_sql(conn, fts_sql("messages", ["text", "speaker"]))
    run_sql(conn, fts_sql("chunks", ["text", "heading"]))
    run_sql(conn, fts_sql("notes", ["text", "keywords", "tags", "context"]))


# -- m201: memory formation ----------------------------------------------------------
def m201_memory_formation(conn: sqlite3.Connection) -> None:
    """Memory formation's tables.

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


# -- m301: recall ----------------------------------------------------------------------
def m301_recall_windows_and_chats(conn: sqlite3.Connection) -> None:
    """Recall's tables.

    - ``message_windows``: an FTS5 table with one row per message (rowid = ``messages.id``)
      whose columns are the message itself (``own``: speaker + text), its neighbours in the
      same session (``ctx``) and its date and speaker spelled out (``meta``). Lexical search
      ranks messages with ``bm25()`` over these columns with measured weights, so a message
      is found through the words around it and its date, while the *result* stays the single
      message. Kept in step lazily by :func:`secondme.recall.windows.update_windows`.
    - ``message_windows_state``: per conversation, how many messages and the largest id
      that were windowed; a changed pair means the conversation's windows are rebuilt.
    - ``recall_chats`` / ``recall_chat_turns``: the ask-chat history. The app's answers live
      here only: they are never stored as messages and never indexed, so they can never be
      evidence for a later answer.
    """
    run_sql(conn, f"""
CREATE VIRTUAL TABLE message_windows USING fts5(own, ctx, meta,
    tokenize='{FTS_TOKENIZE}');
CREATE TABLE message_windows_state (
  conversation_id INTEGER PRIMARY KEY,
  messages INTEGER NOT NULL,
  max_id INTEGER NOT NULL,
  width INTEGER NOT NULL
);
CREATE TABLE recall_chats (
  id INTEGER PRIMARY KEY,
  title TEXT NOT NULL DEFAULT '',
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE TABLE recall_chat_turns (
  id INTEGER PRIMARY KEY,
  chat_id INTEGER NOT NULL REFERENCES recall_chats(id) ON DELETE CASCADE,
  role TEXT NOT NULL,                  -- user | assistant
  text TEXT NOT NULL,
  created_at TEXT NOT NULL,
  query TEXT NOT NULL DEFAULT '',      -- the retrieval query actually used (user turns)
  entities TEXT NOT NULL DEFAULT '[]', -- names carried to follow-up questions (JSON)
  citations TEXT NOT NULL DEFAULT '[]',-- assistant turns: [{{n, id, kind}}] (JSON)
  abstained INTEGER NOT NULL DEFAULT 0,
  message_id INTEGER REFERENCES messages(id) ON DELETE SET NULL  -- "remember that" turns
);
CREATE INDEX recall_chat_turns_chat ON recall_chat_turns(chat_id, id);
""")


# -- m401, m402: lifecycle -------------------------------------------------------------
def m401_lifecycle_jobs(conn: sqlite3.Connection) -> None:
    """Lifecycle's tables.

    - ``jobs`` (foundation) gains what the scheduler persists across restarts: coarse
      ``progress`` of a running job, the ``last_summary`` and ``last_duration`` of the last
      run, ``requested_at`` (a run asked for by any process: the app's scheduler picks it up)
      and ``cancel_requested`` (a cancel asked for by another process, polled by the run).
    - ``job_leases``: one row per job that is running somewhere, with the owner's pid, host
      and an expiry (epoch seconds, renewed by a heartbeat). It is how a job never runs twice
      at once, also across processes (the desktop app's scheduler and ``secondme jobs run``).
      A lease whose owner died or whose expiry passed is taken over.
    - ``job_runs``: the recent runs of every job (for the Activity pane).
    - ``reinforcements``: every reinforcement of a note (cited, opened, edited, confirmed),
      so that ``notes.strength`` = 1 + count can always be explained.
    - ``consolidations``: what nightly consolidation built, by a stable key
      (``day:2024-03-05``, ``week:2024-W10``, ``topic:person:anna``, ``profile``), with the
      hash of its inputs (unchanged input → nothing is redone), the method that wrote it
      (``template`` or ``model``) and, for the profile, its lines with their citations.
    """
    run_sql(conn, """
ALTER TABLE jobs ADD COLUMN progress TEXT;
ALTER TABLE jobs ADD COLUMN last_summary TEXT;
ALTER TABLE jobs ADD COLUMN last_duration REAL;
ALTER TABLE jobs ADD COLUMN requested_at TEXT;
ALTER TABLE jobs ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0;

CREATE TABLE job_leases (
  name TEXT PRIMARY KEY,
  owner TEXT NOT NULL,                 -- unique per run: host:pid:random
  pid INTEGER NOT NULL,
  host TEXT NOT NULL,
  started_at TEXT NOT NULL,
  expires REAL NOT NULL                -- epoch seconds (wall clock)
);

CREATE TABLE job_runs (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  started_at TEXT NOT NULL,
  finished_at TEXT,
  outcome TEXT,                        -- ok | failed | cancelled
  error TEXT,
  summary TEXT,                        -- JSON
  trigger TEXT NOT NULL DEFAULT 'manual'  -- manual | schedule | catch-up | request
);
CREATE INDEX job_runs_name ON job_runs(name, id);

CREATE TABLE reinforcements (
  id INTEGER PRIMARY KEY,
  note_id INTEGER NOT NULL REFERENCES notes(id) ON DELETE CASCADE,
  at TEXT NOT NULL,
  reason TEXT NOT NULL DEFAULT ''      -- cited | opened | edited | confirmed | ...
);
CREATE INDEX reinforcements_note ON reinforcements(note_id);

CREATE TABLE consolidations (
  key TEXT PRIMARY KEY,                -- day:YYYY-MM-DD | week:YYYY-Www | topic:... | profile
  note_id INTEGER REFERENCES notes(id) ON DELETE SET NULL,
  input_hash TEXT NOT NULL,
  method TEXT NOT NULL DEFAULT 'template',  -- template | model
  lines TEXT NOT NULL DEFAULT '[]',    -- JSON [{text, sources: [{message_id}|{note_id}|{chunk_id}]}]
  updated_at TEXT NOT NULL
);
CREATE INDEX consolidations_note ON consolidations(note_id);
""")  # noqa: E501 - the released schema text, comments included


def m402_notes_fts_trigger_on_text_columns(conn: sqlite3.Connection) -> None:
    """Re-index a note in ``notes_fts`` only when an indexed column changes.

    The foundation's ``notes_au`` trigger fired on *any* update, so the decay pass (which
    rewrites ``retention`` of every note) and reinforcement re-indexed the full text of
    each note: 100,000 notes took half a minute instead of seconds. ``UPDATE OF`` the
    four indexed columns keeps the index exactly as before for every other change.
    """
    run_sql(conn, """
DROP TRIGGER IF EXISTS notes_au;
CREATE TRIGGER notes_au AFTER UPDATE OF text, keywords, tags, context ON notes BEGIN
  INSERT INTO notes_fts(notes_fts, rowid, text, keywords, tags, context)
    VALUES ('delete', old.id, old.text, old.keywords, old.tags, old.context);
  INSERT INTO notes_fts(rowid, text, keywords, tags, context)
    VALUES (new.id, new.text, new.keywords, new.tags, new.context);
END;
""")


def m403_vector_labels_never_reused(conn: sqlite3.Connection) -> None:
    """Vector index labels are never given twice, and every change is counted.

    Labels were ``max(label) + 1``: when the newest item lost its vector (a note refined
    by formation), its label went to the next item, and hnswlib, asked to add a label it
    had marked deleted, brought the old entry back — the index counted one deletion too
    many and was "out of step" (rebuilt) after every formation; another process holding
    the old label in memory answered with the wrong item. ``vector_state`` keeps the next
    label (only ever growing) and a ``generation`` that every insert or delete of
    ``vector_items`` advances, whoever makes it, so a process with the index loaded knows
    cheaply when other processes changed it (``VectorIndex.sync``).
    """
    run_sql(conn, """
CREATE TABLE vector_state (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  next_label INTEGER NOT NULL,
  generation INTEGER NOT NULL DEFAULT 0
);
INSERT INTO vector_state (id, next_label, generation)
  SELECT 1, coalesce(max(label), 0) + 1, 0 FROM vector_items;
CREATE TRIGGER vector_items_ai AFTER INSERT ON vector_items BEGIN
  UPDATE vector_state SET generation = generation + 1,
    next_label = max(next_label, new.label + 1) WHERE id = 1;
END;
CREATE TRIGGER vector_items_ad AFTER DELETE ON vector_items BEGIN
  UPDATE vector_state SET generation = generation + 1 WHERE id = 1;
END;
""")


# -- m515: memory formation's quarantine (issue 15) ------------------------------------
def m515_formation_quarantine(conn: sqlite3.Connection) -> None:
    """Windows that formation could not form, set aside so that the rest goes on.

    - ``formation_failures``: one row per window that failed: its conversation or
      document, its items (JSON ids), the problem in words a person can act on, the
      technical error (for a bug report), when, how many attempts, and ``retrying`` (1
      once the person asked to retry it: the next extract run offers it again).
    - ``formation_quarantine``: every message/chunk of a failed window (skipped by the
      window planner until retried). Deleting a conversation or document removes both.
    """
    run_sql(conn, """
CREATE TABLE formation_failures (
  id INTEGER PRIMARY KEY,
  conversation_id INTEGER REFERENCES conversations(id) ON DELETE CASCADE,
  document_id INTEGER REFERENCES documents(id) ON DELETE CASCADE,
  item_kind TEXT NOT NULL,             -- message | chunk
  item_ids TEXT NOT NULL,              -- JSON list of messages.id / chunks.id
  problem TEXT NOT NULL,               -- for people
  error TEXT NOT NULL DEFAULT '',      -- exception type and message, for bug reports
  failed_at TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 1,
  retrying INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX formation_failures_conv ON formation_failures(conversation_id);
CREATE INDEX formation_failures_doc ON formation_failures(document_id);

CREATE TABLE formation_quarantine (
  item_kind TEXT NOT NULL,
  item_id INTEGER NOT NULL,
  failure_id INTEGER NOT NULL REFERENCES formation_failures(id) ON DELETE CASCADE,
  PRIMARY KEY (item_kind, item_id)
) WITHOUT ROWID;
CREATE INDEX formation_quarantine_failure ON formation_quarantine(failure_id);
""")


# -- m516: one vector index entry per distinct text (issue 14) -------------------------
def m516_one_vector_per_text(conn: sqlite3.Connection) -> None:
    """Items with the same text share one entry of the vector index.

    ``vector_items.vec`` is the hnswlib label that holds an item's vector: the label of
    the first item indexed with that text (``content_hash``); later items with the same
    text point at it and add nothing to the index. At 1M generated chat messages, 523,883
    of 979,995 entries repeated another's vector ("ok", "haha", "on my way") — about
    half of the index's 1.65 GB. An entry leaves the index when no item points at it.
    The index file written before this is rebuilt when next opened (its metadata has no
    ``layout``), from the stored vectors: nothing is embedded again.

    Also: ``note_sources(source_note_id)`` gets an index — deleting a note looked for
    summaries citing it by scanning every note source (60k notes took over 12 minutes to
    purge from a store of 1M messages).
    """
    run_sql(conn, """
ALTER TABLE vector_items ADD COLUMN vec INTEGER;
CREATE INDEX vector_items_hash ON vector_items(content_hash);
UPDATE vector_items SET vec = (SELECT min(v2.label) FROM vector_items v2
                               WHERE v2.content_hash = vector_items.content_hash);
CREATE INDEX vector_items_vec ON vector_items(vec);
UPDATE vector_state SET generation = generation + 1 WHERE id = 1;
CREATE INDEX note_sources_source_note ON note_sources(source_note_id);
""")


# -- m517: a note's vector is embedded from its text alone (issue 14) ----------------
def m517_note_vectors_of_their_text(conn: sqlite3.Connection) -> None:
    """Notes were embedded from "text | keywords | context"; now from their text alone
    (``indexing.NOTE_VECTOR_PARTS``: the same recall for half the tokens). Their vector
    entries go, so that the indexing job embeds every note again, with its progress (a
    minute per ~5,000 notes on a slow 2-core machine; keyword search meanwhile finds them
    as before), and an open vector index scrubs the old entries when it next syncs
    (``vector_state.generation`` moves with every delete). Stored vectors that no item
    uses any more (the old texts') go too; a message or chunk's vector stays.
    """
    run_sql(conn, """
CREATE TEMP TABLE _m517_hashes AS
  SELECT DISTINCT content_hash FROM vector_items WHERE kind = 'note';
DELETE FROM vector_items WHERE kind = 'note';
DELETE FROM embeddings WHERE content_hash IN (SELECT content_hash FROM _m517_hashes)
  AND NOT EXISTS (SELECT 1 FROM vector_items v
                  WHERE v.content_hash = embeddings.content_hash);
DROP TABLE _m517_hashes;
""")


# -- m518: removed index entries logged; links read from their index (issue 14) ------
def m518_vector_removals_and_link_pairs(conn: sqlite3.Connection) -> None:
    """``vector_removals`` logs each index entry (``vec``) that no ``vector_items`` row
    points at any more, whoever removed it, so that a process holding the index scrubs
    exactly those (``VectorIndex.sync``) instead of comparing every label with the
    database — at 1M messages, while another process formed memories and removed note
    vectors all the time, that comparison (a count of distinct entries, 75 ms, before
    every search; the whole label set, seconds, every 30 s) made searches take p50/p95
    0.36/0.64 s. ``id`` only grows, so an index knows which removals it has seen.

    Links get two indexes that hold the pair and its weight: the graph list of a search
    reads ~12,000 links of a formed 1M store's notes, and looking each row up in the
    table was most of that read. They replace ``links_src``/``links_dst``.
    """
    run_sql(conn, """
CREATE TABLE vector_removals (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  vec INTEGER NOT NULL
);
CREATE TRIGGER vector_items_entry_removed AFTER DELETE ON vector_items
WHEN old.vec IS NOT NULL AND NOT EXISTS (SELECT 1 FROM vector_items WHERE vec = old.vec)
BEGIN
  INSERT INTO vector_removals (vec) VALUES (old.vec);
END;
DROP INDEX IF EXISTS links_src;
DROP INDEX IF EXISTS links_dst;
CREATE INDEX links_src_pairs ON links(src_id, dst_id, weight);
CREATE INDEX links_dst_pairs ON links(dst_id, src_id, weight);
""")


#: Every migration, in the order it runs. Append new ones at the end (see the module doc).
MIGRATIONS: list[tuple[str, Migration]] = [
    ("m001_initial", m001_initial),
    ("m201_memory_formation", m201_memory_formation),
    ("m301_recall_windows_and_chats", m301_recall_windows_and_chats),
    ("m401_lifecycle_jobs", m401_lifecycle_jobs),
    ("m402_notes_fts_trigger_on_text_columns", m402_notes_fts_trigger_on_text_columns),
    ("m403_vector_labels_never_reused", m403_vector_labels_never_reused),
    ("m515_formation_quarantine", m515_formation_quarantine),
    ("m516_one_vector_per_text", m516_one_vector_per_text),
    ("m517_note_vectors_of_their_text", m517_note_vectors_of_their_text),
    ("m518_vector_removals_and_link_pairs", m518_vector_removals_and_link_pairs),
]
