"""Small widgets shared by the panes: the error banner, pane headings, and the guard
that stops the mouse wheel from changing a setting by accident."""
from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractScrollArea,
    QAbstractSpinBox,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QWidget,
)


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


class WheelGuard(QObject):
    """Scrolling a page over a combo box or a spin box must scroll the page, not change
    the value (the Theme box changed the theme by accident): the wheel reaches such a
    box only once it has the focus (a click or Tab), otherwise it goes to the page."""

    def eventFilter(self, obj, e):  # noqa: N802
        if e.type() == QEvent.Type.Wheel and isinstance(obj, (QComboBox, QAbstractSpinBox)) \
                and not obj.hasFocus():
            area = obj.parent()
            while area is not None and not isinstance(area, QAbstractScrollArea):
                area = area.parent()
            if area is not None:  # the page scrolls, as everywhere else on it
                QCoreApplication.sendEvent(area.verticalScrollBar(), e)
            return True  # never delivered to the box
        return super().eventFilter(obj, e)


def guard_wheel(root: QWidget) -> WheelGuard:
    """Install a :class:`WheelGuard` on every combo box and spin box under ``root`` (they
    take the focus by click or Tab only, not by the wheel)."""
    guard = WheelGuard(root)
    for w in root.findChildren(QComboBox) + root.findChildren(QAbstractSpinBox):
        w.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        w.installEventFilter(guard)
    return guard
