"""Undo and redo the way desktop apps do it: Ctrl+Z / Ctrl+Shift+Z over the person's own
changes in this session — memory edits, merges, deletes, pins, archives, links, new
memories.

Every change a pane makes goes through :meth:`ChangeStack.run`: the worker notes the
history's mark, makes the change and asks the service which history rows it recorded
(``history_mark`` / ``history_since``), so the stack holds the change's own history ids.
Undo calls ``sm.undo`` on them (newest first), redo calls ``sm.redo`` (oldest first);
both run on the runner's serial worker like any write. A new change clears the redo
side. A change that can no longer be undone (the memory changed again since, or it was
undone from its Versions tab) is dropped with a message that says so.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Optional

from PySide6.QtCore import QObject, Signal

from .render import problem_words

if TYPE_CHECKING:
    from secondme.service import SecondMe

    from .runner import OpRunner


@dataclass
class Change:
    """One change the person made: what to call it and the history rows it recorded."""

    label: str                       # "edit of “Biscuit is a beagle…”"
    history_ids: list[int] = field(default_factory=list)


def quote(text: str, n: int = 40) -> str:
    """“The first words of a memory…” for messages."""
    s = " ".join((text or "").split())
    return "“" + (s if len(s) <= n else s[:n - 1].rstrip() + "…") + "”"


class ChangeStack(QObject):
    """The window's undo/redo stacks. ``changed`` fires when what can be undone or
    redone changes; ``message(text)`` says what was undone or why it could not be."""

    changed = Signal()
    message = Signal(str)

    def __init__(self, sm: SecondMe, runner: OpRunner, parent: QObject | None = None):
        super().__init__(parent if parent is not None else runner)
        self.sm = sm
        self.runner = runner
        self.undo_stack: list[Change] = []
        self.redo_stack: list[Change] = []
        self._busy = False

    # -- recording -----------------------------------------------------------------------
    def run(self, fn: Callable[[SecondMe], Any], label: str, *,
            on_success: Optional[Callable[[Any], None]] = None,
            on_error: Optional[Callable[[BaseException], Any]] = None,
            key: Optional[str] = None) -> None:
        """Make a change (``fn(sm)`` on the serial worker) and put it on the undo stack.
        ``label`` names it in the Edit menu: "Undo " + label."""
        sm = self.sm

        def work(progress, cancel):
            mark = sm.history_mark()
            result = fn(sm)
            return result, [h.id for h in sm.history_since(mark)]

        def done(out: tuple[Any, list[int]]) -> None:
            result, ids = out
            if ids:
                self.undo_stack.append(Change(label, ids))
                self.redo_stack.clear()
                self.changed.emit()
            if on_success is not None:
                on_success(result)

        self.runner.run(work, key=key, serial=True, on_success=done, on_error=on_error)

    # -- undo and redo -------------------------------------------------------------------
    @property
    def can_undo(self) -> bool:
        return bool(self.undo_stack) and not self._busy

    @property
    def can_redo(self) -> bool:
        return bool(self.redo_stack) and not self._busy

    def undo_text(self) -> str:
        return f"Undo {self.undo_stack[-1].label}" if self.undo_stack else "Nothing to undo"

    def redo_text(self) -> str:
        return f"Redo {self.redo_stack[-1].label}" if self.redo_stack else "Nothing to redo"

    def undo(self) -> None:
        """Undo the person's latest change (Ctrl+Z)."""
        if not self.can_undo:
            if not self.undo_stack:
                self.message.emit("Nothing to undo.")
            return
        change = self.undo_stack.pop()
        sm, ids = self.sm, list(change.history_ids)

        def work(progress, cancel):
            for hid in reversed(ids):
                sm.undo(hid)

        self._start(work, change, self.redo_stack, "Undone", "undo")

    def redo(self) -> None:
        """Do the latest undone change again (Ctrl+Shift+Z)."""
        if not self.can_redo:
            if not self.redo_stack:
                self.message.emit("Nothing to redo.")
            return
        change = self.redo_stack.pop()
        sm, ids = self.sm, list(change.history_ids)

        def work(progress, cancel):
            for hid in ids:
                sm.redo(hid)

        self._start(work, change, self.undo_stack, "Done again", "redo")

    def _start(self, work, change: Change, then: list[Change], done_word: str,
               verb: str) -> None:
        self._busy = True
        self.changed.emit()

        def ok(_r) -> None:
            then.append(change)
            self.message.emit(f"{done_word}: {change.label}.")

        def failed(e: BaseException) -> bool:
            # in words: a memory gone since is said without its id, a bug without Python
            self.message.emit(f"Cannot {verb} the {change.label}: {problem_words(e)}.")
            return False

        def finished() -> None:
            self._busy = False
            self.changed.emit()

        self.runner.run(work, key=f"change-{verb}", serial=True, on_success=ok,
                        on_error=failed, on_done=finished)
