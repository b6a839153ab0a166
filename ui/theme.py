"""Light and dark themes (Fusion + a QPalette + a little QSS); "system" follows the OS."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

_original: dict = {}

QSS = """
#sidebar { border: none; font-size: 11pt; padding-top: 6px; }
#sidebar::item { padding: 9px 14px; border-radius: 6px; margin: 1px 6px; }
#sidebar::item:selected { background: palette(highlight); color: palette(highlighted-text); }
#paneTitle { font-size: 13pt; font-weight: 600; padding: 2px 0 4px 0; }
#hint { color: palette(mid); }
#notAvailableTitle { font-size: 14pt; font-weight: 600; }
#banner { border-radius: 6px; margin: 6px 8px 0 8px; }
#banner[level="error"] { background: #fde2e1; color: #5c1111; border: 1px solid #f1a9a6; }
#banner[level="error"] QLabel { color: #5c1111; }
#banner[level="info"] { background: #e3effd; color: #0e2f5a; border: 1px solid #a9c8f1; }
#banner[level="info"] QLabel { color: #0e2f5a; }
#dropZone { border: 2px dashed palette(mid); border-radius: 10px; }
#saveBar { border-top: 1px solid palette(mid); }
#problems { border: 1px solid #d9a441; border-radius: 6px; background: palette(alternate-base); }
#dropZone[hover="true"] { border-color: palette(highlight); }
#dropLabel { font-size: 12pt; font-weight: 600; }
#brand { font-size: 15pt; font-weight: 700; padding: 12px 16px 4px 16px; }
"""


def dark_palette() -> QPalette:
    p = QPalette()
    base, window, text = QColor(30, 31, 34), QColor(43, 45, 48), QColor(223, 225, 229)
    p.setColor(QPalette.ColorRole.Window, window)
    p.setColor(QPalette.ColorRole.WindowText, text)
    p.setColor(QPalette.ColorRole.Base, base)
    p.setColor(QPalette.ColorRole.AlternateBase, QColor(38, 40, 43))
    p.setColor(QPalette.ColorRole.ToolTipBase, window)
    p.setColor(QPalette.ColorRole.ToolTipText, text)
    p.setColor(QPalette.ColorRole.Text, text)
    p.setColor(QPalette.ColorRole.PlaceholderText, QColor(140, 143, 150))
    p.setColor(QPalette.ColorRole.Button, QColor(52, 54, 58))
    p.setColor(QPalette.ColorRole.ButtonText, text)
    p.setColor(QPalette.ColorRole.BrightText, QColor(255, 110, 110))
    p.setColor(QPalette.ColorRole.Link, QColor(110, 170, 255))
    p.setColor(QPalette.ColorRole.LinkVisited, QColor(170, 140, 255))
    p.setColor(QPalette.ColorRole.Highlight, QColor(53, 116, 240))
    p.setColor(QPalette.ColorRole.HighlightedText, QColor(255, 255, 255))
    p.setColor(QPalette.ColorRole.Mid, QColor(120, 123, 130))
    p.setColor(QPalette.ColorRole.Mid, QColor(120, 123, 130))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText,
                 QPalette.ColorRole.WindowText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor(110, 112, 118))
    return p


def light_palette() -> QPalette:
    p = QPalette()
    p.setColor(QPalette.ColorRole.Window, QColor(246, 246, 247))
    p.setColor(QPalette.ColorRole.WindowText, QColor(28, 28, 30))
    p.setColor(QPalette.ColorRole.Base, QColor(255, 255, 255))
    p.setColor(QPalette.ColorRole.AlternateBase, QColor(245, 247, 250))
    p.setColor(QPalette.ColorRole.Text, QColor(28, 28, 30))
    p.setColor(QPalette.ColorRole.PlaceholderText, QColor(130, 130, 136))
    p.setColor(QPalette.ColorRole.Button, QColor(236, 236, 238))
    p.setColor(QPalette.ColorRole.ButtonText, QColor(28, 28, 30))
    p.setColor(QPalette.ColorRole.Highlight, QColor(53, 116, 240))
    p.setColor(QPalette.ColorRole.HighlightedText, QColor(255, 255, 255))
    p.setColor(QPalette.ColorRole.Link, QColor(30, 95, 200))
    p.setColor(QPalette.ColorRole.ToolTipBase, QColor(255, 255, 240))
    p.setColor(QPalette.ColorRole.ToolTipText, QColor(28, 28, 30))
    p.setColor(QPalette.ColorRole.Mid, QColor(120, 120, 128))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText,
                 QPalette.ColorRole.WindowText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor(160, 160, 166))
    return p


def system_is_dark(app: QApplication) -> bool:
    try:
        return app.styleHints().colorScheme() == Qt.ColorScheme.Dark
    except AttributeError:  # Qt < 6.5
        return app.palette().color(QPalette.ColorRole.Window).lightness() < 128


def apply_theme(app: QApplication, theme: str) -> str:
    """Apply ``system`` | ``light`` | ``dark``; returns the effective "light"/"dark"."""
    if not _original:
        _original["style"] = app.style().objectName()
        _original["palette"] = QPalette(app.palette())
    effective = theme
    if theme == "system":
        effective = "dark" if system_is_dark(app) else "light"
    app.setStyle("Fusion")
    app.setPalette(dark_palette() if effective == "dark" else light_palette())
    app.setStyleSheet(QSS)
    app.setProperty("secondme_theme", effective)
    return effective
