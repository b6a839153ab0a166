"""The main window: a sidebar of panes, an error banner, a status bar, shortcuts.

The window paints before anything slow happens: given no service, it opens the data
directory on a worker thread and builds the panes when it is ready; models (the embedder,
the vector index) and the background scheduler are warmed up only after that, also off
the GUI thread. Window geometry and pane state live in QSettings — nothing else does.
"""
from __future__ import annotations

import logging
import os
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional

from PySide6.QtCore import QByteArray, QEvent, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QIcon, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMenu,
    QSplitter,
    QStackedWidget,
    QSystemTrayIcon,
    QVBoxLayout,
    QWidget,
)

from .context import AppContext, HookBridge
from .runner import OpRunner
from .widgets import BannerView

if TYPE_CHECKING:  # the panes and the core are imported once the data dir is open
    from secondme.service import SecondMe

    from .dialogs.onboarding import OnboardingDialog
    from .dialogs.palette import CommandPaletteDialog
    from .dialogs.quick_ask import QuickAskDialog
    from .dialogs.source import SourceDialog
    from .panes.activity import ActivityPanel
    from .panes.chat import ChatPanel
    from .panes.graph import GraphPanel
    from .panes.importer import ImportPanel
    from .panes.memories import MemoriesPanel
    from .panes.settings import SettingsPanel

log = logging.getLogger(__name__)

PANES = [("chat", "Chat"), ("import", "Import"), ("memories", "Memories"),
         ("graph", "Graph"), ("timeline", "Timeline"), ("activity", "Activity"),
         ("settings", "Settings")]


def _pane_class(name: str):
    if name == "chat":
        from .panes.chat import ChatPanel as C
    elif name == "import":
        from .panes.importer import ImportPanel as C
    elif name == "memories":
        from .panes.memories import MemoriesPanel as C
    elif name == "graph":
        from .panes.graph import GraphPanel as C
    elif name == "timeline":
        from .panes.timeline import TimelinePanel as C
    elif name == "activity":
        from .panes.activity import ActivityPanel as C
    else:
        from .panes.settings import SettingsPanel as C
    return C


class MainWindow(QMainWindow):
    """The app window.

    ``sm``: an open SecondMe (tests pass one built with fakes) — the window does not close
    it; or None to open ``home`` in the background (the app) — then the window owns it.
    ``qsettings``: where geometry/pane state go (tests pass a temp ini).
    ``onboarding``: show the first-run dialog when this data dir is new.
    ``warm_up``: load the models and start background jobs after the first paint.
    """

    service_ready = Signal()

    def __init__(self, sm: Optional[SecondMe] = None, *, home: Optional[str] = None,
                 qsettings: Optional[QSettings] = None, onboarding: bool = True,
                 warm_up: bool = True, service_kwargs: Optional[dict] = None):
        super().__init__()
        self.setWindowTitle("secondme")
        self.setObjectName("MainWindow")
        from .assets import icon_path
        ip = icon_path("png")
        if ip.exists():
            self.setWindowIcon(QIcon(str(ip)))
        self.sm = sm
        self._owns_sm = sm is None
        self._home = home
        self._service_kwargs = service_kwargs or {}
        self.qsettings = qsettings or QSettings("secondme", "secondme")
        self._want_onboarding = onboarding
        self._warm_up = warm_up
        self.ctx: Optional[AppContext] = None
        self.bridge: Optional[HookBridge] = None
        self.panes: dict[str, QWidget] = {}  # by key of PANES, once the data dir is open
        self.tray: Optional[QSystemTrayIcon] = None
        self.quick_ask_dialog: Optional[QuickAskDialog] = None
        self.source_dialog: Optional[SourceDialog] = None
        self.palette_dialog: Optional[CommandPaletteDialog] = None
        self.onboarding_dialog: Optional[OnboardingDialog] = None
        self._first_paint_done = False
        self._warmed_up = False
        self._closing = False
        self.paint_probe = os.environ.get("SECONDME_UI_PAINT_PROBE") == "1"
        # Background ops are Python threads: a shorter GIL switch interval (default 5 ms)
        # lets the GUI thread in sooner, which keeps the event loop's stalls short.
        sys.setswitchinterval(0.001)

        central = QWidget()
        self.setCentralWidget(central)
        root = QHBoxLayout(central)
        root.setContentsMargins(0, 0, 0, 0)
        root.setSpacing(0)
        side = QWidget()
        side.setObjectName("sideColumn")
        sl = QVBoxLayout(side)
        sl.setContentsMargins(0, 0, 0, 8)
        brand = QLabel("secondme")
        brand.setObjectName("brand")
        sl.addWidget(brand)
        self.sidebar = QListWidget()
        self.sidebar.setObjectName("sidebar")
        self.sidebar.setAccessibleName("Panes")
        self.sidebar.setFixedWidth(170)
        for i, (key, label) in enumerate(PANES, 1):
            it = QListWidgetItem(label)
            it.setToolTip(f"{label} (Alt+{i})")
            it.setData(Qt.ItemDataRole.UserRole, key)
            self.sidebar.addItem(it)
        sl.addWidget(self.sidebar, 1)
        self.busy_label = QLabel("")
        self.busy_label.setObjectName("hint")
        self.busy_label.setContentsMargins(16, 0, 8, 0)
        sl.addWidget(self.busy_label)
        root.addWidget(side)
        main = QWidget()
        ml = QVBoxLayout(main)
        ml.setContentsMargins(0, 0, 0, 0)
        ml.setSpacing(0)
        self.banner = BannerView()
        ml.addWidget(self.banner)
        self.stack = QStackedWidget()
        self.stack.setObjectName("paneStack")
        ml.addWidget(self.stack, 1)
        root.addWidget(main, 1)
        self.loading = QLabel("Opening your memory…")
        self.loading.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.loading.setAccessibleName("Opening your memory")
        self.stack.addWidget(self.loading)
        self.sidebar.currentRowChanged.connect(self._row_changed)
        self.statusBar().showMessage("Starting…")

        log_path = self._log_path()
        self.runner = OpRunner(self, log_path=log_path)
        self.runner.error_shown.connect(self.show_error)
        self.runner.busy_changed.connect(self._busy)
        self._shortcuts()
        self._restore_geometry()
        self.installEventFilter(self)
        self._open_pending = False
        if self.sm is not None:
            self._service_opened(self.sm, None)
        else:
            # opened after the first paint, so that importing the core and opening the
            # database never competes with painting the window
            self._open_pending = True
            QTimer.singleShot(1000, self._open_if_pending)  # in case no paint ever comes

    # -- service -------------------------------------------------------------------------
    def _log_path(self) -> Path:
        if self.sm is not None:
            return Path(self.sm.home) / "logs" / "secondme.log"
        try:
            from secondme.api import resolve_home
            return resolve_home(self._home) / "logs" / "secondme.log"
        except Exception:
            import tempfile
            return Path(tempfile.gettempdir()) / "secondme-ui.log"

    def _open_if_pending(self) -> None:
        if self._open_pending:
            self._open_pending = False
            self._open_service()

    def _open_service(self) -> None:
        # through the runner like every other slow call: the worker gets a plain function
        # and the opened service (or the error) comes back on the GUI thread
        home, kw = self._home, dict(self._service_kwargs)

        def work(progress, cancel):
            from secondme.service import SecondMe
            return SecondMe(home, **kw)

        def failed(error: BaseException) -> bool:
            self._service_opened(None, error, reported=not isinstance(error, SecondMeError))
            return False

        from secondme.errors import SecondMeError
        self.runner.run(work, key="open-service",
                        on_success=lambda sm: self._service_opened(sm, None),
                        on_error=failed)

    def _service_opened(self, sm: Optional[SecondMe], error: Optional[BaseException], *,
                        reported: bool = False) -> None:
        if error is not None:
            from secondme.errors import SecondMeError
            self.loading.setText("secondme could not open your data.")
            if isinstance(error, SecondMeError):
                self.show_error(str(error))
            elif not reported:
                self.runner.report_internal_error(error)
            self.statusBar().showMessage("Not ready.")
            return
        assert sm is not None
        if self._closing:
            if self._owns_sm:
                sm.close()
            return
        self.sm = sm
        self.runner.log_path = Path(sm.home) / "logs" / "secondme.log"
        bridge = HookBridge(sm, self)
        self.bridge = bridge
        ctx = AppContext(sm, self.runner, bridge)
        ctx.open_source = self.open_source
        ctx.open_note = self.open_note
        ctx.show_pane = self.show_pane
        ctx.filter_memories = self.filter_memories
        ctx.show_graph = self.show_graph
        ctx.show_error = self.show_error
        ctx.changes.changed.connect(self._update_undo_actions)
        ctx.changes.message.connect(self._change_message)
        ctx.show_status = lambda m: self.statusBar().showMessage(m, 8000)
        self.ctx = ctx
        from .theme import apply_theme
        app = QApplication.instance()
        if app is not None and not self.paint_probe:
            apply_theme(app, sm.settings.theme)
        for key, _label in PANES:
            pane = _pane_class(key)(ctx)
            pane.setObjectName(f"{key}Pane")
            self.panes[key] = pane
            self.stack.addWidget(pane)
        self.settings_pane.theme_changed.connect(self.apply_theme)
        bridge.fired.connect(self._hook)
        from .dialogs.source import SourceDialog
        self.source_dialog = SourceDialog(ctx, self)
        self._restore_pane_state()
        self.statusBar().showMessage(f"Data: {sm.home}", 6000)
        self._setup_tray()
        self.service_ready.emit()
        if self._want_onboarding:
            QTimer.singleShot(50, self.maybe_onboard)
        if self._warm_up:
            QTimer.singleShot(300, self.warm_up)

    def warm_up(self) -> None:
        """Load models and start background jobs (worker thread), after the first paint.

        While the welcome dialog is open it waits for it: loading the embedding model
        holds the service's lock (the first run exports the model: 10-30 s, more on a
        busy machine), and saving the name typed there takes the same lock, so the name
        would otherwise be saved only once the model was ready. ``_onboarded`` starts it
        once the name is saved.
        """
        sm = self.sm
        if sm is None or self._warmed_up:
            return
        dlg = self.onboarding_dialog
        if dlg is not None and dlg.isVisible():
            return
        self._warmed_up = True

        def work(progress, cancel):
            t = time.monotonic()
            sm.start_background(worker_processes=True)  # formation: a worker process
            sm.open_vectors(progress, cancel)
            return time.monotonic() - t

        from . import gc_policy

        gc_policy.pause_for_loading()   # and freeze what loaded (issue 14: no GC stalls)
        self.runner.run(work, key="warm-up", on_done=gc_policy.loaded,
                        on_success=lambda s: self.statusBar().showMessage(
                            f"Models ready ({s:.1f} s).", 5000),
                        on_progress=lambda p: self.statusBar().showMessage(
                            f"Preparing the search index: {p.stage} {p.done}/{p.total or '?'}"))

    # -- the panes (built once the data dir is open) -------------------------------------
    @property
    def chat_pane(self) -> ChatPanel:
        return self.panes["chat"]  # type: ignore[return-value]

    @property
    def import_pane(self) -> ImportPanel:
        return self.panes["import"]  # type: ignore[return-value]

    @property
    def memories_pane(self) -> MemoriesPanel:
        return self.panes["memories"]  # type: ignore[return-value]

    @property
    def graph_pane(self) -> GraphPanel:
        return self.panes["graph"]  # type: ignore[return-value]

    @property
    def activity_pane(self) -> ActivityPanel:
        return self.panes["activity"]  # type: ignore[return-value]

    @property
    def settings_pane(self) -> SettingsPanel:
        return self.panes["settings"]  # type: ignore[return-value]

    # -- navigation ----------------------------------------------------------------------
    def _row_changed(self, row: int) -> None:
        if row < 0 or not self.panes:
            return
        key = PANES[row][0]
        self.stack.setCurrentWidget(self.panes[key])
        if key == "chat":
            self.chat_pane.focus_input()

    def show_pane(self, key: str) -> Optional[QWidget]:
        """Switch to pane ``key`` and return it (None before the data dir is open)."""
        for i, (k, _l) in enumerate(PANES):
            if k == key:
                if self.sidebar.currentRow() == i:
                    # already current (the list makes its first row current, unselected,
                    # when it gets the focus, before the panes exist): no signal comes
                    self.sidebar.item(i).setSelected(True)
                    self._row_changed(i)
                else:
                    self.sidebar.setCurrentRow(i)
        return self.panes.get(key)

    @property
    def current_pane(self) -> str:
        row = self.sidebar.currentRow()
        return PANES[row][0] if row >= 0 else ""

    def open_source(self, kind: str, ident: int) -> None:
        if kind == "note":
            self.open_note(ident)
            return
        if self.source_dialog is not None:
            self.source_dialog.open_source(kind, ident)

    def open_note(self, note_id: int) -> None:
        self.show_pane("memories")
        if self.panes:
            self.memories_pane.open_note(note_id)

    def show_graph(self, *, note_id: Optional[int] = None,
                   entity_id: Optional[int] = None) -> None:
        self.show_pane("graph")
        if not self.panes:
            return
        if note_id is not None:
            self.graph_pane.show_note(note_id)
        elif entity_id is not None:
            self.graph_pane.show_entity(entity_id)

    def filter_memories(self, *, since: Optional[datetime] = None,
                        until: Optional[datetime] = None, person: Optional[str] = None,
                        tag: Optional[str] = None, query: Optional[str] = None,
                        ids: Optional[list[int]] = None, why: str = "",
                        switch: bool = True) -> None:
        """Show exactly these memories in Memories: the given filters and no others (an
        old search would hide most of them), or the memories ``ids`` ("``why``")."""
        if not self.panes:
            return
        pane = self.memories_pane
        if ids is not None:
            pane.show_only(ids, why or f"Showing {len(ids):,} memories.")
        else:
            pane.show_filtered(person=person, tag=tag, query=query, since=since, until=until)
        if switch:
            self.show_pane("memories")

    # -- messages ------------------------------------------------------------------------
    def show_error(self, message: str) -> None:
        self.banner.show_message(message, "error")
        self.statusBar().showMessage(message.splitlines()[0][:160], 10000)

    def _busy(self, n: int) -> None:
        self.busy_label.setText("Working…" if n else "")

    def _hook(self, name: str, payload: dict) -> None:
        for pane in self.panes.values():
            try:
                pane.on_hook(name, payload)  # type: ignore[attr-defined]  # every pane has it
            except Exception as e:
                self.runner.report_internal_error(e)
        if name == "job_did_finish" and payload["outcome"] == "failed":
            from .panes.activity import job_title
            self.statusBar().showMessage(f"{job_title(payload['name'])} stopped on a problem "
                                         "— see Activity.", 10000)
        elif name == "import_did_finish":
            self.statusBar().showMessage("Import finished.", 6000)

    # -- shortcuts, palette, quick ask ---------------------------------------------------
    def _shortcuts(self) -> None:
        """The menu bar (File, Edit, View) — its actions carry the shortcuts — and Esc."""
        def act(menu: QMenu, text: str, fn: Callable[[], Any], *keys: str) -> QAction:
            a = QAction(text, self)
            if keys:
                a.setShortcuts([QKeySequence(k) for k in keys])
            a.triggered.connect(lambda _checked=False: fn())
            menu.addAction(a)
            self.addAction(a)  # the shortcut works while the menu bar is hidden too
            return a

        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        act(file_menu, "New question", self.new_question, "Ctrl+N")
        act(file_menu, "Import files…", self.start_import, "Ctrl+I")
        act(file_menu, "Import the demo data", self.import_demo)
        act(file_menu, "Quick ask…", self.open_quick_ask, "Ctrl+Shift+A")
        file_menu.addSeparator()
        act(file_menu, "Quit", self.quit_app, "Ctrl+Q")
        edit_menu = bar.addMenu("&Edit")
        self.undo_action = act(edit_menu, "Undo", self.undo, "Ctrl+Z")
        self.redo_action = act(edit_menu, "Redo", self.redo, "Ctrl+Shift+Z", "Ctrl+Y")
        edit_menu.addSeparator()
        act(edit_menu, "Command palette…", self.open_palette, "Ctrl+K")
        view_menu = bar.addMenu("&View")
        for i, (key, label) in enumerate(PANES, 1):
            act(view_menu, label, lambda k=key: self.show_pane(k), f"Alt+{i}")
        view_menu.addSeparator()
        theme_menu = view_menu.addMenu("Theme")
        for label, value in (("Light", "light"), ("Dark", "dark"),
                             ("Follow the system", "system")):
            act(theme_menu, label, lambda v=value: self.set_theme(v))
        self._update_undo_actions()
        QShortcut(QKeySequence(Qt.Key.Key_Escape), self, activated=self.escape)

    # -- undo and redo (the person's changes this session: ui/changes.py) ---------------
    def undo(self) -> None:
        """Ctrl+Z: undo the person's latest change to their memories."""
        if self.ctx is not None:
            self.ctx.changes.undo()

    def redo(self) -> None:
        """Ctrl+Shift+Z: do the latest undone change again."""
        if self.ctx is not None:
            self.ctx.changes.redo()

    def _update_undo_actions(self) -> None:
        changes = self.ctx.changes if self.ctx is not None else None
        self.undo_action.setText(changes.undo_text() if changes else "Undo")
        self.redo_action.setText(changes.redo_text() if changes else "Redo")
        self.undo_action.setEnabled(bool(changes and changes.can_undo))
        self.redo_action.setEnabled(bool(changes and changes.can_redo))

    def _change_message(self, text: str) -> None:
        if text.startswith("Cannot "):
            self.banner.show_message(text, "error")
        self.statusBar().showMessage(text, 8000)

    def escape(self) -> None:
        """Esc closes what is open on top: the source panel, then the banner."""
        if self.source_dialog is not None and self.source_dialog.isVisible():
            self.source_dialog.hide()
        elif self.banner.isVisible():
            self.banner.dismiss()

    def new_question(self) -> None:
        self.show_pane("chat")
        if self.panes:
            self.chat_pane.new_chat()

    def start_import(self) -> None:
        self.show_pane("import")
        if self.panes:
            pane = self.import_pane
            pane.files_button.setFocus()
            if not os.environ.get("SECONDME_UI_NO_DIALOGS"):
                QTimer.singleShot(0, pane.choose_files)

    def commands(self) -> list[tuple[str, Callable[[], None]]]:
        cmds = [(f"Go to {label}   Alt+{i}", (lambda k=key: self.show_pane(k)))
                for i, (key, label) in enumerate(PANES, 1)]
        changes = self.ctx.changes if self.ctx is not None else None
        if changes is not None and changes.undo_stack:
            cmds.append((f"{changes.undo_text()}   Ctrl+Z", self.undo))
        if changes is not None and changes.redo_stack:
            cmds.append((f"{changes.redo_text()}   Ctrl+Shift+Z", self.redo))
        cmds += [("New question   Ctrl+N", self.new_question),
                 ("Import files…   Ctrl+I", self.start_import),
                 ("Quick ask   Ctrl+Shift+A", self.open_quick_ask),
                 ("Import the demo data", self.import_demo),
                 ("Pause background jobs", lambda: self.pause_jobs(True)),
                 ("Resume background jobs", lambda: self.pause_jobs(False)),
                 ("Theme: dark", lambda: self.set_theme("dark")),
                 ("Theme: light", lambda: self.set_theme("light")),
                 ("Theme: follow the system", lambda: self.set_theme("system")),
                 ("Quit", self.quit_app)]
        return cmds

    def open_palette(self) -> None:
        if self.ctx is None:
            return
        from .dialogs.palette import CommandPaletteDialog
        self.palette_dialog = CommandPaletteDialog(self.ctx, self.commands(), self)
        self.palette_dialog.open()

    def open_quick_ask(self) -> None:
        if self.ctx is None:
            QTimer.singleShot(200, self.open_quick_ask)
            return
        if self.quick_ask_dialog is None:
            from .dialogs.quick_ask import QuickAskDialog
            self.quick_ask_dialog = QuickAskDialog(self.ctx, self)
            self.quick_ask_dialog.continue_in_app.connect(self._continue_chat)
        self.quick_ask_dialog.show()
        self.quick_ask_dialog.raise_()
        self.quick_ask_dialog.activateWindow()

    def _continue_chat(self, chat_id: Optional[int]) -> None:
        self.bring_to_front()
        self.show_pane("chat")
        if self.quick_ask_dialog is not None:
            self.chat_pane.continue_from(self.quick_ask_dialog.chat)

    def import_demo(self) -> None:
        self.show_pane("import")
        if self.panes:
            self.import_pane.import_demo()

    def pause_jobs(self, pause: bool) -> None:
        if self.panes:
            self.activity_pane.pause_all(pause)

    def set_theme(self, theme: str) -> None:
        if self.sm is None:
            return
        sm = self.sm
        self.runner.run(lambda p, c: sm.update_settings(theme=theme), serial=True,
                        on_success=lambda _s: self.apply_theme(theme))

    def apply_theme(self, theme: str) -> None:
        from .theme import apply_theme
        app = QApplication.instance()
        if app is not None:
            apply_theme(app, theme)

    def bring_to_front(self) -> None:
        if self.isMinimized():
            self.showNormal()
        self.show()
        self.raise_()
        self.activateWindow()

    # -- first run -----------------------------------------------------------------------
    def is_first_run(self) -> bool:
        if self.sm is None or self.sm.settings.me_name:
            return False
        return not self.sm.list_sources()

    def maybe_onboard(self) -> None:
        if not self.is_first_run():
            return
        from .dialogs.onboarding import OnboardingDialog
        dlg = OnboardingDialog(self.ctx, self)
        self.onboarding_dialog = dlg
        dlg.finished.connect(lambda result: self._onboarded(dlg, result))
        dlg.open()

    def _warm_up_after_onboarding(self) -> None:
        if self._warm_up and not self._closing:
            self.warm_up()

    def _onboarded(self, dlg, result: int) -> None:
        from PySide6.QtWidgets import QDialog
        if result != QDialog.DialogCode.Accepted:
            self._warm_up_after_onboarding()
            return
        values = dlg.values()
        sm = self.sm
        if values.get("me_name"):
            self.runner.run(lambda p, c: sm.update_settings(**values), serial=True,
                            on_done=self._warm_up_after_onboarding)
        else:
            self._warm_up_after_onboarding()
        if dlg.choice == "demo":
            self.import_demo()
        elif dlg.wants_model_settings():
            self.show_pane("settings")
        else:
            self.show_pane("import")

    # -- tray ----------------------------------------------------------------------------
    def _setup_tray(self) -> None:
        if not QSystemTrayIcon.isSystemTrayAvailable() or self.tray is not None:
            return
        icon = self.windowIcon()
        tray = QSystemTrayIcon(icon, self)
        tray.setToolTip("secondme")
        menu = QMenu(self)
        menu.addAction("Open secondme", self.bring_to_front)
        menu.addAction("Quick ask…", self.open_quick_ask)
        menu.addSeparator()
        menu.addAction("Pause background jobs", lambda: self.pause_jobs(True))
        menu.addAction("Resume background jobs", lambda: self.pause_jobs(False))
        menu.addSeparator()
        menu.addAction("Quit", self.quit_app)
        tray.setContextMenu(menu)
        tray.activated.connect(lambda reason: reason == QSystemTrayIcon.ActivationReason.Trigger
                               and self.bring_to_front())
        tray.show()
        self.tray = tray

    # -- QSettings: geometry and pane state only -----------------------------------------
    def _restore_geometry(self) -> None:
        g = self.qsettings.value("window/geometry")
        restored = isinstance(g, QByteArray) and not g.isEmpty() and self.restoreGeometry(g)
        if not restored:
            self.resize(1280, 820)
        self.place_on_screen(centre=not restored)
        s = self.qsettings.value("window/state")
        if isinstance(s, QByteArray) and not s.isEmpty():
            self.restoreState(s)

    def place_on_screen(self, centre: bool = False) -> None:
        """Keep the window wholly on a screen: no larger than the screen's free area
        (panels and docks excluded), moved inside it when any part would be off it (a
        geometry saved on a larger or disconnected monitor), centred when asked."""
        from PySide6.QtCore import QRect
        from PySide6.QtGui import QGuiApplication

        geo = self.geometry()
        screen = QGuiApplication.screenAt(geo.center()) or QGuiApplication.primaryScreen()
        if screen is None:
            return
        avail = screen.availableGeometry()
        # room for the window manager's title bar and borders, which geometry() excludes
        frame_w, frame_h = 16, 40
        w = min(geo.width(), max(640, avail.width() - frame_w))
        h = min(geo.height(), max(480, avail.height() - frame_h))
        if (w, h) != (geo.width(), geo.height()):
            self.resize(w, h)
        target = QRect(geo.x(), geo.y(), w, h)
        inside = avail.adjusted(0, 0, -frame_w, -frame_h)
        if centre or not inside.contains(target):
            x = avail.x() + max(0, (avail.width() - w - frame_w) // 2)
            y = avail.y() + max(0, (avail.height() - h - frame_h) // 2)
            if not centre:  # as near as possible to where it was
                x = min(max(geo.x(), avail.x()), avail.right() - w - frame_w)
                y = min(max(geo.y(), avail.y()), avail.bottom() - h - frame_h)
            self.move(max(avail.x(), x), max(avail.y(), y))

    def _restore_pane_state(self) -> None:
        pane = self.qsettings.value("window/pane", "chat")
        keys = [k for k, _l in PANES]
        self.show_pane(pane if pane in keys else "chat")
        for key, splitter in self._splitters().items():
            st = self.qsettings.value(f"panes/{key}/splitter")
            if isinstance(st, QByteArray) and not st.isEmpty():
                splitter.restoreState(st)

    def _splitters(self) -> dict[str, QSplitter]:
        """The panes' splitters whose positions are kept in QSettings, by pane key."""
        if not self.panes:
            return {}
        return {"chat": self.chat_pane.splitter, "memories": self.memories_pane.splitter}

    def save_state(self) -> None:
        self.qsettings.setValue("window/geometry", self.saveGeometry())
        self.qsettings.setValue("window/state", self.saveState())
        if self.current_pane:
            self.qsettings.setValue("window/pane", self.current_pane)
        for key, splitter in self._splitters().items():
            self.qsettings.setValue(f"panes/{key}/splitter", splitter.saveState())
        self.qsettings.sync()

    # -- events --------------------------------------------------------------------------
    def eventFilter(self, obj, e):  # noqa: N802
        if obj is self and e.type() == QEvent.Type.Paint and not self._first_paint_done:
            self._first_paint_done = True
            QTimer.singleShot(0, self._open_if_pending)
            if self.paint_probe:
                print(f"FIRST_PAINT {time.time():.6f}", flush=True)
                QTimer.singleShot(0, self.quit_app)
        return super().eventFilter(obj, e)

    def quit_app(self) -> None:
        self.close()
        app = QApplication.instance()
        if app is not None:
            app.quit()

    def closeEvent(self, e):  # noqa: N802
        if not self.paint_probe:
            self.save_state()
        self.shutdown()
        super().closeEvent(e)

    def shutdown(self) -> None:
        """Stop background work and close the service if the window owns it. Idempotent."""
        if self._closing:
            return
        self._closing = True
        if self.panes:
            self.activity_pane.timer.stop()  # the only pane that polls
        if self.quick_ask_dialog is not None:
            self.quick_ask_dialog.hide()
        if self.tray is not None:
            self.tray.hide()
        self.runner.shutdown(timeout_ms=5000)
        if self.bridge is not None:
            self.bridge.close()
        if self._owns_sm and self.sm is not None:
            try:
                self.sm.close()
            except Exception:
                log.exception("closing the service failed")
