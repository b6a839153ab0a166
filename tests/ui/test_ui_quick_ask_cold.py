"""`secondme --quick-ask` with no app running opens the quick-ask box by itself.

Run as its own process, as a desktop shortcut would start it.
"""
from __future__ import annotations

import os
import subprocess
import sys

DRIVER = r'''
import sys, time
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from secondme_ui.app import run_app
from secondme_ui.dialogs.quick_ask import QuickAskDialog

app = QApplication(sys.argv[:1])
deadline = time.monotonic() + 30

def poll():
    dialogs = [w for w in app.topLevelWidgets() if isinstance(w, QuickAskDialog) and w.isVisible()]
    if dialogs or time.monotonic() > deadline:
        main_visible = any(type(w).__name__ == "MainWindow" and w.isVisible()
                           for w in app.topLevelWidgets())
        print(f"DIALOG={bool(dialogs)} MAIN={main_visible}", flush=True)
        for d in dialogs:
            d.close()
        app.quit()
    else:
        QTimer.singleShot(100, poll)

QTimer.singleShot(100, poll)
sys.exit(run_app(home=sys.argv[1], quick_ask=QUICK))
'''


def _launch(tmp_path, quick: bool) -> subprocess.CompletedProcess:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run([sys.executable, "-c", DRIVER.replace("QUICK", str(quick)),
                           str(tmp_path / "home")], env=env, capture_output=True,
                          text=True, timeout=120)


def test_quick_ask_without_a_running_app_opens_the_box(tmp_path):
    r = _launch(tmp_path, quick=True)
    assert r.returncode == 0, r.stderr[-2000:]
    # only the small box opens, not the main window
    assert "DIALOG=True MAIN=False" in r.stdout, r.stdout + r.stderr[-2000:]


def test_without_quick_ask_the_main_window_opens_instead(tmp_path):
    r = _launch(tmp_path, quick=False)
    assert "DIALOG=False MAIN=True" in r.stdout, r.stdout + r.stderr[-2000:]
