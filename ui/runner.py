"""The one background-op runner of the desktop app (Anki's CollectionOp, Orange's task state).

Every slow call into the service goes through :class:`OpRunner`::

    runner.run(lambda progress, cancel: sm.import_paths(paths, progress=progress, cancel=cancel),
               key="import", serial=True,
               on_success=self.show_report, on_progress=self.show_progress)

- the function runs on a worker thread; ``serial=True`` ops (database writes) share one
  worker so they never race each other, reads use a small pool;
- progress reports are throttled to at most 10 per second (the last one always passes);
- the result, an error, and progress are delivered on the GUI thread;
- a newer op with the same ``key`` cancels the older one, whose result is then dropped;
- a :class:`~secondme.errors.SecondMeError` goes to ``on_error`` or, by default, to the
  window's error banner; :class:`~secondme.errors.Cancelled` is not an error; anything
  else is a bug: its traceback is written to the log file and the banner says
  "Internal error ... (details in <log path>)". Nothing is swallowed.

The worker function is a plain function of ``(progress, cancel)``, so it can be tested
without an event loop.
"""
from __future__ import annotations

import logging
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Optional

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

from secondme.errors import Cancelled, SecondMeError
from secondme.progress import CancelToken, Progress

log = logging.getLogger(__name__)

PROGRESS_INTERVAL = 0.1  # seconds: at most 10 progress reports a second reach the GUI


class OpHandle(QObject):
    """One running op. ``cancel()`` may be called from the GUI thread at any time."""

    _progressed = Signal(object)
    _finished = Signal(object, object)  # (result, error) — exactly one is meaningful

    def __init__(self, key: Optional[str], parent: QObject | None = None):
        super().__init__(parent)
        self.key = key
        self.token = CancelToken()
        self.done = False
        self.superseded = False
        self._last_progress = 0.0
        self._pending: Optional[Progress] = None
        self._lock = threading.Lock()

    def cancel(self) -> None:
        self.token.cancel()

    @property
    def cancelled(self) -> bool:
        return self.token.cancelled

    # called on the worker thread
    def _progress(self, p: Progress) -> None:
        now = time.monotonic()
        final = p.total is not None and p.done >= p.total
        with self._lock:
            if not final and now - self._last_progress < PROGRESS_INTERVAL:
                self._pending = p  # keep the latest; it is sent with the result
                return
            self._last_progress = now
            self._pending = None
        self._progressed.emit(p)


class _Job(QRunnable):
    def __init__(self, fn: Callable[..., Any], handle: OpHandle):
        super().__init__()
        self.setAutoDelete(True)
        self.fn = fn
        self.handle = handle

    def run(self) -> None:  # worker thread
        h = self.handle
        result: Any = None
        error: Optional[BaseException] = None
        try:
            h.token.raise_if_cancelled()
            result = self.fn(h._progress, h.token)
        except BaseException as e:  # delivered to the GUI thread, never swallowed
            error = e
            if not isinstance(e, SecondMeError):
                e.__ui_traceback__ = traceback.format_exc()  # type: ignore[attr-defined]
        h._finished.emit(result, error)


class OpRunner(QObject):
    """Runs service calls off the GUI thread. One per window.

    Signals: ``error_shown(str)`` — a message for the window's banner;
    ``busy_changed(int)`` — how many ops are running (for a status bar spinner).
    """

    error_shown = Signal(str)
    busy_changed = Signal(int)

    def __init__(self, parent: QObject | None = None, *, log_path: Optional[Path] = None,
                 readers: int = 2):
        super().__init__(parent)
        self.log_path = log_path
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(max(1, readers))
        self._serial = QThreadPool(self)
        self._serial.setMaxThreadCount(1)
        self._by_key: dict[str, OpHandle] = {}
        #: (seconds, op key) of the longest result delivery on the GUI thread (diagnostics)
        self.slowest_delivery: tuple[float, str] = (0.0, "")
        self._running: set[OpHandle] = set()

    # -- public ------------------------------------------------------------------------
    def run(self, fn: Callable[[Callable[[Progress], None], CancelToken], Any], *,
            key: Optional[str] = None, serial: bool = False,
            on_success: Optional[Callable[[Any], None]] = None,
            on_error: Optional[Callable[[BaseException], None]] = None,
            on_progress: Optional[Callable[[Progress], None]] = None,
            on_cancelled: Optional[Callable[[], None]] = None,
            on_done: Optional[Callable[[], None]] = None) -> OpHandle:
        """Run ``fn(progress, cancel)`` in the background; see the module docstring.

        ``on_error`` receives SecondMeErrors only (return True from it to also show the
        banner); internal errors always go to the banner. ``on_done`` runs after any
        outcome (success, error or cancel), also when the op was superseded.
        """
        if key is not None:
            old = self._by_key.get(key)
            if old is not None and not old.done:
                old.superseded = True
                old.cancel()
        h = OpHandle(key, self)
        if on_progress is not None:
            h._progressed.connect(lambda p, h=h: (not h.superseded) and on_progress(p))

        def finished(result: Any, error: Optional[BaseException], h=h) -> None:
            t0 = time.perf_counter()
            try:
                deliver(result, error, h)
            finally:
                took = time.perf_counter() - t0
                if took > self.slowest_delivery[0]:
                    self.slowest_delivery = (took, key or getattr(fn, "__name__", "?"))

        def deliver(result: Any, error: Optional[BaseException], h: OpHandle) -> None:
            h.done = True
            self._running.discard(h)
            if key is not None and self._by_key.get(key) is h:
                del self._by_key[key]
            self.busy_changed.emit(len(self._running))
            try:
                if h._pending is not None and on_progress is not None and not h.superseded:
                    on_progress(h._pending)
                if h.superseded:
                    pass  # a newer op of the same key owns the screen now
                elif isinstance(error, Cancelled) or (error is None and h.cancelled
                                                      and result is None):
                    if on_cancelled:
                        on_cancelled()
                elif isinstance(error, SecondMeError):
                    show = True
                    if on_error is not None:
                        show = bool(on_error(error))
                    if show:
                        self.error_shown.emit(str(error))
                elif error is not None:
                    self.report_internal_error(error)
                    if on_error is not None:
                        on_error(error)
                elif on_success is not None:
                    on_success(result)
            except Exception as e:  # a bug in a GUI callback: report, do not crash
                e.__ui_traceback__ = traceback.format_exc()  # type: ignore[attr-defined]
                self.report_internal_error(e)
            finally:
                if on_done is not None:
                    try:
                        on_done()
                    except Exception as e:
                        e.__ui_traceback__ = traceback.format_exc()  # type: ignore[attr-defined]
                        self.report_internal_error(e)
                h.deleteLater()

        h._finished.connect(finished)
        if key is not None:
            self._by_key[key] = h
        self._running.add(h)
        self.busy_changed.emit(len(self._running))
        (self._serial if serial else self._pool).start(_Job(fn, h))
        return h

    def running(self, key: str) -> Optional[OpHandle]:
        h = self._by_key.get(key)
        return h if h is not None and not h.done else None

    def cancel(self, key: str) -> None:
        h = self._by_key.get(key)
        if h is not None:
            h.cancel()

    @property
    def busy(self) -> int:
        return len(self._running)

    def report_internal_error(self, error: BaseException) -> str:
        """Log the traceback to the log file and show "Internal error" in the banner."""
        tb = getattr(error, "__ui_traceback__", None) or "".join(
            traceback.format_exception(type(error), error, error.__traceback__))
        where = ""
        if self.log_path is not None:
            try:
                self.log_path.parent.mkdir(parents=True, exist_ok=True)
                with open(self.log_path, "a", encoding="utf-8") as f:
                    f.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} internal error\n{tb}\n")
                where = f" (details in {self.log_path})"
            except OSError:
                pass
        log.error("internal error in a background op:\n%s", tb)
        msg = f"Internal error: {type(error).__name__}: {error}{where}"
        self.error_shown.emit(msg)
        return msg

    def shutdown(self, timeout_ms: int = 3000) -> bool:
        """Cancel everything and wait for the workers (on window close)."""
        for h in list(self._running):
            h.cancel()
        a = self._pool.waitForDone(timeout_ms)
        b = self._serial.waitForDone(timeout_ms)
        return a and b

    @Slot()
    def wait_idle(self, timeout_ms: int = 10000) -> bool:
        """Block until the worker threads are idle (tests)."""
        return self._pool.waitForDone(timeout_ms) and self._serial.waitForDone(timeout_ms)
