"""The job system: leases (never twice at once, also across processes), cancel, pause,
progress, hooks, persisted schedules with one coalesced catch-up, import → extract."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from secondme.errors import Cancelled, JobError, NotFound
from secondme.lifecycle import jobs as jobs_mod
from secondme.lifecycle.jobs import JobSpec
from secondme.progress import report

GATE = threading.Event()
STARTED = threading.Event()
CALLS: list[str] = []


def slow_job(sm, progress=None, cancel=None):
    """A job that reports progress and waits for GATE, honouring cancel."""
    STARTED.set()
    for i in range(600):
        report(progress, "slow", i, 600)
        if cancel is not None:
            cancel.raise_if_cancelled()
        if GATE.wait(0.05):
            break
    return {"steps": i}


def quick_job(sm, progress=None, cancel=None):
    CALLS.append("quick")
    report(progress, "quick", 1, 1)
    return {"ok": True}


def failing_job(sm, progress=None, cancel=None):
    raise ValueError("boom")


@pytest.fixture
def patched(monkeypatch):
    """decay → slow_job, extract → quick_job, upkeep → failing_job."""
    GATE.clear()
    STARTED.clear()
    CALLS.clear()
    table = dict(jobs_mod.JOBS)
    table["decay"] = JobSpec("decay", slow_job,
                             {"trigger": "interval", "hours": 24}, "slow")
    table["extract"] = JobSpec("extract", quick_job,
                               {"trigger": "interval", "minutes": 30}, "quick")
    table["upkeep"] = JobSpec("upkeep", failing_job,
                              {"trigger": "interval", "days": 7}, "fails")
    monkeypatch.setattr(jobs_mod, "JOBS", table)
    import secondme.lifecycle.ops as ops_mod
    import secondme.lifecycle.scheduler as sched_mod

    monkeypatch.setattr(ops_mod, "JOBS", table)
    monkeypatch.setattr(sched_mod, "JOBS", table)
    yield table
    GATE.set()


def _cli(home, *args, timeout=60):
    env = dict(os.environ, SECONDME_HOME=str(home), PYTHONPATH=os.pathsep.join(sys.path))
    return subprocess.run([sys.executable, "-m", "secondme", "--home", str(home), *args],
                          capture_output=True, text=True, timeout=timeout, env=env)


def _start_in_thread(sm, name):
    box = {}

    def target():
        try:
            box["result"] = sm.run_job(name)
        except BaseException as e:  # noqa: BLE001 - recorded for the test
            box["error"] = e

    t = threading.Thread(target=target)
    t.start()
    assert STARTED.wait(10)
    return t, box


def test_jobs_list_shape_and_cli_json(sm, home):
    names = [j.name for j in sm.jobs_list()]
    assert names == ["extract", "decay", "consolidate", "upkeep", "backup"]
    sm.close()
    out = _cli(home, "jobs", "list", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert [j["name"] for j in data["jobs"]] == names
    for j in data["jobs"]:
        for key in ("name", "next_run", "last_run", "last_outcome", "running", "paused",
                    "progress"):
            assert key in j
        assert j["next_run"]        # computed from the schedule even before the app ran
        assert j["running"] is False


def test_unknown_job_fails_clearly(sm):
    with pytest.raises(NotFound, match="no job called 'nope'"):
        sm.run_job("nope")


def test_every_job_runs_its_service_method(sm):
    """The registry is static: each job calls the service method of its name."""
    for spec in jobs_mod.JOBS.values():
        assert callable(getattr(type(sm), f"run_{spec.name}"))
    assert isinstance(sm.run_job("decay"), dict)


def test_failure_is_recorded_and_hooks_fire(sm, patched):
    finished = []
    sm.hooks.connect("job_did_finish", lambda **kw: finished.append(kw))
    with pytest.raises(JobError, match="boom"):
        sm.run_job("upkeep")
    assert finished[-1]["name"] == "upkeep" and finished[-1]["outcome"] == "failed"
    progressed = []
    sm.hooks.connect("job_did_progress", lambda name, progress: progressed.append(name))
    assert sm.run_job("extract") == {"ok": True}
    assert finished[-1] == {"name": "extract", "outcome": "ok", "summary": {"ok": True}}
    assert "extract" in progressed
    runs = sm.job_runs()
    assert [(r["name"], r["outcome"]) for r in runs[:2]] == [("extract", "ok"),
                                                             ("upkeep", "failed")]


def test_never_twice_at_once_progress_and_cancel(sm, patched, home):
    t, box = _start_in_thread(sm, "decay")
    try:
        info = {j.name: j for j in sm.jobs_list()}["decay"]
        assert info.running and info.progress["stage"] == "slow"
        with pytest.raises(JobError, match="already running"):
            sm.run_job("decay")
        # another process sees it running, with its persisted progress, and cannot run it
        time.sleep(1.5)
        out = _cli(home, "jobs", "list", "--json")
        remote = {j["name"]: j for j in json.loads(out.stdout)["jobs"]}["decay"]
        assert remote["running"] is True and remote["progress"]["stage"] == "slow"
        out = _cli(home, "jobs", "run", "decay")
        assert out.returncode != 0 and "already running" in out.stderr
        # a cancel from another process reaches the job
        out = _cli(home, "jobs", "cancel", "decay")
        assert out.returncode == 0 and "cancelling" in out.stdout
        t.join(20)
    finally:
        GATE.set()
        t.join(5)
    assert isinstance(box.get("error"), Cancelled)
    info = {j.name: j for j in sm.jobs_list()}["decay"]
    assert info.last_outcome == "cancelled" and not info.running
    # and in-process cancel works the same way
    GATE.clear()
    STARTED.clear()
    t, box = _start_in_thread(sm, "decay")
    assert sm.cancel_job("decay") is True
    t.join(10)
    assert isinstance(box.get("error"), Cancelled)
    assert sm.cancel_job("decay") is False


def test_stale_leases_are_taken_over(sm, patched):
    import socket

    dead_pid = 2 ** 22 + 12345
    with sm.store.write() as db:
        db.conn.execute("insert into job_leases values ('extract', 'x', ?, ?, 'then', ?)",
                        [dead_pid, socket.gethostname(), time.time() + 60])
    assert sm.run_job("extract") == {"ok": True}          # owner died
    with sm.store.write() as db:
        db.conn.execute("insert into job_leases values ('extract', 'y', 1, 'elsewhere', "
                        "'then', ?)", [time.time() - 1])
    assert sm.run_job("extract") == {"ok": True}          # lease expired
    with sm.store.write() as db:
        db.conn.execute("insert into job_leases values ('extract', 'z', 1, 'elsewhere', "
                        "'then', ?)", [time.time() + 60])
    with pytest.raises(JobError, match="already running"):  # live owner elsewhere
        sm.run_job("extract")


def test_catch_up_once_after_the_app_was_closed(home, fake_embedder, patched):
    from secondme.service import SecondMe

    sm = SecondMe(home, embedder=fake_embedder)
    past = (datetime.now(timezone.utc) - timedelta(days=3)).isoformat(timespec="seconds")
    sm.job_runner.ensure_rows()
    with sm.store.write() as db:   # "extract" was due 3 days ago (about 150 runs missed)
        db.conn.execute("update jobs set next_run = ? where name = 'extract'", [past])
    sm.close()
    sm = SecondMe(home, embedder=fake_embedder)
    sm.catchup_delay_seconds = 0.2
    try:
        sm.start_background()
        deadline = time.time() + 15
        while time.time() < deadline and not CALLS:
            time.sleep(0.1)
        time.sleep(1.0)
        assert CALLS == ["quick"]                       # once, coalesced
        runs = sm.job_runs("extract")
        assert [r["trigger"] for r in runs] == ["catch-up"]
        nxt = {j.name: j for j in sm.jobs_list()}["extract"].next_run
        assert datetime.fromisoformat(nxt) > datetime.now(timezone.utc)
    finally:
        sm.close()
    # the schedule persisted: reopening without background shows the same next run
    with SecondMe(home, embedder=fake_embedder) as sm2:
        stored = sm2.store.conn.execute(
            "select next_run from jobs where name = 'extract'").fetchone()[0]
        assert datetime.fromisoformat(stored) > datetime.now(timezone.utc)


def test_import_requests_extract_and_pause_blocks_it(home, fake_embedder, patched):
    from secondme.service import SecondMe

    sm = SecondMe(home, embedder=fake_embedder)
    sm.request_delay_seconds = 0.1
    sm.catchup_delay_seconds = 3600
    try:
        sm.start_background()
        sm.pause_job("extract")
        sm.hooks.emit("import_did_finish", report=None)
        time.sleep(1.0)
        assert CALLS == []
        assert {j.name: j for j in sm.jobs_list()}["extract"].requested
        sm.resume_job("extract")
        deadline = time.time() + 15                      # picked up by the request poll
        while time.time() < deadline and not CALLS:
            time.sleep(0.1)
        assert CALLS == ["quick"]
        assert sm.job_runs("extract")[0]["trigger"] == "request"
        assert not {j.name: j for j in sm.jobs_list()}["extract"].requested
    finally:
        sm.close()
    assert not sm.background_running


def test_cli_pause_resume_and_run(home):
    out = _cli(home, "jobs", "pause", "backup")
    assert out.returncode == 0 and "paused" in out.stdout
    data = json.loads(_cli(home, "jobs", "list", "--json").stdout)
    assert {j["name"]: j for j in data["jobs"]}["backup"]["paused"] is True
    assert _cli(home, "jobs", "resume", "backup").returncode == 0
    out = _cli(home, "jobs", "run", "backup")
    assert out.returncode == 0, out.stderr
    data = json.loads(_cli(home, "jobs", "list", "--json").stdout)
    b = {j["name"]: j for j in data["jobs"]}["backup"]
    assert b["paused"] is False and b["last_outcome"] == "ok" and b["last_run"]
    out = _cli(home, "jobs", "run", "nope")
    assert out.returncode == 2 and "no job called" in out.stderr
