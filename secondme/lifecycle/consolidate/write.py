"""Storing what consolidation built (summaries and the profile), idempotently.

Each built note has a stable key in ``consolidations`` with the hash of its inputs:
unchanged input is skipped; changed input updates the note in place (version + 1, a
``consolidate`` history row with the old text, undoable); a note the person edited
(``user_edited = 1``) keeps its text. Notes, sources and links are written through
:mod:`secondme.memory.notes`.
"""
from __future__ import annotations

import json
import sqlite3
from typing import Optional

from ...indexing import forget_items
from ...memory import notes as N
from ...store.db import Store
from ...store.vectors import VectorIndex
from .common import Built


def _sources(b: Built) -> list[tuple[str, int]]:
    return [("note", n) for n in dict.fromkeys(b.notes)] + \
        [("message", m) for m in dict.fromkeys(b.messages)]


def _update(c: sqlite3.Connection, nid: int, b: Built, version: int, text_changed: bool,
            now: str) -> None:
    """The summary's new text (when it changed), sources and part_of links."""
    def apply() -> list[list]:
        if text_changed:
            N.set_fields(c, nid, text=b.text, keywords=b.keywords, updated_at=now,
                         version=version + 1, valid_from=b.valid_from)
        N.replace_sources(c, nid, _sources(b))
        return N.replace_auto_links(c, nid, "part_of", b.parts, now)

    if text_changed:
        with N.recorded(c, nid, "consolidate", "consolidate", at=now) as change:
            added = apply()
            if added:
                change.detail["links_added"] = added
    else:
        apply()


def upsert(store: Store, b: Built, *, capable: bool, now: str,
           vectors: Optional[VectorIndex] = None) -> tuple[str, int]:
    """Create or update the note for ``b`` (``now``: its timestamps). A changed text
    drops the note's vector from ``vectors`` (the loaded index, if any), so the next
    indexing embeds the new text. Returns (action, note id), action one of ``created``,
    ``updated``, ``unchanged``, ``kept_user_edited``."""
    row = store.conn.execute(
        "select c.note_id, c.input_hash, c.method, n.user_edited, n.text, n.version "
        "from consolidations c left join notes n on n.id = c.note_id where c.key = ?",
        [b.key]).fetchone()
    if row is not None and row[0] is not None and row[4] is not None:
        nid, old_hash, old_method, edited, old_text, version = row
        redo_with_model = capable and old_method != "model" and b.method == "model"
        if old_hash == b.input_hash and not redo_with_model:
            return "unchanged", nid
        if edited:
            return "kept_user_edited", nid
        with store.write() as db:
            _update(db.conn, nid, b, version, old_text != b.text, now)
            db.conn.execute("update consolidations set input_hash = ?, method = ?, lines = ?, "
                            "updated_at = ? where key = ?",
                            [b.input_hash, b.method, json.dumps(b.lines), now, b.key])
        if old_text != b.text:
            forget_items(store, vectors, "note", [nid])
        return "updated", nid
    with store.write() as db:
        c = db.conn
        nid = N.insert_note(c, text=b.text, sources=_sources(b), kind=b.kind,
                            fact_type=b.fact_type, keywords=b.keywords, valid_from=b.valid_from,
                            origin="consolidate", at=now, actor="consolidate")
        N.replace_auto_links(c, nid, "part_of", b.parts, now)
        c.execute("insert or replace into consolidations (key, note_id, input_hash, method, "
                  "lines, updated_at) values (?, ?, ?, ?, ?, ?)",
                  [b.key, nid, b.input_hash, b.method, json.dumps(b.lines), now])
    return "created", nid
