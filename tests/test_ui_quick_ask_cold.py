"""`secondme --quick-ask` with no app running opens the quick-ask box by itself."""
from __future__ import annotations

import time

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication


def test_quick_ask_without_a_running_app_opens_the_box(qtbot, tmp_path):
    from secondme_ui.app import run_app
    from secondme_ui.dialogs.quick_ask import QuickAskDialog

    seen = {"dialog": False, "main_window_visible": None}
    deadline = time.monotonic() + 30

    def poll() -> None:
        app = QApplication.instance()
        dialogs = [w for w in app.topLevelWidgets()
                   if isinstance(w, QuickAskDialog) and w.isVisible()]
        if dialogs or time.monotonic() > deadline:
            seen["dialog"] = bool(dialogs)
            seen["main_window_visible"] = any(
                type(w).__name__ == "MainWindow" and w.isVisible()
                for w in app.topLevelWidgets())
            for d in dialogs:
                d.close()
            app.quit()
        else:
            QTimer.singleShot(100, poll)

    QTimer.singleShot(100, poll)
    code = run_app(home=str(tmp_path / "home"), quick_ask=True)
    assert code == 0
    assert seen["dialog"], "the quick-ask box did not open"
    assert seen["main_window_visible"] is False  # only the small box, not the window
