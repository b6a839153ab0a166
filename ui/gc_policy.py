"""Cyclic garbage is collected on the GUI thread only.

Why: Python's cycle collector runs on whichever thread happens to cross an allocation
threshold or calls ``gc.collect()``. When that is a worker thread and the garbage holds a
Qt object the GUI owns (a widget dropped while a lambda stored on it still points back at
it), the object's C++ destructor runs on the worker and the process dies (issue 19: a
segfault in the middle of an import).

The policy, installed by the app once its QApplication exists:

1. **No automatic collection.** ``gc.disable()``; a timer on the GUI thread applies the
   generational rule CPython would (:meth:`_Policy.due`: ``gc.get_count()`` against
   ``gc.get_threshold()``) every 100 ms. The counts are process-wide, so allocation on
   workers still makes collections happen, on the GUI thread.
2. **Explicit collections from workers are deferred.** ``gc.collect`` is replaced by a
   function that collects at once on the GUI thread and, on any other thread, asks the
   next tick to collect that generation and returns 0. No collection ever starts on a
   worker from Python code.
3. **Backstop for collections started from C** (an extension calling ``PyGC_Collect``): a
   ``gc.callbacks`` hook freezes every tracked object when such a collection starts on a
   worker and thaws them when it stops, so it finds nothing; the next tick collects
   instead (a full collection, which freezes again what survives it once ``loaded()``
   has frozen the long-lived objects). This one is best effort: a thread switch
   between the freeze and the collection could let the GUI thread create new garbage
   that the worker then collects. No C code in the app collects today; (1) and (2)
   carry the guarantee.

4. **Full collections stay cheap** (issue 14: a window that never stalls). Every
   collection now runs on the GUI thread, so its length is a stall. With the models
   loaded the process holds ~430,000 long-lived objects (torch, transformers) and a full
   collection takes 0.3–1 s. So: (a) while the models load (``pause_for_loading()`` …
   ``loaded()``, the window's warm-up) nothing is collected, and when they are loaded
   everything alive is moved to the permanent generation (``gc.freeze()``: the models,
   the window and its panes live as long as the app); (b) like CPython, a full
   collection runs only once the oldest generation grew by a quarter since the last one
   (:meth:`_Policy.due`). Cyclic garbage made while loading is kept (a little memory).
5. **Handing back** (:func:`uninstall`): the garbage that exists is collected on the GUI
   thread first, then Python's automatic collector is turned back on. Without that the
   first worker thread to allocate would collect the app's leftover Qt garbage (a closed
   window in a cycle) — the crash this module exists to prevent; the test suite, which
   hands the collector back between runs of tests, died that way once in five runs.

While any collection runs no other thread can start one (CPython's ``collecting`` flag),
so finalisers run by a GUI-thread collection are never re-entered from a worker.
Reference counting is not affected; the OpRunner makes sure a worker never drops the last
reference to anything the GUI gave it (``runner.py``). Worker *processes* must be started
with ``spawn``, never ``fork``, so they do not inherit this policy.
"""
from __future__ import annotations

import gc
import threading
from typing import Callable, Optional

from PySide6.QtCore import QObject, QTimer

TICK_MS = 100  # how often the GUI thread looks at the allocation counts

_real_collect: Callable[..., int] = gc.collect


class _Policy:
    """Plain state shared with worker threads: no Qt object is reachable from here."""

    def __init__(self) -> None:
        self.gui_ident = threading.get_ident()
        self.asked = -1                 # a generation a worker asked for
        self.deferred = 0               # explicit worker collections deferred to the GUI
        self.blocked = 0                # collections from C emptied by the backstop
        self.collections = [0, 0, 0]    # GUI-thread collections by generation
        self.long_lived = 0             # objects in the oldest generation after a full one
        self.paused = 0                 # >0 while models load: nothing is collected
        self.keep_frozen = False        # loaded() froze the long-lived objects
        self.refreeze = False           # the backstop thawed them: freeze after a full one

    def on_gui_thread(self) -> bool:
        return threading.get_ident() == self.gui_ident

    def collect(self, generation: int = 2) -> int:
        """Replacement for ``gc.collect``: run now on the GUI thread, else defer."""
        if self.on_gui_thread():
            n = _real_collect(generation)
            self.collections[min(max(generation, 0), 2)] += 1
            if generation >= 2:
                if self.refreeze:
                    self.refreeze = False
                    if self.keep_frozen:
                        gc.freeze()  # what survived is what loaded() froze, plus newer
                self.long_lived = len(gc.get_objects(2))
            return n
        self.asked = max(self.asked, min(max(int(generation), 0), 2))
        self.deferred += 1
        return 0

    def backstop(self, phase: str, info: dict) -> None:
        """gc callback: empty a collection that C code started on a worker."""
        if threading.get_ident() == self.gui_ident:
            return
        if phase == "start":
            gc.freeze()
            self.blocked += 1
            self.asked = 2  # thawed objects land in the oldest generation
        else:
            # Thaw everything. Freezing again here would also freeze the garbage that the
            # start froze (a leak that no collection could ever reach); instead the full
            # collection the GUI thread now owes (``asked``) freezes what survives it.
            gc.unfreeze()
            self.refreeze = self.keep_frozen

    def due(self) -> int:
        """The generation CPython's rule would collect now, or -1 (GUI thread)."""
        t0, t1, t2 = gc.get_threshold()
        c0, c1, c2 = gc.get_count()
        gen = -1
        if c0 > t0:
            gen = 0
            if c1 > t1:
                gen = 1
                if c2 > t2:
                    gen = 2
        if gen == 2 and self.asked < 2 and \
                len(gc.get_objects(2)) - self.long_lived < self.long_lived // 4:
            gen = 1   # CPython's rule: the oldest generation has not grown by a quarter
        if self.asked > gen:
            gen = self.asked
        if self.paused:
            return -1   # a worker's request (``asked``) waits until loading is over
        self.asked = -1
        return gen


class GuiThreadCollector(QObject):
    """Owns the timer that collects on the GUI thread; see the module docstring."""

    def __init__(self, parent: Optional[QObject] = None):
        super().__init__(parent)
        self.policy = _Policy()
        self._was_enabled = True
        self._installed = False
        self._timer = QTimer(self)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self.tick)

    def tick(self) -> None:
        gen = self.policy.due()
        if gen >= 0:
            self.policy.collect(gen)

    def install(self) -> "GuiThreadCollector":
        if not self._installed:
            self._was_enabled = gc.isenabled()
            gc.callbacks.append(self.policy.backstop)
            gc.collect = self.policy.collect
            gc.disable()
            self._timer.start()
            self._installed = True
        return self

    def uninstall(self) -> None:
        if not self._installed:
            return
        self._timer.stop()
        if self.policy.backstop in gc.callbacks:
            gc.callbacks.remove(self.policy.backstop)
        if self.policy.keep_frozen:
            gc.unfreeze()
        self.policy.keep_frozen = self.policy.refreeze = False
        self.policy.collect(2)  # here, on the GUI thread: none of it is left for a worker
        gc.collect = _real_collect
        if self._was_enabled:
            gc.enable()
        self._installed = False

    @property
    def installed(self) -> bool:
        return self._installed


_collector: Optional[GuiThreadCollector] = None


def install(app: QObject) -> GuiThreadCollector:
    """Turn the policy on for this process, owned by ``app`` (the QApplication).

    Call on the GUI thread once the QApplication exists. Idempotent.
    """
    global _collector
    if _collector is None or not _collector.installed:
        _collector = GuiThreadCollector(app).install()
    return _collector


def uninstall() -> None:
    """Back to CPython's automatic collection (tests switch between GUI and core tests)."""
    global _collector
    if _collector is not None:
        _collector.uninstall()
        _collector = None


def current() -> Optional[GuiThreadCollector]:
    return _collector


def pause_for_loading() -> None:
    """No collection until :func:`loaded` (the models load: hundreds of thousands of
    objects that live as long as the app; collecting meanwhile only stalls the GUI)."""
    if _collector is not None:
        _collector.policy.paused += 1


def loaded() -> None:
    """End of :func:`pause_for_loading`: freeze everything alive now (the long-lived
    objects just loaded, the window) so that no later collection scans it again."""
    if _collector is None or _collector.policy.paused <= 0:
        return
    _collector.policy.paused -= 1
    if not _collector.policy.paused:
        gc.freeze()
        _collector.policy.keep_frozen = True
        _collector.policy.long_lived = len(gc.get_objects(2))
