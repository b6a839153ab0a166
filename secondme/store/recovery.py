"""Before a data directory is opened: is it sound? And recovery of a damaged one.

:func:`check_startup` tells the desktop app (or the CLI) what it will find — a new
directory, a passphrase to ask for, a key that is missing, a damaged database — without
creating anything. :func:`recover_latest` replaces a damaged database with the latest
sound backup without opening the damaged store; the damaged file is kept beside it.
"""
from __future__ import annotations

import os
import shutil
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

from ..errors import EncryptionError, NotFound, StoreError
from ..paths import DB_FILE, VECTOR_DIR, copy_private
from .backup import NAME_RE, backup_files
from .crypto import (
    EncryptionMarker,
    connector_for_home,
    is_encrypted,
    key_only_connector,
    needs_passphrase,
    unlock,
)
from .db import Connector, plain_connect


@dataclass
class StartupCheck:
    """What the desktop app (or the CLI) learns before opening a data directory.

    ``state``: ``ok`` | ``new`` | ``needs_passphrase`` | ``locked`` (key missing/wrong) |
    ``damaged``. ``message`` is for a person; ``latest_backup`` names the snapshot a
    ``damaged`` store can be restored from (:func:`recover_latest`).
    """

    state: str
    message: str = ""
    latest_backup: Optional[str] = None
    encrypted: bool = False


def check_startup(home: str | os.PathLike, passphrase: Optional[str] = None, *,
                  thorough: bool = True) -> StartupCheck:
    """Check ``home`` before opening it (the app's start-up and unlock dialogs call this).

    Never creates anything. With ``thorough``, runs ``PRAGMA quick_check`` (about a
    second per GB) so that damage deep inside the file is found at start, not later.
    """
    home = Path(home).expanduser()
    encrypted = is_encrypted(home)
    db = home / DB_FILE
    latest = _latest_backup(home)
    if not db.exists() and not encrypted:
        return StartupCheck("new", "", latest, False)
    if encrypted and needs_passphrase(home) and not passphrase:
        return StartupCheck("needs_passphrase", "Enter the passphrase of this data directory.",
                            latest, True)
    try:
        connector = connector_for_home(home, passphrase)
    except EncryptionError as e:
        return StartupCheck("locked", str(e), latest, encrypted)
    except StoreError as e:
        return StartupCheck("damaged", _damaged_message(str(e), latest), latest, encrypted)
    problem = _db_problem(db, connector or plain_connect, thorough)
    if problem:
        return StartupCheck("damaged", _damaged_message(problem, latest), latest, encrypted)
    return StartupCheck("ok", "", latest, encrypted)


def _db_problem(db: Path, connector: Connector, thorough: bool) -> Optional[str]:
    try:
        conn = connector(str(db))
    except sqlite3.DatabaseError as e:
        return f"the database cannot be opened ({e})"
    try:
        conn.execute("select count(*) from sqlite_master").fetchone()
        if thorough:
            rows = [r[0] for r in conn.execute("PRAGMA quick_check")]
            if rows != ["ok"]:
                return "the database is damaged: " + "; ".join(rows[:3])
    except sqlite3.DatabaseError as e:
        return f"the database is damaged ({e})"
    finally:
        conn.close()
    return None


def _damaged_message(problem: str, latest: Optional[str]) -> str:
    if latest:
        return (f"{problem}. Restore the latest backup ({latest}) with `secondme recover` "
                "(the damaged file is kept beside it)")
    return f"{problem}. There is no backup to restore; `secondme doctor` shows details"


def _newest_first_key(p: Path) -> tuple[str, float]:
    # the names carry a UTC timestamp; daily snapshots sort before pre-restore ones
    return p.stem.split("-", 1)[-1], p.stat().st_mtime


def _latest_backup(home: Path) -> Optional[str]:
    files = backup_files(home)
    if not files:
        return None
    files = [p for p in files if NAME_RE.match(p.name)] or files
    return max(files, key=_newest_first_key).name


def recover_latest(home: str | os.PathLike, passphrase: Optional[str] = None,
                   name: Optional[str] = None) -> dict[str, Any]:
    """Replace a damaged database with the latest (or ``name``d) backup that is sound.

    Works without opening the damaged store. The damaged file is moved aside to
    ``secondme.db.damaged-<time>`` (never deleted); the vector index is dropped (rebuilt
    on next use). Raises NotFound when no usable backup exists.
    """
    home = Path(home).expanduser().resolve()
    connector = _recovery_connector(home, passphrase)
    candidates = sorted(backup_files(home), key=_newest_first_key, reverse=True)
    if name:
        candidates = [p for p in candidates if p.name == name]
    chosen = None
    for p in candidates:
        if _db_problem(p, connector, True) is None:
            chosen = p
            break
    if chosen is None:
        raise NotFound("no sound backup to restore from" + (f" called {name!r}" if name else ""))
    db = home / DB_FILE
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    moved = None
    if db.exists():
        moved = db.with_name(f"{DB_FILE}.damaged-{stamp}")
        os.replace(db, moved)
    for suffix in ("-wal", "-shm"):
        side = db.with_name(DB_FILE + suffix)
        if side.exists():
            side.rename(side.with_name(f"{DB_FILE}.damaged-{stamp}{suffix}"))
    tmp = db.with_name(DB_FILE + ".restoring")
    copy_private(chosen, tmp)
    os.replace(tmp, db)
    shutil.rmtree(home / VECTOR_DIR, ignore_errors=True)
    return {"restored": chosen.name, "damaged_copy": moved.name if moved else None}


def _recovery_connector(home: Path, passphrase: Optional[str]) -> Connector:
    """What opens the backups of ``home``: its key when encrypted, even if the database
    itself is gone or too damaged to open."""
    if EncryptionMarker.read(home) is None:
        return plain_connect
    if not (home / DB_FILE).exists():
        return key_only_connector(home, passphrase)
    try:
        return unlock(home, passphrase) or plain_connect
    except StoreError:
        return key_only_connector(home, passphrase)
