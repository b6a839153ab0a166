"""The import pipeline: detect → parse (streaming) → store, one transaction per unit.

``plan_path`` looks at a file, folder or ZIP and decides, by content, which chat
formats claim which files and which of the rest are documents. ``Importer`` then
streams every claim through its parser and stores each Conversation in its own
transaction:

* conversations are unique by (format, external_id), messages by
  (conversation_id, external_id): importing the same export twice adds nothing, and a
  newer export of the same chat adds only the messages not stored yet (their positions
  continue after the last stored one; their own timestamps are kept);
* a conversation is written whole or not at all, so an import killed at any moment
  leaves a consistent store and running it again finishes the job;
* a broken conversation becomes an error in the report; the rest still import;
* documents are unique by path: unchanged content → skipped, changed → chunks replaced
  in one transaction; wikilinks are resolved into ``document_links``.

Keyword search works as soon as a transaction commits (FTS5 triggers). Embedding and
memory formation are left to the background (the ``import_did_finish`` hook).

This module is the only writer of conversations and messages: the conversations the app
writes itself (what the person tells secondme, what an MCP client adds, evaluation and
demo data) go through :func:`append_messages` / :func:`store_conversation` too, so they
are stored, deduplicated and indexed exactly like an import.
"""
from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import datetime
from hashlib import blake2b as _b2
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional

from ..api import DetectedSource, SourceReport
from ..errors import Cancelled, DataDirError, ImportFormatError, SecondMeError
from ..progress import CancelToken, ProgressFn, Throttle, check, report
from ..store.db import Store, utcnow
from ..store.vectors import drop_vector_items
from .common import Claim, ParseContext, norm_name
from .formats import DOCUMENTS, chat_formats, chat_module, documents_module, format_choices
from .model import Conversation, Document, ParseProblem
from .tree import DirTree, Tree, ZipTree, open_tree

log = logging.getLogger(__name__)

PARSER_VERSION = 1


# -- detection ----------------------------------------------------------------------------

@dataclass
class Plan:
    """Which files of a path each format reads, and which are documents."""

    path: str
    claims: list[Claim] = field(default_factory=list)
    documents: list[tuple[Tree, str]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (path, why not read)
    trees: list[Tree] = field(default_factory=list)
    vault: bool = False

    @property
    def formats(self) -> list[str]:
        out = list(dict.fromkeys(c.format for c in self.claims))
        if self.documents:
            out.append(DOCUMENTS)
        return out

    @property
    def kind(self) -> str:
        chat, docs = bool(self.claims), bool(self.documents)
        return "mixed" if chat and docs else "chat" if chat else "document" if docs else ""

    @property
    def format(self) -> str:
        f = self.formats
        return f[0] if len(f) == 1 else "mixed" if f else ""

    def description(self) -> str:
        parts = []
        for fmt in dict.fromkeys(c.format for c in self.claims):
            n = sum(1 for c in self.claims if c.format == fmt)
            label = chat_module(fmt).LABEL
            parts.append(f"{label} ({n} file{'s' if n != 1 else ''})" if n > 1 else label)
        if self.documents:
            n = len(self.documents)
            parts.append(("Obsidian vault" if self.vault else "documents")
                         + f" ({n} file{'s' if n != 1 else ''})")
        return ", ".join(parts) or "nothing secondme can import"

    def close(self) -> None:
        for t in reversed(self.trees):
            try:
                t.close()
            except Exception:  # closing is best effort
                pass

    def __enter__(self) -> "Plan":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def plan_path(path: str | Path, format: Optional[str] = None) -> Plan:
    """Detect what ``path`` (file, folder or ZIP) holds. ``format`` forces one format.

    Raises ImportFormatError when the path does not exist, cannot be read, or holds
    nothing secondme can import; InvalidInput-like ImportFormatError for an unknown
    ``format``.
    """
    if format is not None and format not in format_choices():
        raise ImportFormatError(f"unknown format {format!r}; choose one of "
                                + ", ".join(format_choices()))
    tree = open_tree(path)
    plan = Plan(str(path), trees=[tree])
    try:
        _plan_tree(plan, tree, format, nested=True)
        if not plan.claims and not plan.documents:
            raise _nothing_error(path, tree, format, plan)
    except BaseException:
        plan.close()
        raise
    return plan


def _nothing_error(path, tree: Tree, format: Optional[str], plan: Plan) -> ImportFormatError:
    if format and format != DOCUMENTS:
        label = chat_module(format).LABEL
        return ImportFormatError(f"no {label} export found here", path=path)
    if not tree.files():
        return ImportFormatError("nothing to import: the folder or archive is empty", path=path)
    return ImportFormatError(
        "unsupported format: not a chat export or document secondme can read"
        + "; supported: " + ", ".join(chat_formats())
        + ", Markdown/text, PDF, DOCX, HTML (use --format to force one)", path=path)


def _plan_tree(plan: Plan, tree: Tree, format: Optional[str], nested: bool) -> None:
    pool: list[str] = []
    files = tree.files()
    if isinstance(tree, DirTree):
        plan.refused.extend(tree.refused)
    for rel in files:
        if nested and isinstance(tree, DirTree) and rel.lower().endswith(".zip"):
            try:
                z = ZipTree(tree.path / rel)
            except ImportFormatError:
                plan.skipped.append(tree.display(rel))
                continue
            plan.trees.append(z)
            _plan_tree(plan, z, format, nested=False)
            continue
        pool.append(rel)
    if format == DOCUMENTS:
        names: list[str] = []
    elif format:
        names = [format]
    else:
        names = chat_formats()
    for name in names:
        try:
            claims = chat_module(name).claim(tree, pool, force=bool(format))
        except (RecursionError, MemoryError) as e:  # one hostile file: not this format
            _unexpected(e, tree.label)
            claims = []
        if claims:
            taken = {f for c in claims for f in (*c.files, *c.covers)}
            pool = [f for f in pool if f not in taken]
            plan.claims.extend(claims)
    if format in (None, DOCUMENTS):
        docmod = documents_module()
        try:
            plan.vault = plan.vault or bool(docmod.is_vault(tree))
        except SecondMeError:
            pass
        for rel in pool:
            try:
                ok = docmod.is_document(tree, rel)
            except SecondMeError:
                ok = False
            (plan.documents.append((tree, rel)) if ok
             else plan.skipped.append(tree.display(rel)))
    else:
        plan.skipped.extend(tree.display(r) for r in pool)


# -- storing ------------------------------------------------------------------------------

_INSERT_MESSAGE = (
    "insert into messages (conversation_id, external_id, position, speaker, is_me, kind, "
    "timestamp, ts, text, reply_to, attachments, content_hash) "
    "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")


def me_names(names: Iterable[str]) -> frozenset[str]:
    """The normalised forms of ``names`` (the names that mean "me"), empty ones dropped."""
    return frozenset(n for n in (norm_name(x) for x in names) if n)


def store_conversation(store: Store, conv: Conversation, source_id: Optional[int],
                       me: frozenset[str], extra_meta: Optional[dict] = None
                       ) -> tuple[int, int, bool]:
    """Store ``conv`` in one transaction; returns (added, skipped, conversation_is_new).

    Messages already stored (same external id in the same conversation) are skipped;
    new ones get positions after the last stored one. ``is_me`` left None by the parser
    is decided by ``me`` (normalised names).
    """
    with store.write() as db:
        _cid, added, skipped, new_conv = _write_conversation(db.conn, conv, source_id, me,
                                                             extra_meta)
    return added, skipped, new_conv


def append_messages(store: Store, conv: Conversation,
                    me: frozenset[str] = frozenset()) -> list[int]:
    """Store ``conv`` like an import does and return the ids of the messages it added.

    For conversations the app writes itself (what the person tells secondme in the
    chat, what an MCP client adds, generated demo chats): the conversation is unique by
    (format, external_id) and created on first use; messages are deduplicated by external
    id, get positions after the last stored one, the same content hash and full-text
    index as imported ones, and are embedded and formed into memories by the same
    background jobs. Ids are in ``conv.messages`` order; a message already stored gets
    none. One transaction (a savepoint inside a caller's transaction).
    """
    with store.write() as db:
        cid, added, _skipped, _new = _write_conversation(db.conn, conv, None, me, None)
        if not added:
            return []
        rows = db.conn.execute("select id from messages where conversation_id = ? "
                               "order by position desc limit ?", [cid, added]).fetchall()
    return [r[0] for r in reversed(rows)]


def next_position(store: Store, format: str, external_id: str) -> int:
    """The position the next message of conversation (``format``, ``external_id``) gets:
    0 when the conversation does not exist yet. Call it inside the write transaction
    that appends the message when the message's external id is derived from it."""
    row = store.conn.execute(
        "select coalesce(max(m.position), -1) + 1 from conversations c join messages m "
        "on m.conversation_id = c.id where c.format = ? and c.external_id = ?",
        [format, external_id]).fetchone()
    return row[0]


def _write_conversation(conn, conv: Conversation, source_id: Optional[int],
                        me: frozenset[str], extra_meta: Optional[dict]
                        ) -> tuple[int, int, int, bool]:
    """Write ``conv`` on ``conn`` (inside a write transaction); returns (conversation id,
    messages added, messages skipped, conversation_is_new)."""
    epochs = [_epoch(m.timestamp) if m.timestamp is not None else None
              for m in conv.messages]
    known = [(e, i) for i, e in enumerate(epochs) if e is not None]
    first = conv.messages[min(known)[1]].timestamp.isoformat() if known else None
    last = conv.messages[max(known)[1]].timestamp.isoformat() if known else None
    meta = dict(conv.metadata)
    if extra_meta:
        meta.update(extra_meta)
    cid, existing, pos, new_conv = _conversation_row(conn, conv, source_id, meta, first, last)
    rows = []
    skipped = 0
    me_cache: dict[str, int] = {}
    for m, epoch in zip(conv.messages, epochs):
        xid = m.external_id
        if xid in existing:
            skipped += 1
            continue
        existing.add(xid)
        if m.is_me is None:
            flag = me_cache.get(m.speaker)
            if flag is None:
                flag = me_cache[m.speaker] = int(bool(m.speaker)
                                                 and norm_name(m.speaker) in me)
        else:
            flag = int(m.is_me)
        iso = m.timestamp.isoformat() if epoch is not None else None
        atts = ("[]" if not m.attachments else json.dumps(
            [{"kind": a.kind, "name": a.name, "note": a.note} for a in m.attachments],
            ensure_ascii=False))
        rows.append((cid, xid, pos, m.speaker, flag, m.kind, iso, epoch, m.text,
                     m.reply_to, atts,
                     _b2(f"{m.speaker}\x1f{iso}\x1f{m.text}".encode("utf-8", "surrogatepass"),
                         digest_size=8).hexdigest()))
        pos += 1
    if rows:
        insert_message_rows(conn, rows)
    return cid, len(rows), skipped, new_conv


def _conversation_row(conn, conv: Conversation, source_id: Optional[int], meta: dict,
                      first: Optional[str], last: Optional[str]
                      ) -> tuple[int, set[str], int, bool]:
    """Create or update the conversations row of ``conv``; returns (id, external ids of
    its stored messages, the next position, is_new)."""
    row = conn.execute("select id, participants, metadata, started_at, updated_at "
                       "from conversations where format = ? and external_id = ?",
                       [conv.format, conv.external_id]).fetchone()
    if row is None:
        cid = conn.execute(
            "insert into conversations (source_id, format, external_id, title, "
            "participants, started_at, updated_at, metadata) values (?,?,?,?,?,?,?,?)",
            [source_id, conv.format, conv.external_id, conv.title,
             json.dumps(conv.participants, ensure_ascii=False), first, last,
             json.dumps(meta, ensure_ascii=False, default=str)]).lastrowid
        return cid, set(), 0, True
    cid = row[0]
    parts = list(dict.fromkeys([*_loads(row[1], []), *conv.participants]))
    old_meta = _loads(row[2], {})
    old_meta.update(meta)
    conn.execute("update conversations set title = ?, participants = ?, "
                 "metadata = ?, started_at = ?, updated_at = ? where id = ?",
                 [conv.title or "", json.dumps(parts, ensure_ascii=False),
                  json.dumps(old_meta, ensure_ascii=False, default=str),
                  _earliest(row[3], first), _latest(row[4], last), cid])
    existing = {r[0] for r in conn.execute(
        "select external_id from messages where conversation_id = ?", [cid])}
    pos = conn.execute("select coalesce(max(position), -1) + 1 from messages "
                       "where conversation_id = ?", [cid]).fetchone()[0]
    return cid, existing, pos, False


_COLS = 12


def _rows_per_statement(conn) -> int:
    try:
        limit = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    except Exception:  # a driver (sqlcipher3) without getlimit or with its own errors
        limit = 999
    return max(1, min(1000, limit // _COLS))


def insert_message_rows(conn, rows: list[tuple]) -> None:
    """Insert message rows with multi-row INSERT statements.

    Why not ``executemany``: the FTS5 trigger flushes the full-text index at the end of
    every statement, so one row per statement writes a tiny index segment per message
    (measured ~4x slower on 20k messages). Many rows per statement flush once per batch.
    """
    per = _rows_per_statement(conn)
    head = _INSERT_MESSAGE.split(" values ")[0] + " values "
    one = "(" + ",".join("?" * _COLS) + ")"
    full_sql = head + ",".join([one] * per)
    for i in range(0, len(rows), per):
        part = rows[i:i + per]
        sql = full_sql if len(part) == per else head + ",".join([one] * len(part))
        conn.execute(sql, [v for r in part for v in r])


def _epoch(dt: datetime) -> float:
    try:
        return dt.timestamp()
    except (OverflowError, OSError, ValueError):
        return 0.0


def _loads(s: Optional[str], default: Any) -> Any:
    try:
        v = json.loads(s) if s else default
    except ValueError:
        return default
    return v if isinstance(v, type(default)) else default


def _earliest(a: Optional[str], b: Optional[str]) -> Optional[str]:
    if not a or not b:
        return a or b
    return a if datetime.fromisoformat(a) <= datetime.fromisoformat(b) else b


def _latest(a: Optional[str], b: Optional[str]) -> Optional[str]:
    if not a or not b:
        return a or b
    return a if datetime.fromisoformat(a) >= datetime.fromisoformat(b) else b


def store_document(store: Store, doc: Document, source_id: Optional[int]
                   ) -> tuple[str, list[int]]:
    """Store ``doc`` (unique by path) in one transaction.

    Returns (outcome, removed_vector_labels) with outcome ``added``, ``unchanged`` (same
    content hash: nothing written) or ``updated`` (chunks and links replaced).
    """
    chash = doc.content_hash or hashlib.sha256(
        "\n".join(c.text for c in doc.chunks).encode("utf-8", "surrogatepass")).hexdigest()
    meta = json.dumps(doc.metadata, ensure_ascii=False, default=str)
    created = doc.created_at.isoformat() if doc.created_at else None
    modified = doc.modified_at.isoformat() if doc.modified_at else None
    with store.write() as db:
        conn = db.conn
        row = conn.execute("select id, content_hash from documents where path = ?",
                           [doc.path]).fetchone()
        removed: list[int] = []
        if row is not None and row[1] == chash:
            return "unchanged", []
        if row is None:
            did = conn.execute(
                "insert into documents (source_id, format, path, title, content_hash, "
                "created_at, modified_at, metadata) values (?,?,?,?,?,?,?,?)",
                [source_id, doc.format, doc.path, doc.title, chash, created, modified,
                 meta]).lastrowid
            outcome = "added"
        else:
            did = row[0]
            conn.execute("update documents set source_id = coalesce(?, source_id), "
                         "format = ?, title = ?, content_hash = ?, created_at = ?, "
                         "modified_at = ?, metadata = ? where id = ?",
                         [source_id, doc.format, doc.title, chash, created, modified, meta,
                          did])
            removed = drop_vector_items(conn, "chunk", [r[0] for r in conn.execute(
                "select id from chunks where document_id = ?", [did])])
            conn.execute("delete from chunks where document_id = ?", [did])
            conn.execute("delete from document_links where src_document_id = ?", [did])
            outcome = "updated"
        conn.executemany(
            "insert into chunks (document_id, position, text, page, heading, char_start, "
            "char_end, content_hash) values (?,?,?,?,?,?,?,?)",
            [(did, i, c.text, c.page, c.heading or "", c.char_start, c.char_end,
              hashlib.sha256(c.text.encode("utf-8", "surrogatepass")).hexdigest()[:32])
             for i, c in enumerate(doc.chunks)])
        seen = set()
        links = []
        for ln in doc.links:
            key = (ln.target, ln.heading or "")
            if key in seen or not ln.target:
                continue
            seen.add(key)
            links.append((did, ln.target, ln.heading or "", ln.alias or "", int(ln.embed)))
        conn.executemany("insert or ignore into document_links (src_document_id, target, "
                         "heading, alias, embed) values (?,?,?,?,?)", links)
    return outcome, removed


def _link_keys(target: str) -> list[str]:
    t = target.strip().replace("\\", "/")
    keys = [t.casefold()]
    low = t.casefold()
    for ext in (".md", ".markdown", ".txt"):
        if low.endswith(ext):
            keys.append(low[: -len(ext)])
    base = keys[-1].rsplit("/", 1)[-1]
    keys.append(base)
    return list(dict.fromkeys(keys))


def resolve_document_links(store: Store) -> int:
    """Point every unresolved ``document_links`` row at the document it names.

    A target matches (case-insensitively) a document's path without extension (also
    relative to any folder), its file stem, its title or a front-matter alias. Returns
    how many links were resolved. One transaction.
    """
    conn = store.conn
    pending = conn.execute("select rowid, target from document_links "
                           "where dst_document_id is null").fetchall()
    if not pending:
        return 0
    index: dict[str, int] = {}
    weak: dict[str, int] = {}
    for did, path, title, meta in conn.execute(
            "select id, path, title, metadata from documents order by id"):
        p = path.replace("\\", "/").split("!", 1)[-1]
        stem_path = p.rsplit(".", 1)[0] if "." in p.rsplit("/", 1)[-1] else p
        index.setdefault(stem_path.rsplit("/", 1)[-1].casefold(), did)
        parts = stem_path.split("/")
        for i in range(len(parts)):
            weak.setdefault("/".join(parts[i:]).casefold(), did)
        if title:
            weak.setdefault(title.casefold(), did)
        m = _loads(meta, {})
        aliases = m.get("aliases") or m.get("alias") or []
        if isinstance(aliases, str):
            aliases = [aliases]
        for a in aliases if isinstance(aliases, list) else []:
            if isinstance(a, str) and a.strip():
                weak.setdefault(a.strip().casefold(), did)
    updates = []
    for rowid, target in pending:
        for k in _link_keys(target):
            did = index.get(k) or weak.get(k)
            if did:
                updates.append((did, rowid))
                break
    if updates:
        with store.write() as db:
            db.conn.executemany("update document_links set dst_document_id = ? "
                                "where rowid = ?", updates)
    return len(updates)


# -- the importer -------------------------------------------------------------------------

def _error(problem: str, position: Optional[str] = None, conversation: Optional[str] = None,
           file: Optional[str] = None) -> dict[str, Any]:
    return {"conversation": conversation, "position": position, "problem": problem,
            "file": file}


def _duplicate_ids(conv: Conversation) -> list[str]:
    """Ids that occur more than once among ``conv``'s messages (in order, repeats only)."""
    seen: set[str] = set()
    out = []
    for m in conv.messages:
        if m.external_id in seen:
            out.append(m.external_id)
        seen.add(m.external_id)
    return out


def _stopped(e: DataDirError, rep: SourceReport) -> str:
    """The problem to report when the data directory stopped an import half way."""
    done = (f"{rep.conversations} conversation{'s' if rep.conversations != 1 else ''} "
            f"({rep.messages_added} new message{'s' if rep.messages_added != 1 else ''})"
            + (f" and {rep.documents} document{'s' if rep.documents != 1 else ''}"
               if rep.documents else ""))
    what = e.plain_message.split(":", 1)[0]  # "the disk is full"
    return (f"{what}: stopped after {done}, which are kept; free some space (or fix the "
            "folder) and import the same path again to add the rest")


def _unexpected(e: Exception, label: str) -> str:
    """The problem to report for a file a parser failed on unexpectedly.

    Never the exception's text (it can quote the file's content, or be a Python value):
    the log gets the exception type and where it happened, the person one plain line.
    """
    tb = e.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    where = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}" if tb is not None else "?"
    log.info("reading %s failed: %s at %s", label, type(e).__name__, where)
    if isinstance(e, RecursionError):
        return "the file nests its data too deeply to be read (a damaged or hostile file)"
    if isinstance(e, MemoryError):
        return "the file is too large to read with the memory this computer has free"
    return "secondme failed on this file (a bug, recorded in the log); please report it"


def _hash_files(plan: Plan) -> str:
    h = hashlib.sha256()
    items = [(c.tree, f) for c in plan.claims for f in c.files] + list(plan.documents)
    for tree, rel in sorted(items, key=lambda x: x[0].display(x[1])):
        h.update(tree.display(rel).encode("utf-8", "surrogatepass") + b"\0")
        try:
            with tree.open(rel) as f:
                while True:
                    block = f.read(1 << 20)
                    if not block:
                        break
                    h.update(block)
        except (OSError, ImportFormatError):
            h.update(b"<unreadable>")
    return h.hexdigest()


class Importer:
    """Imports paths into a store. One instance per ``import_paths`` call."""

    def __init__(self, store: Store, *, me: frozenset[str], ctx: ParseContext,
                 progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None,
                 on_chunks_removed=None):
        self.store = store
        self.me = me
        self.ctx = ctx
        self.progress = Throttle(progress, 0.1) if progress else None
        self.cancel = cancel
        self.on_chunks_removed = on_chunks_removed

    # one path -------------------------------------------------------------------
    def import_path(self, path: str | Path, format: Optional[str] = None,
                    index: int = 1, count: int = 1) -> SourceReport:
        """Import everything at ``path``; errors are recorded in the report.

        Raises Cancelled (after recording what was done) when ``cancel`` fires.
        """
        t0 = time.monotonic()
        rep = SourceReport(path=str(path))
        try:
            plan = plan_path(path, format)
        except ImportFormatError as e:
            rep.failed = True
            rep.errors.append(_error(e.plain_message, e.position, file=e.path or str(path)))
            return rep
        with plan:
            rep.format, rep.kind, rep.formats = plan.format, plan.kind, plan.formats
            rep.files_skipped = len(plan.skipped) + len(plan.refused)
            rep.errors.extend(_error(why, file=p) for p, why in plan.refused)
            source_id = self._begin_source(plan, str(path))
            rep.source_id = source_id
            stage = f"importing {Path(str(path)).name}" + (f" ({index}/{count})"
                                                          if count > 1 else "")
            total = self._total_bytes(plan)
            base = self.ctx.bytes_read
            status = "done"
            try:
                for claim in plan.claims:
                    self._import_claim(claim, rep, source_id, stage, base, total)
                self._import_documents(plan, rep, source_id, stage, base, total)
                if plan.documents:
                    resolve_document_links(self.store)
            except Cancelled:
                status = "cancelled"
                raise
            except DataDirError as e:  # the disk filled up (or went read-only)
                status = "interrupted"
                rep.errors.append(_error(_stopped(e, rep), file=str(self.store.path)))
                e.source_report = rep  # what was imported before it is kept: report it
                raise
            except BaseException:
                status = "interrupted"
                raise
            finally:
                if status == "done":
                    nothing = (rep.conversations == 0 and rep.documents == 0
                               and rep.documents_skipped == 0)
                    if nothing and rep.errors:
                        rep.failed = True
                        status = "failed"
                rep.seconds = round(time.monotonic() - t0, 3)
                self._finish_source(source_id, rep, status)
            report(self.progress, stage, total, total)
        return rep

    def _total_bytes(self, plan: Plan) -> int:
        total = 0
        for tree, rel in [(c.tree, f) for c in plan.claims for f in c.files] + plan.documents:
            try:
                total += tree.size(rel)
            except (OSError, KeyError, ImportFormatError):
                pass
        return total or 1

    def _tick(self, stage: str, base: int, total: int, message: str = "") -> None:
        if self.progress is not None:
            report(self.progress, stage, min(total, self.ctx.bytes_read - base), total,
                   message)

    def _import_claim(self, claim: Claim, rep: SourceReport, source_id: int, stage: str,
                      base: int, total: int) -> None:
        mod = chat_module(claim.format)
        meta = {"timezone": self.ctx.zone_label, "source_file": claim.label}
        it: Iterator = mod.parse(claim, self.ctx)
        while True:
            check(self.cancel)
            try:
                item = next(it)
            except StopIteration:
                break
            except SecondMeError as e:
                rep.errors.append(_error(e.plain_message, e.position, file=e.path or claim.label))
                break
            except Exception as e:  # a parser bug must not lose the rest of the import
                rep.errors.append(_error(_unexpected(e, claim.label), file=claim.label))
                break
            if isinstance(item, Conversation):
                check(self.cancel)
                added, skipped, new = store_conversation(self.store, item, source_id, self.me,
                                                         meta)
                rep.conversations += 1
                rep.conversations_added += int(new)
                rep.messages_added += added
                rep.messages_skipped += skipped
                dup = _duplicate_ids(item)
                if dup:
                    n = len(dup)
                    rep.errors.append(_error(
                        f"{n} message{'s' if n != 1 else ''} reuse{'s' if n == 1 else ''} "
                        f"an id given earlier in the same conversation (first: "
                        f"{dup[0][:40]}); only the first message with each id was imported",
                        conversation=item.external_id, file=claim.label))
                self._tick(stage, base, total, item.title)
            elif isinstance(item, ParseProblem):
                rep.errors.append(_error(item.problem, item.position, item.conversation,
                                         item.path))
            elif isinstance(item, Document):
                self._store_document(item, rep, source_id)

    def _import_documents(self, plan: Plan, rep: SourceReport, source_id: int, stage: str,
                          base: int, total: int) -> None:
        if not plan.documents:
            return
        docmod = documents_module()
        done = 0
        for tree, rel in plan.documents:
            check(self.cancel)
            try:
                doc = docmod.parse_document(tree, rel)
            except SecondMeError as e:
                rep.errors.append(_error(e.plain_message, e.position, file=e.path
                                         or tree.display(rel)))
                doc = None
            except Exception as e:  # a parser bug must not lose the rest of the import
                rep.errors.append(_error(_unexpected(e, tree.display(rel)),
                                         file=tree.display(rel)))
                doc = None
            try:
                done += tree.size(rel)
            except (OSError, KeyError, ImportFormatError):
                pass
            if doc is not None:
                self._store_document(doc, rep, source_id)
            if self.progress is not None:
                report(self.progress, stage,
                       min(total, self.ctx.bytes_read - base + done), total, rel)

    def _store_document(self, doc: Document, rep: SourceReport, source_id: int) -> None:
        # a document can import while parts of it could not be read (broken front matter,
        # scanned pages): the person must be told, like any other problem of the import
        for p in doc.metadata.get("problems") or ():
            rep.errors.append(_error(str(p.get("problem", "")), p.get("position"),
                                     file=doc.path))
        outcome, removed = store_document(self.store, doc, source_id)
        if outcome == "unchanged":
            rep.documents_skipped += 1
        else:
            rep.documents += 1
        if removed and self.on_chunks_removed is not None:
            self.on_chunks_removed(removed)

    # the sources row -------------------------------------------------------------
    def _begin_source(self, plan: Plan, path: str) -> int:
        chash = _hash_files(plan)
        counts = json.dumps({"status": "running", "formats": plan.formats,
                             "parser_version": PARSER_VERSION})
        with self.store.write() as db:
            row = db.conn.execute(
                "select id from sources where path = ? and json_extract(counts, '$.status') "
                "in ('running', 'interrupted', 'cancelled') order by id desc limit 1",
                [path]).fetchone()
            if row is not None:  # an earlier run of this import was killed: finish it
                db.conn.execute("update sources set kind = ?, content_hash = ?, "
                                "imported_at = ?, counts = ? where id = ?",
                                [plan.format or "unknown", chash, utcnow(), counts, row[0]])
                return row[0]
            return db.conn.execute(
                "insert into sources (kind, path, content_hash, imported_at, counts, errors) "
                "values (?, ?, ?, ?, ?, '[]')",
                [plan.format or "unknown", path, chash, utcnow(), counts]).lastrowid

    def _finish_source(self, source_id: int, rep: SourceReport, status: str) -> None:
        counts = {"status": status, "formats": rep.formats, "parser_version": PARSER_VERSION,
                  "conversations": rep.conversations,
                  "conversations_added": rep.conversations_added,
                  "messages_added": rep.messages_added,
                  "messages_skipped": rep.messages_skipped, "documents": rep.documents,
                  "documents_skipped": rep.documents_skipped,
                  "files_skipped": rep.files_skipped, "seconds": rep.seconds}
        try:
            with self.store.write() as db:
                db.conn.execute("update sources set counts = ?, errors = ? where id = ?",
                                [json.dumps(counts), json.dumps(rep.errors, ensure_ascii=False,
                                                                default=str), source_id])
        except Exception:  # never mask the original error of an interrupted import
            if status == "done":
                raise
            log.exception("could not record the import's outcome")


def describe(path: str | Path, format: Optional[str] = None) -> DetectedSource:
    """Detect what ``path`` holds without importing. Raises ImportFormatError."""
    with plan_path(path, format) as plan:
        return DetectedSource(str(path), plan.format, plan.kind, plan.description(),
                              plan.formats,
                              sum(len(c.files) for c in plan.claims) + len(plan.documents),
                              len(plan.skipped))


def purge_items(conn: sqlite3.Connection, *, messages: str, chunks: str, conversations: str,
                documents: str, sources: str) -> dict[str, int]:
    """Remove what the five ``select id …`` queries name: messages, document chunks,
    conversations, documents and import sources (the privacy engine's "forget"; the
    pipeline writes these tables, so it also removes from them). Returns counts."""
    conn.execute(f"delete from messages where id in ({messages})")
    conn.execute(f"delete from chunks where id in ({chunks})")
    return {
        "conversations": conn.execute(
            f"delete from conversations where id in ({conversations})").rowcount,
        "documents": conn.execute(f"delete from documents where id in ({documents})").rowcount,
        "sources": conn.execute(f"delete from sources where id in ({sources})").rowcount,
    }
