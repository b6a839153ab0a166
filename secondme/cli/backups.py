"""``secondme backup list|now|restore`` and ``secondme recover``: database snapshots.

``recover`` works without opening the service: it is what to run when the store cannot
be opened (a damaged file), so it checks and restores through the privacy core directly.
"""
from __future__ import annotations

import sys
from typing import Optional

import click

from .base import CliState, echo_json, terminal_passphrase, terminal_progress


@click.group("backup")
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


@click.command("recover")
@click.option("--yes", is_flag=True, help="Restore without asking.")
@click.option("--backup", "name", help="Restore this backup instead of the latest.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def recover(state: CliState, yes: bool, name: Optional[str], as_json: bool) -> None:
    """Check the store and, if it is damaged, restore the latest sound backup.

    Never replaces a database that opens; says what going back to the backup loses and
    asks first (unless --yes).
    """
    from ..paths import resolve_home
    from ..store.crypto import EncryptionMarker
    from ..store.recovery import check_startup, plan_recovery, recover_latest

    home = resolve_home(state.home)
    passphrase = other = None
    chk = check_startup(home)
    if chk.state == "needs_passphrase":
        passphrase = terminal_passphrase()
        chk = check_startup(home, passphrase)
    marker = EncryptionMarker.read(home)
    if chk.state == "locked" and marker is not None and marker.pending and \
            marker.needs_passphrase and sys.stdin.isatty():
        # an interrupted key change: only both passphrases can show the file is damaged
        click.echo(chk.message, err=True)
        other = click.prompt("The other passphrase (old or new)", hide_input=True, err=True)
        chk = check_startup(home, passphrase, other_passphrase=other)
    if chk.state in ("ok", "new") and not name:
        out = {"state": chk.state, "restored": None}
        echo_json(out) if as_json else click.echo("The store is healthy; nothing to do.")
        return
    plan = plan_recovery(home, passphrase, name, other_passphrase=other)
    click.echo(chk.message, err=True)
    click.echo(plan.describe() + ".", err=True)
    if not yes:
        click.confirm("Restore this backup now?", abort=True, err=True)
    rep = recover_latest(home, passphrase, name, other_passphrase=other)
    if as_json:
        echo_json({"state": chk.state, **rep})
    else:
        click.echo(f"Restored {rep['restored']}"
                   + (f"; the damaged file was kept as {rep['damaged_copy']}"
                      if rep["damaged_copy"] else ""))
