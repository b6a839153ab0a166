"""SecondMe: the one object the desktop app, the CLI and the MCP server use.

    with SecondMe(home) as sm:
        sm.import_paths(["export.zip"], progress=print)
        for r in sm.search("when did I last see Anna"):
            ...

Plain dataclasses in, plain dataclasses out. Every user action is a method; every slow
method takes ``progress=`` and ``cancel=``. Errors a person can act on are raised as
:class:`~secondme.errors.SecondMeError`.

The class is one mixin per area (``ingest.ops``, ``memory.ops``, ``recall.ops``,
``lifecycle.ops``, ``privacy``, ``timeline``), imported statically, so each area's
actions live next to its code; they all share the state set up here.

Thread-safety: methods may be called from any thread. Models load lazily, once, under
a lock, never on import; the store hands each thread its own connection.
"""
from __future__ import annotations

import contextlib
import logging
import os
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional

from . import __version__
from .config import SETTINGS_VERSION, Settings, migrate_settings
from .doctor import run_doctor
from .errors import SecondMeError
from .hooks import Hooks
from .ingest.ops import ImportOps
from .lifecycle.ops import LifecycleOps
from .memory.ops import MemoryOps
from .paths import DB_FILE, MODELS_DIR, VECTOR_DIR, resolve_home
from .privacy.ops import PrivacyOps
from .progress import CancelToken, ProgressFn
from .recall.ops import RecallOps
from .setup_ops import SetupOps
from .store.crypto import connector_for_home
from .store.db import Store
from .store.ops import StoreOps
from .timeline import TimelineOps
from .worker import WorkerOps

log = logging.getLogger(__name__)

class _Core:
    """State shared by every mixin: home, store, settings, models, hooks, clock."""

    def __init__(self, home: str | os.PathLike | None = None, *,
                 embedder: Any = None, llm: Any = None,
                 clock: Callable[[], datetime] | None = None,
                 connector: Any = None,
                 passphrase: str | None = None,
                 background: bool = False):
        """Open (creating if needed) the data directory ``home``.

        ``embedder``/``llm`` replace the default models (tests pass fakes);
        ``clock`` returns the current aware datetime (tests inject one);
        ``connector`` opens database connections (the encrypted store provides one);
        ``passphrase`` unlocks a passphrase-encrypted store (else ``SECONDME_PASSPHRASE``);
        an encrypted data dir whose key is missing or wrong raises EncryptionError before
        the database is touched (see ``secondme.store.crypto.unlock``);
        ``background`` starts the scheduler (the desktop app does; the CLI does not).
        Raises DataDirError / StoreError / EncryptionError.
        """
        self.home: Path = resolve_home(home)
        self.hooks = Hooks()
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self._lock = threading.RLock()
        # held while a model or the vector index loads (seconds; 10-30 s when the
        # embedding model is exported on first use): never needed to save a setting
        # that is not a model's, so the welcome name or a theme change never waits on it.
        # Order: _models before _lock.
        self._models = threading.RLock()
        self._embedder = embedder
        self._embedder_injected = embedder is not None
        self._llm = llm
        self._llm_injected = llm is not None
        self._clock_injected = clock is not None   # (these three: see worker.worker_spec)
        self._vectors = None
        self._opening_vectors = False   # a thread is loading or rebuilding the index
        #: how this process holds the vector index: "searcher" (the app, the MCP server:
        #: loaded once, kept current), "batch" (a command that forms memories: the index
        #: leaves memory while formation runs) or "worker" (the app's worker process:
        #: never loaded; its vectors go to the database, the app's index reads them)
        self.vector_role = "searcher"
        self._store_only = None
        self._scheduler = None
        self._closed = False
        self.store = self._open_store(connector, passphrase)
        self._settings = self._load_settings()
        if background:
            self.start_background()

    # -- lifecycle of the object -----------------------------------------------------
    def _open_store(self, connector: Any, passphrase: str | None = None) -> Store:
        if connector is None:
            # An encrypted data dir is recognised by its marker *before* Store.open, which
            # would otherwise create a new, empty, unencrypted database beside it.
            connector = connector_for_home(self.home, passphrase)
        kw = {"connector": connector} if connector else {}
        return Store.open(self.home / DB_FILE, **kw)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Stop background work, save the index, close the database. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self.stop_background()
        except Exception:
            log.exception("stopping background jobs failed")
        if self._vectors is not None:
            self._vectors.stop_catching_up()   # it reads the store closed below
            if self._vectors.dirty:
                try:
                    self._vectors.save()
                except Exception:
                    log.exception("saving the vector index failed")
        self.store.close()

    # -- settings ----------------------------------------------------------------------
    def _load_settings(self) -> Settings:
        row = self.store.conn.execute(
            "select value, version from settings where key = 'settings'").fetchone()
        if row is None:
            s = Settings()
            self._save_settings(s)
            return s
        import json

        data = migrate_settings(json.loads(row[0]), row[1])
        return Settings.from_dict(data)

    def _save_settings(self, s: Settings) -> None:
        with self.store.write() as db:
            db.execute("insert or replace into settings (key, value, version) "
                       "values ('settings', ?, ?)", [s.to_json(), SETTINGS_VERSION])

    @property
    def settings(self) -> Settings:
        return self._settings

    def update_settings(self, **changes: Any) -> Settings:
        """Validate and persist ``changes``; returns the new settings. Raises InvalidInput."""
        models = any(k.startswith(("llm_", "embedding_")) for k in changes)
        with self._models if models else contextlib.nullcontext(), self._lock:
            new = self._settings.update(**changes)
            self._save_settings(new)
            old, self._settings = self._settings, new
            if any(k.startswith("llm_") for k in changes):
                if not self._llm_injected:
                    self._llm = None  # the next use loads the newly configured model
            if any(k.startswith("embedding_") for k in changes) and \
                    not self._embedder_injected:
                self._embedder = None  # the next use loads the newly chosen one
                if old.embedding_model != new.embedding_model and self._vectors is not None:
                    self._vectors.stop_catching_up()
                    if self._vectors.dirty:
                        self._vectors.save()
                    self._vectors = None  # reopened (rebuilt if needed) for the new model
        self.hooks.emit("settings_did_change", old=old, new=new)
        return new

    # -- models (lazy) -----------------------------------------------------------------
    @property
    def embedder(self):
        """The embedding model, loaded on first use (seconds; never on the GUI thread)."""
        return self.load_embedder()

    def load_embedder(self, progress: Optional[ProgressFn] = None):
        """The embedding model, loaded on first use: ONNX Runtime from the exported
        model (exported into ``<home>/models`` the first time, 10-30 s, with
        ``progress``), else sentence-transformers (``settings.embedding_backend``)."""
        if self._embedder is not None:   # loaded: no need to wait for the lock (held
            return self._embedder        # while the vector index is opened, see above)
        with self._models:
            if self._embedder is None:
                from .models.onnx_backend import load_embedder

                self._embedder = load_embedder(
                    self._settings.embedding_model,
                    backend=self._settings.embedding_backend,
                    models_dir=self.home / MODELS_DIR, progress=progress)
            return self._embedder

    @property
    def embedder_loaded(self) -> bool:
        return self._embedder is not None

    @property
    def vectors(self):
        """The vector index for the current embedder, loaded or rebuilt on first use."""
        return self.open_vectors()

    def open_vectors(self, progress: Optional[ProgressFn] = None,
                     cancel: Optional[CancelToken] = None):
        with self._models:
            if self._vectors is None:
                from .store.vectors import VectorIndex

                emb = self.embedder
                self._opening_vectors = True
                try:
                    self._vectors = VectorIndex.open(self.home / VECTOR_DIR, emb.model_id,
                                                     emb.dim, self.store, progress=progress,
                                                     cancel=cancel)
                finally:
                    self._opening_vectors = False
                if self._vectors.dropped:
                    self._request_reembedding(self._vectors.dropped)
            return self._vectors

    def vectors_to_write(self, progress: Optional[ProgressFn] = None,
                         cancel: Optional[CancelToken] = None):
        """Where new vectors go: the loaded index, or in a worker process (see
        ``vector_role``) a :class:`StoreOnlyIndex`."""
        if self._vectors is None and self.vector_role == "worker":
            return self.store_only_index()
        return self.open_vectors(progress, cancel)

    def store_only_index(self):
        """This service's :class:`StoreOnlyIndex` (one per service: its ``on_add`` and
        counts last)."""
        if self._store_only is None:
            from .store.vectors import StoreOnlyIndex

            emb = self.embedder
            self._store_only = StoreOnlyIndex(emb.model_id, emb.dim)
        return self._store_only

    def release_vectors(self) -> None:
        """Save the loaded vector index and let it leave memory (opened again on next use,
        caught up with what changed meanwhile)."""
        with self._models:
            v, self._vectors = self._vectors, None
        if v is not None:
            v.stop_catching_up()
            if v.dirty:
                v.save()

    def vectors_if_ready(self):
        """The vector index, or None while another thread is still loading or rebuilding
        it (once after an upgrade, at 1M messages, minutes): a search then answers by
        keywords at once instead of waiting for it."""
        v = self._vectors
        if v is None and self._opening_vectors:
            return None
        return v if v is not None else self.open_vectors()

    def _request_reembedding(self, count: int) -> None:
        """After the model changed, ``count`` items have no vector: until the extract job
        embeds them again, search ranks them by keywords only. Ask for that run now — the
        desktop app starts it within seconds; a CLI or MCP process leaves the request for
        the app (``jobs list`` shows it)."""
        log.info("%d items to embed again for %s; extract requested", count,
                 self.embedder.model_id)
        try:
            self.request_job("extract")
        except SecondMeError as e:   # a read-only or locked store: the next run does it
            log.warning("could not request re-embedding: %s", e)

    @property
    def llm(self):
        """The configured LLM, created on first use (the model file loads lazily)."""
        with self._models:
            if self._llm is None:
                from .models.llm import llm_from_settings

                self._llm = llm_from_settings(self._settings, self.home)
            return self._llm

    # -- indexing ----------------------------------------------------------------------
    def index_pending(self, progress: Optional[ProgressFn] = None,
                      cancel: Optional[CancelToken] = None, into=None):
        """Embed everything not yet in the vector index. Returns an IndexReport.
        ``into``: where the vectors go (default :meth:`vectors_to_write`)."""
        from .indexing import index_pending

        embedder = self.load_embedder(progress)
        rep = index_pending(self.store, embedder,
                            into if into is not None else self.vectors_to_write(progress, cancel),
                            progress=progress, cancel=cancel)
        if rep.items:
            self.hooks.emit("index_did_change", items=rep.items)
        return rep

    # -- health ------------------------------------------------------------------------
    def doctor(self) -> dict[str, Any]:
        """A health report: versions, data dir, models, keyring, index, integrity, counts.

        ``ok`` is False (and ``problems`` lists why) when something is broken. Never
        raises for a broken component; it reports it.
        """
        return run_doctor(self.home, self.store, self.settings)


class SecondMe(ImportOps, MemoryOps, RecallOps, LifecycleOps, PrivacyOps, StoreOps,
               TimelineOps, SetupOps, WorkerOps, _Core):
    __doc__ = _Core.__init__.__doc__

__all__ = ["SecondMe", "SecondMeError", "__version__"]
