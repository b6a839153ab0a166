"""The one removal engine: delete items *and everything derived from them*.

:func:`purge` deletes the given sources, conversations, documents, messages, chunks,
notes and entities, and:

* notes that rest only on removed items (their every ``note_sources`` row points at a
  removed message, chunk or note — repeated until nothing changes, so a summary of
  removed notes goes too), with their links, slots, entity mentions and **history**
  (history rows hold snapshots of the note's text);
* vectors (``vector_items`` rows, the hnswlib entries — whose stored vector is
  overwritten with noise before the index is saved, so the file no longer holds it —
  and cached ``embeddings`` no longer used by anything);
* FTS rows (triggers), then an FTS ``optimize`` so old segments are rewritten;
* consolidation records and ask-chat answers that cited a removed item; entities left
  without any mention; formation bookkeeping.

``PRAGMA secure_delete`` is on for the purge and the WAL is checkpointed afterwards, so
the removed text does not linger in free pages of the database file either.

:func:`remove_store_files` is the wipe: the database, its backups, the index and logs.

Thread-safety: purges are serialised by the store's write lock (and the service lock).
"""
from __future__ import annotations

import json
import logging
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

from ..api import RemovalReport
from ..ingest.pipeline import purge_items
from ..memory.notes import purge_notes
from ..paths import BACKUP_DIR, LOG_DIR, VECTOR_DIR
from ..progress import CancelToken, ProgressFn, check, report
from ..recall import keywords
from ..recall.windows import update_windows
from ..store.db import Store
from ..store.vectors import META_FILE, VectorIndex, unused_entries

log = logging.getLogger(__name__)

_SETS = ("msg", "chunk", "note", "conv", "doc", "src", "ent")


@dataclass
class Removal:
    """What to remove; :func:`purge` removes everything derived from it too."""

    source_ids: Iterable[int] = ()
    conversation_ids: Iterable[int] = ()
    document_ids: Iterable[int] = ()
    message_ids: Iterable[int] = ()
    chunk_ids: Iterable[int] = ()
    note_ids: Iterable[int] = ()
    entity_ids: Iterable[int] = ()


def purge(store: Store, home: Path, vectors: Optional[VectorIndex], action: str,
          removal: Removal, progress: Optional[ProgressFn] = None,
          cancel: Optional[CancelToken] = None) -> tuple[RemovalReport, int]:
    """Remove ``removal`` and what derives from it (see the module doc).

    ``vectors`` is the loaded vector index, or None (then the index files under ``home``
    are opened without the embedding model, if there are any). Returns the report and how
    many vectors were scrubbed from the index. Raises Cancelled before anything changes.
    """
    check(cancel)
    rep = RemovalReport(action)
    report(progress, action, 0, 3, "finding what depends on it")
    store.conn.execute("PRAGMA secure_delete = ON")
    with store.write() as db:
        c = db.conn
        _collect(c, removal)
        rep.messages = c.execute("select count(*) from _del_msg").fetchone()[0]
        rep.chunks = c.execute("select count(*) from _del_chunk").fetchone()[0]
        rep.note_ids = [r[0] for r in c.execute("select id from _del_note order by id")]
        rep.notes = len(rep.note_ids)
        report(progress, action, 1, 3, "removing")
        labels = _drop_vectors(c)
        rep.vectors = len(labels)
        _purge_citing_records(c)
        _delete_rows(c, rep)
        for name in _SETS:
            c.execute(f"delete from _del_{name}")
    check(cancel)
    report(progress, action, 2, 3, "scrubbing indexes")
    _scrub_vectors(store, home, vectors, labels)
    _compact_after_delete(store)
    report(progress, action, 3, 3)
    return rep, len(labels)


def _collect(c: sqlite3.Connection, removal: Removal) -> None:
    """Fill the ``_del_*`` temp tables with everything that goes."""
    sets = {"msg": set(removal.message_ids), "chunk": set(removal.chunk_ids),
            "note": set(removal.note_ids), "conv": set(removal.conversation_ids),
            "doc": set(removal.document_ids), "src": set(removal.source_ids),
            "ent": set(removal.entity_ids)}
    for name, ids in sets.items():
        c.execute(f"create temp table if not exists _del_{name} (id integer primary key)")
        c.execute(f"delete from _del_{name}")
        c.executemany(f"insert or ignore into _del_{name} values (?)", [(i,) for i in ids])
    # what a conversation/document takes with it
    c.execute("insert or ignore into _del_msg select id from messages "
              "where conversation_id in (select id from _del_conv)")
    c.execute("insert or ignore into _del_chunk select id from chunks "
              "where document_id in (select id from _del_doc)")
    # notes resting only on removed items, to a fixed point (summaries of notes)
    while True:
        added = c.execute("""
            insert or ignore into _del_note
            select ns.note_id from note_sources ns
            where ns.note_id not in (select id from _del_note)
            group by ns.note_id
            having sum(case when ns.message_id in (select id from _del_msg)
                              or ns.chunk_id in (select id from _del_chunk)
                              or ns.source_note_id in (select id from _del_note)
                       then 0 else 1 end) = 0""").rowcount
        if not added:
            break


def _drop_vectors(c: sqlite3.Connection) -> list[int]:
    """Forget the vectors of everything removed; returns their index labels."""
    vecs: set[int] = set()
    hashes: list[str] = []
    for kind, table in (("message", "_del_msg"), ("chunk", "_del_chunk"),
                        ("note", "_del_note")):
        for vec, h in c.execute(
                f"select vec, content_hash from vector_items where kind = ? and "
                f"item_id in (select id from {table})", [kind]):
            vecs.add(vec)
            hashes.append(h)
        c.execute(f"delete from vector_items where kind = ? and item_id in "
                  f"(select id from {table})", [kind])
    # an entry that another item with the same text still uses stays: it is that item's
    # vector, not a trace of what was removed
    labels = unused_entries(c, vecs)
    if hashes:
        c.execute("create temp table if not exists _del_hash (h text primary key)")
        c.execute("delete from _del_hash")
        c.executemany("insert or ignore into _del_hash values (?)", [(h,) for h in hashes])
        c.execute("delete from embeddings where content_hash in (select h from _del_hash) "
                  "and content_hash not in (select content_hash from vector_items)")
    return labels


def _delete_rows(c: sqlite3.Connection, rep: RemovalReport) -> None:
    """Delete the collected rows (cascades take links, sources, slots and mentions)."""
    purge_notes(c, "select id from _del_note")
    gone = purge_items(c, messages="select id from _del_msg", chunks="select id from _del_chunk",
                       conversations="select id from _del_conv",
                       documents="select id from _del_doc", sources="select id from _del_src")
    rep.conversations = gone["conversations"]
    rep.documents = gone["documents"]
    rep.sources = gone["sources"]
    # entities asked for, and entities nothing mentions any more (except "me")
    rep.entities = c.execute(
        "delete from entities where id in (select id from _del_ent)").rowcount
    rep.entities += c.execute(
        "delete from entities where is_me = 0 and not exists "
        "(select 1 from entity_mentions m where m.entity_id = entities.id)").rowcount
    c.execute("delete from formed_items where (item_kind = 'message' and item_id in "
              "(select id from _del_msg)) or (item_kind = 'chunk' and item_id in "
              "(select id from _del_chunk))")


def _purge_citing_records(c: sqlite3.Connection) -> None:
    """Drop consolidation records and chat answers that quote or cite removed items."""
    del_msg = {r[0] for r in c.execute("select id from _del_msg")}
    del_note = {r[0] for r in c.execute("select id from _del_note")}
    del_chunk = {r[0] for r in c.execute("select id from _del_chunk")}
    if not (del_msg or del_note or del_chunk):
        return

    def cites(ref: dict) -> bool:
        kind = ref.get("kind")
        rid = ref.get("id")
        return (ref.get("message_id") in del_msg or ref.get("note_id") in del_note
                or ref.get("chunk_id") in del_chunk
                or (kind == "message" and rid in del_msg)
                or (kind == "note" and rid in del_note)
                or (kind == "chunk" and rid in del_chunk))

    gone = []
    for key, note_id, lines in c.execute("select key, note_id, lines from consolidations"):
        try:
            refs = [s for line in json.loads(lines or "[]")
                    for s in (line.get("sources") or [])]
        except (ValueError, AttributeError):
            refs = []
        if note_id in del_note or any(cites(r) for r in refs if isinstance(r, dict)):
            gone.append((key,))
    c.executemany("delete from consolidations where key = ?", gone)
    gone = []
    for tid, citations in c.execute(
            "select id, citations from recall_chat_turns where citations != '[]'"):
        try:
            refs = json.loads(citations or "[]")
        except ValueError:
            refs = []
        if any(cites(r) for r in refs if isinstance(r, dict)):
            gone.append((tid,))
    c.executemany("delete from recall_chat_turns where id = ?", gone)


# -- the files ------------------------------------------------------------------------------------
def _scrub_vectors(store: Store, home: Path, vectors: Optional[VectorIndex],
                   labels: list[int]) -> None:
    """Remove ``labels`` from the index and overwrite their stored vectors, then save.

    hnswlib's ``mark_deleted`` keeps a deleted vector in memory and in the saved
    file; updating it to noise first means the file no longer holds it. When the
    index is not loaded, it is opened from its files (no embedding model needed).
    """
    if not labels:
        return
    vindex = vectors if vectors is not None else open_index_without_model(home, store)
    if vindex is None:
        return
    vindex.scrub(labels)
    vindex.save()


def open_index_without_model(home: Path, store: Store) -> Optional[VectorIndex]:
    """The vector index of ``home`` opened from its own metadata (no embedding model), or
    None when there is none. An unreadable index is removed (it is rebuilt on next use)."""
    meta_path = Path(home) / VECTOR_DIR / META_FILE
    if not meta_path.exists():
        return None
    try:
        meta = json.loads(meta_path.read_text())
        return VectorIndex.open(Path(home) / VECTOR_DIR, meta["model_id"], int(meta["dim"]),
                                store)
    except Exception as e:  # an unreadable index is dropped; it is rebuilt on next use
        log.warning("vector index unreadable during delete (%s); removing it", e)
        for f in (Path(home) / VECTOR_DIR).iterdir():
            f.unlink()
        return None


def _compact_after_delete(store: Store) -> None:
    """Rewrite FTS segments and checkpoint the WAL so removed text leaves the files."""
    c = store.conn
    try:
        update_windows(store)  # drops/rebuilds windows that quoted removed messages
    except Exception as e:
        log.warning("updating search windows after a delete failed: %s", e)
    try:   # the keyword index holds the removed words: rebuilt from what is left
        keywords.rebuild_after_delete(store)
    except Exception as e:
        log.warning("rebuilding the keyword index after a delete failed: %s", e)
    # every FTS5 table: merge segments so deleted tokens go
    fts_tables = [r[0] for r in c.execute(
        "select name from sqlite_master where type = 'table' and sql like 'CREATE VIRTUAL%' "
        "and lower(sql) like '%using fts5%'")]
    with store.write() as db:
        for fts in fts_tables:
            db.conn.execute(f'insert into "{fts}"("{fts}") values (\'optimize\')')
    try:
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    except sqlite3.DatabaseError as e:
        log.warning("checkpoint after delete failed: %s", e)


def remove_store_files(home: Path, db_path: Path) -> None:
    """The wipe: delete the (closed) database with its WAL, the backups, index and logs."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        p = db_path.with_name(db_path.name + suffix)
        if p.exists():
            p.unlink()
    for sub in (VECTOR_DIR, BACKUP_DIR, LOG_DIR, keywords.KEYWORD_DIR):
        shutil.rmtree(Path(home) / sub, ignore_errors=True)
