"""MemoryOps: the memory actions of :class:`secondme.service.SecondMe`.

Browse, read, write, link and undo notes; list entities; a capped graph neighbourhood
for the graph view; run memory formation. Every change is recorded in ``history`` and
announced with the ``notes_did_change(ids, action)`` hook. Plain dataclasses in and out;
errors are :class:`~secondme.errors.SecondMeError` subclasses (NotFound, InvalidInput).

Thread-safety: like the service, callable from any thread; writes are short
transactions through ``store.write()``.
"""
from __future__ import annotations

import json
import logging
import time
from datetime import date, datetime
from typing import Any, Iterable, Optional

from ..api import (
    Entity,
    Graph,
    HistoryEntry,
    Note,
    NoteDetail,
    NoteLink,
    NoteSource,
    NoteVersion,
    QuarantinedWindow,
)
from ..errors import Cancelled, InvalidInput, NotFound
from ..indexing import forget_items, index_notes_now, note_text
from ..progress import CancelToken, ProgressFn, check
from . import graph as G
from . import notes as N
from .quarantine import failures, retry_all
from .text import content_tokens, norm_name, topic_tags
from .text import keywords as pick_keywords

log = logging.getLogger(__name__)


def release_free_memory() -> None:
    """Give the heap's free pages back to the system (glibc ``malloc_trim``; elsewhere
    nothing). Python's small objects and SQLite's buffers come from the C heap, which
    keeps what was freed for reuse: after formation at 20k messages 29 of 240 MB."""
    import ctypes
    import ctypes.util
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):   # musl and others: no malloc_trim
        pass

LINK_KINDS = ("related", "same_entity", "updates", "contradicts", "part_of", "wikilink")
NOTE_KINDS = ("fact", "summary", "profile", "user")


def _split(s: str) -> list[str]:
    return [w for w in (s or "").split() if w]


def _note(row: dict) -> Note:
    return Note(id=row["id"], kind=row["kind"], text=row["text"], fact_type=row["fact_type"],
                keywords=_split(row["keywords"]), tags=_split(row["tags"]),
                context=row["context"], valid_from=row["valid_from"], valid_to=row["valid_to"],
                created_at=row["created_at"], updated_at=row["updated_at"],
                strength=row["strength"], retention=row["retention"],
                last_recalled=row["last_recalled"], pinned=bool(row["pinned"]),
                archived=bool(row["archived"]), version=row["version"],
                user_edited=bool(row["user_edited"]), origin=row["origin"],
                confidence=row["confidence"])


def _day(v: Any) -> Optional[str]:
    if v is None:
        return None
    if isinstance(v, (datetime, date)):
        return v.isoformat()
    return str(v)


def _norm_tags(tags: Iterable[str] | str | None) -> str:
    if tags is None:
        return ""
    if isinstance(tags, str):
        tags = tags.replace(",", " ").split()
    out = []
    for t in tags:
        t = str(t).strip().lstrip("#").replace(" ", "-")
        if t and t not in out:
            out.append(t)
    return " ".join(out)


class MemoryOps:
    """Memory actions of the service (mixed into SecondMe)."""

    # -- reading -----------------------------------------------------------------------
    def list_notes(self, *, kind: Optional[str] = None, tag: Optional[str] = None,
                   person: Optional[str] = None, since: Any = None, until: Any = None,
                   pinned: Optional[bool] = None, archived: Optional[bool] = False,
                   query: Optional[str] = None, limit: int = 100, offset: int = 0,
                   ids: Optional[Iterable[int]] = None) -> list[Note]:
        """Notes matching every filter given, pinned first, then most recently changed.

        ``kind`` fact|summary|profile|user; ``tag`` one tag; ``person`` an entity name or
        alias; ``since``/``until`` bound when a note was true (``valid_from``, else when it
        was learned — as the timeline counts them; dates or ISO strings, inclusive);
        ``archived`` False (default: hide archived), True (only archived) or None (all);
        ``query`` full-text words; ``ids`` only these notes. Raises InvalidInput for a bad
        kind or limit.
        """
        if kind is not None and kind not in NOTE_KINDS:
            raise InvalidInput(f"kind must be one of {', '.join(NOTE_KINDS)}, not {kind!r}")
        if limit < 0 or offset < 0:
            raise InvalidInput("limit and offset must not be negative")
        where, args = [], []
        if kind:
            where.append("n.kind = ?")
            args.append(kind)
        if tag:
            where.append("(' ' || n.tags || ' ') like ?")
            args.append(f"% {tag.strip().lstrip('#')} %")
        if pinned is not None:
            where.append("n.pinned = ?")
            args.append(int(bool(pinned)))
        if archived is not None:
            where.append("n.archived = ?")
            args.append(int(bool(archived)))
        if since is not None:
            where.append("substr(coalesce(n.valid_from, n.created_at), 1, 10) >= ?")
            args.append(_day(since)[:10])
        if until is not None:
            where.append("substr(coalesce(n.valid_from, n.created_at), 1, 10) <= ?")
            args.append(_day(until)[:10])
        if ids is not None:
            wanted = [int(i) for i in ids][:5000]
            if not wanted:
                return []
            where.append(f"n.id in ({','.join('?' * len(wanted))})")
            args += wanted
        if person:
            ids = self._entity_ids_for(person)
            if not ids:
                return []
            where.append(f"n.id in (select note_id from entity_mentions where entity_id in "
                         f"({','.join('?' * len(ids))}) and note_id is not null)")
            args += ids
        if query and query.strip():
            toks = [t.replace('"', "") for t in content_tokens(query)] or \
                [w.replace('"', "") for w in query.split()]
            toks = [t for t in toks if t]
            if toks:
                where.append("n.id in (select rowid from notes_fts where notes_fts match ?)")
                args.append(" ".join(f'"{t}"' for t in toks))
        sql = (f"select {', '.join('n.' + c for c in N.NOTE_COLUMNS)} from notes n"
               + (" where " + " and ".join(where) if where else "")
               + " order by n.pinned desc, n.updated_at desc, n.id desc limit ? offset ?")
        rows = self.store.conn.execute(sql, [*args, int(limit), int(offset)]).fetchall()
        return [_note(dict(zip(N.NOTE_COLUMNS, r))) for r in rows]

    def _entity_ids_for(self, name: str) -> list[int]:
        k = norm_name(name)
        out = []
        for eid, ename, aliases in self.store.conn.execute(
                "select id, name, aliases from entities"):
            names = [ename, *json.loads(aliases or "[]")]
            if any(norm_name(n) == k or norm_name(n).split()[:1] == [k] for n in names):
                out.append(eid)
        return out

    def get_note(self, id: int) -> NoteDetail:
        """A note with its sources, links (both directions), versions and entities.
        Raises NotFound."""
        conn = self.store.conn
        row = N.require_note(conn, id)
        note = _note(row)
        sources: list[NoteSource] = []
        for m_id, c_id, s_id in conn.execute(
                "select message_id, chunk_id, source_note_id from note_sources where note_id = ? "
                "order by rowid", [id]):
            if m_id is not None:
                r = conn.execute(
                    "select m.external_id, m.timestamp, m.speaker, m.text, c.title, c.external_id "
                    "from messages m join conversations c on c.id = m.conversation_id "
                    "where m.id = ?", [m_id]).fetchone()
                if r:
                    sources.append(NoteSource(kind="message", item_id=m_id, message_id=r[0],
                                              timestamp=r[1], speaker=r[2], text=r[3],
                                              conversation=r[4] or r[5], conversation_id=r[5]))
            elif c_id is not None:
                r = conn.execute(
                    "select d.title, d.path, c.page, c.char_start, c.text from chunks c join "
                    "documents d on d.id = c.document_id where c.id = ?", [c_id]).fetchone()
                if r:
                    sources.append(NoteSource(kind="chunk", item_id=c_id,
                                              document=r[0] or r[1], page=r[2], offset=r[3],
                                              text=r[4]))
            else:
                sources.append(NoteSource(kind="note", item_id=s_id, note_id=s_id))
        links = []
        for other, kind, weight, by, direction, text in conn.execute(
                "select l.dst_id, l.kind, l.weight, l.created_by, 'out', n.text from links l "
                "join notes n on n.id = l.dst_id where l.src_id = ? union all "
                "select l.src_id, l.kind, l.weight, l.created_by, 'in', n.text from links l "
                "join notes n on n.id = l.src_id where l.dst_id = ? order by 3 desc", [id, id]):
            links.append(NoteLink(id=other, kind=kind, weight=weight, created_by=by,
                                  direction=direction, text=text))
        versions = []
        for h in self.note_history(id):
            if h.action in ("create", "version", "edit", "merge", "undo", "redo") and h.after:
                nrow = h.after.get("note") if isinstance(h.after, dict) else None
                if nrow:
                    if versions and versions[-1].text == nrow["text"]:
                        continue
                    versions.append(NoteVersion(history_id=h.id, version=nrow["version"],
                                                text=nrow["text"], at=h.at, action=h.action,
                                                actor=h.actor))
        ents = [Entity(id=r[0], kind=r[1], name=r[2], aliases=json.loads(r[3] or "[]"),
                       is_me=bool(r[4]))
                for r in conn.execute(
                    "select e.id, e.kind, e.name, e.aliases, e.is_me from entity_mentions m "
                    "join entities e on e.id = m.entity_id where m.note_id = ?", [id])]
        return NoteDetail(note=note, sources=sources, links=links, versions=versions,
                          entities=ents)

    def note_history(self, id: int) -> list[HistoryEntry]:
        """Every recorded change of note ``id``, oldest first (also after deletion)."""
        rows = self.store.conn.execute(
            "select id, note_id, action, before, after, actor, at, undone from history "
            "where note_id = ? order by id", [id]).fetchall()
        return [HistoryEntry(id=r[0], note_id=r[1], action=r[2],
                             before=json.loads(r[3]) if r[3] else None,
                             after=json.loads(r[4]) if r[4] else None, actor=r[5], at=r[6],
                             undone=bool(r[7])) for r in rows]

    # -- writing -----------------------------------------------------------------------
    def _changed(self, ids: list[int], action: str) -> None:
        self.hooks.emit("notes_did_change", ids=ids, action=action)

    def _forget_vectors(self, ids: list[int]) -> None:
        # the loaded index, if any: dropping vectors must not load the embedding model
        forget_items(self.store, self._vectors, "note", ids)

    def _index_now(self, ids: list[int]) -> None:
        """Notes the person wrote or edited are found by meaning at once when the
        embedding model and the vector index are loaded already (one short text, a few
        ms); otherwise — never loading either for it — the next indexing run embeds them."""
        core: Any = self
        vindex = core._vectors
        if vindex is None or not core.embedder_loaded:
            return
        try:
            index_notes_now(self.store, core.embedder, vindex, ids)
        except Exception:  # noqa: BLE001 - the edit is saved; indexing catches up later
            log.exception("embedding an edited note failed; the next indexing run will")

    def _parse_sources(self, sources: Iterable[Any]) -> list[tuple[str, int]]:
        out = []
        conn = self.store.conn
        for s in sources:
            if isinstance(s, (tuple, list)) and len(s) == 2:
                kind, sid = s
            elif isinstance(s, dict):
                if "kind" in s and "id" in s:
                    kind, sid = s["kind"], s["id"]
                elif "message_id" in s and isinstance(s["message_id"], int):
                    kind, sid = "message", s["message_id"]
                elif "chunk_id" in s:
                    kind, sid = "chunk", s["chunk_id"]
                elif "note_id" in s:
                    kind, sid = "note", s["note_id"]
                else:
                    raise InvalidInput(f"cannot read source {s!r}")
            else:
                raise InvalidInput(f"cannot read source {s!r}: give (kind, id)")
            table = {"message": "messages", "chunk": "chunks", "note": "notes"}.get(kind)
            if table is None:
                raise InvalidInput(f"source kind must be message, chunk or note, not {kind!r}")
            if not conn.execute(f"select 1 from {table} where id = ?", [int(sid)]).fetchone():
                raise NotFound(f"{kind} {sid} does not exist",
                               item={"note": "memory", "chunk": "passage"}.get(kind, kind))
            out.append((kind, int(sid)))
        return out

    def create_note(self, text: str, *, tags: Iterable[str] = (), sources: Iterable[Any] = (),
                    origin: str = "user") -> Note:
        """Write a note by hand (kind ``user``; the person is its author, so sources are
        optional). ``sources``: (kind, id) pairs or {"kind", "id"} dicts. Raises
        InvalidInput for empty text, NotFound for a missing source."""
        if not text or not text.strip():
            raise InvalidInput("a note needs some text")
        srcs = self._parse_sources(sources)
        kw = " ".join(pick_keywords(text, 6))
        tag_s = _norm_tags(list(tags) + [t for t in topic_tags(text) if t not in tags])
        with self.store.write() as db:
            nid = N.insert_note(db.conn, text=text, sources=srcs, kind="user", keywords=kw,
                                tags=tag_s, context="Written by hand",
                                valid_from=self.clock().date().isoformat(), origin=origin,
                                user_edited=True, actor="user")
            row = N.note_row(db.conn, nid)
        self._index_now([nid])
        self._changed([nid], "create")
        return _note(row)

    def edit_note(self, id: int, *, text: Optional[str] = None, tags: Any = None,
                  context: Optional[str] = None) -> Note:
        """Change a note's text, tags or context as the person. Marks it user-edited (later
        extraction never overwrites it), records the old version, and drops its vector so
        that the new text is embedded — at once when the model is loaded, else by the
        next indexing (not for tags or context alone: a note's vector is of its text,
        :data:`~secondme.indexing.NOTE_VECTOR_PARTS`).
        Raises NotFound / InvalidInput."""
        if text is not None and not text.strip():
            raise InvalidInput("a note's text cannot be empty; delete the note instead")
        with self.store.write() as db:
            conn = db.conn
            row = N.require_note(conn, id)
            changes: dict[str, Any] = {"user_edited": 1}
            if text is not None and text.strip() != row["text"]:
                changes["text"] = text.strip()
                changes["version"] = row["version"] + 1
                changes["keywords"] = " ".join(pick_keywords(text, 6))
            if tags is not None:
                changes["tags"] = _norm_tags(tags)
            if context is not None:
                changes["context"] = " ".join(context.split())
            if len(changes) == 1 and row["user_edited"]:
                return _note(row)
            embedded = note_text(row["text"], row["keywords"], row["context"])
            N.update_note(conn, id, "edit", "user", **changes)
            row = N.note_row(conn, id)
        if note_text(row["text"], row["keywords"], row["context"]) != embedded:
            self._forget_vectors([id])
            self._index_now([id])
        self._changed([id], "edit")
        return _note(row)

    def _flag(self, id: int, column: str, value: bool, action: str) -> Note:
        with self.store.write() as db:
            conn = db.conn
            row = N.require_note(conn, id)
            if bool(row[column]) != bool(value):
                N.update_note(conn, id, action, "user", **{column: int(bool(value))})
                row = N.note_row(conn, id)
        self._changed([id], action)
        return _note(row)

    def pin_note(self, id: int, pinned: bool = True) -> Note:
        """Pin (or unpin) a note: pinned notes are never archived by decay."""
        return self._flag(id, "pinned", pinned, "pin" if pinned else "unpin")

    def archive_note(self, id: int, archived: bool = True) -> Note:
        """Archive (or bring back) a note; archived notes are hidden, never deleted."""
        return self._flag(id, "archived", archived, "archive" if archived else "unarchive")

    def delete_note(self, id: int) -> int:
        """Delete a note; its full snapshot stays in history (``undo`` brings it back).
        Returns the history id. Raises NotFound."""
        with self.store.write() as db:
            hid = N.delete_note(db.conn, id, "user")
        self._forget_vectors([id])
        self._changed([id], "delete")
        return hid

    def merge_notes(self, ids: Iterable[int], *, text: Optional[str] = None) -> Note:
        """Merge notes into the first one (:mod:`secondme.memory.notes.merge`): it absorbs
        the others' sources, mentions, links, keywords, tags and strength; the others are
        archived with a ``merged_into`` record, so both texts stay in history, and
        ``undo`` of the returned note's ``merge`` entry restores all of them. ``text``:
        what the merged note says from now on (e.g. both texts joined), part of the same
        change. Raises InvalidInput for < 2 ids, NotFound for a missing note."""
        ids = list(dict.fromkeys(int(i) for i in ids))
        if len(ids) < 2:
            raise InvalidInput("merging needs at least two different notes")
        kw = " ".join(pick_keywords(text, 6)) if text and text.strip() else None
        with self.store.write() as db:
            N.merge(db.conn, ids[0], ids[1:], actor="user", text=text, keywords=kw)
            row = N.note_row(db.conn, ids[0])
        if kw is not None:  # a new text: embedded again (at once when the model is loaded)
            self._forget_vectors([ids[0]])
            self._index_now([ids[0]])
        self._changed(ids, "merge")
        return _note(row)

    def link_notes(self, a: int, b: int, kind: str = "related") -> NoteLink:
        """Link two notes as the person (``created_by='user'``: never removed
        automatically). Raises NotFound / InvalidInput."""
        if kind not in LINK_KINDS:
            raise InvalidInput(f"link kind must be one of {', '.join(LINK_KINDS)}, not {kind!r}")
        if int(a) == int(b):
            raise InvalidInput("a note cannot be linked to itself")
        with self.store.write() as db:
            N.link_notes(db.conn, int(a), int(b), kind)
        self._changed([int(a), int(b)], "link")
        return NoteLink(id=int(b), kind=kind, weight=1.0, created_by="user")

    def unlink_notes(self, a: int, b: int, kind: Optional[str] = None) -> int:
        """Remove the links between two notes (of ``kind``, or all). Returns how many."""
        with self.store.write() as db:
            removed = N.unlink_notes(db.conn, int(a), int(b), kind)
        self._changed([int(a), int(b)], "unlink")
        return len(removed)

    def undo(self, history_id: int) -> Note:
        """Undo one recorded change — the person's, formation's or consolidation's (see
        :mod:`secondme.memory.notes.undo`) — and return the note as it is afterwards (for
        an undone creation: as it was, now deleted). Only a note's latest change can be
        undone — undo later ones first. Raises NotFound / InvalidInput."""
        with self.store.write() as db:
            done = N.undo(db.conn, int(history_id))
        if done.note is None:
            raise NotFound("the memory of this change no longer exists")
        self._forget_vectors(done.touched)
        self._index_now(done.touched)
        self._changed(done.touched, "undo")
        return _note(done.note)

    def redo(self, history_id: int) -> Note:
        """Do again a change that was undone (``undo(history_id)`` before it; see
        :func:`secondme.memory.notes.undo.redo`) and return the note as it is afterwards
        (for a deletion done again: as it was). The same ``history_id`` can then be undone
        again. Refused when the note changed since the undo. Raises NotFound /
        InvalidInput."""
        with self.store.write() as db:
            done = N.redo(db.conn, int(history_id))
        if done.note is None:
            raise NotFound("the memory of this change no longer exists")
        self._forget_vectors(done.touched)
        self._index_now(done.touched)
        self._changed(done.touched, "redo")
        return _note(done.note)

    def history_mark(self) -> int:
        """The id of the latest history row (0 for none): pass it to
        :meth:`history_since` to learn which changes an action recorded."""
        return int(self.store.conn.execute("select coalesce(max(id), 0) from history")
                   .fetchone()[0])

    def history_since(self, mark: int, *, actor: str = "user") -> list[HistoryEntry]:
        """The changes ``actor`` recorded after :meth:`history_mark` returned ``mark``,
        oldest first, without the rows that are part of another (a merge's
        ``merged_into`` rows) and without undo/redo rows: what the app's Ctrl+Z undoes."""
        rows = self.store.conn.execute(
            "select id, note_id, action, before, after, actor, at, undone from history "
            "where id > ? and actor = ? and action not in ('merged_into', 'undo', 'redo') "
            "order by id", [int(mark), actor]).fetchall()
        return [HistoryEntry(id=r[0], note_id=r[1], action=r[2],
                             before=json.loads(r[3]) if r[3] else None,
                             after=json.loads(r[4]) if r[4] else None, actor=r[5], at=r[6],
                             undone=bool(r[7])) for r in rows]

    # -- entities and graph ------------------------------------------------------------
    def list_entities(self, *, kind: Optional[str] = None, query: Optional[str] = None,
                      limit: int = 100, displayable: bool = False):
        """People, places and organisations, most mentioned first (with mention counts).
        ``displayable``: leave out names that are ordinary words which started a sentence
        ("Glad Tom", "Problem"; :func:`secondme.memory.graph.displayable`)."""
        where, args = [], []
        if kind:
            where.append("e.kind = ?")
            args.append(kind)
        if query:
            where.append("(e.norm_name like ? or e.aliases like ?)")
            args += [f"%{norm_name(query)}%", f"%{query}%"]
        rows = self.store.conn.execute(
            "select e.id, e.kind, e.name, e.aliases, e.is_me, (select count(*) from "
            "entity_mentions m where m.entity_id = e.id and m.note_id is not null) as n "
            "from entities e" + (" where " + " and ".join(where) if where else "")
            + " order by e.is_me desc, n desc, e.name limit ?", [*args, int(limit)]).fetchall()
        found = [Entity(id=r[0], kind=r[1], name=r[2], aliases=json.loads(r[3] or "[]"),
                        is_me=bool(r[4]), mentions=r[5]) for r in rows]
        return G.filter_displayable(self.store.conn, found) if displayable else found

    def graph(self, *, note_id: Optional[int] = None, entity_id: Optional[int] = None,
              depth: int = 1, limit: int = 300) -> Graph:
        """The neighbourhood of a note or an entity, breadth first, at most ``limit``
        nodes (``truncated`` says when more existed), strongest links first
        (:func:`secondme.memory.graph.neighbourhood`). Raises NotFound / InvalidInput."""
        return G.neighbourhood(self.store.conn, note_id=note_id, entity_id=entity_id,
                               depth=depth, limit=limit)

    def graph_overview(self, *, note_id: Optional[int] = None,
                       entity_id: Optional[int] = None, depth: int = 1,
                       expand: Optional[str] = None) -> Graph:
        """What the graph view draws: the centre, its strongest memories, the people and
        places around it, the rest grouped by period (``type="group"`` nodes with
        ``count``, ``members``, ``since``/``until``); ``expand`` opens one group
        (:func:`secondme.memory.graph.overview`). Raises NotFound / InvalidInput."""
        return G.overview(self.store.conn, note_id=note_id, entity_id=entity_id,
                          depth=depth, expand=expand)

    # -- formation -----------------------------------------------------------------------
    def run_extract(self, progress: Optional[ProgressFn] = None,
                    cancel: Optional[CancelToken] = None) -> dict:
        """Form memories from everything imported and not formed yet (the ``extract``
        job, see :mod:`secondme.memory.extract`): index new items, form, index the new
        notes. Returns a summary dict (with ``seconds``); raises Cancelled between
        windows and lets model/store failures propagate."""
        # formation's modules (regexes, numpy) load when it first runs, not with the app
        from .extract import choose_extractor, form_memories

        t0 = time.perf_counter()
        check(cancel)
        self._refresh_keywords(progress, cancel)
        if self.vector_role == "searcher":
            self.index_pending(progress=progress, cancel=cancel)
            vindex = self.open_vectors()
        else:
            # formation adds and removes note vectors but never searches them: a process
            # that does not search either lets the index leave memory for the run (at
            # 1M messages ~0.8 GB of the peak) and writes the vectors to the database
            # only — the items imported since the last indexing too (loading the index
            # for them took a formation command at 1M to 917 MB before it formed
            # anything); the indexing of the new notes below opens it again, caught up
            self.release_vectors()
            vindex = self.store_only_index()
            self.index_pending(progress=progress, cancel=cancel, into=vindex)
        extractor = choose_extractor(lambda: self.llm, self.settings.llm_source)
        summary = form_memories(self.store, extractor, embedder=self.embedder,
                                vindex=vindex, settings=self.settings,
                                hooks=self.hooks, progress=progress, cancel=cancel)
        if summary["windows"]:
            if self.vector_role == "batch":
                # formation's working set is garbage now: hand its free heap back to the
                # system before the index comes in, or the two add up in the peak
                release_free_memory()
            self.index_pending(progress=progress, cancel=cancel)
        summary["seconds"] = round(time.perf_counter() - t0, 3)
        return summary

    def _refresh_keywords(self, progress: Optional[ProgressFn],
                          cancel: Optional[CancelToken]) -> None:
        """Rebuild the keyword index search ranks with when much was added since (or it
        is missing: a store from before it existed). A failure is logged: search then
        ranks with SQLite, slower but complete."""
        from ..recall import keywords

        try:
            keywords.refresh(self.store, self.settings.session_gap_minutes,
                             progress=progress, cancel=cancel)
        except Cancelled:
            raise
        except Exception:  # noqa: BLE001
            log.exception("rebuilding the keyword index failed")

    def quarantined_windows(self) -> list[QuarantinedWindow]:
        """The windows formation set aside (newest first), each with a person-readable
        problem and the title of its conversation or document."""
        return [QuarantinedWindow(**f) for f in failures(self.store.conn)]

    def retry_failed_windows(self, progress: Optional[ProgressFn] = None,
                             cancel: Optional[CancelToken] = None) -> dict:
        """Offer every quarantined window again and run the ``extract`` job now (under its
        lease). Returns the job's summary with ``retried`` (how many windows were offered);
        a window that fails again is set aside again with one more attempt. Raises like
        ``run_job``."""
        n = retry_all(self.store)
        summary = self.run_job("extract", progress=progress, cancel=cancel)
        summary["retried"] = n
        return summary
