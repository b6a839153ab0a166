"""Graph pane: a readable neighbourhood (≤ 40 labelled nodes, no overlapping labels,
groups, no junk), click to read, double-click to centre, both themes legible, capped on
a 100k-note store, context menu to link/unlink."""
from __future__ import annotations

import time

from PySide6.QtCore import QPoint, Qt
from ui_helpers import wait_idle


def make_pane(qtbot, ctx, size=(1000, 700)):
    from secondme_ui.panes.graph import GraphPanel

    p = GraphPanel(ctx)
    qtbot.addWidget(p)
    p.resize(*size)
    p.show()
    qtbot.waitExposed(p)
    return p


def loaded(qtbot, p, timeout=15000):
    qtbot.waitUntil(lambda: p.layout_data is not None, timeout=timeout)
    wait_idle(qtbot, p.ctx.runner)
    qtbot.wait(20)  # the labels are placed again after a resize/zoom (a 0 ms timer)


def reload(qtbot, p, fn):
    p.layout_data = None
    fn()
    loaded(qtbot, p)


def linked_note(sm):
    for n in sm.list_notes(limit=500):
        if sm.get_note(n.id).links:
            return n.id
    n = sm.list_notes(limit=2)
    sm.link_notes(n[0].id, n[1].id)
    return n[0].id


def assert_readable(p, max_labels=40):
    """At most ``max_labels`` labels on screen, none overlapping another, all inside
    the view, from the items' geometry."""
    rects = p.view.visible_label_rects()
    assert 0 < len(rects) <= max_labels
    vp = p.view.viewport().rect()
    for i, a in enumerate(rects):
        assert vp.contains(a.toRect()), (a, vp)
        for b in rects[i + 1:]:
            assert not a.intersects(b), (a, b)
    return rects


def node_point(p, key) -> QPoint:
    return p.view.mapFromScene(p.view.items_by_key[key].pos())


def test_neighbourhood_of_a_note(qtbot, demo_sm, ctx_factory):
    p = make_pane(qtbot, ctx_factory(demo_sm))
    nid = linked_note(demo_sm)
    p.show_note(nid)
    loaded(qtbot, p)
    keys = {n["ref"] for n in p.layout_data["nodes"]}
    assert ("note", nid) in keys
    others = {l.id for l in demo_sm.get_note(nid).links}
    assert others & {i for k, i in keys if k == "note"}
    assert len(p.view.items_by_key) == len(p.layout_data["nodes"])
    assert p.view.edge_count >= 1
    centre = [n for n in p.layout_data["nodes"] if n["centre"]]
    assert centre and centre[0]["ref"] == ("note", nid)
    assert_readable(p)
    # zoom: the labels are placed again and still never overlap
    before = p.view.transform().m11()
    p.zoom_in.click()
    assert p.view.transform().m11() > before
    qtbot.wait(20)
    assert_readable(p)
    p.zoom_out.click()
    p.zoom_out.click()
    qtbot.wait(20)
    assert_readable(p)


def test_click_reads_double_click_centres(qtbot, demo_sm, ctx_factory):
    """A click says what a node is and stays in the pane; a double-click centres on it
    (docs/ui.md) — it never jumps to Memories."""
    p = make_pane(qtbot, ctx_factory(demo_sm))
    p.show_note(linked_note(demo_sm))
    loaded(qtbot, p)
    other = next(n for n in p.layout_data["nodes"] if not n["centre"] and n["type"] == "note")
    qtbot.mouseClick(p.view.viewport(), Qt.MouseButton.LeftButton,
                     pos=node_point(p, other["key"]))
    assert p.selected is not None and p.selected["key"] == other["key"]
    assert " ".join(other["label"].split())[:20] in p.selection.text()
    assert p.ctx.opened_notes == []
    p.layout_data = None
    qtbot.mouseDClick(p.view.viewport(), Qt.MouseButton.LeftButton,
                      pos=node_point(p, other["key"]))
    loaded(qtbot, p)
    assert p.centre == other["ref"]
    assert next(n for n in p.layout_data["nodes"] if n["centre"])["ref"] == other["ref"]
    assert p.ctx.opened_notes == []
    # "Open in Memories" opens the selected memory
    p.select_node(other["ref"])
    p.open_button.click()
    assert p.ctx.opened_notes == [other["ref"][1]]


def test_person_overview_groups_and_never_shows_junk(qtbot, chat2k_sm, ctx_factory):
    """A person in a 2,000-message chat: ≤ 40 nodes, labels never overlap, the rest
    grouped by period, no junk entities; double-clicking a group opens it."""
    sm = chat2k_sm
    p = make_pane(qtbot, ctx_factory(sm), size=(1100, 720))
    nina = next(e for e in sm.list_entities(query="Nina", limit=100) if e.name == "Nina")
    p.show_entity(nina.id)
    loaded(qtbot, p)
    nodes = p.layout_data["nodes"]
    assert len(nodes) <= 40
    labels = {n["label"] for n in nodes if n["type"] == "entity"}
    assert not any(label.startswith(("Glad ", "Appreciate ")) or label in ("Problem", "Work")
                   for label in labels), labels
    groups = [n for n in nodes if n["type"] == "group"]
    assert groups and all(g["count"] >= 3 for g in groups)
    assert_readable(p)
    assert "more in" in p.info.text() and "group" in p.info.text()
    # double-click a group: its memories are drawn one by one
    g = max(groups, key=lambda g: g["count"])
    p.layout_data = None
    qtbot.mouseDClick(p.view.viewport(), Qt.MouseButton.LeftButton, pos=node_point(p, g["key"]))
    loaded(qtbot, p)
    shown = {n["ref"][1] for n in p.layout_data["nodes"] if n["type"] == "note"}
    assert set(g["members"]) & shown
    assert_readable(p)
    # depth 2 stays within the cap too
    reload(qtbot, p, lambda: p.depth.setValue(2))
    assert len(p.layout_data["nodes"]) <= 40
    assert_readable(p)


def test_dark_theme_labels_are_legible(qtbot, demo_sm, ctx_factory):
    from PySide6.QtWidgets import QApplication

    from secondme_ui.theme import apply_theme

    app = QApplication.instance()
    p = make_pane(qtbot, ctx_factory(demo_sm))
    anna = next(e for e in demo_sm.list_entities(kind="person") if e.name == "Anna Rivera")
    try:
        for theme in ("dark", "light"):
            apply_theme(app, theme)
            reload(qtbot, p, lambda: p.show_entity(anna.id))
            img = p.view.viewport().grab().toImage()
            rects = assert_readable(p)
            for r in rects[:5]:  # text against its background: a strong contrast
                lum = [img.pixelColor(x, y).lightness()
                       for x in range(int(r.left()) + 2, int(r.right()) - 2)
                       for y in range(int(r.top()) + 2, int(r.bottom()) - 2)]
                assert max(lum) - min(lum) > 120, (theme, min(lum), max(lum))
            bg = img.pixelColor(3, 3).lightness()
            assert (bg < 90) if theme == "dark" else (bg > 200)
    finally:
        apply_theme(app, "light")


def test_large_store_stays_capped_and_fast(qtbot, large_sm, ctx_factory):
    """A hub linked to 5,000 notes in a 100,000-note store: ≤ 40 nodes drawn, the rest
    in groups, query + layout + drawing within a time bound."""
    p = make_pane(qtbot, ctx_factory(large_sm))
    p.depth.blockSignals(True)
    p.depth.setValue(2)
    p.depth.blockSignals(False)
    t0 = time.perf_counter()
    p.show_note(1)
    loaded(qtbot, p, timeout=30000)
    elapsed = time.perf_counter() - t0
    nodes = p.layout_data["nodes"]
    assert len(nodes) <= 40 and len(p.view.items_by_key) <= 40
    assert sum(n["count"] for n in nodes if n["type"] == "group") > 4900
    assert "more in" in p.info.text()
    assert elapsed < 8.0, elapsed
    assert_readable(p)
    t1 = time.perf_counter()
    p.view.show_layout(p.layout_data)
    p.view.viewport().repaint()
    assert time.perf_counter() - t1 < 1.5


def test_context_menu_links_and_unlinks(qtbot, demo_sm, ctx_factory):
    p = make_pane(qtbot, ctx_factory(demo_sm))
    notes = demo_sm.list_notes(limit=50)
    a = notes[0].id
    b = next(n.id for n in notes[1:] if all(l.id != n.id for l in demo_sm.get_note(a).links))
    p.show_note(a)
    loaded(qtbot, p)
    menu = p.node_menu(("note", b))
    labels = [act.text() for act in menu.actions()]
    assert "Link to the centre" in labels
    next(act for act in menu.actions() if act.text() == "Link to the centre").trigger()
    qtbot.waitUntil(lambda: any(l.id == b for l in demo_sm.get_note(a).links), timeout=10000)
    qtbot.waitUntil(lambda: p.layout_data is not None and
                    ("note", b) in {n["ref"] for n in p.layout_data["nodes"]}, timeout=10000)
    wait_idle(qtbot, p.ctx.runner)
    before = {n["key"]: (n["x"], n["y"]) for n in p.layout_data["nodes"]}
    menu = p.node_menu(("note", b))
    act = next(act for act in menu.actions() if act.text() == "Unlink from the centre")
    act.trigger()
    qtbot.waitUntil(lambda: not any(l.id == b for l in demo_sm.get_note(a).links),
                    timeout=10000)
    wait_idle(qtbot, p.ctx.runner)
    qtbot.waitUntil(lambda: ("note", b) not in {n["ref"] for n in p.layout_data["nodes"]},
                    timeout=10000)
    # the picture is not reshuffled: every memory still shown stays where it was
    after = {n["key"]: (n["x"], n["y"]) for n in p.layout_data["nodes"]}
    kept = set(before) & set(after)
    assert len(kept) >= len(after) - 1
    assert all(abs(before[k][0] - after[k][0]) < 0.5 and abs(before[k][1] - after[k][1]) < 0.5
               for k in kept), {k: (before[k], after[k]) for k in kept}


def test_centre_on_a_person(qtbot, demo_sm, ctx_factory):
    """Typing a person's full name and Enter centres on them at once (no menu to pick
    from); a part of a name offers a menu whose first entry Enter picks."""
    p = make_pane(qtbot, ctx_factory(demo_sm))
    wait_idle(qtbot, p.ctx.runner)
    anna = next(e for e in demo_sm.list_entities(kind="person") if e.name == "Anna Rivera")
    p.centre, p.layout_data = None, None
    p.find.setText("anna  rivera")
    p.find_centre()
    loaded(qtbot, p)
    assert p.centre == ("entity", anna.id)
    assert getattr(p, "_find_menu", None) is None
    p.find.setText("Rivera")
    p.find_centre()
    qtbot.waitUntil(lambda: getattr(p, "_find_menu", None) is not None, timeout=15000)
    assert p._find_menu.activeAction() is p._find_menu.actions()[0]
    p._find_menu.close()
    kinds = {n["ref"][0] for n in p.layout_data["nodes"]}
    assert "entity" in kinds and "note" in kinds
    # the person's memories from the selection bar
    p.select_node(("entity", anna.id))
    p.open_button.click()
    assert p.ctx.filters[-1] == {"person": "Anna Rivera"}


def test_opens_on_the_person_most_memories_are_about(qtbot, demo_sm, ctx_factory):
    """Opened with nothing chosen, the pane is never empty: it centres on the person most
    memories are about — not the user, whom every memory is about."""
    people = demo_sm.list_entities(kind="person", displayable=True)
    expected = next(e for e in people if not e.is_me and e.mentions)
    p = make_pane(qtbot, ctx_factory(demo_sm))
    loaded(qtbot, p)
    assert p.centre == ("entity", expected.id)
    assert next(n for n in p.layout_data["nodes"] if n["centre"])["label"] == expected.name
    assert_readable(p)
    # a centre chosen before the pane is first shown (Memories → Show in graph) is kept
    from secondme_ui.panes.graph import GraphPanel

    q = GraphPanel(ctx_factory(demo_sm))
    qtbot.addWidget(q)
    note = linked_note(demo_sm)
    q.show_note(note)
    q.show()
    loaded(qtbot, q)
    assert q.centre == ("note", note)


def test_find_leaves_junk_out(qtbot, chat2k_sm, ctx_factory):
    p = make_pane(qtbot, ctx_factory(chat2k_sm))
    p.find.setText("Glad")
    p.find_centre()
    wait_idle(qtbot, p.ctx.runner)
    menu = getattr(p, "_find_menu", None)
    entries = [a.text() for a in menu.actions()] if menu is not None else []
    assert not any(e.startswith("👤 Glad") for e in entries), entries


def test_layout_caps_without_a_service():
    from secondme.api import Graph, GraphEdge, GraphNode
    from secondme_ui.panes.graph import layout_graph

    nodes = [GraphNode(id=f"n{i}", type="note", label=f"note {i}", kind="fact")
             for i in range(2000)]
    edges = [GraphEdge(src="n0", dst=f"n{i}", kind="related") for i in range(1, 2000)]
    lay = layout_graph(Graph(nodes=nodes, edges=edges), centre="n0", max_nodes=300)
    assert len(lay["nodes"]) == 300 and lay["hidden"] == 1700
    assert any(n["centre"] and n["key"] == "n0" for n in lay["nodes"])


def test_the_status_line_counts_in_words():
    """One of a kind reads in the singular: "1 memory", "1 person or place", "1 group"
    (it read "1 memories" and "1 people and places")."""
    from secondme_ui.panes.graph import status_words

    def node(kind, centre=False, count=0, label="x"):
        return {"type": kind, "centre": centre, "count": count, "label": label}

    one = {"truncated": False, "nodes": [node("entity", True, label="Nina"), node("note"),
                                         node("entity"), node("group", count=12)]}
    line = status_words(one)
    assert line.startswith("Around “Nina”: 1 memory, 12 more in 1 group by time, "
                           "1 person or place."), line
    many = {"truncated": True, "nodes": [node("note", True, label="A trip"), node("note"),
                                         node("note"), node("entity"), node("entity"),
                                         node("group", count=3), node("group", count=1200)]}
    line = status_words(many)
    assert line.startswith("Around “A trip”: 2 memories, 1,203 more in 2 groups by time, "
                           "2 people and places. Memories further away are left out."), line
