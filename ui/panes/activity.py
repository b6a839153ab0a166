"""Activity: the background jobs — progress, next runs, pause/resume, problems.

Polled about once a second (through the runner, never on the GUI thread) and refreshed
at once on the ``job_did_progress`` / ``job_did_finish`` hooks. Jobs are named in words
("Memory formation"), a failure reads as what happened and what to do, with Retry
(:func:`job_problem`: never SQL, ids or Python names; the technical text stays behind
"Details…"), and a running job's progress is a bar with the words beside it, never
text squeezed inside the bar.

Formation sets aside a part of a chat it cannot form and goes on with the rest (issue
15: ``JobInfo.quarantined``, ``quarantined_windows()``, ``retry_failed_windows()``);
the pane says so in words — which chat, which days, what went wrong — with Retry
(:func:`windows_problem`).
"""
from __future__ import annotations

import re
from typing import Optional, Union

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
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
from ..render import fmt_time, problem_words
from ..widgets import heading

JOB_HELP = {
    "extract": "forms memories from new messages and documents",
    "decay": "lets unused memories fade (retention)",
    "consolidate": "merges duplicates, writes day/week/topic summaries and your profile",
    "upkeep": "compacts the index, optimises search, checks integrity",
    "backup": "keeps dated backups of your data",
}


WINDOWS = "extract-windows"  # the problem row of the parts formation set aside
JOB_TITLES = {WINDOWS: "Memory formation", "extract": "Memory formation", "decay": "Forgetting",
              "consolidate": "Consolidation", "upkeep": "Upkeep", "backup": "Backups"}
OUTCOME_WORDS = {"ok": "done", "failed": "stopped on a problem", "cancelled": "cancelled"}
STAGE_WORDS = {"index": "indexing", "extract": "forming memories", "form": "forming memories",
               "embed": "reading", "windows": "reading the chats"}
# what a technical failure looks like: an exception's name, SQL, a traceback
_TECHNICAL = re.compile(
    r"^[A-Z]\w*(Error|Exception|Warning|Interrupt)\b|sqlite|constraint failed|traceback|"
    r"no such (table|column)|object has no attribute|NoneType|errno|\bline \d+", re.I)


def job_title(name: str) -> str:
    """A job as a person calls it ("extract" → "Memory formation")."""
    return JOB_TITLES.get(name, name.replace("_", " ").capitalize())


def is_technical(error: str) -> bool:
    return bool(_TECHNICAL.search(error or ""))


def job_problem(name: str, error: Optional[str]) -> str:
    """What a failed job's error means for a person, in one or two sentences: a message
    written for people is kept; a technical one (SQL, an exception) becomes "stopped
    because of an internal problem" — its text stays available behind Details."""
    first = (error or "").strip().splitlines()[0] if (error or "").strip() else ""
    title = job_title(name)
    if not first or is_technical(first):
        return (f"{title} stopped because of an internal problem. Everything done before "
                "it is kept; Retry starts it again where it stopped.")
    first = re.sub(r"^the '?\w+'? job failed: ", "", first)
    return f"{title} stopped: {first[:1].lower() + first[1:]}".rstrip(".") + ". Retry starts " \
        "it again where it stopped."


def _part(n: int) -> str:
    return "one part" if n == 1 else f"{n:,} parts"


def windows_problem(windows: list) -> str:
    """What a person reads about the parts of their chats formation set aside: one
    sentence saying that the rest went on, then each part's own problem (written for
    people by formation), at most three, then what Retry does."""
    n = len(windows)
    where = {w.conversation or w.document for w in windows if w.conversation or w.document}
    chat = " of your chats and documents" if len(where) > 1 else ""
    if len(where) == 1:
        title = next(iter(where))
        chat = f" of “{title}”" if any(w.document for w in windows) else \
            f" of the chat “{title}”"
    lines = [f"Memory formation stopped on {_part(n)}{chat} — the rest went on."]
    lines += [f"• {w.problem}" for w in windows[:3]]
    if n > 3:
        lines.append(f"• and {n - 3:,} more.")
    lines.append("Retry tries " + ("it" if n == 1 else "them") + " again.")
    return "\n".join(lines)


def progress_text(p: Union[Progress, dict, None]) -> tuple[int, int, str]:
    """(done, total, text) from a Progress (hooks, the runner) or the dict of
    ``JobInfo.progress`` (``{"stage", "done", "total", "message", "fraction"}``)."""
    if p is None:
        return 0, 0, ""
    if isinstance(p, dict):
        p = Progress(p["stage"], p["done"], p["total"], p["message"])
    done = p.done or 0
    total = p.total or 0
    stage = STAGE_WORDS.get(p.stage or "", (p.stage or "").replace("_", " "))
    msg = p.message or ""
    counts = f"{done:,}/{total:,}" if total else (f"{done:,}" if done else "")
    return done, total, " ".join(x for x in (stage, counts, msg) if x)


class ActivityPanel(QWidget):
    """The activity pane."""

    COLUMNS = ["Job", "State", "Progress", "Last run", "Outcome", "Next run", "Problem"]

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
        for c, w in enumerate((150, 80, 120, 140, 140, 140)):
            self.tree.setColumnWidth(c, w)
        self.tree.itemSelectionChanged.connect(self._update_buttons)
        outer.addWidget(self.tree, 1)
        # what a running job is doing, in words beside its bar (never cut off inside it)
        self.doing = QLabel("")
        self.doing.setTextFormat(Qt.TextFormat.PlainText)
        self.doing.setWordWrap(True)
        self.doing.setAccessibleName("What the background jobs are doing")
        outer.addWidget(self.doing)
        # problems a person can act on: what happened, what to do, Retry
        self.problems_box = QFrame()
        self.problems_box.setObjectName("problems")
        self.problems_layout = QVBoxLayout(self.problems_box)
        self.problems_layout.setContentsMargins(8, 6, 8, 6)
        self.problems_box.hide()
        outer.addWidget(self.problems_box)
        self.problem_rows: dict[str, tuple[QLabel, QPushButton, QPushButton]] = {}
        self.windows: list = []        # the parts of chats formation set aside
        self._windows_seen = -1        # JobInfo.quarantined when they were last read
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
        self.status.setText(f"Cannot read the jobs: {problem_words(e)}.")
        return False

    def _show(self, jobs: list[JobInfo]) -> None:
        self.jobs = list(jobs)
        doing: list[str] = []
        problems: dict[str, str] = {}
        selected = self.selected_name()
        existing = {self.tree.topLevelItem(i).data(0, Qt.ItemDataRole.UserRole): i
                    for i in range(self.tree.topLevelItemCount())}
        names = [j.name for j in self.jobs]
        if list(existing) != names:
            self.tree.clear()
            self._bars = {}
            for name in names:
                it = QTreeWidgetItem([job_title(name)])
                it.setData(0, Qt.ItemDataRole.UserRole, name)
                job = self.jobs[names.index(name)]
                it.setToolTip(0, job.description or JOB_HELP.get(name, ""))
                self.tree.addTopLevelItem(it)
                bar = QProgressBar()
                bar.setMaximumHeight(18)
                bar.setTextVisible(True)
                bar.setFormat("%p%")  # the words go beside the bar (self.doing)
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
            elif running:
                bar.setRange(0, 0)
            else:
                bar.setRange(0, 1)
                bar.setValue(0)
            bar.setVisible(running)
            bar.setToolTip(text)
            if running:
                doing.append(f"{job_title(name)}: {text or 'working'}")
            it.setText(3, fmt_time(j.last_run))
            it.setText(4, OUTCOME_WORDS.get(j.last_outcome or "", j.last_outcome or ""))
            it.setText(5, "paused" if paused else fmt_time(j.next_run))
            failed = j.last_outcome == "failed" and not running
            problem = job_problem(name, j.last_error) if failed else ""
            it.setText(6, "see below" if problem else "")
            it.setToolTip(6, problem)
            if problem:
                problems[name] = problem
            if selected == name:
                it.setSelected(True)
        self.doing.setText("\n".join(doing))
        self.doing.setVisible(bool(doing))
        # windows memory formation set aside (issue 15)
        set_aside = sum(j.quarantined for j in self.jobs
                        if j.name == "extract")
        if set_aside != self._windows_seen:
            self._windows_seen = set_aside
            self._read_windows(set_aside)
        if self.windows:
            problems[WINDOWS] = windows_problem(self.windows)
        self._show_problems(problems)
        self._update_buttons()

    def _read_windows(self, count: int) -> None:
        if not count:
            self.windows = []
            return
        sm = self.ctx.sm

        def shown(windows: list) -> None:
            self.windows = [w for w in windows if not w.retrying]
            self._show(self.jobs)

        self.ctx.runner.run(lambda p, c: sm.quarantined_windows(), key="jobs-windows",
                            on_success=shown)

    def _show_problems(self, problems: dict[str, str]) -> None:
        """One line per problem with Retry (and Details for a technical one)."""
        for name in list(self.problem_rows):
            if name not in problems:
                for w in self.problem_rows.pop(name):
                    w.deleteLater()
        for name, text in problems.items():
            if name not in self.problem_rows:
                row = QHBoxLayout()
                lab = QLabel()
                lab.setTextFormat(Qt.TextFormat.PlainText)
                lab.setWordWrap(True)
                retry = QPushButton("Retry")
                retry.setAccessibleName(f"Retry {job_title(name)}" if name != WINDOWS else
                                        "Retry the parts memory formation set aside")
                retry.clicked.connect(lambda _c=False, n=name: self.retry(n))
                details = QPushButton("Details…")
                details.setAccessibleName(f"Technical details of the {job_title(name)} problem")
                details.clicked.connect(lambda _c=False, n=name: self.show_details(n))
                row.addWidget(lab, 1)
                row.addWidget(retry)
                row.addWidget(details)
                self.problems_layout.addLayout(row)
                self.problem_rows[name] = (lab, retry, details)
            lab, _retry, details = self.problem_rows[name]
            lab.setText(text)
            job = self._job(name)
            details.setVisible(name == WINDOWS or (job is not None
                                                   and is_technical(job.last_error or "")))
        self.problems_box.setVisible(bool(problems))

    def retry(self, name: str) -> None:
        """Run a job that stopped on a problem again (it resumes where it stopped); for
        the parts formation set aside, form them again."""
        if name == WINDOWS:
            self.retry_windows()
            return
        self.status.setText(f"{job_title(name)}: trying again…")
        self.run_job(name)

    def retry_windows(self) -> None:
        """Form the set-aside parts again (the service offers them to the extract job
        and runs it); one that fails again is set aside again."""
        sm = self.ctx.sm
        n = len(self.windows)
        self.status.setText(f"Memory formation: trying {_part(n)} again…")

        def done(summary: dict) -> None:
            self._windows_seen = -1  # read them again
            left = (summary or {}).get("quarantined")
            self.status.setText("Memory formation: tried again"
                                + (f"; {_part(left)} still could not be formed."
                                   if left else "."))

        self.ctx.runner.run(lambda p, c: sm.retry_failed_windows(progress=p, cancel=c),
                            key="jobs-retry", on_success=done,
                            on_done=lambda: self.refresh(force=True))

    def show_details(self, name: str) -> QMessageBox:
        """The technical text of a job's last problem, for a bug report."""
        job = self._job(name)
        if name == WINDOWS:
            text = "\n\n".join(f"{w.failed_at} ({w.attempts} attempt"
                                f"{'s' if w.attempts != 1 else ''}): {w.error}"
                                for w in self.windows)
        else:
            text = (job.last_error if job else "") or ""
        box = QMessageBox(QMessageBox.Icon.Information, f"{job_title(name)} — details",
                          "The technical description of the problem (useful in a bug "
                          "report):", QMessageBox.StandardButton.Close, self)
        box.setDetailedText(text)
        box.open()
        self.details_box = box
        return box

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
        self.status.setText(f"{job_title(name)}: running in the background.")
        self.ctx.runner.run_in_process(self.ctx.sm, "run_job", {"name": name},
                                       key=f"job:{name}",
                                       on_success=lambda _r: self.status.setText(
                                           f"{job_title(name)} finished."),
                                       on_done=self.refresh)

    def toggle_pause_selected(self) -> None:
        j = self._job(self.selected_name())
        if j is None:
            return
        name, paused = j.name, j.paused
        sm = self.ctx.sm
        fn = (lambda p, c: sm.resume_job(name)) if paused else (lambda p, c: sm.pause_job(name))
        self.ctx.runner.run(fn, on_success=lambda _r: self.status.setText(
            f"{job_title(name)} {'resumed' if paused else 'paused'}."),
            on_done=lambda: self.refresh(force=True))

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
                bar.setToolTip(text)
                self.doing.setText(f"{job_title(job)}: {text or 'working'}")
                self.doing.show()
        elif name == "job_did_finish":
            self.live_progress.pop(payload["name"], None)
            outcome = payload["outcome"]
            self.status.setText(f"{job_title(payload['name'])}: "
                                f"{OUTCOME_WORDS.get(outcome, outcome)}.")
            self.refresh(force=True)


def main() -> int:
    from .standalone import run_pane

    return run_pane(ActivityPanel, "Activity")


if __name__ == "__main__":
    raise SystemExit(main())
