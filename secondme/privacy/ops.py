"""PrivacyOps: the person owns the data — see, export, delete, forget, wipe, re-key.

Mixed into :class:`secondme.service.SecondMe`. Every removal goes through one engine,
:meth:`PrivacyOps._purge`, which deletes the given messages/chunks/notes *and everything
derived from them*:

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

Thread-safety: like every service method; purges are serialised by the store's write
lock and the service lock.
"""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Optional

from .api import DumpImportReport, ExportReport, RemovalReport, SourceInfo
from .errors import InvalidInput, NotFound, SecondMeError, StoreError
from .progress import CancelToken, ProgressFn, check, report

log = logging.getLogger(__name__)

DUMP_FILE = "secondme-dump.json"
CONTENT_TABLES = ("sources", "conversations", "messages", "documents", "chunks", "notes")


def _norm(name: str) -> str:
    try:
        from .memory.text import norm_name

        return norm_name(name)
    except Exception:
        return " ".join(re.sub(r"[^\w\s'-]", " ", name.lower()).split())


def _fts_phrase(text: str) -> str:
    """A safe FTS5 query: every word of ``text`` as a quoted term (AND)."""
    words = re.findall(r"\w+", text, flags=re.UNICODE)
    if not words:
        raise InvalidInput("the query has no words to search for")
    return " ".join('"' + w.replace('"', '""') + '"' for w in words)


def _placeholders(n: int) -> str:
    return ",".join("?" * n)


class PrivacyOps:
    """Sources, deletion, forgetting, wipe, export, dump import and key change."""

    def _pause_background(self) -> bool:
        """Stop the scheduler before the store is swapped; True if it was running."""
        was = bool(getattr(self, "background_running", False))
        stop = getattr(self, "stop_background", None)
        if stop:
            stop()
        return was

    # -- sources -------------------------------------------------------------------------------
    def list_sources(self) -> list[SourceInfo]:
        """Every imported source with live counts, newest first."""
        c = self.store.conn
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

    def delete_source(self, source_id: int, progress: Optional[ProgressFn] = None,
                      cancel: Optional[CancelToken] = None) -> RemovalReport:
        """Delete source ``source_id`` and everything derived from it (see module doc).

        Raises NotFound when there is no such source.
        """
        c = self.store.conn
        if c.execute("select 1 from sources where id = ?", [source_id]).fetchone() is None:
            raise NotFound(f"no source with id {source_id}; `secondme sources list` shows them")
        convs = [r[0] for r in c.execute("select id from conversations where source_id = ?",
                                         [source_id])]
        docs = [r[0] for r in c.execute("select id from documents where source_id = ?",
                                        [source_id])]
        return self._purge("delete source", source_ids=[source_id], conversation_ids=convs,
                           document_ids=docs, progress=progress, cancel=cancel)

    # -- forgetting ------------------------------------------------------------------------------
    def forget_person(self, name: str, *, messages: bool = False,
                      progress: Optional[ProgressFn] = None,
                      cancel: Optional[CancelToken] = None) -> RemovalReport:
        """Forget a person: every note about them, and the person (entity) itself.

        "About them": notes mentioning the entity (by name or alias) and notes whose text
        contains the name. With ``messages``, also the messages they wrote (speaker is the
        name or an alias) and the messages that mention them — and then the notes that
        rested only on those. Raises InvalidInput for an empty name, NotFound when
        nothing matches.
        """
        name = (name or "").strip()
        if not name:
            raise InvalidInput("give the name of the person to forget")
        c = self.store.conn
        key = _norm(name)
        names = {name}
        entity_ids = []
        for eid, ename, norm, aliases, is_me in c.execute(
                "select id, name, norm_name, aliases, is_me from entities"):
            try:
                alist = json.loads(aliases or "[]")
            except ValueError:
                alist = []
            if norm == key or _norm(ename) == key or any(_norm(a) == key for a in alist):
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
            q = _fts_phrase(n)
            note_ids.update(r[0] for r in c.execute(
                "select rowid from notes_fts where notes_fts match ?", [q]))
            if messages:
                message_ids.update(r[0] for r in c.execute(
                    "select rowid from messages_fts where messages_fts match ?", [q]))
                norm_n = _norm(n)
                message_ids.update(
                    r[0] for r in c.execute("select id, speaker from messages where speaker != ''")
                    if _norm(r[1]) == norm_n)
        if messages and entity_ids:
            message_ids.update(r[0] for r in c.execute(
                f"select distinct message_id from entity_mentions where message_id is not null "
                f"and entity_id in ({_placeholders(len(entity_ids))})", entity_ids))
        if not (note_ids or entity_ids or message_ids):
            raise NotFound(f"nothing is known about {name!r}")
        return self._purge("forget person", note_ids=note_ids, message_ids=message_ids,
                           entity_ids=entity_ids, progress=progress, cancel=cancel)

    def notes_matching(self, query: str, limit: int = 10_000) -> list[int]:
        """Ids of notes whose text, keywords, tags or context contain every word of ``query``."""
        return [r[0] for r in self.store.conn.execute(
            "select rowid from notes_fts where notes_fts match ? limit ?",
            [_fts_phrase(query), limit])]

    def forget_topic(self, query: str, progress: Optional[ProgressFn] = None,
                     cancel: Optional[CancelToken] = None) -> RemovalReport:
        """Forget every note matching ``query`` (all its words; see :meth:`notes_matching`).

        The messages and documents stay (delete their source to remove them). Raises
        NotFound when no note matches.
        """
        ids = self.notes_matching(query)
        if not ids:
            raise NotFound(f"no note matches {query!r}")
        return self._purge("forget topic", note_ids=ids, progress=progress, cancel=cancel)

    # -- wipe --------------------------------------------------------------------------------------
    def wipe(self) -> RemovalReport:
        """Delete everything: the database, its backups, the vector index and logs.

        The data directory is left as a fresh, empty store (still encrypted, with the
        same key, when it was encrypted). Settings go back to their defaults.
        """
        from .config import Settings
        from .paths import VECTOR_DIR
        from .store.db import Store

        counts = self.store.counts()
        was_running = self._pause_background()
        with self._lock:
            connector = self.store._connector
            db_path = Path(self.store.path)
            self._vectors = None
            self.store.close()
            for suffix in ("", "-wal", "-shm", "-journal"):
                p = db_path.with_name(db_path.name + suffix)
                if p.exists():
                    p.unlink()
            for sub in (VECTOR_DIR, "backups", "logs"):
                shutil.rmtree(self.home / sub, ignore_errors=True)
            self.store = Store.open(db_path, connector=connector)
            if getattr(self, "_job_runner", None) is not None:
                self._job_runner = None
            old, self._settings = self._settings, Settings()
            self._save_settings(self._settings)
        if was_running:
            self.start_background()
        self.hooks.emit("notes_did_change", ids=[], action="wipe")
        self.hooks.emit("index_did_change", items=0)
        self.hooks.emit("settings_did_change", old=old, new=self._settings)
        return RemovalReport("wipe", sources=counts["sources"],
                             conversations=counts["conversations"], messages=counts["messages"],
                             documents=counts["documents"], chunks=counts["chunks"],
                             notes=counts["notes"], entities=counts["entities"])

    # -- the purge engine ------------------------------------------------------------------------
    def _purge(self, action: str, *, source_ids: Iterable[int] = (),
               conversation_ids: Iterable[int] = (), document_ids: Iterable[int] = (),
               message_ids: Iterable[int] = (), chunk_ids: Iterable[int] = (),
               note_ids: Iterable[int] = (), entity_ids: Iterable[int] = (),
               progress: Optional[ProgressFn] = None,
               cancel: Optional[CancelToken] = None) -> RemovalReport:
        check(cancel)
        rep = RemovalReport(action)
        report(progress, action, 0, 3, "finding what depends on it")
        conn = self.store.conn
        conn.execute("PRAGMA secure_delete = ON")
        labels: list[int] = []
        hashes: list[str] = []
        with self.store.write() as db:
            c = db.conn
            sets = {"msg": set(message_ids), "chunk": set(chunk_ids), "note": set(note_ids),
                    "conv": set(conversation_ids), "doc": set(document_ids),
                    "src": set(source_ids), "ent": set(entity_ids)}
            for name, ids in sets.items():
                c.execute(f"create temp table if not exists _del_{name} (id integer primary key)")
                c.execute(f"delete from _del_{name}")
                c.executemany(f"insert or ignore into _del_{name} values (?)",
                              [(i,) for i in ids])
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
            rep.messages = c.execute("select count(*) from _del_msg").fetchone()[0]
            rep.chunks = c.execute("select count(*) from _del_chunk").fetchone()[0]
            rep.note_ids = [r[0] for r in c.execute("select id from _del_note order by id")]
            rep.notes = len(rep.note_ids)
            report(progress, action, 1, 3, "removing")
            # vectors of everything removed
            for kind, table in (("message", "_del_msg"), ("chunk", "_del_chunk"),
                                ("note", "_del_note")):
                for label, h in c.execute(
                        f"select label, content_hash from vector_items where kind = ? and "
                        f"item_id in (select id from {table})", [kind]):
                    labels.append(label)
                    hashes.append(h)
                c.execute(f"delete from vector_items where kind = ? and item_id in "
                          f"(select id from {table})", [kind])
            rep.vectors = len(labels)
            if hashes:
                c.execute("create temp table if not exists _del_hash (h text primary key)")
                c.execute("delete from _del_hash")
                c.executemany("insert or ignore into _del_hash values (?)",
                              [(h,) for h in hashes])
                c.execute("delete from embeddings where content_hash in (select h from _del_hash) "
                          "and content_hash not in (select content_hash from vector_items)")
            # records that quote or cite removed items
            self._purge_citing_records(c)
            c.execute("delete from history where note_id in (select id from _del_note)")
            c.execute("delete from notes where id in (select id from _del_note)")
            c.execute("delete from messages where id in (select id from _del_msg)")
            c.execute("delete from chunks where id in (select id from _del_chunk)")
            rep.conversations = c.execute(
                "delete from conversations where id in (select id from _del_conv)").rowcount
            rep.documents = c.execute(
                "delete from documents where id in (select id from _del_doc)").rowcount
            rep.sources = c.execute(
                "delete from sources where id in (select id from _del_src)").rowcount
            # entities asked for, and entities nothing mentions any more (except "me")
            rep.entities = c.execute(
                "delete from entities where id in (select id from _del_ent)").rowcount
            if "entity_mentions" in db.table_names():
                rep.entities += c.execute(
                    "delete from entities where is_me = 0 and not exists "
                    "(select 1 from entity_mentions m where m.entity_id = entities.id)").rowcount
            if "formed_items" in db.table_names():
                c.execute("delete from formed_items where (item_kind = 'message' and item_id in "
                          "(select id from _del_msg)) or (item_kind = 'chunk' and item_id in "
                          "(select id from _del_chunk))")
            for name in sets:
                c.execute(f"delete from _del_{name}")
        check(cancel)
        report(progress, action, 2, 3, "scrubbing indexes")
        self._scrub_vectors(labels)
        self._compact_after_delete()
        report(progress, action, 3, 3)
        if rep.note_ids:
            self.hooks.emit("notes_did_change", ids=list(rep.note_ids), action="delete")
        if labels:
            self.hooks.emit("index_did_change", items=len(labels))
        return rep

    def _purge_citing_records(self, c: sqlite3.Connection) -> None:
        """Drop consolidation records and chat answers that quote or cite removed items."""
        tables = {r[0] for r in c.execute("select name from sqlite_master where type = 'table'")}
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

        if "consolidations" in tables:
            gone = []
            for key, note_id, lines in c.execute(
                    "select key, note_id, lines from consolidations"):
                try:
                    refs = [s for line in json.loads(lines or "[]")
                            for s in (line.get("sources") or [])]
                except (ValueError, AttributeError):
                    refs = []
                if note_id in del_note or any(cites(r) for r in refs if isinstance(r, dict)):
                    gone.append((key,))
            c.executemany("delete from consolidations where key = ?", gone)
        if "recall_chat_turns" in tables:
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

    def _scrub_vectors(self, labels: list[int]) -> None:
        """Remove ``labels`` from the index and overwrite their stored vectors, then save.

        hnswlib's ``mark_deleted`` keeps a deleted vector in memory and in the saved
        file; updating it to noise first means the file no longer holds it. When the
        index is not loaded, it is opened from its files (no embedding model needed).
        """
        if not labels:
            return
        vindex = self._vectors
        if vindex is None:
            vindex = self._open_index_without_model()
        if vindex is None:
            return
        vindex.scrub(labels)
        vindex.save()

    def _open_index_without_model(self):
        from .paths import VECTOR_DIR
        from .store.vectors import META_FILE, VectorIndex

        meta_path = self.home / VECTOR_DIR / META_FILE
        if not meta_path.exists():
            return None
        try:
            meta = json.loads(meta_path.read_text())
            return VectorIndex.open(self.home / VECTOR_DIR, meta["model_id"], int(meta["dim"]),
                                    self.store)
        except Exception as e:  # an unreadable index is dropped; it is rebuilt on next use
            log.warning("vector index unreadable during delete (%s); removing it", e)
            for f in (self.home / VECTOR_DIR).iterdir():
                f.unlink()
            return None

    def _compact_after_delete(self) -> None:
        """Rewrite FTS segments and checkpoint the WAL so removed text leaves the files."""
        c = self.store.conn
        try:
            from .recall.windows import update_windows

            update_windows(self.store)  # drops/rebuilds windows that quoted removed messages
        except ImportError:
            pass
        except Exception as e:
            log.warning("updating search windows after a delete failed: %s", e)
        # every FTS5 table (ours and other areas'): merge segments so deleted tokens go
        fts_tables = [r[0] for r in c.execute(
            "select name from sqlite_master where type = 'table' and sql like 'CREATE VIRTUAL%' "
            "and lower(sql) like '%using fts5%'")]
        with self.store.write() as db:
            for fts in fts_tables:
                db.conn.execute(f'insert into "{fts}"("{fts}") values (\'optimize\')')
        try:
            c.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        except sqlite3.DatabaseError as e:
            log.warning("checkpoint after delete failed: %s", e)

    # -- export ------------------------------------------------------------------------------------
    def export_all(self, directory: str | os.PathLike, *, overwrite: bool = False,
                   progress: Optional[ProgressFn] = None,
                   cancel: Optional[CancelToken] = None) -> ExportReport:
        """Export everything to ``directory``: a Markdown vault plus a lossless JSON dump.

        The vault has one file per note under ``notes/`` (YAML front matter with dates,
        tags and sources — message external ids, conversation, timestamp, speaker, or
        document and page — and ``[[links]]`` to other notes by file name) and an
        ``index.md``. ``secondme-dump.json`` holds every table needed to restore (see
        :meth:`import_dump`). The export is NOT encrypted. Raises InvalidInput when the
        directory is inside the data dir or not empty (unless ``overwrite``).
        """
        from .export import write_dump, write_vault

        out = Path(directory).expanduser().resolve()
        home = Path(self.home).resolve()
        if out == home or home in out.parents:
            raise InvalidInput("export to a folder outside the data directory (the export is "
                               "not encrypted)", path=out)
        if out.exists() and any(out.iterdir()) and not overwrite:
            raise InvalidInput("the export folder is not empty; choose an empty one or "
                               "overwrite it", path=out)
        try:
            out.mkdir(parents=True, exist_ok=True)
            notes = write_vault(self.store, out, progress=progress, cancel=cancel)
            tables = write_dump(self.store, out / DUMP_FILE, progress=progress, cancel=cancel)
        except OSError as e:
            raise SecondMeError(f"cannot write the export: {e.strerror or e}", path=out) from e
        return ExportReport(str(out), notes, str(out / DUMP_FILE), tables)

    def import_dump(self, path: str | os.PathLike, *, index: bool = True,
                    progress: Optional[ProgressFn] = None,
                    cancel: Optional[CancelToken] = None) -> DumpImportReport:
        """Restore a ``secondme-dump.json`` into this (empty) store.

        Ids are kept, so every reference (note sources, links, mentions) stays intact;
        FTS rows are rebuilt by the triggers; with ``index`` the vectors are recomputed.
        Raises InvalidInput when the store is not empty, ImportFormatError when the file
        is not a dump, StoreError when it was made by a newer secondme.
        """
        from .export import read_dump

        counts = self.store.counts()
        if any(counts[t] for t in CONTENT_TABLES):
            raise InvalidInput("import-dump needs an empty data directory; this one already "
                               "holds data (use --home with a new folder)")
        tables = read_dump(self.store, Path(path), progress=progress, cancel=cancel)
        with self._lock:
            self._settings = self._load_settings()
            self._vectors = None
        rep = DumpImportReport(tables)
        if index:
            rep.indexed = self.index_pending(progress=progress, cancel=cancel).items
        self.hooks.emit("notes_did_change", ids=[], action="import-dump")
        return rep

    # -- keys -----------------------------------------------------------------------------------------
    def encryption_status(self) -> dict[str, Any]:
        """Whether this store is encrypted and how the key is kept (for the Settings pane)."""
        from .crypto import describe

        return describe(self.home)

    def change_key(self, *, passphrase: Optional[str] = None,
                   use_keyring: Optional[bool] = None,
                   scrypt_n: Optional[int] = None) -> dict[str, Any]:
        """Re-encrypt the store (database, backups, vector index) with a new key.

        With ``passphrase``: the new key is derived from it (the store becomes a
        passphrase store). Otherwise a new random key goes to the OS keyring. Crash-safe
        (see :mod:`secondme.crypto`). Raises InvalidInput when the store is not encrypted
        (use :meth:`encrypt_store`), EncryptionError when the new key cannot be kept.
        """
        from . import crypto
        from .paths import DB_FILE
        from .store.db import Store

        marker = crypto.EncryptionMarker.read(self.home)
        if marker is None or not self.store.encrypted:
            raise InvalidInput("this data directory is not encrypted; encrypt it first "
                               "(secondme encrypt)")
        old = self.store._connector
        new, pending = crypto.plan_new_key(self.home, marker, passphrase=passphrase,
                                           use_keyring=use_keyring,
                                           scrypt_n=scrypt_n or crypto.SCRYPT_N)
        files = []
        was_running = self._pause_background()
        with self._lock:
            vectors_blob = self._read_index_plain(old)
            self.store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._vectors = None
            self.store.close()
            db_path = self.home / DB_FILE
            conn = old(str(db_path))
            try:
                old.rekey(conn, new)
            finally:
                conn.close()
            files.append(DB_FILE)
            files += _rekey_backups(self.home, old, new)
            if vectors_blob is not None:
                self._write_index(new, vectors_blob)
                files.append("vectors")
            crypto.finish_key_change(self.home, marker, new, pending)
            self.store = Store.open(db_path, connector=new)
            if getattr(self, "_job_runner", None) is not None:
                self._job_runner = None
        if was_running:
            self.start_background()
        return {"method": pending["method"], "files": files}

    def encrypt_store(self, *, passphrase: Optional[str] = None,
                      use_keyring: Optional[bool] = None,
                      scrypt_n: Optional[int] = None) -> dict[str, Any]:
        """Encrypt an existing plain store in place (the Settings pane's "Encrypt" button).

        Copies the database into a new SQLCipher file (``sqlcipher_export``), encrypts
        the backups and the vector index the same way, writes the marker, then swaps the
        files. Raises InvalidInput when it is already encrypted.
        """
        from . import crypto
        from .paths import DB_FILE
        from .store.db import Store

        if crypto.is_encrypted(self.home):
            raise InvalidInput("this data directory is already encrypted; use key change")
        new, marker = crypto.new_key_for(self.home, passphrase=passphrase,
                                         use_keyring=use_keyring,
                                         scrypt_n=scrypt_n or crypto.SCRYPT_N)
        was_running = self._pause_background()
        with self._lock:
            vectors_blob = self._read_index_plain(None)
            _remove_index_files(self.home)  # the plain copy must not outlive the switch
            self.store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._vectors = None
            self.store.close()
            db_path = self.home / DB_FILE
            crypto.export_encrypted(db_path, new)
            files = [DB_FILE]
            files += _encrypt_backups(self.home, new)
            marker.write(self.home)
            crypto.swap_in_encrypted(db_path)
            if vectors_blob is not None:
                self._write_index(new, vectors_blob)
                files.append("vectors")
            self.store = Store.open(db_path, connector=new)
            if getattr(self, "_job_runner", None) is not None:
                self._job_runner = None
        if was_running:
            self.start_background()
        return {"method": marker.method, "files": files}

    def _read_index_plain(self, connector) -> Optional[bytes]:
        """The vector index as an in-memory pickle (decrypted), or None if there is none."""
        from .paths import VECTOR_DIR
        from .store.vectors import INDEX_FILE

        if self._vectors is not None and self._vectors.dirty:
            self._vectors.save()
        path = self.home / VECTOR_DIR / INDEX_FILE
        if not path.exists():
            return None
        cipher = getattr(connector, "file_cipher", None) if connector else None
        try:
            if cipher is not None:
                return cipher.read_file(path, "vector index")
            import pickle

            import hnswlib

            meta = json.loads((self.home / VECTOR_DIR / "index.json").read_text())
            index = hnswlib.Index(space="cosine", dim=int(meta["dim"]))
            index.load_index(str(path), max_elements=max(1024, int(meta["count"]) * 2))
            return pickle.dumps(index, protocol=5)
        except Exception as e:  # an unreadable index is rebuilt from the database later
            log.warning("vector index unreadable while re-keying (%s); it will be rebuilt", e)
            return None

    def _write_index(self, connector, blob: bytes) -> None:
        from .paths import VECTOR_DIR
        from .store.vectors import INDEX_FILE

        connector.file_cipher.write_file(self.home / VECTOR_DIR / INDEX_FILE, blob,
                                         "vector index")


def _remove_index_files(home: Path) -> None:
    from .paths import VECTOR_DIR

    d = Path(home) / VECTOR_DIR
    if d.is_dir():
        for f in d.iterdir():
            if f.is_file():
                f.unlink()


def _backup_files(home: Path) -> list[Path]:
    d = Path(home) / "backups"
    if not d.is_dir():
        return []
    return sorted(p for p in d.iterdir() if p.is_file() and p.suffix == ".db")


def _rekey_backups(home: Path, old, new) -> list[str]:
    """Re-encrypt every backup that opens with ``old`` so it opens with ``new``."""
    done = []
    for p in _backup_files(home):
        try:
            conn = old(str(p))
            conn.execute("select count(*) from sqlite_master").fetchone()
        except sqlite3.DatabaseError:
            continue  # another key already (or damaged): leave it as it is
        try:
            old.rekey(conn, new)
            done.append(f"backups/{p.name}")
        finally:
            conn.close()
    return done


def _encrypt_backups(home: Path, new) -> list[str]:
    from .crypto import export_encrypted, swap_in_encrypted

    done = []
    for p in _backup_files(home):
        with open(p, "rb") as f:
            if f.read(16) != b"SQLite format 3\x00":
                continue
        export_encrypted(p, new)
        swap_in_encrypted(p)
        done.append(f"backups/{p.name}")
    return done


# -- recovery without opening the store -----------------------------------------------------------
@dataclass
class StartupCheck:
    """What the desktop app (or the CLI) learns before opening a data directory.

    ``state``: ``ok`` | ``new`` | ``needs_passphrase`` | ``locked`` (key missing/wrong) |
    ``damaged``. ``message`` is for a person; ``latest_backup`` names the snapshot a
    ``damaged`` store can be restored from (:func:`recover_latest`).
    """

    state: str
    message: str = ""
    latest_backup: Optional[str] = None
    encrypted: bool = False


def check_startup(home: str | os.PathLike, passphrase: Optional[str] = None, *,
                  thorough: bool = True) -> StartupCheck:
    """Check ``home`` before opening it (the app's start-up and unlock dialogs call this).

    Never creates anything. With ``thorough``, runs ``PRAGMA quick_check`` (about a
    second per GB) so that damage deep inside the file is found at start, not later.
    """
    from . import crypto
    from .errors import EncryptionError
    from .paths import DB_FILE

    home = Path(home).expanduser()
    encrypted = crypto.is_encrypted(home)
    db = home / DB_FILE
    latest = _latest_backup(home)
    if not db.exists() and not encrypted:
        return StartupCheck("new", "", latest, False)
    if encrypted and crypto.needs_passphrase(home) and not passphrase:
        return StartupCheck("needs_passphrase", "Enter the passphrase of this data directory.",
                            latest, True)
    try:
        connector = crypto.connector_for_home(home, passphrase)
    except EncryptionError as e:
        return StartupCheck("locked", str(e), latest, encrypted)
    except StoreError as e:
        return StartupCheck("damaged", _damaged_message(str(e), latest), latest, encrypted)
    problem = _db_problem(db, connector or _plain_connect, thorough)
    if problem:
        return StartupCheck("damaged", _damaged_message(problem, latest), latest, encrypted)
    return StartupCheck("ok", "", latest, encrypted)


def _plain_connect(path: str) -> sqlite3.Connection:
    return sqlite3.connect(path, timeout=30, check_same_thread=False)


def _db_problem(db: Path, connector, thorough: bool) -> Optional[str]:
    try:
        conn = connector(str(db))
    except sqlite3.DatabaseError as e:
        return f"the database cannot be opened ({e})"
    try:
        conn.execute("select count(*) from sqlite_master").fetchone()
        if thorough:
            rows = [r[0] for r in conn.execute("PRAGMA quick_check")]
            if rows != ["ok"]:
                return "the database is damaged: " + "; ".join(rows[:3])
    except sqlite3.DatabaseError as e:
        return f"the database is damaged ({e})"
    finally:
        conn.close()
    return None


def _damaged_message(problem: str, latest: Optional[str]) -> str:
    if latest:
        return (f"{problem}. Restore the latest backup ({latest}) with `secondme recover` "
                "(the damaged file is kept beside it)")
    return f"{problem}. There is no backup to restore; `secondme doctor` shows details"


def _latest_backup(home: Path) -> Optional[str]:
    files = _backup_files(home)
    if not files:
        return None
    try:
        from .lifecycle.backup import _NAME_RE
        files = [p for p in files if _NAME_RE.match(p.name)] or files
    except ImportError:
        pass
    # the names carry a UTC timestamp; newest first, daily snapshots before pre-restore ones
    return max(files, key=lambda p: (p.stem.split("-", 1)[-1], p.stat().st_mtime)).name


def recover_latest(home: str | os.PathLike, passphrase: Optional[str] = None,
                   name: Optional[str] = None) -> dict[str, Any]:
    """Replace a damaged database with the latest (or ``name``d) backup that is sound.

    Works without opening the damaged store. The damaged file is moved aside to
    ``secondme.db.damaged-<time>`` (never deleted); the vector index is dropped (rebuilt
    on next use). Raises NotFound when no usable backup exists.
    """
    from . import crypto
    from .paths import DB_FILE, VECTOR_DIR

    home = Path(home).expanduser().resolve()
    marker = crypto.EncryptionMarker.read(home)
    connector = _plain_connect
    if marker is not None:
        db = home / DB_FILE
        if db.exists():
            try:
                connector = crypto.unlock(home, passphrase) or _plain_connect
            except StoreError:
                connector = crypto.key_only_connector(home, passphrase)
        else:
            connector = crypto.key_only_connector(home, passphrase)
    candidates = sorted(_backup_files(home), key=lambda p: (p.stem.split("-", 1)[-1],
                                                            p.stat().st_mtime), reverse=True)
    if name:
        candidates = [p for p in candidates if p.name == name]
    chosen = None
    for p in candidates:
        if _db_problem(p, connector, True) is None:
            chosen = p
            break
    if chosen is None:
        raise NotFound("no sound backup to restore from" + (f" called {name!r}" if name else ""))
    db = home / DB_FILE
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    moved = None
    if db.exists():
        moved = db.with_name(f"{DB_FILE}.damaged-{stamp}")
        os.replace(db, moved)
    for suffix in ("-wal", "-shm"):
        side = db.with_name(DB_FILE + suffix)
        if side.exists():
            side.rename(side.with_name(f"{DB_FILE}.damaged-{stamp}{suffix}"))
    tmp = db.with_name(DB_FILE + ".restoring")
    shutil.copyfile(chosen, tmp)
    os.replace(tmp, db)
    shutil.rmtree(home / VECTOR_DIR, ignore_errors=True)
    return {"restored": chosen.name, "damaged_copy": moved.name if moved else None}


__all__ = ["PrivacyOps", "SourceInfo", "RemovalReport", "ExportReport", "DumpImportReport",
           "StartupCheck", "check_startup", "recover_latest", "DUMP_FILE"]
