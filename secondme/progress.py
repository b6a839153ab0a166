"""Progress reporting and cancellation: the core's only way to talk about long work.

Every slow core function takes ``progress=`` (a callable receiving :class:`Progress`)
and ``cancel=`` (a :class:`CancelToken`). Both are optional. The core never knows who
listens: the CLI draws a progress bar, the UI throttles and forwards to the GUI thread,
tests collect the calls.

Thread-safety: a CancelToken may be cancelled from any thread; progress callbacks are
called on the worker's thread and must be cheap (the caller throttles if needed).
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional

from .errors import Cancelled


@dataclass(frozen=True)
class Progress:
    """One progress report. ``total`` is None when unknown; ``stage`` names the phase."""

    stage: str
    done: int = 0
    total: Optional[int] = None
    message: str = ""

    @property
    def fraction(self) -> Optional[float]:
        if not self.total:
            return None
        return min(1.0, self.done / self.total)


ProgressFn = Callable[[Progress], None]


class CancelToken:
    """A flag set by whoever wants the work to stop; checked by the worker.

    Workers call :meth:`raise_if_cancelled` between units of work (a conversation, a
    batch), so cancelling never leaves a half-written unit behind.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self.paused = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled()


def report(progress: Optional[ProgressFn], stage: str, done: int = 0,
           total: Optional[int] = None, message: str = "") -> None:
    """Call ``progress`` if one was given."""
    if progress is not None:
        progress(Progress(stage, done, total, message))


def check(cancel: Optional[CancelToken]) -> None:
    """Raise :class:`Cancelled` if ``cancel`` was cancelled."""
    if cancel is not None:
        cancel.raise_if_cancelled()


class Throttle:
    """Wraps a ProgressFn so that it fires at most every ``interval`` seconds.

    The first and the final report (done == total) always pass through.
    """

    def __init__(self, fn: Optional[ProgressFn], interval: float = 0.1):
        self.fn = fn
        self.interval = interval
        self._last = 0.0
        self._lock = threading.Lock()

    def __call__(self, p: Progress) -> None:
        if self.fn is None:
            return
        now = time.monotonic()
        with self._lock:
            final = p.total is not None and p.done >= p.total
            if not final and now - self._last < self.interval:
                return
            self._last = now
        self.fn(p)
