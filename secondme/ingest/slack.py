"""Slack workspace export (ZIP or folder): ``users.json``, ``channels.json``,
``groups.json``, ``dms.json``, ``mpims.json`` and one folder per conversation holding
``YYYY-MM-DD.json`` arrays of messages.

User ids are resolved through ``users.json`` (display name, else real name); the
markup ``<@U…>``, ``<#C…|name>``, ``<!here>``, ``<url|label>`` becomes readable text
and ``&lt; &gt; &amp;`` are unescaped. ``ts`` is the message id, ``thread_ts`` (when it
differs) the reply-to. Joins, leaves, topic/purpose/name changes and other subtypes
that are not someone speaking are ``system`` messages; bot messages keep the bot's
name; files become attachment placeholders.
"""
from __future__ import annotations

import html
import json
import re
from pathlib import PurePosixPath
from typing import Any, Iterator, Optional

from ..errors import ImportFormatError
from .common import Claim, ParseContext, as_text, epoch_seconds, json_error_text, loads_json
from .model import Attachment, Conversation, Item, Message, ParseProblem
from .tree import Tree

FORMAT = "slack"
LABEL = "Slack workspace export"
_META = ("users.json", "channels.json", "groups.json", "dms.json", "mpims.json")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}\.json$")
_SPEAKING = {"", "bot_message", "thread_broadcast", "file_share", "me_message",
             "reply_broadcast", "file_comment", "huddle_thread"}
_MARKUP = re.compile(r"<([^<>|\n]+)(?:\|([^<>\n]*))?>")


def claim(tree: Tree, files: list[str], force: bool = False) -> list[Claim]:
    """A folder holding users.json with channels/dms/groups/mpims.json, and its day files."""
    by_dir: dict[str, set[str]] = {}
    for rel in files:
        p = PurePosixPath(rel)
        parent = str(p.parent) if str(p.parent) != "." else ""
        by_dir.setdefault(parent, set()).add(p.name.lower())
    roots = [d for d, names in by_dir.items() if "users.json" in names and (
        names & {"channels.json", "dms.json", "groups.json", "mpims.json"})]
    if force and not roots:
        roots = [d for d, names in by_dir.items() if names & set(_META)]
    out = []
    for root in sorted(roots, key=len):
        pre = root + "/" if root else ""
        mine = []
        for rel in files:
            if not rel.startswith(pre):
                continue
            rest = rel[len(pre):]
            parts = rest.split("/")
            if (len(parts) == 1 and parts[0].lower() in _META) or \
                    (len(parts) == 2 and _DAY.match(parts[1])):
                mine.append(rel)
        covers = [rel for rel in files if rel.startswith(pre) and "/" not in rel[len(pre):]
                  and rel[len(pre):].lower() in ("integration_logs.json", "canvases.json",
                                                 "huddle_transcripts.json")]
        out.append(Claim(FORMAT, tree, mine, tree.display(root) if root else tree.label,
                         {"root": pre}, covers=covers))
    return out


def _load(tree: Tree, rel: str) -> Any:
    try:
        data = tree.read_bytes(rel)
    except (OSError, ImportFormatError) as e:
        raise ValueError(f"cannot read the file ({e})") from e
    try:
        return loads_json(data.decode("utf-8-sig"))
    except UnicodeDecodeError as e:
        raise ValueError(f"not UTF-8 text (byte {e.start})") from e
    except json.JSONDecodeError as e:
        raise ValueError(f"not valid JSON ({json_error_text(e)})") from e


def _users(obj: Any) -> dict[str, str]:
    out = {}
    for u in obj if isinstance(obj, list) else []:
        if not isinstance(u, dict) or not u.get("id"):
            continue
        prof = u.get("profile") if isinstance(u.get("profile"), dict) else {}
        out[as_text(u["id"])] = (as_text(prof.get("display_name")) or
                                 as_text(prof.get("real_name")) or as_text(u.get("real_name"))
                                 or as_text(u.get("name")) or as_text(u["id"]))
    return out


def render(text: str, users: dict[str, str], channels: dict[str, str]) -> str:
    """Slack markup → readable text."""
    def sub(m: re.Match) -> str:
        target, label = m.group(1), m.group(2)
        if target.startswith("@"):
            uid = target[1:]
            return "@" + (users.get(uid) or label or uid)
        if target.startswith("#"):
            cid = target[1:]
            return "#" + (label or channels.get(cid) or cid)
        if target.startswith("!"):
            cmd = target[1:]
            if cmd in ("here", "channel", "everyone"):
                return "@" + cmd
            if label:
                return label
            return "@" + cmd.split("^", 1)[0]
        if target.startswith("mailto:"):
            return label or target[7:]
        if label and label != target:
            return f"{label} ({target})"
        return target

    if "<" in text:
        text = _MARKUP.sub(sub, text)
    if "&" in text:
        text = html.unescape(text)
    return text


def parse(c: Claim, ctx: ParseContext) -> Iterator[Item]:
    """Yield one Conversation per channel, private channel, DM and group DM."""
    pre = c.data["root"]
    names = {rel[len(pre):].lower(): rel for rel in c.files if "/" not in rel[len(pre):]}
    meta: dict[str, Any] = {}
    for name in _META:
        if name in names:
            try:
                meta[name] = _load(c.tree, names[name])
            except ValueError as e:
                yield ParseProblem(c.tree.display(names[name]), "file", str(e))
    users = _users(meta.get("users.json"))
    folders: dict[str, dict] = {}
    channel_names: dict[str, str] = {}
    for name, kind in (("channels.json", "channel"), ("groups.json", "private channel"),
                       ("mpims.json", "group DM"), ("dms.json", "DM")):
        for ch in meta.get(name) or []:
            if not isinstance(ch, dict) or not ch.get("id"):
                continue
            cid = as_text(ch["id"])
            members = [users.get(as_text(u), as_text(u)) for u in ch.get("members") or []]
            if kind == "DM":
                folder, title = cid, "DM: " + ", ".join(members)
            else:
                folder = as_text(ch.get("name")) or cid
                title = ("#" if kind in ("channel", "private channel") else "") + folder
                channel_names[cid] = folder
            topic = ch.get("topic") if isinstance(ch.get("topic"), dict) else {}
            folders[folder] = {"id": cid, "title": title, "kind": kind, "members": members,
                               "topic": as_text(topic.get("value"))}
    days: dict[str, list[str]] = {}
    for rel in c.files:
        rest = rel[len(pre):]
        if "/" in rest:
            folder, day = rest.split("/", 1)
            days.setdefault(folder, []).append(rel)
    for folder in sorted(days):
        info = folders.get(folder) or {"id": folder, "title": "#" + folder, "kind": "channel",
                                       "members": [], "topic": ""}
        try:
            conv = _conversation(c.tree, info, sorted(days[folder]), users, channel_names, ctx)
        except ValueError as e:
            yield ParseProblem(c.tree.display(pre + folder), str(e).split(":", 1)[0],
                               str(e).split(":", 1)[-1].strip(), conversation=info["id"])
            continue
        yield conv


def _conversation(tree: Tree, info: dict, rels: list[str], users: dict[str, str],
                  channels: dict[str, str], ctx: ParseContext) -> Conversation:
    conv = Conversation(FORMAT, info["id"], info["title"], list(info["members"]),
                        metadata={"kind": info["kind"], "topic": info["topic"]})
    speakers: dict[str, None] = dict.fromkeys(info["members"])
    for rel in rels:
        try:
            day = _load(tree, rel)
        except ValueError as e:
            raise ValueError(f"{PurePosixPath(rel).name}: {e}") from e
        if not isinstance(day, list):
            raise ValueError(f"{PurePosixPath(rel).name}: expected a list of messages")
        for i, m in enumerate(day):
            if not isinstance(m, dict):
                continue
            try:
                msg = _message(m, users, channels, ctx)
            except (ValueError, TypeError, KeyError, AttributeError) as e:
                raise ValueError(f"{PurePosixPath(rel).name} message {i + 1}: {e}") from e
            if msg is None:
                continue
            if msg.kind == "message" and msg.speaker:
                speakers.setdefault(msg.speaker)
            conv.messages.append(msg)
    conv.participants = [s for s in speakers if s]
    return conv


def _message(m: dict, users: dict[str, str], channels: dict[str, str],
             ctx: ParseContext) -> Optional[Message]:
    ts = as_text(m.get("ts"))
    t = epoch_seconds(ts)
    if not ts or t is None:
        raise ValueError('a message has no valid "ts"')
    subtype = as_text(m.get("subtype"))
    uid = as_text(m.get("user"))
    prof = m.get("user_profile") if isinstance(m.get("user_profile"), dict) else {}
    speaker = (users.get(uid) or as_text(prof.get("display_name"))
               or as_text(prof.get("real_name")) or as_text(m.get("username"))
               or (as_text((m.get("bot_profile") or {}).get("name"))
                   if isinstance(m.get("bot_profile"), dict) else "") or uid or "unknown")
    text = render(as_text(m.get("text")), users, channels)
    atts = []
    for f in m.get("files") or []:
        if not isinstance(f, dict):
            continue
        if f.get("mode") in ("tombstone", "hidden_by_limit"):
            atts.append(Attachment("deleted" if f.get("mode") == "tombstone" else "unknown",
                                   "", as_text(f.get("mode"))))
            continue
        mime = as_text(f.get("mimetype"))
        kind = next((k for k in ("image", "video", "audio") if mime.startswith(k + "/")),
                    "file")
        atts.append(Attachment(kind, as_text(f.get("name")) or as_text(f.get("title")),
                               as_text(f.get("title"))))
    if not text.strip():
        for a in m.get("attachments") or []:
            if isinstance(a, dict):
                bits = [as_text(a.get(k)) for k in ("title", "text", "fallback")]
                text = "\n".join(dict.fromkeys(b for b in bits if b))
                if text:
                    text = render(text, users, channels)
                    break
    if subtype == "tombstone" or (m.get("hidden") and not text.strip()):
        atts.append(Attachment("deleted", "", "This message was deleted."))
    kind = "message" if subtype in _SPEAKING or subtype == "tombstone" else "system"
    if not text.strip() and not atts:
        return None
    thread = as_text(m.get("thread_ts"))
    msg = Message(ts, speaker if kind == "message" else "", ctx.from_epoch(t), text,
                  kind=kind, reply_to=thread if thread and thread != ts else None,
                  attachments=atts)
    if subtype:
        msg.metadata["subtype"] = subtype
    if m.get("edited"):
        msg.metadata["edited"] = True
    return msg
