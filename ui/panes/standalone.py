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
from typing import Any, Callable, Optional


def demo_service(home: Optional[str] = None, *, fake_models: bool = False, llm: Any = None):
    """A SecondMe on ``home`` (a temp dir by default) with the demo export imported and
    memories formed. Used by the standalone panes, the screenshots and the benchmarks."""
    from secondme.service import SecondMe

    from ..assets import demo_export_path
    from ..demo import DEMO_ALIASES, DEMO_ME

    home = home or tempfile.mkdtemp(prefix="secondme-demo-")
    kw: dict[str, Any] = {}
    if fake_models:
        from secondme.models.embed import HashEmbedder
        kw["embedder"] = HashEmbedder()
    if llm is not None:
        kw["llm"] = llm
    sm = SecondMe(home, **kw)
    if not sm.settings.me_name:
        sm.update_settings(me_name=DEMO_ME, me_aliases=list(DEMO_ALIASES))
    if callable(getattr(sm, "import_paths", None)):
        sm.import_paths([str(demo_export_path())], me=DEMO_ME)
    if callable(getattr(sm, "run_extract", None)):
        sm.run_extract()
    elif callable(getattr(sm, "run_job", None)):
        sm.run_job("extract")
    try:
        sm.index_pending()
    except Exception:
        pass
    return sm


def run_pane(cls: type, title: str, *, demo_data: bool = True,
             after: Optional[Callable[[Any], None]] = None, argv=None) -> int:
    ap = argparse.ArgumentParser(description=f"The {title} pane on its own")
    ap.add_argument("--demo", action="store_true", help="a temp data dir with the demo export")
    ap.add_argument("--home", help="an existing data directory")
    ap.add_argument("--fake-models", action="store_true", help="hash embedder (fast start)")
    args = ap.parse_args(argv)
    from PySide6.QtWidgets import QApplication

    from secondme.service import SecondMe

    from ..context import AppContext, HookBridge
    from ..dialogs.source import SourceDialog
    from ..runner import OpRunner
    from ..theme import apply_theme

    app = QApplication.instance() or QApplication(sys.argv[:1])
    if args.demo or not args.home:
        sm = demo_service(args.home, fake_models=args.fake_models) if (demo_data or args.demo) \
            else SecondMe(args.home or tempfile.mkdtemp(prefix="secondme-"))
    else:
        kw = {}
        if args.fake_models:
            from secondme.models.embed import HashEmbedder
            kw["embedder"] = HashEmbedder()
        sm = SecondMe(args.home, **kw)
    apply_theme(app, sm.settings.theme)
    runner = OpRunner(log_path=sm.home / "logs" / "secondme.log")
    bridge = HookBridge(sm)
    ctx = AppContext(sm, runner, bridge)
    src = SourceDialog(ctx)
    ctx.open_source = src.open_source
    runner.error_shown.connect(lambda m: print("error:", m, file=sys.stderr))
    pane = cls(ctx)
    bridge.fired.connect(lambda n, p: getattr(pane, "on_hook", lambda *a: None)(n, p))
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
