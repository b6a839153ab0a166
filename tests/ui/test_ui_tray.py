"""The system tray: open, quick ask, pause/resume background jobs.

The offscreen platform has no tray host, so the test tells Qt one is available and then
drives the tray's own menu actions.
"""
from __future__ import annotations

from PySide6.QtWidgets import QSystemTrayIcon


def _action(tray, text):
    for a in tray.contextMenu().actions():
        if a.text() == text:
            return a
    raise AssertionError(f"no tray action {text!r}: "
                         f"{[a.text() for a in tray.contextMenu().actions()]}")


def test_tray_menu_quick_ask_and_pause_resume_jobs(qtbot, window_factory, demo_sm,
                                                   monkeypatch):
    monkeypatch.setattr(QSystemTrayIcon, "isSystemTrayAvailable", staticmethod(lambda: True))
    w = window_factory(demo_sm)
    w.tray = None
    w._setup_tray()
    assert w.tray is not None and w.tray.toolTip() == "secondme"

    _action(w.tray, "Pause background jobs").trigger()
    qtbot.waitUntil(lambda: demo_sm.jobs_list() and all(j.paused for j in demo_sm.jobs_list()),
                    timeout=10000)
    _action(w.tray, "Resume background jobs").trigger()
    qtbot.waitUntil(lambda: not any(j.paused for j in demo_sm.jobs_list()), timeout=10000)

    _action(w.tray, "Quick ask…").trigger()
    qtbot.waitUntil(lambda: w.quick_ask_dialog is not None
                    and w.quick_ask_dialog.isVisible(), timeout=10000)
