"""Opening an encrypted data directory: find the key, check it, settle a pending key change.

The one rule that matters most: when the marker exists and the key is missing or
wrong, :func:`connector_for_home` raises :class:`~secondme.errors.EncryptionError`
*before* anything opens (let alone creates) the database.
"""
from __future__ import annotations

import hmac
import os
import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Callable, Optional

from ...errors import EncryptionError, StoreError
from ...paths import DB_FILE
from .ciphers import SQLCipherConnector, key_check
from .keys import (
    KEY_NAME,
    PASSPHRASE_ENV,
    PENDING_KEY_NAME,
    derive_key,
    keyring_available,
    keyring_delete,
    keyring_get,
    keyring_set,
)
from .marker import MARKER_FILE, EncryptionMarker, is_encrypted
from .rekey import settle_encrypting, settle_staged

PassphraseFn = Callable[[], Optional[str]]
_default_ask: Optional[PassphraseFn] = None


def set_default_prompt(ask: Optional[PassphraseFn]) -> None:
    """Install the prompt used when a passphrase is needed and none was given.

    The command line installs a hidden ``click.prompt`` (only on a terminal); the
    desktop app instead asks with its own dialog and passes ``passphrase=``.
    """
    global _default_ask
    _default_ask = ask


def _resolve_passphrase(passphrase: Optional[str], ask: Optional[PassphraseFn]) -> Optional[str]:
    if passphrase:
        return passphrase
    env = os.environ.get(PASSPHRASE_ENV)
    if env:
        return env
    ask = ask or _default_ask
    if ask is not None:
        return ask()
    return None


def _candidate_key(marker: EncryptionMarker, method: str, kdf: Optional[dict],
                   check: str, passphrases: list[str], keyring_name: str) -> Optional[bytes]:
    """The key of ``method`` that matches the check value ``check``, or None."""
    if method == "keyring":
        keys = [keyring_get(marker, keyring_name)]
    elif kdf:
        keys = [derive_key(pw, kdf) for pw in passphrases]
    else:
        keys = []
    for key in keys:
        if key is not None and hmac.compare_digest(key_check(key), check):
            return key
    return None


def needs_passphrase(home: Path) -> bool:
    """True when opening ``home`` requires a passphrase the caller must ask for.

    The first-run/unlock dialog of the desktop app calls this to decide whether to show
    a passphrase prompt (``SECONDME_PASSPHRASE`` counts as given).
    """
    marker = EncryptionMarker.read(Path(home))
    if marker is None or os.environ.get(PASSPHRASE_ENV):
        return False
    return marker.needs_passphrase


def unlock(home: Path, passphrase: Optional[str] = None, *,
           ask: Optional[PassphraseFn] = None,
           other_passphrase: Optional[str] = None) -> Optional[SQLCipherConnector]:
    """The connector for ``home``: None when unencrypted, else a verified SQLCipher one.

    ``passphrase`` (or ``SECONDME_PASSPHRASE``, or ``ask()`` — a GUI dialog or a CLI
    prompt, called only when needed) unlocks a passphrase store. Finishes or rolls back
    an interrupted key change, whichever key the database has. Never opens or creates
    the database file when the key is missing or wrong: raises EncryptionError with what
    to do instead — after an interrupted key change, which passphrase (old or new) to
    use. ``other_passphrase`` is the second one of an interrupted change (``recover``
    asks for both before it calls a database that opens with neither damaged). Raises
    StoreError when the marker exists but the database file does not, or when every key
    is known and none opens it (a damaged file).
    """
    home = Path(home)
    marker = EncryptionMarker.read(home)
    if marker is None:
        return None
    db_path = home / DB_FILE
    if not db_path.exists():
        raise StoreError(
            "the encrypted database file is missing (the data directory has its "
            f"{MARKER_FILE} marker but no {DB_FILE}); restore a backup with "
            "`secondme recover`, or move the directory away and start again",
            path=db_path)
    pw = _resolve_passphrase(passphrase, ask) if marker.needs_passphrase else passphrase
    pws = [p for p in dict.fromkeys((pw, other_passphrase)) if p]
    key = _candidate_key(marker, marker.method, marker.kdf, marker.key_check, pws, KEY_NAME)
    pending_key = None
    if marker.pending:
        p = marker.pending
        pending_key = _candidate_key(marker, p["method"], p.get("kdf"), p["key_check"], pws,
                                     PENDING_KEY_NAME)
    if key is None and pending_key is None:
        raise _missing_key_error(marker, pw)
    # A key change may have been interrupted: the file opens with exactly one of them.
    for candidate, is_pending in ((key, False), (pending_key, True)):
        if candidate is None:
            continue
        conn = SQLCipherConnector(candidate)
        if _opens(conn, db_path):
            if marker.pending:
                _settle_pending(home, marker, candidate, is_pending)
            return conn
    if marker.pending and (key is None or pending_key is None):
        # the one key we have does not open it: the database has the other one
        raise _interrupted_change_error(marker, has_new_key=key is None)
    raise StoreError(
        "the encrypted database cannot be read although the key is right: the file is "
        "damaged. Restore the latest backup with `secondme recover`", path=db_path)


def _interrupted_change_error(marker: EncryptionMarker, has_new_key: bool) -> EncryptionError:
    """A key change was interrupted and the key given is the one the database has not."""
    p = marker.pending or {}
    if has_new_key:   # the new key was given: the change never reached the database
        method = marker.method
        which = "the old passphrase" if method == "passphrase" else \
            "its old key (kept in the system keyring, which cannot be read now)"
        return EncryptionError(
            "a key change of this data directory was interrupted before the database took "
            f"the new key: open it with {which}; the new one was never applied. Nothing "
            "was opened or changed")
    which = "the new passphrase" if p.get("method") == "passphrase" else \
        "its new key (kept in the system keyring, which cannot be read now)"
    return EncryptionError(
        "a key change of this data directory was interrupted after the database took "
        f"the new key: open it with {which}; the old one no longer opens it. Nothing was "
        "opened or changed")


def _missing_key_error(marker: EncryptionMarker, pw: Optional[str]) -> EncryptionError:
    if marker.needs_passphrase:
        if not pw:
            return EncryptionError(
                "this data directory is encrypted with a passphrase: enter it when asked, "
                f"or set {PASSPHRASE_ENV} for scripts")
        return EncryptionError("wrong passphrase for this encrypted data directory; "
                               "nothing was opened or changed")
    if not keyring_available():
        return EncryptionError(
            "this data directory is encrypted with a key kept in the system keyring, but "
            "no keyring is available (is your desktop session's keyring running and "
            "unlocked?); nothing was opened or changed")
    return EncryptionError(
        "the key of this encrypted data directory is not in the system keyring (or is "
        "not the right one); it may belong to another user account or keyring. Nothing "
        "was opened or changed")


def _opens(connector: SQLCipherConnector, db_path: Path) -> bool:
    try:
        conn = connector(str(db_path))
    except sqlite3.DatabaseError:
        return False
    try:
        conn.execute("select count(*) from sqlite_master").fetchone()
        return True
    except sqlite3.DatabaseError:
        return False
    finally:
        conn.close()


def _settle_pending(home: Path, marker: EncryptionMarker, key: bytes, was_pending: bool) -> None:
    """Finish (the file has the new key) or forget (it has the old one) a key change:
    the staged copies of the backups and index are swapped in or dropped first."""
    settle_staged(home, forward=was_pending)
    if was_pending:
        p = marker.pending or {}
        if p["method"] == "keyring":
            keyring_set(marker, KEY_NAME, key)
        new = replace(marker, method=p["method"], kdf=p.get("kdf"), key_check=p["key_check"],
                      pending=None)
    else:
        new = replace(marker, pending=None)
    new.write(home)
    keyring_delete(marker, PENDING_KEY_NAME)


def connector_for_home(home: Path, passphrase: Optional[str] = None, *,
                       ask: Optional[PassphraseFn] = None,
                       other_passphrase: Optional[str] = None
                       ) -> Optional[SQLCipherConnector]:
    """What the service calls before ``Store.open``: see :func:`unlock`.

    Also refuses to treat an encrypted-looking database without a marker as new.
    """
    home = Path(home)
    db = home / DB_FILE
    if is_encrypted(home):
        # "encrypt this store" interrupted after the marker was written: the encrypted
        # copies are complete (fsynced before the marker): swap them in.
        settle_encrypting(home, forward=True)
        return unlock(home, passphrase, ask=ask, other_passphrase=other_passphrase)
    # an encryption that never reached its marker: the plain files rule
    settle_encrypting(home, forward=False)
    if db.exists() and db.stat().st_size >= 16:
        if not _has_plain_header(db):
            raise StoreError(
                "the database is encrypted or damaged, and the encryption marker "
                f"({MARKER_FILE}) is missing; restore the marker from a copy of the data "
                "directory, or restore a backup with `secondme recover`", path=db)
    return None


def _has_plain_header(db: Path) -> bool:
    try:
        with open(db, "rb") as f:
            return f.read(16) == b"SQLite format 3\x00"
    except OSError:
        return False


def key_only_connector(home: Path, passphrase: Optional[str] = None) -> SQLCipherConnector:
    """The connector for the marker's key without opening the database (for recovery).

    Raises EncryptionError when the key is missing or wrong.
    """
    marker = EncryptionMarker.read(Path(home))
    if marker is None:
        raise EncryptionError("this data directory is not encrypted")
    pw = _resolve_passphrase(passphrase, None) if marker.method == "passphrase" else None
    key = _candidate_key(marker, marker.method, marker.kdf, marker.key_check,
                         [pw] if pw else [], KEY_NAME)
    if key is None:
        raise _missing_key_error(marker, pw)
    return SQLCipherConnector(key)
