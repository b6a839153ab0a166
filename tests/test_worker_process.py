"""Worker processes (issue 14 item 2): an import and memory formation run in a separate
Python process; progress, hooks, cancel and errors come back as if they ran here."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict

import numpy as np
import pytest

from secondme.errors import Cancelled, ImportFormatError, SecondMeError
from secondme.progress import CancelToken


def chat_export(path, conversations=3, messages=20):
    convs = [{"id": f"c{c}", "title": f"Chat {c}", "participants": ["Sam Rivera", "Bo"],
              "messages": [{"id": f"c{c}m{i}", "speaker": "Bo" if i % 2 else "Sam Rivera",
                            "timestamp": f"2024-0{1 + c % 9}-1{i % 10}T10:{i % 60:02d}:00+00:00",
                            "text": f"message {i} about topic {c}: I moved to Porto and "
                                    f"adopted a dog called Biscuit {i}"}
                           for i in range(messages)]}
             for c in range(conversations)]
    path.write_text(json.dumps({"conversations": convs}))
    return path


def integrity(sm) -> str:
    return sm.store.conn.execute("pragma integrity_check").fetchone()[0]


def autogroup(pid) -> str:
    """The scheduling autogroup of a process, or "" where the kernel shows none (the file
    is missing, or empty as in some containers and for a process already exiting)."""
    try:
        with open(f"/proc/{pid}/autogroup") as f:
            words = f.read().split()
    except OSError:
        return ""
    return words[0] if words else ""


# -- through the service ----------------------------------------------------------------
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_child_yields_the_cpu_to_the_app(sm, tmp_path):
    """The child is niced in the app's session, so in the app's scheduling autogroup:
    in a session of its own the niceness counted for nothing against the app."""
    seen = {}

    def on_start(hello):
        pid = hello["pid"]
        seen.update(sid=os.getsid(pid), pgid=os.getpgid(pid),
                    nice=int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[16]))
        seen["autogroup"] = autogroup(pid)

    from secondme.worker import run_in_worker

    run_in_worker(sm.worker_spec("import_paths"), "import_paths",
                  {"paths": [str(chat_export(tmp_path / "c.json"))]}, on_start=on_start)
    assert seen["sid"] == os.getsid(0)               # the app's session …
    assert seen["pgid"] != os.getpgid(0)             # … not its terminal's Ctrl-C
    assert seen["nice"] >= os.nice(0) + 5
    if seen["autogroup"] and autogroup("self"):     # no autogroups on every kernel
        assert seen["autogroup"] == autogroup("self")


def test_import_runs_in_another_process_with_progress_and_hooks(sm, tmp_path, monkeypatch):
    from secondme.service import SecondMe

    export = chat_export(tmp_path / "chats.json")
    monkeypatch.setattr(SecondMe, "import_paths", lambda *a, **k: pytest.fail("ran here"))
    seen, hooks = [], []
    sm.hooks.connect("import_did_finish", lambda **kw: hooks.append(kw))
    rep = sm.run_in_worker_process("import_paths", paths=[str(export)], me=["Sam Rivera"],
                                   progress=seen.append)
    assert rep.messages_added == 60 and rep.sources[0].conversations == 3
    assert seen and seen[-1].total and seen[-1].done == seen[-1].total
    assert hooks and hooks[0]["report"].messages_added == 60     # re-emitted here
    assert sm.store.conn.execute("select count(*) from messages").fetchone()[0] == 60
    # the import asked for formation, as it does in-process
    assert {j.name: j for j in sm.jobs_list()}["extract"].requested


def test_formation_runs_in_another_process_and_the_loaded_index_catches_up(sm, tmp_path,
                                                                          monkeypatch):
    from secondme.service import SecondMe

    sm.update_settings(me_name="Sam Rivera")
    sm.import_paths([chat_export(tmp_path / "chats.json")])
    vindex = sm.open_vectors()                  # the app has its index loaded
    assert len(vindex) == 0
    monkeypatch.setattr(SecondMe, "run_extract", lambda *a, **k: pytest.fail("ran here"))
    progress, finished = [], []
    sm.hooks.connect("job_did_progress", lambda **kw: progress.append(kw["progress"]))
    sm.hooks.connect("job_did_finish", lambda **kw: finished.append(kw))
    summary = sm.run_in_worker_process("run_job", name="extract")
    assert summary["items"] == 60 and summary["added"] > 0
    assert progress and finished[0]["outcome"] == "ok"
    n_items = sm.store.conn.execute("select count(*) from vector_items").fetchone()[0]
    assert n_items > 60 and len(vindex) == n_items   # messages and new notes, found here
    note = sm.list_notes(limit=1)[0]
    assert any(r.id == note.id for r in sm.search(note.text, k=20, kinds=["note"]))
    runs = sm.job_runs("extract")
    assert runs[0]["outcome"] == "ok" and sm.job_runner.holder("extract") is None


def test_the_worker_holds_no_second_copy_of_the_index(sm, tmp_path):
    # At 1M messages the index is ~0.8 GB: the worker loaded its own copy beside the
    # app's, inserted every vector into it and saved it. Now its vectors go to the
    # database only; the app's loaded index reads them by label and saves the file.
    from secondme.paths import DB_FILE, LOG_DIR, VECTOR_DIR, WORKER_LOG_FILE
    from secondme.store import Store
    from secondme.store.vectors import INDEX_FILE, VectorIndex

    sm.update_settings(me_name="Sam Rivera")
    sm.import_paths([chat_export(tmp_path / "chats.json")])
    vindex = sm.open_vectors()                    # the app's copy, in memory
    vindex.save()
    # the file is damaged now: a worker that opened it would say so in its log (and
    # rebuild it); the app's loaded copy does not care
    (sm.home / VECTOR_DIR / INDEX_FILE).write_bytes(b"not an index")
    summary = sm.run_in_worker_process("run_job", name="extract")
    assert summary["added"] > 0
    log = (sm.home / LOG_DIR / WORKER_LOG_FILE).read_text()
    assert "vector index unreadable" not in log, log
    entries = sm.store.conn.execute("select count(distinct vec) from vector_items").fetchone()[0]
    assert entries > 60 and len(vindex) == entries        # caught up here, by label
    note = sm.list_notes(limit=1)[0]
    assert any(r.id == note.id for r in sm.search(note.text, k=20, kinds=["note"]))
    # saved after the run (the app is still open): another process loads it as it is
    store = Store.open(sm.home / DB_FILE)
    try:
        again = VectorIndex.open(sm.home / VECTOR_DIR, vindex.model_id, vindex.dim, store)
        assert again.status == "loaded" and len(again) == entries
    finally:
        store.close()


def test_an_error_in_the_child_is_the_same_error_here(sm, tmp_path):
    bad = tmp_path / "broken.json"
    bad.write_text('{"conversations": [{"id": "x", "messages": [')
    with pytest.raises(ImportFormatError) as here:
        sm.import_paths([bad])
    with pytest.raises(ImportFormatError) as there:
        sm.run_in_worker_process("import_paths", paths=[str(bad)])
    assert str(there.value) == str(here.value)
    assert there.value.path == here.value.path
    assert there.value.report.sources[0].failed


def test_cancel_stops_the_child_between_conversations_and_the_store_stays_healthy(
        sm, tmp_path):
    import psutil

    export = chat_export(tmp_path / "big.json", conversations=300, messages=60)
    token = CancelToken()
    started = []

    def progress(p):
        if p.done and not started:
            started.append(p)
            token.cancel()

    t0 = time.monotonic()
    with pytest.raises(Cancelled):
        sm.run_in_worker_process("import_paths", paths=[str(export)], progress=progress,
                                 cancel=token)
    assert time.monotonic() - t0 < 60
    assert started
    assert not [c for c in psutil.Process().children() if c.is_running()
                and c.status() != psutil.STATUS_ZOMBIE]
    n = sm.store.conn.execute("select count(*) from messages").fetchone()[0]
    assert 0 <= n < 300 * 60 and integrity(sm) == "ok"
    # importing again finishes the job
    rep = sm.run_in_worker_process("import_paths", paths=[str(export)])
    assert rep.messages_added + n == 300 * 60


def test_a_cancelled_job_releases_its_lease_and_records_cancelled(sm, tmp_path):
    sm.import_paths([chat_export(tmp_path / "big.json", conversations=40, messages=100)])
    token = CancelToken()
    with pytest.raises(Cancelled):
        # cancelled once formation reports (the child reports opening the vector index
        # before the job starts: a cancel then stops it before any run is recorded)
        sm.run_in_worker_process("run_job", name="extract", cancel=token,
                                 progress=lambda p: p.stage == "forming memories"
                                 and token.cancel())
    assert sm.job_runs("extract")[0]["outcome"] == "cancelled"
    assert sm.job_runner.holder("extract") is None and "extract" not in sm.job_runner.running
    assert integrity(sm) == "ok"


def test_other_jobs_run_here(sm):
    summary = sm.run_in_worker_process("run_job", name="decay")
    assert sm.job_runs("decay")[0]["outcome"] == "ok" and isinstance(summary, dict)


def test_a_service_another_process_cannot_open_runs_the_op_here(home, fake_embedder, tmp_path):
    from datetime import datetime, timezone

    from secondme.service import SecondMe

    with SecondMe(home, embedder=fake_embedder,
                  clock=lambda: datetime(2024, 6, 1, tzinfo=timezone.utc)) as sm:
        assert sm.worker_spec() is None
        rep = sm.run_in_worker_process("import_paths", paths=[str(chat_export(
            tmp_path / "c.json"))])
        assert rep.messages_added == 60
    with SecondMe(home, embedder=object()) as sm:
        assert sm.worker_spec() is None
    with SecondMe(home) as sm:                 # the real embedder: opened by the child
        assert sm.worker_spec().embedder == {"kind": "default"}
        with pytest.raises(ValueError):
            sm.run_in_worker_process("delete_everything")


def test_an_encrypted_store_is_opened_with_its_key(tmp_path, monkeypatch, fake_embedder):
    from secondme.service import SecondMe
    from secondme.store import crypto

    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.delenv("SECONDME_PASSPHRASE", raising=False)
    crypto.init_store(tmp_path, encrypt=True, passphrase="a passphrase", scrypt_n=2 ** 12)
    with SecondMe(tmp_path, passphrase="a passphrase", embedder=fake_embedder) as sm:
        spec = sm.worker_spec()
        assert spec.key and spec.key not in json.dumps(dict(os.environ))
        rep = sm.run_in_worker_process("import_paths",
                                       paths=[str(chat_export(tmp_path / "c.json"))])
        assert rep.messages_added == 60
        assert sm.store.conn.execute("select count(*) from messages").fetchone()[0] == 60
    log = (tmp_path / "logs" / "worker.log").read_text()
    assert spec.key not in log


def test_the_scheduler_of_the_app_forms_memories_in_a_worker(home, fake_embedder, tmp_path,
                                                             monkeypatch):
    from secondme.service import SecondMe

    sm = SecondMe(home, embedder=fake_embedder)
    sm.request_delay_seconds = 0.1
    sm.catchup_delay_seconds = 3600
    finished = []
    sm.hooks.connect("job_did_finish", lambda **kw: finished.append(kw))
    monkeypatch.setattr(SecondMe, "run_extract", lambda *a, **k: pytest.fail("ran here"))
    try:
        sm.start_background(worker_processes=True)
        sm.import_paths([chat_export(tmp_path / "c.json")])   # requests extract
        deadline = time.time() + 120
        while time.time() < deadline and not finished:
            time.sleep(0.1)
        assert finished and finished[0]["name"] == "extract"
        assert finished[0]["outcome"] == "ok", finished
        assert sm.job_runs("extract")[0]["trigger"] == "request"
        assert sm.list_notes(limit=5)
    finally:
        sm.close()
    assert not sm.background_running


def test_stopping_the_scheduler_cancels_a_formation_in_a_worker(home, fake_embedder,
                                                                 tmp_path):
    from secondme.service import SecondMe

    sm = SecondMe(home, embedder=fake_embedder)
    sm.request_delay_seconds = 0.1
    sm.catchup_delay_seconds = 3600
    sm.import_paths([chat_export(tmp_path / "big.json", conversations=80, messages=100)])
    progress = []
    sm.hooks.connect("job_did_progress", lambda **kw: progress.append(kw))
    try:
        sm.start_background(worker_processes=True)
        sm.request_job("extract")
        deadline = time.time() + 120
        while time.time() < deadline and not progress:
            time.sleep(0.05)
        assert progress
        assert "extract" in sm.job_runner.running           # registered here
        info = {j.name: j for j in sm.jobs_list()}["extract"]
        assert info.running and info.progress
        t0 = time.monotonic()
        sm.stop_background()
        assert time.monotonic() - t0 < 60
    finally:
        sm.close()
    with SecondMe(home, embedder=fake_embedder) as again:
        assert again.job_runs("extract")[0]["outcome"] == "cancelled"
        assert again.job_runner.holder("extract") is None and integrity(again) == "ok"


# -- the child on its own -----------------------------------------------------------------
def _start_child(sm, op, args):
    from secondme.worker import _child_env, worker_command

    proc = subprocess.Popen(worker_command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=_child_env(), text=True)
    proc.stdin.write(json.dumps({"op": op, "args": args,
                                 "service": asdict(sm.worker_spec())}) + "\n")
    proc.stdin.flush()
    return proc


def _messages(proc, until):
    out = []
    for line in proc.stdout:
        out.append(json.loads(line))
        if until(out[-1]):
            break
    return out


def test_the_child_never_imports_qt_and_says_hello_first(sm, tmp_path):
    proc = _start_child(sm, "import_paths", {"paths": [str(chat_export(tmp_path / "c.json"))]})
    proc.stdin.close()
    msgs = _messages(proc, lambda m: m["t"] in ("result", "error", "crash"))
    assert msgs[0]["t"] == "hello" and msgs[0]["qt"] is False and msgs[0]["pid"] == proc.pid
    assert proc.wait(60) == 0


@pytest.mark.skipif(os.name != "posix", reason="SIGTERM")
def test_sigterm_cancels_the_child_gracefully(sm, tmp_path):
    sm.import_paths([chat_export(tmp_path / "big.json", conversations=60, messages=100)])
    proc = _start_child(sm, "run_job", {"name": "extract"})
    _messages(proc, lambda m: m["t"] == "progress" and m["p"]["done"] > 0)
    proc.send_signal(signal.SIGTERM)
    msgs = _messages(proc, lambda m: m["t"] in ("result", "error", "crash"))
    assert msgs[-1]["t"] == "error" and msgs[-1]["error"]["type"] == "Cancelled"
    assert proc.wait(60) == 0
    assert sm.job_runs("extract")[0]["outcome"] == "cancelled"
    assert sm.job_runner.holder("extract") is None and integrity(sm) == "ok"


def test_the_child_stops_when_the_app_is_gone(sm, tmp_path):
    """The app died (its end of the pipe closed): the child cancels and exits."""
    export = chat_export(tmp_path / "big.json", conversations=300, messages=60)
    proc = _start_child(sm, "import_paths", {"paths": [str(export)]})
    _messages(proc, lambda m: m["t"] == "progress" and m["p"]["done"] > 0)
    proc.stdin.close()
    msgs = _messages(proc, lambda m: m["t"] in ("result", "error", "crash"))
    assert msgs[-1]["t"] == "error" and msgs[-1]["error"]["type"] == "Cancelled"
    assert proc.wait(60) == 0 and integrity(sm) == "ok"


def test_a_stray_print_in_the_child_cannot_corrupt_the_protocol(sm, tmp_path):
    """Whatever writes to fd 1 in the child lands on stderr, not in the JSON channel."""
    code = ("import os, sys, json; from secondme.cli import worker as w; "
            "chan = w.Channel(w._private_stdout()); print('noise'); "
            "os.write(1, b'C noise\\n'); chan.send('hello', pid=1, qt=False)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.stdout.splitlines() == [json.dumps({"t": "hello", "pid": 1, "qt": False})]
    assert "noise" in out.stderr and "C noise" in out.stderr


def test_a_child_that_dies_is_an_internal_error_with_the_log(sm, tmp_path):
    from secondme.worker import WorkerProcessError

    export = chat_export(tmp_path / "big.json", conversations=300, messages=60)
    killed = []

    def progress(p):
        if not killed:
            import psutil

            for c in psutil.Process().children():
                c.kill()
                killed.append(c.pid)

    with pytest.raises(WorkerProcessError) as e:
        sm.run_in_worker_process("import_paths", paths=[str(export)], progress=progress)
    assert killed and not isinstance(e.value, SecondMeError)
    assert "stopped unexpectedly" in str(e.value)
    assert integrity(sm) == "ok"


# -- the index catching up ----------------------------------------------------------------
def test_vector_index_sync_adds_what_another_process_wrote_and_drops_what_it_removed(sm):
    from secondme.indexing import write_vectors

    v = sm.open_vectors()
    rng = np.random.default_rng(1)
    vecs = rng.standard_normal((6, v.dim)).astype(np.float32)

    def other_process(entries, replace=False):
        with sm.store.write() as db:
            pairs, _stale = write_vectors(db.conn, v.model_id, "note", entries,
                                          replace=replace)
        return [label for label, _vec in pairs]

    labels = other_process([(i, f"h{i}", vecs[i - 1]) for i in range(1, 6)])
    assert len(v) == 0
    assert v.sync(sm.store) == 5 and len(v) == 5
    assert v.search(vecs[2], 1)[0][0] == labels[2]
    with sm.store.write() as db:                               # note 2 deleted there
        db.conn.execute("delete from vector_items where kind = 'note' and item_id = 2")
    assert v.sync(sm.store) == 1 and len(v) == 4
    # note 5 (the highest label) replaced: it gets a new label (labels are never reused,
    # m403), so the old vector is dropped and the new one found
    reused = other_process([(5, "h5b", vecs[5])], replace=True)
    assert reused != [labels[4]]
    assert v.sync(sm.store) == 2 and len(v) == 4
    assert v.search(vecs[5], 1) == [(reused[0], pytest.approx(0.0, abs=1e-5))]
    assert v.sync(sm.store) == 0                               # nothing changed since


def test_a_note_this_process_forgot_and_the_other_re_embedded_comes_back(sm):
    from secondme.indexing import forget_items, write_vectors

    v = sm.open_vectors()
    vecs = np.random.default_rng(2).standard_normal((3, v.dim)).astype(np.float32)
    with sm.store.write() as db:
        pairs, _ = write_vectors(db.conn, v.model_id, "note",
                                 [(1, "a", vecs[0]), (2, "b", vecs[1])])
    v.sync(sm.store)
    forget_items(sm.store, v, "note", [2])                     # the person edited note 2
    assert len(v) == 1
    with sm.store.write() as db:                               # re-embedded elsewhere
        again, _ = write_vectors(db.conn, v.model_id, "note", [(2, "b2", vecs[2])])
    assert again[0][0] != pairs[1][0]                          # a new label
    assert v.sync(sm.store) == 1
    assert len(v) == 2 and v.search(vecs[2], 1)[0][0] == again[0][0]
