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
retention is computed with numpy, and only changed rows are written, set-based through
:mod:`secondme.memory.notes`, in chunks of a few thousand rows per short transaction.
"""
from __future__ import annotations

import math
from datetime import datetime
from typing import Iterable, Optional

import numpy as np

from ..hooks import Hooks
from ..memory import notes as N
from ..progress import CancelToken, ProgressFn, check, report
from ..store.db import Store

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


def run_decay(store: Store, *, now: datetime, tau_days: float, threshold: float,
              hooks: Hooks, progress: Optional[ProgressFn] = None,
              cancel: Optional[CancelToken] = None) -> dict:
    """The ``decay`` job: recompute every note's retention as of ``now`` with
    τ = ``tau_days`` and archive those below ``threshold`` (with a history row each,
    actor ``decay``; announced with ``notes_did_change(ids, action="archive")``).

    Idempotent and resumable (a re-run recomputes from the same columns). Returns
    ``{"notes", "updated", "archived", "exempt", "tau_days", "threshold"}``.
    Raises Cancelled between chunks.
    """
    now_iso = now.isoformat()
    tau = float(tau_days)
    threshold = float(threshold)
    conn = store.conn
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
            with store.write() as db:
                if part_u:
                    N.set_retention(db.conn, part_u)
                if part_a:
                    N.set_archived_many(db.conn, part_a, True, action="archive", actor="decay",
                                        at=now_iso, reason="retention below threshold")
        updated += len(upd)
        archived_ids += arch
        seen += len(rows)
        report(progress, "decay", seen, total)
    if archived_ids:
        hooks.emit("notes_did_change", ids=archived_ids, action="archive")
    return {"notes": seen, "updated": updated, "archived": len(archived_ids),
            "exempt": exempt, "tau_days": tau, "threshold": threshold}


def reinforce(store: Store, note_ids: Iterable[int], *, now: datetime, hooks: Hooks,
              reason: str = "cited") -> int:
    """Strengthen notes: S += 1, last recalled = ``now``, retention = 1.

    Called by recall when a note is cited in an answer (``reason="cited"``), by memory
    formation when a new fact confirms a note (``"confirmed"``) and by the UI when a
    note is opened or edited (``"opened"``/``"edited"``). A note that *decay* archived
    comes back (a note the person archived, or one merged into another, stays archived).
    Each id counts once per call. Announces ``notes_did_change(ids, action="reinforce")``.
    Returns how many notes were reinforced. Thread-safe (one short transaction).
    """
    ids = sorted({int(i) for i in note_ids})
    if not ids:
        return 0
    now_iso = now.isoformat()
    with store.write() as db:
        c = db.conn
        done = N.strengthen(c, ids, at=now_iso, reason=reason)
        revive: list[int] = []
        for start in range(0, len(done), 500):
            part = done[start:start + 500]
            revive += [r[0] for r in c.execute(
                f"select n.id from notes n where n.id in ({','.join('?' * len(part))}) and "
                "n.archived = 1 and (select h.actor from history h where h.note_id = n.id and "
                "h.action in ('archive', 'unarchive', 'merged_into') order by h.id desc "
                "limit 1) = 'decay'", part)]
        if revive:
            N.set_archived_many(c, revive, False, action="unarchive", actor="decay",
                                at=now_iso, reason=f"reinforced ({reason})")
    if done:
        hooks.emit("notes_did_change", ids=ids, action="reinforce")
    return len(done)
