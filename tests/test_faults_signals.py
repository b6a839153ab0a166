"""SIGTERM stops import and formation as gracefully as Ctrl-C (issue 17, item 8).

Before: SIGTERM killed the process with no message, the import's source stayed
"running" and the formation job "never run". Now, through the real CLI in a subprocess:
one line saying what happened, exit 143, the source recorded "interrupted" and the job
"cancelled" (its lease released), the store intact, and running the command again
finishes the job with exact counts.
"""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures" / "privacy"))
from helpers import DRIVER, run_cli  # noqa: E402

CONVS, PER = 400, 150


def _export(path: Path, convs: int = CONVS, per: int = PER) -> int:
    data = [{"id": f"c{c}", "title": f"Chat {c}", "participants": ["Ava", "Sam"],
             "messages": [{"id": f"m{i}", "speaker": ["Ava", "Sam"][i % 2],
                           "timestamp": f"2024-03-{1 + c % 28:02d}T10:{i % 60:02d}:00+00:00",
                           "text": f"I moved to Harbour{c} and work at Company{c}x{i} now."}
                          for i in range(per)]} for c in range(convs)]
    path.write_text(json.dumps({"conversations": data}))
    return convs * per


def _start(home: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(DRIVER), "--home", str(home), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _query(home: Path, sql: str):
    try:   # mode=rw: never create the database before the app does
        conn = sqlite3.connect(f"file:{home / 'secondme.db'}?mode=rw", uri=True, timeout=30)
    except sqlite3.OperationalError:
        return None
    try:
        return conn.execute(sql).fetchall()
    except sqlite3.OperationalError:
        return None   # the schema is not there yet
    finally:
        conn.close()


def _wait_for(pred, proc: subprocess.Popen, timeout: float = 240) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        assert proc.poll() is None, ("finished before the signal", proc.communicate())
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError("never reached the point to signal")


def _term(proc: subprocess.Popen) -> tuple[int, str]:
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=120)
    return proc.returncode, err


def test_sigterm_during_import_is_graceful_and_the_next_run_finishes(tmp_path):
    export = tmp_path / "big.json"
    total = _export(export)
    home = tmp_path / "home"
    proc = _start(home, "import", str(export))
    _wait_for(lambda: (_query(home, "select count(*) from messages") or [(0,)])[0][0] > 0,
              proc)
    code, err = _term(proc)
    assert code == 143, err
    assert err.strip().splitlines() == [
        "Stopped: secondme was asked to end (SIGTERM); what was done so far is kept, and "
        "running the command again finishes it."], err
    assert _query(home, "pragma integrity_check") == [("ok",)]
    status = _query(home, "select json_extract(counts, '$.status') from sources")
    assert status == [("interrupted",)]   # was: "running"
    stored = _query(home, "select count(*) from messages")[0][0]
    assert 0 < stored < total
    # whole conversations only
    per = _query(home, "select count(*) from messages group by conversation_id")
    assert {n for (n,) in per} == {PER}
    r = run_cli(home, "import", str(export), timeout=600)
    assert r.returncode == 0, r.stderr
    assert _query(home, "select count(*) from messages")[0][0] == total
    assert _query(home, "select json_extract(counts, '$.status') from sources") == [("done",)]


def test_sigterm_during_formation_records_the_job_cancelled(tmp_path):
    export = tmp_path / "chats.json"
    _export(export, 40, 30)
    home = tmp_path / "home"
    r = run_cli(home, "import", str(export), timeout=600)
    assert r.returncode == 0, r.stderr
    proc = _start(home, "jobs", "run", "extract")
    _wait_for(lambda: bool(_query(home, "select 1 from job_runs where name = 'extract'")),
              proc)
    time.sleep(0.3)
    code, err = _term(proc)
    assert code == 143, err
    assert len(err.strip().splitlines()) == 1 and "SIGTERM" in err
    assert _query(home, "pragma integrity_check") == [("ok",)]
    runs = _query(home, "select outcome from job_runs where name = 'extract'")
    assert runs == [("cancelled",)], runs   # was: never finished ("never run")
    assert _query(home, "select count(*) from job_leases") == [(0,)]
    r = run_cli(home, "jobs", "run", "extract", timeout=900)
    assert r.returncode == 0, r.stderr   # the lease was released: it runs again
