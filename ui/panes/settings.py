"""Settings: who "me" is, the model, the data folder, decay, encryption, theme, MCP.

Settings live in the database (``sm.update_settings``); the endpoint's API key goes to
the OS keyring (``sm.store_endpoint_key``) and never into settings. The recommended
model download (``sm.download_recommended_model``: resumable, checksum-verified) runs
through the runner with progress.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

from PySide6.QtCore import QProcess, Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from secondme.api import ModelStatus
from secondme.progress import Progress

from ..context import AppContext
from ..render import problem_words
from ..widgets import guard_wheel


class SettingsPanel(QWidget):
    """The settings pane."""

    theme_changed = Signal(str)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self._download = None
        sm = ctx.sm
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        outer.addWidget(scroll)
        body = QWidget()
        scroll.setWidget(body)
        lay = QVBoxLayout(body)
        s = sm.settings

        # who am I
        me = QGroupBox("You")
        f = QFormLayout(me)
        self.me_name = QLineEdit(s.me_name)
        self.me_name.setAccessibleName("Your name")
        self.me_name.setPlaceholderText("your name as it appears in your chats")
        self.me_aliases = QLineEdit(", ".join(s.me_aliases))
        self.me_aliases.setAccessibleName("Your other names")
        self.me_aliases.setPlaceholderText("nicknames, usernames, phone numbers — comma separated")
        f.addRow("Name", self.me_name)
        f.addRow("Also known as", self.me_aliases)
        lay.addWidget(me)

        # model
        model = QGroupBox("Language model")
        ml = QVBoxLayout(model)
        self.model_status = QLabel("")
        self.model_status.setWordWrap(True)
        self.model_status.setTextFormat(Qt.TextFormat.PlainText)
        self.model_status.setObjectName("hint")
        ml.addWidget(self.model_status)
        self.src_default = QRadioButton("Embedded default (small, private, works offline — "
                                        "answers are built from your sources)")
        self.src_gguf = QRadioButton("A GGUF model file on this computer")
        self.src_openai = QRadioButton("An OpenAI-compatible server (Ollama, LM Studio, …)")
        self.src_group = QButtonGroup(self)
        for i, b in enumerate((self.src_default, self.src_gguf, self.src_openai)):
            self.src_group.addButton(b, i)
            b.setAccessibleName(b.text())
        {"default": self.src_default, "gguf": self.src_gguf,
         "openai": self.src_openai}[s.llm_source].setChecked(True)
        ml.addWidget(self.src_default)
        ml.addWidget(self.src_gguf)
        row = QHBoxLayout()
        self.gguf_path = QLineEdit(s.llm_path)
        self.gguf_path.setAccessibleName("GGUF model file")
        self.gguf_path.setPlaceholderText("/path/to/model.gguf")
        self.gguf_browse = QPushButton("Browse…")
        self.gguf_browse.setAccessibleName("Choose a GGUF file")
        self.gguf_browse.clicked.connect(self.browse_gguf)
        row.addSpacing(24)
        row.addWidget(self.gguf_path, 1)
        row.addWidget(self.gguf_browse)
        ml.addLayout(row)
        drow = QHBoxLayout()
        self.catalogue = QComboBox()
        self.catalogue.setAccessibleName("Recommended model")
        for m in sm.recommended_models():
            self.catalogue.addItem(f"{m.name} — {m.size_mb:,} MB — {m.description}", m.name)
        self.download_button = QPushButton("Download")
        self.download_button.setAccessibleName("Download the recommended model")
        self.download_button.clicked.connect(self.download_model)
        self.download_cancel = QPushButton("Cancel")
        self.download_cancel.setAccessibleName("Cancel the download")
        self.download_cancel.setEnabled(False)
        self.download_cancel.clicked.connect(self.cancel_download)
        drow.addSpacing(24)
        drow.addWidget(self.catalogue, 1)
        drow.addWidget(self.download_button)
        drow.addWidget(self.download_cancel)
        ml.addLayout(drow)
        self.download_bar = QProgressBar()
        self.download_bar.setAccessibleName("Download progress")
        self.download_bar.hide()
        self.download_label = QLabel("")
        self.download_label.setTextFormat(Qt.TextFormat.PlainText)
        ml.addWidget(self.download_bar)
        ml.addWidget(self.download_label)
        ml.addWidget(self.src_openai)
        of = QFormLayout()
        self.endpoint = QLineEdit(s.llm_endpoint)
        self.endpoint.setAccessibleName("Endpoint URL")
        self.endpoint.setPlaceholderText("http://localhost:11434/v1")
        self.endpoint_model = QLineEdit(s.llm_endpoint_model)
        self.endpoint_model.setAccessibleName("Endpoint model name")
        self.endpoint_model.setPlaceholderText("llama3.2")
        self.api_key = QLineEdit()
        self.api_key.setEchoMode(QLineEdit.EchoMode.Password)
        self.api_key.setAccessibleName("API key")
        self.api_key.setPlaceholderText(self._key_placeholder())
        of.addRow("URL", self.endpoint)
        of.addRow("Model", self.endpoint_model)
        of.addRow("API key", self.api_key)
        ow = QWidget()
        ow.setLayout(of)
        ow.setContentsMargins(24, 0, 0, 0)
        ml.addWidget(ow)
        lay.addWidget(model)

        # data and memory
        data = QGroupBox("Data and memory")
        df = QFormLayout(data)
        self.data_dir = QLineEdit(str(sm.home))
        self.data_dir.setReadOnly(True)
        self.data_dir.setAccessibleName("Data folder")
        self.data_change = QPushButton("Open another data folder…")
        self.data_change.setAccessibleName("Open another data folder (restarts the app)")
        self.data_change.clicked.connect(self.change_data_dir)
        drow2 = QHBoxLayout()
        drow2.addWidget(self.data_dir, 1)
        drow2.addWidget(self.data_change)
        df.addRow("Data folder", drow2)
        self.tau = QDoubleSpinBox()
        self.tau.setRange(1, 3650)
        self.tau.setDecimals(0)
        self.tau.setSuffix(" days")
        self.tau.setValue(s.decay_tau_days)
        self.tau.setAccessibleName("Memory decay time constant")
        self.tau.setToolTip("How fast unused memories fade: retention = exp(−days / (τ·S)); "
                            "pinned memories never fade.")
        df.addRow("Forgetting τ", self.tau)
        self.encryption = QLabel("")
        self.encryption.setTextFormat(Qt.TextFormat.PlainText)
        self.encryption.setWordWrap(True)
        self.encrypt_button = QPushButton("Encrypt this data folder…")
        self.encrypt_button.setAccessibleName("Encrypt the data folder")
        self.encrypt_button.clicked.connect(self.enable_encryption)
        erow = QHBoxLayout()
        erow.addWidget(self.encryption, 1)
        erow.addWidget(self.encrypt_button)
        df.addRow("Encryption", erow)
        lay.addWidget(data)

        # appearance
        look = QGroupBox("Appearance")
        lf = QFormLayout(look)
        self.theme = QComboBox()
        self.theme.setAccessibleName("Theme")
        for label, value in (("Follow the system", "system"), ("Light", "light"),
                             ("Dark", "dark")):
            self.theme.addItem(label, value)
        self.theme.setCurrentIndex(max(0, self.theme.findData(s.theme)))
        lf.addRow("Theme", self.theme)
        lay.addWidget(look)

        # MCP
        snippet = sm.mcp_client_snippet()
        mcp = QGroupBox("Use your memory from other apps (MCP)")
        mcl = QVBoxLayout(mcp)
        mcl.addWidget(QLabel("Add this to your MCP client's configuration "
                             "(Claude Desktop, Cursor, …):"))
        self.mcp_text = QPlainTextEdit(snippet)
        self.mcp_text.setReadOnly(True)
        self.mcp_text.setAccessibleName("MCP configuration snippet")
        self.mcp_text.setMaximumHeight(140)
        mcl.addWidget(self.mcp_text)
        copy = QPushButton("Copy")
        copy.setAccessibleName("Copy the MCP snippet")
        copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(snippet))
        mcl.addWidget(copy, 0, Qt.AlignmentFlag.AlignLeft)
        lay.addWidget(mcp)

        lay.addStretch(1)
        # Save stays in view below the scrolling page (it was below the fold)
        bottom = QFrame()
        bottom.setObjectName("saveBar")
        brow = QHBoxLayout(bottom)
        brow.setContentsMargins(10, 6, 10, 8)
        self.save_button = QPushButton("Save settings")
        self.save_button.setAccessibleName("Save settings")
        self.save_button.setDefault(True)
        self.save_button.clicked.connect(lambda: self.save())
        self.status = QLabel("")
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.status.setWordWrap(True)
        brow.addWidget(self.status, 1)
        brow.addWidget(self.save_button)
        outer.addWidget(bottom)
        self.scroll = scroll
        self.wheel_guard = guard_wheel(body)  # the wheel scrolls the page, never a setting
        self._refresh_status()

    # -- status --------------------------------------------------------------------------
    def _key_placeholder(self) -> str:
        sm = self.ctx.sm
        if sm.endpoint_key_stored():
            return "a key is stored in the system keyring (type to replace it)"
        if not sm.keyring_available():
            return "no system keyring available: keys cannot be stored"
        return "optional; stored in the system keyring, never in settings"

    def _refresh_status(self) -> None:
        sm = self.ctx.sm
        self.ctx.runner.run(lambda p, c: (sm.describe_model(), sm.encryption_status()),
                            key="settings-status", on_success=self._show_status)

    def _show_status(self, result: tuple[ModelStatus, dict[str, Any]]) -> None:
        model, enc = result
        line = f"Now using: {model.name} ({model.source})"
        if not model.found:
            line += f" — not ready: {model.error or 'missing'}"
        elif not model.capable:
            line += " — small model: answers are extractive, with citations"
        self.model_status.setText(line)
        encrypted = bool(enc["encrypted"])
        self.encryption.setText("This data folder is encrypted (SQLCipher)." if encrypted else
                                "Not encrypted. Your data never leaves this computer.")
        self.encrypt_button.setVisible(not encrypted)

    # -- actions -------------------------------------------------------------------------
    def browse_gguf(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a GGUF model", "",
                                              "GGUF models (*.gguf);;All files (*)")
        if path:
            self.gguf_path.setText(path)
            self.src_gguf.setChecked(True)

    def changes(self) -> dict[str, Any]:
        source = {0: "default", 1: "gguf", 2: "openai"}[self.src_group.checkedId()]
        aliases = [a.strip() for a in self.me_aliases.text().split(",") if a.strip()]
        return {"me_name": self.me_name.text().strip(), "me_aliases": aliases,
                "llm_source": source, "llm_path": self.gguf_path.text().strip(),
                "llm_endpoint": self.endpoint.text().strip(),
                "llm_endpoint_model": self.endpoint_model.text().strip(),
                "decay_tau_days": float(self.tau.value()),
                "theme": self.theme.currentData()}

    def save(self) -> None:
        sm = self.ctx.sm
        cur = sm.settings
        changes = {k: v for k, v in self.changes().items() if getattr(cur, k) != v}
        key = self.api_key.text()
        if changes.get("llm_source") == "gguf" or (not changes.get("llm_source")
                                                   and cur.llm_source == "gguf"):
            if not (changes.get("llm_path") or cur.llm_path):
                self.status.setText("Choose a GGUF file first.")
                return

        def work(progress, cancel):
            if key:
                sm.store_endpoint_key(key)
            if changes:
                sm.update_settings(**changes)
            return changes

        self.ctx.runner.run(work, key="settings-save", serial=True, on_success=self._saved,
                            on_error=lambda e: self._save_failed(e))

    def _save_failed(self, e: BaseException) -> bool:
        self.status.setText(f"Not saved: {problem_words(e)}.")
        return True

    def _saved(self, changes: dict) -> None:
        self.api_key.clear()
        self.api_key.setPlaceholderText(self._key_placeholder())
        self.status.setText("Saved." if changes else "Nothing changed.")
        if "theme" in changes:
            self.theme_changed.emit(changes["theme"])
        self._refresh_status()

    def download_model(self) -> None:
        name: Optional[str] = self.catalogue.currentData()
        if not name:
            return
        sm = self.ctx.sm
        self.download_bar.show()
        self.download_bar.setRange(0, 0)
        self.download_label.setText(f"Downloading {name}… (resumes if interrupted)")
        self.download_button.setEnabled(False)
        self.download_cancel.setEnabled(True)

        def work(progress, cancel):
            return sm.download_recommended_model(name, progress=progress, cancel=cancel)

        self._download = self.ctx.runner.run(
            work, key="model-download", on_progress=self._download_progress,
            on_success=self._downloaded, on_cancelled=lambda: self.download_label.setText(
                "Download paused; press Download to resume where it stopped."),
            on_error=self._download_failed, on_done=self._download_done)

    def _download_progress(self, p: Progress) -> None:
        if p.total:
            self.download_bar.setRange(0, 1000)
            self.download_bar.setValue(int(1000 * p.done / p.total))
            self.download_label.setText(f"{p.done / 1e6:,.0f} of {p.total / 1e6:,.0f} MB")
        else:
            self.download_label.setText(f"{p.done / 1e6:,.0f} MB")

    def _downloaded(self, path: Path) -> None:
        self.download_bar.setRange(0, 1)
        self.download_bar.setValue(1)
        self.download_label.setText(f"Downloaded and verified: {path}. It is now selected; "
                                    "press Save settings to use it.")
        self.gguf_path.setText(str(path))
        self.src_gguf.setChecked(True)

    def _download_failed(self, e: BaseException) -> bool:
        self.download_label.setText(f"Download failed: {problem_words(e)}.")
        return False

    def _download_done(self) -> None:
        self.download_button.setEnabled(True)
        self.download_cancel.setEnabled(False)

    def cancel_download(self) -> None:
        if self._download is not None:
            self._download.cancel()

    def change_data_dir(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Choose a data folder")
        if not d or Path(d).resolve() == Path(self.ctx.sm.home).resolve():
            return
        if QMessageBox.question(self, "Restart with another data folder",
                                f"secondme will restart using {d}.\nYour current data stays "
                                f"in {self.ctx.sm.home}.") != QMessageBox.StandardButton.Yes:
            return
        QProcess.startDetached(sys.executable, ["-m", "secondme", "--home", d])
        w = self.window()
        if w is not None:
            w.close()

    def enable_encryption(self) -> None:
        sm = self.ctx.sm
        if QMessageBox.question(self, "Encrypt this data folder",
                                "Encrypt the database and index with a key kept in your "
                                "system keyring? This can take a while for large stores.") \
                != QMessageBox.StandardButton.Yes:
            return
        self.ctx.runner.run(lambda p, c: sm.encrypt_store(), key="encrypt", serial=True,
                            on_success=lambda _r: self._refresh_status())

    def on_hook(self, name: str, payload: dict) -> None:
        if name == "settings_did_change":
            self._refresh_status()


def main() -> int:
    from .standalone import run_pane

    return run_pane(SettingsPanel, "Settings", demo_data=False)


if __name__ == "__main__":
    raise SystemExit(main())
