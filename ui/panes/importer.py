"""Import: drop files, folders or ZIPs (or pick them); see the detected format first;
import with progress, counts and cancel; a summary with per-conversation errors.

The import runs in a worker process (the runner's ``run_in_process``), so the window
never waits for it.
After an import the scheduler forms memories in the background (the import requested
the ``extract`` job); when no scheduler runs (a pane started on its own, tests) the pane
runs that job itself.
"""
from __future__ import annotations

from typing import Optional

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from secondme.api import DetectedSource, ImportReport, SourceReport
from secondme.errors import SecondMeError
from secondme.progress import Progress

from ..context import AppContext
from ..render import counted, problem_words
from ..widgets import heading


class DropZoneView(QFrame):
    """Accepts dropped files and folders (local URLs)."""

    dropped = Signal(list)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("dropZone")
        self.setAcceptDrops(True)
        self.setAccessibleName("Drop files here to import")
        self.setMinimumHeight(110)
        lay = QVBoxLayout(self)
        lab = QLabel("Drop chat exports, documents, folders or ZIP files here")
        lab.setAlignment(Qt.AlignmentFlag.AlignCenter)
        lab.setObjectName("dropLabel")
        sub = QLabel("ChatGPT · Claude · WhatsApp · Telegram · Discord · Slack · Signal · "
                     "Markdown / Obsidian · PDF · DOCX · HTML · secondme JSON")
        sub.setAlignment(Qt.AlignmentFlag.AlignCenter)
        sub.setWordWrap(True)
        sub.setObjectName("hint")
        lay.addStretch(1)
        lay.addWidget(lab)
        lay.addWidget(sub)
        lay.addStretch(1)

    def dragEnterEvent(self, e):  # noqa: N802
        if e.mimeData().hasUrls():
            e.acceptProposedAction()
            self.setProperty("hover", True)
            self.style().polish(self)

    def dragLeaveEvent(self, e):  # noqa: N802
        self.setProperty("hover", False)
        self.style().polish(self)

    def dropEvent(self, e):  # noqa: N802
        self.setProperty("hover", False)
        self.style().polish(self)
        paths = [u.toLocalFile() for u in e.mimeData().urls() if u.isLocalFile()]
        if paths:
            e.acceptProposedAction()
            self.dropped.emit(paths)


class ImportPanel(QWidget):
    """The import pane."""

    import_finished = Signal(object)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.paths: list[str] = []
        self.detected: dict[str, DetectedSource] = {}
        self.report: Optional[ImportReport] = None
        self._handle = None
        outer = QVBoxLayout(self)
        outer.addWidget(heading("Import your chats and documents"))
        self.drop = DropZoneView()
        self.drop.dropped.connect(self.add_paths)
        outer.addWidget(self.drop)
        row = QHBoxLayout()
        self.files_button = QPushButton("Choose files…")
        self.files_button.setAccessibleName("Choose files to import")
        self.files_button.clicked.connect(self.choose_files)
        self.folder_button = QPushButton("Choose folder…")
        self.folder_button.setAccessibleName("Choose a folder to import")
        self.folder_button.clicked.connect(self.choose_folder)
        self.demo_button = QPushButton("Try with demo data")
        self.demo_button.setAccessibleName("Import the demo data")
        self.demo_button.clicked.connect(self.import_demo)
        self.clear_button = QPushButton("Clear list")
        self.clear_button.setAccessibleName("Clear the list of files")
        self.clear_button.clicked.connect(self.clear)
        for b in (self.files_button, self.folder_button, self.demo_button, self.clear_button):
            row.addWidget(b)
        row.addStretch(1)
        outer.addLayout(row)

        self.queue = QTreeWidget()
        self.queue.setAccessibleName("Files to import")
        self.queue.setHeaderLabels(["Path", "Detected format", "Kind"])
        self.queue.setRootIsDecorated(False)
        self.queue.setColumnWidth(0, 420)
        self.queue.setColumnWidth(1, 260)
        outer.addWidget(self.queue, 1)

        prow = QHBoxLayout()
        self.import_button = QPushButton("Import")
        self.import_button.setAccessibleName("Start importing")
        self.import_button.setEnabled(False)
        self.import_button.clicked.connect(lambda: self.start_import())
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setAccessibleName("Cancel the import")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.progress.setAccessibleName("Import progress")
        self.progress.setTextVisible(True)
        self.progress.setValue(0)
        self.progress_label = QLabel("")
        self.progress_label.setTextFormat(Qt.TextFormat.PlainText)
        prow.addWidget(self.import_button)
        prow.addWidget(self.cancel_button)
        prow.addWidget(self.progress, 1)
        outer.addLayout(prow)
        outer.addWidget(self.progress_label)

        outer.addWidget(QLabel("Last import"))
        self.summary = QTreeWidget()
        self.summary.setAccessibleName("Import summary")
        self.summary.setHeaderLabels(["Source", "Format", "Conversations", "Messages added",
                                      "Skipped", "Documents", "Problems"])
        self.summary.setColumnWidth(0, 360)
        head = self.summary.header()
        for c in range(1, self.summary.columnCount()):  # the numbers' headings never cut
            self.summary.setColumnWidth(c, max(90, head.fontMetrics().horizontalAdvance(
                self.summary.headerItem().text(c)) + 24))
        outer.addWidget(self.summary, 1)
        self.setTabOrder(self.files_button, self.folder_button)
        self.setTabOrder(self.folder_button, self.demo_button)
        self.setTabOrder(self.demo_button, self.clear_button)
        self.setTabOrder(self.clear_button, self.queue)
        self.setTabOrder(self.queue, self.import_button)
        self.setTabOrder(self.import_button, self.cancel_button)
        self.setTabOrder(self.cancel_button, self.summary)

    # -- choosing ------------------------------------------------------------------------
    def choose_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Choose exports or documents to import")
        if files:
            self.add_paths(files)

    def choose_folder(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Choose a folder to import")
        if d:
            self.add_paths([d])

    def import_demo(self) -> None:
        from ..assets import demo_export_path
        from ..demo import DEMO_ALIASES, DEMO_ME

        self.clear()
        self.add_paths([str(demo_export_path())])
        # the demo is Sam Rivera's life: mark Sam's messages as "me" whoever you are
        self.start_import(me=[DEMO_ME, *DEMO_ALIASES])

    def clear(self) -> None:
        if self._handle is not None and not self._handle.done:
            return
        self.paths = []
        self.detected = {}
        self.queue.clear()
        self.import_button.setEnabled(False)
        self._reset_progress()

    def _reset_progress(self) -> None:
        """A new choice starts afresh: the previous "Imported …" line and its full bar
        go (the last import's table below stays, under its heading)."""
        if self.busy:
            return
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("%p%")
        self.progress_label.setText("")

    def add_paths(self, paths: list[str]) -> None:
        """Queue ``paths`` and detect their format in the background."""
        self._reset_progress()
        sm = self.ctx.sm
        for p in paths:
            p = str(p)
            if p in self.paths:
                continue
            self.paths.append(p)
            item = QTreeWidgetItem([p, "detecting…", ""])
            item.setData(0, Qt.ItemDataRole.UserRole, p)
            self.queue.addTopLevelItem(item)
            self.ctx.runner.run(lambda pr, c, p=p: sm.detect(p), key=f"detect:{p}",
                                on_success=lambda d, p=p: self._detected(p, d),
                                on_error=lambda e, p=p: self._detect_failed(p, e))
        self.import_button.setEnabled(bool(self.paths))

    def _item(self, path: str) -> Optional[QTreeWidgetItem]:
        for i in range(self.queue.topLevelItemCount()):
            it = self.queue.topLevelItem(i)
            if it.data(0, Qt.ItemDataRole.UserRole) == path:
                return it
        return None

    def _detected(self, path: str, d: DetectedSource) -> None:
        self.detected[path] = d
        it = self._item(path)
        if it is None:
            return
        desc = d.description or d.format
        it.setText(1, desc if not d.format or d.format in desc else f"{desc} ({d.format})")
        it.setText(2, d.kind)
        it.setToolTip(1, desc)

    def _detect_failed(self, path: str, e: BaseException) -> bool:
        it = self._item(path)
        if it is not None:
            why = e.plain_message if isinstance(e, SecondMeError) else str(e)
            it.setText(1, f"not recognised: {why}")
        return False

    # -- importing -----------------------------------------------------------------------
    def start_import(self, me: Optional[list[str]] = None) -> None:
        if not self.paths or (self._handle is not None and not self._handle.done):
            return
        paths = list(self.paths)
        sm = self.ctx.sm
        self.import_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setRange(0, 0)
        self.progress_label.setText("Starting…")
        # in a worker process (issue 14): the window never waits for the parsing
        self._handle = self.ctx.runner.run_in_process(
            sm, "import_paths", {"paths": paths, "me": me},
            key="import", on_progress=self._progress,
            on_success=self._finished, on_cancelled=self._cancelled,
            on_error=self._failed, on_done=self._done)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self.progress_label.setText("Cancelling after the current conversation…")

    def _progress(self, p: Progress) -> None:
        if p.total:
            self.progress.setRange(0, max(1, int(p.total)))
            self.progress.setValue(min(int(p.done), int(p.total)))
            counts = f"{p.done:,} / {p.total:,}"
        else:
            self.progress.setRange(0, 0)
            counts = f"{p.done:,}" if p.done else ""
        self.progress_label.setText(" · ".join(x for x in (p.stage, counts, p.message) if x))

    def _finished(self, report: ImportReport) -> None:
        self.report = report
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
        sources = report.sources
        added = sum(s.messages_added for s in sources)
        docs = sum(s.documents for s in sources)
        problems = sum(len(s.errors) for s in sources)
        self.progress_label.setText(
            f"Imported {counted(added, 'message')} and {counted(docs, 'document')} from "
            f"{counted(len(sources), 'source')}"
            + (f"; {counted(problems, 'problem')} — see below." if problems else ".")
            + " Memories are being formed in the background (see Activity).")
        self._show_summary(sources)
        self.paths = []
        self.queue.clear()
        self._form_memories()
        self.import_finished.emit(report)
        self.ctx.show_status(f"Import finished: {added:,} messages, {docs:,} documents")

    def _show_summary(self, sources: list[SourceReport]) -> None:
        self.summary.clear()
        for s in sources:
            errs = s.errors
            item = QTreeWidgetItem([
                s.path, s.format, f"{s.conversations}", f"{s.messages_added}",
                f"{s.messages_skipped}", f"{s.documents}", f"{len(errs)}"])
            for e in errs:  # {"conversation", "position", "problem", "file"}
                conv = e["conversation"] or ""
                pos = e["position"]
                prob = e["problem"]
                child = QTreeWidgetItem([f"{conv}" + (f" ({pos})" if pos else ""), "", "", "",
                                         "", "", str(prob)])
                child.setToolTip(6, str(prob))
                item.addChild(child)
            self.summary.addTopLevelItem(item)
            if errs:
                item.setExpanded(True)

    def _form_memories(self) -> None:
        """Memories form in the background: the scheduler picks up the ``extract`` job the
        import requested; without a running scheduler the job is run here instead."""
        sm = self.ctx.sm
        if sm.background_running:
            return
        self.ctx.runner.run_in_process(sm, "run_job", {"name": "extract"}, key="extract",
                                       on_progress=lambda p: self.ctx.show_status(
                                           f"Forming memories: {p.stage} "
                                           f"{p.done}/{p.total or '?'}"),
                                       on_success=lambda r: self.ctx.show_status(
                                           "Memories formed."))

    def _cancelled(self) -> None:
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress_label.setText("Import cancelled. Conversations already imported are "
                                    "kept; importing again continues where it stopped.")

    def _failed(self, e: BaseException) -> bool:
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress_label.setText(f"Import failed: {problem_words(e)}.")
        return True

    def _done(self) -> None:
        self.cancel_button.setEnabled(False)
        self.import_button.setEnabled(bool(self.paths))

    @property
    def busy(self) -> bool:
        return self._handle is not None and not self._handle.done

    def on_hook(self, name: str, payload: dict) -> None:
        pass


def main() -> int:
    from .standalone import run_pane

    return run_pane(ImportPanel, "Import", demo_data=False)


if __name__ == "__main__":
    raise SystemExit(main())
