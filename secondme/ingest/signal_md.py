"""Signal, as exported by the community tool ``signal-export`` (Signal has no export of
its own): one folder per chat holding ``chat.md`` with lines
``[YYYY-MM-DD HH:MM] Name: text`` (seconds optional), ``media/`` and ``data.json``.

Lines that do not start with a timestamp continue the previous message. A quoted
message (``> …`` right after the name) becomes the reply-to when the quoted message is
in the chat; reactions ``(- Name: emoji -)`` are kept as metadata; stickers
``(( emoji ))`` and media links ``![name](./media/…)`` become attachments; ``(This
message was deleted)`` a deleted placeholder. The sender ``Me`` is the user.
Timestamps are local time without zone, read in the import's zone. Message ids are
derived like WhatsApp's (chat, time, sender, occurrence).
"""
from __future__ import annotations

import re
from collections import Counter
from datetime import datetime
from pathlib import PurePosixPath
from typing import Iterator, Optional

from ..errors import ImportFormatError
from .common import Claim, ParseContext, derive_id, norm_name, suffix
from .model import Attachment, Conversation, Item, Message, ParseProblem
from .tree import DirTree, FileTree, Tree, ZipTree

FORMAT = "signal"
LABEL = "Signal (signal-export)"
HEADER = re.compile(r"^\[(\d{4})-(\d{2})-(\d{2}),? (\d{2}):(\d{2})(?::(\d{2}))?\] "
                    r"([^\n]*?): ?(.*)$")
_LINK = re.compile(r"!?\[([^\]\n]*)\]\(([^)\n]*)\)")
_REACTIONS = re.compile(r"^\(- (.*) -\)$")
_STICKER = re.compile(r"^\(\( (.*) \)\)$")
_DELETED = "(This message was deleted)"
_COVERS = {"data.json", "index.html", "chat.html"}


def _first_lines(tree: Tree, rel: str) -> list[str]:
    try:
        data = tree.head(rel, 8192)
    except (OSError, ImportFormatError):
        return []
    return [ln for ln in data.decode("utf-8", "replace").lstrip("\ufeff").splitlines()
            if ln.strip()][:20]


def claim(tree: Tree, files: list[str], force: bool = False) -> list[Claim]:
    """Markdown files whose first line is a signal-export message line."""
    out = []
    dirs = set()
    for rel in files:
        if suffix(rel) not in (".md", ".markdown", ".txt"):
            continue
        lines = _first_lines(tree, rel)
        if (lines and HEADER.match(lines[0])) or (force and suffix(rel) != ".txt"):
            title = _title(tree, rel)
            out.append(Claim(FORMAT, tree, [rel], tree.display(rel), {"title": title}))
            dirs.add(str(PurePosixPath(rel).parent))
    if out:
        out[0].covers = [f for f in files if str(PurePosixPath(f).parent) in dirs
                         and PurePosixPath(f).name.lower() in _COVERS]
    return out


def _title(tree: Tree, rel: str) -> str:
    p = PurePosixPath(rel)
    if p.stem.lower() not in ("chat", "index") :
        return p.stem
    if len(p.parts) > 1:
        return p.parent.name
    where = tree.path if isinstance(tree, (DirTree, FileTree, ZipTree)) else tree.label
    return PurePosixPath(str(where)).parent.name or "Signal chat"


def parse(c: Claim, ctx: ParseContext) -> Iterator[Item]:
    """Yield the Conversation of one chat.md."""
    rel = c.files[0]
    path = c.tree.display(rel)
    with ctx.open(c.tree, rel) as f:
        data = f.read()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise ImportFormatError("not UTF-8 text", path=path,
                                position=f"line {line}, byte {e.start}") from e
    conv = parse_text(text, c.data.get("title") or "Signal chat", ctx)
    if conv is None:
        yield ParseProblem(path, "line 1", "no signal-export message lines found "
                           "(expected '[2024-01-31 18:05] Name: text')")
        return
    yield conv


def parse_text(text: str, title: str, ctx: ParseContext) -> Optional[Conversation]:
    """Parse chat.md text into a Conversation (None when it has no message lines)."""
    lines = text.replace("\r\n", "\n").split("\n")
    chat_id = norm_name(title) or "signal"
    conv = Conversation(FORMAT, chat_id, title, metadata={"timezone": ctx.zone_label})
    seen: Counter = Counter()
    by_text: dict[str, str] = {}
    speakers: dict[str, None] = {}
    cur: Optional[list] = None
    found = False

    def flush(entry: list) -> None:
        naive, speaker, body, lineno = entry
        m = _message(chat_id, naive, speaker, body, seen, by_text, ctx)
        m.metadata["line"] = lineno
        conv.messages.append(m)
        if m.speaker:
            speakers.setdefault(m.speaker)
        if m.text:
            by_text.setdefault(m.text.strip()[:200], m.external_id)

    for i, line in enumerate(lines, 1):
        h = HEADER.match(line)
        if h:
            try:
                naive = datetime(int(h[1]), int(h[2]), int(h[3]), int(h[4]), int(h[5]),
                                 int(h[6] or 0))
            except ValueError:
                h = None
        if h:
            found = True
            if cur is not None:
                flush(cur)
            cur = [naive, h[7], [h[8]], i]
        elif cur is not None:
            cur[2].append(line)
    if cur is not None:
        flush(cur)
    if not found:
        return None
    conv.participants = list(speakers)
    return conv


def _message(chat_id: str, naive: datetime, speaker: str, body_lines: list[str],
             seen: Counter, by_text: dict[str, str], ctx: ParseContext) -> Message:
    lines = [ln.rstrip() for ln in body_lines]
    quote: list[str] = []
    # "Name: " then a blank line, "> quoted" lines, a blank line, then the body
    k = 0
    while k < len(lines) and not lines[k]:
        k += 1
    if k > 0 and k < len(lines) and lines[k].startswith("> "):
        while k < len(lines) and lines[k].startswith(">"):
            quote.append(lines[k][2:] if lines[k].startswith("> ") else lines[k][1:])
            k += 1
        lines = lines[k:]
        while lines and not lines[0]:
            lines.pop(0)
    atts: list[Attachment] = []
    meta: dict = {}
    kept = []
    for ln in lines:
        r = _REACTIONS.match(ln)
        if r:
            meta["reactions"] = r.group(1)
            continue
        s = _STICKER.match(ln)
        if s:
            atts.append(Attachment("sticker", "", s.group(1)))
            kept.append(s.group(1))
            continue
        if "](" in ln:
            def grab(m: re.Match) -> str:
                name = m.group(1) or m.group(2).rsplit("/", 1)[-1]
                path = m.group(2).replace("%20", " ")
                kind = "image" if m.group(0).startswith("!") else _kind(path)
                atts.append(Attachment(kind, name, path))
                return ""
            ln = _LINK.sub(grab, ln).rstrip()
        kept.append(ln)
    while kept and not kept[-1]:
        kept.pop()
    while kept and not kept[0]:
        kept.pop(0)
    text = "\n".join(kept)
    if text.strip() == _DELETED:
        atts.append(Attachment("deleted", "", _DELETED))
        text = ""
    key = (naive.isoformat(), speaker)
    mid = derive_id(chat_id, key[0], speaker, seen[key])
    seen[key] += 1
    reply = None
    if quote:
        q = "\n".join(quote).strip()
        meta["quote"] = q
        reply = by_text.get(q[:200])
    is_me = True if speaker == "Me" else None
    m = Message(mid, speaker, ctx.localize(naive), text, is_me=is_me, reply_to=reply,
                attachments=atts)
    m.metadata.update(meta)
    return m


def _kind(path: str) -> str:
    p = path.lower()
    if re.search(r"\.(jpe?g|png|gif|webp|heic|tiff?|svg)$", p):
        return "image"
    if re.search(r"\.(mp4|mov|mkv|webm|mpeg)$", p):
        return "video"
    if re.search(r"\.(m4a|aac|mp3|ogg|opus|wav|flac)$", p):
        return "audio"
    return "file"
