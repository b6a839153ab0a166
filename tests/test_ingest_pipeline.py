"""The import pipeline: detection, idempotency, kill safety, cancel, CLI, documents."""
from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import FIXTURES, ROOT

from secondme.errors import Cancelled, ImportFormatError
from secondme.progress import CancelToken

ING = FIXTURES / "ingest"


def make_jsonl(path: Path, conversations: int, per: int, start: int = 0) -> int:
    """A generic JSON Lines export; returns the number of messages."""
    with open(path, "w", encoding="utf-8") as f:
        for c in range(start, start + conversations):
            msgs = [{"id": f"c{c}-m{i}", "speaker": "Ana" if i % 2 else "Ben",
                     "timestamp": f"2024-01-{1 + i % 28:02d}T10:{i % 60:02d}:00+00:00",
                     "text": f"conversation {c} message {i} about apples"}
                    for i in range(per)]
            f.write(json.dumps({"id": f"c{c}", "title": f"Chat {c}", "messages": msgs}) + "\n")
    return conversations * per


def counts(db: Path) -> tuple[int, int]:
    con = sqlite3.connect(db, timeout=30)
    try:
        return (con.execute("select count(*) from conversations").fetchone()[0],
                con.execute("select count(*) from messages").fetchone()[0])
    finally:
        con.close()


def test_kill_at_several_points_then_resume_finishes_without_duplicates(tmp_path):
    export = tmp_path / "big.jsonl"
    per = 60
    total = make_jsonl(export, 400, per)
    home = tmp_path / "home"
    db = home / "secondme.db"
    cmd = [sys.executable, "-m", "secondme", "--home", str(home), "import", str(export)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    killed_at = []
    for threshold in (1, 120, 260):
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        try:
            while time.monotonic() < deadline and proc.poll() is None:
                if db.exists():
                    try:
                        n, _ = counts(db)
                    except sqlite3.OperationalError:
                        n = 0
                    if n >= threshold:
                        break
                time.sleep(0.01)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        convs, messages = counts(db)
        killed_at.append(convs)
        # consistent: every stored conversation is complete
        con = sqlite3.connect(db)
        partial = con.execute("select c.external_id, count(m.id) from conversations c "
                              "left join messages m on m.conversation_id = c.id "
                              "group by c.id having count(m.id) != ?", [per]).fetchall()
        assert con.execute("pragma integrity_check").fetchone()[0] == "ok"
        con.close()
        assert partial == [] and messages == convs * per
    assert killed_at[0] < 400, "the import finished before it could be killed"
    done = subprocess.run(cmd + ["--json"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)["sources"][0]
    assert out["messages_added"] + out["messages_skipped"] == total
    assert counts(db) == (400, total)
    con = sqlite3.connect(db)
    dupes = con.execute("select count(*) from (select conversation_id, external_id from "
                        "messages group by 1, 2 having count(*) > 1)").fetchone()[0]
    sources = con.execute("select count(*), max(json_extract(counts, '$.status')) "
                          "from sources").fetchone()
    con.close()
    assert dupes == 0
    assert sources == (1, "done")  # the killed runs' source row was finished, not duplicated


def test_reimport_adds_nothing_and_newer_export_adds_only_new(sm, tmp_path):
    old = tmp_path / "old.jsonl"
    make_jsonl(old, 3, 5)
    first = sm.import_paths([old]).sources[0]
    assert (first.conversations_added, first.messages_added) == (3, 15)
    again = sm.import_paths([old]).sources[0]
    assert (again.conversations_added, again.messages_added, again.messages_skipped) == (0, 0, 15)
    new = tmp_path / "new.jsonl"
    make_jsonl(new, 3, 8)              # same chats, 3 more messages each
    with open(new, "a") as f:
        f.write(json.dumps({"id": "c99", "messages": []}) + "\n")
    rep = sm.import_paths([new]).sources[0]
    assert (rep.messages_added, rep.messages_skipped, rep.conversations_added) == (9, 15, 1)
    pos = [r[0] for r in sm.store.conn.execute(
        "select position from messages m join conversations c on c.id = m.conversation_id "
        "where c.external_id = 'c0' order by position")]
    assert pos == list(range(8))


def test_cancel_between_conversations_keeps_what_was_stored(sm, tmp_path):
    export = tmp_path / "x.jsonl"
    make_jsonl(export, 50, 3)
    token = CancelToken()
    seen = []

    def progress(p):
        seen.append(p)
        if sm.store.conn.execute("select count(*) from conversations").fetchone()[0] >= 5:
            token.cancel()

    with pytest.raises(Cancelled):
        sm.import_paths([export], progress=progress, cancel=token)
    n = sm.store.conn.execute("select count(*) from conversations").fetchone()[0]
    assert 5 <= n < 50
    assert sm.store.conn.execute("select count(*) from messages").fetchone()[0] == n * 3
    status = sm.store.conn.execute("select json_extract(counts, '$.status') from sources"
                                   ).fetchone()[0]
    assert status == "cancelled"
    rep = sm.import_paths([export]).sources[0]
    assert rep.messages_added == (50 - n) * 3
    assert sm.store.conn.execute("select count(*) from sources").fetchone()[0] == 1
    assert seen and seen[0].stage.startswith("importing")


def test_import_did_finish_hook_and_keyword_search_at_once(sm):
    got = []
    sm.hooks.connect("import_did_finish", lambda report: got.append(report))
    rep = sm.import_paths([ING / "generic" / "chats.jsonl"])
    assert got == [rep]
    hits = sm.store.conn.execute("select count(*) from messages_fts where messages_fts "
                                 "match 'middlemarch'").fetchone()[0]
    assert hits == 1


def test_detect_file_folder_and_zip(sm):
    d = sm.detect(ING / "whatsapp" / "WhatsApp Chat - Anna Lopez.zip")
    assert (d.format, d.kind) == ("whatsapp", "chat") and d.files_skipped == 1
    d = sm.detect(ING / "slack" / "Acme Slack export Nov 2023.zip")
    assert d.format == "slack" and "Slack" in d.description
    d = sm.detect(ING / "chatgpt" / "chatgpt-export.zip")
    assert d.format == "chatgpt"
    with pytest.raises(ImportFormatError, match="no such file"):
        sm.detect(ING / "nope.zip")


def test_unsupported_and_empty_inputs_are_clear_errors(sm, tmp_path):
    img = tmp_path / "photo.jpg"
    img.write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 100)
    with pytest.raises(ImportFormatError, match="unsupported format") as ei:
        sm.import_paths([img])
    assert "photo.jpg" in str(ei.value)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ImportFormatError, match="empty"):
        sm.import_paths([empty])
    bad_zip = tmp_path / "broken.zip"
    bad_zip.write_bytes(b"PK\x03\x04" + b"garbage" * 10)
    with pytest.raises(ImportFormatError):
        sm.import_paths([bad_zip])
    # one bad path among good ones: reported, the good one imports
    rep = sm.import_paths([img, ING / "generic" / "chats.jsonl"])
    assert rep.sources[0].failed and not rep.sources[1].failed
    assert rep.sources[1].messages_added == 3


def test_mixed_folder_with_chats_documents_and_a_zip(sm, tmp_path):
    mixed = tmp_path / "everything"
    shutil.copytree(ING / "documents" / "vault", mixed / "vault")
    shutil.copy(ING / "whatsapp" / "WhatsApp Chat with Hiking.txt", mixed)
    shutil.copy(ING / "claude" / "claude-export.zip", mixed)
    rep = sm.import_paths([mixed]).sources[0]
    assert rep.format == "mixed" and rep.kind == "mixed"
    assert set(rep.formats) == {"whatsapp", "claude", "documents"}
    assert rep.documents >= 5 and rep.messages_added > 10
    links = sm.store.conn.execute(
        "select s.title, l.target, d.title from document_links l join documents s on "
        "s.id = l.src_document_id left join documents d on d.id = l.dst_document_id").fetchall()
    resolved = {(t, dst) for _, t, dst in links if dst}
    assert any(t == "Jonas Weber" for t, _ in resolved), links
    # unchanged documents are skipped the second time
    again = sm.import_paths([mixed]).sources[0]
    assert again.documents == 0 and again.documents_skipped == rep.documents
    assert again.messages_added == 0


def test_changed_document_replaces_its_chunks(sm, tmp_path):
    note = tmp_path / "notes" / "idea.md"
    note.parent.mkdir()
    note.write_text("# Idea\n\nGrow tomatoes on the balcony.\n")
    sm.import_paths([note.parent])
    note.write_text("# Idea\n\nGrow basil instead.\n")
    rep = sm.import_paths([note.parent]).sources[0]
    assert rep.documents == 1
    texts = [r[0] for r in sm.store.conn.execute("select text from chunks")]
    assert any("basil" in t for t in texts) and not any("tomatoes" in t for t in texts)


# -- the command line ------------------------------------------------------------------

def test_cli_json_output_and_exit_codes(tmp_path):
    from secondme.cli import main

    home = str(tmp_path / "h")
    runner = CliRunner()
    res = runner.invoke(main, ["--home", home, "import", str(ING / "generic" / "chats.json"),
                               "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    s = out["sources"][0]
    assert {k: s[k] for k in ("format", "conversations", "messages_added", "messages_skipped",
                              "documents", "errors")} == {
        "format": "generic", "conversations": 2, "messages_added": 8, "messages_skipped": 0,
        "documents": 0, "errors": []}
    # partial failure: exit 3, problems on stderr and in the JSON
    res = runner.invoke(main, ["--home", home, "import", str(ING / "generic" / "broken.jsonl"),
                               "--json"])
    assert res.exit_code == 3
    assert len(json.loads(res.stdout)["sources"][0]["errors"]) == 2
    assert "Warning:" in res.stderr and "broken.jsonl" in res.stderr
    # total failure: exit 1, one line per problem, no traceback
    res = runner.invoke(main, ["--home", home, "import", str(tmp_path / "missing.json")])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert "missing.json" in res.stderr and "no such file" in res.stderr
    # --detect imports nothing
    res = runner.invoke(main, ["--home", home, "import", "--detect", "--json",
                               str(ING / "telegram" / "account-result.json")])
    assert res.exit_code == 0 and json.loads(res.stdout)["sources"][0]["format"] == "telegram"
    # bad --timezone: a clear error
    res = runner.invoke(main, ["--home", home, "import", "--timezone", "Mars/Olympus",
                               str(ING / "generic" / "chats.json")])
    assert res.exit_code == 2 and "time zone" in res.stderr


def test_cli_subprocess_human_output(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, "-m", "secondme", "--home", str(tmp_path / "h"),
                          "import", str(ING / "whatsapp" / "WhatsApp Chat - Anna Lopez.zip"),
                          "--me", "Sam"], capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr
    assert "[whatsapp]: 1 conversation (1 new), 13 new messages" in res.stdout


def test_an_import_ends_with_its_messages_windowed(sm, tmp_path):
    """Keyword search is ready when the import says so: the context windows (each
    message with its neighbours and date) are built before ``import_paths`` returns, with
    progress, instead of by the first search (84 s of waiting at a million messages)."""
    from secondme.recall.windows import windows_fresh

    export = tmp_path / "x.jsonl"
    make_jsonl(export, 30, 4)
    stages = []
    sm.import_paths([export], progress=lambda p: stages.append((p.stage, p.done, p.total)))
    assert windows_fresh(sm.store)
    n = sm.store.conn.execute("select count(*) from messages where kind = 'message'"
                              ).fetchone()[0]
    assert sm.store.conn.execute("select count(*) from message_windows").fetchone()[0] == n
    win = [s for s in stages if s[0] == "indexing message windows"]
    assert win and win[-1][1] == win[-1][2] == n
    # a second import of the same export adds nothing and windows nothing again
    stages.clear()
    sm.import_paths([export], progress=lambda p: stages.append((p.stage, p.done, p.total)))
    assert not [s for s in stages if s[0] == "indexing message windows"]


def test_cancelling_while_windowing_keeps_the_import_and_search_finishes_it(sm, tmp_path):
    export = tmp_path / "x.jsonl"
    make_jsonl(export, 20, 3)
    token = CancelToken()

    def progress(p):
        if p.stage == "indexing message windows" and p.done:
            token.cancel()

    with pytest.raises(Cancelled):
        sm.import_paths([export], progress=progress, cancel=token)
    n = sm.store.conn.execute("select count(*) from messages").fetchone()[0]
    assert n == 60                      # every message stayed imported
    windowed = sm.store.conn.execute("select count(*) from message_windows").fetchone()[0]
    assert 0 < windowed < n             # whole conversations, the cancelled one rolled back
    assert windowed % 3 == 0
    hits = [r.sources[0]["message_id"] for r in sm.search("message", k=100)
            if r.kind == "message"]
    assert len(hits) == n               # the first search windowed the rest
    assert sm.store.conn.execute("select count(*) from message_windows").fetchone()[0] == n


def test_a_failure_while_windowing_never_fails_the_import(sm, tmp_path, monkeypatch):
    import secondme.recall.windows as windows

    def broken(*a, **k):
        raise RuntimeError("simulated bug in the window builder")

    export = tmp_path / "x.jsonl"
    make_jsonl(export, 5, 3)
    real = windows.build_conversation
    monkeypatch.setattr(windows, "build_conversation", broken)
    rep = sm.import_paths([export])
    assert rep.messages_added == 15 and not rep.sources[0].errors
    monkeypatch.setattr(windows, "build_conversation", real)
    assert len(sm.search("message", k=50)) >= 15
