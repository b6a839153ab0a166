"""The command line: a thin shell over :class:`secondme.service.SecondMe`.

Contract (see README): ``secondme`` alone launches the desktop app; every subcommand
takes ``--home DIR`` (or ``SECONDME_HOME``); ``--json`` output is stable; errors are one
line on stderr with a non-zero exit code, never a traceback.

One module per area, each defining its commands at module level; this module adds them
all to the ``secondme`` group (:mod:`.base`). To add a command: define it in its area's
module (``state.service()`` for the SecondMe, ``echo_json`` for ``--json``,
``terminal_progress()`` for a bar; raise ``SecondMeError``) and list it below. The
modules import only click and light modules at import time so that ``secondme --version``
stays fast: heavy imports happen inside the commands.
"""
from __future__ import annotations

from . import (
    backups,
    desktop,
    doctor,
    encryption,
    imports,
    jobs,
    mcp,
    models,
    notes,
    privacy,
    recall,
    worker,
)
from .base import main

__all__ = ["main", "run"]

# every command of ``secondme``, by area (``secondme --help`` lists them alphabetically)
COMMANDS = (
    doctor.doctor,
    imports.import_,
    recall.index, recall.search, recall.ask, recall.eval_cmd,
    notes.notes,
    jobs.jobs,
    backups.backup, backups.recover,
    encryption.init, encryption.encrypt, encryption.key,
    privacy.sources, privacy.forget, privacy.wipe, privacy.export_cmd, privacy.import_dump,
    mcp.mcp_command,
    models.model,
    worker.worker_command,      # hidden: the desktop app's worker process
)
for _command in COMMANDS:
    main.add_command(_command)
# options of ``secondme`` itself that act and exit (like --version)
main.params.extend(desktop.options())


def run() -> None:
    """Console-script entry point."""
    main(prog_name="secondme")
