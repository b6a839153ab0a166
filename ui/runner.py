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
  "Something went wrong inside secondme — a bug …; the technical details are in <log
  path>" (never the exception's name or its SQL). Nothing is swallowed.

What a worker holds (issue 19): the op's function, its plain-Python :class:`OpHandle`
(cancel token, progress throttle) and the runner's long-lived signal relay — no pane, no
widget, no per-op Qt object. The GUI keeps its own reference to the function until the
result is delivered and the worker lets go of it *before* it reports, so the last
reference to anything a pane's lambda captured is always dropped on the GUI thread.
Tracebacks are rendered to text on the worker and detached from the exception, so an
error does not carry the worker's frames (and the panes they point at) across. Cyclic
garbage is collected on the GUI thread only (``gc_policy.py``).

The worker function is a plain function of ``(progress, cancel)``, so it can be tested
without an event loop.

**Worker processes** (issue 14): :meth:`OpRunner.run_in_process` runs an import or a job
(memory formation) in a separate Python process through the service
(``SecondMe.run_in_worker_process``, :mod:`secondme.worker`), with the same
:class:`OpHandle` contract: progress throttled to the GUI thread, ``cancel()`` stops the
child at its next unit of work (SIGTERM with a graceful handler, a kill only after a
grace period), a SecondMeError raised in the child reaches ``on_error``/the banner with
the same one-line message, a bug's traceback from the child goes to the log. A pool
thread of the runner only waits for the child (the waiting holds no GIL), so the GUI
thread never waits for an import's parsing or formation's regexes, SQL and model calls.
What that thread holds is plain data: the service, the op's name and its plain
arguments (no pane, no lambda of a pane). The child is started with spawn semantics (a
fresh interpreter that never imports Qt), never by forking this process.
"""
from __future__ import annotations

import functools
import itertools
import logging
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

from secondme.api import open_private, private_dir
from secondme.errors import Cancelled, NotFound, SecondMeError
from secondme.progress import CancelToken, Progress

log = logging.getLogger(__name__)

PROGRESS_INTERVAL = 0.1  # seconds: at most 10 progress reports a second reach the GUI


class OpHandle:
    """One running op: plain Python, safe to hold on any thread.

    ``cancel()`` may be called from the GUI thread at any time; ``done`` turns True on
    the GUI thread when the outcome has been delivered.
    """

    def __init__(self, op_id: int, key: Optional[str]):
        self.op_id = op_id
        self.key = key
        self.token = CancelToken()
        self.done = False
        self.superseded = False
        self._last_progress = 0.0
        self._pending: Optional[Progress] = None
        self._lock = threading.Lock()
        self._emit: Optional[Callable[[int, object], None]] = None

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
        emit = self._emit
        if emit is not None:
            emit(self.op_id, p)


class _Relay(QObject):
    """The runner's signals from workers; lives (and is deleted) on the GUI thread."""

    progressed = Signal(int, object)          # (op id, Progress)
    finished = Signal(int, object, object)    # (op id, result, error)


def _detach(error: BaseException) -> BaseException:
    """Render ``error``'s traceback to text and drop its frames (they pin the caller's
    locals, panes included, to the exception object)."""
    if not isinstance(error, SecondMeError) and \
            getattr(error, "__ui_traceback__", None) is None:   # a worker process's is kept
        error.__ui_traceback__ = traceback.format_exc()  # type: ignore[attr-defined]
    seen: set[int] = set()
    e: Optional[BaseException] = error
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        e.__traceback__ = None
        e = e.__cause__ or e.__context__
    return error


def run_op(box: list, handle: OpHandle,
           finished: Callable[[int, object, object], None]) -> None:
    """Run the op in ``box`` (a one-item list) on the calling worker thread and report.

    The function is taken out of ``box`` and dropped before ``finished`` is called, so
    the GUI — which keeps its own reference until delivery — always holds the last one.
    """
    fn = box.pop()
    result: Any = None
    error: Optional[BaseException] = None
    try:
        handle.token.raise_if_cancelled()
        result = fn(handle._progress, handle.token)
    except BaseException as e:  # delivered to the GUI thread, never swallowed
        error = _detach(e)
    del fn
    finished(handle.op_id, result, error)


def _process_op(sm: Any, op: str, args: dict, progress: Callable[[Progress], None],
                cancel: CancelToken) -> Any:
    """What a pool thread runs for :meth:`OpRunner.run_in_process`: plain data only."""
    return sm.run_in_worker_process(op, progress=progress, cancel=cancel, **args)


class _Job(QRunnable):
    """What the thread pool runs: plain references only (see the module docstring)."""

    def __init__(self, fn: Callable[..., Any], handle: OpHandle,
                 finished: Callable[[int, object, object], None]):
        super().__init__()
        self.setAutoDelete(True)
        self._box: Optional[list] = [fn]
        self._handle = handle
        self._finished = finished

    def run(self) -> None:  # worker thread
        box, self._box = self._box, None
        if box:
            run_op(box, self._handle, self._finished)


@dataclass
class _Op:
    """GUI-side record of a running op (owned and released on the GUI thread)."""

    handle: OpHandle
    fn: Callable[..., Any]
    on_success: Optional[Callable[[Any], None]] = None
    on_error: Optional[Callable[[BaseException], Optional[bool]]] = None
    on_progress: Optional[Callable[[Progress], None]] = None
    on_cancelled: Optional[Callable[[], None]] = None
    on_done: Optional[Callable[[], None]] = None
    name: str = field(default="?")


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
        # threads that wait for worker processes (an import and a formation may overlap;
        # the database serialises their writes, so they need not queue behind the serial
        # worker, and the serial worker stays free for the person's edits meanwhile)
        self._procs = QThreadPool(self)
        self._procs.setMaxThreadCount(2)
        self._relay = _Relay(self)
        self._relay.progressed.connect(self._on_progress)
        self._relay.finished.connect(self._on_finished)
        self._ids = itertools.count(1)
        self._ops: dict[int, _Op] = {}
        self._by_key: dict[str, OpHandle] = {}
        #: (seconds, op key) of the longest result delivery on the GUI thread (diagnostics)
        self.slowest_delivery: tuple[float, str] = (0.0, "")

    # -- public ------------------------------------------------------------------------
    def run(self, fn: Callable[[Callable[[Progress], None], CancelToken], Any], *,
            key: Optional[str] = None, serial: bool = False,
            on_success: Optional[Callable[[Any], None]] = None,
            on_error: Optional[Callable[[BaseException], Any]] = None,
            on_progress: Optional[Callable[[Progress], None]] = None,
            on_cancelled: Optional[Callable[[], None]] = None,
            on_done: Optional[Callable[[], None]] = None,
            _process: bool = False) -> OpHandle:
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
        h = OpHandle(next(self._ids), key)
        if on_progress is not None:
            h._emit = self._relay.progressed.emit
        self._ops[h.op_id] = _Op(h, fn, on_success, on_error, on_progress, on_cancelled,
                                 on_done, key or getattr(fn, "__name__", "?"))
        if key is not None:
            self._by_key[key] = h
        self.busy_changed.emit(len(self._ops))
        pool = self._procs if _process else (self._serial if serial else self._pool)
        pool.start(_Job(fn, h, self._relay.finished.emit))
        return h

    def run_in_process(self, sm: Any, op: str, args: Optional[dict] = None, *,
                       key: Optional[str] = None,
                       on_success: Optional[Callable[[Any], None]] = None,
                       on_error: Optional[Callable[[BaseException], Any]] = None,
                       on_progress: Optional[Callable[[Progress], None]] = None,
                       on_cancelled: Optional[Callable[[], None]] = None,
                       on_done: Optional[Callable[[], None]] = None) -> OpHandle:
        """Run the service's ``op`` (``"import_paths"`` or ``"run_job"``) with the plain
        ``args`` in a worker process; callbacks and the handle as for :meth:`run`.

        ``sm.run_in_worker_process`` does the work (see :mod:`secondme.worker`); a service
        that cannot be reopened in another process (a test's injected LLM or clock) runs
        the op on this runner's thread instead.
        """
        fn = functools.partial(_process_op, sm, op, dict(args or {}))
        fn.__name__ = op  # type: ignore[attr-defined]  # names the op in diagnostics
        return self.run(fn, key=key, on_success=on_success, on_error=on_error,
                        on_progress=on_progress, on_cancelled=on_cancelled,
                        on_done=on_done, _process=True)

    def running(self, key: str) -> Optional[OpHandle]:
        h = self._by_key.get(key)
        return h if h is not None and not h.done else None

    def cancel(self, key: str) -> None:
        h = self._by_key.get(key)
        if h is not None:
            h.cancel()

    @property
    def busy(self) -> int:
        return len(self._ops)

    # -- delivery on the GUI thread ------------------------------------------------------
    @Slot(int, object)
    def _on_progress(self, op_id: int, p: Progress) -> None:
        op = self._ops.get(op_id)
        if op is None or op.handle.superseded or op.on_progress is None:
            return
        try:
            op.on_progress(p)
        except Exception as e:  # a bug in a GUI callback: report, do not crash
            e.__ui_traceback__ = traceback.format_exc()  # type: ignore[attr-defined]
            self.report_internal_error(e)

    @Slot(int, object, object)
    def _on_finished(self, op_id: int, result: Any, error: Optional[BaseException]) -> None:
        op = self._ops.pop(op_id, None)
        if op is None:
            return
        t0 = time.perf_counter()
        try:
            self._deliver(op, result, error)
        finally:
            took = time.perf_counter() - t0
            if took > self.slowest_delivery[0]:
                self.slowest_delivery = (took, op.name)

    def _deliver(self, op: _Op, result: Any, error: Optional[BaseException]) -> None:
        h = op.handle
        h.done = True
        h._emit = None
        if h.key is not None and self._by_key.get(h.key) is h:
            del self._by_key[h.key]
        self.busy_changed.emit(len(self._ops))
        try:
            if h._pending is not None and op.on_progress is not None and not h.superseded:
                op.on_progress(h._pending)
            if h.superseded:
                pass  # a newer op of the same key owns the screen now
            elif isinstance(error, Cancelled) or (error is None and h.cancelled
                                                  and result is None):
                if op.on_cancelled:
                    op.on_cancelled()
            elif isinstance(error, SecondMeError):
                show = True
                if op.on_error is not None:
                    show = bool(op.on_error(error))
                if show:  # a missing item in words, not by the id the person never saw
                    self.error_shown.emit(error.in_words() if isinstance(error, NotFound)
                                          else str(error))
            elif error is not None:
                self.report_internal_error(error)
                if op.on_error is not None:
                    op.on_error(error)
            elif op.on_success is not None:
                op.on_success(result)
        except Exception as e:  # a bug in a GUI callback: report, do not crash
            e.__ui_traceback__ = traceback.format_exc()  # type: ignore[attr-defined]
            self.report_internal_error(e)
        finally:
            if op.on_done is not None:
                try:
                    op.on_done()
                except Exception as e:
                    e.__ui_traceback__ = traceback.format_exc()  # type: ignore[attr-defined]
                    self.report_internal_error(e)

    def report_internal_error(self, error: BaseException) -> str:
        """Log the traceback to the log file and say in the banner, in words, that a bug
        stopped what was being done and where the details are."""
        tb = getattr(error, "__ui_traceback__", None) or "".join(
            traceback.format_exception(type(error), error, error.__traceback__))
        logged = False
        if self.log_path is not None:
            try:
                private_dir(self.log_path.parent)
                with open_private(self.log_path, "a") as f:
                    f.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} internal error\n{tb}\n")
                logged = True
            except OSError:
                pass
        log.error("internal error in a background op:\n%s", tb)
        msg = ("Something went wrong inside secondme — a bug, not something you did. What "
               "it was doing did not finish; everything else is kept."
               + (f" The technical details are in {self.log_path} (useful in a bug report)."
                  if logged else ""))
        self.error_shown.emit(msg)
        return msg

    def shutdown(self, timeout_ms: int = 3000) -> bool:
        """Cancel everything and wait for the workers (on window close)."""
        for op in list(self._ops.values()):
            op.handle.cancel()
        a = self._pool.waitForDone(timeout_ms)
        b = self._serial.waitForDone(timeout_ms)
        c = self._procs.waitForDone(timeout_ms)
        return a and b and c

    @Slot()
    def wait_idle(self, timeout_ms: int = 10000) -> bool:
        """Block until the worker threads are idle (tests)."""
        return (self._pool.waitForDone(timeout_ms) and self._serial.waitForDone(timeout_ms)
                and self._procs.waitForDone(timeout_ms))
