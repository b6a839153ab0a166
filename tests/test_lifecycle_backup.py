"""Backups (rotation, restore with a pre-restore copy, refused while jobs run elsewhere)
and upkeep (vector compaction, FTS optimize, integrity report)."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from fabricate import insert_note

from secondme.errors import InvalidInput, JobError, NotFound
from secondme.lifecycle.demo import insert_conversation


def _count(sm, table):
    return sm.store.conn.execute(f"select count(*) from {table}").fetchone()[0]


def test_backup_rotation_keeps_n(sm, monkeypatch):
    sm.update_settings(backups_keep=3)
    names = []
    for _ in range(5):
        names.append(sm.run_job("backup")["backup"])
        time.sleep(0.01)
    daily = [b.name for b in sm.backups_list() if b.kind == "daily"]
    assert len(daily) == 3 and set(daily) == set(names[-3:])
    for b in sm.backups_list():
        assert os.path.getsize(b.path) > 0
        assert not b.path.endswith(".part")


def test_backup_and_restore_roundtrip(sm):
    insert_note(sm, "before the backup")
    b = sm.backup_now()
    insert_note(sm, "after the backup")
    assert _count(sm, "notes") == 2
    out = sm.restore_backup(b.name)
    assert out["restored"] == b.name and out["pre_restore"].startswith("pre-restore-")
    assert _count(sm, "notes") == 1
    assert [r[0] for r in sm.store.conn.execute("select text from notes")] == ["before the backup"]
    # the pre-restore copy holds what was replaced, and can be restored in turn
    sm.restore_backup(out["pre_restore"])
    assert _count(sm, "notes") == 2
    assert sm.store.integrity_check() == "ok"


def test_restore_rejects_bad_names_and_damaged_files(sm):
    with pytest.raises(InvalidInput):
        sm.restore_backup("../secondme.db")
    with pytest.raises(NotFound):
        sm.restore_backup("secondme-20200101-000000.db")
    bad = sm.home / "backups" / "secondme-20200101-000000.db"
    bad.write_bytes(b"not a database at all" * 100)
    with pytest.raises(Exception, match="damaged|not a database|cannot be opened"):
        sm.restore_backup(bad.name)
    assert _count(sm, "notes") == 0       # nothing changed


def test_restore_refused_while_another_process_runs_jobs(sm):
    b = sm.backup_now()
    with sm.store.write() as db:
        db.conn.execute("insert into job_leases values ('extract', 'o', 1, 'other-host', "
                        "'now', ?)", [time.time() + 60])
    with pytest.raises(JobError, match="close the desktop app"):
        sm.restore_backup(b.name)


def test_backup_cli(home):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))

    def run(*a):
        return subprocess.run([sys.executable, "-m", "secondme", "--home", str(home), *a],
                              capture_output=True, text=True, env=env, timeout=60)

    out = run("backup", "now")
    assert out.returncode == 0, out.stderr
    out = run("backup", "list", "--json")
    import json

    names = [b["name"] for b in json.loads(out.stdout)["backups"]]
    assert len(names) == 1
    out = run("backup", "restore", names[0], "--yes")
    assert out.returncode == 0 and "restored" in out.stdout, out.stderr
    out = run("backup", "restore", "secondme-19990101-000000.db", "--yes")
    assert out.returncode == 2 and "no backup called" in out.stderr


def test_upkeep_compacts_vectors_optimizes_fts_and_reports(sm):
    ids = insert_conversation(sm, "t", [
        {"speaker": "Anna", "text": f"message number {i} about hiking",
         "timestamp": __import__("datetime").datetime(2024, 1, 1, tzinfo=
                                                     __import__("datetime").timezone.utc)}
        for i in range(40)])
    sm.index_pending()
    assert len(sm.vectors) == 40
    with sm.store.write() as db:      # delete 15 of 40 messages (37% > 20%)
        db.conn.execute("delete from messages where id <= ?", [ids[14]])
    rep = sm.run_job("upkeep")
    assert rep["vectors"]["orphans_dropped"] == 15
    assert rep["vectors"]["rebuilt"] is True
    assert sm.vectors.deleted == 0 and len(sm.vectors) == 25
    assert "messages_fts" in rep["fts_optimized"] and "notes_fts" in rep["fts_optimized"]
    assert rep["integrity"]["ok"] is True and rep["integrity"]["sqlite"] == "ok"
    # a fact without any source is reported in words
    insert_note(sm, "an orphan fact")
    rep = sm.run_job("upkeep")
    assert any("cite no message" in w for w in rep["integrity"]["warnings"])
    assert rep["vectors"]["rebuilt"] is False


def test_upkeep_rebuilds_index_files_without_the_model(sm, home, fake_embedder):
    from secondme.service import SecondMe

    ids = insert_conversation(sm, "t", [
        {"speaker": "Bob", "text": f"note {i}", "timestamp":
            __import__("datetime").datetime(2024, 1, 1, tzinfo=__import__("datetime").timezone.utc)}
        for i in range(10)])
    sm.index_pending()
    sm.close()
    with SecondMe(home, embedder=fake_embedder) as sm2:    # index not loaded here
        with sm2.store.write() as db:
            db.conn.execute("delete from messages where id <= ?", [ids[4]])
        rep = sm2.run_job("upkeep")
        assert rep["vectors"]["rebuilt"] is True
        assert sm2._vectors is None or len(sm2._vectors) == 5
    with SecondMe(home, embedder=fake_embedder) as sm3:
        assert len(sm3.vectors) == 5 and sm3.vectors.status == "loaded"


def test_backups_of_an_encrypted_store_stay_encrypted(sm):
    import sqlite3

    insert_note(sm, "a secret about Anna")
    sm.encrypt_store(passphrase="correct horse battery staple 42", scrypt_n=2 ** 12)
    b = sm.backup_now()
    with open(b.path, "rb") as f:
        assert f.read(16) != b"SQLite format 3\x00"
    assert b"a secret about Anna" not in open(b.path, "rb").read()
    plain = sqlite3.connect(b.path)
    with pytest.raises(sqlite3.DatabaseError):
        plain.execute("select count(*) from notes").fetchone()
    plain.close()
    insert_note(sm, "written after the backup")
    out = sm.restore_backup(b.name)
    assert _count(sm, "notes") == 1
    pre = sm.home / "backups" / out["pre_restore"]
    with open(pre, "rb") as f:
        assert f.read(16) != b"SQLite format 3\x00"


def test_cli_restore_refused_while_the_app_is_open(home, fake_embedder):
    from secondme.service import SecondMe

    app = SecondMe(home, embedder=fake_embedder)
    app.catchup_delay_seconds = 3600
    try:
        b = app.backup_now()
        app.start_background()           # the desktop app: scheduler running, idle
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
        out = subprocess.run([sys.executable, "-m", "secondme", "--home", str(home), "backup",
                              "restore", b.name, "--yes"], capture_output=True, text=True,
                             env=env, timeout=60)
        assert out.returncode != 0 and "desktop app is open" in out.stderr
        # the app itself may restore (it stops and restarts its own scheduler)
        assert app.restore_backup(b.name)["restored"] == b.name
        assert app.background_running
    finally:
        app.close()
    out = subprocess.run([sys.executable, "-m", "secondme", "--home", str(home), "backup",
                          "restore", b.name, "--yes"], capture_output=True, text=True,
                         env=env, timeout=60)
    assert out.returncode == 0, out.stderr
