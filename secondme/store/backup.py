"""Rotating snapshots of the database, restoring one, and keeping them under the store's key.

Snapshots live in ``<home>/backups/`` as ``secondme-YYYYMMDD-HHMMSS.db``. They are made
with ``VACUUM INTO`` **on the store's own live connection**: SQLite writes a consistent,
compacted copy from one read transaction (writers are not blocked under WAL), and an
encrypted store's connection writes an encrypted copy with the same key, so a backup
is never weaker than the store it came from. The copy goes to a temporary name first
and is renamed when complete, so a half-written snapshot never appears in the list.
``settings.backups_keep`` snapshots are kept; older ones are removed after a new one is
complete.

Restoring checks the snapshot opens and passes ``quick_check`` with the store's connector
(so it needs the same key: :func:`verify_backup`), takes a ``pre-restore-…`` copy of the
current database (:func:`take_pre_restore`), and then (:func:`swap_in_backup`) closes
every connection, atomically replaces the database file (removing the old WAL so it is
never replayed onto the restored file), drops the vector index files (rebuilt from the
restored database on next use) and reopens the store. The service stops background work
around it and refuses while another process (the desktop app) is running jobs on the
same data directory (:meth:`secondme.store.ops.StoreOps.restore_backup`).

When the store's key changes or a plain store is encrypted, the backups follow: each
gets a copy under the new key beside it (:func:`stage_rekeyed_backups`,
:func:`stage_encrypted_backups`), swapped in only once the database has the new key, so
that a crash never leaves a backup no key opens.

Thread-safety: call with the service's lock held around :func:`swap_in_backup`; the
others only read the store or write files under ``backups/``.
"""
from __future__ import annotations

import os
import re
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from ..api import BackupInfo
from ..errors import InvalidInput, JobError, NotFound, StoreError
from ..paths import BACKUP_DIR, VECTOR_DIR, copy_private, private_dir, private_file
from ..progress import CancelToken, ProgressFn, check, report
from .crypto import SQLCipherConnector, export_encrypted
from .crypto.rekey import staged_path
from .db import Connector, Store
from .vectors import INDEX_FILE, META_FILE

PREFIX = "secondme-"
PRE_RESTORE_PREFIX = "pre-restore-"
PRE_RESTORE_KEEP = 3
NAME_RE = re.compile(r"^(secondme|pre-restore)-\d{8}-\d{6}(-\d+)?\.db$")


def backup_dir(home: Path) -> Path:
    """``<home>/backups``, created if needed."""
    return private_dir(Path(home) / BACKUP_DIR)


def backup_files(home: Path) -> list[Path]:
    """Every ``.db`` file in ``<home>/backups`` (by name), without creating the folder."""
    d = Path(home) / BACKUP_DIR
    if not d.is_dir():
        return []
    return sorted(p for p in d.iterdir() if p.is_file() and p.suffix == ".db")


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


def list_backups(home: Path) -> list[BackupInfo]:
    """Every snapshot (daily and pre-restore), newest first."""
    d = backup_dir(home)
    files = [p for p in d.iterdir() if p.is_file() and NAME_RE.match(p.name)]
    files.sort(key=_order, reverse=True)
    return [_info(p) for p in files]


def _unique(d: Path, prefix: str, now: datetime) -> Path:
    """A new file name that sorts after every existing one of the same second."""
    stamp = now.astimezone(timezone.utc).strftime("%Y%m%d-%H%M%S")
    same = [_order(p)[1] for p in d.glob(f"{prefix}{stamp}*.db") if NAME_RE.match(p.name)]
    if not same:
        return d / f"{prefix}{stamp}.db"
    return d / f"{prefix}{stamp}-{max(same) + 1}.db"


def _snapshot(store: Store, dest: Path) -> None:
    """VACUUM INTO ``dest`` from this thread's live connection (atomic via rename)."""
    tmp = dest.with_name(dest.name + ".part")
    if tmp.exists():
        tmp.unlink()
    conn = store.conn
    if conn.in_transaction:
        raise JobError("a backup cannot be taken inside an open transaction")
    try:
        private_file(tmp)  # VACUUM INTO fills an empty file and keeps its mode
        conn.execute("VACUUM INTO ?", [str(tmp)])
    except sqlite3.Error as e:
        if tmp.exists():
            tmp.unlink()
        raise JobError(f"the backup could not be written: {e}", path=str(dest)) from e
    os.replace(tmp, dest)


def take_backup(store: Store, home: Path, keep: int, now: datetime,
                progress: Optional[ProgressFn] = None,
                cancel: Optional[CancelToken] = None) -> BackupInfo:
    """Write a new daily snapshot (named after ``now``) and keep the newest ``keep``."""
    check(cancel)
    report(progress, "backup", 0, 2, "writing snapshot")
    d = backup_dir(home)
    dest = _unique(d, PREFIX, now)
    _snapshot(store, dest)
    info = _info(dest)
    report(progress, "backup", 1, 2, "rotating")
    _rotate(d, PREFIX, max(1, int(keep)))
    report(progress, "backup", 2, 2)
    return info


def _order(path: Path) -> tuple[str, int]:
    """Sort key: (timestamp, same-second counter) — names alone sort "-1.db" first."""
    m = NAME_RE.match(path.name)
    n = int(m.group(2)[1:]) if m and m.group(2) else 0
    stem = path.stem if not (m and m.group(2)) else path.stem[:-len(m.group(2))]
    return stem[-15:], n


def _rotate(d: Path, prefix: str, keep: int) -> list[str]:
    files = sorted((p for p in d.iterdir()
                    if p.name.startswith(prefix) and NAME_RE.match(p.name)),
                   key=_order, reverse=True)
    removed = []
    for p in files[keep:]:
        p.unlink()
        removed.append(p.name)
    return removed


def run_backup(store: Store, home: Path, keep: int, now: datetime,
               progress: Optional[ProgressFn] = None,
               cancel: Optional[CancelToken] = None) -> dict:
    """The ``backup`` job: a snapshot plus rotation. Returns what it wrote and kept."""
    info = take_backup(store, home, keep, now, progress=progress, cancel=cancel)
    kept = [b.name for b in list_backups(home) if b.kind == "daily"]
    return {"backup": info.name, "size": info.size, "kept": kept}


# -- restoring ------------------------------------------------------------------------------
def find_backup(home: Path, name: str) -> Path:
    """The snapshot file called ``name``. Raises InvalidInput (not a backup name), NotFound."""
    if not NAME_RE.match(name or ""):
        raise InvalidInput(f"{name!r} is not a backup name; `secondme backup list` shows them")
    path = backup_dir(home) / name
    if not path.is_file():
        raise NotFound(f"no backup called {name!r}; `secondme backup list` shows them")
    return path


def verify_backup(connector: Connector, path: Path) -> None:
    """Raise StoreError unless ``path`` opens with ``connector`` and passes quick_check."""
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


def take_pre_restore(store: Store, home: Path, now: datetime) -> Path:
    """Snapshot the live database as ``pre-restore-…`` (keeping the newest few)."""
    d = backup_dir(home)
    pre = _unique(d, PRE_RESTORE_PREFIX, now)
    _snapshot(store, pre)
    _rotate(d, PRE_RESTORE_PREFIX, PRE_RESTORE_KEEP)
    return pre


def swap_in_backup(store: Store, src: Path, home: Path) -> Store:
    """Close ``store``, replace its file by the snapshot ``src``, drop the vector index
    files of ``home`` and return the reopened store (same connector)."""
    db_path = Path(store.path)
    connector = store.connector
    store.close()
    tmp = db_path.with_name(db_path.name + ".restoring")
    copy_private(src, tmp)
    for suffix in ("-wal", "-shm"):
        side = db_path.with_name(db_path.name + suffix)
        if side.exists():
            side.unlink()
    os.replace(tmp, db_path)
    vdir = Path(home) / VECTOR_DIR
    for f in (META_FILE, INDEX_FILE):
        if (vdir / f).exists():
            (vdir / f).unlink()
    return Store.open(db_path, connector=connector)


# -- keeping backups under the store's key ----------------------------------------------------
def stage_rekeyed_backups(home: Path, old: SQLCipherConnector,
                          new: SQLCipherConnector) -> list[str]:
    """Write a copy under ``new`` beside every backup that opens with ``old``
    (``<name>.rekeyed``, fsynced); the originals stay as they are until the database has
    the new key (:func:`~secondme.store.crypto.rekey.settle_staged`)."""
    done = []
    for p in backup_files(home):
        if not _opens_with(old, p):
            continue  # another key already (or damaged): leave it as it is
        staged = staged_path(p)
        copy_private(p, staged)
        conn = old(str(staged))
        try:
            old.rekey(conn, new)
        finally:
            conn.close()
        _fsync(staged)
        done.append(f"{BACKUP_DIR}/{p.name}")
    return done


def stage_encrypted_backups(home: Path, new: SQLCipherConnector) -> list[str]:
    """Write an encrypted copy (``<name>.encrypting``) of every plain backup, swapped in
    with the database once the marker is written (when a plain store is encrypted)."""
    done = []
    for p in backup_files(home):
        with open(p, "rb") as f:
            if f.read(16) != b"SQLite format 3\x00":
                continue
        export_encrypted(p, new)
        done.append(f"{BACKUP_DIR}/{p.name}")
    return done


def _opens_with(connector: Connector, path: Path) -> bool:
    try:
        conn = connector(str(path))
    except sqlite3.DatabaseError:
        return False
    try:
        conn.execute("select count(*) from sqlite_master").fetchone()
        return True
    except sqlite3.DatabaseError:
        return False
    finally:
        conn.close()


def _fsync(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())
