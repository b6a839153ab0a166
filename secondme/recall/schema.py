"""Recall's tables (migrations ``m3xx``).

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
from __future__ import annotations

import sqlite3

from ..store.schema import FTS_TOKENIZE, migration, run_sql


@migration("m301_recall_windows_and_chats")
def _m301(conn: sqlite3.Connection) -> None:
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
