"""Command line for privacy: init/encryption, keys, sources, forget, wipe, export, recover.

    secondme [--home DIR] init [--encrypt] [--passphrase]
    secondme [--home DIR] encrypt [--passphrase]          encrypt an existing store
    secondme [--home DIR] key change [--passphrase|--keyring]
    secondme [--home DIR] key status [--json]
    secondme [--home DIR] sources list [--json]
    secondme [--home DIR] sources delete ID [--yes]
    secondme [--home DIR] forget person NAME [--messages] [--yes]
    secondme [--home DIR] forget topic QUERY [--yes]
    secondme [--home DIR] wipe --yes
    secondme [--home DIR] export DIR [--force]
    secondme [--home DIR] import-dump FILE
    secondme [--home DIR] recover [--yes] [--backup NAME]   restore a damaged store

Passphrases are read with a hidden prompt on a terminal, or from ``SECONDME_PASSPHRASE``.
Only click is imported at import time.
"""
from __future__ import annotations

import os
import sys
from typing import Optional

import click


def _terminal_prompt() -> Optional[str]:
    if not sys.stdin.isatty():
        return None
    return click.prompt("Passphrase", hide_input=True, err=True)


def _new_passphrase() -> str:
    """The new passphrase: SECONDME_PASSPHRASE, or asked twice on a terminal."""
    env = os.environ.get("SECONDME_PASSPHRASE")
    if env:
        return env
    if not sys.stdin.isatty():
        raise click.UsageError("give the passphrase with SECONDME_PASSPHRASE (no terminal "
                               "to ask on)")
    return click.prompt("New passphrase", hide_input=True, confirmation_prompt=True, err=True)


def _removal_line(rep) -> str:
    parts = [f"{getattr(rep, k)} {k}" for k in ("sources", "conversations", "messages",
                                                  "documents", "chunks", "notes", "entities",
                                                  "vectors") if getattr(rep, k)]
    return f"{rep.action}: removed " + (", ".join(parts) if parts else "nothing")


def register(main: click.Group) -> None:
    """Add the privacy commands to ``main``."""
    from . import crypto
    from .cli import CliState, echo_json, terminal_progress

    crypto.set_default_prompt(_terminal_prompt)

    @main.command()
    @click.option("--encrypt", is_flag=True, help="Encrypt the store (SQLCipher).")
    @click.option("--passphrase", "use_passphrase", is_flag=True,
                  help="Derive the key from a passphrase instead of keeping a random key "
                       "in the system keyring (the default when no keyring exists).")
    @click.option("--json", "as_json", is_flag=True)
    @click.pass_obj
    def init(state: CliState, encrypt: bool, use_passphrase: bool, as_json: bool) -> None:
        """Create a new store in the data directory, optionally encrypted."""
        from .paths import resolve_home

        home = resolve_home(state.home)
        passphrase = None
        if encrypt and (use_passphrase or not crypto.keyring_available()):
            if not use_passphrase:
                click.echo("No system keyring is available: the key will come from a "
                           "passphrase.", err=True)
            passphrase = _new_passphrase()
        rep = crypto.init_store(home, encrypt=encrypt, passphrase=passphrase,
                                use_keyring=False if use_passphrase else None)
        if as_json:
            echo_json(rep)
        elif rep.encrypted:
            where = ("the system keyring" if rep.method == "keyring"
                     else "your passphrase (keep it safe: without it the data is lost)")
            click.echo(f"Created an encrypted store in {rep.home}; the key comes from {where}.")
        else:
            click.echo(f"Created a store in {rep.home}.")

    @main.command()
    @click.option("--passphrase", "use_passphrase", is_flag=True,
                  help="Derive the key from a passphrase.")
    @click.pass_obj
    def encrypt(state: CliState, use_passphrase: bool) -> None:
        """Encrypt an existing, unencrypted store (database, backups, index)."""
        passphrase = _new_passphrase() if (use_passphrase or not crypto.keyring_available()) \
            else None
        rep = state.service().encrypt_store(passphrase=passphrase,
                                            use_keyring=False if use_passphrase else None)
        click.echo(f"Encrypted {', '.join(rep['files'])}; the key is kept by "
                   f"{'the system keyring' if rep['method'] == 'keyring' else 'your passphrase'}.")

    @main.group()
    def key() -> None:
        """The encryption key of an encrypted store."""

    @key.command("change")
    @click.option("--passphrase", "use_passphrase", is_flag=True,
                  help="Use a (new) passphrase for the new key.")
    @click.option("--keyring", "use_keyring", is_flag=True,
                  help="Use a new random key kept in the system keyring.")
    @click.pass_obj
    def key_change(state: CliState, use_passphrase: bool, use_keyring: bool) -> None:
        """Re-encrypt the store with a new key (PRAGMA rekey; backups and index too)."""
        if use_passphrase and use_keyring:
            raise click.UsageError("choose --passphrase or --keyring, not both")
        sm = state.service()
        marker = crypto.EncryptionMarker.read(sm.home)
        if marker is None:
            raise click.UsageError("this store is not encrypted; use `secondme encrypt`")
        to_passphrase = use_passphrase or (not use_keyring and marker.method == "passphrase")
        passphrase = _new_passphrase() if to_passphrase else None
        rep = sm.change_key(passphrase=passphrase, use_keyring=True if use_keyring else None)
        click.echo(f"Key changed ({rep['method']}); re-encrypted: {', '.join(rep['files'])}.")

    @key.command("status")
    @click.option("--json", "as_json", is_flag=True)
    @click.pass_obj
    def key_status(state: CliState, as_json: bool) -> None:
        """Whether the store is encrypted and where its key comes from."""
        from .paths import resolve_home

        info = crypto.describe(resolve_home(state.home))
        if as_json:
            echo_json(info)
        elif not info["encrypted"]:
            click.echo("not encrypted")
        else:
            click.echo(f"encrypted ({info['cipher']}); key from {info['method']}"
                       + ("; a key change was interrupted" if info["key_change_pending"]
                          else ""))

    @main.group()
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

    @main.group()
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

    @main.command()
    @click.option("--yes", is_flag=True, help="Confirm: delete everything.")
    @click.pass_obj
    def wipe(state: CliState, yes: bool) -> None:
        """Delete everything in the data directory (notes, messages, backups, index)."""
        if not yes:
            raise click.UsageError("wipe deletes everything, backups included; "
                                   "run it again with --yes to confirm")
        rep = state.service().wipe()
        click.echo(_removal_line(rep))

    @main.command("export")
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

    @main.command("import-dump")
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

    @main.command()
    @click.option("--yes", is_flag=True, help="Restore without asking.")
    @click.option("--backup", "name", help="Restore this backup instead of the latest.")
    @click.option("--json", "as_json", is_flag=True)
    @click.pass_obj
    def recover(state: CliState, yes: bool, name: Optional[str], as_json: bool) -> None:
        """Check the store and, if it is damaged, restore the latest sound backup."""
        from .paths import resolve_home
        from .privacy import check_startup, recover_latest

        home = resolve_home(state.home)
        chk = check_startup(home)
        if chk.state == "needs_passphrase":
            chk = check_startup(home, _terminal_prompt())
        if chk.state in ("ok", "new") and not name:
            out = {"state": chk.state, "restored": None}
            echo_json(out) if as_json else click.echo("The store is healthy; nothing to do.")
            return
        if chk.state == "locked":
            from .errors import EncryptionError

            raise EncryptionError(chk.message)
        if not as_json:
            click.echo(chk.message or "Restoring a backup.", err=True)
        if not yes:
            click.confirm("Restore the latest sound backup now?", abort=True, err=True)
        rep = recover_latest(home, name=name)
        if as_json:
            echo_json({"state": chk.state, **rep})
        else:
            click.echo(f"Restored {rep['restored']}"
                       + (f"; the damaged file was kept as {rep['damaged_copy']}"
                          if rep["damaged_copy"] else ""))
