"""Where the data lives: the data directory and the fixed names inside it.

The data directory comes from platformdirs, overridden by ``--home`` or the
``SECONDME_HOME`` environment variable (tests always point it at a temp dir). Every other
module takes paths from here; nothing else names these files.

Everything the app creates is private to the person: files 0600, folders 0700, set
explicitly (never left to the umask) by the helpers at the end of this module —
:func:`private_dir`, :func:`private_file` (an empty file a library then writes into:
SQLite, ``VACUUM INTO``, hnswlib), :func:`open_private`, :func:`write_private` and
:func:`copy_private`. :func:`wider_than_private` and :func:`make_private` let ``doctor``
report and repair a data directory made by an older version.
"""
from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path
from typing import IO, Iterator

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
        private_dir(path)
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


# -- private files and folders ------------------------------------------------------------
FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: str | os.PathLike) -> Path:
    """Create the folder ``path`` (and missing parents) as 0700 folders; returns it.

    A folder that already exists is left as it is (``doctor`` reports a wider one).
    """
    path = Path(path)
    missing = []
    p = path
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        try:
            os.mkdir(d, DIR_MODE)
        except FileExistsError:  # another process made it meanwhile
            if not d.is_dir():
                raise
            continue
        os.chmod(d, DIR_MODE)  # the umask may have narrowed it; never wider
    return path


def _open_fd(path: Path, flags: int) -> int:
    fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0), FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def private_file(path: str | os.PathLike) -> Path:
    """Make sure ``path`` exists as a 0600 file (empty when new), for a library that
    then writes into it (SQLite keeps the mode for its -wal/-shm files)."""
    path = Path(path)
    os.close(_open_fd(path, os.O_WRONLY | os.O_CREAT))
    return path


def open_private(path: str | os.PathLike, mode: str = "w", *,
                 encoding: str | None = None) -> IO:
    """``open(path, mode)`` for writing (``w``, ``wb``, ``a``, ``ab``), the file 0600."""
    if mode not in ("w", "wb", "a", "ab"):
        raise ValueError(f"open_private writes only; mode {mode!r}")
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode[0] == "a" else os.O_TRUNC)
    fd = _open_fd(Path(path), flags)
    if "b" in mode:
        return os.fdopen(fd, mode)
    return os.fdopen(fd, mode, encoding=encoding or "utf-8")


def write_private(path: str | os.PathLike, data: str | bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file of this process, fsync, rename),
    the file 0600."""
    path = Path(path)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        with open_private(tmp, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise


def copy_private(src: str | os.PathLike, dest: str | os.PathLike) -> None:
    """Copy the file ``src`` to ``dest`` (0600), fsynced."""
    with open(src, "rb") as i, open_private(dest, "wb") as o:
        shutil.copyfileobj(i, o, 1 << 20)
        o.flush()
        os.fsync(o.fileno())


def wider_than_private(home: str | os.PathLike) -> Iterator[tuple[Path, int]]:
    """(path, mode) of ``home`` and every folder and file under it that other users may
    read, write or enter (any group or other permission bit). Links are not followed."""
    for root, _dirs, files in os.walk(home):
        for p in [Path(root), *(Path(root) / f for f in sorted(files))]:
            try:
                st = os.lstat(p)
            except OSError:
                continue
            if not stat.S_ISLNK(st.st_mode) and st.st_mode & 0o077:
                yield p, stat.S_IMODE(st.st_mode)


def make_private(home: str | os.PathLike) -> list[Path]:
    """Set ``home`` and everything under it to 0700 (folders) / 0600 (files); returns
    what was changed. Links are not followed."""
    changed = []
    for p, _mode in list(wider_than_private(home)):
        os.chmod(p, DIR_MODE if p.is_dir() else FILE_MODE)
        changed.append(p)
    return changed
