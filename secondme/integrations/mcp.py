"""``secondme mcp``: lend the memory to other AI apps over the Model Context Protocol.

An MCP server over stdio built with the official ``mcp`` Python SDK (its ``MCPServer``,
formerly FastMCP), on the same :class:`~secondme.service.SecondMe` service the desktop
app uses (the command line passes a function that opens it: nothing here imports the
service). Tools:

- ``search_memories(query, k=10, time_range=None)`` — hybrid search; every result
  carries its provenance (message id as in the export, conversation, timestamp,
  speaker; or document and page);
- ``ask(question)`` — a cited answer (or an abstention) with its citations;
- ``get_profile()`` — the profile of the user, every line with its sources;
- ``list_recent(days=7)`` — memories formed and conversations active in the last days;
- ``remember(text)`` — **only** when the person enabled "let other apps add memories"
  (``settings.mcp_allow_remember``). The text is kept as a message of a conversation
  ``Added by <client> (MCP)`` (format ``mcp``, stored by the import pipeline like any
  message) and a note citing it (written by the notes writer), with origin
  ``mcp:<client name>`` taken from the MCP client's own ``clientInfo``.

Living beside the desktop app: the service is opened without the scheduler, lazily at
the first tool call, and every write is a short transaction under WAL with a busy
timeout, so the two processes share the database instead of fighting for it. Nothing
ever reads a passphrase from stdin (stdin is the protocol): a locked encrypted store is
reported as a clear tool error (set ``SECONDME_PASSPHRASE`` in the client's config).

Evidence from other apps never outranks the person's own: :func:`demote_external`
moves results that rest on ``mcp:`` notes or MCP-written messages after every result
that does not (recall's ranking can call it too).
"""
from __future__ import annotations

import io
import json
import logging
import os
import re
import shutil
import sys
import threading
from datetime import datetime, timedelta, timezone
from hashlib import sha256
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional

from .. import __version__
from ..errors import InvalidInput, SecondMeError
from ..ingest.model import Conversation, Message
from ..recall.trust import EXTERNAL_PREFIX, MCP_FORMAT, demote_external, external_ids
from ..store.crypto import set_default_prompt

if TYPE_CHECKING:
    from ..store.db import Store

log = logging.getLogger(__name__)

SERVER_NAME = "secondme"
MAX_K = 50
MAX_REMEMBER_CHARS = 4000
# one text in a tool result: a 50 MB message must not become a 52 MB answer
MAX_RESULT_TEXT_CHARS = 8000
MAX_CLIENT_NAME_CHARS = 80
_SURROGATES = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def clean_text(s: str) -> str:
    """``s`` without lone surrogates (JSON cannot carry them: the answer was never
    sent), each replaced by U+FFFD."""
    return _SURROGATES.sub("\ufffd", s) if isinstance(s, str) else s


def client_label(name: Any) -> str:
    """The MCP client's self-declared name, safe to store and show: control and
    direction characters and lone surrogates removed, spaces collapsed, at most 80."""
    text = clean_text(name) if isinstance(name, str) else ""
    text = " ".join(_CONTROL.sub(" ", text).split())[:MAX_CLIENT_NAME_CHARS].strip()
    return text or "unknown client"


def capped(obj: Any) -> Any:
    """A tool result made safe to send: every string free of lone surrogates and at
    most MAX_RESULT_TEXT_CHARS long (longer ones end with how much was left out)."""
    if isinstance(obj, str):
        obj = clean_text(obj)
        if len(obj) > MAX_RESULT_TEXT_CHARS:
            return (obj[:MAX_RESULT_TEXT_CHARS]
                    + f" … [cut: {len(obj):,} characters in all]")
        return obj
    if isinstance(obj, dict):
        return {k: capped(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [capped(v) for v in obj]
    return obj

__all__ = ["MemoryServer", "build_server", "client_config_snippet", "demote_external",
           "external_ids", "parse_time_range", "recent", "remember_text", "serve",
           "server_command"]


# -- what the Settings pane and docs show -----------------------------------------------------
def server_command(home: Optional[str | os.PathLike] = None) -> tuple[str, list[str]]:
    """(command, args) that start this server for ``home`` from any MCP client."""
    beside = Path(sys.executable).parent / ("secondme.exe" if os.name == "nt" else "secondme")
    exe = str(beside) if beside.exists() else shutil.which("secondme")
    args = ["--home", str(Path(home).expanduser().resolve())] if home else []
    if exe:
        return exe, [*args, "mcp"]
    return sys.executable, ["-m", "secondme", *args, "mcp"]


def client_config_snippet(home: Optional[str | os.PathLike] = None, *,
                          client: str = "claude-desktop") -> str:
    """The JSON to paste into an MCP client's configuration to register secondme.

    ``client``: ``claude-desktop`` (the ``mcpServers`` block of
    ``claude_desktop_config.json``; also understood by Cursor, Windsurf and other
    clients that copied its format) or ``generic`` (a plain stdio server description).
    """
    command, args = server_command(home)
    if client == "generic":
        return json.dumps({"name": SERVER_NAME, "transport": "stdio", "command": command,
                           "args": args}, indent=2)
    return json.dumps({"mcpServers": {SERVER_NAME: {"command": command, "args": args}}},
                      indent=2)


# -- the server --------------------------------------------------------------------------------
class MemoryServer:
    """The service behind the MCP tools: opened lazily, once, by ``open_service()`` (the
    command line passes one that opens the data dir without the scheduler)."""

    def __init__(self, open_service: Callable[[], Any]):
        self._open = open_service
        self._sm = None
        self._error: Optional[str] = None
        self._lock = threading.Lock()

    def service(self):
        """The SecondMe, opened on first use. Raises ToolError with a clear message."""
        from mcp.server.mcpserver.exceptions import ToolError

        with self._lock:
            if self._sm is not None:
                return self._sm
            if self._error:
                raise ToolError(self._error)
            try:
                self._sm = self._open()
            except SecondMeError as e:
                self._error = f"secondme cannot open its data: {e}"
                raise ToolError(self._error) from e
            return self._sm

    def close(self) -> None:
        with self._lock:
            if self._sm is not None:
                self._sm.close()
                self._sm = None


def _tool_error(e: Exception):
    from mcp.server.mcpserver.exceptions import ToolError

    if isinstance(e, ToolError):
        return e
    if isinstance(e, SecondMeError):
        return ToolError(str(e))
    # never the exception's text (it can quote memories); where it happened goes to stderr
    log.warning("MCP tool failed: %s", type(e).__name__)
    return ToolError("internal error in secondme; please report it")


_EARLIEST = datetime(1000, 1, 1, tzinfo=timezone.utc)
_LATEST = datetime(9000, 1, 1, tzinfo=timezone.utc)


def parse_time_range(value: Any) -> Optional[tuple[datetime, datetime]]:
    """``"2024-01-01..2024-03-31"`` (dates or ISO datetimes; either side may be empty) or
    ``{"start": ..., "end": ...}`` → (start, end) aware datetimes; an end date includes
    that whole day. Raises InvalidInput with the accepted forms."""
    if value in (None, "", {}):
        return None
    if isinstance(value, dict):
        start, end = value.get("start"), value.get("end")
    elif isinstance(value, str) and ".." in value:
        start, end = (p.strip() or None for p in value.split("..", 1))
    else:
        raise InvalidInput("time_range must be 'START..END' (ISO dates, e.g. "
                           "'2024-01-01..2024-03-31') or {\"start\": ..., \"end\": ...}")

    def parse(s: Optional[str], is_end: bool) -> datetime:
        if not s:
            return _LATEST if is_end else _EARLIEST
        try:
            dt = datetime.fromisoformat(str(s))
        except ValueError:
            raise InvalidInput("time_range: the start and end must be ISO dates like "
                               "2024-01-31") from None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=timezone.utc)
        if is_end and len(str(s)) == 10:
            try:
                dt = dt + timedelta(days=1) - timedelta(microseconds=1)
            except OverflowError:  # 9999-12-31: the end of time already
                dt = datetime.max.replace(tzinfo=timezone.utc)
        # the far ends of the calendar overflow the arithmetic downstream (local time,
        # epoch seconds): clamp to what any memory can have
        return min(max(dt, _EARLIEST), _LATEST)

    a, b = parse(start, False), parse(end, True)
    if a > b:
        raise InvalidInput("time_range: the start is after the end")
    return a, b


def _result_dict(r: Any, origins: dict[int, str], external: set) -> dict:
    d = {"id": r.id, "kind": r.kind, "text": r.text, "score": r.score,
         "timestamp": r.timestamp, "sources": r.sources}
    for k, v in (("date", r.date), ("speaker", r.speaker), ("conversation", r.conversation)):
        if v:
            d[k] = v
    if r.kind == "note" and r.id in origins:
        d["origin"] = origins[r.id]
    if (r.kind, r.id) in external:
        d["from_other_app"] = True
    return d


def build_server(memory: MemoryServer, *, allow_remember: bool):
    """The MCPServer with secondme's tools (``remember`` only when allowed)."""
    from mcp.server.mcpserver import MCPServer

    server = MCPServer(
        SERVER_NAME, version=__version__,
        instructions=("secondme is the user's personal memory built from their own chats and "
                      "documents. Search it or ask it; every result cites the exact messages "
                      "(with ids as in the export), conversations, timestamps and speakers, or "
                      "documents and pages. Quote those sources when you use them."))

    @server.tool()
    def search_memories(query: str, k: int = 10, time_range: Optional[str] = None) -> dict:
        """Search the user's memories (messages, documents, notes), best first.

        query: what to look for (words, names, a question).
        k: how many results (1-50).
        time_range: optional 'START..END' with ISO dates, e.g. '2024-01-01..2024-03-31'.
        Each result has text, kind, score, timestamp and sources with message_id (as in
        the export), conversation, timestamp and speaker, or document and page.
        """
        try:
            if not query or not query.strip():
                raise InvalidInput("query must not be empty")
            if not 1 <= int(k) <= MAX_K:
                raise InvalidInput(f"k must be between 1 and {MAX_K}")
            tr = parse_time_range(time_range)
            sm = memory.service()
            results = sm.search(clean_text(query), k=int(k), time_range=tr)
            ext = external_ids(sm.store, results)
            results = demote_external(sm.store, results)
            origins = _origins(sm.store, [r.id for r in results if r.kind == "note"])
            return capped({"query": query,
                           "results": [_result_dict(r, origins, ext) for r in results]})
        except Exception as e:  # noqa: BLE001 - becomes an MCP error with a clear message
            raise _tool_error(e) from None

    @server.tool()
    def ask(question: str) -> dict:
        """Answer a question from the user's memories, with numbered citations.

        Returns answer (with [n] markers), abstained (true when memory holds nothing good
        enough), and citations: n, kind, text and sources (message_id as in the export,
        conversation, timestamp, speaker; or document and page).
        """
        try:
            if not question or not question.strip():
                raise InvalidInput("question must not be empty")
            a = memory.service().ask(clean_text(question))
            return capped({"question": question, "answer": a.answer,
                           "abstained": a.abstained,
                           "citations": [{"n": c.n, "id": c.id, "kind": c.kind,
                                          "text": c.text, "sources": c.sources}
                                         for c in a.citations]})
        except Exception as e:  # noqa: BLE001
            raise _tool_error(e) from None

    @server.tool()
    def get_profile() -> dict:
        """The profile of the user (who they are, what they like, the people in their
        life), each line with the sources it rests on. Empty before the first nightly
        consolidation."""
        try:
            p = memory.service().get_profile()
            if p is None:
                return {"profile": None, "lines": [],
                        "note": "no profile yet; it is written by the nightly consolidation "
                                "(or `secondme jobs run consolidate`)"}
            return capped({"profile": p.text, "updated_at": p.updated_at,
                           "lines": [{"text": line.text, "sources": line.sources}
                                     for line in p.lines]})
        except Exception as e:  # noqa: BLE001
            raise _tool_error(e) from None

    @server.tool()
    def list_recent(days: int = 7) -> dict:
        """What happened in the user's memory in the last `days` days (1-3650): notes
        formed or valid then (newest first, with sources) and the conversations active."""
        try:
            if not 1 <= int(days) <= 3650:
                raise InvalidInput("days must be between 1 and 3650")
            sm = memory.service()
            return capped(recent(sm.store, sm.clock(), int(days)))
        except Exception as e:  # noqa: BLE001
            raise _tool_error(e) from None

    if allow_remember:
        server.add_tool(_remember_tool(memory))
    return server


def _remember_tool(memory: MemoryServer):
    """The ``remember`` tool function (added only when the person allowed it)."""
    from mcp.server.mcpserver import Context

    def remember(text: str, ctx: Context) -> dict:
        """Add a memory for the user (the user allowed apps to do this). It is marked
        as coming from this app and never outranks the user's own messages."""
        try:
            params = ctx.session.client_params
            # the client's name is optional in the protocol: any field may be missing
            info = getattr(params, "client_info", None) if params else None
            client = client_label(getattr(info, "name", None))
            sm = memory.service()
            out = remember_text(sm.store, clean_text(text), client, now=sm.clock(),
                                allowed=sm.settings.mcp_allow_remember)
            sm.hooks.emit("notes_did_change", ids=[out["id"]], action="create")
            try:
                sm.request_job("extract")      # the desktop app indexes it within seconds
            except SecondMeError:  # indexing happens at the next extract anyway
                log.warning("could not request the extract job", exc_info=True)
            return capped(out)
        except Exception as e:  # noqa: BLE001
            raise _tool_error(e) from None

    # this module's annotations are strings; the SDK needs the real Context class
    remember.__annotations__ = {"text": str, "ctx": Context, "return": dict}
    return remember


def _origins(store: Store, note_ids: list[int]) -> dict[int, str]:
    if not note_ids:
        return {}
    q = ",".join("?" * len(note_ids))
    return dict(store.conn.execute(f"select id, origin from notes where id in ({q})",
                                   note_ids).fetchall())


def recent(store: Store, now: datetime, days: int, limit: int = 50) -> dict:
    """Notes and conversations of the ``days`` days before ``now`` (an aware datetime)."""
    # imported here, like the writers below, so that `secondme --help` stays quick
    from ..lifecycle.profile import resolve_sources

    since = (now - timedelta(days=days)).astimezone(timezone.utc).isoformat(timespec="seconds")
    conn = store.conn
    notes = []
    for nid, kind, text, vf, created, origin in conn.execute(
            "select id, kind, text, valid_from, created_at, origin from notes where archived = 0 "
            "and (coalesce(valid_from, created_at) >= ? or created_at >= ?) "
            "order by coalesce(valid_from, created_at) desc limit ?", [since[:10], since, limit]):
        srcs = [{"message_id": r[0]} if r[0] else {"note_id": r[1]} if r[1] else
                {"chunk_id": r[2]} for r in conn.execute(
                    "select message_id, source_note_id, chunk_id from note_sources "
                    "where note_id = ? limit 5", [nid])]
        notes.append({"id": nid, "kind": kind, "text": text, "valid_from": vf,
                      "created_at": created, "origin": origin,
                      "sources": resolve_sources(conn, srcs)})
    since_ts = (now - timedelta(days=days)).timestamp()
    convs = [{"conversation": r[0] or r[1], "conversation_id": r[1], "messages": r[2],
              "last_message": r[3]} for r in conn.execute(
        "select c.title, c.external_id, count(*), max(m.timestamp) from messages m join "
        "conversations c on c.id = m.conversation_id where m.ts >= ? group by c.id "
        "order by max(m.ts) desc limit ?", [since_ts, limit])]
    return {"days": days, "since": since, "notes": notes, "conversations": convs}


def remember_text(store: Store, text: str, client: str, *, now: datetime,
                  allowed: bool) -> dict:
    """Store ``text`` from MCP client ``client`` as a message of the client's own
    conversation (through the import pipeline) and a note citing it (through the notes
    writer), in one transaction, at ``now``. ``allowed`` is the person's setting
    ``mcp_allow_remember``. Returns the note's id, origin, the message's external id and
    the conversation's title. Raises InvalidInput for empty or too long text, or when
    not allowed."""
    from ..ingest.pipeline import append_messages, next_position
    from ..memory.notes import insert_note

    text = (text or "").strip()
    if not text:
        raise InvalidInput("text must not be empty")
    if len(text) > MAX_REMEMBER_CHARS:
        raise InvalidInput(f"text is too long ({len(text)} characters; at most "
                           f"{MAX_REMEMBER_CHARS})")
    if not allowed:
        raise InvalidInput("adding memories from other apps is turned off in secondme's "
                           "Settings")
    now = now.astimezone(timezone.utc).replace(microsecond=0)
    at = now.isoformat()
    origin = f"{EXTERNAL_PREFIX}{client}"
    speaker = f"{client} (via MCP)"
    title = f"Added by {client} (MCP)"
    conv_ext = f"{MCP_FORMAT}:{client}"
    h = sha256((speaker + text).encode()).hexdigest()
    with store.write() as db:
        mext = f"mcp-{next_position(store, MCP_FORMAT, conv_ext) + 1}-{h[:8]}"
        [mid] = append_messages(store, Conversation(
            MCP_FORMAT, conv_ext, title, [speaker],
            [Message(mext, speaker, now, text, is_me=False)]))
        nid = insert_note(db.conn, text=text, sources=[("message", mid)], kind="fact",
                          context=f"added by {client} through MCP", valid_from=at,
                          origin=origin, confidence=0.5, at=at, actor=origin)
    return {"id": nid, "origin": origin, "message_id": mext, "conversation": title}


# a JSON \\uXXXX escape of a UTF-16 surrogate, with the backslashes before it (an even
# number of them means the escape is real); a high one may be followed by its low half
_SURROGATE_ESCAPE = re.compile(
    rb'(?<!\\)((?:\\\\)*)\\u([dD][89abAB][0-9a-fA-F]{2})(\\u[dD][c-fC-F][0-9a-fA-F]{2})?'
    rb'|(?<!\\)((?:\\\\)*)\\u([dD][c-fC-F][0-9a-fA-F]{2})')


def fix_surrogate_escapes(line: bytes) -> bytes:
    """``line`` (one JSON-RPC message) with every escaped *lone* surrogate replaced by
    ``\\ufffd``. The SDK's JSON parser rejects them, and a message it cannot parse
    gets no response at all: the client waits forever."""
    if b"\\u" not in line:
        return line

    def fix(m: re.Match) -> bytes:
        if m.group(2) is not None:
            if m.group(3) is not None:
                return m.group(0)           # a proper pair: an astral character
            return m.group(1) + b"\\ufffd"
        return m.group(4) + b"\\ufffd"

    return _SURROGATE_ESCAPE.sub(fix, line)


class _RequestFilter(io.RawIOBase):
    """stdin for the SDK, one message (line) at a time through fix_surrogate_escapes."""

    def __init__(self, src: Any):
        self._src = src
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        if not self._pending:
            self._pending = fix_surrogate_escapes(self._src.readline())
            if not self._pending:
                return 0
        n = min(len(b), len(self._pending))
        b[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def serve(open_service: Callable[[], Any]) -> None:
    """Run the stdio server until the client disconnects, on the service
    ``open_service()`` opens (lazily, at the first tool call, and once here to read
    whether ``remember`` is allowed)."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    set_default_prompt(None)   # never prompt for a passphrase: stdin is the protocol
    memory = MemoryServer(open_service)
    allow = False
    try:
        # a peek at the settings decides whether remember exists; a store that cannot be
        # opened (locked, damaged) still serves, every tool answering with the reason
        allow = bool(memory.service().settings.mcp_allow_remember)
    except Exception as e:  # noqa: BLE001
        print(f"secondme mcp: {e}", file=sys.stderr)
    server = build_server(memory, allow_remember=allow)
    sys.stdin = io.TextIOWrapper(io.BufferedReader(_RequestFilter(sys.stdin.buffer)),
                                 encoding="utf-8", errors="replace")
    try:
        server.run("stdio")
    finally:
        memory.close()
