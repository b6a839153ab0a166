"""The one merge: several notes that say the same thing become one.

Used by the person's "merge these" (``MemoryOps.merge_notes``) and by consolidation's
duplicate merge alike. The **survivor** absorbs the others:

- their sources (a citation of one of the merged notes themselves is dropped) and their
  entity mentions;
- their links, re-pointed to the survivor (links among the merged notes go);
- their keywords and tags (united, the survivor's first; at most 10 keywords);
- their strength (strengths add up: each was a confirmation) and the earliest
  ``valid_from``; the survivor's version goes up by one.

The others are **archived, never deleted**: each keeps its text and sources, loses its
links and mentions to the survivor, and gets a ``merged_into`` history row (its
snapshot before and after, ``detail.into`` = the survivor), so both texts stay readable
in history. The survivor gets one ``merge`` row whose ``detail`` holds the merged ids,
their ``merged_into`` rows and the links the merge created; ``undo`` of that row puts
every note back as it was (see :mod:`.undo`).
"""
from __future__ import annotations

import sqlite3
from typing import Optional

from .rows import now_iso, require_note, snapshot
from .write import add_link, link_exists, ordered_link, record, recorded, set_fields

#: SQL condition: note ``n`` was merged into another and is archived for it (formation
#: and consolidation treat it as gone: the survivor speaks for it)
MERGED_AWAY_SQL = ("(n.archived = 1 and exists (select 1 from history h where h.note_id = n.id "
                   "and h.action = 'merged_into' and h.undone = 0))")


def _union(values: list[str]) -> list[str]:
    out: list[str] = []
    for v in values:
        out += [w for w in (v or "").split() if w not in out]
    return out


def merge(conn: sqlite3.Connection, survivor: int, others: list[int], *, actor: str,
          at: Optional[str] = None, text: Optional[str] = None,
          keywords: Optional[str] = None) -> int:
    """Merge ``others`` into ``survivor`` (see the module doc). ``text`` (with its
    ``keywords``): the survivor's new text, part of the same change (a person merging
    two memories writes what the merged one says). Returns the survivor's ``merge``
    history id. Raises NotFound when one of the notes does not exist."""
    at = at or now_iso()
    ids = [survivor, *others]
    rows = [require_note(conn, i) for i in ids]
    before = snapshot(conn, survivor)
    marks = ",".join("?" * len(ids))
    links_added: list[list] = []
    absorbed: list[int] = []
    for i in others:
        with recorded(conn, i, "merged_into", actor, at=at) as change:
            conn.execute("insert or ignore into note_sources (note_id, message_id, chunk_id, "
                         "source_note_id) select ?, message_id, chunk_id, source_note_id "
                         "from note_sources where note_id = ? and (source_note_id is null or "
                         f"source_note_id not in ({marks})) order by rowid",
                         [survivor, i, *ids])
            conn.execute("insert or ignore into entity_mentions (entity_id, note_id) "
                         "select entity_id, ? from entity_mentions where note_id = ?",
                         [survivor, i])
            conn.execute("delete from entity_mentions where note_id = ?", [i])
            for src, dst, kind, weight, by in conn.execute(
                    "select src_id, dst_id, kind, weight, created_by from links "
                    "where src_id = ? or dst_id = ? order by id", [i, i]).fetchall():
                a = survivor if src == i else src
                b = survivor if dst == i else dst
                if a in ids and b in ids:
                    continue
                if not link_exists(conn, a, b, kind):
                    links_added.append([*ordered_link(a, b, kind), kind])
                add_link(conn, a, b, kind, weight, by)
            conn.execute("delete from links where src_id = ? or dst_id = ?", [i, i])
            conn.execute("update notes set archived = 1 where id = ?", [i])
            change.detail["into"] = survivor
        absorbed.append(change.history_id)
    set_fields(conn, survivor,
               keywords=" ".join(_union([r["keywords"] for r in rows])[:10]),
               tags=" ".join(_union([r["tags"] for r in rows])),
               strength=sum(r["strength"] for r in rows),
               valid_from=min([r["valid_from"] for r in rows if r["valid_from"]], default=None),
               updated_at=at, version=rows[0]["version"] + 1)
    if text is not None and text.strip() and text.strip() != rows[0]["text"]:
        set_fields(conn, survivor, text=text.strip(), user_edited=1,
                   **({"keywords": keywords} if keywords is not None else {}))
    return record(conn, survivor, "merge", before, snapshot(conn, survivor), actor, at,
                  {"merged": list(others), "merged_history": absorbed,
                   "links_added": links_added})
