"""Lifecycle's tables (migrations ``m4xx``).

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
from __future__ import annotations

import sqlite3

from ..store.schema import migration, run_sql


@migration("m401_lifecycle_jobs")
def _m401(conn: sqlite3.Connection) -> None:
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
""")


@migration("m402_notes_fts_trigger_on_text_columns")
def _m402(conn: sqlite3.Connection) -> None:
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
