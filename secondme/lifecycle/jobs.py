"""The registry of background jobs: what each one does and when it runs.

A job runs one method of the service, ``sm.run_<job>(progress=None, cancel=None) -> dict``
(a summary of what it did). Jobs are resumable (their state is in the database), honour
``cancel`` between units of work and keep transactions short.

Schedules (local time of the machine):

========== ============================ ==================================================
job        when                         what
========== ============================ ==================================================
extract    every 30 minutes, and soon   index new items, form memories, index new notes
           after every import
decay      daily at 04:00               retention R = exp(-days / (tau * S)); archive
consolidate nightly at 03:00            merge duplicates, contradictions, summaries, profile
upkeep     weekly, Sunday 05:00         index compaction, FTS optimize, integrity check
backup     daily at 02:30               a rotating snapshot in ``<home>/backups``
========== ============================ ==================================================
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ..errors import NotFound


@dataclass(frozen=True)
class JobSpec:
    """One registered job."""

    name: str
    run: Callable[..., Any]      # run(sm, progress=, cancel=): one service method
    schedule: dict               # APScheduler trigger: {"trigger": "cron"|"interval", ...}
    description: str

    def trigger(self):
        """A fresh APScheduler trigger for this job's schedule."""
        kw = dict(self.schedule)
        kind = kw.pop("trigger")
        if kind == "cron":
            from apscheduler.triggers.cron import CronTrigger

            return CronTrigger(**kw)
        from apscheduler.triggers.interval import IntervalTrigger

        return IntervalTrigger(**kw)


JOBS: dict[str, JobSpec] = {spec.name: spec for spec in (
    JobSpec("extract", lambda sm, **kw: sm.run_extract(**kw),
            {"trigger": "interval", "minutes": 30},
            "Index new items, form memories from them, index the new notes."),
    JobSpec("decay", lambda sm, **kw: sm.run_decay(**kw),
            {"trigger": "cron", "hour": 4, "minute": 0},
            "Let memories fade (R = exp(-days / (tau * S))); archive faded ones."),
    JobSpec("consolidate", lambda sm, **kw: sm.run_consolidate(**kw),
            {"trigger": "cron", "hour": 3, "minute": 0},
            "Merge duplicates, resolve contradictions, write summaries and the profile."),
    JobSpec("upkeep", lambda sm, **kw: sm.run_upkeep(**kw),
            {"trigger": "cron", "day_of_week": "sun", "hour": 5, "minute": 0},
            "Compact the vector index, optimize full-text search, check integrity."),
    JobSpec("backup", lambda sm, **kw: sm.run_backup(**kw),
            {"trigger": "cron", "hour": 2, "minute": 30},
            "Take a snapshot of the database and keep the newest ones."),
)}


def get_job(name: str) -> JobSpec:
    """The JobSpec called ``name``. Raises NotFound with the list of known jobs."""
    try:
        return JOBS[name]
    except KeyError:
        raise NotFound(f"no job called {name!r}; jobs are: {', '.join(JOBS)}") from None


def job_names() -> list[str]:
    return list(JOBS)


def call_job(spec: JobSpec, sm: Any, progress=None, cancel=None) -> dict:
    """Run ``spec``'s function on ``sm``; a non-dict result becomes ``{"result": ...}``."""
    out = spec.run(sm, progress=progress, cancel=cancel)
    if out is None:
        return {}
    if not isinstance(out, dict):
        from ..api import to_jsonable

        return {"result": to_jsonable(out)}
    return out
