"""Creating a new store, plain or encrypted (the first-run dialog and ``secondme init``)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from ...api import InitReport
from ...errors import InvalidInput
from ...paths import DB_FILE, resolve_home
from ..db import Store
from .keys import KEY_NAME, SCRYPT_N, keyring_delete, new_key
from .marker import MARKER_FILE, is_encrypted


def init_store(home: Path, *, encrypt: bool = False, passphrase: Optional[str] = None,
               use_keyring: Optional[bool] = None, scrypt_n: int = SCRYPT_N) -> InitReport:
    """Create a new store in ``home``.

    With ``encrypt``: a random 32-byte key goes to the OS keyring when one is available
    (``use_keyring`` None/True) and no ``passphrase`` is given; otherwise the key is
    derived from ``passphrase`` (or ``SECONDME_PASSPHRASE``; at least 8 characters) with
    scrypt (see :func:`~secondme.store.crypto.keys.new_key`). The marker is written before
    the database so a crash in between never leaves an unmarked encrypted file. Raises
    InvalidInput when ``home`` already holds a store (never overwrites one),
    EncryptionError when no key source is usable.
    """
    home = resolve_home(home)
    if (home / DB_FILE).exists() or is_encrypted(home):
        raise InvalidInput("this data directory already holds a secondme store; "
                           "nothing was changed", path=home)
    if not encrypt:
        Store.open(home / DB_FILE).close()
        return InitReport(str(home), False)
    connector, marker = new_key(passphrase=passphrase, use_keyring=use_keyring,
                                scrypt_n=scrypt_n)
    marker.write(home)
    try:
        Store.open(home / DB_FILE, connector=connector).close()
    except BaseException:
        # Nothing was stored yet: leave the directory as it was.
        for name in (DB_FILE, DB_FILE + "-wal", DB_FILE + "-shm", MARKER_FILE):
            try:
                (home / name).unlink()
            except FileNotFoundError:
                pass
        if marker.method == "keyring":
            keyring_delete(marker, KEY_NAME)
        raise
    return InitReport(str(home), True, marker.method)
