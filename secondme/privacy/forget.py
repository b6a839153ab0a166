"""What a person can see and choose to remove: their sources, a person, a topic.

:func:`list_sources` lists every imported source with live counts. The ``*_removal``
functions find what a request covers and return a :class:`~.purge.Removal` for the one
removal engine (:func:`~.purge.purge`); they never change anything.
"""
from __future__ import annotations

import json
import re
import sqlite3

from ..api import SourceInfo
from ..errors import InvalidInput, NotFound
from ..memory.text import norm_name
from .purge import Removal


def fts_phrase(text: str) -> str:
    """A safe FTS5 query: every word of ``text`` as a quoted term (AND)."""
    words = re.findall(r"\w+", text, flags=re.UNICODE)
    if not words:
        raise InvalidInput("the query has no words to search for")
    return " ".join('"' + w.replace('"', '""') + '"' for w in words)


def _placeholders(n: int) -> str:
    return ",".join("?" * n)


def list_sources(c: sqlite3.Connection) -> list[SourceInfo]:
    """Every imported source with live counts, newest first."""
    out = []
    for sid, kind, path, at, errors in c.execute(
            "select id, kind, path, imported_at, errors from sources order by id desc"):
        conv = c.execute("select count(*) from conversations where source_id = ?",
                         [sid]).fetchone()[0]
        msgs = c.execute("select count(*) from messages m join conversations v on "
                         "v.id = m.conversation_id where v.source_id = ?", [sid]).fetchone()[0]
        docs = c.execute("select count(*) from documents where source_id = ?",
                         [sid]).fetchone()[0]
        chunks = c.execute("select count(*) from chunks k join documents d on "
                           "d.id = k.document_id where d.source_id = ?", [sid]).fetchone()[0]
        notes = c.execute(
            "select count(distinct ns.note_id) from note_sources ns "
            "left join messages m on m.id = ns.message_id "
            "left join conversations v on v.id = m.conversation_id "
            "left join chunks k on k.id = ns.chunk_id "
            "left join documents d on d.id = k.document_id "
            "where v.source_id = ? or d.source_id = ?", [sid, sid]).fetchone()[0]
        try:
            nerr = len(json.loads(errors or "[]"))
        except ValueError:
            nerr = 0
        out.append(SourceInfo(sid, kind, path, at, conv, msgs, docs, chunks, notes, nerr))
    return out


def source_removal(c: sqlite3.Connection, source_id: int) -> Removal:
    """Source ``source_id`` with its conversations and documents. Raises NotFound."""
    if c.execute("select 1 from sources where id = ?", [source_id]).fetchone() is None:
        raise NotFound(f"no source with id {source_id}; `secondme sources list` shows them")
    convs = [r[0] for r in c.execute("select id from conversations where source_id = ?",
                                     [source_id])]
    docs = [r[0] for r in c.execute("select id from documents where source_id = ?",
                                    [source_id])]
    return Removal(source_ids=[source_id], conversation_ids=convs, document_ids=docs)


def person_removal(c: sqlite3.Connection, name: str, *, messages: bool = False) -> Removal:
    """A person: every note about them, and the person (entity) itself.

    "About them": notes mentioning the entity (by name or alias) and notes whose text
    contains the name. With ``messages``, also the messages they wrote (speaker is the
    name or an alias) and the messages that mention them. Raises InvalidInput for an
    empty name, NotFound when nothing matches.
    """
    name = (name or "").strip()
    if not name:
        raise InvalidInput("give the name of the person to forget")
    key = norm_name(name)
    names = {name}
    entity_ids = []
    for eid, ename, norm, aliases, _is_me in c.execute(
            "select id, name, norm_name, aliases, is_me from entities"):
        try:
            alist = json.loads(aliases or "[]")
        except ValueError:
            alist = []
        if norm == key or norm_name(ename) == key or any(norm_name(a) == key for a in alist):
            entity_ids.append(eid)
            names.add(ename)
            names.update(a for a in alist if a)
    note_ids: set[int] = set()
    if entity_ids:
        note_ids.update(r[0] for r in c.execute(
            f"select distinct note_id from entity_mentions where note_id is not null and "
            f"entity_id in ({_placeholders(len(entity_ids))})", entity_ids))
    message_ids: set[int] = set()
    for n in names:
        q = fts_phrase(n)
        note_ids.update(r[0] for r in c.execute(
            "select rowid from notes_fts where notes_fts match ?", [q]))
        if messages:
            message_ids.update(r[0] for r in c.execute(
                "select rowid from messages_fts where messages_fts match ?", [q]))
            norm_n = norm_name(n)
            message_ids.update(
                r[0] for r in c.execute("select id, speaker from messages where speaker != ''")
                if norm_name(r[1]) == norm_n)
    if messages and entity_ids:
        message_ids.update(r[0] for r in c.execute(
            f"select distinct message_id from entity_mentions where message_id is not null "
            f"and entity_id in ({_placeholders(len(entity_ids))})", entity_ids))
    if not (note_ids or entity_ids or message_ids):
        raise NotFound(f"nothing is known about {name!r}")
    return Removal(note_ids=note_ids, message_ids=message_ids, entity_ids=entity_ids)


def notes_matching(c: sqlite3.Connection, query: str, limit: int = 10_000) -> list[int]:
    """Ids of notes whose text, keywords, tags or context contain every word of ``query``."""
    return [r[0] for r in c.execute(
        "select rowid from notes_fts where notes_fts match ? limit ?",
        [fts_phrase(query), limit])]
