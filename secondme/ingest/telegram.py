"""Telegram Desktop "Export chat history" in JSON: ``result.json``.

Two shapes: one chat (``{name, type, id, messages[]}``) or the whole account
(``{personal_information, contacts, chats: {list: [...]}, left_chats: {list: [...]}}``).
Both are streamed with ijson. ``text`` is a string or an array mixing strings and
entity objects (their texts are joined). Service messages (``type: service``: group
created, members invited, calls, pins…) become ``system`` messages. Timestamps come
from ``date_unixtime`` (exact) and are shown in the import's zone; older exports
without it are read as local time. Media become attachment placeholders; polls,
locations and shared contacts become text. In a whole-account export the account
owner ("personal_information") is "me".
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Iterator, Optional

from .common import (
    Claim,
    ParseContext,
    as_text,
    derive_id,
    epoch_seconds,
    head_text,
    json_error_text,
    json_keys_in,
    norm_name,
    poll_text,
    suffix,
)
from .model import Attachment, Conversation, Item, Message, ParseProblem
from .tree import Tree

FORMAT = "telegram"
LABEL = "Telegram export"

_ACTIONS = {
    "create_group": "created the group", "create_channel": "created the channel",
    "migrate_to_supergroup": "turned the group into a supergroup",
    "invite_members": "invited", "remove_members": "removed", "join_group_by_link":
    "joined the group by link", "join_group_by_request": "joined the group",
    "edit_group_title": "changed the group name to", "edit_group_photo":
    "changed the group photo", "delete_group_photo": "removed the group photo",
    "pin_message": "pinned a message", "phone_call": "call", "group_call": "group call",
    "screenshot_taken": "took a screenshot", "clear_history": "cleared the history",
    "score_in_game": "scored in a game", "set_messages_ttl": "set auto-delete",
}


def claim(tree: Tree, files: list[str], force: bool = False) -> list[Claim]:
    """JSON files shaped like a Telegram Desktop export."""
    out = []
    for rel in files:
        if suffix(rel) != ".json":
            continue
        head = head_text(tree, rel, 65536).lstrip()
        if not head.startswith("{"):
            continue
        keys = json_keys_in(head, ("personal_information", "chats", "messages", "date_unixtime",
                                   "from_id", "text_entities", "type", "name", "left_chats",
                                   "about", "actor_id"))
        account = "personal_information" in keys or (
            "chats" in keys and ("about" in keys or "left_chats" in keys))
        chat = "messages" in keys and "type" in keys and (
            keys & {"date_unixtime", "from_id", "text_entities", "actor_id"}
            or ('"personal_chat"' in head or '"private_group"' in head
                or '"public_supergroup"' in head or '"private_supergroup"' in head
                or '"saved_messages"' in head or '"bot_chat"' in head))
        if account or chat or (force and ("messages" in keys or "chats" in keys)):
            out.append(Claim(FORMAT, tree, [rel], tree.display(rel),
                             {"account": bool(account or ("chats" in keys and not chat))}))
    return out


def parse(c: Claim, ctx: ParseContext) -> Iterator[Item]:
    """Yield one Conversation per chat in the file."""
    import ijson

    rel = c.files[0]
    path = c.tree.display(rel)
    n = 0
    me_id: Optional[str] = None
    try:
        if c.data.get("account"):
            with ctx.open(c.tree, rel, is_json=True) as raw:
                for info in ijson.items(raw, "personal_information", use_float=True):
                    if isinstance(info, dict) and info.get("user_id") is not None:
                        me_id = f"user{info['user_id']}"
                    break
        with ctx.open(c.tree, rel, is_json=True) as raw:
            prefixes = ("chats.list.item", "left_chats.list.item") if c.data.get("account") \
                else ("",)
            for header, msgs in _stream_chats(raw, prefixes):
                n += 1
                try:
                    yield _conversation(header, msgs, me_id, ctx)
                except (ValueError, TypeError, KeyError, AttributeError) as e:
                    cid = header.get("id")
                    yield ParseProblem(path, f"chat {n}" + (f" (id {cid})" if cid else ""),
                                       f"cannot read this chat: {str(e)[:200]}",
                                       conversation=str(cid) if cid is not None else None)
    except (ijson.JSONError, UnicodeDecodeError, ValueError) as e:
        yield ParseProblem(path, f"in chat {n + 1}, near byte {ctx.file_offset}",
                           f"the file is not valid JSON or is truncated ({json_error_text(e)}); "
                           "the chats before this point were imported")


def _stream_chats(raw, prefixes: tuple[str, ...]) -> Iterator[tuple[dict, list]]:
    """(chat header, message dicts) for every chat object at one of ``prefixes``."""
    import ijson
    from ijson.common import ObjectBuilder

    headers = {p: p + "." if p else "" for p in prefixes}
    header: dict = {}
    msgs: list = []
    active: Optional[str] = None   # the chat prefix we are inside
    msg_prefix = ""
    builder: Optional[ObjectBuilder] = None
    for prefix, event, value in ijson.parse(raw, use_float=True):
        if builder is not None:
            if prefix == msg_prefix and event == "end_map":
                builder.event(event, value)
                msgs.append(builder.value)
                builder = None
            else:
                builder.event(event, value)
            continue
        if active is None:
            if prefix in headers and event == "start_map":
                active = prefix
                header, msgs = {}, []
                msg_prefix = headers[prefix] + "messages.item"
            continue
        if prefix == msg_prefix and event == "start_map":
            builder = ObjectBuilder()
            builder.event(event, value)
            continue
        if prefix == active and event == "end_map":
            yield header, msgs
            active, header, msgs = None, {}, []
            continue
        base = headers[active]
        if prefix.startswith(base) and event in ("string", "number", "boolean", "null"):
            key = prefix[len(base):]
            if key in ("name", "type", "id"):
                header[key] = value


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        out = []
        for part in value:
            if isinstance(part, str):
                out.append(part)
            elif isinstance(part, dict):
                out.append(as_text(part.get("text")))
        return "".join(out)
    return as_text(value)


def _timestamp(m: dict, ctx: ParseContext) -> Optional[datetime]:
    t = epoch_seconds(m.get("date_unixtime"))
    if t is not None:
        return ctx.from_epoch(t)
    d = m.get("date")
    if isinstance(d, str) and d:
        try:
            dt = datetime.fromisoformat(d)
        except ValueError:
            return None
        return ctx.localize(dt) if dt.tzinfo is None else dt
    return None


def _attachments(m: dict) -> list[Attachment]:
    out = []
    if m.get("photo"):
        out.append(Attachment("image", _file_name(m["photo"]), "photo"))
    if m.get("file"):
        mt = as_text(m.get("media_type"))
        kind = ("audio" if mt in ("voice_message", "audio_file") else
                "video" if mt in ("video_file", "video_message", "animation") else
                "sticker" if mt == "sticker" else "file")
        out.append(Attachment(kind, _file_name(m["file"]), mt or "file"))
    return out


def _file_name(v: Any) -> str:
    s = as_text(v)
    return "" if s.startswith("(File not included") or s.startswith("(File exceeds") else s


def _extra_text(m: dict) -> str:
    bits = []
    poll = m.get("poll")
    if isinstance(poll, dict):
        bits.append(_poll_text(poll))
    loc = m.get("location_information")
    if isinstance(loc, dict):
        bits.append(f"Location: {loc.get('latitude')}, {loc.get('longitude')}")
    contact = m.get("contact_information")
    if isinstance(contact, dict):
        name = " ".join(as_text(contact.get(k)) for k in ("first_name", "last_name")).strip()
        bits.append(f"Contact: {name} {as_text(contact.get('phone_number'))}".strip())
    if m.get("sticker_emoji") and not m.get("text"):
        bits.append(as_text(m.get("sticker_emoji")))
    return "\n".join(bits)


def _poll_text(poll: dict) -> str:
    options, mine = [], []
    for a in poll.get("answers") or []:
        if not isinstance(a, dict):
            continue
        text, votes = as_text(a.get("text")), a.get("voters")
        ok = isinstance(votes, int) and not isinstance(votes, bool)
        options.append((text, votes if ok else None))
        if a.get("chosen") is True:
            mine.append(text)
    return poll_text(as_text(poll.get("question")), options,
                     closed=poll.get("closed") is True, mine=mine)


def _service_text(m: dict) -> str:
    actor = as_text(m.get("actor")) or "Someone"
    action = as_text(m.get("action"))
    phrase = _ACTIONS.get(action, action.replace("_", " ") or "did something")
    extra = []
    if m.get("title"):
        extra.append(f"“{as_text(m['title'])}”")
    members = m.get("members")
    if isinstance(members, list) and members:
        extra.append(", ".join(as_text(x) for x in members if x))
    if m.get("duration_seconds"):
        extra.append(f"({m['duration_seconds']} s)")
    if m.get("discard_reason"):
        extra.append(f"({as_text(m['discard_reason'])})")
    return " ".join([actor, phrase, *extra]).strip()


def _conversation(header: dict, msgs: list, me_id: Optional[str],
                  ctx: ParseContext) -> Conversation:
    name = as_text(header.get("name")) or ("Saved Messages" if header.get("type") ==
                                           "saved_messages" else "Telegram chat")
    cid = header.get("id")
    cid = str(cid) if cid is not None and cid != "" else "name:" + norm_name(name)
    conv = Conversation(FORMAT, cid, name, metadata={"chat_type": as_text(header.get("type"))})
    speakers: dict[str, None] = {}
    for i, m in enumerate(msgs):
        if not isinstance(m, dict):
            continue
        mid = m.get("id")
        ts = _timestamp(m, ctx)
        if mid is None or isinstance(mid, bool):
            mid = "derived-" + derive_id(cid, ts.isoformat() if ts else "", i)
        if m.get("type") == "service":
            msg = Message(str(mid), "", ts, _service_text(m), kind="system")
        else:
            speaker = as_text(m.get("from")) or ("Deleted Account" if "from" in m else name)
            text = _text(m.get("text"))
            extra = _extra_text(m)
            if extra:
                text = f"{text}\n{extra}" if text else extra
            reply = m.get("reply_to_message_id")
            msg = Message(str(mid), speaker, ts, text,
                          reply_to=str(reply) if reply is not None else None,
                          attachments=_attachments(m))
            fid = as_text(m.get("from_id"))
            if me_id is not None and fid:
                msg.is_me = fid == me_id
            if m.get("forwarded_from"):
                msg.metadata["forwarded_from"] = as_text(m.get("forwarded_from"))
            if m.get("edited"):
                msg.metadata["edited"] = True
            if m.get("from"):
                speakers.setdefault(speaker)
        conv.messages.append(msg)
    conv.participants = list(speakers)
    if me_id is None and not ctx.me_names and header.get("type") == "personal_chat":
        t = norm_name(name)
        names = [norm_name(p) for p in conv.participants]
        if len(names) == 2 and t in names:
            me = conv.participants[1 - names.index(t)]
            conv.metadata["me_inferred"] = me
            for msg in conv.messages:
                if msg.kind == "message":
                    msg.is_me = msg.speaker == me
    return conv
