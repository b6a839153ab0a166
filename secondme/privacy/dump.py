"""A lossless JSON dump of the store, and restoring one into an empty store.

``secondme-dump.json``::

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
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

from .. import __version__
from ..errors import ImportFormatError, InvalidInput, StoreError
from ..paths import open_private
from ..progress import CancelToken, ProgressFn, check, report
from ..store.db import Store

DUMP_FILE = "secondme-dump.json"
DUMP_FORMAT = "secondme-dump"
DUMP_VERSION = 1
DERIVED_TABLES = {"embeddings", "vector_items", "vector_state", "message_windows_state",
                  "job_leases", "migrations"}
#: the tables that hold what a person imported or wrote: a dump restores only into a store
#: where they are all empty
CONTENT_TABLES = ("sources", "conversations", "messages", "documents", "chunks", "notes")


# -- which tables ------------------------------------------------------------------------------
def dump_tables(conn) -> list[str]:
    """The tables a dump holds, in creation order (parents before children)."""
    rows = conn.execute("select name, sql from sqlite_master where type = 'table' "
                        "order by rowid").fetchall()
    virtual = [n for n, sql in rows if (sql or "").upper().startswith("CREATE VIRTUAL")]
    out = []
    for name, _sql in rows:
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
def write_dump(store: Store, path: Path, *, progress: Optional[ProgressFn] = None,
               cancel: Optional[CancelToken] = None) -> dict[str, int]:
    """Write the lossless dump of ``store`` to ``path`` (atomically). Returns row counts.

    Reads inside one transaction so the dump is a consistent snapshot.
    """
    conn = store.connect_file(store.path)  # own connection: one read snapshot
    counts: dict[str, int] = {}
    tmp = Path(str(path) + ".tmp")
    try:
        conn.execute("BEGIN")
        tables = dump_tables(conn)
        migrations = [r[0] for r in conn.execute("select name from migrations order by name")]
        total = sum(conn.execute(f'select count(*) from "{t}"').fetchone()[0] for t in tables)
        done = 0
        with open_private(tmp, "w") as f:
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


def read_dump(store: Store, path: Path, *, progress: Optional[ProgressFn] = None,
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


def restore_dump(store: Store, path: Path, *, progress: Optional[ProgressFn] = None,
                 cancel: Optional[CancelToken] = None) -> dict[str, int]:
    """:func:`read_dump` into ``store``, which must not hold any data yet.

    Raises InvalidInput when the store is not empty, else as :func:`read_dump`.
    """
    counts = store.counts()
    if any(counts[t] for t in CONTENT_TABLES):
        raise InvalidInput("import-dump needs an empty data directory; this one already "
                           "holds data (use --home with a new folder)")
    return read_dump(store, Path(path), progress=progress, cancel=cancel)
