"""The ``secondme`` click group and what every command shares.

The group turns errors into one line on stderr and an exit code (never a traceback):
a :class:`~secondme.errors.SecondMeError` prints ``Error: …`` and exits with its code;
Ctrl-C exits 130 and SIGTERM (a shutdown, ``kill``, a service manager) stops the same
graceful way and exits 143 — both straight after the service is closed, without the
interpreter's teardown (see :func:`leave_now`); anything else is an internal error
(exit 70) whose code locations, never its message, go to ``<home>/logs/secondme.log``.

Commands get a :class:`CliState` (``@click.pass_obj``) and use ``state.service()`` for the
SecondMe, :func:`echo_json` for ``--json`` and :func:`terminal_progress` for a bar. Only
click and light modules are imported at import time so that ``secondme --version`` and
``--help`` stay fast: the service, the models and the UI load inside commands.
"""
from __future__ import annotations

import errno
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any, Callable, NoReturn, Optional

import click

from .. import __version__
from ..errors import SecondMeError


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: stop exactly as Ctrl-C does (the transaction in progress rolls
    back, the import is recorded as interrupted, the job as cancelled, leases released)."""


class Interrupted(KeyboardInterrupt):
    """SIGINT (Ctrl-C) arrived: a KeyboardInterrupt known to come from the signal, not
    raised by code."""


def _on_stop_signal(signum, frame) -> None:
    # a second signal while cleaning up ends the process the default way
    signal.signal(signum, signal.SIG_DFL)
    raise Terminated() if signum == signal.SIGTERM else Interrupted()


_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def handle_stop_signals() -> dict:
    """Make SIGTERM raise :class:`Terminated` and SIGINT :class:`Interrupted` in the main
    thread (commands only: the desktop app handles its own signals). Returns the
    handlers replaced (``restore_signals`` puts them back); empty off the main thread."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {s: signal.signal(s, _on_stop_signal) for s in _STOP_SIGNALS}


def restore_signals(previous: dict) -> None:
    for s, handler in previous.items():
        signal.signal(s, handler if handler is not None else signal.SIG_DFL)


def leave_now(code: int) -> NoReturn:
    """End the process with ``code`` at once, without the interpreter's teardown.

    For a command stopped by a signal, once its service is closed (the job recorded,
    leases released, the index saved, the database closed): a library thread may still
    be inside native code — the index writer in hnswlib, an ONNX Runtime or llama.cpp
    call — and cannot be interrupted or joined. Were the interpreter torn down around
    it, CPython would end that thread with ``pthread_exit`` when it came back, and the
    forced unwinding through a C++ ``noexcept`` frame aborts the process ("terminate
    called without an active exception", exit -6). Output and logs are flushed first;
    atexit handlers do not run (nothing of secondme registers one).
    """
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


class CliState:
    """Per-invocation state: the data dir option and the lazily opened service."""

    def __init__(self, home: Optional[str]):
        self.home = home
        self._sm = None
        self.replaced_signals: dict = {}   # (restored when the command ends)

    def service(self, **kw: Any):
        if self._sm is None:
            from ..service import SecondMe

            self._sm = SecondMe(self.home, **kw)
        return self._sm

    def close(self) -> None:
        if self._sm is not None:
            self._sm.close()
            self._sm = None


def echo_json(obj: Any) -> None:
    """Print ``obj`` as JSON (dataclasses and paths are converted)."""
    from ..api import to_jsonable

    click.echo(json.dumps(to_jsonable(obj), ensure_ascii=False, indent=None))


def terminal_progress(enabled: bool = True
                      ) -> tuple[Callable[[Any], None], Callable[[], None]]:
    """A ProgressFn that draws a tqdm bar on stderr when stderr is a terminal.

    Returns (progress_fn, close_fn). Off a terminal (CI, pipes) it prints nothing.
    """
    state: dict[str, Any] = {"bar": None, "stage": None}
    if not enabled or not sys.stderr.isatty():
        return (lambda p: None), (lambda: None)
    from tqdm import tqdm

    def progress(p) -> None:
        if state["stage"] != p.stage:
            if state["bar"] is not None:
                state["bar"].close()
            state["bar"] = tqdm(total=p.total, desc=p.stage, unit="", file=sys.stderr,
                                leave=False, dynamic_ncols=True)
            state["stage"] = p.stage
        bar = state["bar"]
        if p.total is not None and bar.total != p.total:
            bar.total = p.total
        bar.n = p.done
        if p.message:
            bar.set_postfix_str(p.message[:40], refresh=False)
        bar.refresh()

    def close() -> None:
        if state["bar"] is not None:
            state["bar"].close()

    return progress, close


def terminal_passphrase() -> Optional[str]:
    """Ask for the passphrase with a hidden prompt, only when stdin is a terminal."""
    if not sys.stdin.isatty():
        return None
    return click.prompt("Passphrase", hide_input=True, err=True)


def _log_file(home: Optional[str]) -> Optional[Path]:
    try:
        from ..paths import log_file, private_dir, resolve_home

        path = log_file(resolve_home(home))
        private_dir(path.parent)
        return path
    except Exception:
        return None


def _looks_damaged(e: Exception) -> bool:
    text = str(e).lower()
    return any(w in text for w in ("malformed", "not a database", "disk image",
                                   "database corrupt"))


def _log_internal_error(path: Path, e: BaseException) -> None:
    """Append where an internal error happened to the log, WITHOUT its message.

    Exception messages can quote memory text (a failing SQL parameter, a parsed line);
    with encryption on, no file in the data dir may hold memory text in the clear, so the
    log keeps the exception type and the stack of code locations only.
    """
    import traceback
    from datetime import datetime, timezone

    frames = traceback.extract_tb(e.__traceback__)
    lines = [f"{datetime.now(timezone.utc).isoformat(timespec='seconds')} "
             f"internal error {type(e).__module__}.{type(e).__name__}"]
    lines += [f"  {f.filename}:{f.lineno} in {f.name}" for f in frames]
    from ..paths import open_private

    try:
        with open_private(path, "a") as f:
            f.write("\n".join(lines) + "\n")
    except OSError:
        pass


_STORAGE_ERRNOS = {
    errno.ENOSPC: "the disk is full: the change in progress was not saved (everything "
                  "saved before it is kept); free some space and try again",
    errno.EDQUOT: "the disk quota is used up: the change in progress was not saved "
                  "(everything saved before it is kept); free some space and try again",
    errno.EROFS: "the data directory is read-only: the change in progress was not saved; "
                 "make it writable or choose another with --home",
}


def _home_label(ctx: click.Context) -> str:
    try:
        from ..paths import resolve_home

        return str(resolve_home((ctx.params or {}).get("home")))
    except Exception:
        return "the data directory"


def _internal_error(ctx: click.Context, e: BaseException) -> None:
    home = (ctx.params or {}).get("home")
    path = _log_file(home)
    if path is not None:
        _log_internal_error(path, e)
    # never the exception's text: it can quote a message, a passphrase or a Python value
    where = f"where it happened is in {path}" if path else "it could not be logged"
    click.echo(f"Internal error: a bug in secondme stopped this command ({where}); "
               "please report it", err=True)
    ctx.exit(70)


class SecondMeGroup(click.Group):
    """Turns errors into one clear line and an exit code (never a traceback)."""

    def invoke(self, ctx: click.Context) -> Any:
        stopped_by_signal: Optional[int] = None
        try:
            return super().invoke(ctx)
        except SecondMeError as e:
            click.echo(f"Error: {e}", err=True)
            ctx.exit(e.exit_code)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except Terminated:
            click.echo("Stopped: secondme was asked to end (SIGTERM); what was done so far "
                       "is kept, and running the command again finishes it.", err=True)
            stopped_by_signal = 143
            ctx.exit(143)
        except KeyboardInterrupt as e:
            click.echo("Cancelled.", err=True)
            if isinstance(e, Interrupted):
                stopped_by_signal = 130
            ctx.exit(130)
        except BrokenPipeError:
            ctx.exit(0)
        except OSError as e:
            if e.errno not in _STORAGE_ERRNOS:
                _internal_error(ctx, e)
            # a file beside the database (the index, a backup, the log) could not be
            # written: one line naming the data directory, never an internal error
            click.echo(f"Error: {_home_label(ctx)}: {_STORAGE_ERRNOS[e.errno]}", err=True)
            ctx.exit(1)
        except Exception as e:
            import sqlite3

            if isinstance(e, sqlite3.DatabaseError) and _looks_damaged(e):
                # found after a successful open (a damaged page deep in the file)
                click.echo(f"Error: {_home_label(ctx)}: the database is damaged; run "
                           "`secondme recover` to restore the latest backup (the damaged "
                           "file is kept)", err=True)
                ctx.exit(1)
            _internal_error(ctx, e)
        finally:
            state = ctx.obj
            if isinstance(state, CliState):
                try:
                    state.close()
                except Exception:
                    pass
            if stopped_by_signal is not None:
                # everything is recorded and closed: leave before the interpreter's
                # teardown can race a library thread still in native code
                leave_now(stopped_by_signal)
            if isinstance(state, CliState):
                restore_signals(state.replaced_signals)


@click.group(cls=SecondMeGroup, invoke_without_command=True,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="secondme",
                      message="%(prog)s %(version)s")
@click.option("--home", type=click.Path(file_okay=False), envvar="SECONDME_HOME",
              help="Data directory (default: the platform's user data dir).")
@click.option("--quick-ask", is_flag=True, help="Open the quick-ask box of the app.")
@click.option("-v", "--verbose", is_flag=True, help="Log to stderr.")
@click.pass_context
def main(ctx: click.Context, home: Optional[str], quick_ask: bool, verbose: bool) -> None:
    """secondme: your second memory, from your own chats and documents.

    Run without a command to open the desktop app.
    """
    from ..store.crypto import set_default_prompt

    if verbose:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                            format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # an encrypted store asks for its passphrase on the terminal (the app has a dialog)
    set_default_prompt(terminal_passphrase)
    ctx.obj = CliState(home)
    if ctx.invoked_subcommand is not None:
        ctx.obj.replaced_signals = handle_stop_signals()
    if ctx.invoked_subcommand is None:
        ctx.exit(desktop_app()(home=home, quick_ask=quick_ask))


FRONTENDS = "secondme.frontends"


def desktop_app() -> Callable[..., int]:
    """The desktop front end's ``run_app(home=, quick_ask=) -> exit code``.

    The app registers itself under the ``secondme.frontends`` entry-point group (name
    ``desktop``), so the core never names or imports the UI package. Raises
    ClickException with what to do when no front end is installed or it cannot load.
    """
    from importlib.metadata import entry_points

    for ep in entry_points(group=FRONTENDS, name="desktop"):
        try:
            return ep.load()
        except ImportError as e:
            raise click.ClickException(
                f"the desktop app cannot start ({e}); reinstall secondme with its GUI "
                "dependencies or use the subcommands (secondme --help)") from e
    raise click.ClickException("the desktop app is not installed; install secondme with its "
                               "GUI or use the subcommands (secondme --help)")
