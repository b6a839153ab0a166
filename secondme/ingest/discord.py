"""Discord: DiscordChatExporter JSON, and Discord's own data package.

* DiscordChatExporter (``{guild, channel, messages[], messageCount}``): streamed with
  ijson. ``Default``/``Reply`` messages are messages; joins, pins, calls, renames… are
  ``system`` messages. ``reference.messageId`` is the reply-to; attachments, stickers
  and embeds become placeholders (an embed's title/description is kept as text when
  the message has no text of its own).
* The data package ("Request all of my data"): ``messages/c<channel_id>/messages.json``
  (or ``messages.csv``: ``ID,Timestamp,Contents,Attachments``) plus ``channel.json``
  and ``messages/index.json``. It holds only the account owner's own messages, so all
  are "me"; the speaker name comes from ``account/user.json``. Its timestamps are UTC.

Both use the channel id as the conversation id and Discord's message ids, so the same
channel imported from both sources is stored once.
"""
from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timezone
from typing import Any, Iterator, Optional

from ..errors import ImportFormatError
from .common import (
    Claim,
    ParseContext,
    as_text,
    head_text,
    json_error_text,
    json_keys_in,
    loads_json,
    parse_iso,
    suffix,
)
from .model import Attachment, Conversation, Item, Message, ParseProblem
from .tree import Tree

FORMAT = "discord"
LABEL = "Discord export"
_PKG = re.compile(r"(?:^|/)messages/(c?\d{5,})/(messages\.json|messages\.csv|channel\.json)$",
                  re.I)
_USER_TYPES = {"Default", "Reply", "ThreadStarterMessage", "ChatInputCommand",
               "ContextMenuCommand", "0", "19", "20", "21", "23"}


def claim(tree: Tree, files: list[str], force: bool = False) -> list[Claim]:
    """The data package's channel folders, then DiscordChatExporter JSON files."""
    out: list[Claim] = []
    channels: dict[str, dict[str, str]] = {}
    index_rel = user_rel = None
    for rel in files:
        m = _PKG.search(rel)
        if m:
            d = rel[: m.start(1)] + m.group(1)
            channels.setdefault(d, {})[m.group(2).lower()] = rel
        low = rel.lower()
        if low.endswith("messages/index.json"):
            index_rel = rel
        if low.endswith("account/user.json"):
            user_rel = rel
    for d, parts in sorted(channels.items()):
        msgs = parts.get("messages.json") or parts.get("messages.csv")
        if not msgs:
            continue
        rels = [msgs] + ([parts["channel.json"]] if "channel.json" in parts else [])
        out.append(Claim(FORMAT, tree, rels, tree.display(d),
                         {"package": True, "dir": d, "index": index_rel, "user": user_rel},
                         covers=[index_rel] if index_rel and not out else []))
    taken = {f for c in out for f in c.files}
    for rel in files:
        if rel in taken or suffix(rel) != ".json":
            continue
        head = head_text(tree, rel, 16384).lstrip()
        if not head.startswith("{"):
            continue
        keys = json_keys_in(head, ("guild", "channel", "messages", "author",
                                   "messageCount", "exportedAt", "dateRange"))
        if {"guild", "channel"} <= keys and ("messages" in keys or "dateRange" in keys
                                            or "exportedAt" in keys) or \
                (force and "messages" in keys):
            out.append(Claim(FORMAT, tree, [rel], tree.display(rel), {"package": False}))
    return out


def parse(c: Claim, ctx: ParseContext) -> Iterator[Item]:
    """Yield the Conversation of one exported channel."""
    if c.data.get("package"):
        yield from _parse_package(c, ctx)
    else:
        yield from _parse_dce(c, ctx)


# -- DiscordChatExporter ------------------------------------------------------------------

def _parse_dce(c: Claim, ctx: ParseContext) -> Iterator[Item]:
    import ijson

    rel = c.files[0]
    path = c.tree.display(rel)
    guild: dict = {}
    channel: dict = {}
    try:
        with ctx.open(c.tree, rel, is_json=True) as raw:
            for prefix, event, value in ijson.parse(raw, use_float=True):
                if prefix == "messages":
                    break
                if event in ("string", "number") and "." in prefix:
                    top, _, key = prefix.partition(".")
                    if top == "guild" and "." not in key:
                        guild[key] = value
                    elif top == "channel" and "." not in key:
                        channel[key] = value
    except (ijson.JSONError, UnicodeDecodeError, ValueError) as e:
        yield ParseProblem(path, f"near byte {ctx.file_offset}",
                           f"the file is not valid JSON ({json_error_text(e)})")
        return
    cid = as_text(channel.get("id"))
    if not cid:
        yield ParseProblem(path, "channel", "the export has no channel id")
        return
    gname, cname = as_text(guild.get("name")), as_text(channel.get("name"))
    title = cname if not gname or gname == "Direct Messages" else f"{gname} / #{cname}"
    conv = Conversation(FORMAT, cid, title or cid, metadata={
        "guild": gname, "guild_id": as_text(guild.get("id")),
        "channel_type": as_text(channel.get("type")), "category": as_text(channel.get("category"))})
    speakers: dict[str, None] = {}
    n = 0
    try:
        with ctx.open(c.tree, rel, is_json=True) as raw:
            for n, m in enumerate(ijson.items(raw, "messages.item", use_float=True), 1):
                try:
                    msg = _dce_message(m, ctx)
                except (ValueError, TypeError, KeyError, AttributeError) as e:
                    mid = m.get("id") if isinstance(m, dict) else None
                    raise ValueError(f"message {n}" + (f" (id {mid})" if mid else "")
                                     + f": {e}") from e
                if msg is None:
                    continue
                if msg.kind == "message":
                    speakers.setdefault(msg.speaker)
                conv.messages.append(msg)
    except (ijson.JSONError, UnicodeDecodeError) as e:
        yield ParseProblem(path, f"after message {n}, near byte {ctx.file_offset}",
                           f"the file is not valid JSON or is truncated ({json_error_text(e)}); "
                           "nothing of this channel was imported", conversation=cid)
        return
    except ValueError as e:
        yield ParseProblem(path, f"message {n}", f"cannot read this channel: {e}",
                           conversation=cid)
        return
    conv.participants = list(speakers)
    yield conv


def _dce_message(m: Any, ctx: ParseContext) -> Optional[Message]:
    if not isinstance(m, dict):
        raise ValueError("a message must be an object")
    mid = as_text(m.get("id"))
    if not mid:
        raise ValueError("a message has no id")
    author = m.get("author") if isinstance(m.get("author"), dict) else {}
    speaker = as_text(author.get("nickname")) or as_text(author.get("name")) or "Unknown"
    text = as_text(m.get("content"))
    atts = []
    for a in m.get("attachments") or []:
        if isinstance(a, dict):
            name = as_text(a.get("fileName"))
            atts.append(Attachment(_kind(name), name, as_text(a.get("url"))))
    for s in m.get("stickers") or []:
        if isinstance(s, dict):
            atts.append(Attachment("sticker", as_text(s.get("name")), "sticker"))
    if not text.strip():
        for e in m.get("embeds") or []:
            if isinstance(e, dict):
                bits = [as_text(e.get("title")), as_text(e.get("description")),
                        as_text(e.get("url"))]
                text = "\n".join(b for b in bits if b)
                if text:
                    break
    mtype = as_text(m.get("type")) or "Default"
    kind = "message" if mtype in _USER_TYPES else "system"
    if kind == "system" and not text:
        text = f"{speaker}: {re.sub(r'(?<!^)(?=[A-Z])', ' ', mtype).lower()}"
    if not text.strip() and not atts:
        return None
    ref = m.get("reference") if isinstance(m.get("reference"), dict) else {}
    reply = as_text(ref.get("messageId")) or None
    msg = Message(mid, speaker if kind == "message" else "", parse_iso(m.get("timestamp"), ctx),
                  text, kind=kind, reply_to=reply, attachments=atts)
    msg.metadata["author_id"] = as_text(author.get("id"))
    if author.get("isBot"):
        msg.metadata["bot"] = True
    return msg


def _kind(name: str) -> str:
    n = name.lower()
    if re.search(r"\.(png|jpe?g|gif|webp|heic|bmp)$", n):
        return "image"
    if re.search(r"\.(mp4|mov|webm|mkv)$", n):
        return "video"
    if re.search(r"\.(mp3|ogg|opus|wav|m4a|flac)$", n):
        return "audio"
    return "file"


# -- the data package ---------------------------------------------------------------------

def _read_json(tree: Tree, rel: Optional[str]) -> Any:
    if not rel:
        return None
    try:
        return loads_json(tree.read_bytes(rel).decode("utf-8-sig"))
    except (OSError, ValueError, UnicodeDecodeError, ImportFormatError):
        return None


def _package_time(value: Any, ctx: ParseContext) -> Optional[datetime]:
    s = as_text(value).strip()
    if not s:
        return None
    try:
        dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        return parse_iso(s, ctx)
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def _parse_package(c: Claim, ctx: ParseContext) -> Iterator[Item]:
    msgs_rel = c.files[0]
    path = c.tree.display(msgs_rel)
    channel = _read_json(c.tree, c.files[1] if len(c.files) > 1 else None) or {}
    index = _read_json(c.tree, c.data.get("index")) or {}
    user = _read_json(c.tree, c.data.get("user")) or {}
    if not isinstance(channel, dict):
        channel = {}
    dirname = c.data["dir"].rsplit("/", 1)[-1]
    cid = as_text(channel.get("id")) or dirname.lstrip("cC")
    me = (as_text(user.get("global_name")) or as_text(user.get("username"))
          if isinstance(user, dict) else "") or "You"
    guild = channel.get("guild") if isinstance(channel.get("guild"), dict) else {}
    title = (as_text(index.get(cid)) if isinstance(index, dict) else "") or \
        (f"{as_text(guild.get('name'))} / #{as_text(channel.get('name'))}"
         if guild.get("name") else as_text(channel.get("name"))) or f"Discord channel {cid}"
    conv = Conversation(FORMAT, cid, title, [me], metadata={
        "source": "discord data package", "guild": as_text(guild.get("name")),
        "channel_type": as_text(channel.get("type"))})
    try:
        rows = list(_package_rows(c.tree, msgs_rel, ctx))
    except ImportFormatError as e:
        yield ParseProblem(path, e.position or "", e.plain_message, conversation=cid)
        return
    for n, row in rows:
        mid = as_text(row.get("ID") if "ID" in row else row.get("id"))
        if not mid:
            yield ParseProblem(path, f"message {n}", "a message has no ID; channel skipped",
                               conversation=cid)
            return
        try:
            ts = _package_time(row.get("Timestamp") or row.get("timestamp"), ctx)
        except ValueError as e:
            yield ParseProblem(path, f"message {n}", f"bad timestamp ({e}); channel skipped",
                               conversation=cid)
            return
        text = as_text(row.get("Contents") if "Contents" in row else row.get("contents"))
        atts = [Attachment(_kind(u.split("?")[0]), u.split("?")[0].rsplit("/", 1)[-1], u)
                for u in as_text(row.get("Attachments") or row.get("attachments")).split()
                if u]
        if not text.strip() and not atts:
            continue
        conv.messages.append(Message(mid, me, ts, text, is_me=True, attachments=atts))
    conv.messages.sort(key=lambda m: (m.timestamp.timestamp() if m.timestamp else 0.0,
                                      int(m.external_id) if m.external_id.isdigit() else 0))
    yield conv


def _package_rows(tree: Tree, rel: str, ctx: ParseContext) -> Iterator[tuple[int, dict]]:
    with ctx.open(tree, rel) as raw:
        data = raw.read()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ImportFormatError("not UTF-8 text", path=tree.display(rel),
                                position=f"byte {e.start}") from e
    if rel.lower().endswith(".csv"):
        for n, row in enumerate(csv.DictReader(io.StringIO(text, newline="")), 1):
            yield n, row
        return
    try:
        rows = loads_json(text)
    except ValueError as e:
        raise ImportFormatError(f"not valid JSON ({json_error_text(e)})", path=tree.display(rel),
                                position=f"line {getattr(e, 'lineno', '?')}") from e
    if not isinstance(rows, list):
        raise ImportFormatError("expected a list of messages", path=tree.display(rel))
    for n, row in enumerate(rows, 1):
        if isinstance(row, dict):
            yield n, row
