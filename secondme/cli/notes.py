"""``secondme notes …``: browse, read, edit, link and undo memories from the terminal.

Commands (``--json`` output is documented in docs/memory.md)::

    secondme notes list [--kind K] [--tag T] [--person P] [--query Q] [--archived]
                        [--limit N] [--json]
    secondme notes show ID [--json]
    secondme notes edit ID [--text TEXT] [--tags "a b"] [--context C]
    secondme notes pin|unpin|archive|unarchive|delete ID
    secondme notes link A B [--kind K]
    secondme notes unlink A B [--kind K]
    secondme notes history ID [--json]
    secondme notes undo HISTORY_ID
    secondme notes entities [--kind K] [--query Q] [--json]
    secondme notes form [--json]          (the same work as ``secondme jobs run extract``)
"""
from __future__ import annotations

import click

from ..errors import InvalidInput
from .base import CliState, echo_json, terminal_progress


def _note_line(n) -> str:
    flags = ("📌" if n.pinned else "") + (" [archived]" if n.archived else "")
    valid = ""
    if n.valid_from:
        valid = f" ({n.valid_from[:10]}" + (f" → {n.valid_to[:10]}" if n.valid_to else "") + ")"
    return f"{n.id:>6}  {n.kind:<7} {n.text}{valid}{flags}"


@click.group()
def notes() -> None:
    """Browse and edit the memories formed from your chats and documents."""


@notes.command("list")
@click.option("--kind", type=click.Choice(["fact", "summary", "profile", "user"]))
@click.option("--tag", help="Only notes with this tag.")
@click.option("--person", help="Only notes that mention this person/place/organisation.")
@click.option("--query", "-q", help="Only notes containing these words.")
@click.option("--archived", is_flag=True, help="Show archived notes instead.")
@click.option("--pinned", is_flag=True, help="Only pinned notes.")
@click.option("--limit", type=click.IntRange(0, 100000), default=50, show_default=True)
@click.option("--offset", type=click.IntRange(0), default=0)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def list_cmd(state: CliState, kind, tag, person, query, archived, pinned, limit, offset,
             as_json) -> None:
    """List notes, pinned first, most recently changed first."""
    sm = state.service()
    found = sm.list_notes(kind=kind, tag=tag, person=person, query=query, archived=archived,
                          pinned=True if pinned else None, limit=limit, offset=offset)
    if as_json:
        out = []
        for n in found:
            out.append(sm.get_note(n.id).to_json())
        echo_json({"notes": out})
        return
    if not found:
        click.echo("No notes." + ("" if kind or tag or person or query else
                                  " Import something, then run `secondme jobs run extract`."))
        return
    for n in found:
        click.echo(_note_line(n))


@notes.command("show")
@click.argument("note_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def show_cmd(state: CliState, note_id, as_json) -> None:
    """Show one note with its sources, links and versions."""
    d = state.service().get_note(note_id)
    if as_json:
        echo_json(d.to_json())
        return
    n = d.note
    click.echo(_note_line(n))
    if n.fact_type:
        click.echo(f"type:      {n.fact_type}")
    if n.keywords:
        click.echo(f"keywords:  {' '.join(n.keywords)}")
    if n.tags:
        click.echo(f"tags:      {' '.join('#' + t for t in n.tags)}")
    if n.context:
        click.echo(f"context:   {n.context}")
    click.echo(f"strength:  {n.strength:g}   retention: {n.retention:.2f}   version: {n.version}")
    if d.entities:
        click.echo("entities:  " + ", ".join(f"{e.name} ({e.kind})" for e in d.entities))
    click.echo("sources:")
    for s in d.sources:
        if s.kind == "message":
            click.echo(f"  - {s.conversation} · {s.timestamp} · {s.speaker} "
                       f"(message {s.message_id}): {s.text[:160]}")
        elif s.kind == "chunk":
            page = f", page {s.page}" if s.page else ""
            click.echo(f"  - {s.document}{page}, offset {s.offset}: {s.text[:160]}")
        else:
            click.echo(f"  - note {s.note_id}")
    if d.links:
        click.echo("links:")
        for l in d.links:
            arrow = "→" if l.direction == "out" else "←"
            click.echo(f"  {arrow} {l.id} {l.kind} ({l.weight:g}, {l.created_by}): {l.text[:100]}")
    if len(d.versions) > 1:
        click.echo("versions:")
        for v in d.versions:
            click.echo(f"  v{v.version} {v.at} ({v.action}, history {v.history_id}): {v.text}")


@notes.command("edit")
@click.argument("note_id", type=int)
@click.option("--text", help="New text.")
@click.option("--tags", help='New tags, space or comma separated ("" clears them).')
@click.option("--context", help="New one-line context.")
@click.pass_obj
def edit_cmd(state: CliState, note_id, text, tags, context) -> None:
    """Change a note's text, tags or context (the old version stays in history)."""
    if text is None and tags is None and context is None:
        raise InvalidInput("nothing to change: give --text, --tags or --context")
    n = state.service().edit_note(note_id, text=text, tags=tags, context=context)
    click.echo(_note_line(n))


@notes.command("pin")
@click.argument("note_id", type=int)
@click.pass_obj
def pin_cmd(state: CliState, note_id) -> None:
    """Pin a note (never archived by decay)."""
    click.echo(_note_line(state.service().pin_note(note_id, True)))


@notes.command("unpin")
@click.argument("note_id", type=int)
@click.pass_obj
def unpin_cmd(state: CliState, note_id) -> None:
    """Unpin a note."""
    click.echo(_note_line(state.service().pin_note(note_id, False)))


@notes.command("archive")
@click.argument("note_id", type=int)
@click.pass_obj
def archive_cmd(state: CliState, note_id) -> None:
    """Archive a note (hidden, not deleted)."""
    click.echo(_note_line(state.service().archive_note(note_id, True)))


@notes.command("unarchive")
@click.argument("note_id", type=int)
@click.pass_obj
def unarchive_cmd(state: CliState, note_id) -> None:
    """Bring an archived note back."""
    click.echo(_note_line(state.service().archive_note(note_id, False)))


@notes.command("delete")
@click.argument("note_id", type=int)
@click.pass_obj
def delete_cmd(state: CliState, note_id) -> None:
    """Delete a note (undo with the history id printed)."""
    hid = state.service().delete_note(note_id)
    click.echo(f"Deleted note {note_id}. Undo with: secondme notes undo {hid}")


@notes.command("link")
@click.argument("a", type=int)
@click.argument("b", type=int)
@click.option("--kind", default="related", show_default=True,
              type=click.Choice(["related", "same_entity", "updates", "contradicts", "part_of"]))
@click.pass_obj
def link_cmd(state: CliState, a, b, kind) -> None:
    """Link note A to note B (a link you make is never removed automatically)."""
    state.service().link_notes(a, b, kind)
    click.echo(f"Linked {a} → {b} ({kind}).")


@notes.command("unlink")
@click.argument("a", type=int)
@click.argument("b", type=int)
@click.option("--kind", type=click.Choice(["related", "same_entity", "updates", "contradicts",
                                           "part_of", "wikilink"]))
@click.pass_obj
def unlink_cmd(state: CliState, a, b, kind) -> None:
    """Remove the links between notes A and B (of one kind, or all)."""
    n = state.service().unlink_notes(a, b, kind)
    click.echo(f"Removed {n} link{'s' if n != 1 else ''}.")


@notes.command("history")
@click.argument("note_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def history_cmd(state: CliState, note_id, as_json) -> None:
    """Every recorded change of a note (ids for `notes undo`)."""
    entries = state.service().note_history(note_id)
    if as_json:
        echo_json({"history": entries})
        return
    if not entries:
        click.echo(f"No history for note {note_id}.")
    for h in entries:
        text = ""
        snap = h.after or h.before
        if isinstance(snap, dict) and isinstance(snap.get("note"), dict):
            text = snap["note"]["text"][:80]
        click.echo(f"{h.id:>6}  {h.at}  {h.action:<10} {h.actor:<6}"
                   f"{' (undone)' if h.undone else ''}  {text}")


@notes.command("undo")
@click.argument("history_id", type=int)
@click.pass_obj
def undo_cmd(state: CliState, history_id) -> None:
    """Undo one recorded change (see `notes history ID`)."""
    n = state.service().undo(history_id)
    click.echo(f"Undone. {_note_line(n)}")


@notes.command("entities")
@click.option("--kind", type=click.Choice(["person", "place", "organisation", "other"]))
@click.option("--query", "-q")
@click.option("--limit", type=click.IntRange(1, 100000), default=100)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def entities_cmd(state: CliState, kind, query, limit, as_json) -> None:
    """People, places and organisations in your memories."""
    ents = state.service().list_entities(kind=kind, query=query, limit=limit)
    if as_json:
        echo_json({"entities": ents})
        return
    for e in ents:
        me = " (me)" if e.is_me else ""
        also = f"  aka {', '.join(e.aliases)}" if e.aliases else ""
        click.echo(f"{e.id:>6}  {e.kind:<12} {e.name}{me}  ×{e.mentions}{also}")


@notes.command("form")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def form_cmd(state: CliState, as_json) -> None:
    """Form memories from everything imported and not formed yet (runs to completion)."""
    progress, done = terminal_progress()
    try:
        sm = state.service()
        sm.vector_role = "batch"   # no search here: the index leaves memory meanwhile
        rep = sm.run_extract(progress=progress)
    finally:
        done()
    if as_json:
        echo_json(rep)
    else:
        click.echo(f"{rep['windows']} windows, {rep['facts']} facts: {rep['added']} new notes, "
                   f"{rep['merged']} merged, {rep['refined']} refined, {rep['invalidated']} "
                   f"superseded, {rep['rejected']} rejected ({rep['extractor']}, "
                   f"{rep['seconds']:.1f} s)")
