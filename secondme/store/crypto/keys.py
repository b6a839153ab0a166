"""Where a database key comes from: the OS keyring, or a passphrase through scrypt.

* ``keyring`` — 32 random bytes made when the store is encrypted, kept in the OS keyring
  (Secret Service, macOS Keychain, Windows Credential Manager) through
  :mod:`secondme.secrets` under an account named after the marker's ``store_id``;
* ``passphrase`` — scrypt (N=2**17, r=8, p=1; ~128 MiB, a few tenths of a second) of the
  passphrase with a random 16-byte salt kept in the marker. The passphrase comes from the
  caller (a GUI dialog or ``click.prompt``) or from ``SECONDME_PASSPHRASE``.
"""
from __future__ import annotations

import hashlib
import os
import secrets as _pysecrets
import uuid
from typing import Optional

from ... import secrets
from ...errors import EncryptionError, InvalidInput
from .ciphers import KEY_BYTES, SQLCipherConnector, key_check
from .marker import EncryptionMarker

KEY_NAME = "database-key"
PENDING_KEY_NAME = "database-key-pending"
PASSPHRASE_ENV = "SECONDME_PASSPHRASE"
SCRYPT_N = 2 ** 17
SCRYPT_R = 8
SCRYPT_P = 1
MIN_PASSPHRASE = 8


# -- passphrases ----------------------------------------------------------------------------
def new_kdf(n: int = SCRYPT_N) -> dict:
    """Fresh scrypt parameters with a random salt (stored in the marker)."""
    return {"name": "scrypt", "n": n, "r": SCRYPT_R, "p": SCRYPT_P,
            "salt": _pysecrets.token_hex(16)}


def derive_key(passphrase: str, kdf: dict) -> bytes:
    """The 32-byte database key for ``passphrase`` under ``kdf`` (scrypt)."""
    if kdf.get("name") != "scrypt":
        raise EncryptionError(f"unknown key derivation {kdf.get('name')!r}; upgrade secondme")
    n, r, p = int(kdf["n"]), int(kdf["r"]), int(kdf["p"])
    return hashlib.scrypt(passphrase.encode("utf-8"), salt=bytes.fromhex(kdf["salt"]),
                          n=n, r=r, p=p, maxmem=256 * n * r + (1 << 24), dklen=KEY_BYTES)


def check_passphrase_strength(passphrase: str) -> None:
    """Raise InvalidInput for a passphrase too short to protect anything."""
    if len(passphrase) < MIN_PASSPHRASE:
        raise InvalidInput(f"the passphrase must have at least {MIN_PASSPHRASE} characters")


# -- the keyring (through secondme.secrets only) ---------------------------------------------
def keyring_available() -> bool:
    """True when an OS keyring backend can hold the key (else a passphrase is needed)."""
    return secrets.available()


def keyring_get(marker: EncryptionMarker, name: str) -> Optional[bytes]:
    """The key ``name`` (current or pending) of the marker's store, or None."""
    value = secrets.get_secret(marker.keyring_scope, name)
    if not value:
        return None
    try:
        key = bytes.fromhex(value)
    except ValueError:
        return None
    return key if len(key) == KEY_BYTES else None


def keyring_set(marker: EncryptionMarker, name: str, key: bytes) -> None:
    """Keep ``key`` in the keyring and read it back. Raises EncryptionError if it is not kept."""
    try:
        secrets.set_secret(marker.keyring_scope, name, key.hex())
    except Exception as e:
        raise EncryptionError("the system keyring cannot store the database key; use a "
                              "passphrase instead (init --encrypt --passphrase)") from e
    if keyring_get(marker, name) != key:
        raise EncryptionError("the system keyring did not keep the database key; use a "
                              "passphrase instead (init --encrypt --passphrase)")


def keyring_delete(marker: EncryptionMarker, name: str) -> None:
    secrets.delete_secret(marker.keyring_scope, name)


# -- a new key -----------------------------------------------------------------------------------
def new_key(*, passphrase: Optional[str] = None, use_keyring: Optional[bool] = None,
            scrypt_n: int = SCRYPT_N) -> tuple[SQLCipherConnector, EncryptionMarker]:
    """A new key for a store being encrypted, and its marker (not written yet).

    A random key kept in the OS keyring when one is available (``use_keyring`` None/True)
    and no ``passphrase`` is given (the key is stored in the keyring now); otherwise the
    key is derived from ``passphrase`` or ``SECONDME_PASSPHRASE`` (at least 8 characters).
    Raises EncryptionError when neither is usable, InvalidInput for a short passphrase.
    """
    store_id = uuid.uuid4().hex
    if passphrase is None and use_keyring is not False and keyring_available():
        key = os.urandom(KEY_BYTES)
        marker = EncryptionMarker(store_id=store_id, method="keyring", key_check=key_check(key))
        keyring_set(marker, KEY_NAME, key)
    else:
        passphrase = passphrase or os.environ.get(PASSPHRASE_ENV)
        if not passphrase:
            raise EncryptionError("no system keyring is available to keep the key: give a "
                                  f"passphrase (prompted, or {PASSPHRASE_ENV} for scripts)")
        check_passphrase_strength(passphrase)
        kdf = new_kdf(scrypt_n)
        key = derive_key(passphrase, kdf)
        marker = EncryptionMarker(store_id=store_id, method="passphrase",
                                  key_check=key_check(key), kdf=kdf)
    return SQLCipherConnector(key), marker
