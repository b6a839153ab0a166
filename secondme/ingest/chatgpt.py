"""ChatGPT data export: ``conversations.json`` or the split ``conversations-NNN.json``.

Files are streamed with ijson one conversation at a time, so a 500 MB export imports in
bounded memory. Only the visible thread is kept: the path from ``current_node`` up the
``parent`` links (abandoned edit branches are dropped). Hidden messages (``weight`` 0,
``is_visually_hidden_from_conversation``), null messages and empty system messages are
skipped. Text, multimodal text, code, execution output and browsing results are kept;
reasoning ("thoughts"), tool traffic and system messages are kept as ``system``
messages (searchable, not embedded); unknown content types become a placeholder.
The user's messages are "me".
"""
from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Iterator, Optional

from .common import (
    Claim,
    ParseContext,
    as_text,
    derive_id,
    epoch_seconds,
    head_text,
    json_keys_in,
    stream_json_conversations,
    suffix,
)
from .model import Attachment, Conversation, Item, Message, ParseProblem
from .tree import Tree

FORMAT = "chatgpt"
LABEL = "ChatGPT export"
USER, ASSISTANT = "You", "ChatGPT"
_NAME = re.compile(r"(^|/)conversations(-\d+)?\.json$", re.I)
_COVERS = {"chat.html"}


def claim(tree: Tree, files: list[str], force: bool = False) -> list[Claim]:
    """JSON files whose content is a list of ChatGPT conversations (mapping/current_node)."""
    out = []
    dirs_claimed: set[str] = set()
    for rel in files:
        if suffix(rel) != ".json":
            continue
        head = head_text(tree, rel, 65536).lstrip()
        if not head:
            continue
        keys = json_keys_in(head, ("mapping", "current_node", "create_time",
                                   "conversation_id", "content_type"))
        ok = "mapping" in keys and len(keys) >= 2
        if not ok and _NAME.search(rel) and head.startswith("[") and head[1:].strip() == "]":
            ok = force  # an empty export: only when the person says it is ChatGPT
        if ok or (force and head[:1] in "[{"):
            out.append(Claim(FORMAT, tree, [rel], tree.display(rel)))
            dirs_claimed.add(rel.rsplit("/", 1)[0] if "/" in rel else "")
    if out:
        covers = [f for f in files if (f.rsplit("/", 1)[0] if "/" in f else "") in dirs_claimed
                  and f.rsplit("/", 1)[-1].lower() in _COVERS]
        out[0].covers = covers
    return out


def parse(c: Claim, ctx: ParseContext) -> Iterator[Item]:
    """Stream the conversations of one file (a list, or a single conversation object)."""
    yield from stream_json_conversations(c, ctx, convert_or_problem)


def convert_or_problem(obj: Any, path: str, n: int, ctx: ParseContext) -> Item:
    """Convert one conversation object, or describe why it cannot be."""
    try:
        return conversation(obj, ctx)
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as e:
        cid = obj.get("conversation_id") or obj.get("id") if isinstance(obj, dict) else None
        title = obj.get("title") if isinstance(obj, dict) else None
        where = f"conversation {n}" + (f" (id {cid})" if isinstance(cid, str) else "")
        return ParseProblem(path, where, "cannot read this conversation"
                            + (f" {title!r}" if isinstance(title, str) else "")
                            + f": {str(e)[:200] or type(e).__name__}",
                            conversation=cid if isinstance(cid, str) else None)


def _visible_path(mapping: dict, current: Any) -> list[dict]:
    """Nodes from the root to ``current`` (the visible thread)."""
    nodes: list[dict] = []
    seen: set = set()
    node_id = current
    while isinstance(node_id, str) and node_id in mapping and node_id not in seen:
        seen.add(node_id)
        node = mapping[node_id]
        if not isinstance(node, dict):
            raise ValueError(f"mapping entry {node_id!r} is not an object")
        nodes.append(node)
        node_id = node.get("parent")
    if nodes:
        nodes.reverse()
        return nodes
    # no usable current_node: follow the newest child from the root
    roots = [n for n in mapping.values() if isinstance(n, dict) and not n.get("parent")]
    node = roots[0] if roots else None
    while isinstance(node, dict) and id(node) not in seen:
        seen.add(id(node))
        nodes.append(node)
        kids = [mapping.get(k) for k in (node.get("children") or []) if k in mapping]
        node = kids[-1] if kids else None
    return nodes


def conversation(obj: Any, ctx: ParseContext) -> Conversation:
    """Convert one ChatGPT conversation object. Raises ValueError/TypeError when broken."""
    if not isinstance(obj, dict):
        raise ValueError("a conversation must be a JSON object")
    mapping = obj.get("mapping")
    if not isinstance(mapping, dict):
        raise ValueError('"mapping" is missing or not an object')
    created = epoch_seconds(obj.get("create_time"))
    cid = obj.get("conversation_id") or obj.get("id")
    if not isinstance(cid, str) or not cid:
        if created is None:
            raise ValueError("the conversation has neither an id nor a create_time")
        cid = "derived-" + derive_id(obj.get("title"), created)
    title = as_text(obj.get("title")) or "Untitled"
    conv = Conversation(FORMAT, cid, title, [USER, ASSISTANT], metadata={
        k: obj[k] for k in ("default_model_slug", "is_archived", "gizmo_id", "template_id")
        if obj.get(k) not in (None, "")})
    last_ts: Optional[datetime] = ctx.from_epoch(created) if created is not None else None
    speakers = {USER, ASSISTANT}
    for node in _visible_path(mapping, obj.get("current_node")):
        msg = node.get("message")
        if not isinstance(msg, dict):
            continue
        m = _message(msg, node, ctx)
        if m is None:
            continue
        if m.timestamp is None:
            m.timestamp = last_ts
            m.metadata["timestamp_inferred"] = True
        else:
            last_ts = m.timestamp
        speakers.add(m.speaker)
        conv.messages.append(m)
    conv.participants = [USER, ASSISTANT] + sorted(speakers - {USER, ASSISTANT})
    return conv


def _message(msg: dict, node: dict, ctx: ParseContext) -> Optional[Message]:
    author = msg.get("author") if isinstance(msg.get("author"), dict) else {}
    role = as_text(author.get("role")) or "unknown"
    meta = msg.get("metadata") if isinstance(msg.get("metadata"), dict) else {}
    weight = msg.get("weight", 1.0)
    if (isinstance(weight, (int, float)) and weight == 0) or \
            meta.get("is_visually_hidden_from_conversation"):
        return None
    content = msg.get("content") if isinstance(msg.get("content"), dict) else {}
    ctype = as_text(content.get("content_type")) or "text"
    text, atts, internal = _content(ctype, content)
    atts += _meta_attachments(meta)
    text = text.strip("\n")
    if role == "system" and not text.strip():
        return None
    if not text.strip() and not atts:
        return None
    recipient = as_text(msg.get("recipient")) or "all"
    channel = as_text(msg.get("channel"))
    kind = "message"
    if internal or role in ("system", "tool") or recipient != "all" or \
            channel in ("analysis", "commentary"):
        kind = "system"
    if role == "user":
        speaker, is_me = USER, True
    elif role == "assistant":
        speaker, is_me = ASSISTANT, False
    else:
        speaker, is_me = (as_text(author.get("name")) or role), False
    ts = epoch_seconds(msg.get("create_time"))
    mid = msg.get("id") or node.get("id")
    if not isinstance(mid, str) or not mid:
        raise ValueError("a message has no id")
    m = Message(mid, speaker, ctx.from_epoch(ts) if ts is not None else None, text,
                is_me=is_me, kind=kind, attachments=atts)
    m.metadata["content_type"] = ctype
    if meta.get("model_slug"):
        m.metadata["model"] = meta["model_slug"]
    return m


_ASSET_KINDS = {"image_asset_pointer": "image", "audio_asset_pointer": "audio",
                "video_container_asset_pointer": "video",
                "real_time_user_audio_video_asset_pointer": "audio"}


def _content(ctype: str, content: dict) -> tuple[str, list[Attachment], bool]:
    """(text, attachments, internal) for one message content."""
    atts: list[Attachment] = []
    if ctype in ("text", "multimodal_text"):
        parts = content.get("parts") or []
        texts = []
        for p in parts if isinstance(parts, list) else [parts]:
            if isinstance(p, str):
                texts.append(p)
            elif isinstance(p, dict):
                pt = as_text(p.get("content_type"))
                if pt == "audio_transcription":
                    texts.append(as_text(p.get("text")))
                elif pt in _ASSET_KINDS or "asset_pointer" in p:
                    atts.append(Attachment(_ASSET_KINDS.get(pt, "file"),
                                           as_text(p.get("asset_pointer")), f"[{pt}]"))
                elif pt == "real_time_user_audio_video_asset_pointer":
                    atts.append(Attachment("audio", "", f"[{pt}]"))
                elif isinstance(p.get("text"), str):
                    texts.append(p["text"])
                else:
                    atts.append(Attachment("unknown", "", f"[{pt or 'object'}]"))
        return "\n".join(t for t in texts if t), atts, False
    if ctype == "code":
        return as_text(content.get("text")), atts, False
    if ctype == "execution_output":
        return as_text(content.get("text")), atts, True
    if ctype == "thoughts":
        th = content.get("thoughts") or []
        out = []
        for t in th if isinstance(th, list) else []:
            if isinstance(t, dict):
                out.append("\n".join(x for x in (as_text(t.get("summary")),
                                                 as_text(t.get("content"))) if x))
        return "\n\n".join(x for x in out if x), atts, True
    if ctype == "reasoning_recap":
        return as_text(content.get("content")), atts, True
    if ctype == "tether_quote":
        bits = [as_text(content.get(k)) for k in ("title", "text", "url")]
        return "\n".join(b for b in bits if b), atts, True
    if ctype == "tether_browsing_display":
        bits = [as_text(content.get(k)) for k in ("summary", "result")]
        return "\n".join(b for b in bits if b), atts, True
    if ctype == "system_error":
        return (as_text(content.get("name")) + ": " + as_text(content.get("text"))).strip(": "), \
            atts, True
    if ctype in ("user_editable_context", "model_editable_context"):
        bits = [as_text(content.get(k)) for k in ("user_profile", "user_instructions",
                                                    "model_set_context")]
        return "\n".join(b for b in bits if b), atts, True
    if isinstance(content.get("text"), str) and content["text"].strip():
        return content["text"], atts, True
    return f"[{ctype} content not imported]", atts, True


def _mime_kind(mime: str) -> str:
    for k in ("image", "video", "audio"):
        if mime.startswith(k + "/"):
            return k
    return "file"


def _meta_attachments(meta: dict) -> list[Attachment]:
    out = []
    for a in meta.get("attachments") or []:
        if isinstance(a, dict):
            out.append(Attachment(_mime_kind(as_text(a.get("mime_type") or a.get("mimeType"))),
                                  as_text(a.get("name")), "[attachment]"))
    return out
