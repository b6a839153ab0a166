"""The ciphers: SQLCipher connections for the database, AES-256-GCM for the files beside it.

* :class:`SQLCipherConnector` opens ``secondme.db`` page-encrypted by SQLCipher with a raw
  256-bit key (``PRAGMA key = "x'…'"``, applied before any other statement);
* :class:`FileCipher` seals every other file the core writes next to the database (the
  vector index) under a sub-key derived from the database key;
* :func:`key_check` is an HMAC of a constant under the key, kept in the marker, so that a
  wrong key is told apart from a damaged database without revealing the key.

The key never appears in a ``repr``. Connectors and ciphers are immutable and may be
shared by threads.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import sqlite3
from pathlib import Path

from ...errors import EncryptionError
from ...paths import write_private

KEY_BYTES = 32
BUSY_TIMEOUT_S = 30.0
_CHECK_CONSTANT = b"secondme key check v1"
_FILE_MAGIC = b"SMENC1\n"

_patched = False


def patch_sqlcipher_errors() -> None:
    """Make ``except sqlite3.IntegrityError`` (etc.) catch sqlcipher3's errors too.

    sqlcipher3 is a copy of the stdlib ``_sqlite3`` with its own exception classes; the
    rest of secondme (and sqlite-utils) catches the ``sqlite3`` ones. Adding the stdlib
    class as a second base keeps every existing ``except`` clause correct on an encrypted
    store. Idempotent.
    """
    global _patched
    if _patched:
        return
    from sqlcipher3 import dbapi2 as sc

    for name in ("DatabaseError", "OperationalError", "IntegrityError", "ProgrammingError",
                 "InterfaceError", "NotSupportedError", "DataError", "InternalError"):
        mine, std = getattr(sc, name), getattr(sqlite3, name)
        if not issubclass(mine, std):
            mine.__bases__ = mine.__bases__ + (std,)
    _patched = True


def key_check(key: bytes) -> str:
    """A value that tells whether ``key`` is the right one, without revealing it."""
    return hmac.new(key, _CHECK_CONSTANT, hashlib.sha256).hexdigest()[:32]


class FileCipher:
    """AES-256-GCM for files the core writes beside the database (the vector index).

    Format: ``SMENC1\\n`` + 12-byte random nonce + ciphertext with its 16-byte tag. The
    ``purpose`` string is authenticated too, so one file cannot be swapped for another.
    """

    def __init__(self, key: bytes):
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "FileCipher(<key hidden>)"

    def encrypt(self, data: bytes, purpose: str) -> bytes:
        nonce = os.urandom(12)
        return _FILE_MAGIC + nonce + self._aead.encrypt(nonce, data, purpose.encode())

    def decrypt(self, blob: bytes, purpose: str) -> bytes:
        """The plaintext; raises EncryptionError when the blob is damaged or foreign."""
        from cryptography.exceptions import InvalidTag

        if not blob.startswith(_FILE_MAGIC) or len(blob) < len(_FILE_MAGIC) + 28:
            raise EncryptionError(f"the {purpose} file is not an encrypted secondme file")
        nonce = blob[len(_FILE_MAGIC):len(_FILE_MAGIC) + 12]
        try:
            return self._aead.decrypt(nonce, blob[len(_FILE_MAGIC) + 12:], purpose.encode())
        except InvalidTag as e:
            raise EncryptionError(f"the {purpose} file is damaged or was encrypted with "
                                  "another key") from e

    def write_file(self, path: Path, data: bytes, purpose: str) -> None:
        """Encrypt ``data`` to ``path`` atomically (temp file, fsync, rename)."""
        write_private(path, self.encrypt(data, purpose))

    def read_file(self, path: Path, purpose: str) -> bytes:
        return self.decrypt(Path(path).read_bytes(), purpose)


def _subkey(key: bytes, purpose: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=b"secondme " + purpose).derive(key)


class SQLCipherConnector:
    """Opens SQLCipher connections with the key applied before anything else.

    Use as ``Store.open(path, connector=SQLCipherConnector(key))``. ``file_cipher`` is the
    matching :class:`FileCipher` for the vector index. The key never appears in ``repr``.
    """

    encrypted = True

    def __init__(self, key: bytes):
        if len(key) != KEY_BYTES:
            raise ValueError("the database key must be 32 bytes")
        self._key = bytes(key)
        self.file_cipher = FileCipher(_subkey(self._key, b"files"))

    def __repr__(self) -> str:
        return "SQLCipherConnector(<key hidden>)"

    @property
    def key_check(self) -> str:
        return key_check(self._key)

    def key_for_worker(self) -> str:
        """The key as hex, for a worker process of this app opening the same store
        (``secondme.worker``): it travels over the worker's stdin pipe only — never on
        a command line, in the environment or in a log."""
        return self._key.hex()

    def __call__(self, path: str) -> sqlite3.Connection:
        import sqlcipher3

        patch_sqlcipher_errors()
        conn = sqlcipher3.connect(str(path), timeout=BUSY_TIMEOUT_S, check_same_thread=False)
        try:
            # SQLCipher prints "hmac check failed" lines on stderr for a damaged page;
            # the caller turns the error into a clear message instead.
            conn.execute("PRAGMA cipher_log_level = NONE")
        except sqlite3.DatabaseError:
            pass
        conn.execute(f"PRAGMA key = \"x'{self._key.hex()}'\"")
        return conn

    def rekey(self, conn: sqlite3.Connection, new: "SQLCipherConnector") -> None:
        """Re-encrypt the database behind ``conn`` (opened by this connector) with ``new``."""
        conn.execute(f"PRAGMA rekey = \"x'{new._key.hex()}'\"")

    def attach(self, conn: sqlite3.Connection, path: Path, schema: str) -> None:
        """Attach the database file ``path`` to ``conn`` as ``schema``, under this key."""
        conn.execute(f"ATTACH DATABASE ? AS {schema} KEY \"x'{self._key.hex()}'\"", [str(path)])
