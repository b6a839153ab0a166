"""The command line: version, doctor, clear errors without tracebacks."""
from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

from secondme import __version__
from secondme.cli import main


def run(*args, **kw):
    return CliRunner().invoke(main, list(args), catch_exceptions=False, **kw)


def test_version():
    r = run("--version")
    assert r.exit_code == 0 and r.output.strip() == f"secondme {__version__}"


def test_doctor_json_reports_counts_and_integrity(tmp_path):
    r = run("--home", str(tmp_path / "h"), "doctor", "--json")
    rep = json.loads(r.output)
    assert rep["integrity"] == "ok"
    assert set(rep["counts"]) >= {"conversations", "messages", "documents", "notes", "links"}
    assert rep["home"] == str((tmp_path / "h").resolve())
    assert "sqlite" in rep["versions"] and rep["keyring"]
    assert rep["models"]["embedding"]["found"] is True
    assert r.exit_code == (0 if rep["ok"] else 1)


def test_doctor_exits_nonzero_on_a_broken_database(tmp_path):
    h = tmp_path / "h"
    h.mkdir()
    (h / "secondme.db").write_bytes(b"garbage" * 1000)
    r = CliRunner().invoke(main, ["--home", str(h), "doctor", "--json"])
    assert r.exit_code != 0
    # names the file, says what is wrong and how to recover
    assert "secondme.db" in r.output and "damaged" in r.output and "restore" in r.output
    assert "Traceback" not in r.output


def test_unknown_error_is_not_a_bare_traceback(tmp_path):
    # a data dir path below a regular file cannot be created
    f = tmp_path / "file"
    f.write_text("x")
    p = subprocess.run([sys.executable, "-m", "secondme", "--home", str(f / "x"), "doctor"],
                       capture_output=True, text=True)
    assert p.returncode != 0
    assert "Traceback" not in p.stderr
    assert "Error:" in p.stderr and str(f / "x") in p.stderr


def test_internal_error_is_logged_without_its_message(tmp_path, monkeypatch):
    from secondme.service import SecondMe

    def boom(self):
        raise RuntimeError("Anna's passport number is X1234567")

    monkeypatch.setattr(SecondMe, "doctor", boom)
    h = tmp_path / "h"
    r = CliRunner().invoke(main, ["--home", str(h), "doctor"])
    assert r.exit_code == 70 and "Internal error" in r.output
    log = (h / "logs" / "secondme.log").read_text()
    assert "RuntimeError" in log and "doctor" in log  # where it happened
    assert "X1234567" not in log and "passport" not in log  # never memory text


def test_damage_found_after_open_points_to_recover(tmp_path, monkeypatch):
    import sqlite3

    from secondme.service import SecondMe

    def damaged(self):
        raise sqlite3.DatabaseError("database disk image is malformed")

    monkeypatch.setattr(SecondMe, "doctor", damaged)
    r = CliRunner().invoke(main, ["--home", str(tmp_path / "h"), "doctor"])
    assert r.exit_code == 1
    assert "secondme recover" in r.output and "Internal error" not in r.output


def test_doctor_reports_encryption(tmp_path):
    rep = json.loads(run("--home", str(tmp_path / "h"), "doctor", "--json").output)
    assert rep["encryption"]["encrypted"] is False


def test_desktop_app_is_found_through_its_entry_point():
    from secondme.cli.base import desktop_app

    run_app = desktop_app()
    assert run_app.__module__ == "secondme_ui.app" and run_app.__name__ == "run_app"


def test_no_desktop_app_installed_is_a_clear_error(monkeypatch):
    import importlib.metadata

    monkeypatch.setattr(importlib.metadata, "entry_points", lambda **kw: [])
    r = CliRunner().invoke(main, [])
    assert r.exit_code != 0 and "desktop app is not installed" in r.output


def test_every_command_of_the_cli_package_is_reachable_from_main():
    """A command defined in a ``secondme/cli/`` module but not listed in COMMANDS would
    silently be missing from ``secondme``."""
    import importlib
    import pkgutil

    import click

    import secondme.cli

    reachable: set[int] = set()

    def walk(cmd: click.Command) -> None:
        reachable.add(id(cmd))
        if isinstance(cmd, click.Group):
            for sub in cmd.commands.values():
                walk(sub)

    walk(main)
    for info in pkgutil.iter_modules(secondme.cli.__path__):
        module = importlib.import_module(f"secondme.cli.{info.name}")
        for name, value in vars(module).items():
            if isinstance(value, click.Command):
                assert id(value) in reachable, f"secondme.cli.{info.name}.{name} is not listed"
