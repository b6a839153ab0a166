"""``secondme import``: import chat exports and documents from the command line.

Exit codes: 0 everything imported; 3 some conversations or files could not be read but
the rest imported (the failures are printed on stderr and listed in ``--json``);
1 a path failed entirely (nothing could be imported from it); 2 bad arguments;
130 cancelled (Ctrl-C).
"""
from __future__ import annotations

import sys
from typing import Optional

import click

from ..errors import DataDirError, SecondMeError
from ..ingest.formats import format_choices
from .base import CliState, echo_json, terminal_progress

EXIT_PARTIAL = 3
EXIT_FAILED = 1


@click.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--format", "fmt", type=click.Choice(format_choices()),
              help="Force a format instead of detecting it by content.")
@click.option("--me", multiple=True, metavar="NAME",
              help="A name you appear under in the chats (repeatable); adds to the "
                   "me_name/me_aliases settings.")
@click.option("--timezone", "tz", metavar="ZONE",
              help="IANA time zone of exports without zones (WhatsApp, Signal); "
                   "default: the import_timezone setting, else this computer's.")
@click.option("--detect", "detect_only", is_flag=True,
              help="Only say what each path holds; import nothing.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def import_(state: CliState, paths: tuple[str, ...], fmt: Optional[str], me: tuple[str, ...],
            tz: Optional[str], detect_only: bool, as_json: bool) -> None:
    """Import chat exports and documents (files, folders or ZIP archives).

    Formats are detected by content: ChatGPT, Claude, WhatsApp, Telegram, Discord,
    Slack, Signal (signal-export Markdown), secondme's generic JSON/JSON Lines,
    Markdown/Obsidian, text, PDF, DOCX and HTML. Importing the same export again
    adds nothing; a newer export adds only the new messages.
    """
    sm = state.service()
    if detect_only:
        _detect(sm, paths, fmt, as_json)
        return
    progress, done = terminal_progress(enabled=True)
    try:
        rep = sm.import_paths(list(paths), format=fmt, me=list(me), timezone=tz,
                              progress=progress, raise_on_failure=False)
    except DataDirError as e:  # the disk filled half way: say what was kept, then stop
        if not _stopped(getattr(e, "report", None), e, as_json):
            raise
        state.close()
        sys.exit(EXIT_FAILED)
    finally:
        done()
    if as_json:
        echo_json({"sources": [_source_json(s) for s in rep.sources]})
    else:
        for s in rep.sources:
            click.echo(_summary(s))
    for s in rep.sources:
        for e in s.errors:
            click.echo(("Error: " if s.failed else "Warning: ") + _error_line(s, e),
                       err=True)
    if rep.failed:
        state.close()
        sys.exit(EXIT_FAILED)
    if rep.has_errors:
        n = sum(len(s.errors) for s in rep.sources)
        click.echo(f"{n} problem{'s' if n != 1 else ''}: the rest was imported.",
                   err=True)
        state.close()
        sys.exit(EXIT_PARTIAL)


def _stopped(rep, err: DataDirError, as_json: bool) -> bool:
    """Report an import the data directory stopped (disk full): what each path had
    stored, its problems, and last the one that stopped it. False: nothing to report."""
    if rep is None or not rep.sources:
        return False
    if as_json:
        echo_json({"sources": [_source_json(s) for s in rep.sources]})
    else:
        for s in rep.sources:
            click.echo(_summary(s))
    stopped = getattr(err, "source_report", None)
    for s in rep.sources:
        for e in s.errors:
            stop = s is stopped and e is s.errors[-1]  # the problem that stopped it
            click.echo(("Error: " if stop else "Warning: ") + _error_line(s, e), err=True)
    if stopped is None:
        click.echo(f"Error: {err}", err=True)
    return True


def _detect(sm, paths, fmt, as_json) -> None:
    out, failed = [], False
    for p in paths:
        try:
            d = sm.detect(p, fmt)
            out.append({"path": d.path, "format": d.format, "kind": d.kind,
                        "description": d.description, "formats": d.formats,
                        "files": d.files, "files_skipped": d.files_skipped})
        except SecondMeError as e:
            failed = True
            out.append({"path": str(p), "format": None, "kind": None, "error": str(e)})
    if as_json:
        echo_json({"sources": out})
    else:
        for d in out:
            if d.get("error"):
                click.echo(f"Error: {d['error']}", err=True)
            else:
                click.echo(f"{d['path']}: {d['description']}")
    if failed:
        sys.exit(EXIT_FAILED)


def _source_json(s) -> dict:
    return {"path": s.path, "format": s.format, "conversations": s.conversations,
            "messages_added": s.messages_added, "messages_skipped": s.messages_skipped,
            "documents": s.documents, "errors": s.errors,
            "kind": s.kind, "formats": s.formats, "source_id": s.source_id,
            "conversations_added": s.conversations_added,
            "documents_skipped": s.documents_skipped, "files_skipped": s.files_skipped,
            "failed": s.failed, "seconds": s.seconds}


def _summary(s) -> str:
    if s.failed:
        return f"{s.path}: nothing imported"
    parts = []
    if s.conversations or not s.documents:
        parts.append(f"{s.conversations} conversation{'s' if s.conversations != 1 else ''} "
                     f"({s.conversations_added} new), {s.messages_added} new message"
                     f"{'s' if s.messages_added != 1 else ''}, {s.messages_skipped} "
                     "already imported")
    if s.documents or s.documents_skipped:
        parts.append(f"{s.documents} document{'s' if s.documents != 1 else ''} imported, "
                     f"{s.documents_skipped} unchanged")
    return f"{s.path} [{s.format}]: " + "; ".join(parts)


def _error_line(s, e: dict) -> str:
    where = e.get("file") or s.path
    if e.get("position"):
        where += f" ({e['position']})"
    cid = e.get("conversation")
    conv = f" conversation {cid}:" if cid and str(cid) not in (e.get("position") or "") else ""
    return f"{where}:{conv} {e.get('problem')}"
