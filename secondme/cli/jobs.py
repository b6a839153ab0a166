"""``secondme jobs …``: the background jobs, from the terminal.

``jobs list --json`` prints ``{"jobs": [{"name", "next_run", "last_run", "last_outcome",
"running", "paused", "progress", "quarantined", ...}], "quarantined_windows": [...]}``;
``jobs run NAME`` runs a job to completion in the foreground with a progress bar and exits
non-zero when it fails (1), is unknown (2), or is cancelled (130); ``jobs run extract
--retry-failed`` first offers the windows formation set aside again.
"""
from __future__ import annotations

import json

import click

from .base import CliState, echo_json, terminal_progress


@click.group("jobs")
def jobs() -> None:
    """Background jobs: extract, decay, consolidate, upkeep, backup."""


@jobs.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def jobs_list(state: CliState, as_json: bool) -> None:
    """Show every job: next and last run, outcome, running, paused, progress."""
    sm = state.service()
    infos = sm.jobs_list()
    if as_json:
        echo_json({"jobs": infos, "quarantined_windows": sm.quarantined_windows()})
        return
    for j in infos:
        status = ("running" + (f" {j.progress['stage']} {j.progress['done']}/"
                               f"{j.progress['total'] or '?'}" if j.progress else "")
                  if j.running else (j.last_outcome or "never run"))
        flags = " (paused)" if j.paused else ""
        click.echo(f"{j.name:<12} {status:<24} last {j.last_run or '-':<26} "
                   f"next {j.next_run or '-'}{flags}")
        if j.last_outcome == "failed" and j.last_error and not j.running:
            click.echo(f"{'':<12} error: {j.last_error}")
        if j.quarantined:
            click.echo(f"{'':<12} {j.quarantined} window(s) set aside; "
                       f"retry with: secondme jobs run {j.name} --retry-failed")
            for w in sm.quarantined_windows()[:5]:
                if not w.retrying:
                    click.echo(f"{'':<12} - {w.problem}")


@jobs.command("run")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the job's summary as JSON.")
@click.option("--retry-failed", is_flag=True,
              help="extract only: try again the windows formation set aside.")
@click.pass_obj
def jobs_run(state: CliState, name: str, as_json: bool, retry_failed: bool) -> None:
    """Run job NAME now, in the foreground, to completion."""
    if retry_failed and name != "extract":
        raise click.UsageError("--retry-failed applies to the extract job only")
    progress, done = terminal_progress()
    try:
        sm = state.service()
        sm.vector_role = "batch"   # no search here: formation lets the index leave memory
        if retry_failed:
            summary = sm.retry_failed_windows(progress=progress)
        else:
            summary = sm.run_job(name, progress=progress)
    finally:
        done()
    if as_json:
        echo_json({"name": name, "outcome": "ok", "summary": summary})
        return
    click.echo(f"{name}: ok")
    for k, v in summary.items():
        if isinstance(v, (dict, list)):
            v = json.dumps(v, ensure_ascii=False, default=str)
            if len(v) > 200:
                v = v[:197] + "..."
        click.echo(f"  {k}: {v}")


@jobs.command("pause")
@click.argument("name")
@click.pass_obj
def jobs_pause(state: CliState, name: str) -> None:
    """No new scheduled runs of NAME until resumed."""
    state.service().pause_job(name)
    click.echo(f"{name}: paused")


@jobs.command("resume")
@click.argument("name")
@click.pass_obj
def jobs_resume(state: CliState, name: str) -> None:
    """Let NAME run on its schedule again."""
    state.service().resume_job(name)
    click.echo(f"{name}: resumed")


@jobs.command("cancel")
@click.argument("name")
@click.pass_obj
def jobs_cancel(state: CliState, name: str) -> None:
    """Ask a running NAME to stop (in this or another process)."""
    if state.service().cancel_job(name):
        click.echo(f"{name}: cancelling")
    else:
        click.echo(f"{name}: not running")
