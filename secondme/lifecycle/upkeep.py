"""Weekly upkeep: keep the indexes compact and check the store's health.

Steps, each its own short piece of work (cancel is honoured between them):

1. **Vector index**: drop ``vector_items`` whose message, chunk or note no longer exists
   (their labels are marked deleted in the index); when deleted slots exceed
   ``COMPACT_RATIO`` (20 %) of the live items, rebuild the hnswlib index from the stored
   embeddings (no text is embedded again). Works on the loaded index of the app, or on
   the index files when none is loaded (the embedding model is not needed). The log of
   removed entries other processes follow (``vector_removals``) keeps its last
   ``REMOVALS_KEPT`` rows.
2. **Full-text search**: ``INSERT INTO x_fts(x_fts) VALUES('optimize')`` for every FTS5
   table (merges b-tree segments; search gets faster after many small imports).
3. **Integrity**: ``PRAGMA integrity_check``, ``PRAGMA foreign_key_check``, FTS5
   ``integrity-check`` of every external-content table, and the app's own invariants
   (every fact cites a source). The report lists each problem in words.
4. ``PRAGMA optimize`` and a WAL checkpoint.

The summary carries the whole report; when SQLite itself finds the database damaged the
job fails with that report as its error, so the Activity pane shows it in red.
"""
from __future__ import annotations

import json
import logging
import sqlite3
import time
from pathlib import Path
from typing import Any, Optional

from ..errors import JobError
from ..indexing import forget_items
from ..progress import CancelToken, ProgressFn, check, report
from ..store.db import Store
from ..store.vectors import META_FILE, VectorIndex, prune_removals

log = logging.getLogger(__name__)

COMPACT_RATIO = 0.20
# rows of the removals log kept (a few days of formation at 1M messages); an index that
# has not read further back compares every label once instead
REMOVALS_KEPT = 200_000

_ITEM_TABLES = {"message": "messages", "chunk": "chunks", "note": "notes"}


def fts_tables(conn: sqlite3.Connection) -> list[str]:
    """Every FTS5 virtual table in the database."""
    return [r[0] for r in conn.execute(
        "select name from sqlite_master where type = 'table' and sql like '%using fts5%' "
        "collate nocase order by name")]


def _external_content(conn: sqlite3.Connection, table: str) -> bool:
    sql = conn.execute("select sql from sqlite_master where name = ?", [table]).fetchone()[0]
    return "content=" in sql.replace(" ", "").lower()


def compact_vectors(store: Store, vindex: Optional[VectorIndex], vdir: Path,
                    progress: Optional[ProgressFn] = None,
                    cancel: Optional[CancelToken] = None, force: bool = False) -> dict:
    """Step 1 (see the module doc) on the loaded index ``vindex``, or on the index files
    in ``vdir`` when none is loaded. Returns what was dropped and whether it rebuilt."""
    out: dict[str, Any] = {"orphans_dropped": 0, "rebuilt": False}
    orphans: dict[str, list[int]] = {}
    for kind, table in _ITEM_TABLES.items():
        orphans[kind] = [r[0] for r in store.conn.execute(
            f"select v.item_id from vector_items v where v.kind = ? and not exists "
            f"(select 1 from {table} t where t.id = v.item_id)", [kind])]
    for kind, ids in orphans.items():
        if ids:
            out["orphans_dropped"] += forget_items(store, vindex, kind, ids)
    with store.write() as db:
        out["removals_pruned"] = prune_removals(db.conn, REMOVALS_KEPT)
    check(cancel)
    if vindex is not None:
        live, deleted = len(vindex), vindex.deleted
        out.update(live=live, deleted=deleted)
        if force or (deleted and deleted > COMPACT_RATIO * max(live, 1)):
            vindex.rebuild(store, progress=progress, cancel=cancel)
            out["rebuilt"] = True
        elif vindex.dirty:
            vindex.save()
        return out
    meta_path = vdir / META_FILE
    if not meta_path.exists():
        out["index"] = "none yet"
        return out
    try:
        meta = json.loads(meta_path.read_text())
        count, deleted = int(meta.get("count", 0)), int(meta.get("deleted", 0))
    except (ValueError, OSError):
        count, deleted, meta = 0, 0, {}
    live = count - deleted
    expected = store.conn.execute("select count(distinct vec) from vector_items").fetchone()[0]
    out.update(live=live, deleted=deleted)
    out_of_step = live != expected
    if force or out_of_step or (deleted and deleted > COMPACT_RATIO * max(live, 1)):
        if not meta.get("model_id") or not meta.get("dim"):
            out["index"] = "unreadable metadata; rebuilt when next opened"
            return out
        idx = VectorIndex(vdir, meta["model_id"], int(meta["dim"]))
        idx.cipher = store.file_cipher   # encrypted store: sealed file
        idx.rebuild(store, progress=progress, cancel=cancel)
        out["rebuilt"] = True
        out["reason"] = "out of step with the database" if out_of_step else "deletions"
    return out


def optimize_fts(store: Store, cancel: Optional[CancelToken] = None) -> list[str]:
    """Step 2: merge the segments of every FTS5 table. Returns the table names."""
    done = []
    for t in fts_tables(store.conn):
        check(cancel)
        with store.write() as db:
            db.conn.execute(f"insert into {t}({t}) values ('optimize')")
        done.append(t)
    return done


def integrity_report(store: Store, cancel: Optional[CancelToken] = None) -> dict:
    """Step 3: ``{"ok", "sqlite", "problems": [str], "warnings": [str]}``.

    ``ok`` is False when SQLite reports damage (``problems``); ``warnings`` are the
    app's invariants that do not hold (a person can read and act on each).
    """
    conn = store.conn
    problems: list[str] = []
    warnings: list[str] = []
    rows = [r[0] for r in conn.execute("PRAGMA integrity_check")]
    sqlite_ok = rows == ["ok"]
    if not sqlite_ok:
        problems += [f"SQLite integrity check: {r}" for r in rows[:20]]
    check(cancel)
    fk = conn.execute("PRAGMA foreign_key_check").fetchall()
    if fk:
        by_table: dict[str, int] = {}
        for r in fk:
            by_table[r[0]] = by_table.get(r[0], 0) + 1
        problems += [f"{n} rows of {t} point to rows that no longer exist"
                     for t, n in by_table.items()]
    for t in fts_tables(conn):
        check(cancel)
        if not _external_content(conn, t):
            continue
        try:
            conn.execute(f"insert into {t}({t}) values ('integrity-check')")
        except sqlite3.DatabaseError as e:
            problems.append(f"full-text index {t} is out of step with its table ({e}); "
                            "upkeep rebuilds it")
            with store.write() as db:
                db.conn.execute(f"insert into {t}({t}) values ('rebuild')")
    facts_without_source = conn.execute(
        "select count(*) from notes n where n.kind = 'fact' and not exists "
        "(select 1 from note_sources s where s.note_id = n.id)").fetchone()[0]
    if facts_without_source:
        warnings.append(f"{facts_without_source} facts cite no message or document")
    with store.write() as db:   # leases of runs that died long ago
        db.conn.execute("delete from job_leases where expires < ?", [time.time() - 3600])
    return {"ok": not problems, "sqlite": "ok" if sqlite_ok else "damaged",
            "problems": problems, "warnings": warnings}


def run_upkeep(store: Store, *, vindex: Optional[VectorIndex], vdir: Path,
               progress: Optional[ProgressFn] = None,
               cancel: Optional[CancelToken] = None) -> dict:
    """The ``upkeep`` job (see the module doc): ``vindex`` is the loaded vector index
    (None when the app has not loaded one), ``vdir`` the folder of its files. Raises
    JobError with the report when the database is damaged; otherwise returns the report
    as its summary."""
    report(progress, "upkeep", 0, 4, "vector index")
    vectors = compact_vectors(store, vindex, vdir, cancel=cancel)
    report(progress, "upkeep", 1, 4, "full-text search")
    fts = optimize_fts(store, cancel=cancel)
    report(progress, "upkeep", 2, 4, "integrity check")
    integrity = integrity_report(store, cancel=cancel)
    report(progress, "upkeep", 3, 4, "optimize")
    conn = store.conn
    conn.execute("PRAGMA optimize")
    try:
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    except sqlite3.Error:
        pass
    report(progress, "upkeep", 4, 4)
    summary = {"vectors": vectors, "fts_optimized": fts, "integrity": integrity}
    if not integrity["ok"]:
        raise JobError("the integrity check found problems: " +
                       "; ".join(integrity["problems"][:5]) +
                       " — restore a backup with `secondme backup restore`")
    return summary
