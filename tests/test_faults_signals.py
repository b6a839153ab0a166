"""SIGTERM stops import and formation as gracefully as Ctrl-C (issue 17, item 8).

Before: SIGTERM killed the process with no message, the import's source stayed
"running" and the formation job "never run". Now, through the real CLI in a subprocess:
one line saying what happened, exit 143, the source recorded "interrupted" and the job
"cancelled" (its lease released), the store intact, and running the command again
finishes the job with exact counts.

Exit without an abort: the embedding step's index writer is a daemon thread that
spends its time in hnswlib with the GIL released. A signal that arrived while the main
thread waited for it (``worker.join()`` is interruptible) left it running; when it came
back from C++ during the interpreter's teardown, CPython ended it with
``pthread_exit``, whose forced unwinding through pybind11's ``noexcept``
``~gil_scoped_release`` called ``std::terminate``: "terminate called without an active
exception", exit -6 instead of 143 (at random, under load). A stopped command now
leaves with ``os._exit`` once the store is closed; the tests below hold a library
thread in native code on purpose so that the teardown race is certain, not lucky.
"""
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


# The CLI (with the usual fakes) with one change: once the embedding step's writer
# thread has written its first batch it says so in a file and then keeps calling into
# hnswlib (a pybind11 C++ extension that releases the GIL, as onnxruntime and llama.cpp
# do), for at most 30 s — a library thread still in native code when the main thread
# leaves, every time.
_NATIVE_WRITER = r"""
import sys, threading, time
from pathlib import Path
sys.path.insert(0, sys.argv.pop(1))
marker = Path(sys.argv.pop(1))
import numpy as np
import cli_fakes
from secondme.store import vectors

def held(real_add):
    def add(self, *args, **kw):
        real_add(self, *args, **kw)
        if threading.current_thread().name != "secondme-index-writer" or marker.exists():
            return
        import hnswlib
        scratch = hnswlib.Index(space="l2", dim=32)
        scratch.init_index(max_elements=4096)
        rows = np.random.default_rng(1).random((64, 32), dtype=np.float32)
        marker.write_text("in native code")
        end, n = time.monotonic() + 30, 0
        while time.monotonic() < end:   # labels reused once full: updates, as long as wanted
            scratch.add_items(rows, np.arange(n, n + 64) % 4096, num_threads=1)
            n += 64
    return add

# the index a command writes to, and the one the app's worker process writes through
vectors.VectorIndex.add = held(vectors.VectorIndex.add)
vectors.StoreOnlyIndex.add = held(vectors.StoreOnlyIndex.add)
cli_fakes.main()
"""


def _start_native_writer(home: Path, marker: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", _NATIVE_WRITER, str(DRIVER.parent),
                             str(marker), "--home", str(home), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


@pytest.mark.parametrize("sig, code, said", [
    (signal.SIGTERM, 143, "Stopped: secondme was asked to end (SIGTERM)"),
    (signal.SIGINT, 130, "Cancelled."),
])
def test_a_stop_while_a_library_thread_is_in_native_code_never_aborts(tmp_path, sig, code,
                                                                    said):
    export = tmp_path / "chats.json"
    _export(export, 40, 30)   # 1,200 messages: two batches for the index writer
    template = tmp_path / "template"
    r = run_cli(template, "import", str(export), timeout=600)
    assert r.returncode == 0, r.stderr
    for attempt in range(3):   # three runs: the race is forced, so each must exit cleanly
        home, marker = tmp_path / f"home{attempt}", tmp_path / f"in-native{attempt}"
        shutil.copytree(template, home)
        proc = _start_native_writer(home, marker, "jobs", "run", "extract")
        _wait_for(marker.exists, proc)
        time.sleep(0.2)   # the main thread is waiting for the writer by now
        proc.send_signal(sig)
        _out, err = proc.communicate(timeout=120)
        assert "terminate called" not in err, err
        assert proc.returncode == code, (attempt, proc.returncode, err)
        assert err.strip().splitlines()[0].startswith(said), err
        assert len(err.strip().splitlines()) == 1, err
        assert _query(home, "pragma integrity_check") == [("ok",)]
        assert _query(home, "select outcome from job_runs where name = 'extract'") == \
            [("cancelled",)]
        assert _query(home, "select count(*) from job_leases") == [(0,)]


def test_the_worker_process_stopped_twice_never_aborts(tmp_path):
    """The desktop app's worker process: a first SIGTERM cancels at the end of the unit
    of work (every thread is joined); a second one stops it where it is — with the index
    writer in native code, as above, it used to abort after sending its outcome."""
    from dataclasses import asdict

    from secondme.models.embed import HashEmbedder
    from secondme.service import SecondMe

    export = tmp_path / "chats.json"
    _export(export, 40, 30)
    home = tmp_path / "home"
    r = run_cli(home, "import", str(export), timeout=600)
    assert r.returncode == 0, r.stderr
    sm = SecondMe(str(home), embedder=HashEmbedder())
    try:
        spec = asdict(sm.worker_spec())
    finally:
        sm.close()
    driver = _NATIVE_WRITER.replace("import cli_fakes\n", "").replace(
        "cli_fakes.main()", "from secondme.cli.worker import main\nsys.exit(main())")
    marker = tmp_path / "in-native"
    proc = subprocess.Popen([sys.executable, "-c", driver, str(DRIVER.parent), str(marker)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    proc.stdin.write(json.dumps({"op": "run_job", "args": {"name": "extract"},
                                 "service": spec}) + "\n")
    proc.stdin.flush()
    _wait_for(marker.exists, proc)
    proc.send_signal(signal.SIGTERM)   # cancel at the end of the unit…
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)   # …no: now
    out, err = proc.communicate(timeout=120)
    assert "terminate called" not in err, err
    assert proc.returncode == 0, (proc.returncode, err)
    last = json.loads(out.strip().splitlines()[-1])
    assert last["t"] == "error" and last["error"]["type"] == "Cancelled", last
    assert _query(home, "pragma integrity_check") == [("ok",)]
    assert _query(home, "select outcome from job_runs where name = 'extract'") == \
        [("cancelled",)]
    assert _query(home, "select count(*) from job_leases") == [(0,)]
