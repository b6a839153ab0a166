"""Giving an existing database a new key: re-keying an encrypted one, encrypting a plain one.

Changing the key is crash-safe: :func:`plan_new_key` records the new key as ``pending``
(in the keyring, and its check value in the marker) before ``PRAGMA rekey``;
:func:`finish_key_change` makes it current once every file has it. An interrupted change
is finished or rolled back by the next open (:mod:`.unlock`), which accepts whichever key
the file has.

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


# -- re-keying an encrypted store -------------------------------------------------------------
def plan_new_key(home: Path, marker: EncryptionMarker, *, passphrase: Optional[str],
                 use_keyring: Optional[bool], scrypt_n: int = SCRYPT_N
                 ) -> tuple[SQLCipherConnector, dict]:
    """Make the new key and record it as ``pending`` (keyring + marker) before any rekey."""
    if passphrase is not None or use_keyring is False:
        if not passphrase:
            raise InvalidInput("give the new passphrase")
        check_passphrase_strength(passphrase)
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
    """Replace ``plain_path`` (and its WAL) by the ``.encrypting`` copy, atomically."""
    plain_path = Path(plain_path)
    target = plain_path.with_name(plain_path.name + ENCRYPTING_SUFFIX)
    for suffix in ("-wal", "-shm"):
        side = plain_path.with_name(plain_path.name + suffix)
        if side.exists():
            side.unlink()
    os.replace(target, plain_path)
