"""Forgetting and strengthening, MemoryBank-style with the brackets right.

Retention of a note::

    R = exp(-Δdays / (τ · S))

- Δdays: days since the note was last reinforced (``notes.last_recalled``), or since it
  was last updated / created when it never was;
- S = ``notes.strength`` = 1 + number of reinforcements (cited in an answer, opened,
  edited, confirmed by a new fact) — a stronger memory fades *slower*;
- τ = ``settings.decay_tau_days`` (days for a never-reinforced note to fall to 1/e).

Pinned notes and the profile are exempt (R stays 1). A note whose R falls below
``settings.archive_threshold`` is **archived**: it stays in the database, is still found
when a search includes archived notes, and is never deleted. Retention is a ranking
feature for recall.

The pass is vectorised: ages come from SQLite's ``julianday`` over whole columns,
retention is computed with numpy, and only changed rows are written, with
``executemany`` in chunks of a few thousand rows per short transaction.
"""
from __future__ import annotations

import json
import math
from typing import Any, Iterable, Optional

import numpy as np

from ..progress import CancelToken, ProgressFn, check, report

READ_CHUNK = 50_000
WRITE_CHUNK = 10_000
EPSILON = 1e-6
EXEMPT_KINDS = ("profile",)


def retention(days: float, strength: float, tau_days: float) -> float:
    """R = exp(-days / (tau_days * strength)); days < 0 count as 0, strength < 1 as 1."""
    return math.exp(-max(days, 0.0) / (tau_days * max(strength, 1.0)))


def retention_array(days: np.ndarray, strength: np.ndarray, tau_days: float) -> np.ndarray:
    """Vectorised :func:`retention` (NaN days — no usable timestamp — count as 0)."""
    d = np.nan_to_num(np.asarray(days, dtype=np.float64), nan=0.0)
    s = np.maximum(np.asarray(strength, dtype=np.float64), 1.0)
    return np.exp(-np.maximum(d, 0.0) / (tau_days * s))


def run_decay(sm: Any, progress: Optional[ProgressFn] = None,
              cancel: Optional[CancelToken] = None) -> dict:
    """The ``decay`` job: recompute every note's retention as of ``sm.clock()`` and
    archive those below the threshold (with a history row each, actor ``decay``).

    Idempotent and resumable (a re-run recomputes from the same columns). Returns
    ``{"notes", "updated", "archived", "exempt", "tau_days", "threshold"}``.
    Raises Cancelled between chunks.
    """
    now = sm.clock()
    now_iso = now.isoformat()
    tau = float(sm.settings.decay_tau_days)
    threshold = float(sm.settings.archive_threshold)
    conn = sm.store.conn
    total = conn.execute("select count(*) from notes").fetchone()[0]
    report(progress, "decay", 0, total)
    exempt_sql = ",".join(f"'{k}'" for k in EXEMPT_KINDS)
    last_id = 0
    seen = updated = exempt = 0
    archived_ids: list[int] = []
    while True:
        check(cancel)
        rows = conn.execute(
            "select id, strength, "
            "coalesce(julianday(?) - julianday(coalesce(last_recalled, updated_at, "
            "created_at)), 0.0), "
            f"pinned or kind in ({exempt_sql}), archived, retention "
            "from notes where id > ? order by id limit ?",
            [now_iso, last_id, READ_CHUNK]).fetchall()
        if not rows:
            break
        last_id = rows[-1][0]
        cols = np.array(rows, dtype=np.float64)   # one C-level conversion, no Python loop
        ids = cols[:, 0].astype(np.int64)
        r_new = retention_array(cols[:, 2], cols[:, 1], tau)
        is_exempt = cols[:, 3] != 0
        r_new[is_exempt] = 1.0
        changed = np.abs(r_new - cols[:, 5]) > EPSILON
        to_archive = (~is_exempt) & (cols[:, 4] == 0) & (r_new < threshold)
        exempt += int(is_exempt.sum())
        upd = [(float(r), int(i)) for r, i in zip(r_new[changed], ids[changed])]
        arch = [int(i) for i in ids[to_archive]]
        for start in range(0, max(len(upd), len(arch)), WRITE_CHUNK):
            check(cancel)
            part_u = upd[start:start + WRITE_CHUNK]
            part_a = arch[start:start + WRITE_CHUNK]
            with sm.store.write() as db:
                if part_u:
                    # one set-based UPDATE … FROM a temp table instead of one statement
                    # per row
                    db.conn.execute("create temp table if not exists _decay_r "
                                    "(id integer primary key, r real)")
                    db.conn.execute("delete from _decay_r")
                    db.conn.executemany("insert into _decay_r (r, id) values (?, ?)", part_u)
                    db.conn.execute("update notes set retention = _decay_r.r from _decay_r "
                                    "where notes.id = _decay_r.id")
                if part_a:
                    # set-based: the history rows are built by SQLite (json_object), not
                    # by Python one by one
                    db.conn.execute("create temp table if not exists _decay_archive "
                                    "(id integer primary key)")
                    db.conn.execute("delete from _decay_archive")
                    db.conn.executemany("insert into _decay_archive (id) values (?)",
                                        [(i,) for i in part_a])
                    db.conn.execute(
                        "insert into history (note_id, action, before, after, actor, at) "
                        "select n.id, 'archive', '{\"archived\": 0}', json_object("
                        "'archived', 1, 'retention', round(n.retention, 6), 'reason', "
                        "'retention below threshold'), 'decay', ? from notes n "
                        "join _decay_archive a on a.id = n.id", [now_iso])
                    db.conn.execute("update notes set archived = 1 where id in "
                                    "(select id from _decay_archive)")
        updated += len(upd)
        archived_ids += arch
        seen += len(rows)
        report(progress, "decay", seen, total)
    if archived_ids:
        sm.hooks.emit("notes_did_change", ids=archived_ids, action="archive")
    return {"notes": seen, "updated": updated, "archived": len(archived_ids),
            "exempt": exempt, "tau_days": tau, "threshold": threshold}


def reinforce(sm: Any, note_ids: Iterable[int], reason: str = "cited") -> int:
    """Strengthen notes: S += 1, last recalled = ``sm.clock()``, retention = 1.

    Called by recall when a note is cited in an answer (``reason="cited"``), by memory
    formation when a new fact confirms a note (``"confirmed"``) and by the UI when a
    note is opened or edited (``"opened"``/``"edited"``). A note that *decay* archived
    comes back (a note the person archived stays archived). Each id counts once per
    call. Returns how many notes were reinforced. Thread-safe (one short transaction).
    """
    ids = sorted({int(i) for i in note_ids})
    if not ids:
        return 0
    now_iso = sm.clock().isoformat()
    changed = 0
    revived: list[int] = []
    with sm.store.write() as db:
        c = db.conn
        for start in range(0, len(ids), 500):
            part = ids[start:start + 500]
            q = ",".join("?" * len(part))
            existing = [r[0] for r in c.execute(f"select id from notes where id in ({q})", part)]
            if not existing:
                continue
            q = ",".join("?" * len(existing))
            c.execute(f"update notes set strength = strength + 1, last_recalled = ?, "
                      f"retention = 1.0 where id in ({q})", [now_iso, *existing])
            c.executemany("insert into reinforcements (note_id, at, reason) values (?, ?, ?)",
                          [(i, now_iso, reason) for i in existing])
            revive = [r[0] for r in c.execute(
                f"select n.id from notes n where n.id in ({q}) and n.archived = 1 and "
                "(select h.actor from history h where h.note_id = n.id and h.action in "
                "('archive', 'unarchive') order by h.id desc limit 1) = 'decay'", existing)]
            if revive:
                c.executemany("update notes set archived = 0 where id = ?",
                              [(i,) for i in revive])
                c.executemany(
                    "insert into history (note_id, action, before, after, actor, at) "
                    "values (?, 'unarchive', ?, ?, 'decay', ?)",
                    [(i, json.dumps({"archived": 1}),
                      json.dumps({"archived": 0, "reason": f"reinforced ({reason})"}), now_iso)
                     for i in revive])
                revived += revive
            changed += len(existing)
    if changed:
        sm.hooks.emit("notes_did_change", ids=ids, action="reinforce")
    return changed
