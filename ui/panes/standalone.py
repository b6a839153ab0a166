"""Start one pane on its own, with demo data, for development and screenshots.

    python -m secondme_ui.panes.chat --demo            # temp data dir + the demo export
    python -m secondme_ui.panes.memories --home DIR    # an existing data dir
    ... --fake-models                                  # hash embedder: starts in a second
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from typing import TYPE_CHECKING, Any, Callable, Optional

if TYPE_CHECKING:
    from secondme.service import SecondMe


def open_service(home: Optional[str] = None, *, fake_models: bool = False,
                 **kwargs: Any) -> SecondMe:
    """A SecondMe on ``home`` (a temp dir by default); with ``fake_models`` on the hash
    embedder, which starts in a second (search quality is not real)."""
    from secondme.service import SecondMe

    home = home or tempfile.mkdtemp(prefix="secondme-")
    if fake_models:
        return SecondMe.with_fake_models(home, **kwargs)
    return SecondMe(home, **kwargs)


def demo_service(home: Optional[str] = None, *, fake_models: bool = False,
                 llm: Any = None) -> SecondMe:
    """A SecondMe on ``home`` (a temp dir by default) with the demo export imported,
    memories formed and everything indexed. Used by the standalone panes, the
    screenshots, the benchmarks and the UI tests."""
    from ..assets import demo_export_path
    from ..demo import DEMO_ALIASES, DEMO_ME

    home = home or tempfile.mkdtemp(prefix="secondme-demo-")
    sm = open_service(home, fake_models=fake_models, **({} if llm is None else {"llm": llm}))
    if not sm.settings.me_name:
        sm.update_settings(me_name=DEMO_ME, me_aliases=list(DEMO_ALIASES))
    sm.import_paths([str(demo_export_path())], me=DEMO_ME)
    sm.run_extract()
    sm.index_pending()
    return sm


def run_pane(cls: type, title: str, *, demo_data: bool = True,
             after: Optional[Callable[[Any], None]] = None, argv=None) -> int:
    ap = argparse.ArgumentParser(description=f"The {title} pane on its own")
    ap.add_argument("--demo", action="store_true", help="a temp data dir with the demo export")
    ap.add_argument("--home", help="an existing data directory")
    ap.add_argument("--fake-models", action="store_true", help="hash embedder (fast start)")
    args = ap.parse_args(argv)
    from PySide6.QtWidgets import QApplication

    from ..context import AppContext, HookBridge
    from ..dialogs.source import SourceDialog
    from ..runner import OpRunner
    from ..theme import apply_theme

    app = QApplication.instance() or QApplication(sys.argv[:1])
    if args.demo or (not args.home and demo_data):
        sm = demo_service(args.home, fake_models=args.fake_models)
    else:
        sm = open_service(args.home, fake_models=args.fake_models)
    apply_theme(app, sm.settings.theme)
    runner = OpRunner(log_path=sm.home / "logs" / "secondme.log")
    bridge = HookBridge(sm)
    ctx = AppContext(sm, runner, bridge)
    src = SourceDialog(ctx)
    ctx.open_source = src.open_source
    runner.error_shown.connect(lambda m: print("error:", m, file=sys.stderr))
    pane = cls(ctx)
    bridge.fired.connect(pane.on_hook)  # every pane has one
    pane.setWindowTitle(f"secondme — {title}")
    pane.resize(1100, 720)
    pane.show()
    if after is not None:
        after(pane)
    if os.environ.get("SECONDME_UI_PANE_SMOKE"):  # tests: start, run briefly, quit
        from PySide6.QtCore import QTimer
        QTimer.singleShot(int(os.environ["SECONDME_UI_PANE_SMOKE"]), app.quit)
    code = app.exec()
    runner.shutdown()
    bridge.close()
    sm.close()
    return code
