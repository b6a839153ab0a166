"""The background-op runner: off-thread work, throttled progress, supersede, errors."""
from __future__ import annotations

import threading
import time

import pytest

from secondme.errors import InvalidInput
from secondme.progress import Progress


@pytest.fixture
def runner(qtbot, tmp_path):
    from secondme_ui.runner import OpRunner

    r = OpRunner(log_path=tmp_path / "logs" / "secondme.log")
    yield r
    r.shutdown()


def test_runs_off_the_gui_thread_and_delivers_on_it(qtbot, runner):
    seen = {}

    def work(progress, cancel):
        seen["worker"] = threading.current_thread()
        return 42

    got = []
    runner.run(work, on_success=lambda v: got.append((v, threading.current_thread())))
    qtbot.waitUntil(lambda: bool(got), timeout=5000)
    assert got[0][0] == 42
    assert seen["worker"] is not threading.main_thread()
    assert got[0][1] is threading.main_thread()


def test_progress_is_throttled_to_ten_a_second_and_the_last_arrives(qtbot, runner):
    got = []

    def work(progress, cancel):
        for i in range(2000):
            progress(Progress("work", i, None))
            time.sleep(0.0002)
        progress(Progress("work", 2000, 2000))
        return "done"

    t0 = time.monotonic()
    done = []
    runner.run(work, on_progress=got.append, on_success=done.append)
    qtbot.waitUntil(lambda: bool(done), timeout=10000)
    elapsed = time.monotonic() - t0
    assert got[-1].done == 2000
    assert len(got) <= elapsed * 10 + 3, (len(got), elapsed)


def test_a_newer_op_with_the_same_key_cancels_the_older(qtbot, runner):
    started = threading.Event()
    results = []
    cancelled_seen = []

    def slow(progress, cancel):
        started.set()
        for _ in range(500):
            if cancel.cancelled:
                cancelled_seen.append(True)
                cancel.raise_if_cancelled()
            time.sleep(0.01)
        return "old"

    first = runner.run(slow, key="search", on_success=results.append)
    assert started.wait(5)
    runner.run(lambda p, c: "new", key="search", on_success=results.append)
    qtbot.waitUntil(lambda: "new" in results and first.done, timeout=10000)
    assert results == ["new"]
    assert first.cancelled and cancelled_seen


def test_cancel_reports_cancelled_not_an_error(qtbot, runner):
    started = threading.Event()
    outcome = []

    def slow(progress, cancel):
        started.set()
        while True:
            cancel.raise_if_cancelled()
            time.sleep(0.005)

    h = runner.run(slow, on_cancelled=lambda: outcome.append("cancelled"),
                   on_success=lambda v: outcome.append("ok"))
    errors = []
    runner.error_shown.connect(errors.append)
    assert started.wait(5)
    h.cancel()
    qtbot.waitUntil(lambda: bool(outcome), timeout=5000)
    assert outcome == ["cancelled"] and not errors


def test_secondme_errors_go_to_the_banner(qtbot, runner):
    errors = []
    runner.error_shown.connect(errors.append)

    def bad(progress, cancel):
        raise InvalidInput("tau must be positive")

    runner.run(bad)
    qtbot.waitUntil(lambda: bool(errors), timeout=5000)
    assert errors == ["tau must be positive"]


def test_unknown_exceptions_are_internal_errors_with_a_log_file(qtbot, runner, tmp_path):
    errors = []
    runner.error_shown.connect(errors.append)

    def bug(progress, cancel):
        return {}["missing"]

    runner.run(bug)
    qtbot.waitUntil(lambda: bool(errors), timeout=5000)
    assert errors[0].startswith("Something went wrong inside secondme")
    assert "KeyError" not in errors[0] and "missing" not in errors[0]
    log = tmp_path / "logs" / "secondme.log"
    assert str(log) in errors[0]
    assert "Traceback" in log.read_text() and "missing" in log.read_text()


def test_serial_ops_never_overlap(qtbot, runner):
    active = []
    overlap = []
    done = []

    def write(progress, cancel):
        active.append(1)
        if len(active) > 1:
            overlap.append(True)
        time.sleep(0.02)
        active.pop()
        return True

    for _ in range(6):
        runner.run(write, serial=True, on_success=done.append)
    qtbot.waitUntil(lambda: len(done) == 6, timeout=10000)
    assert not overlap


# -- ops in a worker process (issue 14) ------------------------------------------------------
class FakeService:
    """Stands for SecondMe: records what run_in_worker_process got, on which thread."""

    def __init__(self, outcome):
        self.outcome = outcome
        self.calls = []

    def run_in_worker_process(self, op, *, progress, cancel, **args):
        self.calls.append((op, args, threading.current_thread()))
        progress(Progress("importing", 1, 2))
        while isinstance(self.outcome, threading.Event) and not cancel.cancelled:
            time.sleep(0.01)
        cancel.raise_if_cancelled()
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome


def test_run_in_process_hands_the_worker_plain_data_and_delivers_on_the_gui_thread(
        qtbot, runner):
    sm = FakeService({"ok": True})
    got, progress = [], []
    args = {"paths": ["/a"], "me": None}
    h = runner.run_in_process(sm, "import_paths", args, key="import",
                              on_success=lambda v: got.append(
                                  (v, threading.current_thread())),
                              on_progress=progress.append)
    qtbot.waitUntil(lambda: bool(got), timeout=5000)
    assert got[0] == ({"ok": True}, threading.main_thread()) and h.done
    op, passed, thread = sm.calls[0]
    assert (op, passed) == ("import_paths", args) and passed is not args   # a copy
    assert thread is not threading.main_thread()
    assert progress and progress[-1].stage == "importing"


def test_run_in_process_cancel_and_supersede(qtbot, runner):
    sm = FakeService(threading.Event())
    outcome = []
    h = runner.run_in_process(sm, "run_job", {"name": "extract"}, key="extract",
                              on_cancelled=lambda: outcome.append("cancelled"))
    qtbot.waitUntil(lambda: bool(sm.calls), timeout=5000)
    assert runner.running("extract") is h
    h.cancel()
    qtbot.waitUntil(lambda: h.done, timeout=5000)
    assert outcome == ["cancelled"] and runner.busy == 0


def test_a_bug_in_a_worker_process_keeps_its_own_traceback(qtbot, runner, tmp_path):
    errors = []
    runner.error_shown.connect(errors.append)
    bug = type("ValueError", (Exception,), {})("boom there")
    bug.__ui_traceback__ = "in the worker process 123:\nTraceback ... raise ValueError"
    runner.run_in_process(FakeService(bug), "import_paths", {"paths": []})
    qtbot.waitUntil(lambda: bool(errors), timeout=5000)
    assert errors[0].startswith("Something went wrong inside secondme")
    assert "boom there" not in errors[0]
    assert "in the worker process 123" in (tmp_path / "logs" / "secondme.log").read_text()


def test_process_ops_do_not_queue_behind_the_serial_worker(qtbot, runner):
    """A formation in a worker process must not hold up the person's edits."""
    sm = FakeService(threading.Event())
    h = runner.run_in_process(sm, "run_job", {"name": "extract"})
    qtbot.waitUntil(lambda: bool(sm.calls), timeout=5000)
    edits = []
    runner.run(lambda p, c: "saved", serial=True, on_success=edits.append)
    qtbot.waitUntil(lambda: edits == ["saved"], timeout=5000)
    assert not h.done
    h.cancel()
    qtbot.waitUntil(lambda: h.done, timeout=5000)
