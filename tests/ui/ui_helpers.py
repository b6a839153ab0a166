"""Plain helpers for the desktop-app tests (the fixtures are in conftest.py)."""
from __future__ import annotations

from PySide6.QtWidgets import QApplication


def wait_idle(qtbot, runner, timeout=15000):
    """Wait until the runner has no op left (results delivered)."""
    qtbot.waitUntil(lambda: runner.busy == 0, timeout=timeout)


def show_active(qtbot, w):
    """Show ``w`` and make it the active window (shortcuts need an active window)."""
    w.show()
    w.raise_()
    w.activateWindow()
    qtbot.waitExposed(w)
    qtbot.waitUntil(lambda: QApplication.instance().activeWindow() is w, timeout=5000)
