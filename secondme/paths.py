"""Where the data lives: the data directory and the fixed names inside it.

The data directory comes from platformdirs, overridden by ``--home`` or the
``SECONDME_HOME`` environment variable (tests always point it at a temp dir). Every other
module takes paths from here; nothing else names these files.
"""
from __future__ import annotations

import os
from pathlib import Path

from .errors import DataDirError

APP_NAME = "secondme"
DB_FILE = "secondme.db"          # the SQLite database (SQLCipher when encrypted)
VECTOR_DIR = "vectors"           # the hnswlib index and its metadata
BACKUP_DIR = "backups"           # rotating snapshots of the database
LOG_DIR = "logs"                 # secondme.log (never holds message text)
MODELS_DIR = "models"            # GGUF files the person downloaded
LOG_FILE = "secondme.log"
WORKER_LOG_FILE = "worker.log"   # stderr of worker processes (secondme.worker)


def default_home() -> Path:
    """The data directory: ``$SECONDME_HOME`` if set, else the platform's user data dir."""
    env = os.environ.get("SECONDME_HOME")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def resolve_home(home: str | os.PathLike | None) -> Path:
    """Resolve and create the data directory. Raises DataDirError if it cannot be used."""
    path = Path(home).expanduser() if home else default_home()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataDirError(f"cannot create the data directory: {e.strerror}", path=path) from e
    if not os.access(path, os.W_OK):
        raise DataDirError(
            "the data directory is not writable; choose another with --home or SECONDME_HOME",
            path=path,
        )
    return path.resolve()


def db_path(home: Path) -> Path:
    return Path(home) / DB_FILE


def vector_dir(home: Path) -> Path:
    return Path(home) / VECTOR_DIR


def backup_dir(home: Path) -> Path:
    return Path(home) / BACKUP_DIR


def log_file(home: Path) -> Path:
    return Path(home) / LOG_DIR / LOG_FILE
