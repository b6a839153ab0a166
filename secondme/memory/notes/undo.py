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
another: undo the merge first); link, unlink, undo and redo rows do not count as changes
for that rule.

:func:`redo` does an undone change again (the app's Ctrl+Shift+Z): the change's own row
becomes "not undone" again — so it can be undone again by the same id — and a ``redo``
row records it. Nothing may have changed the note since the undo.

The messages are written for people: they never show ids (the CLI's ``notes history``
lists them).
"""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from ...errors import InvalidInput, NotFound
from .rows import note_row, snapshot
from .write import add_link, add_links_back, record, remove_links, restore

_NOT_A_VERSION = "('undo', 'redo', 'link', 'unlink')"


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
            raise InvalidInput("this change was recorded by an older version of secondme "
                               "and cannot be undone")
        return value

    def detail(self, key: str) -> Any:
        value = (self.after or {}).get("detail", {}).get(key)
        if value is None:
            raise InvalidInput("this change was recorded by an older version of secondme "
                               "and cannot be undone")
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
        raise NotFound("that change is not in the history")
    return Entry(r[0], r[1], r[2], json.loads(r[3]) if r[3] else None,
                 json.loads(r[4]) if r[4] else None), bool(r[5])


def _refuse_if_changed_later(conn: sqlite3.Connection, note_id: int, history_id: int) -> None:
    later = conn.execute(
        "select id, action, after from history where note_id = ? and id > ? and undone = 0 "
        f"and action not in {_NOT_A_VERSION} order by id desc limit 1",
        [note_id, history_id]).fetchone()
    if later and later[1] == "merged_into":
        raise InvalidInput("this memory was merged into another one later: undo that merge "
                           "first (in the history of the memory it was merged into)")
    if later:
        raise InvalidInput("this memory changed again later: undo the later change first")


def _create(conn: sqlite3.Connection, e: Entry, current: Optional[dict]) -> Undone:
    if current is None:
        raise InvalidInput("this memory no longer exists")
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
        raise InvalidInput("this change was already undone")
    if e.action in ("undo", "redo"):
        raise InvalidInput(f"an {e.action} cannot be undone itself: "
                           + ("redo the change instead" if e.action == "undo"
                              else "undo the change again instead"))
    if e.action == "merged_into":
        e.detail("into")
        raise InvalidInput("this memory was merged into another one: undo that merge (in "
                           "the history of the memory it was merged into)")
    if e.action not in ("link", "unlink"):
        _refuse_if_changed_later(conn, e.note_id, e.id)
    current = snapshot(conn, e.note_id)
    done = _BY_ACTION.get(e.action, _restore)(conn, e, current)
    conn.execute("update history set undone = 1 where id = ?", [e.id])
    record(conn, e.note_id, "undo", current, snapshot(conn, e.note_id), actor, at)
    return done


# -- redo -----------------------------------------------------------------------------------
def _redo_create(conn: sqlite3.Connection, e: Entry) -> list[int]:
    if e.after is None or "note" not in e.after:
        raise InvalidInput("this change was recorded by an older version of secondme and "
                           "cannot be done again")
    restore(conn, e.after, links=True)
    return [e.note_id]


def _redo_delete(conn: sqlite3.Connection, e: Entry) -> list[int]:
    conn.execute("delete from notes where id = ?", [e.note_id])
    return [e.note_id]


def _redo_link(conn: sqlite3.Connection, e: Entry) -> list[int]:
    src, dst, kind = e.detail("link")
    if not conn.execute("select 1 from notes where id = ?", [dst]).fetchone():
        raise InvalidInput("the other memory of this link no longer exists")
    add_link(conn, src, dst, kind, 1.0, "user")
    conn.execute("update links set created_by = 'user', weight = max(weight, 1.0) where "
                 "((src_id = ? and dst_id = ?) or (src_id = ? and dst_id = ?)) and kind = ?",
                 [src, dst, dst, src, kind])
    return [e.note_id, dst]


def _redo_unlink(conn: sqlite3.Connection, e: Entry) -> list[int]:
    removed = e.detail("links")
    remove_links(conn, [r[:3] for r in removed], keep_user=False)
    return list(dict.fromkeys([e.note_id, *(r[0] for r in removed), *(r[1] for r in removed)]))


def _redo_merge(conn: sqlite3.Connection, e: Entry) -> list[int]:
    absorbed = [_entry(conn, hid)[0] for hid in e.detail("merged_history")]
    for a in absorbed:
        _refuse_if_changed_later(conn, a.note_id, a.id)
    restore(conn, _after_snapshot(e), links=True)
    touched = [e.note_id]
    for a in absorbed:  # merged away again: archived, no links, no mentions
        restore(conn, _after_snapshot(a))
        conn.execute("delete from links where src_id = ? or dst_id = ?", [a.note_id, a.note_id])
        conn.execute("delete from entity_mentions where note_id = ?", [a.note_id])
        conn.execute("update history set undone = 0 where id = ?", [a.id])
        touched.append(a.note_id)
    return touched


def _redo_restore(conn: sqlite3.Connection, e: Entry) -> list[int]:
    after = _after_snapshot(e)
    restore(conn, after)
    added = {tuple(x) for x in (e.after or {}).get("detail", {}).get("links_added", [])}
    add_links_back(conn, [link for link in after["links"] if tuple(link[:3]) in added])
    return [e.note_id]


def _after_snapshot(e: Entry) -> dict:
    if not isinstance(e.after, dict) or "note" not in e.after:
        raise InvalidInput("this change was recorded by an older version of secondme and "
                           "cannot be done again")
    return e.after


_REDO_BY_ACTION: dict[str, Callable[[sqlite3.Connection, Entry], list[int]]] = {
    "create": _redo_create, "delete": _redo_delete, "link": _redo_link,
    "unlink": _redo_unlink, "merge": _redo_merge,
}


def redo(conn: sqlite3.Connection, history_id: int, *, actor: str = "user",
         at: Optional[str] = None) -> Undone:
    """Do history entry ``history_id`` again after it was undone (inside a write
    transaction): its row is marked not undone (so it can be undone again) and a
    ``redo`` row records it. Refused when the change is not undone, is an undo or a
    redo, or the note changed since. Raises NotFound / InvalidInput."""
    e, undone = _entry(conn, history_id)
    if e.action in ("undo", "redo", "merged_into"):
        raise InvalidInput("only a change that was undone can be done again")
    if not undone:
        raise InvalidInput("this change is not undone, so there is nothing to redo")
    if e.action not in ("link", "unlink"):
        _refuse_if_changed_later(conn, e.note_id, e.id)
    current = snapshot(conn, e.note_id)
    if current is None and e.action != "create":
        raise InvalidInput("this memory no longer exists")
    touched = _REDO_BY_ACTION.get(e.action, _redo_restore)(conn, e)
    conn.execute("update history set undone = 0 where id = ?", [e.id])
    after = snapshot(conn, e.note_id)
    record(conn, e.note_id, "redo", current, after, actor, at,
           {"redid": e.id} if after is not None else None)
    return Undone(note_row(conn, e.note_id) or (current or {}).get("note")
                  or (e.before or {}).get("note"), touched)
