"""Memories: search and filter the notes, a lazily paged table, and a detail editor.

The table model fetches pages of :data:`PAGE` notes through the runner as the view
scrolls (``canFetchMore``/``fetchMore``), so a 100k-note store opens as fast as a small
one. The editor edits text, tags and context, pins, archives, deletes, merges, links and
unlinks, shows versions with undo, and lists the sources (each opens the source).
"""
from __future__ import annotations

from datetime import datetime, time, timezone
from typing import Any, Optional

from PySide6.QtCore import QAbstractTableModel, QDate, QModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from secondme.api import Entity, HistoryEntry, Note, NoteDetail, NoteSource

from ..changes import quote
from ..context import AppContext
from ..render import action_words, actor_words, fmt_time, kind_words, origin_label, problem_words

PAGE = 200
LINK_KINDS = ["related", "same_entity", "updates", "contradicts", "part_of"]
LINK_WORDS = {"related": "Related", "same_entity": "About the same person",
              "updates": "Updates", "contradicts": "Contradicts", "part_of": "Part of",
              "wikilink": "Linked in a note"}
_ROOT = QModelIndex()  # the invalid index: "the top level" of a table model


def note_when(note: Note) -> Optional[str]:
    """When a note was true (``valid_from``), else when it was learned."""
    return note.valid_from if note.valid_from is not None else note.created_at


class NotesTableModel(QAbstractTableModel):
    """Notes matching the current filters, fetched page by page off the GUI thread."""

    COLUMNS = ["Memory", "Kind", "Tags", "When", "Retention", "Origin"]
    page_loaded = Signal(int)  # rows now loaded

    def __init__(self, ctx: AppContext, parent=None):
        super().__init__(parent)
        self.ctx = ctx
        self.rows: list[Note] = []
        self.filters: dict[str, Any] = {"archived": False}
        self._more = True
        self._loading = False
        self._generation = 0

    # -- Qt model ------------------------------------------------------------------------
    def rowCount(self, parent: QModelIndex = _ROOT) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex = _ROOT) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.COLUMNS[section]
        return None

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        n = self.rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                text = " ".join(n.text.split())
                prefix = "📌 " if n.pinned else ""
                return prefix + (text if len(text) < 200 else text[:199] + "…")
            if col == 1:
                return n.kind
            if col == 2:
                return " ".join(n.tags)
            if col == 3:
                return fmt_time(note_when(n), with_time=False)
            if col == 4:
                return f"{n.retention:.2f}"
            if col == 5:
                return origin_label(n.origin)
        if role == Qt.ItemDataRole.ToolTipRole and col == 0:
            return n.text
        if role == Qt.ItemDataRole.ForegroundRole:
            if n.archived:
                return QColor("#888888")
            if col == 5 and n.origin.startswith("mcp:"):
                return QColor("#7b3fb5")
        if role == Qt.ItemDataRole.UserRole:
            return n.id
        return None

    # -- lazy paging ---------------------------------------------------------------------
    def canFetchMore(self, parent: QModelIndex = _ROOT) -> bool:  # noqa: N802
        return not parent.isValid() and self._more and not self._loading

    def fetchMore(self, parent: QModelIndex = _ROOT) -> None:  # noqa: N802
        if parent.isValid() or self._loading or not self._more:
            return
        self._load_page()

    def set_filters(self, **filters: Any) -> None:
        """Replace the filters and reload from the first page."""
        self.filters = {k: v for k, v in filters.items()}
        self.reload()

    def reload(self) -> None:
        self._generation += 1
        self.beginResetModel()
        self.rows = []
        self._more = True
        self._loading = False
        self.endResetModel()
        self._load_page()

    def _load_page(self) -> None:
        self._loading = True
        gen, offset, f = self._generation, len(self.rows), dict(self.filters)
        sm = self.ctx.sm

        def work(progress, cancel):
            return sm.list_notes(limit=PAGE, offset=offset, **f)

        self.ctx.runner.run(work, key="notes-page",
                            on_success=lambda notes, g=gen: self._page(g, notes),
                            on_done=lambda g=gen: self._page_done(g))

    def _page(self, gen: int, notes: list[Note]) -> None:
        if gen != self._generation:
            return
        self._more = len(notes) >= PAGE
        if notes:
            first = len(self.rows)
            self.beginInsertRows(QModelIndex(), first, first + len(notes) - 1)
            self.rows.extend(notes)
            self.endInsertRows()
        self._loading = False
        self.page_loaded.emit(len(self.rows))

    def _page_done(self, gen: int) -> None:
        if gen == self._generation:
            self._loading = False

    def row_of(self, note_id: Optional[int]) -> int:
        for i, n in enumerate(self.rows):
            if n.id == note_id:
                return i
        return -1

    def note_at(self, row: int) -> Optional[Note]:
        return self.rows[row] if 0 <= row < len(self.rows) else None


class NotePickerDialog(QDialog):
    """Search for a note to link to."""

    def __init__(self, ctx: AppContext, exclude: Optional[int] = None, parent=None):
        super().__init__(parent)
        self.ctx = ctx
        self.exclude = exclude
        self.setWindowTitle("Link to another memory")
        lay = QVBoxLayout(self)
        self.query = QLineEdit()
        self.query.setPlaceholderText("Search memories…")
        self.query.setAccessibleName("Search memories to link")
        self.results = QListWidget()
        self.results.setAccessibleName("Memories found")
        self.kind = QComboBox()
        for k in LINK_KINDS:
            self.kind.addItem(LINK_WORDS[k], k)
        self.kind.setAccessibleName("Link kind")
        form = QFormLayout()
        form.addRow("Link kind", self.kind)
        lay.addWidget(self.query)
        lay.addWidget(self.results, 1)
        lay.addLayout(form)
        bb = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                              | QDialogButtonBox.StandardButton.Cancel)
        bb.accepted.connect(self.accept)
        bb.rejected.connect(self.reject)
        lay.addWidget(bb)
        self._timer = QTimer(self, singleShot=True, interval=200)
        self._timer.timeout.connect(self._search)
        self.query.textChanged.connect(lambda _: self._timer.start())
        self.results.itemDoubleClicked.connect(lambda _: self.accept())
        self.resize(520, 420)
        self._search()

    def _search(self) -> None:
        q = self.query.text().strip() or None
        sm = self.ctx.sm
        self.ctx.runner.run(lambda p, c: sm.list_notes(query=q, limit=50), key="link-picker",
                            on_success=self._show)

    def _show(self, notes: list[Note]) -> None:
        self.results.clear()
        for n in notes:
            if n.id == self.exclude:
                continue
            it = QListWidgetItem(" ".join(n.text.split())[:160])
            it.setData(Qt.ItemDataRole.UserRole, n.id)
            self.results.addItem(it)
        if self.results.count():
            self.results.setCurrentRow(0)

    def chosen(self) -> tuple[Optional[int], str]:
        it = self.results.currentItem()
        text = it.text() if it else ""
        self.chosen_text = text
        return (it.data(Qt.ItemDataRole.UserRole) if it else None), self.kind.currentData()


def merged_text(texts: list[str]) -> str:
    """The texts joined, each one only if the ones before do not already say it."""
    out = " ".join(texts[0].split())
    for t in texts[1:]:
        t = " ".join(t.split())
        if t and t.lower().rstrip(".") not in out.lower():
            out = (out if out.endswith((".", "!", "?")) else out + ".") + " " + t
    return out


class MergeDialog(QDialog):
    """Confirms a merge: each memory's text, and what the merged memory will say (its
    text can be edited). The first memory survives; the others are archived, their text
    kept in history."""

    def __init__(self, notes: list[Note], parent=None):
        super().__init__(parent)
        self.setWindowTitle("Merge memories")
        self.setObjectName("MergeDialog")
        self.setMinimumWidth(560)
        lay = QVBoxLayout(self)
        intro = QLabel(f"These {len(notes)} memories become one. It keeps all their sources "
                       "and links; the others are archived and their text stays in the "
                       "history. Ctrl+Z undoes the merge.")
        intro.setWordWrap(True)
        lay.addWidget(intro)
        for i, n in enumerate(notes, 1):
            lab = QLabel(f"{i}. {' '.join(n.text.split())}")
            lab.setTextFormat(Qt.TextFormat.PlainText)
            lab.setWordWrap(True)
            lab.setObjectName("hint")
            lay.addWidget(lab)
        lay.addWidget(QLabel("The merged memory says:"))
        self.text = QPlainTextEdit(merged_text([n.text for n in notes]))
        self.text.setAccessibleName("Text of the merged memory")
        self.text.setMaximumHeight(110)
        lay.addWidget(self.text)
        bb = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.merge_button = bb.addButton("Merge", QDialogButtonBox.ButtonRole.AcceptRole)
        self.merge_button.setAccessibleName("Merge the memories")
        self.merge_button.setDefault(True)
        bb.accepted.connect(self.accept)
        bb.rejected.connect(self.reject)
        lay.addWidget(bb)

    def merged_text(self) -> str:
        return self.text.toPlainText().strip()


class NoteDetailView(QWidget):
    """Edit one note: text, tags, context, pin, archive, delete, link, versions, sources."""

    changed = Signal()

    def __init__(self, ctx: AppContext, parent=None):
        super().__init__(parent)
        self.ctx = ctx
        self.note_id: Optional[int] = None
        self.detail: Optional[NoteDetail] = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 6, 0, 0)
        self.header = QLabel("Select a memory to see and edit it.")
        self.header.setObjectName("paneTitle")
        self.header.setWordWrap(True)
        self.header.setTextFormat(Qt.TextFormat.PlainText)
        self.origin = QLabel("")
        self.origin.setObjectName("hint")
        self.origin.setTextFormat(Qt.TextFormat.PlainText)
        self.text = QPlainTextEdit()
        self.text.setAccessibleName("Memory text")
        self.text.setMaximumHeight(90)
        self.tags = QLineEdit()
        self.tags.setAccessibleName("Tags")
        self.tags.setPlaceholderText("tags, separated by spaces")
        self.context_edit = QLineEdit()
        self.context_edit.setAccessibleName("Context")
        self.context_edit.setPlaceholderText("one line of context")
        form = QFormLayout()
        form.addRow("Tags", self.tags)
        form.addRow("Context", self.context_edit)
        row = QHBoxLayout()
        self.save_button = QPushButton("Save")
        self.save_button.setAccessibleName("Save the memory")
        self.save_button.clicked.connect(self.save)
        self.pin_box = QCheckBox("Pinned")
        self.pin_box.setAccessibleName("Pinned")
        self.pin_box.clicked.connect(self.toggle_pin)
        self.archive_box = QCheckBox("Archived")
        self.archive_box.setAccessibleName("Archived")
        self.archive_box.clicked.connect(self.toggle_archive)
        self.link_button = QPushButton("Link to…")
        self.link_button.setAccessibleName("Link to another memory")
        self.link_button.clicked.connect(lambda: self.link_to())
        self.graph_button = QPushButton("Show in graph")
        self.graph_button.setAccessibleName("Show in graph")
        self.graph_button.clicked.connect(lambda: self.note_id is not None
                                          and self.ctx.show_graph(note_id=self.note_id))
        self.delete_button = QPushButton("Delete")
        self.delete_button.setAccessibleName("Delete the memory")
        self.delete_button.clicked.connect(lambda: self.delete())
        for w in (self.save_button, self.pin_box, self.archive_box, self.link_button,
                  self.graph_button):
            row.addWidget(w)
        row.addStretch(1)
        row.addWidget(self.delete_button)
        self.tabs = QTabWidget()
        self.sources = QListWidget()
        self.sources.setAccessibleName("Sources of this memory")
        self.sources.itemActivated.connect(self._open_source_item)
        self.sources.itemDoubleClicked.connect(self._open_source_item)
        self.links = QListWidget()
        self.links.setAccessibleName("Links of this memory")
        self.links.itemActivated.connect(self._open_link_item)
        self.links.itemDoubleClicked.connect(self._open_link_item)
        self.unlink_button = QPushButton("Unlink selected")
        self.unlink_button.setAccessibleName("Unlink the selected memory")
        self.unlink_button.clicked.connect(self.unlink_selected)
        links_box = QWidget()
        lb = QVBoxLayout(links_box)
        lb.setContentsMargins(0, 0, 0, 0)
        lb.addWidget(self.links, 1)
        lb.addWidget(self.unlink_button)
        self.versions = QListWidget()
        self.versions.setAccessibleName("Versions of this memory")
        self.undo_button = QPushButton("Undo this change")
        self.undo_button.setAccessibleName("Undo the selected change")
        self.undo_button.clicked.connect(self.undo_selected)
        ver_box = QWidget()
        vb = QVBoxLayout(ver_box)
        vb.setContentsMargins(0, 0, 0, 0)
        vb.addWidget(self.versions, 1)
        vb.addWidget(self.undo_button)
        self.tabs.addTab(self.sources, "Sources")
        self.tabs.addTab(links_box, "Links")
        self.tabs.addTab(ver_box, "Versions")
        lay.addWidget(self.header)
        lay.addWidget(self.origin)
        lay.addWidget(self.text)
        lay.addLayout(form)
        lay.addLayout(row)
        lay.addWidget(self.tabs, 1)
        self.status = QLabel("")
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        lay.addWidget(self.status)
        self._set_enabled(False)

    def _set_enabled(self, on: bool) -> None:
        for w in (self.text, self.tags, self.context_edit, self.save_button, self.pin_box,
                  self.archive_box, self.link_button, self.graph_button, self.delete_button,
                  self.unlink_button, self.undo_button):
            w.setEnabled(on)

    # -- loading -------------------------------------------------------------------------
    def load(self, note_id: Optional[int]) -> None:
        self.note_id = note_id
        if note_id is None:
            self.detail = None
            self.header.setText("Select a memory to see and edit it.")
            self._set_enabled(False)
            return
        sm = self.ctx.sm
        self.ctx.runner.run(lambda p, c: (sm.get_note(note_id), sm.note_history(note_id)),
                            key="note-detail", on_success=self._show,
                            on_error=self._load_failed)

    def clear(self) -> None:
        """Show no memory ("Select a memory…")."""
        self.ctx.runner.cancel("note-detail")
        self.load(None)
        for w in (self.origin, self.tags, self.context_edit):
            w.setText("")
        self.text.setPlainText("")
        self.sources.clear()
        self.links.clear()
        self.versions.clear()
        self.status.setText("")

    def has_unsaved_text(self) -> bool:
        return self.detail is not None and self.text.toPlainText() != self.detail.note.text

    def _load_failed(self, e: BaseException) -> bool:
        from secondme.errors import NotFound
        self.detail = None
        self.header.setText("This memory no longer exists: it was deleted. Ctrl+Z brings "
                            "it back if you deleted it just now." if isinstance(e, NotFound)
                            else f"Cannot show this memory: {problem_words(e)}.")
        self.origin.setText("")
        self.text.setPlainText("")
        self.sources.clear()
        self.links.clear()
        self.versions.clear()
        self._set_enabled(False)
        return False

    def _show(self, result: tuple[NoteDetail, list[HistoryEntry]]) -> None:
        detail, history = result
        self.detail = detail
        note = detail.note
        self.note_id = note.id
        self._set_enabled(True)
        self._show_note(note)
        self._show_sources(detail.sources)
        self.links.clear()
        for link in detail.links:
            by = "  (made by you)" if link.created_by == "user" else ""
            it = QListWidgetItem(f"{LINK_WORDS.get(link.kind, link.kind)}: "
                                 f"{' '.join(link.text.split())[:120]}{by}")
            it.setData(Qt.ItemDataRole.UserRole, (link.id, link.kind))
            self.links.addItem(it)
        self.versions.clear()
        for h in history:
            undone = " (undone)" if h.undone else ""
            it = QListWidgetItem(f"{fmt_time(h.at)} · {action_words(h.action)} by "
                                 f"{actor_words(h.actor)}{undone}")
            it.setData(Qt.ItemDataRole.UserRole, h.id)
            self.versions.addItem(it)
        self.status.setText("")

    def _show_note(self, note: Note) -> None:
        ft = (note.fact_type or "").replace("_", " ")
        self.header.setText(kind_words(note.kind)
                            + (f" · {ft}" if ft and ft not in ("other", "fact") else ""))
        bits = [origin_label(note.origin)]
        if note.valid_from:
            bits.append("true from " + fmt_time(note.valid_from, with_time=False))
        if note.valid_to:
            bits.append("until " + fmt_time(note.valid_to, with_time=False))
        bits.append("learned " + fmt_time(note.created_at))
        if note.version:
            bits.append(f"version {note.version}")
        bits.append(f"retention {note.retention:.2f}")
        self.origin.setText(" · ".join(b for b in bits if b))
        self.origin.setProperty("mcp", note.origin.startswith("mcp:"))
        self.text.setPlainText(note.text)
        self.tags.setText(" ".join(note.tags))
        self.context_edit.setText(note.context or "")
        self.pin_box.setChecked(note.pinned)
        self.archive_box.setChecked(note.archived)

    def _show_sources(self, sources: list[NoteSource]) -> None:
        self.sources.clear()
        for s in sources:
            it = QListWidgetItem(_source_label(s))
            it.setData(Qt.ItemDataRole.UserRole, s)
            it.setToolTip(s.text)
            self.sources.addItem(it)
        if not self.sources.count():
            it = QListWidgetItem("(no sources)")
            it.setFlags(Qt.ItemFlag.NoItemFlags)
            self.sources.addItem(it)

    # -- actions -------------------------------------------------------------------------
    def _mutate(self, fn, done: str, label: str) -> None:
        """Make a change to the memory shown, through the undo stack (Ctrl+Z undoes it)."""
        nid = self.note_id
        self.ctx.changes.run(lambda sm: fn(sm, nid), label, key=f"note-edit:{nid}",
                             on_success=lambda _r: self._mutated(done))

    def _mutated(self, done: str) -> None:
        self.status.setText(done)
        self.changed.emit()
        if self.note_id is not None:
            self.load(self.note_id)

    def _what(self) -> str:
        return quote(self.detail.note.text) if self.detail is not None else "the memory"

    def save(self) -> None:
        if self.note_id is None:
            return
        text = self.text.toPlainText().strip()
        tags = [t for t in self.tags.text().replace(",", " ").split() if t]
        context = self.context_edit.text().strip()
        self._mutate(lambda sm, nid: sm.edit_note(nid, text=text, tags=tags, context=context),
                     "Saved. Ctrl+Z undoes it; older versions are kept under Versions.",
                     f"edit of {self._what()}")

    def toggle_pin(self) -> None:
        on = self.pin_box.isChecked()
        self._mutate(lambda sm, nid: sm.pin_note(nid, on), "Pinned." if on else "Unpinned.",
                     f"{'pin' if on else 'unpin'} of {self._what()}")

    def toggle_archive(self) -> None:
        on = self.archive_box.isChecked()
        self._mutate(lambda sm, nid: sm.archive_note(nid, on),
                     "Archived." if on else "Restored from the archive.",
                     f"{'archiving' if on else 'restoring'} of {self._what()}")

    def delete(self, confirm: bool = True) -> None:
        if self.note_id is None:
            return
        if confirm and QMessageBox.question(
                self, "Delete memory", "Delete this memory? Ctrl+Z brings it back, and a "
                "copy stays in its history.") != QMessageBox.StandardButton.Yes:
            return
        nid = self.note_id
        self.ctx.changes.run(lambda sm: sm.delete_note(nid), f"deletion of {self._what()}",
                             key=f"note-edit:{nid}", on_success=lambda _r: self._deleted())

    def _deleted(self) -> None:
        self.load(None)
        self.status.setText("Deleted. Ctrl+Z brings it back.")
        self.changed.emit()

    def link_to(self, target: Optional[int] = None, kind: str = "related") -> None:
        if self.note_id is None:
            return
        other = "another memory"
        if target is None:
            dlg = NotePickerDialog(self.ctx, exclude=self.note_id, parent=self)
            if dlg.exec() != QDialog.DialogCode.Accepted:
                return
            target, kind = dlg.chosen()
            other = quote(dlg.chosen_text)
            if target is None:
                return
        self._mutate(lambda sm, nid: sm.link_notes(nid, target, kind), "Linked.",
                     f"link of {self._what()} to {other}")

    def unlink_selected(self) -> None:
        it = self.links.currentItem()
        if it is None or self.note_id is None:
            return
        other, kind = it.data(Qt.ItemDataRole.UserRole)
        text = it.text().split(": ", 1)[-1]
        self._mutate(lambda sm, nid: sm.unlink_notes(nid, other, kind), "Unlinked.",
                     f"unlinking of {self._what()} from {quote(text)}")

    def undo_selected(self) -> None:
        """Versions → "Undo this change": any recorded change, also formation's."""
        it = self.versions.currentItem()
        if it is None or self.note_id is None:
            return
        hid, nid, sm = it.data(Qt.ItemDataRole.UserRole), self.note_id, self.ctx.sm
        self.ctx.runner.run(lambda p, c: sm.undo(hid), serial=True,
                            key=f"note-edit:{nid}",
                            on_success=lambda _r: self._mutated("Change undone."))

    def _open_source_item(self, it: QListWidgetItem) -> None:
        s: Optional[NoteSource] = it.data(Qt.ItemDataRole.UserRole)
        if s is None or s.item_id is None:
            return
        if s.kind == "note":
            self.ctx.open_note(s.item_id)
        else:
            self.ctx.open_source(s.kind, s.item_id)

    def _open_link_item(self, it: QListWidgetItem) -> None:
        other, _kind = it.data(Qt.ItemDataRole.UserRole)
        if other is not None:
            self.ctx.open_note(other)


def _source_label(s: NoteSource) -> str:
    if s.document is not None:
        return f"📄 {s.document}" + (f", page {s.page}" if s.page else "")
    who = s.speaker or ""
    conv = s.conversation or ""
    if conv and conv == who:
        conv = ""  # a chat named after the person who wrote: say it once
    when = fmt_time(s.timestamp)
    text = " ".join(s.text.split())[:100]
    head = " · ".join(str(x) for x in (who, f"in “{conv}”" if conv else "", when) if x)
    return f"💬 {head}" + (f" — {text}" if text else "")


class MemoriesPanel(QWidget):
    """The memories pane: filters, table, detail editor."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self._stale = False  # a hook arrived while hidden: refresh when shown
        self._setting = False  # filters set by the app, not edited by the person
        outer = QVBoxLayout(self)
        # filters
        bar = QHBoxLayout()
        self.search = QLineEdit()
        self.search.setObjectName("memorySearch")
        self.search.setPlaceholderText("Search memories…")
        self.search.setAccessibleName("Search memories")
        self.search.setClearButtonEnabled(True)
        self.kind = QComboBox()
        self.kind.setAccessibleName("Kind")
        self.kind.addItem("Any kind", None)
        for k in ("fact", "summary", "profile", "user"):
            self.kind.addItem(k.capitalize(), k)
        self.tag = QLineEdit()
        self.tag.setPlaceholderText("tag")
        self.tag.setAccessibleName("Tag")
        self.tag.setMaximumWidth(110)
        self.person = QComboBox()
        self.person.setEditable(True)
        self.person.setAccessibleName("Person")
        self.person.lineEdit().setPlaceholderText("person")
        self.person.setMinimumWidth(120)
        self.pinned = QComboBox()
        self.pinned.setAccessibleName("Pinned")
        self.pinned.addItem("Pinned or not", None)
        self.pinned.addItem("Pinned only", True)
        self.pinned.addItem("Not pinned", False)
        self.archived = QComboBox()
        self.archived.setAccessibleName("Archived")
        self.archived.addItem("Active", False)
        self.archived.addItem("Archived", True)
        self.archived.addItem("Active and archived", None)
        self.range_box = QCheckBox("From")
        self.range_box.setAccessibleName("Filter by time range")
        self.since = QDateEdit()
        self.since.setCalendarPopup(True)
        self.since.setDisplayFormat("yyyy-MM-dd")
        self.since.setAccessibleName("From date")
        self.until = QDateEdit()
        self.until.setCalendarPopup(True)
        self.until.setDisplayFormat("yyyy-MM-dd")
        self.until.setAccessibleName("Until date")
        self.since.setDate(QDate.currentDate().addYears(-1))
        self.until.setDate(QDate.currentDate())
        self.count_label = QLabel("")
        self.count_label.setObjectName("hint")
        bar.addWidget(self.search, 3)
        bar.addWidget(self.count_label, 2)
        bar2 = QHBoxLayout()
        for w in (self.kind, self.tag, self.person, self.pinned, self.archived, self.range_box,
                  self.since, QLabel("to"), self.until):
            bar2.addWidget(w)
        bar2.addStretch(1)
        outer.addLayout(bar)
        outer.addLayout(bar2)
        # "Showing the memory you opened" / "… the memories of a graph group": a list of
        # given memories, until the person changes a filter or presses Show all
        chip = QHBoxLayout()
        self.only_label = QLabel("")
        self.only_label.setTextFormat(Qt.TextFormat.PlainText)
        self.only_label.setObjectName("hint")
        self.show_all_button = QPushButton("Show all memories")
        self.show_all_button.setAccessibleName("Show all memories")
        self.show_all_button.clicked.connect(self.clear_only)
        chip.addWidget(self.only_label, 1)
        chip.addWidget(self.show_all_button)
        self.only_label.hide()
        self.show_all_button.hide()
        self.only: Optional[list[int]] = None
        outer.addLayout(chip)

        split = QSplitter(Qt.Orientation.Vertical)
        split.setObjectName("memoriesSplitter")
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        self.model = NotesTableModel(ctx, self)
        self.table = QTableView()
        self.table.setObjectName("notesTable")
        self.table.setAccessibleName("Memories")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(24)
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for c, w in ((1, 70), (2, 120), (3, 90), (4, 70), (5, 170)):
            hh.setSectionResizeMode(c, QHeaderView.ResizeMode.Interactive)
            self.table.setColumnWidth(c, w)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._table_menu)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        ll.addWidget(self.table, 1)
        brow = QHBoxLayout()
        self.new_button = QPushButton("New memory…")
        self.new_button.setAccessibleName("Write a new memory")
        self.new_button.clicked.connect(self.new_note)
        self.merge_button = QPushButton("Merge selected")
        self.merge_button.setAccessibleName("Merge the selected memories")
        self.merge_button.setEnabled(False)
        self.merge_button.clicked.connect(lambda: self.merge_selected())
        brow.addWidget(self.new_button)
        brow.addWidget(self.merge_button)
        brow.addStretch(1)
        ll.addLayout(brow)
        split.addWidget(left)
        self.detail = NoteDetailView(ctx)
        self.detail.changed.connect(self._detail_changed)
        split.addWidget(self.detail)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 1)
        split.setSizes([330, 420])
        self.splitter = split
        outer.addWidget(split, 1)

        self._debounce = QTimer(self, singleShot=True, interval=250)
        self._debounce.timeout.connect(self.apply_filters)
        # a filter the person changes replaces a list of given memories
        self.search.textChanged.connect(lambda _: self._edited(later=True))
        self.tag.textChanged.connect(lambda _: self._edited(later=True))
        self.person.editTextChanged.connect(lambda _: self._edited(later=True))
        for combo in (self.kind, self.pinned, self.archived):
            combo.currentIndexChanged.connect(lambda _: self._edited())
        self.range_box.toggled.connect(lambda _: self._edited())
        for edit in (self.since, self.until):
            edit.dateChanged.connect(
                lambda _: self.range_box.isChecked() and self._edited(later=True))
        self.model.page_loaded.connect(self._page_loaded)
        self._refresh_timer = QTimer(self, singleShot=True, interval=400)
        self._refresh_timer.timeout.connect(self._refresh_keep_selection)
        self._pending_select: Optional[int] = None
        QShortcut(QKeySequence.StandardKey.Delete, self.table,
                  activated=lambda: self.detail.delete())
        self.apply_filters()
        self._load_people()

    # -- filters -------------------------------------------------------------------------
    def _edited(self, later: bool = False) -> None:
        if self._setting:
            return
        self._set_only(None)
        if later:
            self._debounce.start()
        else:
            self.apply_filters()

    def current_filters(self) -> dict[str, Any]:
        if self.only is not None:
            return {"ids": list(self.only), "archived": None}
        f: dict[str, Any] = {"archived": self.archived.currentData()}
        if self.search.text().strip():
            f["query"] = self.search.text().strip()
        if self.kind.currentData():
            f["kind"] = self.kind.currentData()
        if self.tag.text().strip():
            f["tag"] = self.tag.text().strip()
        if self.person.currentText().strip():
            f["person"] = self.person.currentText().strip()
        if self.pinned.currentData() is not None:
            f["pinned"] = self.pinned.currentData()
        if self.range_box.isChecked():
            f["since"] = datetime.combine(self.since.date().toPython(), time.min,
                                          tzinfo=timezone.utc)
            f["until"] = datetime.combine(self.until.date().toPython(), time.max,
                                          tzinfo=timezone.utc)
        return f

    def apply_filters(self) -> None:
        self.count_label.setText("Loading…")
        self.model.set_filters(**self.current_filters())

    def _set_only(self, ids: Optional[list[int]], why: str = "") -> None:
        self.only = None if ids is None else list(ids)
        self.only_label.setText(why)
        self.only_label.setVisible(ids is not None)
        self.show_all_button.setVisible(ids is not None)

    def show_only(self, ids: list[int], why: str) -> None:
        """List just these memories (``why`` says which, above the list), whatever the
        filters (cleared, so that they never contradict the list); any filter the person
        changes, or Show all, ends it."""
        self.reset_filters()
        self._set_only(ids, why)
        self.apply_filters()

    def clear_only(self) -> None:
        self._set_only(None)
        self.apply_filters()

    def reset_filters(self) -> None:
        """Every filter back to "all active memories" (without reloading)."""
        self._setting = True
        try:
            self._set_only(None)
            self.search.clear()
            self.tag.clear()
            self.person.setEditText("")
            for combo in (self.kind, self.pinned, self.archived):
                combo.setCurrentIndex(0)
            self.range_box.setChecked(False)
        finally:
            self._setting = False
        self._debounce.stop()

    def show_filtered(self, *, person: Optional[str] = None, tag: Optional[str] = None,
                      query: Optional[str] = None, since: Optional[datetime] = None,
                      until: Optional[datetime] = None) -> None:
        """Show exactly the memories these filters describe: every other filter (an old
        search, a kind, a person) is cleared first — the Timeline's "Show these
        memories" and the Graph's "Their memories" mean just that."""
        self.reset_filters()
        self._setting = True
        try:
            if person:
                self.person.setEditText(person)
            if tag:
                self.tag.setText(tag)
            if query:
                self.search.setText(query)
            if since is not None and until is not None:
                self.since.setDate(QDate(since.year, since.month, since.day))
                self.until.setDate(QDate(until.year, until.month, until.day))
                self.range_box.setChecked(True)
        finally:
            self._setting = False
        self._debounce.stop()
        self.apply_filters()

    def set_time_range(self, since: Optional[datetime], until: Optional[datetime]) -> None:
        """Filter by a time range, keeping the other filters; None, None clears it."""
        self._setting = True
        try:
            if since is not None and until is not None:
                self.since.setDate(QDate(since.year, since.month, since.day))
                self.until.setDate(QDate(until.year, until.month, until.day))
            self.range_box.setChecked(since is not None and until is not None)
        finally:
            self._setting = False
        self._set_only(None)
        self.apply_filters()

    def set_filter(self, *, person: Optional[str] = None, tag: Optional[str] = None,
                   query: Optional[str] = None) -> None:
        """Set some filters, keeping the others."""
        self._setting = True
        try:
            if person is not None:
                self.person.setEditText(person)
            if tag is not None:
                self.tag.setText(tag)
            if query is not None:
                self.search.setText(query)
        finally:
            self._setting = False
        self._debounce.stop()
        self._set_only(None)
        self.apply_filters()

    def _load_people(self) -> None:
        sm = self.ctx.sm
        self.ctx.runner.run(lambda p, c: sm.list_entities(kind="person", limit=500,
                                                          displayable=True),
                            key="people", on_success=self._people)

    def _people(self, ents: list[Entity]) -> None:
        cur = self.person.currentText()
        self.person.blockSignals(True)
        self.person.clear()
        self.person.addItem("")
        for e in ents:
            self.person.addItem(e.name)
        self.person.setEditText(cur)
        self.person.blockSignals(False)

    def _page_loaded(self, rows: int) -> None:
        more = " (scroll for more)" if self.model.canFetchMore() else ""
        self.count_label.setText(f"{rows:,} memor{'y' if rows == 1 else 'ies'} shown{more}"
                                 if rows else
                                 "No memories match. Import chats or documents, or clear "
                                 "the filters.")
        if self._pending_select is not None:
            r = self.model.row_of(self._pending_select)
            if r >= 0:
                self.table.selectRow(r)
                self.table.scrollTo(self.model.index(r, 0))
                self._pending_select = None
        shown = self.detail.note_id
        if (shown is not None and self._pending_select is None
                and not self.model.canFetchMore() and self.model.row_of(shown) < 0
                and not self.detail.has_unsaved_text()):
            # the list no longer holds the memory in the editor (a new search, a filter,
            # archived away): the editor never shows a memory the list does not
            self.detail.clear()

    # -- selection -----------------------------------------------------------------------
    def _selected_rows(self) -> list[int]:
        return sorted({i.row() for i in self.table.selectionModel().selectedRows()})

    def selected_ids(self) -> list[int]:
        return [n.id for n in map(self.model.note_at, self._selected_rows()) if n is not None]

    def _selection_changed(self, *_):
        ids = self.selected_ids()
        self.merge_button.setEnabled(len(ids) >= 2)
        if len(ids) == 1 and ids[0] != self.detail.note_id:
            self.detail.load(ids[0])

    def open_note(self, note_id: int) -> None:
        """Show memory ``note_id`` in the editor, selected in the list: when the list does
        not hold it (filters, or not loaded yet) the list shows just that memory, with
        "Show all memories" above — the editor never shows a memory the list does not."""
        r = self.model.row_of(note_id)
        if r >= 0:
            self.table.selectRow(r)
            self.table.scrollTo(self.model.index(r, 0))
        else:
            self.table.clearSelection()
            self._pending_select = note_id
            self.show_only([note_id], "Showing the memory you opened.")
        self.detail.load(note_id)

    def _table_menu(self, pos) -> None:
        menu = QMenu(self)
        ids = self.selected_ids()
        if len(ids) == 1:
            menu.addAction("Show in graph", lambda: self.ctx.show_graph(note_id=ids[0]))
            menu.addAction("Link to…", lambda: self.detail.link_to())
            menu.addAction("Delete", lambda: self.detail.delete())
        if len(ids) >= 2:
            menu.addAction("Merge selected…", lambda: self.merge_selected())
            if len(ids) == 2:
                a, b = ids
                menu.addAction("Link these two", lambda: self._link_pair(a, b))
        if not menu.isEmpty():
            menu.exec(self.table.viewport().mapToGlobal(pos))

    def _link_pair(self, a: int, b: int) -> None:
        self.ctx.changes.run(lambda sm: sm.link_notes(a, b, "related"),
                             "link of two memories",
                             on_success=lambda _r: self.ctx.show_status(
                                 "Linked the two memories. Ctrl+Z undoes it."))

    def merge_selected(self) -> Optional[MergeDialog]:
        """Ask (a dialog with both texts and the merged text, which can be edited), then
        merge the selected memories into the first; Ctrl+Z undoes it."""
        notes = [n for n in map(self.model.note_at, self._selected_rows()) if n is not None]
        if len(notes) < 2:
            return None
        dlg = MergeDialog(notes, self)
        self.merge_dialog = dlg
        dlg.accepted.connect(lambda: self._merge(notes, dlg.merged_text()))
        dlg.open()
        return dlg

    def _merge(self, notes: list[Note], text: str) -> None:
        ids = [n.id for n in notes]
        self.ctx.changes.run(lambda sm: sm.merge_notes(ids, text=text),
                             f"merge of {quote(notes[0].text, 30)} and "
                             f"{len(notes) - 1} other{'s' if len(notes) > 2 else ''}",
                             key="merge", on_success=self._merged)

    def _merged(self, note: Note) -> None:
        nid = note.id
        self._pending_select = nid
        self.model.reload()
        self.detail.load(nid)
        self.ctx.show_status("Merged. The other texts are kept in history; Ctrl+Z undoes "
                             "the merge.")

    def new_note(self) -> None:
        dlg = QDialog(self)
        dlg.setWindowTitle("New memory")
        lay = QVBoxLayout(dlg)
        text = QPlainTextEdit()
        text.setAccessibleName("Memory text")
        tags = QLineEdit()
        tags.setPlaceholderText("tags")
        tags.setAccessibleName("Tags")
        lay.addWidget(QLabel("What should your second memory remember?"))
        lay.addWidget(text)
        lay.addWidget(tags)
        bb = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                              | QDialogButtonBox.StandardButton.Cancel)
        bb.accepted.connect(dlg.accept)
        bb.rejected.connect(dlg.reject)
        lay.addWidget(bb)
        if dlg.exec() != QDialog.DialogCode.Accepted or not text.toPlainText().strip():
            return
        t, tg = text.toPlainText().strip(), tags.text().split()
        self.ctx.changes.run(lambda sm: sm.create_note(t, tags=tg, origin="user"),
                             f"new memory {quote(t)}", on_success=self._created)

    def _created(self, note: Note) -> None:
        self._pending_select = note.id
        self.model.reload()
        self.detail.load(note.id)
        self.ctx.show_status("Memory saved. Ctrl+Z undoes it.")

    # -- refresh -------------------------------------------------------------------------
    def _detail_changed(self) -> None:
        self._refresh_timer.start()

    def _refresh_keep_selection(self) -> None:
        self._pending_select = self.detail.note_id
        self.model.reload()

    def on_hook(self, name: str, payload: dict) -> None:
        if name not in ("notes_did_change", "import_did_finish"):
            return
        if not self.isVisible():  # refreshed when shown: no work for a hidden pane
            self._stale = True
            return
        shown = self.detail.note_id
        if name == "notes_did_change" and shown is not None and shown in payload["ids"]:
            self.detail.load(shown)  # e.g. undone or done again with Ctrl+Z / Ctrl+Shift+Z
        self._refresh_timer.start()
        if name == "import_did_finish":
            self._load_people()

    def showEvent(self, e):  # noqa: N802
        super().showEvent(e)
        if self._stale:
            self._stale = False
            self._refresh_timer.start()
            self._load_people()
            if self.detail.note_id is not None:
                self.detail.load(self.detail.note_id)


def main() -> int:
    from .standalone import run_pane

    return run_pane(MemoriesPanel, "Memories")


if __name__ == "__main__":
    raise SystemExit(main())
