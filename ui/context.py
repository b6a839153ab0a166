"""What every pane gets: the service, the runner, the hook bridge and the window's actions.

Panes talk to the core only through ``ctx.sm`` (a :class:`secondme.service.SecondMe`)
and only off the GUI thread (``ctx.runner``). Service methods that this build does not
have yet are detected with :func:`has`, and the pane shows an honest "not available in
this build" state instead of failing.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional

from PySide6.QtCore import QCoreApplication, QObject, Signal

HOOK_NAMES = ("notes_did_change", "import_did_finish", "job_did_progress", "job_did_finish",
              "index_did_change", "settings_did_change")


def has(sm: Any, name: str) -> bool:
    """True when the service in this build provides the method ``name``."""
    return callable(getattr(sm, name, None))


def get(obj: Any, *names: str, default: Any = None) -> Any:
    """The first of ``names`` present on a dataclass/object or dict ``obj``.

    The service returns plain dataclasses; a few nested values are dicts (sources).
    """
    if obj is None:
        return default
    for n in names:
        if isinstance(obj, dict):
            if n in obj and obj[n] is not None:
                return obj[n]
        else:
            v = getattr(obj, n, None)
            if v is not None:
                return v
    return default


def as_dict(obj: Any) -> dict:
    if isinstance(obj, dict):
        return obj
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    return dict(getattr(obj, "__dict__", {}))


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

    def __init__(self, sm: Any, parent: QObject | None = None):
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
    provided by the window (or by a pane's standalone demo harness).
    """

    def __init__(self, sm: Any, runner: Any, bridge: HookBridge):
        self.sm = sm
        self.runner = runner
        self.bridge = bridge
        self.open_source: Callable[[str, Any], None] = lambda kind, id: None
        self.open_note: Callable[[Any], None] = lambda id: None
        self.show_pane: Callable[[str], None] = lambda name: None
        self.filter_memories: Callable[..., None] = lambda **kw: None
        self.show_graph: Callable[..., None] = lambda **kw: None
        self.show_error: Callable[[str], None] = lambda msg: None
        self.show_status: Callable[[str], None] = lambda msg: None
        self.window: Optional[Any] = None

    def has(self, name: str) -> bool:
        return has(self.sm, name)
