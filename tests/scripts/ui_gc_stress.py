"""One trial of the worker-thread garbage-collection stress (issue 19).

Many imports, memory formations and searches run through the OpRunner while the GUI
thread keeps creating and dropping widgets caught in reference cycles, and every worker
function forces ``gc.collect()`` before, during (from its progress callback) and after
its work. Before the fix a worker's collection finalised those widgets off the GUI thread
and the process died (SIGSEGV/SIGABRT) or froze (a worker destroying a window waits for
the GUI thread, which waits for the worker); with the GUI-thread collection policy it must
finish with no error and no deadlock and exit 0.

    python tests/scripts/ui_gc_stress.py [--ops N] [--no-policy]

Prints one JSON line with what ran. ``--no-policy`` leaves Python's default collector in
place, to reproduce the crash.
"""
from __future__ import annotations

import argparse
import faulthandler
import gc
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
WAIT_MS = 15000  # a wait for the workers longer than this is counted as a deadlock


def export_file(d: Path, n: int, conversations: int = 3, messages: int = 40) -> Path:
    convs = [{"id": f"t{n}c{c}", "title": f"Trial chat {n}.{c}",
              "participants": ["Sam Rivera", "Bo"],
              "messages": [{"id": f"t{n}c{c}m{i}", "speaker": "Bo" if i % 2 else "Sam Rivera",
                            "timestamp": f"2024-0{1 + c % 9}-1{i % 10}T10:{i % 60:02d}:00+00:00",
                            "text": f"I moved to Lisbon in March {2000 + n % 20} and my sister "
                                    f"Ana works at the bakery on street {i}, chat {c}"}
                           for i in range(messages)]} for c in range(conversations)]
    p = d / f"export-{n}.json"
    p.write_text(json.dumps({"conversations": convs}), encoding="utf-8")
    return p


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ops", type=int, default=90, help="background ops to run")
    ap.add_argument("--no-policy", action="store_true", help="keep Python's default collector")
    ap.add_argument("--seconds", type=float, default=240, help="give up after this long")
    args = ap.parse_args(argv)
    faulthandler.enable()

    from PySide6.QtCore import QObject, QTimer, Signal
    from PySide6.QtWidgets import QApplication, QLabel, QPushButton, QVBoxLayout, QWidget

    from secondme.service import SecondMe
    from secondme_ui import gc_policy
    from secondme_ui.runner import OpRunner

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setQuitOnLastWindowClosed(False)  # the dropped windows close all the time
    if not args.no_policy:
        gc_policy.install(app)

    def clicked() -> None:
        pass

    class Cyclic(QWidget):
        """A parentless widget that holds itself (Python references only, so the cycle is
        garbage the moment the GUI drops it; a slot lambda on self would be held by C++)."""

        def __init__(self, n: int):
            super().__init__()
            self.me = self
            lay = QVBoxLayout(self)
            self.label = QLabel(f"widget {n}", self)
            self.button = QPushButton("go", self)
            self.button.clicked.connect(clicked)
            lay.addWidget(self.label)
            lay.addWidget(self.button)
            self.on_done = lambda: self.update()

    class Pinger(QObject):
        ping = Signal()

        def __init__(self):
            super().__init__()
            self.ping.connect(clicked)
            self.cycle = [self]

    tmp = Path(tempfile.mkdtemp(prefix="secondme-gc-stress-"))
    sm = SecondMe.with_fake_models(tmp / "home")
    sm.update_settings(me_name="Sam Rivera")
    runner = OpRunner(log_path=tmp / "log.txt")
    stats = {"ops_started": 0, "ops_done": 0, "errors": [], "widgets_dropped": 0, "waits": 0,
             "deadlocks": 0, "longest_wait_s": 0.0}
    errors = stats["errors"]
    runner.error_shown.connect(errors.append)

    def collecting(fn):
        def work(progress, cancel):
            gc.collect()

            def prog(p):
                gc.collect(0)
                progress(p)

            out = fn(prog, cancel)
            gc.collect()
            return out
        return work

    def start_op() -> None:
        n = stats["ops_started"]
        if n >= args.ops:
            return
        stats["ops_started"] += 1
        kind = n % 3
        if kind == 0:
            path = export_file(tmp, n)
            fn = collecting(lambda p, c: sm.import_paths([path], progress=p, cancel=c))
            serial = True
        elif kind == 1:
            fn = collecting(lambda p, c: sm.run_extract(progress=p, cancel=c))
            serial = True
        else:
            fn = collecting(lambda p, c: sm.search("where does Ana work", k=5))
            serial = False
        runner.run(fn, serial=serial, on_done=op_done)

    def op_done() -> None:
        stats["ops_done"] += 1
        if stats["ops_done"] >= args.ops:
            app.quit()

    def churn() -> None:
        # widgets and QObjects in reference cycles, shown and dropped on the GUI thread
        for i in range(6):
            w = Cyclic(i)
            w.show()  # a real native window: destroying it off the GUI thread blocks
            if i % 2:
                w.hide()
            Pinger().ping.emit()
            stats["widgets_dropped"] += 1
        if runner.busy < 2:  # a short queue, so that a long wait can only mean a deadlock
            start_op()
        # the GUI thread sometimes waits for its workers, as closing the window does, just
        # after dropping windows; a worker that destroyed one of them meanwhile would wait
        # for the GUI thread, which waits for the worker: a deadlock
        stats["waits"] += 1
        if stats["waits"] % 5 == 0:
            for i in range(3):
                Cyclic(i).show()
            runner.run(collecting(lambda p, c: None))
            t = time.monotonic()
            if not runner.wait_idle(WAIT_MS):
                stats["deadlocks"] += 1
            stats["longest_wait_s"] = max(stats["longest_wait_s"],
                                          round(time.monotonic() - t, 2))

    timer = QTimer()
    timer.timeout.connect(churn)
    timer.start(15)
    QTimer.singleShot(int(args.seconds * 1000), app.quit)
    t0 = time.monotonic()
    app.exec()
    timer.stop()
    runner.shutdown(20000)
    sm.close()
    col = gc_policy.current()
    stats["seconds"] = round(time.monotonic() - t0, 1)
    stats["policy"] = not args.no_policy
    if col is not None:
        stats["worker_collections_deferred"] = col.policy.deferred
        stats["gui_collections"] = col.policy.collections
    print(json.dumps(stats), flush=True)
    ok = stats["ops_done"] >= args.ops and not errors and not stats["deadlocks"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
