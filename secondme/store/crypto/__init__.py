"""Encryption at rest: the key, the ciphers, unlocking, and (re-)keying a store.

An encrypted data directory holds:

* ``secondme.db`` (+ ``-wal``/``-shm``) encrypted page by page by SQLCipher with a raw
  256-bit key;
* ``encryption.json`` — the *marker* (:mod:`.marker`): says the store is encrypted and how
  to get the key; it holds no secret;
* the vector index and any other file the core writes next to the database, encrypted
  with AES-256-GCM under a sub-key derived from the database key.

The modules, each doing one thing:

=============== =========================================================================
:mod:`.ciphers` the SQLCipher connector, the file cipher, the key check value
:mod:`.marker`  the ``encryption.json`` marker; whether and how a directory is encrypted
:mod:`.keys`    where a key comes from: the OS keyring, or a passphrase through scrypt
:mod:`.unlock`  opening a directory: find and check the key, settle an interrupted change
:mod:`.rekey`   a new key for an existing database (crash-safe), encrypting a plain one
:mod:`.create`  a new store, plain or encrypted
=============== =========================================================================

What the rest of secondme uses is re-exported here.
"""
from __future__ import annotations

from .ciphers import FileCipher, SQLCipherConnector, key_check
from .create import init_store
from .keys import SCRYPT_N, keyring_available, new_key
from .marker import MARKER_FILE, EncryptionMarker, describe, is_encrypted
from .rekey import (
    export_encrypted,
    finish_key_change,
    plan_new_key,
    settle_encrypting,
    settle_staged,
    staged_path,
    swap_in_encrypted,
)
from .unlock import (
    connector_for_home,
    key_only_connector,
    needs_passphrase,
    set_default_prompt,
    unlock,
)

__all__ = ["FileCipher", "SQLCipherConnector", "key_check", "init_store", "SCRYPT_N",
           "keyring_available", "new_key", "MARKER_FILE", "EncryptionMarker", "describe",
           "is_encrypted", "export_encrypted", "finish_key_change", "plan_new_key",
           "settle_encrypting", "settle_staged", "staged_path", "swap_in_encrypted",
           "connector_for_home", "key_only_connector",
           "needs_passphrase", "set_default_prompt", "unlock"]
