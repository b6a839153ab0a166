"""The shell: window, panes, keyboard, QSettings, banner, palette, tray-less quick ask,
single instance, onboarding, resources, the paint probe."""
from __future__ import annotations

import filecmp
import os
import subprocess
import sys

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QApplication
from ui_helpers import show_active, wait_idle


def test_window_opens_with_every_pane(qtbot, window_factory, demo_sm):
    from secondme_ui.window import PANES

    w = window_factory(demo_sm)
    w.show()
    assert w.windowTitle() == "secondme"
    assert [k for k, _ in PANES] == ["chat", "import", "memories", "graph", "timeline",
                                      "activity", "settings"]
    for key, _label in PANES:
        assert w.stack.indexOf(w.panes[key]) >= 0


def test_alt_number_switches_panes(qtbot, window_factory, demo_sm):
    w = window_factory(demo_sm)
    show_active(qtbot, w)
    for i, key in enumerate(["chat", "import", "memories", "graph", "timeline", "activity",
                             "settings"], 1):
        qtbot.keyClick(w, getattr(Qt.Key, f"Key_{i}"), Qt.KeyboardModifier.AltModifier)
        assert w.current_pane == key
        assert w.stack.currentWidget() is w.panes[key]


def test_geometry_and_pane_state_restored(qtbot, demo_sm, tmp_path):
    from secondme_ui.window import MainWindow

    ini = str(tmp_path / "qs.ini")
    w = MainWindow(demo_sm, qsettings=QSettings(ini, QSettings.Format.IniFormat),
                   onboarding=False, warm_up=False)
    qtbot.addWidget(w)
    w.resize(1300, 760)
    w.show()
    w.show_pane("memories")
    w.panes["memories"].splitter.setSizes([300, 700])
    sizes = w.panes["memories"].splitter.sizes()
    w.close()
    qs = QSettings(ini, QSettings.Format.IniFormat)
    assert set(qs.allKeys()) <= {"window/geometry", "window/state", "window/pane",
                                 "panes/chat/splitter", "panes/memories/splitter"}
    w2 = MainWindow(demo_sm, qsettings=QSettings(ini, QSettings.Format.IniFormat),
                    onboarding=False, warm_up=False)
    qtbot.addWidget(w2)
    w2.show()
    assert w2.current_pane == "memories"
    # (the offscreen screen is 800 px wide, so Qt clamps the width; the height is kept)
    assert w2.height() == 760
    got = w2.panes["memories"].splitter.sizes()
    assert abs(got[0] / sum(got) - sizes[0] / sum(sizes)) < 0.02, (got, sizes)
    w2.shutdown()


def test_errors_show_in_the_banner_and_esc_dismisses(qtbot, window_factory, demo_sm):
    from secondme.errors import NotFound

    w = window_factory(demo_sm)
    show_active(qtbot, w)

    def boom(progress, cancel):
        raise NotFound("memory 999 does not exist")

    w.runner.run(boom)
    qtbot.waitUntil(lambda: w.banner.isVisible(), timeout=5000)
    assert "memory 999 does not exist" in w.banner.text.lower()
    qtbot.keyClick(w, Qt.Key.Key_Escape)
    assert not w.banner.isVisible()


def test_internal_error_names_the_log_file(qtbot, window_factory, demo_sm):
    w = window_factory(demo_sm)
    w.show()
    w.runner.run(lambda p, c: 1 / 0)
    qtbot.waitUntil(lambda: w.banner.isVisible(), timeout=5000)
    # said in words, with where the details are; never the exception's name
    assert w.banner.text.startswith("Something went wrong inside secondme — a bug, not "
                                    "something you did.")
    assert "secondme.log" in w.banner.text
    assert "ZeroDivisionError" not in w.banner.text and "division" not in w.banner.text


def test_a_pane_s_own_error_line_never_shows_sql_or_python_names(qtbot, demo_sm,
                                                                  ctx_factory):
    """The panes' own error lines (graph, memories, import, settings, source view)
    say a bug is a bug, in words; a SecondMeError keeps its words (written for people)."""
    import sqlite3

    from secondme.errors import NotFound
    from secondme_ui.panes.graph import GraphPanel
    from secondme_ui.render import problem_words

    bug = sqlite3.OperationalError("no such table: vector_items")
    assert problem_words(bug) == ("an internal problem in secondme (a bug; its details are "
                                  "in the log file)")
    assert problem_words(NotFound("That memory no longer exists.")) == \
        "That memory no longer exists"
    p = GraphPanel(ctx_factory(demo_sm))
    qtbot.addWidget(p)
    p._failed(bug)
    assert p.info.text().startswith("Cannot show this neighbourhood: an internal problem")
    for bad in ("vector_items", "no such table", "OperationalError", "sqlite"):
        assert bad not in p.info.text()


def test_a_memory_that_is_gone_is_said_in_words_without_its_id(qtbot, window_factory,
                                                               demo_sm):
    """A citation, a change or a graph centre on a memory deleted since (from the CLI,
    by a merge): the core's message names the memory by its id ("memory 12 does not
    exist"), which the person, who clicked, never saw; the app says what happened and
    why, in words, with no id."""
    sm = demo_sm
    w = window_factory(sm)
    show_active(qtbot, w)
    gone = sm.list_notes(limit=1)[0].id
    sm.delete_note(gone)
    said = "that memory no longer exists (it may have been deleted or merged)"

    def no_id(text: str) -> str:
        assert not any(ch.isdigit() for ch in text), text
        assert "does not exist" not in text and "note " not in text.lower(), text
        return text

    # a citation of it (an older answer's source): the window opens it in Memories…
    w.open_source("note", gone)
    mem = w.panes["memories"]
    qtbot.waitUntil(lambda: mem.detail.header.text().startswith("This memory no longer"),
                    timeout=10000)
    no_id(mem.detail.header.text())
    # … the source view (the panes run on their own) says it in words
    dlg = w.source_dialog
    dlg.open_source("note", gone)
    qtbot.waitUntil(lambda: dlg.title.text().startswith("Cannot"), timeout=10000)
    assert no_id(dlg.title.text()) == f"Cannot open this source: {said}."
    dlg.close()
    # a change on it, made the way the panes make them (no error line of its own: the
    # banner says it)
    w.ctx.changes.run(lambda s: s.pin_note(gone), "pin of “Biscuit…”")
    qtbot.waitUntil(lambda: w.banner.isVisible(), timeout=10000)
    assert no_id(w.banner.text) == said[:1].upper() + said[1:] + "."
    # the graph centred on it
    graph = w.show_pane("graph")
    wait_idle(qtbot, w.runner)
    graph.show_note(gone)
    qtbot.waitUntil(lambda: graph.info.text().startswith("Cannot"), timeout=10000)
    assert no_id(graph.info.text()) == f"Cannot show this neighbourhood: {said}."


def test_palette_runs_commands_and_searches(qtbot, window_factory, demo_sm):
    w = window_factory(demo_sm)
    show_active(qtbot, w)
    qtbot.keyClick(w, Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier)
    dlg = w.palette_dialog
    assert dlg is not None and dlg.isVisible()
    qtbot.keyClicks(dlg.input, "go to timeline")
    qtbot.keyClick(dlg.input, Qt.Key.Key_Return)
    assert w.current_pane == "timeline"
    w.open_palette()
    dlg = w.palette_dialog
    qtbot.keyClicks(dlg.input, "Biscuit")
    qtbot.waitUntil(lambda: len(dlg.results) > 0, timeout=10000)
    # move to the first search result and open it
    for r in range(dlg.list.count()):
        if dlg.list.item(r).text().startswith("🔎"):
            dlg.list.setCurrentRow(r)
            break
    dlg.activate_current()
    qtbot.waitUntil(lambda: (w.source_dialog.isVisible() or w.current_pane == "memories"),
                    timeout=10000)


def test_ctrl_n_and_ctrl_i(qtbot, window_factory, demo_sm):
    w = window_factory(demo_sm)
    show_active(qtbot, w)
    w.show_pane("settings")
    qtbot.keyClick(w, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert w.current_pane == "chat"
    qtbot.keyClick(w, Qt.Key.Key_I, Qt.KeyboardModifier.ControlModifier)
    assert w.current_pane == "import"


def test_every_interactive_widget_is_named_and_focusable(qtbot, window_factory, demo_sm):
    from PySide6.QtWidgets import (
        QAbstractButton,
        QAbstractItemView,
        QAbstractSpinBox,
        QComboBox,
        QLineEdit,
        QPlainTextEdit,
    )

    w = window_factory(demo_sm)
    w.show()
    unnamed = []
    for key, pane in w.panes.items():
        for cls in (QAbstractButton, QComboBox, QLineEdit, QPlainTextEdit, QAbstractItemView,
                    QAbstractSpinBox):
            for wid in pane.findChildren(cls):
                if isinstance(wid, QLineEdit) and isinstance(wid.parent(), (QComboBox,
                                                                              QAbstractSpinBox)):
                    continue
                if wid.parent() is not None and type(wid.parent()).__name__ in (
                        "QCalendarWidget", "QTabBar", "QScrollBar"):
                    continue
                if wid.objectName().startswith("qt_") or type(wid).__name__ == "QHeaderView":
                    continue
                if "Container" in wid.parent().metaObject().className():  # a combo popup
                    continue
                if type(wid).__name__ in ("QToolButton",) and not wid.text():
                    continue
                if not wid.accessibleName() and not (isinstance(wid, QAbstractButton)
                                                     and wid.text()):
                    unnamed.append(f"{key}: {type(wid).__name__} {wid.objectName()}")
                if wid.focusPolicy() == Qt.FocusPolicy.NoFocus and not isinstance(
                        wid, QAbstractItemView):
                    unnamed.append(f"{key}: {type(wid).__name__} not focusable")
    assert not unnamed, unnamed


def test_onboarding_then_demo_import(qtbot, window_factory, home):
    from secondme.models.embed import HashEmbedder
    from secondme.service import SecondMe

    sm = SecondMe(home, embedder=HashEmbedder())
    try:
        w = window_factory(sm, onboarding=True)
        w.show()
        qtbot.waitUntil(lambda: getattr(w, "onboarding_dialog", None) is not None
                        and w.onboarding_dialog.isVisible(), timeout=5000)
        dlg = w.onboarding_dialog
        dlg.name.setText("Sam Rivera")
        dlg.aliases.setText("Sam, sammy")
        dlg.demo_button.click()
        imp = w.panes["import"]
        qtbot.waitUntil(lambda: imp.report is not None, timeout=60000)
        wait_idle(qtbot, w.runner, 60000)
        assert sm.settings.me_name == "Sam Rivera"
        assert sm.settings.me_aliases == ["Sam", "sammy"]
        added = sum(s.messages_added for s in imp.report.sources)
        assert added > 500
        assert not w.is_first_run()
    finally:
        w.shutdown()
        sm.close()


def test_welcome_name_typed_is_saved_while_the_model_is_still_loading(qtbot, window_factory,
                                                                      home):
    """The name typed in the welcome dialog waited for the first run's model export.

    The warm-up loads the embedding model with the service's lock held (exporting it
    takes 10-30 s on the first run, more on a busy machine) and saving settings takes
    the same lock, so the name was saved only once the model was ready (the
    click-through, typing with xdotool on real models: not saved within 30 s). Now the
    warm-up of a first run starts once the welcome dialog is done and its name saved.
    Typed and accepted with real key events, as a person would; the "model export"
    holds the lock until the test lets it go.
    """
    import threading

    from PySide6.QtTest import QTest

    from secondme.models.embed import HashEmbedder
    from secondme.service import SecondMe

    sm = SecondMe(home, embedder=HashEmbedder())
    exporting, release = threading.Event(), threading.Event()

    def open_vectors(progress=None, cancel=None):
        with sm._models:   # as load_embedder does while it exports the model
            exporting.set()
            release.wait(60)

    sm.open_vectors = open_vectors
    sm.start_background = lambda **kw: None
    try:
        w = window_factory(sm, onboarding=True, warm_up=True)
        w.show()
        qtbot.waitUntil(lambda: w.onboarding_dialog is not None
                        and w.onboarding_dialog.isVisible(), timeout=5000)
        dlg = w.onboarding_dialog
        qtbot.wait(1500)   # a person reads the dialog first (the warm-up timer is 300 ms)
        QTest.mouseClick(dlg.name, Qt.MouseButton.LeftButton)
        QTest.keyClicks(dlg.name, "Sam Rivera")
        QTest.keyClick(dlg.name, Qt.Key.Key_Return)   # Start is the default button
        assert not dlg.isVisible() and dlg.choice == "start"
        qtbot.waitUntil(lambda: sm.settings.me_name == "Sam Rivera", timeout=5000)
        assert w.current_pane == "import"
        # and the models are then loaded, after the name was saved
        qtbot.waitUntil(exporting.is_set, timeout=5000)
    finally:
        release.set()
        w.shutdown()
        sm.close()


def test_quick_ask_dialog_answers_and_continues_in_the_app(qtbot, window_factory, demo_sm):
    w = window_factory(demo_sm)
    w.open_quick_ask()
    qa = w.quick_ask_dialog
    assert qa.isVisible()
    with qtbot.waitSignal(qa.chat.answer_finished, timeout=30000):
        qa.chat.ask("When did I adopt Biscuit?")
    qa.more.click()
    assert w.current_pane == "chat"
    assert w.panes["chat"].chat_id == qa.chat.chat_id
    assert "Biscuit" in w.panes["chat"].transcript.toPlainText()


def test_single_instance_forwarding(qtbot, window_factory, demo_sm):
    from secondme_ui.app import InstanceServer, forward_to_running, server_name

    w = window_factory(demo_sm)
    name = server_name(demo_sm.home) + "-test"
    server = InstanceServer(name, w)
    try:
        assert forward_to_running(name + "-nobody", "show", 200) is False
        # a second launch is another process: it hands "quick-ask" over and exits
        code = ("import sys; from PySide6.QtCore import QCoreApplication; "
                "app = QCoreApplication([]); from secondme_ui.app import forward_to_running; "
                f"sys.exit(0 if forward_to_running({name!r}, 'quick-ask', 5000) else 3)")
        proc = subprocess.Popen([sys.executable, "-c", code])
        qtbot.waitUntil(lambda: proc.poll() is not None, timeout=30000)
        assert proc.returncode == 0
        assert server.received == ["quick-ask"]
        assert w.quick_ask_dialog is not None and w.quick_ask_dialog.isVisible()
    finally:
        server.close()


def test_server_names_differ_per_data_dir(tmp_path):
    from secondme_ui.app import server_name

    assert server_name(tmp_path / "a") != server_name(tmp_path / "b")
    assert server_name(tmp_path / "a") == server_name(tmp_path / "a")


def test_demo_export_is_bundled_in_both_places():
    from secondme_ui import assets

    a = assets.CHECKOUT_RESOURCES / "demo"
    b = assets.PACKAGE_RESOURCES / "demo"
    assert a.is_dir() and b.is_dir()
    cmp = filecmp.dircmp(a, b)
    assert not cmp.left_only and not cmp.right_only and not cmp.diff_files
    assert not cmp.subdirs["notes"].diff_files
    assert assets.demo_export_path().is_dir()
    assert assets.icon_path("png").exists() and assets.icon_path("svg").exists()


def test_first_paint_probe(tmp_path):
    """The real launch path (`secondme --home DIR`) paints and reports it."""
    env = dict(os.environ, SECONDME_UI_PAINT_PROBE="1", QT_QPA_PLATFORM="offscreen")
    out = subprocess.run([sys.executable, "-m", "secondme", "--home", str(tmp_path / "h")],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "FIRST_PAINT" in out.stdout


def test_theme_dark_and_light(qtbot, window_factory, demo_sm):
    from PySide6.QtGui import QPalette

    w = window_factory(demo_sm)
    w.apply_theme("dark")
    app = QApplication.instance()
    assert app.palette().color(QPalette.ColorRole.Window).lightness() < 100
    w.apply_theme("light")
    assert app.palette().color(QPalette.ColorRole.Window).lightness() > 200


@pytest.mark.parametrize("pane", ["chat", "graph"])
def test_a_pane_starts_on_its_own_with_demo_data(pane, tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", SECONDME_UI_PANE_SMOKE="1500")
    out = subprocess.run([sys.executable, "-m", f"secondme_ui.panes.{pane}", "--demo",
                          "--fake-models", "--home", str(tmp_path / "h")], env=env,
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "error:" not in out.stderr, out.stderr[-3000:]


@pytest.mark.parametrize("display", [None, ":77"])
def test_no_display_says_so_in_one_line(tmp_path, display):
    """`secondme` without a display used to abort inside Qt (exit 134, "Reinstalling the
    application may fix this problem"); it says in one line that no display was found,
    points to the command line, and exits 1."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    if display:
        env["DISPLAY"] = display  # set, but nothing listens there
    res = subprocess.run([sys.executable, "-m", "secondme", "--home", str(tmp_path / "h")],
                         env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 1, (res.returncode, res.stderr)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert "no display was found" in lines[0] and "secondme --help" in lines[0]
    assert "Reinstall" not in res.stderr and "qt." not in res.stderr
    assert not (tmp_path / "h").exists()  # nothing was created


def test_display_check_accepts_headless_platforms(monkeypatch):
    from secondme_ui.app import display_problem

    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    assert display_problem() is None
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    assert "DISPLAY is not set" in display_problem()


def test_first_window_and_a_restored_one_are_wholly_on_screen(qtbot, demo_sm, tmp_path):
    """The first window opened partly off-screen (a fixed 1280×820 on a smaller
    screen); a geometry saved on a larger or disconnected monitor must not put it
    off-screen either."""
    from PySide6.QtCore import QRect
    from PySide6.QtGui import QGuiApplication

    from secondme_ui.window import MainWindow

    avail = QGuiApplication.primaryScreen().availableGeometry()

    def on_screen(w):
        g = w.geometry()
        return avail.contains(QRect(w.x(), w.y(), g.width(), g.height())), (g, avail)

    ini = str(tmp_path / "qs.ini")
    w = MainWindow(demo_sm, qsettings=QSettings(ini, QSettings.Format.IniFormat),
                   onboarding=False, warm_up=False)
    qtbot.addWidget(w)
    ok, why = on_screen(w)
    assert ok, why
    # centred on first start
    assert abs((w.x() - avail.x()) - (avail.right() - (w.x() + w.width()))) < 60
    # a geometry from another monitor, far to the right and below
    w.setGeometry(avail.width() + 900, avail.height() + 700, avail.width() + 400,
                  avail.height() + 300)
    w.save_state()
    w.shutdown()
    w2 = MainWindow(demo_sm, qsettings=QSettings(ini, QSettings.Format.IniFormat),
                    onboarding=False, warm_up=False)
    qtbot.addWidget(w2)
    ok, why = on_screen(w2)
    assert ok, why
    w2.shutdown()


@pytest.mark.parametrize("focused_first", [False, True])
def test_the_launchers_window_leaves_opening_your_memory_for_the_saved_pane(
        qtbot, tmp_path, focused_first):
    """The launcher's window opens the data dir itself after the first paint. Under a
    window manager the sidebar gets the focus first, which makes its first row (Chat)
    current before any pane exists; the window then stayed on "Opening your memory…"
    until the person clicked a pane (found under Xvfb + openbox)."""
    from PySide6.QtCore import QSettings

    from secondme.models.embed import HashEmbedder
    from secondme_ui.window import MainWindow

    qs = QSettings(str(tmp_path / "qs.ini"), QSettings.Format.IniFormat)
    w = MainWindow(None, home=str(tmp_path / "home"), qsettings=qs, onboarding=False,
                   warm_up=False, service_kwargs={"embedder": HashEmbedder()})
    qtbot.addWidget(w)
    try:
        if focused_first:
            w.sidebar.setCurrentRow(0)      # what the focus does before the data dir opens
        assert w.stack.currentWidget() is w.loading
        with qtbot.waitSignal(w.service_ready, timeout=30000):
            w.show()
        assert w.current_pane == "chat"
        assert w.stack.currentWidget() is w.panes["chat"]
        assert [i.text() for i in w.sidebar.selectedItems()] == ["Chat"]   # highlighted
    finally:
        w.close()
        if w.sm is not None:
            w.sm.close()
