"""StoreOps: the service's backups — list, take, restore — and the ``backup`` job.

Mixed into :class:`secondme.service.SecondMe`. The work is done by
:mod:`secondme.store.backup`; these methods gather the store, data dir, settings and
clock, and around a restore stop background work, hold the service lock while the
database file is swapped, and announce the change.
"""
from __future__ import annotations

import os
import socket
import time
from typing import Optional

from ..api import BackupInfo
from ..errors import JobError
from ..lifecycle.scheduler import _pid_alive
from ..paths import make_private
from ..progress import CancelToken, ProgressFn
from . import backup
from .db import Store


def jobs_running_elsewhere(store: Store) -> Optional[str]:
    """What another live process (the desktop app, a job) is doing on this store, or None."""
    rows = store.conn.execute("select name, pid, host, expires from job_leases").fetchall()
    for name, pid, host, expires in rows:
        if expires < time.time() or pid == os.getpid():
            continue
        if host == socket.gethostname() and not _pid_alive(pid):
            continue
        if name == "_app":
            return f"the desktop app is open on this data directory (process {pid})"
        return f"the {name!r} job is running in process {pid} on {host}"
    return None


class StoreOps:
    """Snapshots of the database in ``<home>/backups``."""

    def backups_list(self) -> list[BackupInfo]:
        """The snapshots in ``<home>/backups``, newest first."""
        return backup.list_backups(self.home)

    def backup_now(self, progress: Optional[ProgressFn] = None,
                   cancel: Optional[CancelToken] = None) -> BackupInfo:
        """Take a snapshot now (and rotate old ones). Returns its BackupInfo."""
        return backup.take_backup(self.store, self.home, self.settings.backups_keep,
                                  self.clock(), progress=progress, cancel=cancel)

    def run_backup(self, progress: Optional[ProgressFn] = None,
                   cancel: Optional[CancelToken] = None) -> dict:
        """Take a rotating snapshot of the database (the ``backup`` job's work)."""
        return backup.run_backup(self.store, self.home, self.settings.backups_keep,
                                 self.clock(), progress=progress, cancel=cancel)

    def restore_backup(self, name: str) -> dict:
        """Replace the live database with snapshot ``name`` (see :mod:`secondme.store.backup`).

        Returns ``{"restored", "pre_restore"}`` (file names). Raises InvalidInput/NotFound
        (bad name), StoreError (damaged or wrong key), JobError (jobs are running in
        another process: close the desktop app first).
        """
        src = backup.find_backup(self.home, name)
        backup.verify_backup(self.store.connector, src)
        busy = jobs_running_elsewhere(self.store)
        if busy:
            raise JobError(f"cannot restore while {busy}; close the desktop app (or wait for "
                           "the job) first, or restore from the app's own Backups settings")
        was_running = self.background_running
        self.stop_background()
        pre = backup.take_pre_restore(self.store, self.home, self.clock())
        with self._models, self._lock:
            self._vectors = None
            self.store = backup.swap_in_backup(self.store, src, self.home)
            self._settings = self._load_settings()
            self._job_runner = None
        if was_running:
            self.start_background()
        self.hooks.emit("notes_did_change", ids=[], action="restore")
        self.hooks.emit("index_did_change", items=0)
        return {"restored": name, "pre_restore": pre.name}

    def repair_permissions(self) -> list[str]:
        """Make the data directory private again: every folder 0700, every file 0600
        (``secondme doctor --repair``; a store made by an older version was readable by
        other users). Returns the paths changed, relative to the data directory."""
        return [str(p.relative_to(self.home)) if p != self.home else "."
                for p in make_private(self.home)]


__all__ = ["StoreOps"]
