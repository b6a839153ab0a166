"""A window formation cannot form is set aside (quarantined) and never blocks the rest.

Visible in ``jobs_list()`` (``JobInfo.quarantined``), ``quarantined_windows()``, ``jobs list
--json``, ``doctor``; ``retry_failed_windows()`` / ``jobs run extract --retry-failed``
tries them again.
"""
from __future__ import annotations

import json
import sqlite3

import pytest
from click.testing import CliRunner
from test_memory_extract import ts, write_chat

from secondme.cli import main
from secondme.doctor import run_doctor
from secondme.errors import ModelError
from secondme.memory import extract

CHATS = {
    "bad": [("Anna", ts(10, 9), "I moved to Berlin last month."),
            ("Ben", ts(10, 9, 2), "I adopted a cat called Miso yesterday.")],
    "good": [("Carla", ts(11, 9), "I started a new job at Zalando on Monday."),
             ("Dan", ts(11, 9, 3), "My sister Lena is getting married in June.")],
}


@pytest.fixture
def breaks(monkeypatch):
    """Make every window of the conversation "Chat bad" fail inside its transaction, with
    the database error formation used to die of (issue 15)."""
    real = extract.Former._apply
    state = {"on": True}

    def apply(self, conn, window, *a, **kw):
        if state["on"] and window.title == "Chat bad":
            raise sqlite3.IntegrityError(
                "UNIQUE constraint failed: vector_items.kind, vector_items.item_id")
        return real(self, conn, window, *a, **kw)

    monkeypatch.setattr(extract.Former, "_apply", apply)
    return state


def texts(sm):
    return sorted(r[0] for r in sm.store.conn.execute("select text from notes"))


def test_a_failing_window_is_set_aside_and_the_rest_goes_on(sm, tmp_path, breaks):
    sm.import_paths([write_chat(tmp_path / "a.json", CHATS)])
    rep = sm.run_extract()
    assert rep["quarantined"] == 1 and rep["windows"] == 1
    assert any("Zalando" in t for t in texts(sm))
    assert not any("Berlin" in t or "Miso" in t for t in texts(sm))   # nothing half written
    [w] = sm.quarantined_windows()
    assert w.conversation == "Chat bad" and w.items == 2 and w.attempts == 1
    assert "“Chat bad”" in w.problem and "2023-05-10" in w.problem
    for technical in ("UNIQUE", "vector_items", "IntegrityError", "sqlite"):
        assert technical not in w.problem          # written for people
    assert w.error.startswith("IntegrityError: UNIQUE constraint failed")
    [job] = [j for j in sm.jobs_list() if j.name == "extract"]
    assert job.quarantined == 1
    assert all(j.quarantined == 0 for j in sm.jobs_list() if j.name != "extract")
    doc = run_doctor(sm.home, sm.store, sm.settings)
    assert doc["formation"]["quarantined_windows"] == 1
    assert any("--retry-failed" in p for p in doc["problems"])

    # a later import is formed: the bad window blocks nothing behind it
    more = {"later": [("Eve", ts(20, 9), "I bought a house in Lisbon last week.")]}
    sm.import_paths([write_chat(tmp_path / "b.json", more)])
    rep = sm.run_extract()
    assert rep["windows"] == 1 and rep["quarantined"] == 0
    assert any("Lisbon" in t for t in texts(sm))

    # retrying while it still fails: set aside again, one more attempt, one row
    rep = sm.retry_failed_windows()
    assert rep["retried"] == 1 and rep["quarantined"] == 1
    [w] = sm.quarantined_windows()
    assert w.attempts == 2 and not w.retrying

    # fixed: the retry forms it and the quarantine is empty
    breaks["on"] = False
    rep = sm.retry_failed_windows()
    assert rep["windows"] == 1 and rep["quarantined"] == 0
    assert any("Berlin" in t for t in texts(sm)) and sm.quarantined_windows() == []
    assert not any("formation" in p for p in run_doctor(sm.home, sm.store,
                                                        sm.settings)["problems"])


def test_a_model_that_cannot_be_used_fails_the_job_and_sets_nothing_aside(sm, tmp_path,
                                                                         monkeypatch):
    sm.import_paths([write_chat(tmp_path / "a.json", CHATS)])

    def broken(self, window, cancel=None):
        raise ModelError("the language model could not be loaded")

    monkeypatch.setattr(extract.DeterministicExtractor, "extract", broken)
    with pytest.raises(ModelError):
        sm.run_extract()
    assert sm.quarantined_windows() == []
    monkeypatch.undo()
    assert sm.run_extract()["windows"] == 2          # nothing was lost


def test_cli_lists_and_retries_quarantined_windows(home, fake_embedder, tmp_path, monkeypatch,
                                                   breaks):
    from secondme.cli import base as cli_base
    from secondme.service import SecondMe

    orig = cli_base.CliState.service

    def service(self, **kw):
        kw.setdefault("embedder", fake_embedder)
        return orig(self, **kw)

    monkeypatch.setattr(cli_base.CliState, "service", service)
    with SecondMe(home, embedder=fake_embedder) as sm:
        sm.import_paths([write_chat(tmp_path / "a.json", CHATS)])
    r = CliRunner()

    def run(*args):
        return r.invoke(main, ["--home", str(home), *args], catch_exceptions=False)

    assert run("jobs", "run", "extract").exit_code == 0
    res = run("jobs", "list", "--json")
    data = json.loads(res.output)
    [job] = [j for j in data["jobs"] if j["name"] == "extract"]
    assert job["quarantined"] == 1
    [w] = data["quarantined_windows"]
    assert w["conversation"] == "Chat bad" and w["problem"] and w["error"]
    plain = run("jobs", "list").output
    assert "1 window(s) set aside" in plain and "--retry-failed" in plain
    assert run("jobs", "run", "decay", "--retry-failed").exit_code == 2
    breaks["on"] = False
    res = run("jobs", "run", "extract", "--retry-failed", "--json")
    assert res.exit_code == 0
    assert json.loads(res.output)["summary"]["retried"] == 1
    assert json.loads(run("jobs", "list", "--json").output)["quarantined_windows"] == []
