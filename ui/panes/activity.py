"""Activity: the background jobs — progress, next runs, pause/resume, last errors.

Polled about once a second (through the runner, never on the GUI thread) and refreshed
at once on the ``job_did_progress`` / ``job_did_finish`` hooks.
"""
from __future__ import annotations

from typing import Optional, Union

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from secondme.api import JobInfo
from secondme.progress import Progress

from ..context import AppContext
from ..render import fmt_time
from ..widgets import heading

JOB_HELP = {
    "extract": "forms memories from new messages and documents",
    "decay": "lets unused memories fade (retention)",
    "consolidate": "merges duplicates, writes day/week/topic summaries and your profile",
    "upkeep": "compacts the index, optimises search, checks integrity",
    "backup": "keeps dated backups of your data",
}


def progress_text(p: Union[Progress, dict, None]) -> tuple[int, int, str]:
    """(done, total, text) from a Progress (hooks, the runner) or the dict of
    ``JobInfo.progress`` (``{"stage", "done", "total", "message", "fraction"}``)."""
    if p is None:
        return 0, 0, ""
    if isinstance(p, dict):
        p = Progress(p["stage"], p["done"], p["total"], p["message"])
    done = p.done or 0
    total = p.total or 0
    stage = p.stage or ""
    msg = p.message or ""
    counts = f"{done:,}/{total:,}" if total else (f"{done:,}" if done else "")
    return done, total, " ".join(x for x in (stage, counts, msg) if x)


class ActivityPanel(QWidget):
    """The activity pane."""

    COLUMNS = ["Job", "State", "Progress", "Last run", "Outcome", "Next run", "Last error"]

    def __init__(self, ctx: AppContext, parent: QWidget | None = None, poll_ms: int = 1000):
        super().__init__(parent)
        self.ctx = ctx
        self.jobs: list[JobInfo] = []
        self.live_progress: dict[str, Optional[Progress]] = {}
        outer = QVBoxLayout(self)
        outer.addWidget(heading("Background activity"))
        hint = QLabel("secondme keeps working while you use it: forming memories, letting "
                      "old ones fade, consolidating and backing up. Jobs resume where they "
                      "stopped.")
        hint.setWordWrap(True)
        hint.setObjectName("hint")
        outer.addWidget(hint)
        self.tree = QTreeWidget()
        self.tree.setAccessibleName("Background jobs")
        self.tree.setHeaderLabels(self.COLUMNS)
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        hh = self.tree.header()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        hh.setStretchLastSection(True)
        for c, w in enumerate((120, 90, 220, 140, 80, 140)):
            self.tree.setColumnWidth(c, w)
        self.tree.itemSelectionChanged.connect(self._update_buttons)
        outer.addWidget(self.tree, 1)
        row = QHBoxLayout()
        self.run_button = QPushButton("Run now")
        self.run_button.setAccessibleName("Run the selected job now")
        self.run_button.clicked.connect(self.run_selected)
        self.pause_button = QPushButton("Pause")
        self.pause_button.setAccessibleName("Pause or resume the selected job")
        self.pause_button.clicked.connect(self.toggle_pause_selected)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setAccessibleName("Cancel the selected job")
        self.cancel_button.clicked.connect(self.cancel_selected)
        self.pause_all_button = QPushButton("Pause all")
        self.pause_all_button.setAccessibleName("Pause all jobs")
        self.pause_all_button.clicked.connect(lambda: self.pause_all(True))
        self.resume_all_button = QPushButton("Resume all")
        self.resume_all_button.setAccessibleName("Resume all jobs")
        self.resume_all_button.clicked.connect(lambda: self.pause_all(False))
        for b in (self.run_button, self.pause_button, self.cancel_button):
            row.addWidget(b)
        row.addStretch(1)
        row.addWidget(self.pause_all_button)
        row.addWidget(self.resume_all_button)
        outer.addLayout(row)
        self.status = QLabel("")
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.status.setWordWrap(True)
        outer.addWidget(self.status)
        self._bars: dict[str, QProgressBar] = {}
        self.timer = QTimer(self)
        self.timer.setInterval(poll_ms)
        self.timer.timeout.connect(self.refresh)
        self.timer.start()
        self.refresh()
        self._update_buttons()

    # -- data ----------------------------------------------------------------------------
    def refresh(self, force: bool = False) -> None:
        if self.ctx.runner.running("jobs") is not None:
            return
        if not force and not self.isVisible() and self.jobs:
            return  # polled only while shown (and once at start)
        sm = self.ctx.sm
        self.ctx.runner.run(lambda p, c: sm.jobs_list(), key="jobs", on_success=self._show,
                            on_error=lambda e: self._poll_failed(e))

    def _poll_failed(self, e: BaseException) -> bool:
        self.status.setText(f"Cannot read the jobs: {e}")
        return False

    def _show(self, jobs: list[JobInfo]) -> None:
        self.jobs = list(jobs)
        selected = self.selected_name()
        existing = {self.tree.topLevelItem(i).data(0, Qt.ItemDataRole.UserRole): i
                    for i in range(self.tree.topLevelItemCount())}
        names = [j.name for j in self.jobs]
        if list(existing) != names:
            self.tree.clear()
            self._bars = {}
            for name in names:
                it = QTreeWidgetItem([name])
                it.setData(0, Qt.ItemDataRole.UserRole, name)
                job = self.jobs[names.index(name)]
                it.setToolTip(0, job.description or JOB_HELP.get(name, ""))
                self.tree.addTopLevelItem(it)
                bar = QProgressBar()
                bar.setMaximumHeight(18)
                bar.setTextVisible(True)
                bar.setAccessibleName(f"{name} progress")
                self.tree.setItemWidget(it, 2, bar)
                self._bars[name] = bar
        for i, j in enumerate(self.jobs):
            it = self.tree.topLevelItem(i)
            name = names[i]
            running, paused = j.running, j.paused
            state = "running" if running else ("paused" if paused else "idle")
            it.setText(1, state)
            p: Union[Progress, dict, None] = self.live_progress.get(name) if running else None
            if p is None:
                p = j.progress
            done, total, text = progress_text(p) if running else (0, 0, "")
            bar = self._bars[name]
            if running and total:
                bar.setRange(0, total)
                bar.setValue(min(done, total))
                bar.setFormat(text)
            elif running:
                bar.setRange(0, 0)
            else:
                bar.setRange(0, 1)
                bar.setValue(0)
                bar.setFormat("")
            bar.setVisible(running)
            bar.setToolTip(text)
            it.setText(3, fmt_time(j.last_run))
            it.setText(4, j.last_outcome or "")
            it.setText(5, "paused" if paused else fmt_time(j.next_run))
            err = j.last_error or ""
            it.setText(6, err.splitlines()[0] if err else "")
            it.setToolTip(6, err)
            if selected == name:
                it.setSelected(True)
        self._update_buttons()

    def selected_name(self) -> str | None:
        items = self.tree.selectedItems()
        return items[0].data(0, Qt.ItemDataRole.UserRole) if items else None

    def _job(self, name: str | None) -> Optional[JobInfo]:
        for j in self.jobs:
            if j.name == name:
                return j
        return None

    def _update_buttons(self) -> None:
        j = self._job(self.selected_name())
        self.run_button.setEnabled(j is not None and not j.running)
        self.pause_button.setEnabled(j is not None)
        self.pause_button.setText("Resume" if j is not None and j.paused else "Pause")
        self.cancel_button.setEnabled(j is not None and j.running)

    # -- actions -------------------------------------------------------------------------
    def run_selected(self) -> None:
        name = self.selected_name()
        if name:
            self.run_job(name)

    def run_job(self, name: str) -> None:
        # now, under the job's lease; memory formation in a worker process (issue 14)
        self.status.setText(f"{name}: running in the background.")
        self.ctx.runner.run_in_process(self.ctx.sm, "run_job", {"name": name},
                                       key=f"job:{name}",
                                       on_success=lambda _r: self.status.setText(
                                           f"{name} finished."),
                                       on_done=self.refresh)

    def toggle_pause_selected(self) -> None:
        j = self._job(self.selected_name())
        if j is None:
            return
        name, paused = j.name, j.paused
        sm = self.ctx.sm
        fn = (lambda p, c: sm.resume_job(name)) if paused else (lambda p, c: sm.pause_job(name))
        self.ctx.runner.run(fn, on_success=lambda _r: self.status.setText(
            f"{name} {'resumed' if paused else 'paused'}."), on_done=self.refresh)

    def cancel_selected(self) -> None:
        name = self.selected_name()
        if name:
            sm = self.ctx.sm
            self.ctx.runner.run(lambda p, c: sm.cancel_job(name), on_done=self.refresh)

    def pause_all(self, pause: bool) -> None:
        sm = self.ctx.sm
        names = [j.name for j in self.jobs]

        def work(progress, cancel):
            # from the tray the pane may never have loaded its list: ask the service
            for n in names or [j.name for j in sm.jobs_list()]:
                if pause:
                    sm.pause_job(n)
                else:
                    sm.resume_job(n)

        self.ctx.runner.run(work, on_success=lambda _r: self.status.setText(
            "All jobs paused." if pause else "All jobs resumed."), on_done=self.refresh)

    def on_hook(self, name: str, payload: dict) -> None:
        if name == "job_did_progress":
            job = payload["name"]
            self.live_progress[job] = payload["progress"]
            bar = self._bars.get(job)
            if bar is not None:
                done, total, text = progress_text(payload["progress"])
                if total:
                    bar.setRange(0, total)
                    bar.setValue(min(done, total))
                    bar.setFormat(text)
        elif name == "job_did_finish":
            self.live_progress.pop(payload["name"], None)
            self.status.setText(f"{payload['name']} finished: {payload['outcome']}")
            self.refresh()


def main() -> int:
    from .standalone import run_pane

    return run_pane(ActivityPanel, "Activity")


if __name__ == "__main__":
    raise SystemExit(main())
