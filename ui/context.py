"""What every pane gets: the service, the runner, the hook bridge and the window's actions.

Panes talk to the core only through ``ctx.sm`` (a :class:`secondme.service.SecondMe`,
whose every method always exists) and only off the GUI thread (``ctx.runner``). What the
service returns are the dataclasses of :mod:`secondme.api`, read by their real fields.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Optional

from PySide6.QtCore import QCoreApplication, QObject, Signal

if TYPE_CHECKING:  # the window imports this before the core is loaded (first paint)
    from secondme.service import SecondMe

    from .runner import OpRunner

HOOK_NAMES = ("notes_did_change", "import_did_finish", "job_did_progress", "job_did_finish",
              "index_did_change", "settings_did_change")


class _Outlet:
    """What the core's hook list holds: plain Python, emptied when the bridge closes.

    A worker thread emitting a hook reaches the bridge's signal only through here, and
    the bridge always has a Qt parent, so a worker can never be the one to destroy it.
    """

    def __init__(self, emit: Callable[[str, object], None]):
        self.emit: Optional[Callable[[str, object], None]] = emit

    def forwarder(self, name: str) -> Callable[..., None]:
        def forward(**payload: Any) -> None:
            emit = self.emit
            if emit is None:
                return
            try:
                emit(name, payload)
            except RuntimeError:  # the bridge is gone (window closed)
                pass
        return forward


class HookBridge(QObject):
    """Forwards the core's hooks (emitted on any thread) to the GUI thread as a signal.

    ``fired(name, payload)``: the connection is queued because this object lives on the
    GUI thread, so listeners always run there. Without a ``parent`` the application
    owns it; ``close()`` unsubscribes and deletes it on the GUI thread.
    """

    fired = Signal(str, object)

    def __init__(self, sm: SecondMe, parent: QObject | None = None):
        super().__init__(parent if parent is not None else QCoreApplication.instance())
        self._outlet = _Outlet(self.fired.emit)
        self._disconnect: list[Callable[[], None]] = [
            sm.hooks.connect(name, self._outlet.forwarder(name)) for name in HOOK_NAMES]

    def close(self) -> None:
        self._outlet.emit = None
        for d in self._disconnect:
            d()
        self._disconnect.clear()
        self.deleteLater()


class AppContext:
    """Shared by the panes of one window.

    ``open_source(kind, id)``, ``open_note(id)``, ``show_pane(name)``,
    ``filter_memories(**filters)``, ``show_error(msg)``, ``show_status(msg)`` are
    provided by the window (or by a pane's standalone demo harness). ``changes`` is the
    undo/redo stack every change a person makes goes through (:mod:`.changes`).
    """

    def __init__(self, sm: SecondMe, runner: OpRunner, bridge: HookBridge):
        from .changes import ChangeStack

        self.sm = sm
        self.runner = runner
        self.bridge = bridge
        self.changes = ChangeStack(sm, runner)  # the person's changes: Ctrl+Z / Ctrl+Shift+Z
        self.open_source: Callable[[str, int], None] = lambda kind, id: None
        self.open_note: Callable[[int], None] = lambda id: None
        self.show_pane: Callable[[str], None] = lambda name: None
        self.filter_memories: Callable[..., None] = lambda **kw: None
        self.show_graph: Callable[..., None] = lambda **kw: None
        self.show_error: Callable[[str], None] = lambda msg: None
        self.show_status: Callable[[str], None] = lambda msg: None
