"""Starting the desktop app: one running instance per data directory, tray, quick ask.

``secondme`` (no command) calls :func:`run_app`. A second launch for the same data
directory hands over to the running instance through a QLocalServer named after the
data dir (it comes to the front, or opens its quick-ask box) and exits at once.

``SECONDME_UI_PAINT_PROBE=1`` makes the app print ``FIRST_PAINT <epoch seconds>`` at the
first paint of the main window and quit (benchmarks/bench_ui_startup.py).
"""
from __future__ import annotations

import hashlib
import logging
import os
import sys
from pathlib import Path
from typing import Optional

SERVER_PREFIX = "secondme-"


def server_name(home: Path) -> str:
    """The local-socket name for data dir ``home`` (one instance per data dir)."""
    digest = hashlib.sha1(str(Path(home).resolve()).encode("utf-8")).hexdigest()[:16]
    user = os.environ.get("USER") or os.environ.get("USERNAME") or ""
    return f"{SERVER_PREFIX}{hashlib.sha1(user.encode()).hexdigest()[:6]}-{digest}"


def forward_to_running(name: str, command: str, timeout_ms: int = 500) -> bool:
    """Send ``command`` to a running instance; True if one took it."""
    from PySide6.QtNetwork import QLocalSocket

    sock = QLocalSocket()
    sock.connectToServer(name)
    if not sock.waitForConnected(timeout_ms):
        return False
    sock.write((command + "\n").encode("utf-8"))
    sock.flush()
    sock.waitForBytesWritten(timeout_ms)
    sock.waitForReadyRead(timeout_ms)  # the instance answers "ok"
    sock.disconnectFromServer()
    return True


class InstanceServer:
    """Listens for later launches and forwards their command to the window."""

    def __init__(self, name: str, window) -> None:
        from PySide6.QtNetwork import QLocalServer

        self.window = window
        self.server = QLocalServer()
        self.server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not self.server.listen(name):
            QLocalServer.removeServer(name)  # a stale socket from a crashed instance
            self.server.listen(name)
        self.server.newConnection.connect(self._connection)
        self.received: list[str] = []

    def _connection(self) -> None:
        while self.server.hasPendingConnections():
            sock = self.server.nextPendingConnection()
            sock.readyRead.connect(lambda s=sock: self._read(s))
            sock.disconnected.connect(sock.deleteLater)

    def _read(self, sock) -> None:
        while sock.canReadLine():
            cmd = bytes(sock.readLine()).decode("utf-8", "replace").strip()
            self.received.append(cmd)
            if cmd == "quick-ask":
                self.window.open_quick_ask()
            else:
                self.window.bring_to_front()
            sock.write(b"ok\n")

    def close(self) -> None:
        self.server.close()


def _setup_logging(home: Path) -> None:
    from secondme.api import open_private, private_dir

    try:
        d = home / "logs"
        private_dir(d)
        open_private(d / "secondme.log", "a").close()  # 0600 before the handler appends
        h = logging.FileHandler(d / "secondme.log", encoding="utf-8")
        h.setLevel(logging.WARNING)
        h.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        logging.getLogger().addHandler(h)
    except OSError:
        pass


# platforms that need no display server (tests, screenshots, kiosks)
_HEADLESS_PLATFORMS = ("offscreen", "minimal", "minimalegl", "vnc", "linuxfb", "eglfs",
                       "vkkhrdisplay")


def _x_display_reachable(display: str) -> bool:
    """Whether X display ``display`` accepts a connection (libX11's XOpenDisplay, which
    also checks the authorisation; else a plain socket connection)."""
    import ctypes
    import ctypes.util

    lib = ctypes.util.find_library("X11")
    if lib:
        try:
            x11 = ctypes.CDLL(lib)
            x11.XOpenDisplay.restype = ctypes.c_void_p
            x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
            x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
            d = x11.XOpenDisplay(display.encode())
            if d:
                x11.XCloseDisplay(d)
            return bool(d)
        except (OSError, AttributeError):
            pass
    import re
    import socket

    m = re.match(r"^(?:unix/)?([\w.\-]*):(\d+)(?:\.\d+)?$", display)
    if not m:
        return True  # a form we do not know: let Qt try
    host, n = m.group(1), int(m.group(2))
    try:
        if host in ("", "unix"):
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(1.0)
                sock.connect(f"/tmp/.X11-unix/X{n}")
        else:
            socket.create_connection((host, 6000 + n), timeout=1.0).close()
        return True
    except OSError:
        return False


def display_problem() -> Optional[str]:
    """Why the desktop app cannot open a window here, in words (None when it can):
    Qt itself would abort (exit 134) with "Reinstalling the application may fix this
    problem", which is neither true nor helpful."""
    if sys.platform in ("win32", "darwin"):
        return None
    platform = (os.environ.get("QT_QPA_PLATFORM") or "").split(";")[0].split(":")[0].strip()
    if platform in _HEADLESS_PLATFORMS:
        return None
    wayland = os.environ.get("WAYLAND_DISPLAY")
    if wayland and platform != "xcb":
        path = wayland if os.path.isabs(wayland) else os.path.join(
            os.environ.get("XDG_RUNTIME_DIR", ""), wayland)
        if os.path.exists(path):
            return None
    display = os.environ.get("DISPLAY")
    if not display:
        return "no display was found (DISPLAY is not set)"
    if not _x_display_reachable(display):
        return f"no display was found (cannot connect to DISPLAY={display})"
    import ctypes.util
    if not ctypes.util.find_library("xcb-cursor"):
        return "the system library libxcb-cursor0 is missing (install it with your package manager)"
    return None


def run_app(home: Optional[str] = None, quick_ask: bool = False) -> int:
    """Run the desktop app on data dir ``home`` (default: SECONDME_HOME or the platform's).

    Returns the exit code. With ``quick_ask`` the quick-ask box opens (in the running
    instance if there is one). Without a display it prints one line saying so and
    pointing to the command line, and returns 1."""
    problem = display_problem()
    if problem is not None:
        print(f"secondme: the desktop app cannot start: {problem}. Use the command line "
              "instead: secondme --help (e.g. secondme ask \"…\", secondme import FILE).",
              file=sys.stderr)
        return 1
    from PySide6.QtCore import QCoreApplication
    from PySide6.QtWidgets import QApplication

    from secondme.api import resolve_home
    from secondme.errors import SecondMeError

    probe = os.environ.get("SECONDME_UI_PAINT_PROBE") == "1"
    app = QApplication.instance() or QApplication(sys.argv[:1])
    QCoreApplication.setOrganizationName("secondme")
    QCoreApplication.setApplicationName("secondme")
    app.setApplicationDisplayName("secondme")
    app.setQuitOnLastWindowClosed(True)
    from . import gc_policy
    gc_policy.install(app)  # cyclic garbage is collected on the GUI thread only (issue 19)
    try:
        home_path = resolve_home(home)
    except SecondMeError as e:
        from PySide6.QtWidgets import QMessageBox
        QMessageBox.critical(None, "secondme", str(e))
        return 1
    name = server_name(home_path)
    if not probe and forward_to_running(name, "quick-ask" if quick_ask else "show"):
        return 0
    _setup_logging(home_path)
    from .window import MainWindow

    if probe:
        from .theme import apply_theme  # noqa: F401  (theme is applied once the data is open)
    win = MainWindow(home=str(home_path))
    server = None if probe else InstanceServer(name, win)
    if quick_ask:
        win.open_quick_ask()
    else:
        win.show()
    code = app.exec()
    win.shutdown()
    if server is not None:
        server.close()
    return code


def main() -> None:
    """GUI entry point (``secondme-app``): same options as ``secondme``."""
    import argparse

    ap = argparse.ArgumentParser(prog="secondme-app")
    ap.add_argument("--home")
    ap.add_argument("--quick-ask", action="store_true")
    args = ap.parse_args()
    sys.exit(run_app(home=args.home, quick_ask=args.quick_ask))


if __name__ == "__main__":
    main()
