"""Rotating snapshots of the database, and restoring one.

Snapshots live in ``<home>/backups/`` as ``secondme-YYYYMMDD-HHMMSS.db``. They are made
with ``VACUUM INTO`` **on the store's own live connection**: SQLite writes a consistent,
compacted copy from one read transaction (writers are not blocked under WAL), and an
encrypted store's connection writes an encrypted copy with the same key, so a backup
is never weaker than the store it came from. The copy goes to a temporary name first
and is renamed when complete, so a half-written snapshot never appears in the list.
``settings.backups_keep`` snapshots are kept; older ones are removed after a new one is
complete.

Restoring (:func:`restore`) checks the snapshot opens and passes ``quick_check`` with the
store's connector (so it needs the same key), takes a ``pre-restore-…`` copy of the
current database, stops background work, closes every connection, atomically replaces
the database file (removing the old WAL so it is never replayed onto the restored
file), drops the vector index files (rebuilt from the restored database on next use)
and reopens the store. It refuses while another process (the desktop app) is running
jobs on the same data directory.
"""
from __future__ import annotations

import os
import re
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

from ..api import BackupInfo
from ..errors import InvalidInput, JobError, NotFound, StoreError
from ..progress import CancelToken, ProgressFn, check, report

BACKUP_DIR = "backups"
PREFIX = "secondme-"
PRE_RESTORE_PREFIX = "pre-restore-"
PRE_RESTORE_KEEP = 3
_NAME_RE = re.compile(r"^(secondme|pre-restore)-\d{8}-\d{6}(-\d+)?\.db$")


def backup_dir(sm: Any) -> Path:
    d = Path(sm.home) / BACKUP_DIR
    d.mkdir(parents=True, exist_ok=True)
    return d


def _info(path: Path) -> BackupInfo:
    stem = path.stem
    kind = "pre-restore" if stem.startswith(PRE_RESTORE_PREFIX) else "daily"
    stamp = stem.split("-", 1)[1] if kind == "daily" else stem[len(PRE_RESTORE_PREFIX):]
    stamp = stamp[:15]
    try:
        created = datetime.strptime(stamp, "%Y%m%d-%H%M%S").replace(tzinfo=timezone.utc)
        created_iso = created.isoformat()
    except ValueError:
        created_iso = datetime.fromtimestamp(path.stat().st_mtime, timezone.utc).isoformat()
    return BackupInfo(path.name, str(path), created_iso, path.stat().st_size, kind)


def list_backups(sm: Any) -> list[BackupInfo]:
    """Every snapshot (daily and pre-restore), newest first."""
    d = backup_dir(sm)
    files = [p for p in d.iterdir() if p.is_file() and _NAME_RE.match(p.name)]
    files.sort(key=_order, reverse=True)
    return [_info(p) for p in files]


def _unique(d: Path, prefix: str, now: datetime) -> Path:
    """A new file name that sorts after every existing one of the same second."""
    stamp = now.astimezone(timezone.utc).strftime("%Y%m%d-%H%M%S")
    same = [_order(p)[1] for p in d.glob(f"{prefix}{stamp}*.db") if _NAME_RE.match(p.name)]
    if not same:
        return d / f"{prefix}{stamp}.db"
    return d / f"{prefix}{stamp}-{max(same) + 1}.db"


def _snapshot(sm: Any, dest: Path) -> None:
    """VACUUM INTO ``dest`` from this thread's live connection (atomic via rename)."""
    tmp = dest.with_name(dest.name + ".part")
    if tmp.exists():
        tmp.unlink()
    conn = sm.store.conn
    if conn.in_transaction:
        raise JobError("a backup cannot be taken inside an open transaction")
    try:
        conn.execute("VACUUM INTO ?", [str(tmp)])
    except sqlite3.Error as e:
        if tmp.exists():
            tmp.unlink()
        raise JobError(f"the backup could not be written: {e}", path=str(dest)) from e
    os.replace(tmp, dest)


def take_backup(sm: Any, progress: Optional[ProgressFn] = None,
                cancel: Optional[CancelToken] = None) -> BackupInfo:
    """Write a new daily snapshot and remove the oldest beyond ``backups_keep``."""
    check(cancel)
    report(progress, "backup", 0, 2, "writing snapshot")
    d = backup_dir(sm)
    dest = _unique(d, PREFIX, sm.clock())
    _snapshot(sm, dest)
    info = _info(dest)
    report(progress, "backup", 1, 2, "rotating")
    _rotate(d, PREFIX, max(1, int(sm.settings.backups_keep)))
    report(progress, "backup", 2, 2)
    return info


def _order(path: Path) -> tuple[str, int]:
    """Sort key: (timestamp, same-second counter) — names alone sort "-1.db" first."""
    m = _NAME_RE.match(path.name)
    n = int(m.group(2)[1:]) if m and m.group(2) else 0
    stem = path.stem if not (m and m.group(2)) else path.stem[:-len(m.group(2))]
    return stem[-15:], n


def _rotate(d: Path, prefix: str, keep: int) -> list[str]:
    files = sorted((p for p in d.iterdir()
                    if p.name.startswith(prefix) and _NAME_RE.match(p.name)),
                   key=_order, reverse=True)
    removed = []
    for p in files[keep:]:
        p.unlink()
        removed.append(p.name)
    return removed


def run_backup(sm: Any, progress: Optional[ProgressFn] = None,
               cancel: Optional[CancelToken] = None) -> dict:
    """The ``backup`` job: a snapshot plus rotation. Returns what it wrote and kept."""
    info = take_backup(sm, progress=progress, cancel=cancel)
    kept = [b.name for b in list_backups(sm) if b.kind == "daily"]
    return {"backup": info.name, "size": info.size, "kept": kept}


def _find(sm: Any, name: str) -> Path:
    if not _NAME_RE.match(name or ""):
        raise InvalidInput(f"{name!r} is not a backup name; `secondme backup list` shows them")
    path = backup_dir(sm) / name
    if not path.is_file():
        raise NotFound(f"no backup called {name!r}; `secondme backup list` shows them")
    return path


def _verify(sm: Any, path: Path) -> None:
    connector = sm.store._connector
    try:
        conn = connector(str(path))
    except Exception as e:
        raise StoreError(f"the backup cannot be opened: {e}", path=str(path)) from e
    try:
        res = [r[0] for r in conn.execute("PRAGMA quick_check")]
        conn.execute("select count(*) from migrations").fetchone()
    except sqlite3.DatabaseError as e:
        raise StoreError(f"the backup is damaged or needs another key: {e}",
                         path=str(path)) from e
    finally:
        conn.close()
    if res != ["ok"]:
        raise StoreError("the backup is damaged: " + "; ".join(res[:5]), path=str(path))


def _other_process_running_jobs(sm: Any) -> Optional[str]:
    import socket

    rows = sm.store.conn.execute(
        "select name, pid, host, expires from job_leases").fetchall()
    import time

    from .scheduler import _pid_alive

    for name, pid, host, expires in rows:
        if expires < time.time() or pid == os.getpid():
            continue
        if host == socket.gethostname() and not _pid_alive(pid):
            continue
        if name == "_app":
            return f"the desktop app is open on this data directory (process {pid})"
        return f"the {name!r} job is running in process {pid} on {host}"
    return None


def restore(sm: Any, name: str) -> dict:
    """Replace the live database with snapshot ``name``. See the module doc.

    Returns ``{"restored", "pre_restore"}`` (file names). Raises InvalidInput/NotFound
    (bad name), StoreError (damaged or wrong key), JobError (jobs are running in another
    process: close the desktop app first).
    """
    from ..store.db import Store

    src = _find(sm, name)
    _verify(sm, src)
    busy = _other_process_running_jobs(sm)
    if busy:
        raise JobError(f"cannot restore while {busy}; close the desktop app (or wait for the "
                       "job) first, or restore from the app's own Backups settings")
    was_running = bool(getattr(sm, "background_running", False))
    if hasattr(sm, "stop_background"):
        sm.stop_background()
    d = backup_dir(sm)
    pre = _unique(d, PRE_RESTORE_PREFIX, sm.clock())
    _snapshot(sm, pre)
    _rotate(d, PRE_RESTORE_PREFIX, PRE_RESTORE_KEEP)
    db_path = Path(sm.store.path)
    connector = sm.store._connector
    with sm._lock:
        if sm._vectors is not None:
            sm._vectors = None
        sm.store.close()
        tmp = db_path.with_name(db_path.name + ".restoring")
        import shutil

        shutil.copyfile(src, tmp)
        for suffix in ("-wal", "-shm"):
            side = db_path.with_name(db_path.name + suffix)
            if side.exists():
                side.unlink()
        os.replace(tmp, db_path)
        from ..paths import VECTOR_DIR

        vdir = Path(sm.home) / VECTOR_DIR
        for f in ("index.json", "index.bin"):
            if (vdir / f).exists():
                (vdir / f).unlink()
        sm.store = Store.open(db_path, connector=connector)
        sm._settings = sm._load_settings()
        if getattr(sm, "_job_runner", None) is not None:
            sm._job_runner = None
    if was_running:
        sm.start_background()
    sm.hooks.emit("notes_did_change", ids=[], action="restore")
    sm.hooks.emit("index_did_change", items=0)
    return {"restored": name, "pre_restore": pre.name}
