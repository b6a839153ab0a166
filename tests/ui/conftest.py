"""Fixtures for the desktop-app tests (every test in tests/ui/ gets them from here).

The demo export is imported once per session into a template data dir (fake hash
embedder, deterministic extraction); each test gets its own copy, so tests can change
data freely and still start in a fraction of a second. Plain helpers the tests call
(``wait_idle``, ``show_active``) are in ``ui_helpers.py`` beside this file.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["SECONDME_UI_NO_DIALOGS"] = "1"


@pytest.fixture(scope="session", autouse=True)
def gc_on_gui_thread(qapp):
    """Every GUI test runs under the app's collection policy (secondme_ui.gc_policy),
    installed once for all of them: handing Python its automatic collector back between
    two tests let a thread left from one test (a runner, a worker process's reader)
    collect that test's closed window off the GUI thread — a segfault in one of five
    whole-suite runs (issue 19). Uninstalled, after a last collection here, at the end."""
    from secondme_ui import gc_policy

    gc_policy.install(qapp)
    yield
    gc_policy.uninstall()


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory) -> Path:
    """A data dir with the bundled demo export imported and memories formed."""
    from secondme_ui.panes.standalone import demo_service

    d = tmp_path_factory.mktemp("demo-template") / "data"
    sm = demo_service(str(d), fake_models=True)
    sm.close()
    return d


CHAT_2K = Path(__file__).resolve().parent.parent / "fixtures" / "ui" / \
    "WhatsApp Chat with Tom Baker.txt"


@pytest.fixture(scope="session")
def chat2k_template(tmp_path_factory) -> Path:
    """A data dir with a 2,000-message WhatsApp chat (tests/fixtures/ui/make_chat.py)
    imported and memories formed (fake embedder, deterministic extraction)."""
    from secondme.models.embed import HashEmbedder
    from secondme.service import SecondMe

    d = tmp_path_factory.mktemp("chat2k") / "data"
    sm = SecondMe(d, embedder=HashEmbedder())
    sm.update_settings(me_name="Sam Rivera")
    sm.import_paths([str(CHAT_2K)], me="Sam Rivera")
    sm.run_extract()
    sm.index_pending()
    sm.close()
    return d


@pytest.fixture
def chat2k_sm(chat2k_template, tmp_path):
    from secondme.models.embed import HashEmbedder
    from secondme.service import SecondMe

    d = tmp_path / "chat2k"
    shutil.copytree(chat2k_template, d)
    sm = SecondMe(d, embedder=HashEmbedder())
    yield sm
    sm.close()


@pytest.fixture
def demo_home(demo_template, tmp_path) -> Path:
    d = tmp_path / "demo data"
    shutil.copytree(demo_template, d)
    return d


@pytest.fixture
def demo_sm(demo_home):
    from secondme.models.embed import HashEmbedder
    from secondme.service import SecondMe

    sm = SecondMe(demo_home, embedder=HashEmbedder())
    yield sm
    sm.close()


def _make_ctx(sm):
    """An AppContext with a runner and hook bridge (for testing one pane) that records
    what the pane asks the window to do."""
    from secondme_ui.context import AppContext, HookBridge
    from secondme_ui.runner import OpRunner

    runner = OpRunner(log_path=Path(sm.home) / "logs" / "secondme.log")
    bridge = HookBridge(sm)
    ctx = AppContext(sm, runner, bridge)
    ctx.errors = []
    ctx.opened_sources = []
    ctx.opened_notes = []
    ctx.filters = []
    runner.error_shown.connect(ctx.errors.append)
    ctx.show_error = ctx.errors.append
    ctx.open_source = lambda kind, id: ctx.opened_sources.append((kind, id))
    ctx.open_note = ctx.opened_notes.append
    ctx.filter_memories = lambda **kw: ctx.filters.append(kw)
    return ctx


@pytest.fixture
def ctx_factory(qtbot):
    made = []

    def make(sm):
        c = _make_ctx(sm)
        made.append(c)
        return c

    yield make
    for c in made:
        c.runner.shutdown(5000)
        c.bridge.close()


@pytest.fixture
def window_factory(qtbot, tmp_path):
    """MainWindow(sm) with QSettings in a temp ini; closed at the end."""
    from PySide6.QtCore import QSettings

    from secondme_ui.window import MainWindow

    made = []

    def make(sm, **kw):
        qs = QSettings(str(tmp_path / "qsettings.ini"), QSettings.Format.IniFormat)
        kw.setdefault("onboarding", False)
        kw.setdefault("warm_up", False)
        w = MainWindow(sm, qsettings=qs, **kw)
        qtbot.addWidget(w)
        made.append(w)
        return w

    yield make
    for w in made:
        w.shutdown()


def _fill_large_store(sm, n_notes: int = 100_000, hub_links: int = 5_000) -> int:
    """Insert ``n_notes`` notes straight into the store (test data, not through the UI)
    and link note 1 (the hub) to ``hub_links`` others. Returns the hub's id."""
    import random

    rng = random.Random(5)
    words = ("lisbon berlin biscuit anna marco dad run book coffee tram river work design "
             "wedding sintra porto flat rent dog vet train sea lunch dinner plan").split()
    now = "2024-06-01T10:00:00+00:00"
    with sm.store.write() as db:
        c = db.conn
        c.executemany(
            "insert into notes (kind, text, tags, created_at, updated_at, valid_from, origin) "
            "values (?, ?, ?, ?, ?, ?, ?)",
            (("fact", " ".join(rng.choice(words) for _ in range(9)) + f" #{i}",
              rng.choice(words), now, now,
              f"20{rng.randint(15, 24)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
              "mcp:claude" if i % 997 == 0 else "extract") for i in range(n_notes)))
        hub = c.execute("select min(id) from notes").fetchone()[0]
        top = c.execute("select max(id) from notes").fetchone()[0]
        targets = rng.sample(range(hub + 1, top + 1), hub_links)
        c.executemany("insert or ignore into links (src_id, dst_id, kind, weight, created_by, "
                      "created_at) values (?, ?, 'related', ?, 'auto', ?)",
                      ((hub, t, rng.random(), now) for t in targets))
        # a second ring so depth 2 has something to find
        c.executemany("insert or ignore into links (src_id, dst_id, kind, weight, created_by, "
                      "created_at) values (?, ?, 'related', 0.5, 'auto', ?)",
                      ((t, rng.randint(hub + 1, top), now) for t in targets[:2000]))
    return hub


@pytest.fixture(scope="session")
def large_template(tmp_path_factory) -> Path:
    """A data dir with 100,000 notes and a hub note linked to 5,000 others."""
    from secondme.models.embed import HashEmbedder
    from secondme.service import SecondMe

    d = tmp_path_factory.mktemp("large") / "data"
    sm = SecondMe(d, embedder=HashEmbedder())
    _fill_large_store(sm)
    sm.close()
    return d


@pytest.fixture
def large_sm(large_template, tmp_path):
    from secondme.models.embed import HashEmbedder
    from secondme.service import SecondMe

    d = tmp_path / "large"
    shutil.copytree(large_template, d)
    sm = SecondMe(d, embedder=HashEmbedder())
    yield sm
    sm.close()
