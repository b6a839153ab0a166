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
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

from ..errors import EncryptionError, InvalidInput, NotFound, StoreError
from ..paths import BACKUP_DIR, DB_FILE, VECTOR_DIR, copy_private
from .backup import NAME_RE, backup_files
from .backup import _info as backup_info
from .crypto import (
    EncryptionMarker,
    connector_for_home,
    is_encrypted,
    key_only_connector,
    needs_passphrase,
    settle_staged,
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
                  thorough: bool = True,
                  other_passphrase: Optional[str] = None) -> StartupCheck:
    """Check ``home`` before opening it (the app's start-up and unlock dialogs call this).

    Never creates anything. With ``thorough``, runs ``PRAGMA quick_check`` (about a
    second per GB) so that damage deep inside the file is found at start, not later.
    ``other_passphrase``: the second passphrase of an interrupted key change.
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
        connector = connector_for_home(home, passphrase, other_passphrase=other_passphrase)
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


@dataclass
class RecoveryPlan:
    """What ``recover`` would do: the backup it would restore and what going back to it
    costs (counts in the backup, and in the damaged database as far as it still reads)."""

    backup: str
    created_at: str
    backup_counts: dict[str, int]
    current_counts: Optional[dict[str, int]]
    state: str
    problem: str

    def describe(self) -> str:
        """One line for a person: what is restored and what is lost."""
        have = _counts_text(self.backup_counts)
        now = (f"; the damaged database still shows {_counts_text(self.current_counts)}"
               if self.current_counts else "; the damaged database cannot be counted")
        return (f"Restoring {self.backup} (taken {self.created_at[:16].replace('T', ' ')} "
                f"UTC) goes back in time: it holds {have}{now}. Whatever changed since the "
                "backup is lost; the damaged file is kept beside it")


_COUNTED = ("messages", "notes", "documents")


def _counts_text(c: dict[str, int]) -> str:
    return ", ".join(f"{c[k]:,} {k}" for k in _COUNTED if k in c)


def _counts(connector: Connector, path: Path) -> Optional[dict[str, int]]:
    try:
        conn = connector(str(path))
    except Exception:  # noqa: BLE001 - a damaged file is simply not counted
        return None
    try:
        return {t: conn.execute(f"select count(*) from {t}").fetchone()[0] for t in _COUNTED}
    except Exception:  # noqa: BLE001
        return None
    finally:
        conn.close()


def plan_recovery(home: str | os.PathLike, passphrase: Optional[str] = None,
                  name: Optional[str] = None, *,
                  other_passphrase: Optional[str] = None) -> RecoveryPlan:
    """What :func:`recover_latest` would restore, without changing anything.

    Raises InvalidInput when the database is sound (recover never replaces a database
    that opens: ``backup restore`` goes back to a backup and keeps the current one),
    EncryptionError when it does not open with the key given but may with another (an
    interrupted key change), NotFound when no sound backup exists.
    """
    home = Path(home).expanduser().resolve()
    chk = check_startup(home, passphrase, other_passphrase=other_passphrase)
    if chk.state in ("ok", "new"):
        raise InvalidInput("the database opens and passes its check: recover never "
                           "replaces it; to go back to a backup use `secondme backup "
                           "restore NAME` (the current database is kept as a pre-restore "
                           "backup)")
    if chk.state in ("locked", "needs_passphrase"):
        raise EncryptionError(chk.message)
    connector = _recovery_connector(home, passphrase)
    chosen = _sound_backup(home, connector, name)
    return RecoveryPlan(chosen.name, backup_info(chosen).created_at,
                        _counts(connector, chosen) or {}, _counts(connector, home / DB_FILE),
                        chk.state, chk.message)


def _sound_backup(home: Path, connector: Connector, name: Optional[str]) -> Path:
    candidates = sorted(backup_files(home), key=_newest_first_key, reverse=True)
    if name:
        candidates = [p for p in candidates if p.name == name]
    for p in candidates:
        if _db_problem(p, connector, True) is None:
            return p
    raise NotFound("no sound backup to restore from" + (f" called {name!r}" if name else ""))


def recover_latest(home: str | os.PathLike, passphrase: Optional[str] = None,
                   name: Optional[str] = None, *,
                   other_passphrase: Optional[str] = None) -> dict[str, Any]:
    """Replace a damaged database with the latest (or ``name``d) backup that is sound.

    Works without opening the damaged store, and only when it is damaged (see
    :func:`plan_recovery`, which says what going back costs: ask the person first). The
    damaged file is moved aside to ``secondme.db.damaged-<time>`` (never deleted); the
    vector index is dropped (rebuilt on next use); an interrupted key change is settled
    back to the key of the backups. Raises what :func:`plan_recovery` raises.
    """
    home = Path(home).expanduser().resolve()
    plan = plan_recovery(home, passphrase, name, other_passphrase=other_passphrase)
    chosen = home / BACKUP_DIR / plan.backup
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
    _forget_pending_change(home)
    return {"restored": chosen.name, "damaged_copy": moved.name if moved else None,
            "backup_counts": plan.backup_counts, "current_counts": plan.current_counts}


def _forget_pending_change(home: Path) -> None:
    """The restored backup has the marker's current key: an interrupted key change is
    over (its staged copies and pending record go)."""
    marker = EncryptionMarker.read(home)
    if marker is not None and marker.pending:
        settle_staged(home, forward=False)
        replace(marker, pending=None).write(home)


def _recovery_connector(home: Path, passphrase: Optional[str]) -> Connector:
    """What opens the backups of ``home``: the marker's current key when encrypted (the
    backups have it, also while a key change is pending), without opening the database."""
    if EncryptionMarker.read(home) is None:
        return plain_connect
    return key_only_connector(home, passphrase)
