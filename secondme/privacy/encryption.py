"""Encrypting a store, or changing its key: the database, its backups and the vector index.

A key change has one commit point, the database's ``PRAGMA rekey``: the new key is
recorded as pending, the backups (:mod:`secondme.store.backup`) and the vector index
(read into memory, decrypted, before) are written under the new key as staged copies
beside the originals, then the database is re-keyed, then the staged copies are swapped
in and the marker finished. A crash at any point is settled by the next open, forward or
back, whichever key the database has (:mod:`secondme.store.crypto.rekey`).

Encrypting a plain store copies the database and the backups into new SQLCipher files,
writes the marker (the commit point), then swaps the copies in; the next open finishes
an interrupted swap, or drops the copies when the marker was never written.

These functions take the store's files offline: the caller stops background work, holds
the service lock, forgets the loaded vector index and uses the Store they return.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..errors import InvalidInput
from ..paths import DB_FILE, VECTOR_DIR, private_dir
from ..recall import keywords
from ..store.backup import stage_encrypted_backups, stage_rekeyed_backups
from ..store.crypto import (
    SCRYPT_N,
    EncryptionMarker,
    SQLCipherConnector,
    export_encrypted,
    finish_key_change,
    is_encrypted,
    new_key,
    plan_new_key,
    settle_encrypting,
    settle_staged,
    staged_path,
)
from ..store.db import Connector, Store
from ..store.vectors import INDEX_FILE, META_FILE, VectorIndex, capacity_for

log = logging.getLogger(__name__)

_PURPOSE = "vector index"


@dataclass
class KeyChange:
    """A new key on its way into a store: the marker and the new key's connector.

    For a key change, ``marker`` is the current marker and ``pending`` the new key's
    record (already written to the marker as pending); to encrypt a plain store,
    ``marker`` is the new marker, written when the encrypted copy is complete.
    """

    marker: EncryptionMarker
    new: SQLCipherConnector
    pending: Optional[dict] = None

    @property
    def method(self) -> str:
        return (self.pending or {}).get("method") or self.marker.method


def plan_key_change(home: Path, store: Store, *, passphrase: Optional[str] = None,
                    use_keyring: Optional[bool] = None,
                    scrypt_n: Optional[int] = None) -> KeyChange:
    """The new key for an encrypted store, recorded as pending. Raises InvalidInput when
    the store is not encrypted, EncryptionError when the new key cannot be kept."""
    marker = EncryptionMarker.read(home)
    if marker is None or not store.encrypted:
        raise InvalidInput("this data directory is not encrypted; encrypt it first "
                           "(secondme encrypt)")
    new, pending = plan_new_key(home, marker, passphrase=passphrase, use_keyring=use_keyring,
                                scrypt_n=scrypt_n or SCRYPT_N)
    return KeyChange(marker, new, pending)


def plan_encryption(home: Path, *, passphrase: Optional[str] = None,
                    use_keyring: Optional[bool] = None,
                    scrypt_n: Optional[int] = None) -> KeyChange:
    """A key and marker (not written yet) to encrypt the plain store in ``home``.
    Raises InvalidInput when it is already encrypted."""
    if is_encrypted(home):
        raise InvalidInput("this data directory is already encrypted; use key change")
    new, marker = new_key(passphrase=passphrase, use_keyring=use_keyring,
                          scrypt_n=scrypt_n or SCRYPT_N)
    return KeyChange(marker, new)


def rekey_store(home: Path, store: Store, change: KeyChange,
                vectors_blob: Optional[bytes]) -> tuple[Store, list[str]]:
    """Re-encrypt the database, backups and index of ``home`` with ``change.new``.

    Closes ``store``; returns the reopened one and the files re-encrypted.
    """
    old = store.connector
    keywords.discard(store)   # sealed with the old key: rebuilt by the next extract run
    settle_staged(home, forward=False)   # leftovers of an older interrupted change
    files = [DB_FILE]
    files += stage_rekeyed_backups(home, old, change.new)
    if vectors_blob is not None:
        write_index(home, change.new, vectors_blob, staged=True)
        files.append("vectors")
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    db_path = Path(home) / DB_FILE
    conn = old(str(db_path))
    try:
        old.rekey(conn, change.new)      # the commit point: one SQLite transaction
    finally:
        conn.close()
    settle_staged(home, forward=True)
    finish_key_change(home, change.marker, change.new, change.pending)
    return Store.open(db_path, connector=change.new), files


def encrypt_files(home: Path, store: Store, change: KeyChange,
                  vectors_blob: Optional[bytes]) -> tuple[Store, list[str]]:
    """Encrypt the plain database, backups and index of ``home`` with ``change.new``.

    Closes ``store``; returns the reopened (encrypted) one and the files encrypted.
    """
    remove_index_files(home)  # the plain copy must not outlive the switch
    keywords.discard(store)   # the keyword index too (rebuilt by the next extract run)
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    db_path = Path(home) / DB_FILE
    settle_encrypting(home, forward=False)   # leftovers of an older interrupted attempt
    export_encrypted(db_path, change.new)
    files = [DB_FILE]
    files += stage_encrypted_backups(home, change.new)
    change.marker.write(home)                # the commit point
    settle_encrypting(home, forward=True)
    if vectors_blob is not None:
        write_index(home, change.new, vectors_blob)
        files.append("vectors")
    return Store.open(db_path, connector=change.new), files


# -- the vector index file ------------------------------------------------------------------
def read_index_plain(home: Path, vectors: Optional[VectorIndex],
                     connector: Connector) -> Optional[bytes]:
    """The vector index of ``home`` as an in-memory pickle (decrypted with ``connector``'s
    file cipher when the store is encrypted), or None if there is none or it is unreadable
    (it is rebuilt from the database later). A loaded index with changes is saved first."""
    if vectors is not None and vectors.dirty:
        vectors.save()
    path = Path(home) / VECTOR_DIR / INDEX_FILE
    if not path.exists():
        return None
    cipher = connector.file_cipher
    try:
        if cipher is not None:
            return cipher.read_file(path, _PURPOSE)
        import pickle

        import hnswlib

        meta = json.loads((Path(home) / VECTOR_DIR / META_FILE).read_text())
        index = hnswlib.Index(space="cosine", dim=int(meta["dim"]))
        index.load_index(str(path), max_elements=capacity_for(int(meta["count"])))
        return pickle.dumps(index, protocol=5)
    except Exception as e:  # an unreadable index is rebuilt from the database later
        log.warning("vector index unreadable while re-keying (%s); it will be rebuilt", e)
        return None


def write_index(home: Path, connector: SQLCipherConnector, blob: bytes, *,
                staged: bool = False) -> None:
    """Seal the index pickle ``blob`` with ``connector``'s file cipher (``staged``: as
    the copy a key change swaps in once the database has the new key)."""
    path = Path(home) / VECTOR_DIR / INDEX_FILE
    private_dir(path.parent)
    connector.file_cipher.write_file(staged_path(path) if staged else path, blob, _PURPOSE)


def remove_index_files(home: Path) -> None:
    d = Path(home) / VECTOR_DIR
    if d.is_dir():
        for f in d.iterdir():
            if f.is_file():
                f.unlink()
