"""PrivacyOps: the person owns the data — see, export, delete, forget, wipe, re-key.

Mixed into :class:`secondme.service.SecondMe`. The work is done by the modules of
:mod:`secondme.privacy`; these methods gather what they need from the service (the
store, the data dir, the loaded vector index), take the store offline when its files
are swapped (background jobs stopped, service lock held) and announce the changes.

Thread-safety: like every service method; purges are serialised by the store's write
lock and the service lock.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

from ..api import DumpImportReport, ExportReport, RemovalReport, SourceInfo
from ..config import Settings
from ..errors import JobError, NotFound
from ..progress import CancelToken, ProgressFn
from ..store.crypto import describe
from ..store.db import Store
from ..store.ops import jobs_running_elsewhere
from . import encryption, forget
from .dump import restore_dump
from .export import export_all
from .purge import Removal, purge, remove_store_files


class PrivacyOps:
    """Sources, deletion, forgetting, wipe, export, dump import and key change."""

    # -- sources -------------------------------------------------------------------------------
    def list_sources(self) -> list[SourceInfo]:
        """Every imported source with live counts, newest first."""
        return forget.list_sources(self.store.conn)

    def delete_source(self, source_id: int, progress: Optional[ProgressFn] = None,
                      cancel: Optional[CancelToken] = None) -> RemovalReport:
        """Delete source ``source_id`` and everything derived from it (see
        :mod:`secondme.privacy.purge`). Raises NotFound when there is no such source."""
        removal = forget.source_removal(self.store.conn, source_id)
        return self._purge("delete source", removal, progress, cancel)

    # -- forgetting ------------------------------------------------------------------------------
    def forget_person(self, name: str, *, messages: bool = False,
                      progress: Optional[ProgressFn] = None,
                      cancel: Optional[CancelToken] = None) -> RemovalReport:
        """Forget a person: every note about them, and the person (entity) itself.

        "About them": notes mentioning the entity (by name or alias) and notes whose text
        contains the name. With ``messages``, also the messages they wrote (speaker is the
        name or an alias) and the messages that mention them — and then the notes that
        rested only on those. Raises InvalidInput for an empty name, NotFound when
        nothing matches.
        """
        removal = forget.person_removal(self.store.conn, name, messages=messages)
        return self._purge("forget person", removal, progress, cancel)

    def notes_matching(self, query: str, limit: int = 10_000) -> list[int]:
        """Ids of notes whose text, keywords, tags or context contain every word of ``query``."""
        return forget.notes_matching(self.store.conn, query, limit)

    def forget_topic(self, query: str, progress: Optional[ProgressFn] = None,
                     cancel: Optional[CancelToken] = None) -> RemovalReport:
        """Forget every note matching ``query`` (all its words; see :meth:`notes_matching`).

        The messages and documents stay (delete their source to remove them). Raises
        NotFound when no note matches.
        """
        ids = self.notes_matching(query)
        if not ids:
            raise NotFound(f"no note matches {query!r}")
        return self._purge("forget topic", Removal(note_ids=ids), progress, cancel)

    def _purge(self, action: str, removal: Removal, progress: Optional[ProgressFn],
               cancel: Optional[CancelToken]) -> RemovalReport:
        rep, scrubbed = purge(self.store, self.home, self._vectors, action, removal,
                              progress=progress, cancel=cancel)
        if rep.note_ids:
            self.hooks.emit("notes_did_change", ids=list(rep.note_ids), action="delete")
        if scrubbed:
            self.hooks.emit("index_did_change", items=scrubbed)
        return rep

    # -- wipe --------------------------------------------------------------------------------------
    def wipe(self) -> RemovalReport:
        """Delete everything: the database, its backups, the vector index and logs.

        The data directory is left as a fresh, empty store (still encrypted, with the
        same key, when it was encrypted). Settings go back to their defaults.
        """
        counts = self.store.counts()
        was_running = self.background_running
        self.stop_background()
        with self._models, self._lock:
            connector = self.store.connector
            db_path = Path(self.store.path)
            self._vectors = None
            self.store.close()
            remove_store_files(self.home, db_path)
            self.store = Store.open(db_path, connector=connector)
            self._job_runner = None
            old, self._settings = self._settings, Settings()
            self._save_settings(self._settings)
        if was_running:
            self.start_background()
        self.hooks.emit("notes_did_change", ids=[], action="wipe")
        self.hooks.emit("index_did_change", items=0)
        self.hooks.emit("settings_did_change", old=old, new=self._settings)
        return RemovalReport("wipe", sources=counts["sources"],
                             conversations=counts["conversations"], messages=counts["messages"],
                             documents=counts["documents"], chunks=counts["chunks"],
                             notes=counts["notes"], entities=counts["entities"])

    # -- export ------------------------------------------------------------------------------------
    def export_all(self, directory: str | os.PathLike, *, overwrite: bool = False,
                   progress: Optional[ProgressFn] = None,
                   cancel: Optional[CancelToken] = None) -> ExportReport:
        """Export everything to ``directory``: a Markdown vault plus a lossless JSON dump.

        The vault has one file per note under ``notes/`` (YAML front matter with dates,
        tags and sources — message external ids, conversation, timestamp, speaker, or
        document and page — and ``[[links]]`` to other notes by file name) and an
        ``index.md``. ``secondme-dump.json`` holds every table needed to restore (see
        :meth:`import_dump`). The export is NOT encrypted. Raises InvalidInput when the
        directory is inside the data dir or not empty (unless ``overwrite``).
        """
        return export_all(self.store, self.home, directory, overwrite=overwrite,
                          progress=progress, cancel=cancel)

    def import_dump(self, path: str | os.PathLike, *, index: bool = True,
                    progress: Optional[ProgressFn] = None,
                    cancel: Optional[CancelToken] = None) -> DumpImportReport:
        """Restore a ``secondme-dump.json`` into this (empty) store.

        Ids are kept, so every reference (note sources, links, mentions) stays intact;
        FTS rows are rebuilt by the triggers; with ``index`` the vectors are recomputed.
        Raises InvalidInput when the store is not empty, ImportFormatError when the file
        is not a dump, StoreError when it was made by a newer secondme.
        """
        tables = restore_dump(self.store, Path(path), progress=progress, cancel=cancel)
        with self._models, self._lock:
            self._settings = self._load_settings()
            if self._vectors is not None:
                self._vectors.stop_catching_up()
            self._vectors = None
        rep = DumpImportReport(tables)
        if index:
            rep.indexed = self.index_pending(progress=progress, cancel=cancel).items
        self.hooks.emit("notes_did_change", ids=[], action="import-dump")
        return rep

    # -- keys ------------------------------------------------------------------------------
    def encryption_status(self) -> dict[str, Any]:
        """Whether this store is encrypted and how the key is kept (for the Settings pane)."""
        return describe(self.home)

    def change_key(self, *, passphrase: Optional[str] = None,
                   use_keyring: Optional[bool] = None,
                   scrypt_n: Optional[int] = None) -> dict[str, Any]:
        """Re-encrypt the store (database, backups, vector index) with a new key.

        With ``passphrase``: the new key is derived from it (the store becomes a
        passphrase store). Otherwise a new random key goes to the OS keyring. Crash-safe
        (see :mod:`secondme.store.crypto.rekey`). Raises InvalidInput when the store is not
        encrypted (use :meth:`encrypt_store`), EncryptionError when the new key cannot be
        kept.
        """
        busy = jobs_running_elsewhere(self.store)
        if busy:
            raise JobError(f"cannot change the key while {busy}; close it first")
        change = encryption.plan_key_change(self.home, self.store, passphrase=passphrase,
                                            use_keyring=use_keyring, scrypt_n=scrypt_n)
        was_running = self.background_running
        self.stop_background()
        with self._models, self._lock:
            blob = encryption.read_index_plain(self.home, self._vectors, self.store.connector)
            self._vectors = None
            self.store, files = encryption.rekey_store(self.home, self.store, change, blob)
            self._job_runner = None
        if was_running:
            self.start_background()
        return {"method": change.method, "files": files}

    def encrypt_store(self, *, passphrase: Optional[str] = None,
                      use_keyring: Optional[bool] = None,
                      scrypt_n: Optional[int] = None) -> dict[str, Any]:
        """Encrypt an existing plain store in place (the Settings pane's "Encrypt" button).

        Copies the database into a new SQLCipher file (``sqlcipher_export``), encrypts
        the backups and the vector index the same way, writes the marker, then swaps the
        files. Raises InvalidInput when it is already encrypted.
        """
        busy = jobs_running_elsewhere(self.store)
        if busy:
            raise JobError(f"cannot encrypt the store while {busy}; close it first")
        change = encryption.plan_encryption(self.home, passphrase=passphrase,
                                            use_keyring=use_keyring, scrypt_n=scrypt_n)
        was_running = self.background_running
        self.stop_background()
        with self._models, self._lock:
            blob = encryption.read_index_plain(self.home, self._vectors, self.store.connector)
            self._vectors = None
            self.store, files = encryption.encrypt_files(self.home, self.store, change, blob)
            self._job_runner = None
        if was_running:
            self.start_background()
        return {"method": change.method, "files": files}


__all__ = ["PrivacyOps"]
