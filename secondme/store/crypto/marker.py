"""The marker ``encryption.json``: that a data directory is encrypted, and how to get its key.

It holds no secret: the ``method`` (``keyring`` or ``passphrase``), a random ``store_id``
(the keyring account is named after it, so moving the directory keeps working), the KDF
parameters and salt for a passphrase, ``key_check`` (see
:func:`~secondme.store.crypto.ciphers.key_check`) and, while a key change is in progress,
the ``pending`` new key's method, KDF and check value.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

from ...errors import DataDirError, EncryptionError
from ...paths import write_private

MARKER_FILE = "encryption.json"


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
        try:
            write_private(path, json.dumps(asdict(self), indent=2, sort_keys=True))
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

    @property
    def needs_passphrase(self) -> bool:
        """True when the current or the pending key comes from a passphrase."""
        return self.method == "passphrase" or (self.pending or {}).get("method") == "passphrase"


def is_encrypted(home: Path) -> bool:
    """True when ``home`` holds an encrypted store (its marker exists)."""
    return (Path(home) / MARKER_FILE).exists()


def describe(home: Path) -> dict[str, Any]:
    """For ``doctor`` and the Settings pane: whether and how ``home`` is encrypted."""
    marker = EncryptionMarker.read(Path(home))
    if marker is None:
        return {"encrypted": False}
    return {"encrypted": True, "method": marker.method, "cipher": marker.cipher,
            "key_change_pending": marker.pending is not None,
            "kdf": (marker.kdf or {}).get("name")}
