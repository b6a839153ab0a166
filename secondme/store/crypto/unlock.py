"""Encryption at rest: the SQLCipher connector, the key, and file encryption.

An encrypted data directory holds:

* ``secondme.db`` (+ ``-wal``/``-shm``) encrypted page by page by SQLCipher with a raw
  256-bit key (``PRAGMA key = "x'…'"``, applied before any other statement);
* ``encryption.json`` — the *marker*: says the store is encrypted and how to get the key
  (``method``: ``keyring`` or ``passphrase``), a random ``store_id``, the KDF parameters
  and salt for a passphrase, and ``key_check`` (an HMAC of a constant under the key, so
  that a wrong passphrase is told apart from a damaged database). It holds no secret;
* the vector index and any other file the core writes next to the database encrypted
  with AES-256-GCM under a sub-key derived from the database key (:class:`FileCipher`).

Where the key comes from:

* ``keyring`` — 32 random bytes made at ``init --encrypt``, stored in the OS keyring
  (Secret Service, macOS Keychain, Windows Credential Manager) through
  :mod:`secondme.secrets` under an account named after the ``store_id`` (so moving the
  data directory keeps working);
* ``passphrase`` — scrypt (N=2**17, r=8, p=1; ~128 MiB, a few tenths of a second) of the
  passphrase with a random 16-byte salt kept in the marker. The passphrase comes from the
  caller (a GUI dialog or ``click.prompt``) or from ``SECONDME_PASSPHRASE``.

The one rule that matters most: when the marker exists and the key is missing or
wrong, :func:`connector_for_home` raises :class:`~secondme.errors.EncryptionError`
*before* anything opens (let alone creates) the database.

Changing the key is crash-safe: the new key is recorded as ``pending`` (in the keyring,
and its check value in the marker) before ``PRAGMA rekey``; an interrupted change is
finished or rolled back by the next open, which accepts whichever key the file has.

Thread-safety: connectors and ciphers are immutable and may be shared by threads.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets as _pysecrets
import sqlite3
import uuid
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional

from .api import InitReport
from .errors import DataDirError, EncryptionError, InvalidInput, StoreError
from .paths import DB_FILE

log = logging.getLogger(__name__)

MARKER_FILE = "encryption.json"

KEY_NAME = "database-key"
PENDING_KEY_NAME = "database-key-pending"
PASSPHRASE_ENV = "SECONDME_PASSPHRASE"
KEY_BYTES = 32
SCRYPT_N = 2 ** 17
SCRYPT_R = 8
SCRYPT_P = 1
MIN_PASSPHRASE = 8
_CHECK_CONSTANT = b"secondme key check v1"
_FILE_MAGIC = b"SMENC1\n"
BUSY_TIMEOUT_S = 30.0


# -- sqlcipher3 errors are made subclasses of the sqlite3 ones ----------------------------
_patched = False


def _patch_sqlcipher_errors() -> None:
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


def sqlcipher_available() -> bool:
    """True when the SQLCipher module (``sqlcipher3-binary``) can be imported."""
    try:
        import sqlcipher3  # noqa: F401
    except ImportError:
        return False
    return True


# -- the file cipher -------------------------------------------------------------------------
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
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(self.encrypt(data, purpose))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    def read_file(self, path: Path, purpose: str) -> bytes:
        return self.decrypt(Path(path).read_bytes(), purpose)


def _subkey(key: bytes, purpose: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=b"secondme " + purpose).derive(key)


# -- the connector -----------------------------------------------------------------------------
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

    def __call__(self, path: str) -> sqlite3.Connection:
        import sqlcipher3

        _patch_sqlcipher_errors()
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


def key_check(key: bytes) -> str:
    """A value that tells whether ``key`` is the right one, without revealing it."""
    return hmac.new(key, _CHECK_CONSTANT, hashlib.sha256).hexdigest()[:32]


# -- the marker ----------------------------------------------------------------------------------
@dataclass
class EncryptionMarker:
    """The contents of ``encryption.json`` — no secrets, only how to find the key."""

    store_id: str
    method: str                         # keyring | passphrase
    key_check: str
    kdf: Optional[dict] = None          # {"name": "scrypt", "n", "r", "p", "salt"}
    pending: Optional[dict] = None      # a key change in progress: {method, key_check, kdf}
    version: int = 1
    cipher: str = "sqlcipher4"
    created_at: str = field(default_factory=lambda: datetime.now(timezone.utc)
                            .isoformat(timespec="seconds"))

    @classmethod
    def read(cls, home: Path) -> Optional["EncryptionMarker"]:
        """The marker of ``home``, or None for an unencrypted data dir."""
        path = Path(home) / MARKER_FILE
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})
        except (OSError, ValueError, TypeError) as e:
            raise EncryptionError(
                f"the encryption marker {MARKER_FILE} is unreadable ({e}); restore it from "
                "a copy of the data directory", path=path) from e

    def write(self, home: Path) -> None:
        path = Path(home) / MARKER_FILE
        tmp = path.with_name(path.name + ".tmp")
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(asdict(self), f, indent=2, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except OSError as e:
            raise DataDirError(f"cannot write the encryption marker: {e.strerror}",
                               path=path) from e

    @property
    def keyring_scope(self) -> Path:
        """The pseudo-path under which :mod:`secondme.secrets` files this store's key.

        Keyed by ``store_id``, not by the data dir's location, so that moving or
        renaming the directory does not lose the key.
        """
        return Path("/secondme-store") / self.store_id


def is_encrypted(home: Path) -> bool:
    """True when ``home`` holds an encrypted store (its marker exists)."""
    return (Path(home) / MARKER_FILE).exists()


# -- key derivation ---------------------------------------------------------------------------------
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


# -- keyring access (through secondme.secrets only) ----------------------------------------------
def keyring_available() -> bool:
    """True when an OS keyring backend can hold the key (else a passphrase is needed)."""
    from . import secrets

    return secrets.available()


def _keyring_get(marker: EncryptionMarker, name: str) -> Optional[bytes]:
    from . import secrets

    value = secrets.get_secret(marker.keyring_scope, name)
    if not value:
        return None
    try:
        key = bytes.fromhex(value)
    except ValueError:
        return None
    return key if len(key) == KEY_BYTES else None


def _keyring_set(marker: EncryptionMarker, name: str, key: bytes) -> None:
    from . import secrets

    try:
        secrets.set_secret(marker.keyring_scope, name, key.hex())
    except Exception as e:
        raise EncryptionError("the system keyring cannot store the database key; use a "
                              "passphrase instead (init --encrypt --passphrase)") from e
    if _keyring_get(marker, name) != key:
        raise EncryptionError("the system keyring did not keep the database key; use a "
                              "passphrase instead (init --encrypt --passphrase)")


def _keyring_delete(marker: EncryptionMarker, name: str) -> None:
    from . import secrets

    secrets.delete_secret(marker.keyring_scope, name)


# -- opening ---------------------------------------------------------------------------------------------
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
                   check: str, passphrase: Optional[str], keyring_name: str) -> Optional[bytes]:
    if method == "keyring":
        key = _keyring_get(marker, keyring_name)
    elif passphrase and kdf:
        key = derive_key(passphrase, kdf)
    else:
        key = None
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
    return marker.method == "passphrase" or (marker.pending or {}).get("method") == "passphrase"


def unlock(home: Path, passphrase: Optional[str] = None, *,
           ask: Optional[PassphraseFn] = None) -> Optional[SQLCipherConnector]:
    """The connector for ``home``: None when unencrypted, else a verified SQLCipher one.

    ``passphrase`` (or ``SECONDME_PASSPHRASE``, or ``ask()`` — a GUI dialog or a CLI
    prompt, called only when needed) unlocks a passphrase store. Finishes or rolls back
    an interrupted key change. Never opens or creates the database file when the key is
    missing or wrong: raises EncryptionError with what to do instead. Raises StoreError
    when the marker exists but the database file does not.
    """
    home = Path(home)
    marker = EncryptionMarker.read(home)
    if marker is None:
        return None
    if not sqlcipher_available():
        raise EncryptionError("this data directory is encrypted but SQLCipher is not "
                              "installed; install secondme with sqlcipher3-binary")
    db_path = home / DB_FILE
    if not db_path.exists():
        raise StoreError(
            "the encrypted database file is missing (the data directory has its "
            f"{MARKER_FILE} marker but no {DB_FILE}); restore a backup with "
            "`secondme recover`, or move the directory away and start again",
            path=db_path)
    needs_pw = marker.method == "passphrase" or (marker.pending or {}).get("method") == "passphrase"
    pw = _resolve_passphrase(passphrase, ask) if needs_pw else passphrase
    key = _candidate_key(marker, marker.method, marker.kdf, marker.key_check, pw, KEY_NAME)
    pending_key = None
    if marker.pending:
        p = marker.pending
        pending_key = _candidate_key(marker, p["method"], p.get("kdf"), p["key_check"], pw,
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
    raise StoreError(
        "the encrypted database cannot be read although the key is right: the file is "
        "damaged. Restore the latest backup with `secondme recover`", path=db_path)


def _missing_key_error(marker: EncryptionMarker, pw: Optional[str]) -> EncryptionError:
    if marker.method == "passphrase" or (marker.pending or {}).get("method") == "passphrase":
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
    """Finish (the file has the new key) or forget (it has the old one) a key change."""
    if was_pending:
        p = marker.pending or {}
        if p["method"] == "keyring":
            _keyring_set(marker, KEY_NAME, key)
        new = replace(marker, method=p["method"], kdf=p.get("kdf"), key_check=p["key_check"],
                      pending=None)
    else:
        new = replace(marker, pending=None)
    new.write(home)
    _keyring_delete(marker, PENDING_KEY_NAME)


def connector_for_home(home: Path, passphrase: Optional[str] = None, *,
                       ask: Optional[PassphraseFn] = None) -> Optional[SQLCipherConnector]:
    """What the service calls before ``Store.open``: see :func:`unlock`.

    Also refuses to treat an encrypted-looking database without a marker as new.
    """
    home = Path(home)
    db = home / DB_FILE
    if is_encrypted(home):
        half = db.with_name(DB_FILE + ENCRYPTING_SUFFIX)
        if half.exists() and _has_plain_header(db):
            # "encrypt this store" was interrupted after the marker was written: the
            # encrypted copy is complete (it was fsynced before the marker), finish it.
            swap_in_encrypted(db)
        return unlock(home, passphrase, ask=ask)
    half = db.with_name(DB_FILE + ENCRYPTING_SUFFIX)
    if half.exists():
        half.unlink()  # an encryption that never reached its marker: the plain file rules
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


def init_store(home: Path, *, encrypt: bool = False, passphrase: Optional[str] = None,
               use_keyring: Optional[bool] = None, scrypt_n: int = SCRYPT_N) -> InitReport:
    """Create a new store in ``home`` (the first-run dialog and ``secondme init`` call this).

    With ``encrypt``: a random 32-byte key goes to the OS keyring when one is available
    (``use_keyring`` None/True) and no ``passphrase`` is given; otherwise the key is
    derived from ``passphrase`` (required then; at least 8 characters) with scrypt.
    The marker is written before the database so a crash in between never leaves an
    unmarked encrypted file. Raises InvalidInput when ``home`` already holds a store
    (never overwrites one), EncryptionError when no key source is usable.
    """
    from .paths import resolve_home
    from .store.db import Store

    home = resolve_home(home)
    if (home / DB_FILE).exists() or is_encrypted(home):
        raise InvalidInput("this data directory already holds a secondme store; "
                           "nothing was changed", path=home)
    if not encrypt:
        Store.open(home / DB_FILE).close()
        return InitReport(str(home), False)
    if not sqlcipher_available():
        raise EncryptionError("encryption needs SQLCipher: install sqlcipher3-binary")
    store_id = uuid.uuid4().hex
    if passphrase is None and use_keyring is not False and keyring_available():
        key = os.urandom(KEY_BYTES)
        marker = EncryptionMarker(store_id=store_id, method="keyring", key_check=key_check(key))
        _keyring_set(marker, KEY_NAME, key)
    else:
        if passphrase is None:
            passphrase = os.environ.get(PASSPHRASE_ENV)
        if not passphrase:
            raise EncryptionError(
                "no system keyring is available to keep the key: give a passphrase "
                f"(prompted, or {PASSPHRASE_ENV} for scripts)")
        check_passphrase_strength(passphrase)
        kdf = new_kdf(scrypt_n)
        key = derive_key(passphrase, kdf)
        marker = EncryptionMarker(store_id=store_id, method="passphrase",
                                  key_check=key_check(key), kdf=kdf)
    marker.write(home)
    try:
        Store.open(home / DB_FILE, connector=SQLCipherConnector(key)).close()
    except BaseException:
        # Nothing was stored yet: leave the directory as it was.
        for name in (DB_FILE, DB_FILE + "-wal", DB_FILE + "-shm", MARKER_FILE):
            try:
                (home / name).unlink()
            except FileNotFoundError:
                pass
        if marker.method == "keyring":
            _keyring_delete(marker, KEY_NAME)
        raise
    return InitReport(str(home), True, marker.method)


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
        _keyring_set(marker, PENDING_KEY_NAME, key)
    replace(marker, pending=pending).write(home)
    return SQLCipherConnector(key), pending


def finish_key_change(home: Path, marker: EncryptionMarker, new: SQLCipherConnector,
                      pending: dict) -> None:
    """After every file has the new key: make it current, drop the pending record."""
    if pending["method"] == "keyring":
        _keyring_set(marker, KEY_NAME, new._key)
    done = replace(marker, method=pending["method"], kdf=pending.get("kdf"),
                   key_check=pending["key_check"], pending=None)
    done.write(home)
    _keyring_delete(marker, PENDING_KEY_NAME)
    if pending["method"] == "passphrase":
        _keyring_delete(marker, KEY_NAME)


def forget_key(home: Path) -> None:
    """Remove this store's keys from the keyring (after a wipe of the whole store)."""
    marker = EncryptionMarker.read(Path(home))
    if marker is not None:
        _keyring_delete(marker, KEY_NAME)
        _keyring_delete(marker, PENDING_KEY_NAME)


def describe(home: Path) -> dict[str, Any]:
    """For ``doctor`` and the Settings pane: whether and how ``home`` is encrypted."""
    marker = EncryptionMarker.read(Path(home))
    if marker is None:
        return {"encrypted": False}
    return {"encrypted": True, "method": marker.method, "cipher": marker.cipher,
            "key_change_pending": marker.pending is not None,
            "kdf": (marker.kdf or {}).get("name")}


# -- encrypting an existing plain store ---------------------------------------------------------------
def new_key_for(home: Path, *, passphrase: Optional[str] = None,
                use_keyring: Optional[bool] = None, scrypt_n: int = SCRYPT_N
                ) -> tuple[SQLCipherConnector, EncryptionMarker]:
    """A new key and its marker for ``home`` (not written yet), as ``init`` would make."""
    store_id = uuid.uuid4().hex
    if passphrase is None and use_keyring is not False and keyring_available():
        key = os.urandom(KEY_BYTES)
        marker = EncryptionMarker(store_id=store_id, method="keyring", key_check=key_check(key))
        _keyring_set(marker, KEY_NAME, key)
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


ENCRYPTING_SUFFIX = ".encrypting"


def export_encrypted(plain_path: Path, new: SQLCipherConnector) -> Path:
    """Copy the plain database ``plain_path`` into ``<path>.encrypting`` under ``new``.

    Uses SQLCipher's ``sqlcipher_export`` (the page-by-page copy sqlite's backup API
    cannot do between a plain and an encrypted file). The caller swaps it in with
    :func:`swap_in_encrypted`.
    """
    import sqlcipher3

    _patch_sqlcipher_errors()
    plain_path = Path(plain_path)
    target = plain_path.with_name(plain_path.name + ENCRYPTING_SUFFIX)
    for p in (target, Path(str(target) + "-wal"), Path(str(target) + "-shm")):
        if p.exists():
            p.unlink()
    conn = sqlcipher3.connect(str(plain_path), timeout=BUSY_TIMEOUT_S)
    try:
        conn.execute("select count(*) from sqlite_master").fetchone()
        conn.execute(f"ATTACH DATABASE ? AS enc KEY \"x'{new._key.hex()}'\"", [str(target)])
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


def key_only_connector(home: Path, passphrase: Optional[str] = None) -> SQLCipherConnector:
    """The connector for the marker's key without opening the database (for recovery).

    Raises EncryptionError when the key is missing or wrong.
    """
    marker = EncryptionMarker.read(Path(home))
    if marker is None:
        raise EncryptionError("this data directory is not encrypted")
    pw = _resolve_passphrase(passphrase, None) if marker.method == "passphrase" else None
    key = _candidate_key(marker, marker.method, marker.kdf, marker.key_check, pw, KEY_NAME)
    if key is None:
        raise _missing_key_error(marker, pw)
    return SQLCipherConnector(key)
