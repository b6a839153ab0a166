"""A person's first session, clicked through with the mouse and keys under a real X
server and window manager, with screenshots of what they see (issue 16 item 5).

    apt-get install -y xvfb openbox xdotool imagemagick fonts-noto-color-emoji
    python docs/click_through.py [--fake-models] [--out docs/screenshots/walkthrough]

What it does:

0. starts Xvfb (1400×900) and openbox, launches ``python -m secondme --home NEW`` — the
   real launcher — and waits for its window and the welcome dialog (``00-launch.png``);
   then quits it;
1. opens the app window in this process on the same display (so that the script can
   ask where each button is) and from there on drives it **only with X input events
   from xdotool** — mouse moves, clicks, double-clicks, right-clicks, typed text and
   key presses go through the X server and the window manager like a person's:
   onboarding → "Try with demo data" → the import → a question in Chat → a citation
   → Memories (search, edit, Save, Ctrl+Z, Ctrl+Shift+Z, merge with its dialog, the
   Edit menu's Undo) → Graph (find a person, double-click to centre, right-click →
   Link to the centre, Ctrl+Z) → the dark theme from the View menu → Timeline,
   Activity, Settings (the wheel over the Theme box);
2. saves a full-screen PNG after each step (``NN-step.png``) and checks what the step
   should have done (the service's state and the panes'), failing loudly if not.

The process's own exit code says whether every step did what it should.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots" / "walkthrough"
SCREEN = (1400, 900)


# -- the X server, the window manager, xdotool ---------------------------------------------
def start_display() -> tuple[str, list[subprocess.Popen]]:
    """Xvfb on a free display number and openbox on it."""
    for n in range(61, 99):
        if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists():
            break
    display = f":{n}"
    xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24",
                             "-nolisten", "tcp", "-dpi", "96"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        if Path(f"/tmp/.X11-unix/X{n}").exists():
            break
        time.sleep(0.1)
    env = {**os.environ, "DISPLAY": display}
    wm = subprocess.Popen(["openbox", "--sm-disable"], env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    # a plain desktop colour, so the window stands out in the screenshots
    if shutil.which("xsetroot"):
        subprocess.run(["xsetroot", "-solid", "#5b6b7a"], env=env, check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return display, [wm, xvfb]


def xdo(*args: str) -> str:
    res = subprocess.run(["xdotool", *args], capture_output=True, text=True, timeout=30)
    return res.stdout.strip()


def click(x: int, y: int, button: int = 1, double: bool = False) -> None:
    xdo("mousemove", "--sync", str(x), str(y))
    time.sleep(0.15)
    if double:
        xdo("click", "--repeat", "2", "--delay", "90", str(button))
    else:
        xdo("click", str(button))
    time.sleep(0.3)


def key(*keys: str) -> None:
    xdo("key", "--clearmodifiers", *keys)
    time.sleep(0.3)


def type_text(text: str) -> None:
    xdo("type", "--delay", "25", text)
    time.sleep(0.3)


def screenshot(path: Path) -> None:
    subprocess.run(["import", "-window", "root", str(path)], check=True, timeout=60)
    print("saved", path, flush=True)


# -- asking the GUI thread (where things are, what they show) ------------------------------
class GuiCall:
    """Runs functions on the GUI thread for the driver thread and returns plain data."""

    def __init__(self):
        from PySide6.QtCore import QObject, Qt, Signal

        class _Relay(QObject):
            call = Signal(object)

        self.relay = _Relay()
        self.relay.call.connect(self._run, Qt.ConnectionType.QueuedConnection)

    @staticmethod
    def _run(box) -> None:
        fn, done, out = box
        try:
            out.append(("ok", fn()))
        except BaseException as e:  # noqa: BLE001 - carried to the driver thread
            out.append(("error", e))
        finally:
            done.set()

    def __call__(self, fn: Callable[[], Any], timeout: float = 60) -> Any:
        done, out = threading.Event(), []
        self.relay.call.emit((fn, done, out))
        if not done.wait(timeout):
            raise TimeoutError("the GUI did not answer")
        kind, value = out[0]
        if kind == "error":
            raise value
        return value


def centre_of(widget, rect=None) -> tuple[int, int]:
    """Global screen coordinates of ``widget``'s centre (or of ``rect`` inside it)."""
    r = rect if rect is not None else widget.rect()
    p = widget.mapToGlobal(r.center())
    return p.x(), p.y()


def popup_open() -> bool:
    from PySide6.QtWidgets import QApplication

    return QApplication.activePopupWidget() is not None


def node_pos(g, key: str) -> tuple[int, int]:
    """Screen coordinates of a graph node."""
    p = g.view.viewport().mapToGlobal(g.view.mapFromScene(g.view.items_by_key[key].pos()))
    return p.x(), p.y()


class Walk:
    """The scenario. Runs on a driver thread; the Qt event loop runs on the main one."""

    def __init__(self, w, sm_box: list, out: Path, gui: GuiCall):
        self.w = w
        self.sm_box = sm_box
        self.out = out
        self.gui = gui
        self.n = 1  # 00-launch.png is the launcher's
        self.failures: list[str] = []
        self.notes: list[str] = []

    # -- helpers -----------------------------------------------------------------------
    def wait(self, cond: Callable[[], bool], timeout: float = 120, what: str = "") -> None:
        end = time.time() + timeout
        while time.time() < end:
            try:
                if self.gui(cond):
                    return
            except Exception:  # noqa: BLE001 - not ready yet
                pass
            time.sleep(0.25)
        raise AssertionError(f"timed out waiting for {what or cond}")

    def idle(self, timeout: float = 600) -> None:
        self.wait(lambda: self.w.runner.busy == 0, timeout, "the app to finish its work")
        time.sleep(0.4)

    def shot(self, name: str) -> None:
        time.sleep(0.5)
        screenshot(self.out / f"{self.n:02d}-{name}.png")
        self.n += 1

    def check(self, ok: bool, what: str) -> None:
        print(("ok    " if ok else "FAIL  ") + what, flush=True)
        if not ok:
            self.failures.append(what)

    def at(self, fn: Callable[[], Any]) -> tuple[int, int]:
        return self.gui(fn)

    def sidebar(self, label: str) -> None:
        from secondme_ui.window import PANES

        row = [lab for _k, lab in PANES].index(label)

        def where():
            sb = self.w.sidebar
            return centre_of(sb, sb.visualItemRect(sb.item(row)))
        click(*self.at(where))

    def menu(self, title: str, *items: str) -> None:
        """Open a menu of the menu bar with the mouse and click through ``items``."""
        def bar_pos():
            bar = self.w.menuBar()
            act = next(a for a in bar.actions() if a.text().replace("&", "") == title)
            return centre_of(bar, bar.actionGeometry(act))
        click(*self.at(bar_pos))
        for item in items:
            def item_pos(item=item):
                from PySide6.QtWidgets import QApplication, QMenu
                menu = QApplication.activePopupWidget()
                assert isinstance(menu, QMenu)
                act = next(a for a in menu.actions() if a.text().startswith(item))
                return centre_of(menu, menu.actionGeometry(act))
            self.wait(popup_open, 10, "a menu")
            click(*self.at(item_pos))

    @property
    def sm(self):
        return self.sm_box[0]

    # -- the session -------------------------------------------------------------------
    def run(self) -> None:
        steps = [self.onboarding, self.import_demo, self.ask, self.memories, self.undo,
                 self.merge, self.graph, self.dark, self.other_panes]
        for step in steps:
            try:
                step()
            except Exception as e:  # noqa: BLE001 - record, screenshot, go on
                traceback.print_exc()
                self.failures.append(f"{step.__name__}: {e}")
                try:
                    self.shot(f"failed-{step.__name__}")
                    key("Escape")
                except Exception:  # noqa: BLE001
                    pass

    def onboarding(self) -> None:
        w = self.w
        self.wait(lambda: w.onboarding_dialog is not None and w.onboarding_dialog.isVisible(),
                  180, "the welcome dialog")
        click(*self.at(lambda: centre_of(w.onboarding_dialog.name)))
        type_text("Sam Rivera")
        self.shot("welcome")
        click(*self.at(lambda: centre_of(w.onboarding_dialog.demo_button)))
        self.wait(lambda: w.current_pane == "import", 30, "the Import pane")

    def import_demo(self) -> None:
        w = self.w
        imp = w.panes["import"]
        self.wait(lambda: imp.report is not None, 900, "the demo import")
        self.shot("import-done")
        self.check(self.gui(lambda: sum(s.messages_added for s in imp.report.sources)) > 500,
                   "the demo export imported (> 500 messages)")
        # saved by a serial op of the runner: wait for it (and say how long it took)
        t0 = time.time()
        try:
            self.wait(lambda: self.sm.settings.me_name == "Sam Rivera", 30, "the name")
            saved = True
        except AssertionError:
            saved = False
        self.check(saved, f"the name typed in the welcome dialog was saved "
                          f"({time.time() - t0:.1f} s after the import finished)")
        # memories form in the background (the scheduler runs the extract job)
        self.wait(lambda: len(self.sm.list_notes(limit=5)) > 0, 1800, "memories to form")
        self.wait(lambda: not any(j.running for j in self.sm.jobs_list()
                                  if j.name == "extract"), 1800, "memory formation")
        self.idle()
        self.sidebar("Activity")
        self.shot("activity-after-import")

    def ask(self) -> None:
        w = self.w
        self.sidebar("Chat")
        chat = w.panes["chat"]
        click(*self.at(lambda: centre_of(chat.input)))
        type_text("When is Anna getting married?")
        key("Return")
        self.wait(lambda: chat.turns and chat.turns[-1].state != "streaming", 300,
                  "the answer")
        self.idle()
        self.shot("chat-answer")
        turn = self.gui(lambda: (chat.turns[-1].answer, [c.n for c in chat.turns[-1].citations]))
        self.check(bool(turn[1]), f"the answer cites its sources: {turn[0]!r}")

        def marker_pos():
            import re

            from PySide6.QtGui import QTextDocument
            doc = chat.transcript.document()
            m = re.search(r"\[(\d+)\]", chat.turns[-1].answer)
            cur = doc.find(m.group(0), 0, QTextDocument.FindFlag(0))
            r = chat.transcript.cursorRect(cur)
            return centre_of(chat.transcript.viewport(), r.adjusted(-4, 0, -4, 0))
        if turn[1]:
            click(*self.at(marker_pos))
            dlg = w.source_dialog
            self.wait(lambda: dlg.isVisible() and dlg.view is not None, 60, "the source")
            self.shot("citation-opens-the-message")
            self.check(self.gui(lambda: "#fff3b0" in dlg.browser.toHtml().lower()),
                       "the cited message is highlighted in its conversation")
            key("Escape")

    def memories(self) -> None:
        w = self.w
        self.sidebar("Memories")
        mem = w.panes["memories"]
        click(*self.at(lambda: centre_of(mem.search)))
        type_text("Biscuit")
        self.wait(lambda: mem.model.filters.get("query") == "Biscuit"
                  and mem.model.rowCount() > 0, 30, "the search")
        self.idle()

        def first_row():
            t = mem.table
            return centre_of(t.viewport(), t.visualRect(mem.model.index(0, 0)))
        click(*self.at(first_row))
        self.wait(lambda: mem.detail.detail is not None, 30, "the memory in the editor")
        self.idle()
        self.note_id, self.old_text = self.gui(lambda: (mem.detail.note_id,
                                                        mem.detail.detail.note.text))
        self.shot("memories-search")
        click(*self.at(lambda: centre_of(mem.detail.text)))
        key("ctrl+a")
        type_text("Biscuit is a beagle mix who is scared of bicycles and loves cheese.")
        click(*self.at(lambda: centre_of(mem.detail.save_button)))
        self.wait(lambda: self.sm.get_note(self.note_id).note.text.startswith("Biscuit is a"),
                  30, "the edit to be saved")
        self.idle()
        self.shot("memory-edited")

    def undo(self) -> None:
        w = self.w
        mem = w.panes["memories"]
        # Ctrl+Z in a text field undoes the typing; the memory's Ctrl+Z is the window's
        click(*self.at(lambda: centre_of(mem.table.viewport())))
        self.check(self.gui(lambda: w.undo_action.text()).startswith("Undo edit of"),
                   "the Edit menu offers: Undo edit of …")
        key("ctrl+z")
        self.wait(lambda: self.sm.get_note(self.note_id).note.text == self.old_text, 30,
                  "Ctrl+Z to undo the edit")
        self.idle()
        self.shot("ctrl-z-undid-the-edit")
        key("ctrl+shift+z")
        self.wait(lambda: self.sm.get_note(self.note_id).note.text.startswith("Biscuit is a"),
                  30, "Ctrl+Shift+Z to redo it")
        self.idle()
        self.check(True, "Ctrl+Z undid the edit and Ctrl+Shift+Z did it again")

    def merge(self) -> None:
        w = self.w
        mem = w.panes["memories"]
        # a new search: the memories about Lisbon
        click(*self.at(lambda: centre_of(mem.search)))
        key("ctrl+a")
        type_text("Lisbon")
        self.wait(lambda: mem.model.filters.get("query") == "Lisbon"
                  and mem.model.rowCount() >= 2, 30, "two memories in the list")
        self.check(self.gui(lambda: mem.model.row_of(self.note_id) < 0
                            and mem.detail.note_id is None),
                   "the editor no longer shows the memory the new search left out")
        self.idle()

        def row(i):
            t = mem.table
            return centre_of(t.viewport(), t.visualRect(mem.model.index(i, 0)))
        click(*self.at(lambda: row(0)))
        xdo("keydown", "ctrl")
        click(*self.at(lambda: row(1)))
        xdo("keyup", "ctrl")
        ids = self.gui(mem.selected_ids)
        self.check(len(ids) == 2, "two memories selected with Ctrl+click")
        click(*self.at(lambda: centre_of(mem.merge_button)))
        self.wait(lambda: getattr(mem, "merge_dialog", None) is not None
                  and mem.merge_dialog.isVisible(), 20, "the merge dialog")
        self.shot("merge-asks-with-both-texts")
        click(*self.at(lambda: centre_of(mem.merge_dialog.merge_button)))
        self.wait(lambda: any(self.sm.get_note(i).note.archived for i in ids), 30,
                  "the merge")
        self.idle()
        click(*self.at(lambda: centre_of(mem.table.viewport())))
        self.menu("Edit")
        self.shot("edit-menu-undo-merge")
        self.check(self.gui(lambda: w.undo_action.text()).startswith("Undo merge of"),
                   "the Edit menu offers: Undo merge of …")
        self.menu_click_open("Undo merge of")
        self.wait(lambda: not any(self.sm.get_note(i).note.archived for i in ids), 30,
                  "the Edit menu's Undo to undo the merge")
        self.idle()
        self.shot("merge-undone")

    def menu_click_open(self, item: str) -> None:
        def item_pos():
            from PySide6.QtWidgets import QApplication
            menu = QApplication.activePopupWidget()
            act = next(a for a in menu.actions() if a.text().startswith(item))
            return centre_of(menu, menu.actionGeometry(act))
        click(*self.at(item_pos))

    def graph(self) -> None:
        w = self.w
        self.sidebar("Graph")
        g = w.panes["graph"]
        # opened with nothing chosen it centres on the person most memories are about
        self.wait(lambda: g.layout_data is not None, 60, "the graph to open on someone")
        self.idle()
        self.shot("graph-opens")
        anna = self.gui(lambda: next(e.id for e in self.sm.list_entities(kind="person")
                                     if e.name == "Anna Rivera"))
        click(*self.at(lambda: centre_of(g.find)))
        key("ctrl+a")
        type_text("Anna Rivera")
        key("Return")
        self.wait(lambda: g.centre == ("entity", anna) and g.layout_data is not None
                  and any(n["centre"] and n["ref"] == ("entity", anna)
                          for n in g.layout_data["nodes"]), 60, "the graph around Anna")
        self.idle()
        self.shot("graph-around-anna")
        stats = self.gui(lambda: (len(g.layout_data["nodes"]),
                                  len(g.view.visible_label_rects()),
                                  sum(a.intersects(b) for i, a in enumerate(
                                      g.view.visible_label_rects())
                                      for b in g.view.visible_label_rects()[i + 1:])))
        self.check(stats[0] <= 40 and stats[1] <= 40 and stats[2] == 0,
                   f"graph: {stats[0]} nodes, {stats[1]} labels, {stats[2]} overlapping")
        centre_before = self.gui(lambda: g.centre)
        target = self.gui(lambda: next(n["key"] for n in g.layout_data["nodes"]
                                       if n["type"] == "note" and not n["centre"]))
        pos = self.at(lambda: node_pos(g, target))
        click(*pos, double=True)
        self.wait(lambda: g.centre != centre_before and g.layout_data is not None
                  and any(n["centre"] and n["key"] == target for n in g.layout_data["nodes"]),
                  60, "double-click to centre on the memory")
        self.idle()
        self.check(self.gui(lambda: w.current_pane) == "graph",
                   "double-click centred the graph and stayed in the Graph pane")
        self.shot("graph-double-click-centres")
        # right-click a memory → Link to (or Unlink from) the centre → Ctrl+Z
        nodes = self.gui(lambda: [(n["key"], n["ref"], g._linked_to_centre(n["ref"]))
                                  for n in g.layout_data["nodes"]
                                  if n["type"] == "note" and not n["centre"]])
        if not nodes:
            self.notes.append("graph: no other memory shown to link")
            return
        other, ref, linked = next((x for x in nodes if not x[2]), nodes[0])
        a, b = self.gui(lambda: g.centre)[1], ref[1]

        def has_link() -> bool:
            return any(lk.id == b for lk in self.sm.get_note(a).links)
        click(*self.at(lambda: node_pos(g, other)), button=3)
        self.wait(popup_open, 10, "the node's menu")
        self.shot("graph-right-click")
        self.menu_click_open("Unlink from the centre" if linked else "Link to the centre")
        self.wait(lambda: has_link() != linked, 30, "the link to change")
        self.idle()
        self.shot("graph-unlinked" if linked else "graph-linked")
        click(*self.at(lambda: centre_of(g.view.viewport())))
        key("ctrl+z")
        self.wait(lambda: has_link() == linked, 30, "Ctrl+Z to undo it")
        self.idle()
        self.check(True, "Ctrl+Z in the graph undid the " + ("unlink" if linked else "link"))
        self.shot("graph-ctrl-z-undid-it")

    def dark(self) -> None:
        from PySide6.QtWidgets import QApplication

        w = self.w
        self.menu("View", "Theme", "Dark")
        self.wait(lambda: QApplication.instance().property("secondme_theme") == "dark", 30,
                  "the dark theme")
        self.idle()
        self.shot("graph-dark")
        self.sidebar("Chat")
        self.shot("chat-dark")
        self.menu("View", "Theme", "Light")
        self.idle()
        self.check(self.gui(lambda: w.current_pane) == "chat", "the View menu switched themes")

    def other_panes(self) -> None:
        w = self.w
        self.sidebar("Timeline")
        tl = w.panes["timeline"]
        self.wait(lambda: len(tl.view.buckets) > 3, 30, "the timeline")
        r = self.gui(lambda: (tl.view.mapToGlobal(tl.view._plot().toRect().topLeft()).toTuple(),
                              tl.view._plot().width(), tl.view._plot().height()))
        (x0, y0), pw, ph = r
        y = int(y0 + ph * 0.6)
        xdo("mousemove", "--sync", str(int(x0 + pw * 0.25)), str(y))
        xdo("mousedown", "1")
        xdo("mousemove", "--sync", str(int(x0 + pw * 0.6)), str(y))
        xdo("mouseup", "1")
        time.sleep(0.4)
        self.shot("timeline-range")
        counted = self.gui(lambda: tl.selection_label.text())
        click(*self.at(lambda: centre_of(tl.show_button)))
        self.wait(lambda: w.current_pane == "memories", 20, "Show these memories")
        self.idle()
        self.shot("timeline-show-these-memories")
        mem = w.panes["memories"]
        self.check(self.gui(lambda: mem.search.text()) == "",
                   f"Show these memories cleared the old search ({counted})")
        self.sidebar("Settings")
        st = w.panes["settings"]
        self.idle()
        theme = self.gui(lambda: st.theme.currentText())
        pos = self.at(lambda: centre_of(st.theme))
        xdo("mousemove", "--sync", str(pos[0]), str(pos[1]))
        for _ in range(3):
            xdo("click", "5")  # the wheel, down
            time.sleep(0.2)
        self.shot("settings-wheel-scrolls-the-page")
        self.check(self.gui(lambda: st.theme.currentText()) == theme,
                   "the wheel over the Theme box did not change the theme")
        self.check(self.gui(lambda: st.save_button.isVisible()
                            and st.save_button.mapTo(st, st.save_button.rect().bottomLeft())
                            .y() <= st.height()), "Save settings is in view")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fake-models", action="store_true",
                    help="the hash embedder (fast; search quality not real)")
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()
    for tool in ("Xvfb", "openbox", "xdotool", "import"):
        if shutil.which(tool) is None:
            print(f"click_through: {tool} is missing (apt-get install -y xvfb openbox "
                  "xdotool imagemagick)", file=sys.stderr)
            return 1
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.png"):
        old.unlink()
    display, procs = start_display()
    os.environ["DISPLAY"] = display
    if not _alive(procs):
        print("click_through: Xvfb or openbox did not start", file=sys.stderr)
        _stop(procs)
        return 1
    os.environ["QT_QPA_PLATFORM"] = "xcb"
    tmp = Path(tempfile.mkdtemp(prefix="secondme-walk-"))
    os.environ["XDG_CONFIG_HOME"] = str(tmp / "config")  # QSettings of the launched app
    code = 1
    try:
        # 0. the real launcher: `secondme --home NEW` opens the window and the welcome
        app_proc = subprocess.Popen([sys.executable, "-m", "secondme", "--home",
                                     str(tmp / "launch")], env=os.environ.copy())
        found = xdo("search", "--sync", "--onlyvisible", "--name", "Welcome to secondme")
        time.sleep(1.5)
        screenshot(out / "00-launch.png")
        print("ok    `secondme --home NEW` opened its window and the welcome dialog"
              if found else "FAIL  no welcome dialog from the launcher", flush=True)
        app_proc.terminate()
        app_proc.wait(30)
        code = run_walk(tmp, out, args.fake_models) if found else 1
    finally:
        _stop(procs)
    return code


def _alive(procs: list[subprocess.Popen]) -> bool:
    return all(p.poll() is None for p in procs)


def _stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()


def run_walk(tmp: Path, out: Path, fake_models: bool) -> int:
    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from secondme_ui import gc_policy
    from secondme_ui.theme import apply_theme
    from secondme_ui.window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationDisplayName("secondme")
    gc_policy.install(app)
    apply_theme(app, "light")
    kw = {}
    if fake_models:
        from secondme.models.embed import HashEmbedder
        kw["embedder"] = HashEmbedder()
    w = MainWindow(home=str(tmp / "home"), service_kwargs=kw,
                   qsettings=QSettings(str(tmp / "qs.ini"), QSettings.Format.IniFormat))
    w.show()
    gui = GuiCall()
    sm_box: list = []
    w.service_ready.connect(lambda: sm_box.append(w.sm))
    walk = Walk(w, sm_box, out, gui)

    def drive():
        try:
            walk.wait(lambda: bool(sm_box), 300, "the data folder to open")
            walk.run()
        finally:
            gui(lambda: QTimer.singleShot(200, w.quit_app), 30)

    t = threading.Thread(target=drive, name="walk", daemon=True)
    t.start()
    app.exec()
    t.join(30)
    w.shutdown()
    for n in walk.notes:
        print("note  " + n)
    print(f"{walk.n} screenshots in {out}; "
          + ("every step did what it should." if not walk.failures else
             f"{len(walk.failures)} step(s) failed: " + "; ".join(walk.failures)))
    return 0 if not walk.failures else 1


if __name__ == "__main__":
    raise SystemExit(main())
