"""The registry of background jobs: what each one does and when it runs.

A job is ``fn(sm, progress=None, cancel=None) -> dict`` (a summary of what it did). Jobs
are resumable (their state is in the database), honour ``cancel`` between units of work
and keep transactions short. The functions are named as ``"module:function"`` and
imported only when the job runs, so that importing the service stays light and a part
of the app that is missing in this build makes its job fail with a clear message
instead of breaking the app.

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

import importlib
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import JobError, NotFound


@dataclass(frozen=True)
class JobSpec:
    """One registered job."""

    name: str
    target: str                  # "module:function"
    schedule: dict               # APScheduler trigger: {"trigger": "cron"|"interval", ...}
    description: str

    def load(self) -> Callable[..., dict]:
        """The job function. Raises JobError when the part providing it is missing."""
        module, _, attr = self.target.partition(":")
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name and module.startswith(e.name):
                raise JobError(f"the {self.name!r} job is not available in this build "
                               f"({module} is missing)") from e
            raise
        fn = getattr(mod, attr, None)
        if fn is None:
            raise JobError(f"the {self.name!r} job is not available in this build "
                           f"({module} has no {attr})")
        return fn

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
    JobSpec("extract", "secondme.memory.extract:run_extract",
            {"trigger": "interval", "minutes": 30},
            "Index new items, form memories from them, index the new notes."),
    JobSpec("decay", "secondme.lifecycle.decay:run_decay",
            {"trigger": "cron", "hour": 4, "minute": 0},
            "Let memories fade (R = exp(-days / (tau * S))); archive faded ones."),
    JobSpec("consolidate", "secondme.lifecycle.consolidate:run_consolidate",
            {"trigger": "cron", "hour": 3, "minute": 0},
            "Merge duplicates, resolve contradictions, write summaries and the profile."),
    JobSpec("upkeep", "secondme.lifecycle.upkeep:run_upkeep",
            {"trigger": "cron", "day_of_week": "sun", "hour": 5, "minute": 0},
            "Compact the vector index, optimize full-text search, check integrity."),
    JobSpec("backup", "secondme.lifecycle.backup:run_backup",
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
    fn = spec.load()
    out = fn(sm, progress=progress, cancel=cancel)
    if out is None:
        return {}
    if not isinstance(out, dict):
        from ..cli import to_jsonable

        return {"result": to_jsonable(out)}
    return out
