"""LifecycleOps: the service's jobs, scheduler and profile.

Mixed into :class:`secondme.service.SecondMe`. Everything here is safe to call from any
thread; slow work takes ``progress=``/``cancel=``.

The desktop app opens the service with ``background=True``, which starts the scheduler
(:meth:`start_background`); the CLI and the MCP server never do, but ``secondme jobs
run`` takes the same database lease, so a job never runs twice at once.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any, Optional

from ..api import JobInfo
from ..memory.quarantine import count as count_quarantined
from ..paths import VECTOR_DIR
from ..progress import CancelToken, ProgressFn
from ..worker import ProcessJobRunner
from .consolidate.run import capable_llm, run_consolidate
from .decay import reinforce, run_decay
from .jobs import JOBS, get_job
from .profile import get_profile
from .scheduler import JobRunner, LifecycleScheduler, _iso, progress_to_dict
from .upkeep import run_upkeep

log = logging.getLogger(__name__)


class LifecycleOps:
    """Jobs, the background scheduler, reinforcement and the profile."""

    #: seconds after start before a run missed while the app was closed is caught up
    catchup_delay_seconds: float = 60.0
    #: seconds between a request (e.g. after an import) and the run
    request_delay_seconds: float = 2.0

    def __init__(self, *args: Any, **kwargs: Any):
        self._job_runner: Optional[JobRunner] = None
        self._lifecycle_scheduler: Optional[LifecycleScheduler] = None
        super().__init__(*args, **kwargs)
        self.hooks.connect("import_did_finish", self._on_import_did_finish)

    # -- plumbing ------------------------------------------------------------------------
    @property
    def job_runner(self) -> ProcessJobRunner:
        if self._job_runner is None:
            self._job_runner = ProcessJobRunner(self)
        return self._job_runner

    def _on_import_did_finish(self, **_: Any) -> None:
        try:
            self.request_job("extract")
        except Exception:
            log.exception("could not request the extract job after an import")

    # -- the scheduler -----------------------------------------------------------------
    def start_background(self, *, worker_processes: Optional[bool] = None) -> None:
        """Start the APScheduler background scheduler (idempotent).

        Runs missed while the app was closed are caught up once, ``catchup_delay_seconds``
        after start. Called by ``SecondMe(background=True)``; stopped by :meth:`close`.
        ``worker_processes=True`` (the desktop app) runs memory formation in a worker
        process (``secondme.worker``), so the app's own threads never wait for it; None
        keeps the previous choice (a restart after a key change).
        """
        if worker_processes is not None:
            self.job_runner.worker_processes = worker_processes
        if self._lifecycle_scheduler is not None and \
                self._lifecycle_scheduler.running:
            return
        self._lifecycle_scheduler = LifecycleScheduler(
            self, self.job_runner, catchup_delay=self.catchup_delay_seconds,
            request_delay=self.request_delay_seconds)
        self._lifecycle_scheduler.start()

    def stop_background(self) -> None:
        """Cancel running jobs, wait for them to stop and shut the scheduler down (and
        the vector index's background catch-up: what follows may swap the store)."""
        if self._vectors is not None:
            self._vectors.stop_catching_up()
        sched = self._lifecycle_scheduler
        self._lifecycle_scheduler = None
        if sched is not None:
            sched.stop()
        elif self._job_runner is not None:
            self._job_runner.cancel_all()

    @property
    def background_running(self) -> bool:
        s = self._lifecycle_scheduler
        return s is not None and s.running

    # -- jobs --------------------------------------------------------------------------
    def jobs_list(self) -> list[JobInfo]:
        """Every job with its schedule, last outcome and live progress."""
        runner = self.job_runner
        runner.ensure_rows()
        rows = {r[0]: r for r in self.store.conn.execute(
            "select name, next_run, last_run, last_outcome, last_error, paused, progress, "
            "last_duration, last_summary, requested_at from jobs")}
        leases = {r[0] for r in self.store.conn.execute("select name from job_leases")}
        sched = self._lifecycle_scheduler
        now = datetime.now().astimezone()
        out = []
        for name, spec in JOBS.items():
            r = rows.get(name)
            local = runner.running.get(name)
            running = local is not None or (name in leases and runner.holder(name) is not None)
            if local is not None:
                progress = progress_to_dict(local.progress) or {
                    "stage": "starting", "done": 0, "total": None, "message": "",
                    "fraction": None}
            elif running and r and r[6]:
                progress = json.loads(r[6])
            else:
                progress = None
            next_run = None
            if sched is not None and sched.running:
                nr = sched.next_run(name)
                next_run = _iso(nr) if nr else None
            if next_run is None and r is not None and r[1]:
                next_run = r[1]
            if next_run is None:
                nr = spec.trigger().get_next_fire_time(None, now)
                next_run = _iso(nr) if nr else None
            summary = None
            if r is not None and r[8]:
                try:
                    summary = json.loads(r[8])
                except ValueError:
                    summary = None
            out.append(JobInfo(
                name=name, description=spec.description, next_run=next_run,
                last_run=r[2] if r else None, last_outcome=r[3] if r else None,
                running=running, paused=bool(r[5]) if r else False, progress=progress,
                last_error=r[4] if r else None, last_duration=r[7] if r else None,
                last_summary=summary, requested=bool(r and r[9]),
                quarantined=count_quarantined(self.store.conn) if name == "extract" else 0))
        return out

    def job_runs(self, name: Optional[str] = None, limit: int = 50) -> list[dict]:
        """The most recent runs (newest first), optionally of one job."""
        if name is not None:
            get_job(name)
        sql = ("select id, name, started_at, finished_at, outcome, error, summary, trigger "
               "from job_runs" + (" where name = ?" if name else "") + " order by id desc limit ?")
        args = [name, limit] if name else [limit]
        out = []
        for r in self.store.conn.execute(sql, args):
            out.append({"id": r[0], "name": r[1], "started_at": r[2], "finished_at": r[3],
                        "outcome": r[4], "error": r[5],
                        "summary": json.loads(r[6]) if r[6] else None, "trigger": r[7]})
        return out

    def run_job(self, name: str, progress: Optional[ProgressFn] = None,
                cancel: Optional[CancelToken] = None) -> dict:
        """Run job ``name`` now on this thread, to completion; returns its summary.

        Raises NotFound, JobError (already running here or in another process, or it
        failed: the message says why), Cancelled.
        """
        return self.job_runner.run(name, progress=progress, cancel=cancel, trigger="manual")

    def pause_job(self, name: str) -> None:
        """No new scheduled or requested runs of ``name`` until resumed (persisted).

        A run in progress goes on; cancel it with :meth:`cancel_job`."""
        self._set_paused(name, True)

    def resume_job(self, name: str) -> None:
        """Undo :meth:`pause_job`."""
        self._set_paused(name, False)

    def _set_paused(self, name: str, paused: bool) -> None:
        get_job(name)
        self.job_runner.ensure_rows()
        with self.store.write() as db:
            db.conn.execute("update jobs set paused = ? where name = ?", [int(paused), name])

    def cancel_job(self, name: str) -> bool:
        """Ask a running ``name`` to stop (here or in another process). True if it was
        running. The job stops at its next unit of work and records ``cancelled``."""
        return self.job_runner.cancel(name)

    def request_job(self, name: str) -> None:
        """Run ``name`` soon in the background.

        In the desktop app the run starts within seconds. In a process without a
        scheduler (the CLI) the request is persisted and the app runs it when it next
        polls or starts. A paused job keeps the request until resumed.
        """
        get_job(name)
        self.job_runner.ensure_rows()
        with self.store.write() as db:
            db.conn.execute("update jobs set requested_at = ? where name = ?",
                            [_iso(self.clock()), name])
        sched = self._lifecycle_scheduler
        if sched is not None and sched.running:
            row = self.store.conn.execute("select paused from jobs where name = ?",
                                          [name]).fetchone()
            if not (row and row[0]):
                sched.request(name)

    # -- reinforcement -----------------------------------------------------------------
    def reinforce_notes(self, note_ids, reason: str = "cited") -> int:
        """Strengthen notes that were cited, opened, edited or confirmed.

        S += 1, last recalled = now, retention = 1. Returns how many notes changed.
        See :func:`secondme.lifecycle.decay.reinforce`.
        """
        return reinforce(self.store, note_ids, now=self.clock(), hooks=self.hooks,
                         reason=reason)

    # -- profile -----------------------------------------------------------------------
    def get_profile(self):
        """The profile of the user (a ProfileNote with cited lines), or None before the
        first consolidation."""
        return get_profile(self.store.conn)

    # -- what each job runs (see jobs.py) --------------------------------------------------
    def run_decay(self, progress: Optional[ProgressFn] = None,
                  cancel: Optional[CancelToken] = None) -> dict:
        """Let memories fade and archive faded ones (the ``decay`` job's work)."""
        s = self.settings
        return run_decay(self.store, now=self.clock(), tau_days=s.decay_tau_days,
                         threshold=s.archive_threshold, hooks=self.hooks, progress=progress,
                         cancel=cancel)

    def run_consolidate(self, progress: Optional[ProgressFn] = None,
                        cancel: Optional[CancelToken] = None) -> dict:
        """Merge duplicates, resolve contradictions, write summaries and the profile."""
        def index_new(cancel: Optional[CancelToken]) -> None:
            if self.embedder_loaded:   # never load the model just for a few summaries
                self.index_pending(cancel=cancel)

        return run_consolidate(self.store, clock=self.clock, me_name=self.settings.me_name,
                               me_aliases=self.settings.me_aliases,
                               llm=capable_llm(lambda: self.llm), hooks=self.hooks,
                               vectors=self._vectors, index_new=index_new, progress=progress,
                               cancel=cancel)

    def run_upkeep(self, progress: Optional[ProgressFn] = None,
                   cancel: Optional[CancelToken] = None) -> dict:
        """Compact the vector index, optimize full-text search, check integrity."""
        return run_upkeep(self.store, vindex=self._vectors, vdir=self.home / VECTOR_DIR,
                          progress=progress, cancel=cancel)

    def consolidate(self, progress: Optional[ProgressFn] = None,
                    cancel: Optional[CancelToken] = None) -> dict:
        """Run consolidation now (as the ``consolidate`` job, under its lease)."""
        return self.run_job("consolidate", progress=progress, cancel=cancel)


__all__ = ["LifecycleOps", "JobInfo"]
