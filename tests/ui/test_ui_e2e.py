"""End to end, through the real service (no fakes of SecondMe; only the embedder is the
deterministic hash one): start the app on a temp data dir → import a fixture export →
ask → click a citation → the source is shown → edit a note → the graph shows its
neighbours."""
from __future__ import annotations

from PySide6.QtCore import QUrl
from ui_helpers import show_active, wait_idle


def test_import_ask_cite_edit_graph(qtbot, tmp_path, window_factory):
    from secondme.models.embed import HashEmbedder
    from secondme.service import SecondMe
    from secondme_ui.assets import demo_export_path

    sm = SecondMe(tmp_path / "fresh home", embedder=HashEmbedder())
    try:
        sm.update_settings(me_name="Sam Rivera")
        w = window_factory(sm)
        show_active(qtbot, w)

        # 1. import the fixture export through the Import pane
        imp = w.show_pane("import")
        imp.add_paths([str(demo_export_path())])
        with qtbot.waitSignal(imp.import_finished, timeout=60000):
            imp.start_import()
        assert sum(s.messages_added for s in imp.report.sources) > 500
        # memories are formed in the background (scheduler not running in tests: the
        # pane falls back to running extraction itself)
        qtbot.waitUntil(lambda: len(sm.list_notes(limit=5)) > 0, timeout=60000)
        wait_idle(qtbot, w.runner, 60000)

        # 2. ask in the Chat pane
        chat = w.show_pane("chat")
        with qtbot.waitSignal(chat.answer_finished, timeout=60000):
            chat.ask("When did I adopt Biscuit?")
        turn = chat.turns[-1]
        assert turn.citations, chat.transcript.toPlainText()
        assert "2023" in turn.answer or "September" in turn.answer

        # 3. click the first citation link → the source dialog shows the message
        n = turn.citations[0].n
        assert f"cite:{turn.prefix}:{n}" in chat.transcript.toHtml()
        chat.transcript.anchorClicked.emit(QUrl(f"cite:{turn.prefix}:{n}"))
        dlg = w.source_dialog
        qtbot.waitUntil(lambda: dlg.isVisible() and dlg.view is not None, timeout=10000)
        assert "Biscuit" in dlg.browser.toPlainText()
        assert dlg.title.text() == "Anna Rivera"
        assert "#fff3b0" in dlg.browser.toHtml().lower()  # the cited message is highlighted
        w.escape()
        assert not dlg.isVisible()

        # 4. edit a note in the Memories pane
        mem = w.show_pane("memories")
        qtbot.waitUntil(lambda: mem.model.rowCount() > 1, timeout=10000)
        target = next(n for n in sm.list_notes(limit=200) if "Biscuit" in n.text)
        mem.open_note(target.id)
        qtbot.waitUntil(lambda: mem.detail.note_id == target.id and mem.detail.detail
                        is not None, timeout=10000)
        mem.detail.text.setPlainText("Sam adopted Biscuit, a beagle mix, on 3 September 2023.")
        mem.detail.save()
        qtbot.waitUntil(lambda: sm.get_note(target.id).note.text.startswith("Sam adopted"),
                        timeout=10000)
        other = next(n for n in sm.list_notes(limit=200) if n.id != target.id)
        mem.detail.link_to(other.id, "related")
        qtbot.waitUntil(lambda: any(l.id == other.id for l in sm.get_note(target.id).links),
                        timeout=10000)
        wait_idle(qtbot, w.runner)

        # 5. the graph shows its neighbours
        mem.detail.graph_button.click()
        graph = w.panes["graph"]
        assert w.current_pane == "graph"
        qtbot.waitUntil(lambda: graph.layout_data is not None, timeout=15000)
        refs = {n["ref"] for n in graph.layout_data["nodes"]}
        assert ("note", target.id) in refs and ("note", other.id) in refs
        labels = [n["label"] for n in graph.layout_data["nodes"] if n["centre"]]
        assert labels and labels[0].startswith("Sam adopted Biscuit")
    finally:
        w.shutdown()
        sm.close()
