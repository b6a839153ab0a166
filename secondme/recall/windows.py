"""The context-window index: each message indexed with its neighbours and its date.

Measured on real long two-person chats, BM25 over a message *with its neighbours and
date* finds far more evidence than BM25 over the lone message (67 vs 57 recall@10):
chat messages are short and lean on what was just said. ``message_windows`` (see
``recall/schema.py``) holds, per message, three FTS5 columns — ``own`` (speaker + text),
``ctx`` (up to ``width`` messages either side, same session only) and ``meta`` (its date
spelled out and its speaker) — so that search can weight them separately.

The index is kept in step lazily and incrementally: :func:`update_windows` compares
per-conversation (message count, largest id) with ``message_windows_state`` and
rebuilds only conversations that changed. An import ends by building the windows of
what it stored (``import_paths``), so a chat is keyword-searchable when its import ends
rather than after a first search that waits for it (84 s at a million messages); search
brings anything else up to date first.
"""
from __future__ import annotations

import calendar
import functools
import threading
from datetime import datetime, timezone
from typing import Optional

from ..progress import CancelToken, ProgressFn, check, report
from ..store.db import Store

WINDOW_WIDTH = 2          # neighbours each side (measured: see benchmarks/bench_recall_quality.py)
NEIGHBOUR_CHARS = 300     # a long neighbour must not drown the message
CHAT_FORMAT = "secondme-chat"  # things told to secondme: no neighbours (unrelated notes)
CHAT_TITLE = "Told to secondme"  # the title of that conversation

_lock = threading.Lock()
_SLICE = 20_000   # windows written between progress reports and cancel checks


def date_words(ts: Optional[float]) -> str:
    """Words for a timestamp that a question may use: weekday, day, month, year."""
    if ts is None:
        return ""
    return _day_words(int(ts // 86400))


@functools.lru_cache(maxsize=4096)
def _day_words(day: int) -> str:
    # per UTC day: a chat has thousands of messages a day, and strftime-ing each was a
    # quarter of building the windows of a million messages
    d = datetime.fromtimestamp(day * 86400, tz=timezone.utc)
    return (f"{calendar.day_name[d.weekday()]} {d.day} {calendar.month_name[d.month]} "
            f"{d.year}")


def _sessions(rows: list[tuple], gap_seconds: float) -> list[int]:
    """A session number per row: a new session starts after a silence of ``gap``."""
    out, s, prev = [], 0, None
    for r in rows:
        ts = r[3]
        if prev is not None and ts is not None and ts - prev > gap_seconds:
            s += 1
        if ts is not None:
            prev = ts
        out.append(s)
    return out


def build_conversation(store_conn, conversation_id: int, width: int, gap_seconds: float,
                       fmt: str) -> list[tuple[int, str, str, str]]:
    """The (message id, own, ctx, meta) rows of one conversation."""
    rows = store_conn.execute(
        "select id, speaker, text, ts from messages where conversation_id = ? and "
        "kind = 'message' order by position, id", [conversation_id]).fetchall()
    sess = _sessions(rows, gap_seconds)
    w = 0 if fmt == CHAT_FORMAT else width
    out = []
    n = len(rows)
    for i, (mid, speaker, text, ts) in enumerate(rows):
        own = f"{speaker}: {text}" if speaker else text
        ctx = []
        for j in range(max(0, i - w), min(n, i + w + 1)):
            if j == i or sess[j] != sess[i]:
                continue
            sp, tx = rows[j][1], rows[j][2][:NEIGHBOUR_CHARS]
            ctx.append(f"{sp}: {tx}" if sp else tx)
        meta = f"{date_words(ts)} {speaker}".strip()
        out.append((mid, own, "\n".join(ctx), meta))
    return out


def stale_conversations(store: Store, width: int = WINDOW_WIDTH) -> list[tuple[int, int, int]]:
    """Conversations whose windows are missing or out of date: (id, count, max id)."""
    conn = store.conn
    current = conn.execute(
        "select conversation_id, count(*), max(id) from messages where kind = 'message' "
        "group by conversation_id").fetchall()
    known = {r[0]: (r[1], r[2], r[3]) for r in conn.execute(
        "select conversation_id, messages, max_id, width from message_windows_state")}
    return [(cid, cnt, mx) for cid, cnt, mx in current
            if known.get(cid) != (cnt, mx, width)]


_fast_key: dict[str, tuple] = {}


_checked: dict[tuple[str, int], tuple] = {}


def windows_fresh(store: Store) -> bool:
    """A cheap check for the search hot path: nothing imported since the windows were
    last brought up to date (the largest message id is the one they were built at).

    Deletions are not looked for here: every path that deletes messages
    (``privacy/purge.py``) brings the windows up to date itself, and a window left for a
    deleted message only names a message that search then finds missing and skips.
    (Counting the messages, as this did, took 113 ms at a million — on the first search
    after every write by any process, i.e. on most searches while memories form.)
    When no connection wrote anything since the last positive check (SQLite's
    ``data_version`` and this connection's change counter are unchanged), the answer is
    known without asking.
    """
    conn = store.conn
    path = str(store.path)
    dv = conn.execute("PRAGMA data_version").fetchone()[0]
    memo_key = (path, id(conn))
    known = _fast_key.get(path)
    if known is not None and _checked.get(memo_key) == (dv, conn.total_changes, known):
        return True
    cur = conn.execute("select coalesce(max(id), 0) from messages").fetchone()[0]
    fresh = known is not None and known[1] == cur
    if fresh:
        _checked[memo_key] = (dv, conn.total_changes, known)
    return fresh


def update_windows(store: Store, *, width: int = WINDOW_WIDTH, gap_minutes: float = 240,
                   progress: Optional[ProgressFn] = None,
                   cancel: Optional[CancelToken] = None) -> int:
    """Bring ``message_windows`` up to date; returns how many messages were (re)windowed.

    One short transaction per conversation; resumable (state is per conversation) and
    cancellable between conversations. Thread-safe (one updater at a time per process).
    """
    with _lock:
        conn = store.conn
        key = conn.execute("select count(*), coalesce(max(id), 0) from messages").fetchone()
        stale = stale_conversations(store, width)
        done = _window(store, stale, width, gap_minutes, progress, cancel)
        # messages deleted (a forgotten source, person or conversation): drop their rows
        # and the state of conversations that no longer exist (rows counted in the
        # index's per-document table: counting the FTS table reads all its text)
        n_rows = conn.execute("select count(*) from message_windows_docsize").fetchone()[0]
        n_msgs = conn.execute("select count(*) from messages where kind = 'message'").fetchone()[0]
        if n_rows != n_msgs:
            with store.write() as db:
                db.conn.execute("delete from message_windows where rowid not in "
                                "(select id from messages where kind = 'message')")
                db.conn.execute("delete from message_windows_state where conversation_id "
                                "not in (select id from conversations)")
        _fast_key[str(store.path)] = tuple(key)
        return done


def _window(store: Store, stale: list[tuple[int, int, int]], width: int, gap_minutes: float,
            progress: Optional[ProgressFn], cancel: Optional[CancelToken]) -> int:
    """(Re)build the windows of the ``stale`` (id, count, max id) conversations."""
    conn = store.conn
    total = sum(c for _, c, _ in stale)
    done = 0
    if stale:
        report(progress, "indexing message windows", 0, total)
    fmts = dict(conn.execute("select id, format from conversations").fetchall())
    for cid, cnt, mx in stale:
        check(cancel)
        rows = build_conversation(conn, cid, width, gap_minutes * 60, fmts.get(cid, ""))
        with store.write() as db:
            c = db.conn
            # read under the write lock: another process (the app, an import, the MCP
            # server) may have windowed this conversation since it was found stale
            state = c.execute("select messages, max_id, width from message_windows_state "
                              "where conversation_id = ?", [cid]).fetchone()
            if state == (cnt, mx, width):
                done += len(rows)
                continue
            # a conversation never windowed has no rows to replace (a new import)
            ids = [r[0] for r in rows] if state is not None else []
            for i in range(0, len(ids), 500):
                part = ids[i:i + 500]
                c.execute(f"delete from message_windows where rowid in "
                          f"({','.join('?' * len(part))})", part)
            # in slices: a chat of a million messages reports progress and can be
            # cancelled (which rolls the whole conversation back, state and all)
            for i in range(0, len(rows), _SLICE):
                check(cancel)
                part = rows[i:i + _SLICE]
                c.executemany("insert into message_windows (rowid, own, ctx, meta) "
                              "values (?, ?, ?, ?)", part)
                done += len(part)
                report(progress, "indexing message windows", done, total)
            c.execute("insert or replace into message_windows_state "
                      "(conversation_id, messages, max_id, width) values (?, ?, ?, ?)",
                      [cid, cnt, mx, width])
    return done
