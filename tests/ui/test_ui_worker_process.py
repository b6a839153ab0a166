"""The window never waits for an import or memory formation (issue 14 item 2): both run
in a worker process; progress, cancel and errors reach the panes as they did when the
work ran on the runner's threads."""
from __future__ import annotations

import json
import sys
import textwrap
import time

import pytest
from ui_helpers import wait_idle


@pytest.fixture
def fresh_sm(home):
    from secondme.models.embed import HashEmbedder
    from secondme.service import SecondMe

    sm = SecondMe(home, embedder=HashEmbedder())
    sm.update_settings(me_name="Sam Rivera")
    yield sm
    sm.close()


@pytest.fixture
def pane(qtbot, fresh_sm, ctx_factory):
    from secondme_ui.panes.importer import ImportPanel

    ctx = ctx_factory(fresh_sm)
    p = ImportPanel(ctx)
    qtbot.addWidget(p)
    p.show()
    return p


def export(path, conversations=60, messages=150, broken=()):
    convs = []
    for c in range(conversations):
        if c in broken:
            convs.append({"id": f"c{c}", "title": f"Broken {c}"})
            continue
        convs.append({"id": f"c{c}", "title": f"Chat {c}", "participants": ["Sam Rivera", "Bo"],
                      "messages": [{"id": f"c{c}m{i}", "speaker": "Bo" if i % 2 else "Sam Rivera",
                                    "timestamp": f"2024-0{1 + c % 9}-1{i % 10}"
                                                 f"T10:{i % 60:02d}:00+00:00",
                                    "text": f"message {i} about topic {c}: I moved to Porto"}
                                   for i in range(messages)]})
    path.write_text(json.dumps({"conversations": convs}))
    return path


def worker_children() -> list:
    import psutil

    out = []
    for c in psutil.Process().children():
        try:
            if c.status() != psutil.STATUS_ZOMBIE and "secondme.cli.worker" in " ".join(
                    c.cmdline()):
                out.append(c)
        except psutil.NoSuchProcess:
            pass
    return out


def test_the_import_runs_in_a_worker_process_and_its_progress_reaches_the_pane(
        qtbot, pane, tmp_path, monkeypatch):
    from secondme.service import SecondMe

    monkeypatch.setattr(SecondMe, "import_paths",
                        lambda *a, **k: pytest.fail("the import ran in the app's process"))
    seen, children = [], []
    shown = pane._progress

    def progress(p):
        seen.append(p)
        children.extend(worker_children())
        shown(p)

    monkeypatch.setattr(pane, "_progress", progress)
    pane.add_paths([str(export(tmp_path / "chats.json", conversations=40, messages=50,
                               broken=(3,)))])
    with qtbot.waitSignal(pane.import_finished, timeout=120000):
        pane.start_import()
    assert seen and children                          # progress came from a child
    assert "Imported 1,950 messages" in pane.progress_label.text()
    top = pane.summary.topLevelItem(0)
    assert top.text(3) == "1950" and top.childCount() == 1     # the broken conversation
    assert pane.ctx.sm.store.conn.execute("select count(*) from messages").fetchone()[0] \
        == 1950
    assert not pane.ctx.errors


def test_cancel_stops_the_child_and_leaves_the_store_healthy(qtbot, pane, tmp_path):
    p = export(tmp_path / "big.json", conversations=400, messages=60)
    pane.add_paths([str(p)])
    pane.start_import()
    qtbot.waitUntil(lambda: pane.progress.maximum() > 0 and pane.progress.value() > 0,
                    timeout=60000)
    assert worker_children()
    pane.cancel()
    wait_idle(qtbot, pane.ctx.runner, 60000)
    assert "cancelled" in pane.progress_label.text().lower()
    assert not worker_children()                       # the child is gone
    conn = pane.ctx.sm.store.conn
    n = conn.execute("select count(*) from messages").fetchone()[0]
    assert 0 < n < 400 * 60
    assert conn.execute("pragma integrity_check").fetchone()[0] == "ok"
    assert not pane.cancel_button.isEnabled() and pane.import_button.isEnabled()
    assert not pane.ctx.errors
    # importing again continues where it stopped
    pane.add_paths([str(p)])
    with qtbot.waitSignal(pane.import_finished, timeout=180000):
        pane.start_import()
    assert conn.execute("select count(*) from messages").fetchone()[0] == 400 * 60


def test_an_error_in_the_child_reaches_the_banner_as_the_same_line(qtbot, pane, tmp_path):
    from secondme.errors import ImportFormatError

    bad = tmp_path / "truncated.json"
    bad.write_text('{"conversations": [{"id": "x", "messages": [{"id": 1, "text": "hi"')
    with pytest.raises(ImportFormatError) as in_process:
        pane.ctx.sm.import_paths([bad])
    pane.add_paths([str(bad)])
    qtbot.waitUntil(lambda: pane.queue.topLevelItem(0).text(1) != "detecting…", timeout=10000)
    pane.start_import()
    qtbot.waitUntil(lambda: bool(pane.ctx.errors), timeout=60000)
    wait_idle(qtbot, pane.ctx.runner, 30000)
    assert pane.ctx.errors == [str(in_process.value)]
    assert "\n" not in pane.ctx.errors[0] and "Traceback" not in pane.ctx.errors[0]
    said = str(in_process.value).rstrip(". ")
    assert pane.progress_label.text() == f"Import failed: {said}."


def test_a_bug_in_the_child_is_an_internal_error_with_its_traceback_in_the_log(
        qtbot, pane, tmp_path, monkeypatch):
    # a sitecustomize module makes the child's import fail with a bug (a ValueError)
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(textwrap.dedent("""
        from secondme.ingest import ops

        def broken(self, *a, **k):
            raise ValueError("boom in the worker")

        ops.ImportOps.import_paths = broken
    """))
    monkeypatch.setenv("PYTHONPATH", str(site))
    pane.add_paths([str(export(tmp_path / "c.json", conversations=2, messages=5))])
    pane.start_import()
    qtbot.waitUntil(lambda: bool(pane.ctx.errors), timeout=60000)
    wait_idle(qtbot, pane.ctx.runner, 30000)
    err = pane.ctx.errors[0]
    # the banner says in words that a bug stopped the import and where its details are;
    # the child's exception and frames are in the log, not on screen
    assert err.startswith("Something went wrong inside secondme — a bug, not something")
    assert "secondme.log" in err and "boom" not in err and "ValueError" not in err
    log = (pane.ctx.sm.home / "logs" / "secondme.log").read_text()
    assert "in the worker process" in log and "raise ValueError" in log
    assert "boom in the worker" in log
    assert "broken" in log                                   # the child's frames
    assert pane.import_button.isEnabled() and not pane.cancel_button.isEnabled()


def test_memories_form_in_a_worker_process_after_an_import(qtbot, pane, tmp_path,
                                                           monkeypatch):
    from secondme.service import SecondMe

    sm = pane.ctx.sm
    vindex = sm.open_vectors()               # the app's loaded index (warm-up)
    monkeypatch.setattr(SecondMe, "run_extract",
                        lambda *a, **k: pytest.fail("formation ran in the app's process"))
    pane.add_paths([str(export(tmp_path / "chats.json", conversations=10, messages=40))])
    with qtbot.waitSignal(pane.import_finished, timeout=120000):
        pane.start_import()
    # no scheduler here: the pane runs the extract job itself — in a worker process
    qtbot.waitUntil(lambda: pane.ctx.runner.running("extract") is None
                    and bool(sm.job_runs("extract")), timeout=120000)
    run = sm.job_runs("extract")[0]
    assert run["outcome"] == "ok", run
    assert sm.list_notes(limit=5)
    n_items = sm.store.conn.execute("select count(*) from vector_items").fetchone()[0]
    assert len(vindex) == n_items > 400       # found by the app's answers at once


def test_activity_runs_formation_in_a_worker_and_shows_its_progress(
        qtbot, fresh_sm, ctx_factory, tmp_path, monkeypatch):
    from secondme.service import SecondMe
    from secondme_ui.panes.activity import ActivityPanel

    fresh_sm.import_paths([export(tmp_path / "chats.json", conversations=6, messages=50)])
    ctx = ctx_factory(fresh_sm)
    p = ActivityPanel(ctx, poll_ms=200)
    qtbot.addWidget(p)
    p.show()
    ctx.bridge.fired.connect(p.on_hook)
    hooks = []
    ctx.bridge.fired.connect(lambda name, payload: hooks.append(name))
    monkeypatch.setattr(SecondMe, "run_extract",
                        lambda *a, **k: pytest.fail("formation ran in the app's process"))
    qtbot.waitUntil(lambda: p.tree.topLevelItemCount() >= 3, timeout=10000)
    p.run_job("extract")
    qtbot.waitUntil(lambda: "Memory formation finished" in p.status.text() or bool(ctx.errors),
                    timeout=180000)
    assert not ctx.errors, ctx.errors
    assert "job_did_progress" in hooks and "notes_did_change" in hooks
    assert "job_did_finish" in hooks
    assert fresh_sm.job_runs("extract")[0]["outcome"] == "ok"
    qtbot.waitUntil(lambda: any(p.tree.topLevelItem(i).text(0) == "Memory formation"
                                and p.tree.topLevelItem(i).text(4) == "done"
                                for i in range(p.tree.topLevelItemCount())), timeout=10000)
    assert not ctx.errors


def test_the_worker_process_never_loads_qt(qtbot, fresh_sm, tmp_path):
    """This process has Qt loaded; the child is a fresh interpreter (spawn semantics),
    never a fork of it, and imports the core only."""
    from secondme.worker import run_in_worker

    assert "PySide6" in sys.modules
    hello = []
    rep = run_in_worker(fresh_sm.worker_spec(), "import_paths",
                        {"paths": [str(export(tmp_path / "c.json", 2, 5))]},
                        on_start=hello.append)
    assert rep.messages_added == 10
    assert hello[0]["qt"] is False and hello[0]["pid"] != __import__("os").getpid()


def test_closing_the_window_while_forming_leaves_no_process_behind(
        qtbot, fresh_sm, window_factory, tmp_path):
    fresh_sm.import_paths([export(tmp_path / "chats.json", conversations=60, messages=100)])
    w = window_factory(fresh_sm)
    started = []
    fresh_sm.hooks.connect("job_did_progress", lambda **kw: started.append(1))
    w.runner.run_in_process(fresh_sm, "run_job", {"name": "extract"}, key="extract")
    qtbot.waitUntil(lambda: bool(started), timeout=120000)
    t0 = time.monotonic()
    w.shutdown()
    deadline = time.monotonic() + 60
    while worker_children() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not worker_children()
    assert time.monotonic() - t0 < 60
    assert fresh_sm.job_runner.holder("extract") is None
    assert fresh_sm.job_runs("extract")[0]["outcome"] == "cancelled"


# -- the GUI thread's own collections (every collection runs there: issue 19) -----------------
def test_nothing_is_collected_while_models_load_and_what_loaded_is_frozen(qtbot):
    import gc

    from secondme_ui import gc_policy

    col = gc_policy.current()
    before = list(col.policy.collections)
    gc_policy.pause_for_loading()
    try:
        loaded = [[i] for i in range(300_000)]        # "the models": long-lived objects
        for _ in range(5):
            col.tick()
        assert col.policy.collections == before       # no collection while loading
    finally:
        gc_policy.loaded()
    try:
        assert gc.get_freeze_count() >= 300_000
        assert len(gc.get_objects(2)) < 100_000       # a full collection will not scan them
        t0 = time.perf_counter()
        gc.collect()
        assert time.perf_counter() - t0 < 0.5
        assert loaded[-1] == [299_999]
    finally:
        gc.unfreeze()
        col.policy.keep_frozen = False


def test_a_full_collection_waits_until_the_oldest_generation_grew_by_a_quarter(qtbot):
    import gc

    from secondme_ui import gc_policy

    col = gc_policy.current()
    gc.collect()                                       # long_lived = the heap now
    assert col.policy.long_lived == len(gc.get_objects(2)) > 0
    full0 = col.policy.collections[2]                  # one policy serves every UI test
    t0, t1, t2 = gc.get_threshold()
    keep = []
    for _ in range(t2 + 2):                            # enough gen-1 collections for a gen 2
        for _ in range(t1 + 1):
            keep.append([[] for _ in range(t0 + 1)])
            col.tick()
    assert col.policy.collections[2] == full0 or \
        len(gc.get_objects(2)) - col.policy.long_lived >= col.policy.long_lived // 4
    grown = [[i] for i in range(col.policy.long_lived)]   # now it grew by far more
    full = col.policy.collections[2]
    for _ in range((t1 + 1) * (t2 + 2)):
        keep.append([[] for _ in range(t0 + 1)])
        col.tick()
    assert col.policy.collections[2] > full
    del grown, keep
