"""Ctrl+K: the command palette and quick search.

Typing filters the app's commands; from two characters on it also searches your
memories (``sm.search``, in the background) — Enter runs the highlighted command or opens
the highlighted result. Esc closes it.
"""
from __future__ import annotations

from typing import Callable

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QDialog, QLineEdit, QListWidget, QListWidgetItem, QVBoxLayout

from secondme.api import SearchResult

from ..context import AppContext


class CommandPaletteDialog(QDialog):
    def __init__(self, ctx: AppContext, commands: list[tuple[str, Callable[[], None]]],
                 parent=None):
        super().__init__(parent)
        self.ctx = ctx
        self.commands = commands
        self.results: list[SearchResult] = []
        self.setWindowTitle("Command palette")
        self.setObjectName("CommandPaletteDialog")
        self.resize(620, 420)
        lay = QVBoxLayout(self)
        self.input = QLineEdit()
        self.input.setPlaceholderText("Type a command, or search your memories…")
        self.input.setAccessibleName("Command or search")
        self.list = QListWidget()
        self.list.setAccessibleName("Commands and results")
        lay.addWidget(self.input)
        lay.addWidget(self.list, 1)
        self.input.textChanged.connect(self._changed)
        self.input.returnPressed.connect(self.activate_current)
        self.list.itemActivated.connect(lambda _i: self.activate_current())
        self._search_timer = QTimer(self, singleShot=True, interval=180)
        self._search_timer.timeout.connect(self._search)
        self.input.installEventFilter(self)
        self._fill()

    def eventFilter(self, obj, e):  # noqa: N802 - arrows move the selection
        from PySide6.QtCore import QEvent
        if obj is self.input and e.type() == QEvent.Type.KeyPress and e.key() in (
                Qt.Key.Key_Down, Qt.Key.Key_Up):
            r = self.list.currentRow() + (1 if e.key() == Qt.Key.Key_Down else -1)
            if 0 <= r < self.list.count():
                self.list.setCurrentRow(r)
            return True
        return super().eventFilter(obj, e)

    def _changed(self, _text: str) -> None:
        self.results = []
        self._fill()
        if len(self.input.text().strip()) >= 2:
            self._search_timer.start()

    def _fill(self) -> None:
        q = self.input.text().strip().lower()
        self.list.clear()
        for name, fn in self.commands:
            if not q or all(w in name.lower() for w in q.split()):
                it = QListWidgetItem(name)
                it.setData(Qt.ItemDataRole.UserRole, ("command", fn))
                self.list.addItem(it)
        for r in self.results:
            text = " ".join(r.text.split())
            it = QListWidgetItem(f"🔎 {text[:110]}")
            it.setToolTip(text)
            it.setData(Qt.ItemDataRole.UserRole, ("result", r))
            self.list.addItem(it)
        if self.list.count():
            self.list.setCurrentRow(0)

    def _search(self) -> None:
        q = self.input.text().strip()
        sm = self.ctx.sm
        self.ctx.runner.run(lambda p, c: sm.search(q, k=8), key="palette-search",
                            on_success=self._found, on_error=lambda e: False)

    def _found(self, results: list[SearchResult]) -> None:
        self.results = list(results)
        self._fill()

    def activate_current(self) -> None:
        it = self.list.currentItem()
        if it is None:
            return
        kind, payload = it.data(Qt.ItemDataRole.UserRole)
        self.accept()
        if kind == "command":
            payload()
        else:
            if payload.kind == "note":
                self.ctx.open_note(payload.id)
            else:
                self.ctx.open_source(payload.kind, payload.id)
