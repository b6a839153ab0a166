"""Screenshots of every pane with the demo export, for docs/ui.md and the README.

    xvfb-run -s "-screen 0 1400x900x24" python docs/make_screenshots.py [--fake-models]

Imports the bundled demo export into a temp data dir (real embedder unless
--fake-models), opens the main window at 1280×800, drives each pane into a
representative state and saves docs/screenshots/<pane>.png (plus the source view and
the dark theme).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fake-models", action="store_true")
    args = ap.parse_args()
    os.environ["SECONDME_UI_NO_DIALOGS"] = "1"
    from PySide6.QtCore import QEventLoop, QSettings
    from PySide6.QtWidgets import QApplication

    from secondme_ui.theme import apply_theme
    from secondme_ui.window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    tmp = Path(tempfile.mkdtemp(prefix="secondme-shots-"))
    from secondme.service import SecondMe
    from secondme_ui.demo import DEMO_ALIASES, DEMO_ME

    kw = {}
    if args.fake_models:
        from secondme.models.embed import HashEmbedder
        kw["embedder"] = HashEmbedder()
    sm = SecondMe(tmp / "home", **kw)
    sm.update_settings(me_name=DEMO_ME, me_aliases=list(DEMO_ALIASES))
    apply_theme(app, "light")
    w = MainWindow(sm, qsettings=QSettings(str(tmp / "qs.ini"), QSettings.Format.IniFormat),
                   onboarding=False, warm_up=False)
    w.resize(1280, 800)
    w.show()
    OUT.mkdir(parents=True, exist_ok=True)

    def spin(cond=lambda: True, timeout=60.0, settle=0.4):
        end = time.time() + timeout
        loop = QEventLoop()
        while time.time() < end and not (cond() and w.runner.busy == 0):
            loop.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        end = time.time() + settle
        while time.time() < end:
            loop.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)

    def shot(name, widget=None):
        spin()
        (widget or w).grab().save(str(OUT / f"{name}.png"))
        print("saved", OUT / f"{name}.png")

    # Import: the demo export, through the pane ("Try with demo data"), then memories form
    imp = w.show_pane("import")
    imp.import_demo()
    spin(lambda: imp.report is not None, 300)
    spin(lambda: w.runner.running("extract") is None, 600)
    shot("import")

    # Chat: two questions, with cited sources
    chat = w.show_pane("chat")
    done = []
    chat.answer_finished.connect(lambda: done.append(1))
    chat.ask("When is Anna getting married?")
    spin(lambda: len(done) >= 1, 120)
    chat.ask("What is Biscuit scared of?")
    spin(lambda: len(done) >= 2, 120)
    chat.refresh_history()
    shot("chat")
    # the source of the first citation
    t = chat.turns[0]
    if t.citations:
        chat.open_citation(t.citations[0])
        spin(lambda: w.source_dialog.view is not None)
        shot("source", w.source_dialog)
        w.source_dialog.hide()

    # Memories: search + a note open in the editor
    mem = w.show_pane("memories")
    mem.search.setText("Biscuit")
    mem.apply_filters()
    spin(lambda: mem.model.rowCount() > 0)
    if mem.model.rowCount():
        mem.table.selectRow(0)
        spin(lambda: mem.detail.detail is not None)
    shot("memories")

    # Graph: around the person Anna
    graph = w.show_pane("graph")
    people = [e for e in sm.list_entities(kind="person", limit=50) if e.name == "Anna Rivera"]
    if people:
        graph.depth.setValue(1)
        graph.set_centre(("entity", people[0].id))
    spin(lambda: graph.layout_data is not None and (not people or any(
        n["centre"] and n["ref"] == ("entity", people[0].id)
        for n in graph.layout_data["nodes"])))
    shot("graph")

    # Timeline with a selected range
    tl = w.show_pane("timeline")
    spin(lambda: len(tl.view.buckets) > 0)
    n = len(tl.view.buckets)
    busiest = max(range(n), key=lambda i: tl.view.buckets[i].messages)
    tl.view.select(max(0, busiest - 2), min(n - 1, busiest + 2))
    shot("timeline")

    # Activity after a job ran
    act = w.show_pane("activity")
    sm.run_job("decay")
    spin(lambda: act.tree.topLevelItemCount() > 0, settle=1.5)
    shot("activity")

    # Settings
    w.show_pane("settings")
    shot("settings")

    # Dark theme
    apply_theme(app, "dark")
    w.show_pane("chat")
    shot("chat-dark")
    apply_theme(app, "light")
    w.shutdown()
    sm.close()


if __name__ == "__main__":
    main()
