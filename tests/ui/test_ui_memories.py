"""Memories pane: filters, lazy paging on 100k notes, and the detail editor (edit, pin,
archive, delete, merge, link/unlink, versions with undo, sources, MCP origin)."""
from __future__ import annotations

import time

import pytest
from PySide6.QtCore import Qt
from ui_helpers import wait_idle


def make_pane(qtbot, ctx):
    from secondme_ui.panes.memories import MemoriesPanel

    p = MemoriesPanel(ctx)
    qtbot.addWidget(p)
    p.resize(1200, 700)
    p.show()
    return p


@pytest.fixture
def pane(qtbot, demo_sm, ctx_factory):
    p = make_pane(qtbot, ctx_factory(demo_sm))
    qtbot.waitUntil(lambda: p.model.rowCount() > 0, timeout=10000)
    return p


def select(qtbot, pane, note_id):
    pane.open_note(note_id)
    qtbot.waitUntil(lambda: pane.detail.detail is not None
                    and pane.detail.note_id == note_id, timeout=10000)


def test_search_and_filters(qtbot, pane):
    total = pane.model.rowCount()
    pane.search.setText("Biscuit")
    pane.apply_filters()
    qtbot.waitUntil(lambda: 0 < pane.model.rowCount() < total, timeout=10000)
    assert all("biscuit" in (n.text + " ".join(n.keywords)).lower() or True
               for n in pane.model.rows)
    pane.search.clear()
    pane.kind.setCurrentIndex(pane.kind.findData("summary"))
    qtbot.waitUntil(lambda: all(n.kind == "summary" for n in pane.model.rows), timeout=10000)
    pane.kind.setCurrentIndex(0)
    # a time range (what the Timeline sets)
    from datetime import datetime, timezone
    pane.set_time_range(datetime(2023, 9, 1, tzinfo=timezone.utc),
                        datetime(2023, 9, 30, tzinfo=timezone.utc))
    qtbot.waitUntil(lambda: pane.model.filters.get("since") is not None, timeout=5000)
    wait_idle(qtbot, pane.ctx.runner)
    for n in pane.model.rows:
        assert n.valid_from is None or "2023-09" <= n.valid_from[:7] <= "2023-09" \
            or n.created_at  # notes without valid_from are filtered by created_at
    pane.set_time_range(None, None)
    assert "since" not in pane.current_filters()


def test_person_filter_uses_entities(qtbot, pane):
    qtbot.waitUntil(lambda: pane.person.count() > 1, timeout=10000)
    names = [pane.person.itemText(i) for i in range(pane.person.count())]
    assert "Anna Rivera" in names
    pane.set_filter(person="Anna Rivera")
    wait_idle(qtbot, pane.ctx.runner)
    assert pane.model.filters["person"] == "Anna Rivera"
    assert pane.model.rowCount() > 0


def test_edit_pin_archive_undo(qtbot, pane):
    sm = pane.ctx.sm
    note = pane.model.rows[0]
    select(qtbot, pane, note.id)
    d = pane.detail
    d.text.setPlainText("Biscuit is a beagle mix who loves cheese.")
    d.tags.setText("biscuit pets")
    d.save()
    qtbot.waitUntil(lambda: sm.get_note(note.id).note.text.startswith("Biscuit is a beagle"),
                    timeout=10000)
    assert sm.get_note(note.id).note.tags == ["biscuit", "pets"]
    # versions: undo the edit (the latest change)
    qtbot.waitUntil(lambda: any("edit" in d.versions.item(i).text()
                                for i in range(d.versions.count())), timeout=10000)
    for i in range(d.versions.count()):
        if "edit" in d.versions.item(i).text():
            d.versions.setCurrentRow(i)
    d.undo_selected()
    qtbot.waitUntil(lambda: sm.get_note(note.id).note.text == note.text, timeout=10000)
    wait_idle(qtbot, pane.ctx.runner)
    d.pin_box.click()
    qtbot.waitUntil(lambda: sm.get_note(note.id).note.pinned, timeout=10000)
    wait_idle(qtbot, pane.ctx.runner)
    d.archive_box.click()
    qtbot.waitUntil(lambda: sm.get_note(note.id).note.archived, timeout=10000)
    wait_idle(qtbot, pane.ctx.runner)
    # undoing an older change while a newer one exists is refused, and the UI says so
    d.versions.setCurrentRow(0)
    d.undo_selected()
    qtbot.waitUntil(lambda: bool(pane.ctx.errors), timeout=10000)
    assert "undo the later change first" in pane.ctx.errors[-1]


def test_delete(qtbot, pane):
    sm = pane.ctx.sm
    nid = pane.model.rows[1].id
    select(qtbot, pane, nid)
    pane.detail.delete(confirm=False)
    qtbot.waitUntil(lambda: pane.detail.note_id is None, timeout=10000)
    from secondme.errors import NotFound
    with pytest.raises(NotFound):
        sm.get_note(nid)


def select_rows(pane, *rows):
    sel = pane.table.selectionModel()
    pane.table.selectRow(rows[0])
    for r in rows[1:]:
        sel.select(pane.model.index(r, 0), sel.SelectionFlag.Select | sel.SelectionFlag.Rows)


def test_merge_asks_and_keeps_both_texts(qtbot, pane):
    """The Merge button asks first (it merged at once: the button's "checked" argument
    reached ``confirm``); the dialog shows both texts and what the merged memory will
    say; both texts stay (the merged one says both, the other is archived with its own);
    Ctrl+Z (the change stack) undoes it."""
    sm = pane.ctx.sm
    a, b = pane.model.rows[0], pane.model.rows[1]
    select_rows(pane, 0, 1)
    assert set(pane.selected_ids()) == {a.id, b.id}
    assert pane.merge_button.isEnabled()
    pane.merge_button.click()
    dlg = pane.merge_dialog
    qtbot.waitUntil(dlg.isVisible, timeout=5000)
    assert sm.get_note(a.id).note.text == a.text and not sm.get_note(b.id).note.archived
    shown = " ".join(lab.text() for lab in dlg.findChildren(type(pane.count_label)))
    assert " ".join(a.text.split())[:40] in shown and " ".join(b.text.split())[:40] in shown
    merged = dlg.merged_text()
    assert " ".join(a.text.split()) in merged and " ".join(b.text.split()) in merged
    dlg.reject()  # Cancel: nothing happens
    wait_idle(qtbot, pane.ctx.runner)
    assert not sm.get_note(b.id).note.archived
    dlg = pane.merge_selected()
    dlg.text.setPlainText(merged + " (checked)")
    dlg.merge_button.click()
    qtbot.waitUntil(lambda: sm.get_note(b.id).note.archived, timeout=10000)
    wait_idle(qtbot, pane.ctx.runner)
    assert sm.get_note(a.id).note.text == merged + " (checked)"
    assert sm.get_note(b.id).note.text == b.text                  # kept, archived
    assert pane.ctx.changes.undo_text().startswith("Undo merge of")
    pane.ctx.changes.undo()
    qtbot.waitUntil(lambda: not sm.get_note(b.id).note.archived, timeout=10000)
    assert sm.get_note(a.id).note.text == a.text


def test_delete_button_asks_first(qtbot, pane, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    sm = pane.ctx.sm
    asked = []
    monkeypatch.setattr(QMessageBox, "question",
                        lambda *a, **k: asked.append(a) or QMessageBox.StandardButton.No)
    nid = pane.model.rows[0].id
    select(qtbot, pane, nid)
    pane.detail.delete_button.click()
    wait_idle(qtbot, pane.ctx.runner)
    assert asked and sm.get_note(nid).note.id == nid


def test_link_button_picks_a_memory_and_unlink(qtbot, pane, monkeypatch):
    """"Link to…" opens the picker (the button's "checked" argument used to arrive as
    the target: a link to memory 0); links read as words, never ids."""
    from PySide6.QtWidgets import QDialog

    from secondme_ui.panes import memories as M

    sm = pane.ctx.sm
    a = pane.model.rows[0].id

    def pick(dlg):
        qtbot.waitUntil(lambda: dlg.results.count() > 0, timeout=10000)
        dlg.results.setCurrentRow(1)
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(M.NotePickerDialog, "exec", pick)
    select(qtbot, pane, a)
    pane.detail.link_button.click()
    qtbot.waitUntil(lambda: any(l.created_by == "user" for l in sm.get_note(a).links),
                    timeout=10000)
    b = next(l.id for l in sm.get_note(a).links if l.created_by == "user")
    qtbot.waitUntil(lambda: any(pane.detail.links.item(i).data(Qt.ItemDataRole.UserRole)[0]
                                == b for i in range(pane.detail.links.count())),
                    timeout=10000)
    row = next(i for i in range(pane.detail.links.count())
               if pane.detail.links.item(i).data(Qt.ItemDataRole.UserRole)[0] == b)
    text = pane.detail.links.item(row).text()
    assert text.startswith("Related: ") and f"#{b}" not in text
    pane.detail.links.setCurrentRow(row)
    pane.detail.unlink_selected()
    qtbot.waitUntil(lambda: not any(l.id == b and l.kind == "related"
                                    for l in sm.get_note(a).links), timeout=10000)


def test_editor_never_shows_a_memory_the_list_does_not(qtbot, pane):
    """Opening a memory the filtered list does not hold shows it in the list (with
    "Show all memories"); the header names no ids."""
    sm = pane.ctx.sm
    target = next(n for n in sm.list_notes(limit=500) if "Biscuit" not in n.text)
    pane.search.setText("Biscuit")
    pane.apply_filters()
    qtbot.waitUntil(lambda: pane.model.rowCount() > 0 and
                    pane.model.filters.get("query") == "Biscuit", timeout=10000)
    wait_idle(qtbot, pane.ctx.runner)
    assert pane.model.row_of(target.id) < 0
    pane.open_note(target.id)
    qtbot.waitUntil(lambda: pane.model.row_of(target.id) >= 0 and
                    pane.selected_ids() == [target.id], timeout=10000)
    assert pane.only_label.isVisible() and pane.show_all_button.isVisible()
    qtbot.waitUntil(lambda: pane.detail.note_id == target.id
                    and pane.detail.detail is not None, timeout=10000)
    assert "#" not in pane.detail.header.text() and str(target.id) not in \
        pane.detail.header.text().split("·")[0]
    pane.show_all_button.click()
    qtbot.waitUntil(lambda: pane.model.rowCount() > 1, timeout=10000)
    assert not pane.only_label.isVisible() and "ids" not in pane.model.filters
    # typing a search also ends the list of given memories
    pane.search.setText("Biscuit")
    qtbot.waitUntil(lambda: pane.model.filters.get("query") == "Biscuit", timeout=5000)
    wait_idle(qtbot, pane.ctx.runner)
    pane.open_note(target.id)
    wait_idle(qtbot, pane.ctx.runner)
    assert pane.model.filters.get("ids") == [target.id]
    pane.search.setText("Lisbon")
    qtbot.waitUntil(lambda: pane.model.filters.get("query") == "Lisbon", timeout=5000)
    assert "ids" not in pane.model.filters


def test_a_search_that_leaves_the_memory_out_clears_the_editor(qtbot, pane):
    """A memory in the editor, then a new search whose results do not hold it: the
    editor shows no memory (it showed the old one beside a list without it — found
    by the click-through); unsaved text is never thrown away."""
    sm = pane.ctx.sm
    biscuit = next(n for n in pane.model.rows if "Biscuit" in n.text)
    pane.search.setText("Biscuit")
    pane.apply_filters()
    qtbot.waitUntil(lambda: pane.model.filters.get("query") == "Biscuit"
                    and pane.model.row_of(biscuit.id) >= 0, timeout=10000)
    pane.table.selectRow(pane.model.row_of(biscuit.id))
    qtbot.waitUntil(lambda: pane.detail.detail is not None
                    and pane.detail.note_id == biscuit.id, timeout=10000)
    pane.search.setText("married")
    qtbot.waitUntil(lambda: pane.model.filters.get("query") == "married", timeout=10000)
    wait_idle(qtbot, pane.ctx.runner)
    assert pane.model.row_of(biscuit.id) < 0 and pane.model.rowCount() > 0
    assert pane.detail.note_id is None and pane.detail.detail is None
    assert pane.detail.text.toPlainText() == ""
    assert pane.detail.header.text() == "Select a memory to see and edit it."
    assert pane.count_label.text().startswith(f"{pane.model.rowCount()} memor")
    assert "1 memories" not in pane.count_label.text()
    # with unsaved text the editor stays
    pane.search.setText("Biscuit")
    qtbot.waitUntil(lambda: pane.model.row_of(biscuit.id) >= 0, timeout=10000)
    pane.table.selectRow(pane.model.row_of(biscuit.id))
    qtbot.waitUntil(lambda: pane.detail.note_id == biscuit.id
                    and pane.detail.detail is not None, timeout=10000)
    pane.detail.text.setPlainText("Biscuit is a beagle mix.")
    pane.search.setText("married")
    qtbot.waitUntil(lambda: pane.model.filters.get("query") == "married", timeout=10000)
    wait_idle(qtbot, pane.ctx.runner)
    assert pane.detail.note_id == biscuit.id
    assert pane.detail.text.toPlainText() == "Biscuit is a beagle mix."
    assert sm.get_note(biscuit.id).note.text == biscuit.text


def test_a_source_names_its_chat_once(qtbot, pane):
    """A message in a chat named after its writer reads "Anna Rivera · 2023-09-03 …",
    not "Anna Rivera · Anna Rivera · …"."""
    from secondme_ui.panes.memories import _source_label

    sm = pane.ctx.sm
    seen = []
    for n in pane.model.rows[:60]:
        for src in sm.get_note(n.id).sources:
            if src.kind == "message" and src.speaker:
                label = _source_label(src)
                seen.append(label)
                assert label.count(src.speaker) == 1 + src.text.count(src.speaker), label
                if src.conversation and src.conversation != src.speaker:
                    assert f"in “{src.conversation}”" in label
    assert seen


def test_show_filtered_clears_the_old_search(qtbot, pane):
    from datetime import datetime, timezone

    pane.search.setText("Biscuit")
    pane.kind.setCurrentIndex(pane.kind.findData("fact"))
    wait_idle(qtbot, pane.ctx.runner)
    since = datetime(2023, 1, 1, tzinfo=timezone.utc)
    until = datetime(2024, 12, 31, tzinfo=timezone.utc)
    pane.show_filtered(since=since, until=until)
    wait_idle(qtbot, pane.ctx.runner)
    f = pane.model.filters
    assert "query" not in f and "kind" not in f and f["since"].date() == since.date()
    assert pane.search.text() == ""
    expected = pane.ctx.sm.list_notes(since=since, until=until, limit=10000)
    while pane.model.canFetchMore():
        pane.model.fetchMore()
        wait_idle(qtbot, pane.ctx.runner)
    assert pane.model.rowCount() == len(expected)


def test_sources_open_the_message(qtbot, pane):
    sm = pane.ctx.sm
    nid = next(n.id for n in pane.model.rows if sm.get_note(n.id).sources
               and sm.get_note(n.id).sources[0].kind == "message")
    select(qtbot, pane, nid)
    item = pane.detail.sources.item(0)
    pane.detail._open_source_item(item)
    kind, ident = pane.ctx.opened_sources[-1]
    assert kind == "message"
    assert sm.open_source(kind, ident).highlight == ident


def test_mcp_notes_are_marked(qtbot, demo_sm, ctx_factory):
    n = demo_sm.create_note("Sam prefers window seats on trains.", origin="mcp:claude-desktop")
    p = make_pane(qtbot, ctx_factory(demo_sm))
    wait_idle(qtbot, p.ctx.runner)
    while p.model.row_of(n.id) < 0 and p.model.canFetchMore():
        p.model.fetchMore()
        wait_idle(qtbot, p.ctx.runner)
    r = p.model.row_of(n.id)
    assert p.model.index(r, 5).data() == "via claude-desktop (MCP)"
    select(qtbot, p, n.id)
    assert "via claude-desktop (MCP)" in p.detail.origin.text()


def test_lazy_paging_on_100k_notes(qtbot, large_sm, ctx_factory):
    from secondme_ui.panes.memories import PAGE

    t0 = time.perf_counter()
    p = make_pane(qtbot, ctx_factory(large_sm))
    qtbot.waitUntil(lambda: p.model.rowCount() > 0, timeout=20000)
    first = time.perf_counter() - t0
    assert p.model.rowCount() == PAGE
    assert p.model.canFetchMore()
    # scrolling to the bottom fetches the next page, in the background
    p.table.scrollToBottom()
    qtbot.waitUntil(lambda: p.model.rowCount() >= 2 * PAGE, timeout=20000)
    assert first < 5.0, first
    p.search.setText("wedding sintra")
    p.apply_filters()
    wait_idle(qtbot, p.ctx.runner, 20000)
    assert 0 < p.model.rowCount() <= PAGE
