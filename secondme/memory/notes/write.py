"""Writing notes, their sources, slots, entity mentions and links, with their history.

Every function takes a connection that is inside a write transaction
(``with store.write() as db: f(db.conn, ...)``); none commits. Functions that change a
note record it in ``history`` (see :func:`record` for the row's shape); the few that do
not say so and why (``set_fields`` and ``set_slot`` are the pieces of a recorded change;
``set_retention`` and ``strengthen`` are decay's and recall's bookkeeping, which the
``reinforcements`` table and the formula explain).
"""
from __future__ import annotations

import json
import sqlite3
from contextlib import contextmanager
from typing import Any, Iterable, Iterator, Optional

from ...errors import InvalidInput, NotFound
from .rows import NOTE_COLUMNS, SNAPSHOT_SQL, note_hash, now_iso, require_note, snapshot

SYMMETRIC_LINKS = ("related", "same_entity")
_SOURCE_COLUMNS = {"message": "message_id", "chunk": "chunk_id", "note": "source_note_id"}


# -- history --------------------------------------------------------------------------
def record(conn: sqlite3.Connection, note_id: int, action: str, before: Optional[dict],
           after: Optional[dict], actor: str = "system", at: Optional[str] = None,
           detail: Optional[dict] = None) -> int:
    """Append a history row; returns its id.

    ``before`` / ``after``: the note's snapshot (:mod:`.rows`) before and after the
    change, None when it did not / no longer exists. ``detail``: what undoing ``action``
    needs beyond the snapshots (``{"link": …}``, ``{"merged": …}``, ``{"links_added": …}``,
    ``{"reason": …}``), stored as ``after["detail"]``.
    """
    if detail:
        if after is None:
            raise ValueError(f"history detail of {action!r} needs the note's snapshot after")
        after = {**after, "detail": detail}
    return conn.execute(
        "insert into history (note_id, action, before, after, actor, at) values (?,?,?,?,?,?)",
        [note_id, action, json.dumps(before) if before is not None else None,
         json.dumps(after) if after is not None else None, actor, at or now_iso()]).lastrowid


class Change:
    """A change in progress (see :func:`recorded`): fill ``detail``; ``history_id`` is
    set when the block ends."""

    def __init__(self, before: dict):
        self.before = before
        self.detail: dict[str, Any] = {}
        self.history_id: Optional[int] = None


@contextmanager
def recorded(conn: sqlite3.Connection, note_id: int, action: str, actor: str = "system", *,
             at: Optional[str] = None) -> Iterator[Change]:
    """Snapshot the note, run the block, snapshot it again and record ``action``.

    Raises NotFound when the note does not exist. Nothing is recorded when the block
    raises (the enclosing transaction rolls its writes back).
    """
    before = snapshot(conn, note_id)
    if before is None:
        raise NotFound(f"note {note_id} does not exist", item="memory")
    change = Change(before)
    yield change
    change.history_id = record(conn, note_id, action, before, snapshot(conn, note_id), actor,
                               at, change.detail)


# -- columns, sources, slot, mentions -------------------------------------------------
def set_fields(conn: sqlite3.Connection, note_id: int, **fields: Any) -> None:
    """Set columns of a note (``content_hash`` follows ``text``). Not recorded: call it
    inside :func:`recorded`."""
    unknown = set(fields) - set(NOTE_COLUMNS) - {"id"}
    if unknown:
        raise ValueError(f"not columns of notes: {sorted(unknown)}")
    if "text" in fields:
        fields["content_hash"] = note_hash(fields["text"])
    if fields:
        sets = ", ".join(f"{k} = ?" for k in fields)
        conn.execute(f"update notes set {sets} where id = ?", [*fields.values(), note_id])


def set_slot(conn: sqlite3.Connection, note_id: int,
             slot: Optional[tuple[str, str, str]]) -> None:
    """Replace the note's (subject, attribute, value) slot; None removes it. Not recorded."""
    conn.execute("delete from note_slots where note_id = ?", [note_id])
    if slot:
        conn.execute("insert into note_slots (note_id, subject, attribute, value) "
                     "values (?,?,?,?)", [note_id, *slot])


def add_sources(conn: sqlite3.Connection, note_id: int,
                sources: Iterable[tuple[str, int]]) -> int:
    """Attach sources ("message"|"chunk"|"note", id) to a note; returns how many were new."""
    n = 0
    for kind, sid in sources:
        col = _SOURCE_COLUMNS[kind]
        cur = conn.execute(f"insert or ignore into note_sources (note_id, {col}) values (?, ?)",
                           [note_id, int(sid)])
        n += cur.rowcount
    return n


def replace_sources(conn: sqlite3.Connection, note_id: int,
                    sources: Iterable[tuple[str, int]]) -> None:
    """Make ``sources`` (in this order, without the note itself) the note's only ones."""
    conn.execute("delete from note_sources where note_id = ?", [note_id])
    add_sources(conn, note_id, [(k, i) for k, i in dict.fromkeys(sources)
                                if not (k == "note" and i == note_id)])


def add_mentions(conn: sqlite3.Connection, note_id: int, entity_ids: Iterable[int]) -> None:
    """Record that the note mentions these entities (existing mentions are kept)."""
    conn.executemany("insert or ignore into entity_mentions (entity_id, note_id) values (?, ?)",
                     [(eid, note_id) for eid in dict.fromkeys(entity_ids)])


# -- notes ----------------------------------------------------------------------------
def insert_note(conn: sqlite3.Connection, *, text: str, sources: list[tuple[str, int]],
                kind: str = "fact", fact_type: str = "", keywords: str = "", tags: str = "",
                context: str = "", valid_from: Optional[str] = None,
                valid_to: Optional[str] = None, origin: str = "extract",
                confidence: float = 1.0, strength: float = 1.0, at: Optional[str] = None,
                slot: Optional[tuple[str, str, str]] = None,
                entity_ids: Iterable[int] = (), actor: str = "system",
                user_edited: bool = False, note_id: Optional[int] = None) -> int:
    """Insert a note with its sources, slot and mentions, and record ``create``.

    ``at`` is its ``created_at`` / ``updated_at`` (default: now). Raises InvalidInput
    for empty text, and for a fact without ``sources``: no provenance, no fact (a note
    the person wrote, a summary or the profile may rest on nothing or on notes).
    """
    if not text or not text.strip():
        raise InvalidInput("a note needs some text")
    if not sources and kind == "fact":
        raise InvalidInput("a note needs at least one source message, chunk or note")
    at = at or now_iso()
    cols = ["kind", "fact_type", "text", "keywords", "tags", "context", "valid_from",
            "valid_to", "created_at", "updated_at", "strength", "origin", "confidence",
            "user_edited", "content_hash"]
    vals = [kind, fact_type, text.strip(), keywords, tags, context, valid_from, valid_to, at,
            at, strength, origin, confidence, int(user_edited), note_hash(text)]
    if note_id is not None:
        cols.insert(0, "id")
        vals.insert(0, note_id)
    nid = conn.execute(f"insert into notes ({', '.join(cols)}) values "
                       f"({', '.join('?' * len(cols))})", vals).lastrowid
    add_sources(conn, nid, sources)
    if slot:
        set_slot(conn, nid, slot)
    # a set's order, as formation has always written them (the order of the mention rows
    # decides which same_entity links a new note gets first)
    add_mentions(conn, nid, set(entity_ids))
    record(conn, nid, "create", None, snapshot(conn, nid), actor, at)
    return nid


def update_note(conn: sqlite3.Connection, note_id: int, action: str, actor: str = "system",
                *, sources: Iterable[tuple[str, int]] = (), slot: Any = "keep",
                detail: Optional[dict] = None, at: Optional[str] = None,
                **fields: Any) -> int:
    """Change columns of a note (and add sources), recording ``action`` in history.

    ``slot``: "keep", None (remove) or a (subject, attribute, value) tuple; ``detail``:
    see :func:`record`. ``updated_at`` becomes ``at`` (default now) unless ``fields``
    name it. Returns the history id. Raises NotFound.
    """
    with recorded(conn, note_id, action, actor, at=at) as change:
        fields.setdefault("updated_at", at or now_iso())
        set_fields(conn, note_id, **fields)
        add_sources(conn, note_id, sources)
        if slot != "keep":
            set_slot(conn, note_id, slot)
        change.detail.update(detail or {})
    return change.history_id


def delete_note(conn: sqlite3.Connection, note_id: int, actor: str = "user",
                action: str = "delete", at: Optional[str] = None) -> int:
    """Delete a note, keeping its full snapshot in history. Returns the history id."""
    before = snapshot(conn, note_id)
    if before is None:
        raise NotFound(f"note {note_id} does not exist", item="memory")
    hid = record(conn, note_id, action, before, None, actor, at)
    conn.execute("delete from notes where id = ?", [note_id])
    return hid


def restore(conn: sqlite3.Connection, snap: dict, *, links: bool = False) -> None:
    """Put a note back exactly as in ``snap`` (re-creating it if it was deleted): its
    columns, sources, slot and mentions; with ``links`` (a deleted or merged-away note:
    its links went with it) also its links, where both ends still exist. Links made or
    removed since are left alone. Not recorded: ``undo`` records."""
    row = snap["note"]
    nid = row["id"]
    exists = conn.execute("select 1 from notes where id = ?", [nid]).fetchone()
    if exists:
        sets = ", ".join(f"{c} = ?" for c in NOTE_COLUMNS if c != "id")
        conn.execute(f"update notes set {sets} where id = ?",
                     [row[c] for c in NOTE_COLUMNS if c != "id"] + [nid])
    else:
        conn.execute(f"insert into notes ({', '.join(NOTE_COLUMNS)}) values "
                     f"({', '.join('?' * len(NOTE_COLUMNS))})", [row[c] for c in NOTE_COLUMNS])
    conn.execute("delete from note_sources where note_id = ?", [nid])
    for m, c, s in snap["sources"]:
        # a source deleted meanwhile (privacy) is not brought back
        try:
            conn.execute("insert or ignore into note_sources (note_id, message_id, chunk_id, "
                         "source_note_id) values (?,?,?,?)", [nid, m, c, s])
        except sqlite3.IntegrityError:
            pass
    set_slot(conn, nid, snap["slot"])
    conn.execute("delete from entity_mentions where note_id = ?", [nid])
    for eid in snap["mentions"]:
        conn.execute("insert or ignore into entity_mentions (entity_id, note_id) select ?, ? "
                     "where exists (select 1 from entities where id = ?)", [eid, nid, eid])
    if links:
        add_links_back(conn, snap["links"])


# -- links ----------------------------------------------------------------------------
def ordered_link(a: int, b: int, kind: str) -> tuple[int, int]:
    """(src, dst) as stored: symmetric kinds with the smaller id first."""
    return (min(a, b), max(a, b)) if kind in SYMMETRIC_LINKS else (a, b)


def link_exists(conn: sqlite3.Connection, a: int, b: int, kind: str) -> bool:
    a, b = ordered_link(a, b, kind)
    return conn.execute("select 1 from links where src_id = ? and dst_id = ? and kind = ?",
                        [a, b, kind]).fetchone() is not None


def add_link(conn: sqlite3.Connection, a: int, b: int, kind: str, weight: float,
             created_by: str = "auto") -> bool:
    """Insert a link (symmetric kinds are stored with the smaller id first).

    An existing link keeps the higher weight; a user link is never downgraded to auto.
    Returns True when a link row was written or updated.
    """
    if a == b:
        return False
    a, b = ordered_link(a, b, kind)
    cur = conn.execute(
        "insert into links (src_id, dst_id, kind, weight, created_by, created_at) "
        "values (?,?,?,?,?,?) on conflict(src_id, dst_id, kind) do update set "
        "weight = max(weight, excluded.weight), "
        "created_by = case when links.created_by = 'user' then 'user' else excluded.created_by end",
        [a, b, kind, float(weight), created_by, now_iso()])
    return cur.rowcount > 0


def ensure_link(conn: sqlite3.Connection, src: int, dst: int, kind: str, at: str,
                created_by: str = "auto") -> bool:
    """Add the link ``src → dst`` of weight 1 unless one exists (left as it is).
    Returns True when it is new."""
    return conn.execute("insert or ignore into links (src_id, dst_id, kind, created_by, "
                        "created_at) values (?, ?, ?, ?, ?)",
                        [src, dst, kind, created_by, at]).rowcount > 0


def replace_auto_links(conn: sqlite3.Connection, dst: int, kind: str, srcs: Iterable[int],
                       at: str) -> list[list]:
    """Make ``srcs`` the automatic ``kind`` links into ``dst`` (links a person made stay).
    Returns the links added, ``[src, dst, kind]`` each."""
    conn.execute("delete from links where dst_id = ? and kind = ? and created_by = 'auto'",
                 [dst, kind])
    return [[s, dst, kind] for s in dict.fromkeys(srcs)
            if s != dst and ensure_link(conn, s, dst, kind, at)]


def remove_links(conn: sqlite3.Connection, links: Iterable[list], *,
                 keep_user: bool = True) -> None:
    """Delete links given as ``[src, dst, kind]`` (those a person made stay unless
    ``keep_user`` is False)."""
    guard = " and created_by != 'user'" if keep_user else ""
    for src, dst, kind in links:
        conn.execute("delete from links where src_id = ? and dst_id = ? and kind = ?" + guard,
                     [src, dst, kind])


def add_links_back(conn: sqlite3.Connection, links: Iterable[list]) -> None:
    """Re-insert links as stored in a snapshot, where both ends still exist."""
    for src, dst, kind, weight, by, at in links:
        conn.execute("insert or ignore into links (src_id, dst_id, kind, weight, created_by, "
                     "created_at) select ?,?,?,?,?,? where exists (select 1 from notes where "
                     "id = ?) and exists (select 1 from notes where id = ?)",
                     [src, dst, kind, weight, by, at, src, dst])


def link_notes(conn: sqlite3.Connection, a: int, b: int, kind: str,
               at: Optional[str] = None) -> int:
    """Link two notes as the person (``created_by='user'``: never removed automatically;
    an existing link of that kind becomes theirs). Records ``link`` on ``a``; returns
    the history id. Raises NotFound."""
    require_note(conn, b)
    with recorded(conn, a, "link", "user", at=at) as change:
        add_link(conn, a, b, kind, 1.0, "user")
        conn.execute("update links set created_by = 'user', weight = max(weight, 1.0) where "
                     "((src_id = ? and dst_id = ?) or (src_id = ? and dst_id = ?)) and kind = ?",
                     [a, b, b, a, kind])
        change.detail["link"] = [a, b, kind]
    return change.history_id


def unlink_notes(conn: sqlite3.Connection, a: int, b: int, kind: Optional[str] = None,
                 at: Optional[str] = None) -> list[list]:
    """Remove the links between two notes (of ``kind``, or all) as the person. Records
    ``unlink`` on ``a``; returns the removed links. Raises NotFound when none exist."""
    q = ("select src_id, dst_id, kind, weight, created_by, created_at from links where "
         "((src_id = ? and dst_id = ?) or (src_id = ? and dst_id = ?))")
    args: list[Any] = [a, b, b, a]
    if kind:
        q += " and kind = ?"
        args.append(kind)
    removed = [list(r) for r in conn.execute(q, args)]
    if not removed:
        raise NotFound(f"notes {a} and {b} are not linked" + (f" as {kind}" if kind else ""),
                       item="link")
    with recorded(conn, a, "unlink", "user", at=at) as change:
        remove_links(conn, [r[:3] for r in removed], keep_user=False)
        change.detail["links"] = removed
    return removed


# -- many notes at once (decay, reinforcement) ----------------------------------------
def _id_table(conn: sqlite3.Connection, ids: Iterable[int]) -> str:
    conn.execute("create temp table if not exists _note_ids (id integer primary key)")
    conn.execute("delete from _note_ids")
    conn.executemany("insert or ignore into _note_ids (id) values (?)", [(int(i),) for i in ids])
    return "_note_ids"


def set_retention(conn: sqlite3.Connection, pairs: list[tuple[float, int]]) -> None:
    """Set ``retention`` of many notes, ``(retention, note_id)`` pairs, in one set-based
    UPDATE. Not recorded: retention is recomputed from the other columns every day."""
    conn.execute("create temp table if not exists _note_retention "
                 "(id integer primary key, r real)")
    conn.execute("delete from _note_retention")
    conn.executemany("insert into _note_retention (r, id) values (?, ?)", pairs)
    conn.execute("update notes set retention = _note_retention.r from _note_retention "
                 "where notes.id = _note_retention.id")


def set_archived_many(conn: sqlite3.Connection, ids: Iterable[int], archived: bool, *,
                      action: str, actor: str, at: str, reason: str) -> None:
    """Archive (or bring back) many notes, each with a history row (snapshots built by
    SQLite, set-based; ``detail.reason`` says why). ``updated_at`` is left alone: being
    archived does not restart a note's fading."""
    table = _id_table(conn, ids)
    conn.execute(
        f"with s as materialized (select n.id as id, {SNAPSHOT_SQL} as snap from notes n "
        f"join {table} t on t.id = n.id order by n.id) "
        "insert into history (note_id, action, before, after, actor, at) "
        "select id, ?, snap, json_set(snap, '$.note.archived', ?, '$.detail', "
        "json_object('reason', ?)), ?, ? from s order by id",
        [action, int(archived), reason, actor, at])
    conn.execute(f"update notes set archived = ? where id in (select id from {table})",
                 [int(archived)])


def strengthen(conn: sqlite3.Connection, ids: Iterable[int], *, at: str,
               reason: str) -> list[int]:
    """S += 1, last recalled = ``at``, retention = 1 for the notes among ``ids`` that
    exist, each with a ``reinforcements`` row (which explains the strength; not recorded
    in history). Returns those notes' ids."""
    ids = list(ids)
    done: list[int] = []
    for start in range(0, len(ids), 500):
        part = ids[start:start + 500]
        q = ",".join("?" * len(part))
        existing = [r[0] for r in conn.execute(f"select id from notes where id in ({q})", part)]
        if not existing:
            continue
        q = ",".join("?" * len(existing))
        conn.execute(f"update notes set strength = strength + 1, last_recalled = ?, "
                     f"retention = 1.0 where id in ({q})", [at, *existing])
        conn.executemany("insert into reinforcements (note_id, at, reason) values (?, ?, ?)",
                         [(i, at, reason) for i in existing])
        done += existing
    return done


def purge_notes(conn: sqlite3.Connection, ids_sql: str) -> int:
    """Remove the notes ``ids_sql`` selects *and their history*, leaving no trace (the
    privacy engine's "forget"; every other removal keeps a snapshot in history). Links,
    sources, slots and mentions go with them (foreign-key cascades). Returns how many."""
    conn.execute(f"delete from history where note_id in ({ids_sql})")
    return conn.execute(f"delete from notes where id in ({ids_sql})").rowcount
