"""Giving an existing database a new key: re-keying an encrypted one, encrypting a plain one.

Changing the key is atomic from the person's point of view, with one commit point: the
database's ``PRAGMA rekey`` (one SQLite transaction). Before it, :func:`plan_new_key`
records the new key as ``pending`` (in the keyring, and its check value in the marker)
and every other file (backups, the sealed index) is written under the new key as a
*staged* copy beside the original (``<name>.rekeyed``, see :func:`staged_path`). After
it, :func:`settle_staged` swaps the staged copies in and :func:`finish_key_change` makes
the new key current. Whatever the moment of a crash, the next open (:mod:`.unlock`)
finds the key the database has and settles the rest the same way: forward (swap the
staged copies in, finish the marker) or back (drop them, forget the pending key), so
exactly one of the two keys ever opens the store and its backups.

Encrypting a plain database copies it into ``<name>.encrypting`` under the new key
(:func:`export_encrypted`) and then swaps the copy in (:func:`swap_in_encrypted`); the
marker is written in between, so an interrupted swap is finished by the next open.
"""
from __future__ import annotations

import os
import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Optional

from ...errors import EncryptionError, InvalidInput, StoreError
from ...paths import private_file
from .ciphers import (
    BUSY_TIMEOUT_S,
    KEY_BYTES,
    SQLCipherConnector,
    key_check,
    patch_sqlcipher_errors,
)
from .keys import (
    KEY_NAME,
    PENDING_KEY_NAME,
    SCRYPT_N,
    check_passphrase_strength,
    derive_key,
    keyring_available,
    keyring_delete,
    keyring_set,
    new_kdf,
)
from .marker import EncryptionMarker

ENCRYPTING_SUFFIX = ".encrypting"
STAGED_SUFFIX = ".rekeyed"
STAGED_DIRS = ("backups", "vectors")   # the folders whose files follow the database's key


# -- staged copies under the new key ------------------------------------------------------
def staged_path(path: Path) -> Path:
    """Where the copy of ``path`` under a pending new key is written."""
    return Path(path).with_name(Path(path).name + STAGED_SUFFIX)


def staged_files(home: Path) -> list[Path]:
    """Every staged copy left in ``home`` by a key change."""
    out = []
    for d in STAGED_DIRS:
        folder = Path(home) / d
        if folder.is_dir():
            out += sorted(p for p in folder.iterdir() if p.name.endswith(STAGED_SUFFIX))
    return out


def _swap_staged(staged: Path) -> None:
    os.replace(staged, staged.with_name(staged.name[:-len(STAGED_SUFFIX)]))


def settle_staged(home: Path, forward: bool) -> int:
    """Swap every staged copy in (``forward``: the database has the new key) or drop it
    (it kept the old one). Idempotent; returns how many files it handled."""
    files = staged_files(home)
    for p in files:
        if forward:
            _swap_staged(p)
        else:
            p.unlink(missing_ok=True)
    return len(files)


# -- re-keying an encrypted store -------------------------------------------------------------
def plan_new_key(home: Path, marker: EncryptionMarker, *, passphrase: Optional[str],
                 use_keyring: Optional[bool], scrypt_n: int = SCRYPT_N
                 ) -> tuple[SQLCipherConnector, dict]:
    """Make the new key and record it as ``pending`` (keyring + marker) before any rekey."""
    if passphrase is not None or use_keyring is False:
        if not passphrase:
            raise InvalidInput("give the new passphrase")
        check_passphrase_strength(passphrase)
        if marker.method == "passphrase" and marker.kdf and \
                key_check(derive_key(passphrase, marker.kdf)) == marker.key_check:
            raise InvalidInput("the new passphrase is the same as the current one; "
                               "nothing was changed")
        kdf = new_kdf(scrypt_n)
        key = derive_key(passphrase, kdf)
        pending = {"method": "passphrase", "kdf": kdf, "key_check": key_check(key)}
    else:
        if not keyring_available():
            raise EncryptionError("no system keyring is available for a new random key; "
                                  "change to a passphrase instead (--passphrase)")
        key = os.urandom(KEY_BYTES)
        pending = {"method": "keyring", "kdf": None, "key_check": key_check(key)}
        keyring_set(marker, PENDING_KEY_NAME, key)
    replace(marker, pending=pending).write(home)
    return SQLCipherConnector(key), pending


def finish_key_change(home: Path, marker: EncryptionMarker, new: SQLCipherConnector,
                      pending: dict) -> None:
    """After every file has the new key: make it current, drop the pending record."""
    if pending["method"] == "keyring":
        keyring_set(marker, KEY_NAME, new._key)
    done = replace(marker, method=pending["method"], kdf=pending.get("kdf"),
                   key_check=pending["key_check"], pending=None)
    done.write(home)
    keyring_delete(marker, PENDING_KEY_NAME)
    if pending["method"] == "passphrase":
        keyring_delete(marker, KEY_NAME)


# -- encrypting a plain database ------------------------------------------------------------------
def export_encrypted(plain_path: Path, new: SQLCipherConnector) -> Path:
    """Copy the plain database ``plain_path`` into ``<path>.encrypting`` under ``new``.

    Uses SQLCipher's ``sqlcipher_export`` (the page-by-page copy sqlite's backup API
    cannot do between a plain and an encrypted file). The caller swaps it in with
    :func:`swap_in_encrypted`.
    """
    import sqlcipher3

    patch_sqlcipher_errors()
    plain_path = Path(plain_path)
    target = plain_path.with_name(plain_path.name + ENCRYPTING_SUFFIX)
    for p in (target, Path(str(target) + "-wal"), Path(str(target) + "-shm")):
        if p.exists():
            p.unlink()
    private_file(target)  # ATTACH fills the empty file and keeps its mode
    conn = sqlcipher3.connect(str(plain_path), timeout=BUSY_TIMEOUT_S)
    try:
        conn.execute("select count(*) from sqlite_master").fetchone()
        new.attach(conn, target, "enc")
        conn.execute("SELECT sqlcipher_export('enc')").fetchall()
        conn.execute("DETACH DATABASE enc")
    except sqlite3.DatabaseError as e:
        raise StoreError(f"the database could not be encrypted: {e}", path=plain_path) from e
    finally:
        conn.close()
    with open(target, "rb+") as f:
        os.fsync(f.fileno())
    return target


def swap_in_encrypted(plain_path: Path) -> None:
    """Replace ``plain_path`` (and its WAL) by the ``.encrypting`` copy, atomically.
    Nothing to do when there is no copy (it was swapped in already)."""
    plain_path = Path(plain_path)
    if not plain_path.with_name(plain_path.name + ENCRYPTING_SUFFIX).exists():
        return
    target = plain_path.with_name(plain_path.name + ENCRYPTING_SUFFIX)
    for suffix in ("-wal", "-shm"):
        side = plain_path.with_name(plain_path.name + suffix)
        if side.exists():
            side.unlink()
    os.replace(target, plain_path)


def encrypting_files(home: Path) -> list[Path]:
    """The plain files of ``home`` that have an encrypted copy waiting to be swapped in:
    the database and its backups (see :func:`export_encrypted`)."""
    out = []
    for folder in (Path(home), Path(home) / "backups"):
        if folder.is_dir():
            out += sorted(folder / p.name[:-len(ENCRYPTING_SUFFIX)] for p in folder.iterdir()
                          if p.name.endswith(ENCRYPTING_SUFFIX))
    return out


def settle_encrypting(home: Path, forward: bool) -> None:
    """Finish (the marker is written: swap every encrypted copy in) or forget (no marker:
    the plain files rule) an interrupted "encrypt this store"."""
    for plain in encrypting_files(home):
        if forward:
            swap_in_encrypted(plain)
        else:
            plain.with_name(plain.name + ENCRYPTING_SUFFIX).unlink(missing_ok=True)
