"""Claude.ai data export: ``conversations.json`` (a list of conversations).

Streamed with ijson one conversation at a time. Message text is ``text``, else the
text blocks of ``content``; tool use becomes a short placeholder; attachments keep
their file name, and text extracted from a pasted or attached file is appended to the
message (it is what the person gave Claude). Messages are ordered by ``index`` /
``created_at``; when they carry ``parent_message_uuid`` only the thread ending at the
current leaf is kept (like ChatGPT's visible thread). The human's messages are "me".
"""
from __future__ import annotations

import re
from typing import Any, Iterator, Optional

from .common import (
    Claim,
    ParseContext,
    as_text,
    head_text,
    json_keys_in,
    parse_iso,
    stream_json_conversations,
    suffix,
)
from .model import Attachment, Conversation, Item, Message, ParseProblem
from .tree import Tree

FORMAT = "claude"
LABEL = "Claude.ai export"
USER, ASSISTANT = "You", "Claude"
ROOT_UUID = "00000000-0000-4000-8000-000000000000"
MAX_EXTRACTED = 20000
_COVERS = {"users.json", "projects.json", "memories.json"}


def claim(tree: Tree, files: list[str], force: bool = False) -> list[Claim]:
    """JSON files holding Claude conversations (``chat_messages`` with ``sender``)."""
    out = []
    dirs: set[str] = set()
    for rel in files:
        if suffix(rel) != ".json":
            continue
        head = head_text(tree, rel, 65536).lstrip()
        keys = json_keys_in(head, ("chat_messages", "uuid", "sender", "mapping"))
        ok = "chat_messages" in keys and "mapping" not in keys
        if ok or (force and head[:1] in "[{" and "mapping" not in keys):
            out.append(Claim(FORMAT, tree, [rel], tree.display(rel)))
            dirs.add(rel.rsplit("/", 1)[0] if "/" in rel else "")
    if out:
        out[0].covers = [f for f in files if (f.rsplit("/", 1)[0] if "/" in f else "") in dirs
                         and f.rsplit("/", 1)[-1].lower() in _COVERS]
    return out


def parse(c: Claim, ctx: ParseContext) -> Iterator[Item]:
    """Stream the conversations of one file (a list, or one conversation object)."""
    yield from stream_json_conversations(c, ctx, _convert_or_problem)


def _convert_or_problem(obj: Any, path: str, n: int, ctx: ParseContext) -> Item:
    """Convert one conversation object, or describe why it cannot be."""
    try:
        return conversation(obj, ctx)
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as e:
        cid = obj.get("uuid") if isinstance(obj, dict) else None
        return ParseProblem(path, f"conversation {n}" + (
            f" (id {cid})" if isinstance(cid, str) else ""),
            f"cannot read this conversation: {str(e)[:200] or type(e).__name__}",
            conversation=cid if isinstance(cid, str) else None)


def _sort_key(m: dict, i: int, ctx: ParseContext) -> tuple:
    idx = m.get("index")
    try:
        ts = parse_iso(m.get("created_at"), ctx)
    except ValueError:
        ts = None
    return (idx if isinstance(idx, int) and not isinstance(idx, bool) else i,
            ts.timestamp() if ts else 0.0, i)


def _thread(msgs: list[dict], leaf: Any) -> list[dict]:
    by_id = {m.get("uuid"): m for m in msgs if isinstance(m.get("uuid"), str)}
    if not any(isinstance(m.get("parent_message_uuid"), str) for m in msgs):
        return msgs
    if not isinstance(leaf, str) or leaf not in by_id:
        leaf = msgs[-1].get("uuid") if msgs else None
    out, seen = [], set()
    node = by_id.get(leaf)
    while node is not None and id(node) not in seen:
        seen.add(id(node))
        out.append(node)
        parent = node.get("parent_message_uuid")
        node = by_id.get(parent) if isinstance(parent, str) and parent != ROOT_UUID else None
    out.reverse()
    return out


def conversation(obj: Any, ctx: ParseContext) -> Conversation:
    """Convert one Claude conversation object. Raises ValueError/TypeError when broken."""
    if not isinstance(obj, dict):
        raise ValueError("a conversation must be a JSON object")
    cid = obj.get("uuid") or obj.get("id")
    if not isinstance(cid, str) or not cid:
        raise ValueError('the conversation has no "uuid"')
    raw = obj.get("chat_messages")
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise ValueError('"chat_messages" must be a list')
    msgs = [m for m in raw if isinstance(m, dict)]
    order = sorted(range(len(msgs)), key=lambda i: _sort_key(msgs[i], i, ctx))
    msgs = _thread([msgs[i] for i in order], obj.get("current_leaf_message_uuid"))
    conv_ts = parse_iso(obj.get("created_at"), ctx)
    meta: dict[str, Any] = {}
    if isinstance(obj.get("summary"), str) and obj["summary"]:
        meta["summary"] = obj["summary"]
    if isinstance(obj.get("project"), dict) and obj["project"].get("name"):
        meta["project"] = as_text(obj["project"].get("name"))
    conv = Conversation(FORMAT, cid, as_text(obj.get("name")) or "Untitled",
                        [USER, ASSISTANT], metadata=meta)
    last = conv_ts
    for m in msgs:
        msg = _message(m, ctx)
        if msg is None:
            continue
        if msg.timestamp is None:
            msg.timestamp = last
        last = msg.timestamp or last
        conv.messages.append(msg)
    return conv


def _message(m: dict, ctx: ParseContext) -> Optional[Message]:
    mid = m.get("uuid")
    if not isinstance(mid, str) or not mid:
        raise ValueError("a message has no uuid")
    sender = as_text(m.get("sender"))
    text = as_text(m.get("text"))
    tools: list[str] = []
    if not text.strip():
        blocks = m.get("content") if isinstance(m.get("content"), list) else []
        parts = []
        for b in blocks:
            if not isinstance(b, dict):
                continue
            t = b.get("type")
            if t == "text":
                parts.append(as_text(b.get("text")))
            elif t == "tool_use":
                tools.append(f"[used tool: {as_text(b.get('name')) or 'unknown'}]")
            elif t == "tool_result":
                inner = b.get("content")
                if isinstance(inner, list):
                    parts.extend(as_text(x.get("text")) for x in inner
                                 if isinstance(x, dict) and x.get("type") == "text")
        text = "\n\n".join(p for p in parts if p)
    atts: list[Attachment] = []
    extracted = []
    for a in m.get("attachments") or []:
        if not isinstance(a, dict):
            continue
        name = as_text(a.get("file_name"))
        atts.append(Attachment("file", name, "[attachment]"))
        content = as_text(a.get("extracted_content"))
        if content.strip():
            extracted.append(f"[Attached: {name or 'pasted text'}]\n{content[:MAX_EXTRACTED]}")
    for f in m.get("files") or m.get("files_v2") or []:
        if isinstance(f, dict):
            name = as_text(f.get("file_name"))
            kind = "image" if re.search(r"\.(png|jpe?g|gif|webp|heic)$", name, re.I) else "file"
            atts.append(Attachment(kind, name, "[file]"))
    if extracted:
        text = "\n\n".join(x for x in (text, *extracted) if x)
    if not text.strip() and tools:
        text = " ".join(tools)
    if not text.strip() and not atts:
        return None
    is_me = sender in ("human", "user")
    speaker = USER if is_me else ASSISTANT if sender == "assistant" else (sender or "unknown")
    ts = parse_iso(m.get("created_at"), ctx)
    return Message(mid, speaker, ts, text, is_me=is_me,
                   kind="message" if sender in ("human", "user", "assistant") else "system",
                   attachments=atts)
