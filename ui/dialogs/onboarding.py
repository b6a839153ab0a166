"""First run: who are you, where your data lives, which model — and "Try with demo data"."""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
)

from ..context import AppContext


class OnboardingDialog(QDialog):
    """Returns Accepted with ``choice`` = "start" or "demo"."""

    def __init__(self, ctx: AppContext, parent=None):
        super().__init__(parent)
        self.ctx = ctx
        self.choice = "start"
        self.setWindowTitle("Welcome to secondme")
        self.setObjectName("OnboardingDialog")
        self.setMinimumWidth(560)
        lay = QVBoxLayout(self)
        title = QLabel("Welcome to secondme")
        title.setObjectName("brand")
        lay.addWidget(title)
        intro = QLabel("secondme remembers your life from your own chat exports and documents "
                       "and answers questions with citations to the exact messages. Everything "
                       "stays on this computer.")
        intro.setWordWrap(True)
        lay.addWidget(intro)
        form = QFormLayout()
        s = ctx.sm.settings
        self.name = QLineEdit(s.me_name)
        self.name.setAccessibleName("Your name")
        self.name.setPlaceholderText("as it appears in your chats, e.g. Sam Rivera")
        self.aliases = QLineEdit(", ".join(s.me_aliases))
        self.aliases.setAccessibleName("Other names")
        self.aliases.setPlaceholderText("nicknames, usernames — comma separated")
        form.addRow("Who are you?", self.name)
        form.addRow("Also known as", self.aliases)
        data = QLabel(str(ctx.sm.home))
        data.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        data.setWordWrap(True)
        data.setToolTip("Start secondme with --home DIR (or SECONDME_HOME) to use another "
                        "folder; Settings can restart it there.")
        form.addRow("Your data lives in", data)
        lay.addLayout(form)
        lay.addWidget(QLabel("Which model should write answers?"))
        self.m_default = QRadioButton("The embedded model (small, private, nothing to set up)")
        self.m_later = QRadioButton("I'll pick a GGUF file, download a recommended model or "
                                    "connect Ollama/LM Studio in Settings")
        self.m_default.setChecked(True)
        self.models = QButtonGroup(self)
        self.models.addButton(self.m_default, 0)
        self.models.addButton(self.m_later, 1)
        lay.addWidget(self.m_default)
        lay.addWidget(self.m_later)
        row = QHBoxLayout()
        self.demo_button = QPushButton("Try with demo data")
        self.demo_button.setAccessibleName("Try with demo data")
        self.demo_button.clicked.connect(self._demo)
        self.start_button = QPushButton("Start")
        self.start_button.setAccessibleName("Start using secondme")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self._start)
        self.skip_button = QPushButton("Later")
        self.skip_button.setAccessibleName("Skip the introduction")
        self.skip_button.clicked.connect(self.reject)
        row.addWidget(self.demo_button)
        row.addStretch(1)
        row.addWidget(self.skip_button)
        row.addWidget(self.start_button)
        lay.addLayout(row)

    def values(self) -> dict[str, Any]:
        return {"me_name": self.name.text().strip(),
                "me_aliases": [a.strip() for a in self.aliases.text().split(",") if a.strip()]}

    def wants_model_settings(self) -> bool:
        return self.m_later.isChecked()

    def _demo(self) -> None:
        self.choice = "demo"
        self.accept()

    def _start(self) -> None:
        self.choice = "start"
        self.accept()
