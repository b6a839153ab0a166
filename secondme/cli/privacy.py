"""Privacy commands: what is stored, deleting it, and taking it with you.

    secondme [--home DIR] sources list [--json]
    secondme [--home DIR] sources delete ID [--yes]
    secondme [--home DIR] forget person NAME [--messages] [--yes]
    secondme [--home DIR] forget topic QUERY [--yes]
    secondme [--home DIR] wipe --yes
    secondme [--home DIR] export DIR [--force]
    secondme [--home DIR] import-dump FILE

Deleting asks for confirmation on the terminal unless ``--yes`` is given.
"""
from __future__ import annotations

import click

from .base import CliState, echo_json, terminal_progress


def _removal_line(rep) -> str:
    """One line saying what a RemovalReport removed, e.g. ``forget: removed 3 notes``."""
    counts = {"sources": rep.sources, "conversations": rep.conversations,
              "messages": rep.messages, "documents": rep.documents, "chunks": rep.chunks,
              "notes": rep.notes, "entities": rep.entities, "vectors": rep.vectors}
    parts = [f"{n} {what}" for what, n in counts.items() if n]
    return f"{rep.action}: removed " + (", ".join(parts) if parts else "nothing")


@click.group("sources")
def sources() -> None:
    """Imported sources: list them, delete one with everything derived from it."""


@sources.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def sources_list(state: CliState, as_json: bool) -> None:
    """Every imported source with what is stored from it."""
    rows = state.service().list_sources()
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("no sources")
    for s in rows:
        click.echo(f"{s.id:>4}  {s.kind:<10} {s.imported_at[:16]}  {s.messages} messages, "
                   f"{s.chunks} chunks, {s.notes} notes  {s.path}")


@sources.command("delete")
@click.argument("source_id", type=int)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def sources_delete(state: CliState, source_id: int, yes: bool, as_json: bool) -> None:
    """Delete a source and everything derived from it (notes, links, vectors)."""
    sm = state.service()
    if not yes:
        match = [s for s in sm.list_sources() if s.id == source_id]
        if match:
            s = match[0]
            click.confirm(f"Delete {s.path} ({s.messages} messages, {s.chunks} chunks, "
                          f"{s.notes} notes citing it)?", abort=True, err=True)
    rep = sm.delete_source(source_id)
    echo_json(rep) if as_json else click.echo(_removal_line(rep))


@click.group("forget")
def forget() -> None:
    """Forget a person or a topic."""


@forget.command("person")
@click.argument("name")
@click.option("--messages", is_flag=True,
              help="Also delete the messages they wrote or that mention them.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def forget_person(state: CliState, name: str, messages: bool, yes: bool,
                  as_json: bool) -> None:
    """Delete every note about NAME and the person itself."""
    if not yes:
        click.confirm(f"Forget {name!r}" + (" and their messages" if messages else "")
                      + "?", abort=True, err=True)
    rep = state.service().forget_person(name, messages=messages)
    echo_json(rep) if as_json else click.echo(_removal_line(rep))


@forget.command("topic")
@click.argument("query")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def forget_topic(state: CliState, query: str, yes: bool, as_json: bool) -> None:
    """Delete every note containing all the words of QUERY."""
    sm = state.service()
    if not yes:
        n = len(sm.notes_matching(query))
        click.confirm(f"Forget {n} notes matching {query!r}?", abort=True, err=True)
    rep = sm.forget_topic(query)
    echo_json(rep) if as_json else click.echo(_removal_line(rep))


@click.command("wipe")
@click.option("--yes", is_flag=True, help="Confirm: delete everything.")
@click.pass_obj
def wipe(state: CliState, yes: bool) -> None:
    """Delete everything in the data directory (notes, messages, backups, index)."""
    if not yes:
        raise click.UsageError("wipe deletes everything, backups included; "
                               "run it again with --yes to confirm")
    rep = state.service().wipe()
    click.echo(_removal_line(rep))


@click.command("export")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--force", is_flag=True, help="Write into a non-empty folder.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def export_cmd(state: CliState, directory: str, force: bool, as_json: bool) -> None:
    """Export a Markdown vault of the notes and a lossless JSON dump to DIRECTORY."""
    progress, done = terminal_progress()
    try:
        rep = state.service().export_all(directory, overwrite=force, progress=progress)
    finally:
        done()
    if as_json:
        echo_json(rep)
    else:
        click.echo(f"Exported {rep.notes} notes to {rep.directory} and the full store to "
                   f"{rep.dump} (not encrypted: keep it safe).")


@click.command("import-dump")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--no-index", is_flag=True, help="Do not compute embeddings now.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def import_dump(state: CliState, file: str, no_index: bool, as_json: bool) -> None:
    """Restore a secondme-dump.json into an empty data directory."""
    progress, done = terminal_progress()
    try:
        rep = state.service().import_dump(file, index=not no_index, progress=progress)
    finally:
        done()
    if as_json:
        echo_json(rep)
    else:
        click.echo("Restored " + ", ".join(f"{n} {t}" for t, n in rep.tables.items() if n)
                   + (f"; indexed {rep.indexed} items" if rep.indexed else ""))
