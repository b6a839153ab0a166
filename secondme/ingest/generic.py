"""secondme's own plain chat format: JSON or JSON Lines that keeps every id.

JSON::

    {"format": "secondme-chat", "version": 1,            # both optional
     "conversations": [
       {"id": "trip-2024", "title": "Rome trip", "participants": ["Anna", "Ben"],
        "metadata": {...},                                # optional, kept
        "messages": [
          {"id": "m1", "speaker": "Anna", "timestamp": "2024-05-01T09:30:00+02:00",
           "text": "Train at 10?", "reply_to": null, "is_me": false,
           "kind": "message", "attachments": ["photo.jpg"]}]}]}

JSON Lines: one conversation object per line. A file holding a single conversation
object, or a bare array of conversation objects, is accepted too.

Required: conversation ``id`` and ``messages``; message ``speaker`` and ``text``
(``text`` may be empty when there are attachments). A message without ``id`` gets a
stable derived one. ``timestamp`` is ISO 8601; without an offset it is read in the
import's time zone; a number is POSIX seconds. See docs/ingest.md for the full spec.
"""
from __future__ import annotations

import json
from collections import Counter
from typing import Any, Iterator

from .common import (
    Claim,
    ParseContext,
    as_text,
    derive_id,
    head_text,
    json_error_text,
    json_keys_in,
    loads_json,
    parse_iso,
    suffix,
)
from .model import Attachment, Conversation, Item, Message, ParseProblem
from .tree import Tree

FORMAT = "generic"
LABEL = "secondme generic JSON / JSON Lines"
KINDS = {"message", "system"}
ATTACHMENT_KINDS = {"image", "video", "audio", "sticker", "file", "deleted", "unknown"}


def claim(tree: Tree, files: list[str], force: bool = False) -> list[Claim]:
    """Every .json/.jsonl/.ndjson file that looks like the generic format."""
    out = []
    for rel in files:
        sfx = suffix(rel)
        if sfx not in (".json", ".jsonl", ".ndjson"):
            continue
        head = head_text(tree, rel, 16384)
        if force or _looks_generic(head):
            out.append(Claim(FORMAT, tree, [rel], tree.display(rel),
                             {"lines": sfx in (".jsonl", ".ndjson") or _is_jsonl(head)}))
    return out


def _looks_generic(head: str) -> bool:
    s = head.lstrip()
    if not s or s[0] not in "[{":
        return False
    keys = json_keys_in(s, ("conversations", "messages", "speaker", "format", "mapping",
                            "chat_messages"))
    if "mapping" in keys or "chat_messages" in keys:
        return False
    if '"secondme-chat"' in s[:400]:
        return True
    return "messages" in keys and "speaker" in keys


def _is_jsonl(head: str) -> bool:
    first = head.lstrip().split("\n", 1)[0].strip()
    if not first.startswith("{"):
        return False
    try:
        obj = loads_json(first)
    except ValueError:
        return False
    return isinstance(obj, dict) and "messages" in obj and "\n" in head.strip()


def parse(c: Claim, ctx: ParseContext) -> Iterator[Item]:
    """Yield one Conversation per conversation object; ParseProblem for broken ones."""
    rel = c.files[0]
    path = c.tree.display(rel)
    if c.data.get("lines"):
        yield from _parse_lines(c.tree, rel, path, ctx)
    else:
        yield from _parse_json(c.tree, rel, path, ctx)


def _parse_lines(tree: Tree, rel: str, path: str, ctx: ParseContext) -> Iterator[Item]:
    with ctx.open(tree, rel) as raw:  # each line is checked by loads_json
        for lineno, line in enumerate(raw, 1):
            if lineno == 1 and line.startswith(b"\xef\xbb\xbf"):
                line = line[3:]
            if not line.strip():
                continue
            pos = f"line {lineno}"
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as e:
                yield ParseProblem(path, f"{pos}, byte {e.start}",
                                   "not UTF-8 text (save the file as UTF-8)")
                continue
            try:
                obj = loads_json(text)
            except ValueError as e:
                yield ParseProblem(path, pos + (f", column {e.colno}" if hasattr(e, "colno")
                                                 else ""),
                                   f"not valid JSON ({json_error_text(e, where=False)})")
                continue
            yield _convert_or_problem(obj, path, pos, ctx)


def _parse_json(tree: Tree, rel: str, path: str, ctx: ParseContext) -> Iterator[Item]:
    import ijson

    n = 0
    with ctx.open(tree, rel, is_json=True) as raw:
        try:
            for n, obj in enumerate(ijson.items(raw, "conversations.item", use_float=True), 1):
                yield _convert_or_problem(obj, path, f"conversation {n}", ctx)
        except (ijson.JSONError, UnicodeDecodeError, ValueError) as e:
            yield ParseProblem(path, f"after conversation {n}, near byte {ctx.file_offset}",
                               f"the file is not valid JSON ({_short(e)}); "
                               "conversations before this point were imported")
            return
    if n:
        return
    # not {"conversations": [...]}: a bare array or a single conversation object
    with ctx.open(tree, rel, is_json=True) as raw:
        try:
            head = raw.peek(64)[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
            prefix = "item" if head.startswith(b"[") else ""
            for n, obj in enumerate(ijson.items(raw, prefix, use_float=True), 1):
                if prefix == "" and isinstance(obj, dict) and "conversations" in obj:
                    if not isinstance(obj["conversations"], list):
                        yield ParseProblem(path, "top level",
                                           '"conversations" must be a list')
                    return  # an empty export
                yield _convert_or_problem(obj, path, f"conversation {n}", ctx)
        except (ijson.JSONError, UnicodeDecodeError, ValueError) as e:
            yield ParseProblem(path, f"after conversation {n}, near byte {ctx.file_offset}",
                               f"the file is not valid JSON ({_short(e)})")


def _short(e: Exception) -> str:
    return json_error_text(e)


def _convert_or_problem(obj: Any, path: str, pos: str, ctx: ParseContext) -> Item:
    try:
        return conversation_from_json(obj, ctx)
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        cid = obj.get("id") if isinstance(obj, dict) else None
        where = f"{pos} (id {cid})" if isinstance(cid, (str, int)) else pos
        return ParseProblem(path, where, str(e) or type(e).__name__,
                            conversation=str(cid) if isinstance(cid, (str, int)) else None)


def conversation_from_json(obj: Any, ctx: ParseContext) -> Conversation:
    """Convert one generic conversation object. Raises ValueError naming the problem."""
    if not isinstance(obj, dict):
        raise ValueError("a conversation must be a JSON object")
    cid = obj.get("id")
    if not isinstance(cid, (str, int)) or isinstance(cid, bool) or str(cid) == "":
        raise ValueError('a conversation needs an "id" (string or number)')
    cid = str(cid)
    msgs = obj.get("messages")
    if not isinstance(msgs, list):
        raise ValueError('a conversation needs a "messages" list')
    participants = obj.get("participants") or []
    if not isinstance(participants, list):
        raise ValueError('"participants" must be a list of names')
    participants = [as_text(p) if not isinstance(p, dict) else as_text(p.get("name"))
                    for p in participants]
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    conv = Conversation(FORMAT, cid, as_text(obj.get("title")) or cid,
                        [p for p in participants if p], metadata=dict(meta))
    seen: Counter = Counter()
    for i, m in enumerate(msgs):
        try:
            conv.messages.append(_message(m, cid, seen, ctx))
        except (ValueError, TypeError) as e:
            mid = m.get("id") if isinstance(m, dict) else None
            raise ValueError(f"message {i + 1}" + (f" (id {mid})" if mid is not None else "")
                             + f": {e}") from e
    if not conv.participants:
        conv.participants = list(dict.fromkeys(m.speaker for m in conv.messages
                                               if m.speaker and m.kind == "message"))
    return conv


def _message(m: Any, cid: str, seen: Counter, ctx: ParseContext) -> Message:
    if not isinstance(m, dict):
        raise ValueError("a message must be a JSON object")
    speaker = m.get("speaker", m.get("from"))
    if speaker is None:
        speaker = ""
    if not isinstance(speaker, str):
        raise ValueError('"speaker" must be a string')
    text = m.get("text", "")
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise ValueError('"text" must be a string')
    ts = parse_iso(m.get("timestamp"), ctx)
    kind = m.get("kind") or "message"
    if kind not in KINDS:
        raise ValueError(f'"kind" must be "message" or "system", not {kind!r}')
    mid = m.get("id")
    if mid is None or mid == "":
        key = (ts.isoformat() if ts else "", speaker)
        mid = derive_id(cid, *key, seen[key])
        seen[key] += 1
    elif isinstance(mid, bool) or not isinstance(mid, (str, int)):
        raise ValueError('"id" must be a string or number')
    is_me = m.get("is_me")
    if is_me is not None and not isinstance(is_me, bool):
        raise ValueError('"is_me" must be true, false or absent')
    reply = m.get("reply_to")
    if reply is not None and (isinstance(reply, bool) or not isinstance(reply, (str, int))):
        raise ValueError('"reply_to" must be a message id')
    return Message(str(mid), speaker, ts, text, is_me=is_me, kind=kind,
                   reply_to=None if reply in (None, "") else str(reply),
                   attachments=_attachments(m.get("attachments")),
                   metadata=m["metadata"] if isinstance(m.get("metadata"), dict) else {})


def _attachments(value: Any) -> list[Attachment]:
    if not value:
        return []
    if not isinstance(value, list):
        raise ValueError('"attachments" must be a list')
    out = []
    for a in value:
        if isinstance(a, str):
            out.append(Attachment("file", a))
        elif isinstance(a, dict):
            kind = as_text(a.get("kind")) or "file"
            out.append(Attachment(kind if kind in ATTACHMENT_KINDS else "unknown",
                                  as_text(a.get("name")), as_text(a.get("note"))))
        else:
            raise ValueError("an attachment must be a file name or an object")
    return out


def dump_conversations(convs: list[dict[str, Any]]) -> str:
    """Serialise plain conversation dicts as the generic JSON format (for tools/tests)."""
    return json.dumps({"format": "secondme-chat", "version": 1, "conversations": convs},
                      ensure_ascii=False, indent=1)
