"""``secondme init``, ``encrypt`` and ``key change|status``: encryption at rest.

    secondme [--home DIR] init [--encrypt] [--passphrase]
    secondme [--home DIR] encrypt [--passphrase]          encrypt an existing store
    secondme [--home DIR] key change [--passphrase|--keyring]
    secondme [--home DIR] key status [--json]

Passphrases are read with a hidden prompt on a terminal, or from ``SECONDME_PASSPHRASE``
(for ``key change``: that is the current one, the new one comes from
``SECONDME_NEW_PASSPHRASE``).
``init`` and ``key status`` work without opening the service (there is no store yet, or
it may be locked), so they call the encryption core directly.
"""
from __future__ import annotations

import os
import sys

import click

from ..errors import InvalidInput
from .base import CliState, echo_json

NEW_PASSPHRASE_ENV = "SECONDME_NEW_PASSPHRASE"


def _new_passphrase(env_name: str = "SECONDME_PASSPHRASE") -> str:
    """The new passphrase: from ``env_name``, or asked twice on a terminal."""
    env = os.environ.get(env_name)
    if env:
        return env
    if not sys.stdin.isatty():
        raise InvalidInput(f"give the new passphrase with {env_name} (there is no "
                           "terminal to ask on)")
    return click.prompt("New passphrase", hide_input=True, confirmation_prompt=True, err=True)


@click.command("init")
@click.option("--encrypt", is_flag=True, help="Encrypt the store (SQLCipher).")
@click.option("--passphrase", "use_passphrase", is_flag=True,
              help="Derive the key from a passphrase instead of keeping a random key "
                   "in the system keyring (the default when no keyring exists).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def init(state: CliState, encrypt: bool, use_passphrase: bool, as_json: bool) -> None:
    """Create a new store in the data directory, optionally encrypted."""
    from ..paths import resolve_home
    from ..store import crypto

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


@click.command("encrypt")
@click.option("--passphrase", "use_passphrase", is_flag=True,
              help="Derive the key from a passphrase.")
@click.pass_obj
def encrypt(state: CliState, use_passphrase: bool) -> None:
    """Encrypt an existing, unencrypted store (database, backups, index)."""
    from ..store.crypto import keyring_available

    passphrase = _new_passphrase() if (use_passphrase or not keyring_available()) else None
    rep = state.service().encrypt_store(passphrase=passphrase,
                                        use_keyring=False if use_passphrase else None)
    click.echo(f"Encrypted {', '.join(rep['files'])}; the key is kept by "
               f"{'the system keyring' if rep['method'] == 'keyring' else 'your passphrase'}.")


@click.group("key")
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
    status = sm.encryption_status()
    if not status["encrypted"]:
        raise click.UsageError("this store is not encrypted; use `secondme encrypt`")
    to_passphrase = use_passphrase or (not use_keyring and status["method"] == "passphrase")
    # SECONDME_PASSPHRASE opened the store: the new one never comes from it
    passphrase = _new_passphrase(NEW_PASSPHRASE_ENV) if to_passphrase else None
    rep = sm.change_key(passphrase=passphrase, use_keyring=True if use_keyring else None)
    click.echo(f"Key changed ({rep['method']}); re-encrypted: {', '.join(rep['files'])}.")


@key.command("status")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def key_status(state: CliState, as_json: bool) -> None:
    """Whether the store is encrypted and where its key comes from."""
    from ..paths import resolve_home
    from ..store.crypto import describe

    info = describe(resolve_home(state.home))
    if as_json:
        echo_json(info)
    elif not info["encrypted"]:
        click.echo("not encrypted")
    else:
        click.echo(f"encrypted ({info['cipher']}); key from {info['method']}"
                   + ("; a key change was interrupted" if info["key_change_pending"]
                      else ""))
