"""``secondme jobs …`` and ``secondme backup …``.

``jobs list --json`` prints ``{"jobs": [{"name", "next_run", "last_run", "last_outcome",
"running", "paused", "progress", ...}]}``; ``jobs run NAME`` runs a job to completion in
the foreground with a progress bar and exits non-zero when it fails (1), is unknown
(2), or is cancelled (130).
"""
from __future__ import annotations

import click


def register(main: click.Group) -> None:
    """Add the ``jobs`` and ``backup`` command groups to ``main``."""
    from ..cli import CliState, echo_json, terminal_progress

    @main.group()
    def jobs() -> None:
        """Background jobs: extract, decay, consolidate, upkeep, backup."""

    @jobs.command("list")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    @click.pass_obj
    def jobs_list(state: CliState, as_json: bool) -> None:
        """Show every job: next and last run, outcome, running, paused, progress."""
        infos = state.service().jobs_list()
        if as_json:
            echo_json({"jobs": infos})
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

    @jobs.command("run")
    @click.argument("name")
    @click.option("--json", "as_json", is_flag=True, help="Print the job's summary as JSON.")
    @click.pass_obj
    def jobs_run(state: CliState, name: str, as_json: bool) -> None:
        """Run job NAME now, in the foreground, to completion."""
        progress, done = terminal_progress()
        try:
            summary = state.service().run_job(name, progress=progress)
        finally:
            done()
        if as_json:
            echo_json({"name": name, "outcome": "ok", "summary": summary})
        else:
            click.echo(f"{name}: ok")
            for k, v in summary.items():
                if isinstance(v, (dict, list)):
                    import json

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

    @main.group()
    def backup() -> None:
        """Database snapshots in <home>/backups."""

    @backup.command("list")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    @click.pass_obj
    def backup_list(state: CliState, as_json: bool) -> None:
        """Show the snapshots, newest first."""
        infos = state.service().backups_list()
        if as_json:
            echo_json({"backups": infos})
            return
        if not infos:
            click.echo("no backups yet (`secondme backup now` takes one)")
        for b in infos:
            click.echo(f"{b.name:<36} {b.created_at:<26} {b.size / 1e6:8.2f} MB  {b.kind}")

    @backup.command("now")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    @click.pass_obj
    def backup_now(state: CliState, as_json: bool) -> None:
        """Take a snapshot now (as the backup job, so never twice at once)."""
        progress, done = terminal_progress()
        try:
            summary = state.service().run_job("backup", progress=progress)
        finally:
            done()
        if as_json:
            echo_json(summary)
        else:
            click.echo(f"backup written: {summary['backup']} "
                       f"({summary['size'] / 1e6:.2f} MB); keeping {len(summary['kept'])}")

    @backup.command("restore")
    @click.argument("name")
    @click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
    @click.pass_obj
    def backup_restore(state: CliState, name: str, yes: bool) -> None:
        """Replace the database by snapshot NAME (the current one is kept as a
        pre-restore backup)."""
        sm = state.service()
        if not yes and not click.confirm(
                f"Replace the current database by {name}? (it is kept as a pre-restore "
                "backup)", default=False, err=True):
            raise click.exceptions.Exit(1)
        out = sm.restore_backup(name)
        click.echo(f"restored {out['restored']}; the previous database is kept as "
                   f"{out['pre_restore']}")
