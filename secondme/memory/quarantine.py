"""Windows formation could not form: set aside with their problem, retried on request.

A window whose extraction, reconciliation or storage raises (anything but a
cancellation or a model that cannot be reached) is **quarantined**: its items are listed
in ``formation_quarantine`` with a ``formation_failures`` row that says what went wrong —
once in words a person can act on (``problem``, shown in the Activity pane and by
``doctor``) and once technically (``error``, for a bug report) — and the job goes on with
the next window. The window planner skips quarantined items, so one bad window never
blocks the windows and imports behind it. :func:`retry_all` (``jobs run extract
--retry-failed``) offers them again; a window formed later clears its items' rows, a
window failing again is quarantined again with one more attempt.

This module writes only the two quarantine tables. Thread-safety: callers pass a
connection inside their write transaction (or a Store).
"""
from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone
from typing import Optional

from ..errors import SecondMeError
from ..store.db import Store
from .facts import Window

#: SQL that is true when item ``{alias}.id`` of kind ``{kind}`` is quarantined (and not
#: released for a retry); used by the window planner.
QUARANTINED_SQL = (
    "exists (select 1 from formation_quarantine q join formation_failures f on "
    "f.id = q.failure_id where q.item_kind = '{kind}' and q.item_id = {alias}.id and "
    "f.retrying = 0)")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def reason(error: BaseException) -> str:
    """What went wrong, for a person: never SQL, ids or Python names."""
    if isinstance(error, SecondMeError):
        return str(error)
    if isinstance(error, sqlite3.Error):
        return ("the database refused one of its changes — a bug in secondme; the "
                "technical details are kept for a bug report")
    if isinstance(error, MemoryError):
        return "the computer ran out of memory while forming them"
    return "an unexpected error — a bug in secondme; the technical details are kept for a " \
           "bug report"


def _where(window: Window) -> str:
    n = len(window.items)
    if window.kind == "chunk":
        what = f"{n} passage{'s' if n != 1 else ''} of the document"
    else:
        what = f"{n} message{'s' if n != 1 else ''} of the conversation"
    title = f" “{window.title}”" if window.title else ""
    days = sorted({it.timestamp[:10] for it in window.items if it.timestamp})
    when = ""
    if days:
        when = f" ({days[0]}" + (f" to {days[-1]})" if days[-1] != days[0] else ")")
    return f"{what}{title}{when}"


def quarantine(store: Store, window: Window, error: BaseException) -> int:
    """Set ``window`` aside with ``error`` (one short transaction). Returns the failure
    row's id. Items that were quarantined before (a failed retry) count one more attempt."""
    kind = window.kind
    ids = [it.id for it in window.items]
    problem = f"Memories could not be formed from {_where(window)}: {reason(error)}."
    detail = f"{type(error).__name__}: {error}"[:2000]
    with store.write() as db:
        conn = db.conn
        q = ",".join("?" * len(ids))
        before = conn.execute(
            f"select coalesce(max(f.attempts), 0) from formation_quarantine q join "
            f"formation_failures f on f.id = q.failure_id where q.item_kind = ? and "
            f"q.item_id in ({q})", [kind, *ids]).fetchone()[0]
        conn.execute(f"delete from formation_quarantine where item_kind = ? and item_id in "
                     f"({q})", [kind, *ids])
        _drop_empty(conn)
        fid = conn.execute(
            "insert into formation_failures (conversation_id, document_id, item_kind, "
            "item_ids, problem, error, failed_at, attempts) values (?,?,?,?,?,?,?,?)",
            [window.conversation_id, window.document_id, kind, json.dumps(ids), problem,
             detail, _now(), before + 1]).lastrowid
        conn.executemany("insert or replace into formation_quarantine (item_kind, item_id, "
                         "failure_id) values (?,?,?)", [(kind, i, fid) for i in ids])
    return fid


def _drop_empty(conn) -> None:
    conn.execute("delete from formation_failures where not exists (select 1 from "
                 "formation_quarantine q where q.failure_id = formation_failures.id)")


def clear_formed(conn, window: Window) -> None:
    """Inside the window's own transaction: its items are formed, so none of them is
    quarantined any more (a retry that worked)."""
    ids = [it.id for it in window.items]
    q = ",".join("?" * len(ids))
    cur = conn.execute(f"delete from formation_quarantine where item_kind = ? and item_id in "
                       f"({q})", [window.kind, *ids])
    if cur.rowcount:
        _drop_empty(conn)


def retry_all(store: Store) -> int:
    """Offer every quarantined window to the next extract run. Returns how many."""
    with store.write() as db:
        return db.conn.execute(
            "update formation_failures set retrying = 1 where retrying = 0").rowcount


def count(conn) -> int:
    """Windows set aside and not released for a retry."""
    return conn.execute("select count(*) from formation_failures where retrying = 0"
                        ).fetchone()[0]


def failures(conn, limit: Optional[int] = 200) -> list[dict]:
    """The quarantined windows, newest first: ``{"id", "problem", "error", "failed_at",
    "attempts", "retrying", "items", "conversation", "document", "first", "last"}``
    (``first``/``last``: timestamps of the first and last message, or None)."""
    out = []
    for (fid, conv_id, doc_id, kind, item_ids, problem, error, failed_at, attempts,
         retrying) in conn.execute(
            "select id, conversation_id, document_id, item_kind, item_ids, problem, error, "
            "failed_at, attempts, retrying from formation_failures order by id desc limit ?",
            [limit if limit is not None else -1]):
        ids = json.loads(item_ids)
        conv = doc = None
        first = last = None
        if conv_id is not None:
            row = conn.execute("select coalesce(nullif(title, ''), external_id) from "
                               "conversations where id = ?", [conv_id]).fetchone()
            conv = row[0] if row else None
        if doc_id is not None:
            row = conn.execute("select coalesce(nullif(title, ''), path) from documents "
                               "where id = ?", [doc_id]).fetchone()
            doc = row[0] if row else None
        if kind == "message" and ids:
            q = ",".join("?" * len(ids))
            first, last = conn.execute(f"select min(timestamp), max(timestamp) from messages "
                                       f"where id in ({q})", ids).fetchone()
        out.append({"id": fid, "problem": problem, "error": error, "failed_at": failed_at,
                    "attempts": attempts, "retrying": bool(retrying), "items": len(ids),
                    "conversation": conv, "document": doc, "first": first, "last": last})
    return out
