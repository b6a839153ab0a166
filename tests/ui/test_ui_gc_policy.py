"""Issue 19: the app must never die because garbage was collected on a worker thread.

Cyclic garbage is collected on the GUI thread only (secondme_ui.gc_policy); the OpRunner
hands workers plain data; a PySide6 release that corrupts reference counts is refused.
"""
from __future__ import annotations

import gc
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


class _Cycle:
    """Cyclic garbage whose finaliser records the thread it ran on."""

    def __init__(self, log: list):
        self.me = self
        self.log = log

    def __del__(self):
        self.log.append(threading.current_thread().name)


def _on_worker(fn):
    out = []
    t = threading.Thread(target=lambda: out.append(fn()), name="worker")
    t.start()
    t.join()
    return out[0]


def test_a_worker_collect_is_deferred_to_the_gui_thread(qtbot):
    from secondme_ui import gc_policy

    col = gc_policy.current()
    assert col is not None and col.installed and not gc.isenabled()
    log: list[str] = []
    for _ in range(5):
        _Cycle(log)
    assert _on_worker(lambda: gc.collect()) == 0
    assert log == []  # nothing was finalised on the worker
    qtbot.waitUntil(lambda: len(log) == 5, timeout=3000)  # the next tick collects
    assert set(log) == {threading.main_thread().name}


@pytest.mark.parametrize("models_loaded", [False, True])
def test_a_collection_started_below_python_finds_nothing_on_a_worker(qtbot, models_loaded):
    """The backstop: gc's real collect (as C code would call it) on a worker is empty.

    Both states the app is in: before the models loaded, and after ``loaded()`` froze the
    long-lived objects. CI once failed here at random: the order of tests decided whether
    an earlier window had called ``loaded()``, and then the backstop froze the garbage
    with everything else, for good."""
    from secondme_ui import gc_policy

    policy = gc_policy.current().policy
    was_frozen = policy.keep_frozen
    if models_loaded and not was_frozen:
        gc.freeze()
        policy.keep_frozen = True
    if not models_loaded and was_frozen:
        gc.unfreeze()
        policy.keep_frozen = False
    try:
        log: list[str] = []
        for _ in range(3):
            _Cycle(log)
        frozen_before = gc.get_freeze_count()
        assert _on_worker(lambda: gc_policy._real_collect()) == 0
        assert log == []
        if models_loaded:
            assert policy.refreeze  # thawed; the GUI thread's full collection re-freezes
        else:
            assert gc.get_freeze_count() == frozen_before == 0  # everything thawed again
        qtbot.waitUntil(lambda: len(log) == 3, timeout=3000)
        assert set(log) == {threading.main_thread().name}
        assert not policy.refreeze
        if models_loaded:  # the survivors are frozen again; the garbage was not among them
            assert gc.get_freeze_count() > 0
            assert not any(isinstance(o, _Cycle) for o in gc.get_objects())
    finally:
        if policy.keep_frozen and not was_frozen:
            gc.unfreeze()
        policy.keep_frozen = was_frozen
        if was_frozen:
            gc.freeze()


def test_allocation_alone_triggers_collection_on_the_gui_thread(qtbot):
    from secondme_ui import gc_policy

    col = gc_policy.current()
    before = list(col.policy.collections)
    log: list[str] = []

    def churn():
        for _ in range(20000):
            _Cycle(log)
        return len(log)

    assert _on_worker(churn) == 0  # automatic collection is off on every thread
    qtbot.waitUntil(lambda: len(log) == 20000, timeout=5000)
    assert set(log) == {threading.main_thread().name}
    assert sum(col.policy.collections) > sum(before)


def test_uninstall_collects_on_the_gui_thread_before_handing_back(qapp):
    """Garbage left when the policy goes (a closed window in a cycle) is collected here,
    not by the first worker thread that allocates once automatic collection is back."""
    from secondme_ui import gc_policy

    col = gc_policy.current()
    full = col.policy.collections[2]
    log: list[str] = []
    _Cycle(log)
    gc_policy.uninstall()
    try:
        assert col.policy.collections[2] == full + 1
        assert log == [threading.main_thread().name]
    finally:
        gc_policy.install(qapp)


_seen: list = []


def test_one_policy_for_all_ui_tests_a(qapp):
    from secondme_ui import gc_policy

    _seen.append(gc_policy.current())
    assert _seen[0] is not None and _seen[0].installed and not gc.isenabled()


def test_one_policy_for_all_ui_tests_b(qapp):
    """Between two UI tests the policy stays (tests/ui/conftest.py: session scope), so
    automatic collection never comes back while threads of the last test finish."""
    from secondme_ui import gc_policy

    assert _seen and gc_policy.current() is _seen[0] and not gc.isenabled()


def test_uninstall_gives_python_its_collector_back(qapp):
    from secondme_ui import gc_policy

    col = gc_policy.current()
    gc_policy.uninstall()
    try:
        assert gc.isenabled()
        assert gc.collect is gc_policy._real_collect
        assert col.policy.backstop not in gc.callbacks
        log: list[str] = []
        _Cycle(log)
        assert _on_worker(lambda: gc.collect()) >= 1 and log == ["worker"]
    finally:
        gc_policy.install(qapp)


def test_signal_emit_keeps_reference_counts(qapp):
    """PySide6 6.12.0 on Python 3.11 drops a reference to True on every emit(); the
    interpreter aborts after a few hundred signals. pyproject.toml excludes it."""
    from PySide6.QtCore import QObject, Signal

    class Pinger(QObject):
        ping = Signal()
        value = Signal(object)

    p = Pinger()
    seen = []
    p.value.connect(seen.append)
    before = sys.getrefcount(True)
    for i in range(200):
        p.ping.emit()
        p.value.emit(i)
    assert abs(sys.getrefcount(True) - before) <= 2
    assert seen == list(range(200))


def test_workers_hold_no_qt_object(qtbot, sm):
    """What a pool thread runs is plain: the op's function, a plain handle and the
    runner's relay; the function's last reference is released on the GUI thread."""
    import weakref

    from PySide6.QtCore import QObject

    from secondme_ui.runner import OpHandle, OpRunner

    runner = OpRunner()
    released_on = []

    class Payload:
        def __del__(self):
            released_on.append(threading.current_thread().name)

    payload = Payload()
    ref = weakref.ref(payload)

    def work(progress, cancel, payload=payload):
        return threading.current_thread().name

    del payload
    results = []
    h = runner.run(work, on_success=results.append)
    assert isinstance(h, OpHandle) and not isinstance(h, QObject)
    del work
    qtbot.waitUntil(lambda: bool(results), timeout=5000)
    assert results[0] != threading.main_thread().name  # it ran on a worker
    qtbot.waitUntil(lambda: ref() is None, timeout=3000)
    assert released_on == [threading.main_thread().name]
    runner.shutdown()


def test_worker_errors_carry_no_frames(qtbot):
    from secondme_ui.runner import OpRunner

    runner = OpRunner()
    errors = []
    runner.error_shown.connect(errors.append)

    def work(progress, cancel):
        raise ValueError("boom")

    caught = []
    runner.run(work, on_error=caught.append)
    qtbot.waitUntil(lambda: bool(caught), timeout=5000)
    assert caught[0].__traceback__ is None
    assert "ValueError" in caught[0].__ui_traceback__  # the text is kept for the log
    assert errors and errors[0].startswith("Something went wrong inside secondme")
    runner.shutdown()


@pytest.mark.slow
def test_stress_imports_formations_searches_with_collections_forced_on_workers():
    """The reproduction of issue 19 (crashed before the fix, see docs/ui.md): run in a
    child process so that a crash fails this test instead of killing the suite."""
    r = subprocess.run([sys.executable, str(ROOT / "tests" / "scripts" / "ui_gc_stress.py"),
                        "--ops", "45"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert '"ops_done": 45' in r.stdout
