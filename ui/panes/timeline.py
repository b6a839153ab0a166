"""Timeline: memories and conversations over time; drag to select a range and filter.

:class:`TimelineView` paints the counts of ``sm.timeline()`` with QPainter (messages as
light bars, memories as dark bars, square-root scaled so a quiet month still shows).
A long empty stretch (one memory dated years before the rest) is drawn as one narrow
break in the axis instead of stretching it (:func:`compress`). Dragging selects a range;
"Show these memories" shows exactly that range's memories in Memories (other filters,
such as an old search, are cleared).
"""
from __future__ import annotations

import math
from datetime import date, datetime, timedelta, timezone
from typing import Optional

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from secondme.api import Timeline, TimelineBucket

from ..context import AppContext
from ..widgets import heading

NOTE_COLOUR = QColor("#4e79a7")
MESSAGE_COLOUR = QColor("#b9cde3")
CONV_COLOUR = QColor("#f28e2b")


class TimelineView(QWidget):
    """A bar plot of buckets; drag (or Shift+arrows) to select a range of buckets."""

    range_selected = Signal(object, object)  # (first bucket index, last bucket index)

    MARGIN_L, MARGIN_R, MARGIN_T, MARGIN_B = 44, 12, 12, 34

    def __init__(self, parent=None):
        super().__init__(parent)
        self.buckets: list[TimelineBucket] = []
        # per drawn column: (first bucket start, last bucket start, buckets it stands for)
        self.spans: list[tuple[date, date, int]] = []
        self.bucket = "month"
        self.selection: Optional[tuple[int, int]] = None
        self._drag_from: Optional[int] = None
        self.setMinimumHeight(220)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAccessibleName("Timeline of memories and conversations")
        self._hover: Optional[int] = None

    def set_data(self, buckets: list[TimelineBucket], bucket: str) -> None:
        self.buckets, self.spans = compress(list(buckets))
        self.bucket = bucket
        self.selection = None
        self.update()

    def is_gap(self, i: int) -> bool:
        return self.spans[i][2] > 1

    # -- geometry ------------------------------------------------------------------------
    def _plot(self) -> QRectF:
        return QRectF(self.MARGIN_L, self.MARGIN_T,
                      max(1, self.width() - self.MARGIN_L - self.MARGIN_R),
                      max(1, self.height() - self.MARGIN_T - self.MARGIN_B))

    def index_at(self, x: float) -> Optional[int]:
        if not self.buckets:
            return None
        r = self._plot()
        i = int((x - r.left()) / r.width() * len(self.buckets))
        return max(0, min(len(self.buckets) - 1, i))

    # -- painting ------------------------------------------------------------------------
    def paintEvent(self, e):  # noqa: N802
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        pal = self.palette()
        p.fillRect(self.rect(), pal.base())
        r = self._plot()
        text_col = pal.text().color()
        if not self.buckets:
            p.setPen(text_col)
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter,
                       "Nothing to show yet — import some chats or documents.")
            return
        n = len(self.buckets)
        w = r.width() / n
        top = max(max(b.messages, b.notes) for b in self.buckets) or 1
        scale = lambda v: math.sqrt(v) / math.sqrt(top) * r.height()  # noqa: E731
        if self.selection is not None:
            a, b = sorted(self.selection)
            p.fillRect(QRectF(r.left() + a * w, r.top(), (b - a + 1) * w, r.height()),
                       QColor(255, 200, 60, 70))
        # grid lines
        grid = QPen(QColor(128, 128, 128, 60))
        p.setPen(grid)
        for frac in (0.25, 0.5, 0.75, 1.0):
            y = r.bottom() - frac * r.height()
            p.drawLine(QPointF(r.left(), y), QPointF(r.right(), y))
        p.setPen(text_col)
        small = QFont(self.font())
        small.setPointSizeF(max(7.0, self.font().pointSizeF() - 1))
        p.setFont(small)
        p.drawText(QRectF(0, r.top() - 6, self.MARGIN_L - 4, 14),
                   Qt.AlignmentFlag.AlignRight, f"{top:,}")
        p.drawText(QRectF(0, r.bottom() - 8, self.MARGIN_L - 4, 14),
                   Qt.AlignmentFlag.AlignRight, "0")
        bw = max(1.0, w * 0.42)
        for i, b in enumerate(self.buckets):
            x = r.left() + i * w
            if self.is_gap(i):  # a break in the axis: nothing happened for a while
                pen = QPen(text_col, 1.2)
                p.setPen(pen)
                for dx in (w * 0.38, w * 0.62):
                    p.drawLine(QPointF(x + dx - 3, r.bottom() + 4),
                               QPointF(x + dx + 3, r.bottom() - 8))
                continue
            if b.messages:
                h = scale(b.messages)
                p.fillRect(QRectF(x + w * 0.08, r.bottom() - h, bw, h), MESSAGE_COLOUR)
            if b.notes:
                h = scale(b.notes)
                p.fillRect(QRectF(x + w * 0.08 + bw, r.bottom() - h, bw, h), NOTE_COLOUR)
            if b.conversations:
                p.setBrush(CONV_COLOUR)
                p.setPen(Qt.PenStyle.NoPen)
                p.drawRect(QRectF(x + w * 0.5 - 2, r.bottom() + 3, 4, 4))
        # x labels: the first bar, each bar after a break and the last bar always, then
        # about one every 70 px where there is room
        p.setPen(text_col)
        for i in self.label_indices(w):
            label = _label(self.buckets[i].start, self.bucket)
            p.drawText(QRectF(r.left() + i * w - 30, r.bottom() + 10, 90, 16),
                       Qt.AlignmentFlag.AlignLeft, label)
        if self._hover is not None and 0 <= self._hover < n:
            b = self.buckets[self._hover]
            first, last, count = self.spans[self._hover]
            tip = (f"{_label(first, self.bucket)} – {_label(last, self.bucket)}: nothing "
                   f"({count} {self.bucket}s)" if count > 1 else
                   f"{_label(b.start, self.bucket)}: {b.notes:,} memories, "
                   f"{b.messages:,} messages, {b.conversations:,} conversations started")
            p.drawText(QRectF(r.left() + 6, r.top(), r.width() - 12, 16),
                       Qt.AlignmentFlag.AlignRight, tip)
        p.end()

    def label_indices(self, w: float, room: float = 70) -> list[int]:
        """Which bars get a date under them (bar width ``w``): never two closer than
        ``room`` pixels; each run of bars between breaks gets one first (the bar after a
        break had none), then the last bar, then one every ``room`` pixels."""
        n = len(self.buckets)
        bars = [i for i in range(n) if not self.is_gap(i)]
        if not bars:
            return []
        chosen: list[int] = []

        def fits(i: int) -> bool:
            return all(abs(i - j) * w >= room for j in chosen)
        # each run of bars between breaks: its first bar with room for a date
        run: list[int] = []
        for i in [*bars, n + 1]:
            if run and i != run[-1] + 1:
                first = next((j for j in run if fits(j)), None)
                if first is not None:
                    chosen.append(first)
                run = []
            run.append(i)
        if fits(bars[-1]):
            chosen.append(bars[-1])
        step = max(1, int(math.ceil(room / max(w, 1))))
        for i in range(0, n, step):
            if i in bars and fits(i):
                chosen.append(i)
        return sorted(chosen)

    # -- selecting -----------------------------------------------------------------------
    def mousePressEvent(self, e):  # noqa: N802
        if e.button() == Qt.MouseButton.LeftButton:
            i = self.index_at(e.position().x())
            self._drag_from = i
            if i is not None:
                self.selection = (i, i)
                self.update()

    def mouseMoveEvent(self, e):  # noqa: N802
        i = self.index_at(e.position().x())
        self._hover = i
        if self._drag_from is not None and i is not None:
            self.selection = (self._drag_from, i)
        self.update()

    def mouseReleaseEvent(self, e):  # noqa: N802
        if self._drag_from is not None and self.selection is not None:
            a, b = sorted(self.selection)
            self.range_selected.emit(a, b)
        self._drag_from = None

    def leaveEvent(self, e):  # noqa: N802
        self._hover = None
        self.update()

    def select(self, a: int, b: int) -> None:
        if not self.buckets:
            return
        a = max(0, min(a, len(self.buckets) - 1))
        b = max(0, min(b, len(self.buckets) - 1))
        self.selection = (a, b)
        self.update()
        self.range_selected.emit(min(a, b), max(a, b))

    def keyPressEvent(self, e):  # noqa: N802
        if not self.buckets:
            return super().keyPressEvent(e)
        a, b = self.selection or (len(self.buckets) - 1, len(self.buckets) - 1)
        if e.key() == Qt.Key.Key_Left:
            if e.modifiers() & Qt.KeyboardModifier.ShiftModifier:
                self.select(a, b - 1)
            else:
                self.select(a - 1, a - 1)
        elif e.key() == Qt.Key.Key_Right:
            if e.modifiers() & Qt.KeyboardModifier.ShiftModifier:
                self.select(a, b + 1)
            else:
                self.select(b + 1, b + 1)
        else:
            super().keyPressEvent(e)


def compress(buckets: list[TimelineBucket], min_gap: int = 6,
             share: float = 0.15) -> tuple[list[TimelineBucket], list[tuple[date, date, int]]]:
    """Replace each run of empty buckets at least ``min_gap`` long and at least ``share``
    of all buckets by one empty column. Returns (columns, spans): a column's span is (its
    first bucket's start, its last bucket's start, how many buckets it stands for)."""
    def empty(b: TimelineBucket) -> bool:
        return not (b.notes or b.messages or b.conversations)

    cols: list[TimelineBucket] = []
    spans: list[tuple[date, date, int]] = []
    need = max(min_gap, int(share * len(buckets)))
    i = 0
    while i < len(buckets):
        j = i
        while j < len(buckets) and empty(buckets[j]):
            j += 1
        if j - i >= need:
            cols.append(TimelineBucket(start=buckets[i].start, notes=0, messages=0,
                                       conversations=0))
            spans.append((buckets[i].start, buckets[j - 1].start, j - i))
            i = j
            continue
        cols.append(buckets[i])
        spans.append((buckets[i].start, buckets[i].start, 1))
        i += 1
    return cols, spans


def _label(d: date, bucket: str) -> str:
    if bucket == "month":
        return d.strftime("%b %Y")
    return d.strftime("%d %b %y")


class TimelinePanel(QWidget):
    """The timeline pane."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.timeline: Optional[Timeline] = None
        self.range: Optional[tuple[datetime, datetime]] = None
        self._stale = False  # a hook arrived while hidden: reload when shown
        outer = QVBoxLayout(self)
        top = QHBoxLayout()
        top.addWidget(heading("Your life over time"), 1)
        self.bucket = QComboBox()
        self.bucket.setAccessibleName("Bucket size")
        for label, value in (("by month", "month"), ("by week", "week"), ("by day", "day")):
            self.bucket.addItem(label, value)
        self.bucket.currentIndexChanged.connect(lambda _: self.reload())
        top.addWidget(self.bucket)
        outer.addLayout(top)
        self.view = TimelineView()
        self.view.range_selected.connect(self._selected)
        outer.addWidget(self.view, 1)
        legend = QLabel(f'<span style="color:{MESSAGE_COLOUR.name()}">■</span> messages &nbsp; '
                        f'<span style="color:{NOTE_COLOUR.name()}">■</span> memories &nbsp; '
                        f'<span style="color:{CONV_COLOUR.name()}">■</span> conversations '
                        f'started &nbsp; — drag across the plot (or Shift+←/→) to pick a range')
        legend.setTextFormat(Qt.TextFormat.RichText)
        legend.setObjectName("hint")
        outer.addWidget(legend)
        row = QHBoxLayout()
        self.selection_label = QLabel("No range selected.")
        self.selection_label.setTextFormat(Qt.TextFormat.PlainText)
        self.show_button = QPushButton("Show these memories")
        self.show_button.setAccessibleName("Show the memories of the selected range")
        self.show_button.setEnabled(False)
        self.show_button.clicked.connect(self.show_memories)
        self.clear_button = QPushButton("Clear")
        self.clear_button.setAccessibleName("Clear the selected range")
        self.clear_button.clicked.connect(self.clear_selection)
        row.addWidget(self.selection_label, 1)
        row.addWidget(self.show_button)
        row.addWidget(self.clear_button)
        outer.addLayout(row)
        self.reload()

    def reload(self) -> None:
        sm = self.ctx.sm
        bucket = self.bucket.currentData()
        self.ctx.runner.run(lambda p, c: sm.timeline(bucket=bucket), key="timeline",
                            on_success=self._show)

    def _show(self, tl: Timeline) -> None:
        self.timeline = tl
        self.view.set_data(tl.buckets, tl.bucket)
        self.range = None
        self.show_button.setEnabled(False)
        self._describe_all()

    def _describe_all(self) -> None:
        b = self.view.buckets
        if b:
            notes = sum(x.notes for x in b)
            msgs = sum(x.messages for x in b)
            self.selection_label.setText(f"{notes:,} memories and {msgs:,} messages from "
                                         f"{_label(b[0].start, 'month')} to "
                                         f"{_label(self.view.spans[-1][1], 'month')}. Drag "
                                         "across the bars to pick a range.")
        else:
            self.selection_label.setText("No range selected.")

    def _selected(self, a: int, b: int) -> None:
        buckets, spans = self.view.buckets, self.view.spans
        bucket_range = self.ctx.sm.bucket_range  # pure arithmetic: fine on the GUI thread
        bucket = self.view.bucket
        since = bucket_range(spans[a][0], bucket)[0].replace(tzinfo=timezone.utc)
        until_excl = bucket_range(spans[b][1], bucket)[1]
        until = (until_excl - timedelta(seconds=1)).replace(tzinfo=timezone.utc)
        self.range = (since, until)
        notes = sum(x.notes for x in buckets[a:b + 1])
        msgs = sum(x.messages for x in buckets[a:b + 1])
        self.selection_label.setText(f"{since:%Y-%m-%d} – {until:%Y-%m-%d}: {notes:,} memories, "
                                     f"{msgs:,} messages.")
        self.show_button.setEnabled(True)

    def show_memories(self) -> None:
        if self.range is not None:
            self.ctx.filter_memories(since=self.range[0], until=self.range[1])

    def clear_selection(self) -> None:
        self.view.selection = None
        self.view.update()
        self.range = None
        self.show_button.setEnabled(False)
        self._describe_all()

    def on_hook(self, name: str, payload: dict) -> None:
        if name in ("import_did_finish", "notes_did_change"):
            if self.isVisible():
                self.reload()
            else:
                self._stale = True

    def showEvent(self, e):  # noqa: N802
        super().showEvent(e)
        if self._stale:
            self._stale = False
            self.reload()


def main() -> int:
    from .standalone import run_pane

    return run_pane(TimelinePanel, "Timeline")


if __name__ == "__main__":
    raise SystemExit(main())
