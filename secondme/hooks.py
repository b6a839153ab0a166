"""A tiny publish/subscribe so front ends learn what changed (Anki-style hooks).

Hook names are ``subject_did_verb``: ``notes_did_change``, ``import_did_finish``,
``job_did_progress``, ``job_did_finish``, ``settings_did_change``, ``index_did_change``.
Callbacks run on the thread that emitted; a UI must hop to its own thread. A failing
callback is logged and never breaks the core.
"""
from __future__ import annotations

import logging
import threading
from collections import defaultdict
from typing import Any, Callable

log = logging.getLogger(__name__)


class Hooks:
    def __init__(self) -> None:
        self._subs: dict[str, list[Callable[..., Any]]] = defaultdict(list)
        self._lock = threading.Lock()

    def connect(self, name: str, fn: Callable[..., Any]) -> Callable[[], None]:
        """Subscribe ``fn`` to ``name``; returns a function that unsubscribes it."""
        with self._lock:
            self._subs[name].append(fn)

        def disconnect() -> None:
            with self._lock:
                if fn in self._subs[name]:
                    self._subs[name].remove(fn)

        return disconnect

    def emit(self, name: str, /, **payload: Any) -> None:
        with self._lock:
            subs = list(self._subs.get(name, ()))
        for fn in subs:
            try:
                fn(**payload)
            except Exception:  # a broken listener must not break the core
                log.exception("hook %s listener failed", name)
