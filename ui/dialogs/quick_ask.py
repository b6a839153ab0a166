"""A small always-ready question box (tray, ``secondme --quick-ask``, a desktop shortcut).

It is the Chat pane without its history list, so answers stream and cite the same way;
"Continue in the app" moves the conversation to the main window.
"""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QDialog, QHBoxLayout, QPushButton, QVBoxLayout

from ..context import AppContext
from ..panes.chat import ChatPanel


class QuickAskDialog(QDialog):
    continue_in_app = Signal(object)  # chat_id

    def __init__(self, ctx: AppContext, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Ask secondme")
        self.setObjectName("QuickAskDialog")
        self.setWindowFlag(Qt.WindowType.WindowStaysOnTopHint, True)
        self.resize(640, 460)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        self.chat = ChatPanel(ctx, self)
        self.chat.splitter.widget(0).hide()
        lay.addWidget(self.chat, 1)
        row = QHBoxLayout()
        self.more = QPushButton("Continue in the app")
        self.more.setAccessibleName("Continue this conversation in the main window")
        self.more.clicked.connect(self._continue)
        row.addStretch(1)
        row.addWidget(self.more)
        lay.addLayout(row)

    def showEvent(self, e):  # noqa: N802
        super().showEvent(e)
        self.chat.focus_input()

    def _continue(self) -> None:
        self.continue_in_app.emit(self.chat.chat_id)
        self.hide()
