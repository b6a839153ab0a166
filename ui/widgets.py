"""Small widgets shared by the panes: the error banner and the "not available" state."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget


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
        self.label.setText(text)
        self.show()

    def dismiss(self) -> None:
        self.hide()
        self.dismissed.emit()

    @property
    def text(self) -> str:
        return "" if self.isHidden() else self.label.text()


class NotAvailableView(QWidget):
    """What a pane shows when the service in this build lacks what it needs."""

    def __init__(self, what: str, methods: list[str], parent: QWidget | None = None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.addStretch(1)
        title = QLabel(f"{what} is not available in this build")
        title.setObjectName("notAvailableTitle")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        detail = QLabel("The service does not provide: " + ", ".join(methods)
                        + ".\nThe rest of the app works; this pane lights up when it does.")
        detail.setAlignment(Qt.AlignmentFlag.AlignCenter)
        detail.setWordWrap(True)
        lay.addWidget(title)
        lay.addWidget(detail)
        lay.addStretch(2)
        self.setAccessibleName(f"{what} not available")


def missing(sm, *methods: str) -> list[str]:
    return [m for m in methods if not callable(getattr(sm, m, None))]


def heading(text: str) -> QLabel:
    lab = QLabel(text)
    lab.setObjectName("paneTitle")
    return lab
