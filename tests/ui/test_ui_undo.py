"""Undo the way desktop apps do it (issue 16 item 3): Ctrl+Z / Ctrl+Shift+Z over the
person's own changes — edits, merges, deletes, pins, links — from the keyboard, the Edit
menu and the command palette, in the real window on the real service."""
from __future__ import annotations

from PySide6.QtCore import Qt
from ui_helpers import show_active, wait_idle

CTRL = Qt.KeyboardModifier.ControlModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier


def open_memory(qtbot, mem, nid):
    mem.open_note(nid)
    qtbot.waitUntil(lambda: mem.detail.note_id == nid and mem.detail.detail is not None
                    and mem.detail.detail.note.id == nid, timeout=10000)


def first_memory(qtbot, w):
    """Show the window on the Memories pane; returns it, the pane and the first row's id."""
    show_active(qtbot, w)
    mem = w.show_pane("memories")
    qtbot.waitUntil(lambda: mem.model.rowCount() > 0, timeout=10000)
    return w, mem, mem.model.rows[0].id


def undo_keys(qtbot, w, redo=False):
    w.panes["memories"].table.setFocus()  # not a text field: those undo their typing
    qtbot.keyClick(w, Qt.Key.Key_Z, CTRL | SHIFT if redo else CTRL)


def test_ctrl_z_and_ctrl_shift_z_over_every_kind_of_change(qtbot, window_factory, demo_sm):
    sm = demo_sm
    w = window_factory(sm)
    show_active(qtbot, w)
    mem = w.show_pane("memories")
    qtbot.waitUntil(lambda: mem.model.rowCount() > 3, timeout=10000)
    a, b, c = (n.id for n in mem.model.rows[:3])
    text_a = sm.get_note(a).note.text
    assert not w.undo_action.isEnabled() and w.undo_action.text() == "Undo"

    # an edit: Ctrl+Z, Ctrl+Shift+Z, Ctrl+Z again
    open_memory(qtbot, mem, a)
    mem.detail.text.setPlainText("Biscuit hates the hoover.")
    mem.detail.save()
    qtbot.waitUntil(lambda: w.undo_action.isEnabled(), timeout=10000)
    assert w.undo_action.text().startswith("Undo edit of “")
    assert sm.get_note(a).note.text == "Biscuit hates the hoover."
    undo_keys(qtbot, w)
    qtbot.waitUntil(lambda: sm.get_note(a).note.text == text_a, timeout=10000)
    qtbot.waitUntil(lambda: w.redo_action.isEnabled(), timeout=10000)
    # the editor follows (it showed the undone text)
    qtbot.waitUntil(lambda: mem.detail.text.toPlainText() == text_a, timeout=10000)
    assert "Undone" in w.statusBar().currentMessage()
    undo_keys(qtbot, w, redo=True)
    qtbot.waitUntil(lambda: sm.get_note(a).note.text == "Biscuit hates the hoover.",
                    timeout=10000)
    wait_idle(qtbot, w.runner)
    undo_keys(qtbot, w)
    qtbot.waitUntil(lambda: sm.get_note(a).note.text == text_a, timeout=10000)
    wait_idle(qtbot, w.runner)

    # a pin
    open_memory(qtbot, mem, b)
    mem.detail.pin_box.click()
    qtbot.waitUntil(lambda: sm.get_note(b).note.pinned, timeout=10000)
    wait_idle(qtbot, w.runner)
    assert w.undo_action.text().startswith("Undo pin of")
    assert not w.redo_action.isEnabled()  # a new change clears what could be redone
    undo_keys(qtbot, w)
    qtbot.waitUntil(lambda: not sm.get_note(b).note.pinned, timeout=10000)
    wait_idle(qtbot, w.runner)

    # a link, from the editor
    open_memory(qtbot, mem, a)
    mem.detail.link_to(c, "related")
    qtbot.waitUntil(lambda: any(l.id == c and l.created_by == "user"
                                for l in sm.get_note(a).links), timeout=10000)
    wait_idle(qtbot, w.runner)
    w.undo_action.trigger()  # from the Edit menu
    qtbot.waitUntil(lambda: not any(l.id == c and l.created_by == "user"
                                    for l in sm.get_note(a).links), timeout=10000)
    wait_idle(qtbot, w.runner)

    # a delete
    open_memory(qtbot, mem, c)
    mem.detail.delete(confirm=False)
    qtbot.waitUntil(lambda: not any(n.id == c for n in sm.list_notes(limit=1000)),
                    timeout=10000)
    wait_idle(qtbot, w.runner)
    assert w.undo_action.text().startswith("Undo deletion of")
    undo_keys(qtbot, w)
    qtbot.waitUntil(lambda: any(n.id == c for n in sm.list_notes(limit=1000)),
                    timeout=10000)
    wait_idle(qtbot, w.runner)

    # a merge, then the palette's Undo
    mem.reset_filters()
    mem.apply_filters()
    wait_idle(qtbot, w.runner)
    ra, rb = mem.model.row_of(a), mem.model.row_of(b)
    sel = mem.table.selectionModel()
    mem.table.selectRow(ra)
    sel.select(mem.model.index(rb, 0), sel.SelectionFlag.Select | sel.SelectionFlag.Rows)
    dlg = mem.merge_selected()
    dlg.merge_button.click()
    qtbot.waitUntil(lambda: sm.get_note(b).note.archived or sm.get_note(a).note.archived,
                    timeout=10000)
    wait_idle(qtbot, w.runner)
    names = [name for name, _fn in w.commands()]
    undo_cmd = next(n for n in names if n.startswith("Undo merge of"))
    w.open_palette()
    pal = w.palette_dialog
    qtbot.keyClicks(pal.input, "undo")
    assert pal.list.currentItem().text() == undo_cmd
    qtbot.keyClick(pal.input, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not sm.get_note(b).note.archived
                    and not sm.get_note(a).note.archived, timeout=10000)
    wait_idle(qtbot, w.runner)
    assert any(n.startswith("Redo merge of") for n, _fn in w.commands())


def test_ctrl_z_in_a_text_field_undoes_the_typing_only(qtbot, window_factory, demo_sm):
    sm = demo_sm
    w, mem, a = first_memory(qtbot, window_factory(sm))
    open_memory(qtbot, mem, a)
    mem.detail.pin_box.click()
    qtbot.waitUntil(lambda: w.undo_action.isEnabled(), timeout=10000)
    field = mem.detail.tags
    field.setFocus()
    field.end(False)
    qtbot.keyClicks(field, " extra")
    qtbot.keyClick(field, Qt.Key.Key_Z, CTRL)
    assert "extra" not in field.text()
    wait_idle(qtbot, w.runner)
    assert sm.get_note(a).note.pinned  # the memory's change was not undone


def test_undo_that_is_no_longer_possible_says_why(qtbot, window_factory, demo_sm):
    sm = demo_sm
    w, mem, a = first_memory(qtbot, window_factory(sm))
    open_memory(qtbot, mem, a)
    mem.detail.text.setPlainText("First words.")
    mem.detail.save()
    qtbot.waitUntil(lambda: w.undo_action.isEnabled(), timeout=10000)
    sm.edit_note(a, text="Changed elsewhere since.")  # e.g. from the CLI
    undo_keys(qtbot, w)
    qtbot.waitUntil(lambda: w.banner.isVisible(), timeout=10000)
    msg = w.banner.text
    assert msg.startswith("Cannot undo the edit of") and "later change" in msg
    assert not any(ch.isdigit() for ch in msg.replace("“", "").split("”")[-1])
    assert sm.get_note(a).note.text == "Changed elsewhere since."
    assert not w.undo_action.isEnabled()


def test_ctrl_y_redoes_what_ctrl_z_undid(qtbot, window_factory, demo_sm):
    """Ctrl+Y is the other redo key people know (Windows, office apps): after Ctrl+Z it
    does the change again, exactly as Ctrl+Shift+Z does, and then undo is offered."""
    sm = demo_sm
    w, mem, a = first_memory(qtbot, window_factory(sm))
    assert not sm.get_note(a).note.pinned
    open_memory(qtbot, mem, a)
    mem.detail.pin_box.click()
    qtbot.waitUntil(lambda: sm.get_note(a).note.pinned, timeout=10000)
    wait_idle(qtbot, w.runner)
    undo_keys(qtbot, w)
    qtbot.waitUntil(lambda: not sm.get_note(a).note.pinned, timeout=10000)
    qtbot.waitUntil(lambda: w.redo_action.isEnabled(), timeout=10000)
    assert w.redo_action.text().startswith("Redo pin of")
    mem.table.setFocus()
    qtbot.keyClick(w, Qt.Key.Key_Y, CTRL)
    qtbot.waitUntil(lambda: sm.get_note(a).note.pinned, timeout=10000)
    wait_idle(qtbot, w.runner)
    assert "Done again" in w.statusBar().currentMessage()
    assert not w.redo_action.isEnabled()
    assert w.undo_action.isEnabled() and w.undo_action.text().startswith("Undo pin of")
    qtbot.waitUntil(lambda: mem.detail.pin_box.isChecked(), timeout=10000)  # the editor follows


def test_undo_and_redo_while_the_graph_is_shown(qtbot, window_factory, demo_sm):
    """A link or an unlink made in the Graph pane is undone by Ctrl+Z there — with the
    focus in the graph, without leaving the pane — and the picture follows the store."""
    sm = demo_sm
    w = window_factory(sm)
    show_active(qtbot, w)
    notes = sm.list_notes(limit=50)
    a = notes[0].id
    b = next(n.id for n in notes[1:] if all(l.id != n.id for l in sm.get_note(a).links))
    graph = w.show_pane("graph")
    wait_idle(qtbot, w.runner)
    graph.show_note(a)
    qtbot.waitUntil(lambda: graph.layout_data is not None
                    and graph.centre == ("note", a), timeout=10000)
    wait_idle(qtbot, w.runner)

    def linked() -> bool:
        return any(l.id == b for l in sm.get_note(a).links)

    def drawn() -> bool:  # b is in the picture, linked to the centre
        return (graph.layout_data is not None and graph.node(("note", b)) is not None
                and graph._linked_to_centre(("note", b)))

    def menu_action(text: str):
        return next(act for act in graph.node_menu(("note", b)).actions()
                    if act.text() == text)

    def keys(key, mods) -> None:
        graph.view.setFocus()  # the graph has the focus, as after a click on it
        qtbot.keyClick(w, key, mods)

    # link there, then Ctrl+Z there: the link is gone, from the store and the picture
    menu_action("Link to the centre").trigger()
    qtbot.waitUntil(linked, timeout=10000)
    qtbot.waitUntil(drawn, timeout=10000)
    wait_idle(qtbot, w.runner)
    assert w.undo_action.text().startswith("Undo link of")
    keys(Qt.Key.Key_Z, CTRL)
    qtbot.waitUntil(lambda: not linked(), timeout=10000)
    qtbot.waitUntil(lambda: not drawn(), timeout=10000)
    wait_idle(qtbot, w.runner)
    assert w.current_pane == "graph"
    # Ctrl+Y there: linked again
    keys(Qt.Key.Key_Y, CTRL)
    qtbot.waitUntil(linked, timeout=10000)
    qtbot.waitUntil(drawn, timeout=10000)
    wait_idle(qtbot, w.runner)
    # unlink there, then Ctrl+Z: the link is back, with what it was
    kinds = {l.kind for l in sm.get_note(a).links if l.id == b}
    menu_action("Unlink from the centre").trigger()
    qtbot.waitUntil(lambda: not linked(), timeout=10000)
    wait_idle(qtbot, w.runner)
    assert w.undo_action.text().startswith("Undo unlinking of")
    keys(Qt.Key.Key_Z, CTRL)
    qtbot.waitUntil(linked, timeout=10000)
    qtbot.waitUntil(drawn, timeout=10000)
    wait_idle(qtbot, w.runner)
    assert {l.kind for l in sm.get_note(a).links if l.id == b} == kinds
    assert w.current_pane == "graph" and graph.centre == ("note", a)
    assert w.redo_action.text().startswith("Redo unlinking of")
