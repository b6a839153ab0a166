"""Export: a Markdown vault of the notes, and a lossless JSON dump of the store.

Vault (``<dir>/notes/<file>.md``, one note per file, Obsidian-compatible)::

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
exports); ``[[links]]`` use them.

Dump (``secondme-dump.json``)::

    {"format": "secondme-dump", "version": 1, "app_version": "...", "exported_at": "...",
     "migrations": [...],
     "tables": {"notes": {"columns": [...], "rows": [[...], ...]}, ...}}

Every regular table is dumped except derived/runtime ones (``embeddings``,
``vector_items``, ``message_windows_state``, ``job_leases``) and FTS tables (rebuilt by
triggers on restore). BLOB values are written as ``{"$b64": "..."}``. Rows are
streamed, so a large store never sits in memory twice.
"""
from __future__ import annotations

import base64
import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

from .errors import ImportFormatError, StoreError
from .progress import CancelToken, ProgressFn, check, report

DUMP_FORMAT = "secondme-dump"
DUMP_VERSION = 1
DERIVED_TABLES = {"embeddings", "vector_items", "message_windows_state", "job_leases",
                  "migrations"}
NOTES_DIR = "notes"


# -- which tables ------------------------------------------------------------------------------
def dump_tables(conn) -> list[str]:
    """The tables a dump holds, in creation order (parents before children)."""
    rows = conn.execute("select name, sql from sqlite_master where type = 'table' "
                        "order by rowid").fetchall()
    virtual = [n for n, sql in rows if (sql or "").upper().startswith("CREATE VIRTUAL")]
    out = []
    for name, sql in rows:
        if name.startswith("sqlite_") or name in DERIVED_TABLES or name in virtual:
            continue
        if any(name.startswith(v + "_") for v in virtual):
            continue  # FTS shadow tables
        out.append(name)
    return out


def _columns(conn, table: str) -> list[str]:
    return [r[1] for r in conn.execute(f'pragma table_info("{table}")')]


def _enc(v: Any) -> Any:
    if isinstance(v, (bytes, bytearray, memoryview)):
        return {"$b64": base64.b64encode(bytes(v)).decode("ascii")}
    return v


def _dec(v: Any) -> Any:
    if isinstance(v, dict) and "$b64" in v:
        return base64.b64decode(v["$b64"])
    return v


# -- dump ----------------------------------------------------------------------------------------
def write_dump(store, path: Path, *, progress: Optional[ProgressFn] = None,
               cancel: Optional[CancelToken] = None) -> dict[str, int]:
    """Write the lossless dump of ``store`` to ``path`` (atomically). Returns row counts.

    Reads inside one transaction so the dump is a consistent snapshot.
    """
    from . import __version__

    conn = store.connect_file(store.path)  # own connection: one read snapshot
    counts: dict[str, int] = {}
    tmp = Path(str(path) + ".tmp")
    try:
        conn.execute("BEGIN")
        tables = dump_tables(conn)
        migrations = [r[0] for r in conn.execute("select name from migrations order by name")]
        total = sum(conn.execute(f'select count(*) from "{t}"').fetchone()[0] for t in tables)
        done = 0
        with open(tmp, "w", encoding="utf-8") as f:
            head = {"format": DUMP_FORMAT, "version": DUMP_VERSION, "app_version": __version__,
                    "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "migrations": migrations}
            f.write(json.dumps(head, ensure_ascii=False)[:-1])
            f.write(', "tables": {')
            for ti, table in enumerate(tables):
                cols = _columns(conn, table)
                f.write(("," if ti else "") + "\n" + json.dumps(table) + ": {\"columns\": "
                        + json.dumps(cols) + ", \"rows\": [")
                n = 0
                quoted = ", ".join(f'"{c}"' for c in cols)
                for row in conn.execute(f'select {quoted} from "{table}" order by rowid'
                                        if _has_rowid(conn, table)
                                        else f'select {quoted} from "{table}"'):
                    f.write(("," if n else "") + "\n"
                            + json.dumps([_enc(v) for v in row], ensure_ascii=False))
                    n += 1
                    if n % 2000 == 0:
                        check(cancel)
                        report(progress, "writing the dump", done + n, total)
                f.write("]}")
                counts[table] = n
                done += n
            f.write("\n}}\n")
        tmp.replace(path)
        report(progress, "writing the dump", total, total)
    finally:
        conn.close()
        if tmp.exists():
            tmp.unlink()
    return counts


def _has_rowid(conn, table: str) -> bool:
    sql = conn.execute("select sql from sqlite_master where name = ?", [table]).fetchone()[0]
    return "WITHOUT ROWID" not in (sql or "").upper()


def read_dump(store, path: Path, *, progress: Optional[ProgressFn] = None,
              cancel: Optional[CancelToken] = None) -> dict[str, int]:
    """Insert the rows of the dump at ``path`` into ``store`` in one transaction.

    Rows replace what a fresh store already has (default settings, job rows). Foreign
    keys are checked at commit. Returns row counts per table. Raises ImportFormatError
    (not a dump / damaged), StoreError (made by a newer secondme).
    """
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError as e:
        raise ImportFormatError("the dump file does not exist", path=path) from e
    except (ValueError, UnicodeDecodeError) as e:
        raise ImportFormatError(f"this is not a readable secondme dump ({e})", path=path) from e
    if not isinstance(data, dict) or data.get("format") != DUMP_FORMAT:
        raise ImportFormatError("this is not a secondme dump (format field missing)", path=path)
    if int(data.get("version", 0)) > DUMP_VERSION:
        raise StoreError("this dump was made by a newer secondme; upgrade to import it",
                         path=path)
    known = set(store.applied_migrations())
    unknown = set(data.get("migrations") or []) - known
    if unknown:
        raise StoreError("this dump was made by a newer secondme (unknown migrations: "
                         + ", ".join(sorted(unknown)) + ")", path=path)
    tables = data.get("tables")
    if not isinstance(tables, dict):
        raise ImportFormatError("the dump has no tables", path=path)
    counts: dict[str, int] = {}
    total = sum(len(t.get("rows") or []) for t in tables.values())
    done = 0
    with store.write() as db:
        c = db.conn
        c.execute("PRAGMA defer_foreign_keys = ON")
        existing = set(db.table_names())
        for table, body in tables.items():
            if table not in existing or table in DERIVED_TABLES:
                raise ImportFormatError(f"the dump has an unknown table {table!r}", path=path)
            cols = body.get("columns") or []
            have = set(_columns(c, table))
            missing = [col for col in cols if col not in have]
            if missing:
                raise ImportFormatError(f"table {table!r} in the dump has unknown columns "
                                        f"{missing}", path=path)
            rows = body.get("rows") or []
            quoted = ", ".join(f'"{col}"' for col in cols)
            sql = (f'insert or replace into "{table}" ({quoted}) values '
                   f'({",".join("?" * len(cols))})')
            for i in range(0, len(rows), 2000):
                check(cancel)
                c.executemany(sql, [[_dec(v) for v in r] for r in rows[i:i + 2000]])
                done += len(rows[i:i + 2000])
                report(progress, "restoring the dump", done, total)
            counts[table] = len(rows)
        bad = c.execute("PRAGMA foreign_key_check").fetchall()
        if bad:
            raise ImportFormatError(f"the dump is inconsistent: {len(bad)} rows refer to rows "
                                    "that are not in it", path=path)
    return counts


# -- vault ----------------------------------------------------------------------------------------
def note_file_stem(note_id: int, text: str) -> str:
    """A readable, unique, filesystem-safe file name (without .md) for a note."""
    words = re.sub(r"[\\/:*?\"<>|#^\[\]\r\n\t]+", " ", text).split()
    title = " ".join(words)[:60].rstrip(" .") or "note"
    return f"{title}-{note_id}"


def _yaml(data: dict) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def write_vault(store, out: Path, *, progress: Optional[ProgressFn] = None,
                cancel: Optional[CancelToken] = None) -> int:
    """Write one Markdown file per note under ``out/notes`` plus ``out/index.md``."""
    c = store.conn
    notes_dir = out / NOTES_DIR
    notes_dir.mkdir(parents=True, exist_ok=True)
    rows = c.execute(
        "select id, kind, fact_type, text, keywords, tags, context, valid_from, valid_to, "
        "created_at, updated_at, strength, retention, pinned, archived, version, origin "
        "from notes order by id").fetchall()
    stems = {r[0]: note_file_stem(r[0], r[3]) for r in rows}
    total = len(rows)
    index_lines = ["# secondme export", "",
                   f"{total} notes, exported {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC.", ""]
    for n, r in enumerate(rows, 1):
        (nid, kind, fact_type, text, keywords, tags, context, valid_from, valid_to, created,
         updated, strength, retention, pinned, archived, version, origin) = r
        sources = []
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
        links = []
        for other, lkind in c.execute(
                "select dst_id, kind from links where src_id = ? union "
                "select src_id, kind from links where dst_id = ? order by 1", [nid, nid]):
            if other in stems:
                links.append({"to": stems[other], "kind": lkind})
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
        (notes_dir / f"{stems[nid]}.md").write_text("\n".join(body).rstrip() + "\n",
                                                    encoding="utf-8")
        index_lines.append(f"- [[{stems[nid]}]]")
        if n % 500 == 0:
            check(cancel)
            report(progress, "writing notes", n, total)
    (out / "index.md").write_text("\n".join(index_lines) + "\n", encoding="utf-8")
    report(progress, "writing notes", total, total)
    return total
