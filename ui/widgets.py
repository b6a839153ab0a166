"""Small widgets shared by the panes: the error banner and pane headings."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget


class BannerView(QFrame):
    """A dismissable message strip at the top of the window (errors, notices)."""

    dismissed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("banner")
        self.setAccessibleName("Message banner")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(10, 6, 6, 6)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.close_button = QPushButton("Dismiss")
        self.close_button.setAccessibleName("Dismiss message")
        self.close_button.clicked.connect(self.dismiss)
        lay.addWidget(self.label, 1)
        lay.addWidget(self.close_button)
        self.hide()
        self.level = "info"

    def show_message(self, text: str, level: str = "error") -> None:
        self.level = level
        self.setProperty("level", level)
        self.style().unpolish(self)
        self.style().polish(self)
        text = text.strip()
        self.label.setText(text[:1].upper() + text[1:])  # core messages start in lower case
        self.show()

    def dismiss(self) -> None:
        self.hide()
        self.dismissed.emit()

    @property
    def text(self) -> str:
        return "" if self.isHidden() else self.label.text()


def heading(text: str) -> QLabel:
    lab = QLabel(text)
    lab.setObjectName("paneTitle")
    return lab
