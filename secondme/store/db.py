"""The SQLite store: one file, WAL mode, thread-local connections, named migrations.

Usage::

    store = Store.open(home / "secondme.db")
    with store.write() as db:          # one short transaction (nested → savepoint)
        db["notes"].insert({...})
    rows = store.db.query("select ...")

Thread-safety: every thread gets its own connection (``store.db``), so the GUI, the
scheduler and import workers read concurrently under WAL. Writes inside this process
are serialised by a lock and start with ``BEGIN IMMEDIATE`` so they never fail half way
on a lock upgrade; other processes (the MCP server, the CLI while the app runs) wait up
to ``busy_timeout``.

Always write through :meth:`Store.write`; never leave a transaction open.
"""
from __future__ import annotations

import contextlib
import sqlite3
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Protocol

import sqlite_utils

from ..errors import DataDirError, StoreError
from ..paths import private_file
from . import migrations

BUSY_TIMEOUT_MS = 30_000


class Connector(Protocol):
    """Opens a connection to a database file; says whether and how files are encrypted.

    :class:`PlainConnector` is the default; an encrypted store uses
    :class:`secondme.store.crypto.SQLCipherConnector`, whose ``file_cipher`` also seals
    the files kept beside the database (the vector index).
    """

    encrypted: bool
    file_cipher: Any  # a FileCipher, or None for a plain store

    def __call__(self, path: str) -> sqlite3.Connection: ...


class PlainConnector:
    """Opens plain (unencrypted) SQLite connections."""

    encrypted = False
    file_cipher = None

    def __call__(self, path: str) -> sqlite3.Connection:
        return sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)

    def __repr__(self) -> str:
        return "PlainConnector()"


plain_connect = PlainConnector()


def utcnow() -> str:
    """Now as an ISO 8601 string in UTC with offset (the format every *_at column uses)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# SQLite rolled back the one transaction that failed; what earlier transactions saved is
# kept (an import commits each conversation), so the messages say exactly that
_STORAGE_PROBLEMS = (
    ("is full", "the disk is full: the change in progress was not saved (everything saved "
                "before it is kept); free some space and try again"),
    ("readonly", "the data directory is read-only: the change in progress was not saved; "
                 "make it writable or choose another with --home"),
    ("read-only", "the data directory is read-only: the change in progress was not saved; "
                  "make it writable or choose another with --home"),
    ("disk i/o error", "the disk reported an error while writing: the change in progress "
                       "was not saved (everything saved before it is kept); check the disk "
                       "and try again"),
    ("unable to open database file", "the database file cannot be opened for writing "
                                     "(read-only or missing data directory)"),
)


def storage_error(e: sqlite3.Error, path: Path) -> Optional[Exception]:
    """A clear DataDirError for a disk-full / read-only / I/O failure, else None.

    The failed transaction was rolled back by SQLite; earlier ones stay committed.
    """
    msg = str(e).lower()
    for needle, text in _STORAGE_PROBLEMS:
        if needle in msg:
            return DataDirError(text, path=path)
    return None


def is_corruption(e: BaseException) -> bool:
    """True for SQLite's "the file is damaged" errors (malformed image, not a database)."""
    msg = str(e).lower()
    return isinstance(e, sqlite3.DatabaseError) and (
        "malformed" in msg or "not a database" in msg or "corrupt" in msg)


class _ThreadConnection:
    """One thread's connection, held in the store's thread-local: when the thread ends
    its thread-local goes, and this closes the connection."""

    __slots__ = ("store", "db", "__weakref__")

    def __init__(self, store: "Store", conn: sqlite3.Connection):
        self.store = store
        self.db = sqlite_utils.Database(conn)

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.store._release(self.db.conn)


class Store:
    """A secondme database file. Create with :meth:`open`."""

    def __init__(self, path: Path, connector: Connector = plain_connect):
        self.path = Path(path)
        self._connector = connector
        # An encrypted store's connector carries the cipher for files kept beside the
        # database (the vector index); None for a plain store.
        self.file_cipher = connector.file_cipher
        self.encrypted = bool(connector.encrypted)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._write_lock = threading.RLock()
        self.closed = False

    # -- opening -----------------------------------------------------------------
    @classmethod
    def open(cls, path: Path | str, *, connector: Connector = plain_connect,
             migrate: bool = True) -> "Store":
        """Open (creating if needed) the database at ``path`` and bring its schema up to date.

        Raises StoreError if the file is not a database, is damaged, or was written by a
        newer secondme.
        """
        store = cls(Path(path), connector)
        try:
            if not store.path.exists():
                # 0600 before SQLite writes a byte; its -wal/-shm files copy the mode
                private_file(store.path)
        except OSError as e:
            raise DataDirError(f"cannot create the database file: {e.strerror}",
                               path=path) from e
        try:
            store.db.execute("select count(*) from sqlite_master").fetchone()
        except sqlite3.DatabaseError as e:
            store.close()
            raise StoreError(
                f"this file is not a usable secondme database ({e}); restore the latest "
                "backup with `secondme recover` (the damaged file is kept), or move it away",
                path=path,
            ) from e
        if migrate:
            try:
                store.migrate()
            except sqlite3.DatabaseError as e:
                store.close()
                if not is_corruption(e):
                    raise
                raise StoreError(
                    f"the database is damaged ({e}); restore the latest backup with "
                    "`secondme recover` (the damaged file is kept)", path=path) from e
        return store

    @property
    def connector(self) -> Connector:
        """What opens this store's connections (with its key, when encrypted)."""
        return self._connector

    def connect_file(self, path: Path | str) -> sqlite3.Connection:
        """A raw connection to *another* database file opened like this store's own.

        Use it for backups and restores (``store.conn.backup(store.connect_file(dest))``):
        on an encrypted store the other file gets the same key, so a backup stays
        encrypted; the sqlite backup API cannot copy between plain and encrypted files.
        The caller closes it.
        """
        return self._connector(str(path))

    def _connect(self) -> sqlite3.Connection:
        if self.closed:
            raise StoreError("the store is closed")
        try:
            conn = self._connector(str(self.path))
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() not in ("wal", "memory"):
                raise StoreError(f"cannot switch the database to WAL mode (got {mode})",
                                 path=self.path)
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA temp_store = MEMORY")
        except sqlite3.OperationalError as e:
            raise (storage_error(e, self.path)
                   or StoreError(f"cannot open the database: {e}", path=self.path)) from e
        with self._all_lock:
            self._all.append(conn)
        return conn

    @property
    def db(self) -> sqlite_utils.Database:
        """This thread's sqlite-utils Database (closed when the thread ends)."""
        held = getattr(self._local, "held", None)
        if held is None:
            held = _ThreadConnection(self, self._connect())
            self._local.held = held
        return held.db

    def _release(self, conn: sqlite3.Connection) -> None:
        """A thread that had a connection ended: close it. Every short-lived thread
        (a catch-up of the vector index after a search, a job) used to keep its
        connection and its page cache until the store closed — at 1M messages, while
        memories formed, the app grew by ~36 MB a minute."""
        with self._all_lock:
            try:
                self._all.remove(conn)
            except ValueError:
                return       # closed with the store already
        with contextlib.suppress(Exception):
            conn.close()

    @property
    def conn(self) -> sqlite3.Connection:
        """This thread's raw connection (for hot paths)."""
        return self.db.conn

    def close(self) -> None:
        """Close every connection of every thread. Safe to call twice."""
        with self._all_lock:
            conns, self._all = self._all, []
        for c in conns:
            with contextlib.suppress(Exception):
                c.close()
        self.closed = True

    # -- transactions --------------------------------------------------------------
    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite_utils.Database]:
        """A write transaction; nested calls become savepoints. Rolls back on error."""
        db = self.db
        if db.conn.in_transaction:
            with db.atomic():
                yield db
            return
        with self._write_lock:
            try:
                try:
                    db.conn.execute("BEGIN IMMEDIATE")
                except sqlite3.OperationalError as e:
                    err = storage_error(e, self.path)
                    if err is None:
                        raise
                    raise err from e
                # one try from BEGIN on: a signal's KeyboardInterrupt raised the moment
                # BEGIN returns (the handler runs between bytecodes) must roll back too,
                # or the transaction stays open and every later write on this thread
                # becomes a savepoint inside it that is never committed
                yield db
            except BaseException as e:
                if db.conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        db.rollback()
                if isinstance(e, sqlite3.OperationalError):
                    err = storage_error(e, self.path)
                    if err is not None:
                        raise err from e
                raise
            else:
                try:
                    db.conn.execute("COMMIT")
                except sqlite3.OperationalError as e:
                    with contextlib.suppress(sqlite3.Error):
                        db.rollback()
                    err = storage_error(e, self.path)
                    if err is None:
                        raise
                    raise err from e

    # -- migrations ----------------------------------------------------------------
    def applied_migrations(self) -> list[str]:
        db = self.db
        if "migrations" not in db.table_names():
            return []
        return [r[0] for r in db.execute("select name from migrations order by name")]

    def migrate(self, progress: Optional[Callable[[str], None]] = None) -> list[str]:
        """Apply every migration of :data:`~secondme.store.migrations.MIGRATIONS` not yet
        applied, in list order.

        Each runs in its own transaction with its record. Raises StoreError if the
        database has migrations this version does not know (written by a newer app).
        """
        with self.write() as db:
            db.execute("create table if not exists migrations "
                       "(name text primary key, applied_at text not null)")
        applied = set(self.applied_migrations())
        unknown = applied - {name for name, _ in migrations.MIGRATIONS}
        if unknown:
            raise StoreError(
                "this database was written by a newer secondme (unknown migrations: "
                + ", ".join(sorted(unknown)) + "); upgrade secondme to open it",
                path=self.path,
            )
        done = []
        for name, migration in migrations.MIGRATIONS:
            if name in applied:
                continue
            if progress:
                progress(name)
            with self.write() as db:
                migration(db.conn)
                db.execute("insert into migrations (name, applied_at) values (?, ?)",
                           [name, utcnow()])
            done.append(name)
        return done

    # -- small helpers ---------------------------------------------------------------
    def integrity_check(self) -> str:
        """``"ok"`` or the problems ``PRAGMA integrity_check`` found, one per line."""
        rows = [r[0] for r in self.conn.execute("PRAGMA integrity_check")]
        return "ok" if rows == ["ok"] else "\n".join(rows)

    def counts(self) -> dict[str, int]:
        """Row counts of the tables a person cares about."""
        out = {}
        for table in ("conversations", "messages", "documents", "chunks", "notes", "links",
                      "entities", "sources"):
            out[table] = self.conn.execute(f"select count(*) from {table}").fetchone()[0]
        return out
