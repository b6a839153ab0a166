"""``secondme doctor``: versions, data dir, models, keyring, encryption, index, integrity.

Exits 1 when the report lists a problem (printed on stderr), so scripts can check it.
"""
from __future__ import annotations

import sys

import click

from .base import CliState, echo_json


@click.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--repair", is_flag=True,
              help="Make the data directory private again (folders 0700, files 0600).")
@click.pass_obj
def doctor(state: CliState, as_json: bool, repair: bool) -> None:
    """Check versions, models, keyring, index health, permissions and database integrity."""
    if repair:
        fixed = state.service().repair_permissions()
        if fixed and not as_json:
            click.echo(f"made private: {len(fixed)} file{'s' if len(fixed) != 1 else ''} "
                       "or folder" + ("s" if len(fixed) != 1 else ""))
    rep = state.service().doctor()
    if as_json:
        echo_json(rep)
    else:
        _print_report(rep)
    if not rep["ok"]:
        state.close()
        sys.exit(1)


def _print_report(rep: dict) -> None:
    click.echo(f"secondme {rep['versions']['secondme']}  (Python {rep['versions']['python']},"
               f" SQLite {rep['versions']['sqlite']})")
    click.echo(f"data dir:   {rep['home']}")
    emb = rep["models"].get("embedding", {})
    llm = rep["models"].get("llm", {})
    click.echo(f"embedding:  {emb.get('name')} {'found' if emb.get('found') else 'MISSING'}")
    click.echo(f"llm:        {llm.get('name', '?')} "
               f"{'found' if llm.get('found') else 'MISSING'}")
    click.echo(f"keyring:    {rep['keyring']}")
    enc = rep.get("encryption") or {}
    click.echo("encryption: " + ("on, key from " + str(enc.get("method"))
                                 if enc.get("encrypted") else "off"))
    idx = rep["index"]
    click.echo(f"index:      {idx.get('health')} ({idx.get('items', 0)} items, "
               f"{idx.get('pending', 0)} waiting)")
    kw = rep.get("keyword_index") or {}
    newer = (f", {kw['newer']} newer (a search indexes them on the side)" if kw.get("newer")
             else "")
    click.echo(f"keywords:   {kw.get('health')}{newer}")
    click.echo(f"integrity:  {rep['integrity']}")
    perms = rep.get("permissions") or {}
    click.echo("privacy:    " + ("only you can read the data directory" if perms.get("ok")
                                 else f"{len(perms.get('wider') or [])} readable by others"))
    click.echo("counts:     " + ", ".join(f"{k} {v}" for k, v in rep["counts"].items()))
    for p in rep["problems"]:
        click.echo(f"PROBLEM:    {p}", err=True)
