"""The one undo: revert one recorded change, whoever made it.

What undoing means is decided by the recorded ``action`` (never by which keys the stored
JSON happens to have):

=============== ==========================================================================
action          undo
=============== ==========================================================================
create          delete the note (its snapshot stays in the ``undo`` row)
delete          put it back from ``before``, its links included
merge           put the survivor back from ``before``, drop the links the merge made,
                bring every merged note back from its ``merged_into`` row
link / unlink   remove / re-add the links in ``detail`` (allowed out of order: a link
                is not a version of the note)
merged_into     refused: undo the survivor's ``merge``
undo            refused
anything else   put the note back from ``before`` (its links as they are now) and drop
                the automatic links the change made (``detail.links_added``): edit,
                pin, unpin, archive, unarchive, reinforce, version, invalidate,
                consolidate, …
=============== ==========================================================================

Only a note's latest change can be undone (undo later ones first; a note merged into
another: undo the merge first); link, unlink and undo rows do not count as changes for
that rule.
"""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from ...errors import InvalidInput, NotFound
from .rows import note_row, snapshot
from .write import add_links_back, record, remove_links, restore

_NOT_A_VERSION = "('undo', 'link', 'unlink')"


@dataclass
class Entry:
    """One history row, its snapshots read."""

    id: int
    note_id: int
    action: str
    before: Optional[dict]
    after: Optional[dict]

    def before_snapshot(self) -> dict:
        """``before``, checked to be a snapshot."""
        value = self.before
        if not isinstance(value, dict) or "note" not in value:
            raise InvalidInput(f"history entry {self.id} ({self.action}) has no snapshot to "
                               "restore (it was recorded by an older version)")
        return value

    def detail(self, key: str) -> Any:
        value = (self.after or {}).get("detail", {}).get(key)
        if value is None:
            raise InvalidInput(f"history entry {self.id} ({self.action}) does not say what "
                               "to undo (it was recorded by an older version)")
        return value


@dataclass
class Undone:
    """What an undo did: the note's row afterwards (for an undone creation: as it was),
    and every note it touched."""

    note: Optional[dict]
    touched: list[int] = field(default_factory=list)


def _entry(conn: sqlite3.Connection, history_id: int) -> tuple[Entry, bool]:
    r = conn.execute("select id, note_id, action, before, after, undone from history "
                     "where id = ?", [history_id]).fetchone()
    if r is None:
        raise NotFound(f"history entry {history_id} does not exist")
    return Entry(r[0], r[1], r[2], json.loads(r[3]) if r[3] else None,
                 json.loads(r[4]) if r[4] else None), bool(r[5])


def _refuse_if_changed_later(conn: sqlite3.Connection, note_id: int, history_id: int) -> None:
    later = conn.execute(
        "select id, action, after from history where note_id = ? and id > ? and undone = 0 "
        f"and action not in {_NOT_A_VERSION} order by id desc limit 1",
        [note_id, history_id]).fetchone()
    if later and later[1] == "merged_into":
        into = json.loads(later[2])["detail"]["into"]
        raise InvalidInput(f"note {note_id} was merged into note {into} later: undo that "
                           f"merge first (in the history of note {into})")
    if later:
        raise InvalidInput(f"note {note_id} changed again later: undo history entry "
                           f"{later[0]} first")


def _create(conn: sqlite3.Connection, e: Entry, current: Optional[dict]) -> Undone:
    if current is None:
        raise InvalidInput(f"note {e.note_id} no longer exists")
    conn.execute("delete from notes where id = ?", [e.note_id])
    return Undone(current["note"], [e.note_id])


def _link(conn: sqlite3.Connection, e: Entry, current: Optional[dict]) -> Undone:
    src, dst, kind = e.detail("link")
    conn.execute("delete from links where ((src_id = ? and dst_id = ?) or (src_id = ? "
                 "and dst_id = ?)) and kind = ?", [src, dst, dst, src, kind])
    return Undone(note_row(conn, e.note_id) or (current or {}).get("note"), [e.note_id, dst])


def _unlink(conn: sqlite3.Connection, e: Entry, current: Optional[dict]) -> Undone:
    add_links_back(conn, e.detail("links"))
    return Undone(note_row(conn, e.note_id), [e.note_id])


def _merge(conn: sqlite3.Connection, e: Entry, current: Optional[dict]) -> Undone:
    absorbed = [_entry(conn, hid)[0] for hid in e.detail("merged_history")]
    for a in absorbed:
        _refuse_if_changed_later(conn, a.note_id, a.id)
    restore(conn, e.before_snapshot())
    remove_links(conn, e.detail("links_added"), keep_user=False)
    touched = [e.note_id]
    for a in absorbed:
        restore(conn, a.before_snapshot(), links=True)
        conn.execute("update history set undone = 1 where id = ?", [a.id])
        touched.append(a.note_id)
    return Undone(note_row(conn, e.note_id), touched)


def _delete(conn: sqlite3.Connection, e: Entry, current: Optional[dict]) -> Undone:
    restore(conn, e.before_snapshot(), links=True)
    return Undone(note_row(conn, e.note_id), [e.note_id])


def _restore(conn: sqlite3.Connection, e: Entry, current: Optional[dict]) -> Undone:
    restore(conn, e.before_snapshot())
    remove_links(conn, (e.after or {}).get("detail", {}).get("links_added", []))
    return Undone(note_row(conn, e.note_id), [e.note_id])


_BY_ACTION: dict[str, Callable[[sqlite3.Connection, Entry, Optional[dict]], Undone]] = {
    "create": _create, "delete": _delete, "link": _link, "unlink": _unlink, "merge": _merge,
}


def undo(conn: sqlite3.Connection, history_id: int, *, actor: str = "user",
         at: Optional[str] = None) -> Undone:
    """Undo history entry ``history_id`` (inside a write transaction), mark it undone and
    record an ``undo`` row. Raises NotFound / InvalidInput (already undone, not
    undoable, or a later change of the note must be undone first)."""
    e, undone = _entry(conn, history_id)
    if undone:
        raise InvalidInput(f"history entry {e.id} was already undone")
    if e.action == "undo":
        raise InvalidInput(f"history entry {e.id} (undo) cannot be undone itself")
    if e.action == "merged_into":
        into = e.detail("into")
        raise InvalidInput(f"note {e.note_id} was merged into note {into}: undo that merge "
                           f"(in the history of note {into})")
    if e.action not in ("link", "unlink"):
        _refuse_if_changed_later(conn, e.note_id, e.id)
    current = snapshot(conn, e.note_id)
    done = _BY_ACTION.get(e.action, _restore)(conn, e, current)
    conn.execute("update history set undone = 1 where id = ?", [e.id])
    record(conn, e.note_id, "undo", current, snapshot(conn, e.note_id), actor, at)
    return done
