"""`secondme notes …` from the command line (with the fake embedder)."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from test_memory_extract import SESSIONS, write_chat

from secondme.cli import main


@pytest.fixture
def runner(home, fake_embedder, tmp_path, monkeypatch):
    """A CLI on ``home`` whose service uses the fake embedder, with a formed chat."""
    from secondme.cli import base as cli_base
    from secondme.service import SecondMe

    orig = cli_base.CliState.service

    def service(self, **kw):
        kw.setdefault("embedder", fake_embedder)
        return orig(self, **kw)

    monkeypatch.setattr(cli_base.CliState, "service", service)
    with SecondMe(home, embedder=fake_embedder) as sm:
        sm.import_paths([write_chat(tmp_path / "c.json", SESSIONS)])
    r = CliRunner()

    def run(*args):
        res = r.invoke(main, ["--home", str(home), *args], catch_exceptions=False)
        return res

    assert run("notes", "form").exit_code == 0
    return run


def test_list_and_show_json(runner):
    res = runner("notes", "list", "--json")
    assert res.exit_code == 0
    data = json.loads(res.output)
    assert len(data["notes"]) == 4
    note = [n for n in data["notes"] if "Berlin" in n["text"]][0]
    assert note["sources"][0]["message_id"] == "c1-1"
    assert note["sources"][0]["speaker"] == "Anna"
    show = json.loads(runner("notes", "show", str(note["id"]), "--json").output)
    assert show["text"] == note["text"] and show["valid_from"] == "2023-04-01"
    assert "versions" in show and isinstance(show["links"], list)
    assert "Anna moved to Berlin" in runner("notes", "show", str(note["id"])).output
    assert "pottery" in runner("notes", "list", "--kind", "fact").output


def test_edit_pin_archive_delete_link_undo(runner):
    notes = json.loads(runner("notes", "list", "--json").output)["notes"]
    a, b = notes[0]["id"], notes[1]["id"]
    assert runner("notes", "edit", str(a), "--text", "Edited text.", "--tags", "x y").exit_code == 0
    shown = json.loads(runner("notes", "show", str(a), "--json").output)
    assert shown["text"] == "Edited text." and shown["tags"] == ["x", "y"]
    assert runner("notes", "pin", str(a)).exit_code == 0
    assert runner("notes", "archive", str(b)).exit_code == 0
    assert str(b) not in [str(n["id"]) for n in
                          json.loads(runner("notes", "list", "--json").output)["notes"]]
    assert runner("notes", "unarchive", str(b)).exit_code == 0
    assert runner("notes", "link", str(a), str(b), "--kind", "part_of").exit_code == 0
    links = json.loads(runner("notes", "show", str(a), "--json").output)["links"]
    assert {"id": b, "kind": "part_of", "weight": 1.0} in links
    assert runner("notes", "unlink", str(a), str(b), "--kind", "part_of").exit_code == 0
    out = runner("notes", "delete", str(b)).output
    hid = out.strip().split()[-1]
    assert runner("notes", "show", str(b)).exit_code == 2
    assert runner("notes", "undo", hid).exit_code == 0
    assert runner("notes", "show", str(b)).exit_code == 0
    hist = runner("notes", "history", str(a)).output
    assert "edit" in hist and "pin" in hist


def test_errors_are_one_line(runner):
    res = runner("notes", "show", "424242")
    assert res.exit_code == 2 and "does not exist" in res.output
    # the id the person typed is named back (the app, where nobody typed one, says it
    # in words: tests/ui/test_ui_app.py)
    assert "note 424242 does not exist" in res.output
    res = runner("notes", "undo", "424242")
    assert res.exit_code == 2
    res = runner("notes", "edit", "1")
    assert res.exit_code == 2 and "nothing to change" in res.output
