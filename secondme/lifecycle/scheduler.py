"""Running jobs: one at a time per job (across processes), visibly, cancellably.

Two pieces:

- :class:`JobRunner` runs one job to completion on the calling thread. It takes a
  **lease** on the job in the ``job_leases`` table (owner = host:pid:random, expiry
  renewed by a heartbeat thread), so the same job never runs twice at once, whether the
  second attempt comes from the desktop app's scheduler or from ``secondme jobs run`` in
  a terminal. A lease whose process died (same host) or whose expiry passed is taken
  over. While the job runs, the heartbeat also persists coarse progress (so another
  process's ``jobs list`` shows it) and polls ``jobs.cancel_requested`` (so a cancel
  asked for in another process reaches the job's CancelToken). The outcome, error,
  summary and duration are recorded in ``jobs`` and ``job_runs``; hooks
  ``job_did_progress`` and ``job_did_finish`` are emitted.

- :class:`LifecycleScheduler` wraps an APScheduler 3 ``BackgroundScheduler``. Schedules
  come from :mod:`secondme.lifecycle.jobs`; ``next_run`` is persisted in ``jobs`` after
  every change, so a run that was due while the app was closed is caught up **once**
  (coalesced) shortly after start. Paused jobs (``jobs.paused``, which any process may
  set) are skipped when due. Runs requested with ``request`` (or by another process
  through ``jobs.requested_at``, polled every few seconds) run soon.

Thread-safety: both classes may be used from any thread. Transactions are short.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

from ..api import to_jsonable
from ..errors import Cancelled, JobError, SecondMeError
from ..progress import CancelToken, Progress, ProgressFn
from .jobs import JOBS, JobSpec, call_job, get_job

log = logging.getLogger(__name__)

LEASE_TTL_S = 60.0          # a lease not renewed for this long is considered abandoned
APP_LEASE = "_app"          # the lease a running scheduler (the desktop app) holds
HEARTBEAT_S = 1.0           # progress persistence + remote-cancel polling interval
RENEW_EVERY_S = 10.0        # lease renewal interval
PROGRESS_HOOK_INTERVAL_S = 0.2
# While a job runs in this process, the interpreter hands the GIL over every 0.5 ms
# instead of 5 ms: a search (or the GUI) that waits for it after each SQLite call then
# waits a tenth as long, so it stays responsive while a Python-heavy job computes.
JOB_SWITCH_INTERVAL_S = 0.0005
_switch_lock = threading.Lock()
_switch_state = {"jobs": 0, "saved": None}


def _enter_job_pacing() -> None:
    with _switch_lock:
        if _switch_state["jobs"] == 0:
            _switch_state["saved"] = sys.getswitchinterval()
            sys.setswitchinterval(min(_switch_state["saved"], JOB_SWITCH_INTERVAL_S))
        _switch_state["jobs"] += 1


def _leave_job_pacing() -> None:
    with _switch_lock:
        _switch_state["jobs"] -= 1
        if _switch_state["jobs"] == 0 and _switch_state["saved"] is not None:
            sys.setswitchinterval(_switch_state["saved"])


def _iso(dt: Optional[datetime]) -> Optional[str]:
    return dt.isoformat(timespec="seconds") if dt is not None else None


def _parse(s: Optional[str]) -> Optional[datetime]:
    if not s:
        return None
    dt = datetime.fromisoformat(s)
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def progress_to_dict(p: Optional[Progress]) -> Optional[dict]:
    """A Progress as the plain dict shown by ``jobs list``."""
    if p is None:
        return None
    return {"stage": p.stage, "done": p.done, "total": p.total, "message": p.message,
            "fraction": p.fraction}


@dataclass
class RunState:
    """A job running in this process."""

    name: str
    owner: str
    token: CancelToken
    started: datetime
    trigger: str
    progress: Optional[Progress] = None
    run_id: int = 0
    stop: threading.Event = field(default_factory=threading.Event)


class JobRunner:
    """Runs jobs of one SecondMe service under a database lease. See the module doc."""

    def __init__(self, sm: Any):
        self.sm = sm
        self.host = socket.gethostname()
        self.running: dict[str, RunState] = {}
        self._lock = threading.Lock()
        self._ensured = False

    # -- rows -----------------------------------------------------------------------
    def ensure_rows(self) -> None:
        """Make sure every registered job has its row in ``jobs``."""
        if self._ensured:
            return
        with self.sm.store.write() as db:
            db.conn.executemany("insert or ignore into jobs (name) values (?)",
                                [(n,) for n in JOBS])
        self._ensured = True

    # -- leases ---------------------------------------------------------------------
    def holder(self, name: str) -> Optional[dict]:
        """The live lease on ``name`` as a dict (owner, pid, host, started_at), or None."""
        row = self.sm.store.conn.execute(
            "select owner, pid, host, started_at, expires from job_leases where name = ?",
            [name]).fetchone()
        if row is None or not self._alive(row):
            return None
        return {"owner": row[0], "pid": row[1], "host": row[2], "started_at": row[3]}

    def _alive(self, row) -> bool:
        owner, pid, host, _, expires = row
        if expires < time.time():
            return False
        if host == self.host and pid != os.getpid() and not _pid_alive(pid):
            return False
        if host == self.host and pid == os.getpid():
            with self._lock:
                return any(r.owner == owner for r in self.running.values())
        return True

    def _acquire(self, name: str, owner: str, started: datetime) -> None:
        with self.sm.store.write() as db:
            row = db.conn.execute(
                "select owner, pid, host, started_at, expires from job_leases where name = ?",
                [name]).fetchone()
            if row is not None and self._alive(row):
                where = ("this app" if row[2] == self.host and row[1] == os.getpid()
                         else f"process {row[1]} on {row[2]}")
                raise JobError(f"the {name!r} job is already running ({where}, since "
                               f"{row[3]}); wait for it to finish or cancel it")
            db.conn.execute(
                "insert or replace into job_leases (name, owner, pid, host, started_at, "
                "expires) values (?, ?, ?, ?, ?, ?)",
                [name, owner, os.getpid(), self.host, _iso(started), time.time() + LEASE_TTL_S])

    def _release(self, name: str, owner: str) -> None:
        with self.sm.store.write() as db:
            db.conn.execute("delete from job_leases where name = ? and owner = ?",
                            [name, owner])

    # -- running --------------------------------------------------------------------
    def run(self, name: str, progress: Optional[ProgressFn] = None,
            cancel: Optional[CancelToken] = None, trigger: str = "manual") -> dict:
        """Run job ``name`` to completion on this thread and return its summary.

        Raises NotFound (unknown job), JobError (already running, or it failed: the
        message says why), Cancelled (cancelled through ``cancel``, :meth:`cancel` or
        another process).
        """
        spec: JobSpec = get_job(name)
        self.ensure_rows()
        token = cancel or CancelToken()
        started = self.sm.clock()
        owner = f"{self.host}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        state = RunState(name, owner, token, started, trigger)
        with self._lock:
            if name in self.running:
                raise JobError(f"the {name!r} job is already running in this app; wait "
                               "for it to finish or cancel it")
            self.running[name] = state
        try:
            self._acquire(name, owner, started)
        except BaseException:
            with self._lock:
                self.running.pop(name, None)
            raise
        with self.sm.store.write() as db:
            db.conn.execute(
                "update jobs set cancel_requested = 0, progress = ?, "
                "requested_at = case when requested_at <= ? then null else requested_at end "
                "where name = ?",
                [json.dumps({"stage": "starting", "done": 0, "total": None, "message": "",
                             "fraction": None}), _iso(started), name])
            state.run_id = db.conn.execute(
                "insert into job_runs (name, started_at, trigger) values (?, ?, ?)",
                [name, _iso(started), trigger]).lastrowid
        beat = threading.Thread(target=self._heartbeat, args=(state,),
                                name=f"secondme-job-{name}-heartbeat", daemon=True)
        beat.start()
        last_hook = [0.0]

        def on_progress(p: Progress) -> None:
            state.progress = p
            if progress is not None:
                progress(p)
            now = time.monotonic()
            final = p.total is not None and p.done >= p.total
            if final or now - last_hook[0] >= PROGRESS_HOOK_INTERVAL_S:
                last_hook[0] = now
                self.sm.hooks.emit("job_did_progress", name=name, progress=p)

        t0 = time.monotonic()
        outcome, error, summary = "ok", None, {}
        _enter_job_pacing()
        try:
            summary = call_job(spec, self.sm, progress=on_progress, cancel=token)
        except Cancelled as e:
            outcome, error = "cancelled", str(e)
            raise
        except KeyboardInterrupt:
            outcome, error = "cancelled", "Cancelled (interrupted)."
            raise
        except SecondMeError as e:
            outcome, error = "failed", str(e)
            raise JobError(f"the {name!r} job failed: {e}") from e
        except BaseException as e:
            outcome, error = "failed", f"{type(e).__name__}: {e}"
            log.exception("job %s failed", name)
            raise JobError(f"the {name!r} job failed: {type(e).__name__}: {e}") from e
        finally:
            _leave_job_pacing()
            duration = time.monotonic() - t0
            state.stop.set()
            beat.join(timeout=5)
            finished = self.sm.clock()
            try:
                self._record(state, outcome, error, summary, duration, finished)
            finally:
                try:
                    self._release(name, owner)
                finally:
                    with self._lock:
                        self.running.pop(name, None)
            self.sm.hooks.emit("job_did_finish", name=name, outcome=outcome,
                               summary=summary if outcome == "ok" else {"error": error})
        return summary

    def _record(self, state: RunState, outcome: str, error: Optional[str], summary: dict,
                duration: float, finished: datetime) -> None:
        summary_json = json.dumps(to_jsonable(summary), ensure_ascii=False, default=str)
        with self.sm.store.write() as db:
            db.conn.execute(
                "update jobs set last_run = ?, last_outcome = ?, last_error = ?, "
                "last_summary = ?, last_duration = ?, progress = null, cancel_requested = 0 "
                "where name = ?",
                [_iso(state.started), outcome, error, summary_json, round(duration, 3),
                 state.name])
            db.conn.execute(
                "update job_runs set finished_at = ?, outcome = ?, error = ?, summary = ? "
                "where id = ?", [_iso(finished), outcome, error, summary_json, state.run_id])
            db.conn.execute(
                "delete from job_runs where name = ? and id <= (select id from job_runs "
                "where name = ? order by id desc limit 1 offset 200)",
                [state.name, state.name])

    def _heartbeat(self, state: RunState) -> None:
        """Persist coarse progress, poll remote cancel, renew the lease (own thread)."""
        last_renew = time.monotonic()
        last_saved = None
        store = self.sm.store
        try:
            while not state.stop.wait(HEARTBEAT_S):
                if store.closed:
                    return
                p = state.progress
                row = store.conn.execute("select cancel_requested from jobs where name = ?",
                                         [state.name]).fetchone()
                if row and row[0]:
                    state.token.cancel()
                renew = time.monotonic() - last_renew >= RENEW_EVERY_S
                if p is not last_saved or renew:
                    with store.write() as db:
                        if p is not last_saved:
                            db.conn.execute("update jobs set progress = ? where name = ?",
                                            [json.dumps(progress_to_dict(p)), state.name])
                        if renew:
                            db.conn.execute(
                                "update job_leases set expires = ? where name = ? and owner = ?",
                                [time.time() + LEASE_TTL_S, state.name, state.owner])
                    last_saved = p
                    if renew:
                        last_renew = time.monotonic()
        except Exception:  # the store closed under us, or similar: the run decides
            log.debug("job heartbeat stopped", exc_info=True)

    # -- control --------------------------------------------------------------------
    def cancel(self, name: str) -> bool:
        """Cancel ``name`` wherever it runs. True if a running job was asked to stop."""
        get_job(name)
        self.ensure_rows()
        with self._lock:
            state = self.running.get(name)
        if state is not None:
            state.token.cancel()
        remote = self.holder(name)
        if remote is not None or state is not None:
            with self.sm.store.write() as db:
                db.conn.execute("update jobs set cancel_requested = 1 where name = ?", [name])
            return True
        return False

    def cancel_all(self) -> None:
        with self._lock:
            states = list(self.running.values())
        for s in states:
            s.token.cancel()


class LifecycleScheduler:
    """The APScheduler ``BackgroundScheduler`` of one service. See the module doc."""

    POLL_SECONDS = 5.0

    def __init__(self, sm: Any, runner: JobRunner, *, catchup_delay: float = 60.0,
                 request_delay: float = 2.0):
        self.sm = sm
        self.runner = runner
        self.catchup_delay = catchup_delay
        self.request_delay = request_delay
        self._sched = None
        self.catchups: list[str] = []
        self._owner = f"{runner.host}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    @property
    def running(self) -> bool:
        return self._sched is not None and self._sched.running

    def start(self) -> None:
        """Register every job with its persisted or computed next run and start."""
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.background import BackgroundScheduler

        self.runner.ensure_rows()
        sched = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=2)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None})
        now = datetime.now(timezone.utc).astimezone()
        rows = {r[0]: r[1] for r in self.sm.store.conn.execute(
            "select name, next_run from jobs")}
        self.catchups = []
        for name, spec in JOBS.items():
            trigger = spec.trigger()
            persisted = _parse(rows.get(name))
            if persisted is None:
                first = trigger.get_next_fire_time(None, now)
            elif persisted <= now:
                first = now + timedelta(seconds=self.catchup_delay)   # missed: run once
                self.catchups.append(name)
            else:
                first = persisted
            sched.add_job(self._fire, trigger=trigger, args=[name, "schedule"], id=name,
                          name=name, next_run_time=first, replace_existing=True)
        sched.add_job(self._poll, "interval", seconds=self.POLL_SECONDS, id="_poll",
                      name="poll requests")
        sched.start()
        self._sched = sched
        self._app_lease(renew=False)
        self._persist_next_runs()
        for name in self.catchups:
            with self.sm.store.write() as db:
                db.conn.execute("update jobs set requested_at = null where name = ?", [name])
        log.info("scheduler started; catching up: %s", ", ".join(self.catchups) or "nothing")

    def stop(self) -> None:
        """Cancel running jobs, wait for them to stop, shut the scheduler down."""
        sched, self._sched = self._sched, None
        if sched is None:
            return
        self.runner.cancel_all()
        try:
            sched.shutdown(wait=True)
        except Exception:
            log.exception("scheduler shutdown failed")
        try:
            if not self.sm.store.closed:
                with self.sm.store.write() as db:
                    db.conn.execute("delete from job_leases where name = ? and owner = ?",
                                    [APP_LEASE, self._owner])
        except Exception:
            log.debug("releasing the app lease failed", exc_info=True)

    def _app_lease(self, renew: bool = True) -> None:
        """``job_leases`` row ``_app``: "a scheduler (the desktop app) has this data dir
        open" — what a restore from another process checks before replacing the file."""
        with self.sm.store.write() as db:
            db.conn.execute(
                "insert or replace into job_leases (name, owner, pid, host, started_at, "
                "expires) values (?, ?, ?, ?, coalesce((select started_at from job_leases "
                "where name = ? and owner = ?), ?), ?)",
                [APP_LEASE, self._owner, os.getpid(), self.runner.host, APP_LEASE, self._owner,
                 _iso(datetime.now(timezone.utc)), time.time() + LEASE_TTL_S])

    def next_run(self, name: str) -> Optional[datetime]:
        if not self.running:
            return None
        job = self._sched.get_job(name)
        return job.next_run_time if job is not None else None

    def request(self, name: str) -> None:
        """Run ``name`` soon (a few seconds), coalescing repeated requests."""
        if not self.running:
            return
        when = datetime.now(timezone.utc) + timedelta(seconds=self.request_delay)
        self._sched.add_job(self._fire, "date", run_date=when, args=[name, "request"],
                            id=f"request:{name}", replace_existing=True)

    def _persist_next_runs(self) -> None:
        if not self.running:
            return
        vals = []
        for name in JOBS:
            job = self._sched.get_job(name)
            if job is not None and job.next_run_time is not None:
                vals.append((_iso(job.next_run_time.astimezone(timezone.utc)), name))
        if vals:
            with self.sm.store.write() as db:
                db.conn.executemany("update jobs set next_run = ? where name = ?", vals)

    def _poll(self) -> None:
        """Pick up runs requested by other processes (``jobs.requested_at``)."""
        try:
            if self.sm.store.closed:
                return
            self._app_lease()
            names = [r[0] for r in self.sm.store.conn.execute(
                "select name from jobs where requested_at is not null and paused = 0")]
            for name in names:
                if name in JOBS and name not in self.runner.running and \
                        self._sched.get_job(f"request:{name}") is None:
                    self.request(name)
        except Exception:
            log.debug("request poll failed", exc_info=True)

    def _fire(self, name: str, trigger: str) -> None:
        """A due or requested run: skipped when paused or running elsewhere."""
        try:
            if self.sm.store.closed:
                return
            self._persist_next_runs()
            row = self.sm.store.conn.execute("select paused from jobs where name = ?",
                                             [name]).fetchone()
            if row and row[0]:
                log.info("job %s is paused; skipping its %s run", name, trigger)
                return
            if name in self.runner.running or self.runner.holder(name) is not None:
                log.info("job %s is already running; skipping its %s run", name, trigger)
                return
            if name in self.catchups:
                self.catchups.remove(name)
                trigger = "catch-up"
            self.runner.run(name, trigger=trigger)
        except Cancelled:
            log.info("job %s was cancelled", name)
        except SecondMeError as e:
            log.warning("job %s: %s", name, e)
        except Exception:
            log.exception("job %s crashed", name)
