"""A Markdown vault of the notes: one file per note, Obsidian-compatible.

``<dir>/notes/<file>.md``::

    ---
    id: 42
    kind: fact
    created: 2024-03-02T10:00:00+00:00
    updated: ...
    valid_from: 2024-03-01
    tags: [travel]
    sources:
      - {message: "m-17", conversation: "Trip planning", conversation_id: "c-3",
         timestamp: "2024-03-01T09:12:00+01:00", speaker: Anna, source: chatgpt.json}
      - {document: "notes/lisbon.md", page: 2, heading: "Flights"}
    links:
      - {to: "Anna booked flights to Lisbon-41", kind: related}
    ---
    Anna booked flights to Lisbon for 12 March.

    ## Links
    - related: [[Anna booked flights to Lisbon-41]]

File names come from the note's first words plus its id (unique, stable across
exports); ``[[links]]`` use them. ``<dir>/index.md`` lists every note.
"""
from __future__ import annotations

import re
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from ..paths import open_private, private_dir
from ..progress import CancelToken, ProgressFn, check, report
from ..store.db import Store

NOTES_DIR = "notes"


def note_file_stem(note_id: int, text: str) -> str:
    """A readable, unique, filesystem-safe file name (without .md) for a note."""
    words = re.sub(r"[\\/:*?\"<>|#^\[\]\r\n\t]+", " ", text).split()
    title = " ".join(words)[:60].rstrip(" .") or "note"
    return f"{title}-{note_id}"


def _yaml(data: dict) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def _sources(c: sqlite3.Connection, nid: int, stems: dict[int, str]) -> list[dict]:
    """The note's sources as front-matter entries: message, document chunk or note."""
    sources: list[dict] = []
    for mid, kid, snid in c.execute(
            "select message_id, chunk_id, source_note_id from note_sources "
            "where note_id = ? order by rowid", [nid]):
        if mid is not None:
            m = c.execute(
                "select m.external_id, m.timestamp, m.speaker, v.title, v.external_id, "
                "s.path from messages m join conversations v on v.id = m.conversation_id "
                "left join sources s on s.id = v.source_id where m.id = ?", [mid]).fetchone()
            if m:
                sources.append({"message": m[0], "conversation": m[3],
                                "conversation_id": m[4], "timestamp": m[1],
                                "speaker": m[2], "source": m[5]})
        elif kid is not None:
            k = c.execute(
                "select d.path, d.title, k.page, k.heading from chunks k join documents d "
                "on d.id = k.document_id where k.id = ?", [kid]).fetchone()
            if k:
                src = {"document": k[0], "title": k[1]}
                if k[2] is not None:
                    src["page"] = k[2]
                if k[3]:
                    src["heading"] = k[3]
                sources.append(src)
        elif snid is not None and snid in stems:
            sources.append({"note": stems[snid]})
    return sources


def _links(c: sqlite3.Connection, nid: int, stems: dict[int, str]) -> list[dict]:
    links = []
    for other, lkind in c.execute(
            "select dst_id, kind from links where src_id = ? union "
            "select src_id, kind from links where dst_id = ? order by 1", [nid, nid]):
        if other in stems:
            links.append({"to": stems[other], "kind": lkind})
    return links


def _note_file(row: tuple, sources: list[dict], links: list[dict]) -> str:
    """The Markdown file of one note: YAML front matter, the text, links, based-on notes."""
    (nid, kind, fact_type, text, keywords, tags, context, valid_from, valid_to, created,
     updated, strength, retention, pinned, archived, version, origin) = row
    front = {"id": nid, "kind": kind}
    if fact_type:
        front["fact_type"] = fact_type
    front.update(created=created, updated=updated)
    if valid_from:
        front["valid_from"] = valid_from
    if valid_to:
        front["valid_to"] = valid_to
    front["tags"] = tags.split() if tags else []
    if keywords:
        front["keywords"] = keywords.split()
    if context:
        front["context"] = context
    front.update(strength=strength, retention=retention, pinned=bool(pinned),
                 archived=bool(archived), version=version, origin=origin,
                 sources=sources, links=links)
    body = [f"---\n{_yaml(front)}---", text.strip(), ""]
    if links:
        body.append("## Links")
        body += [f"- {lk['kind']}: [[{lk['to']}]]" for lk in links]
        body.append("")
    for s in sources:
        if "note" in s:
            body.append(f"Based on [[{s['note']}]]")
    return "\n".join(body).rstrip() + "\n"


def write_vault(store: Store, out: Path, *, progress: Optional[ProgressFn] = None,
                cancel: Optional[CancelToken] = None) -> int:
    """Write one Markdown file per note under ``out/notes`` plus ``out/index.md``.

    Returns how many notes were written.
    """
    c = store.conn
    notes_dir = out / NOTES_DIR
    private_dir(notes_dir)
    rows = c.execute(
        "select id, kind, fact_type, text, keywords, tags, context, valid_from, valid_to, "
        "created_at, updated_at, strength, retention, pinned, archived, version, origin "
        "from notes order by id").fetchall()
    stems = {r[0]: note_file_stem(r[0], r[3]) for r in rows}
    total = len(rows)
    index_lines = ["# secondme export", "",
                   f"{total} notes, exported {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC.", ""]
    for n, r in enumerate(rows, 1):
        nid = r[0]
        text = _note_file(r, _sources(c, nid, stems), _links(c, nid, stems))
        with open_private(notes_dir / f"{stems[nid]}.md") as f:
            f.write(text)
        index_lines.append(f"- [[{stems[nid]}]]")
        if n % 500 == 0:
            check(cancel)
            report(progress, "writing notes", n, total)
    with open_private(out / "index.md") as f:
        f.write("\n".join(index_lines) + "\n")
    report(progress, "writing notes", total, total)
    return total
