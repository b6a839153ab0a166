"""WhatsApp "Export chat": ``_chat.txt`` (iOS), ``WhatsApp Chat with X.txt`` (Android),
alone or in the ZIP WhatsApp shares (with media).

A message starts with a timestamp header — iOS ``[31/12/23, 9:41:05 PM] Name: text``,
Android ``31/12/23, 21:41 - Name: text`` — in many locale variants (``dd.mm.yyyy``,
``yyyy/mm/dd``, ``klo 14.08.18``, ``p. m.``, Arabic-Indic digits, 2-digit years);
any other line continues the previous message. Whether dates are day-first or
month-first is decided once per file from all its dates. U+200E/U+200F and a BOM are
dropped, U+202F/U+00A0 become spaces.

Lines with a timestamp but no ``Name:`` (and iOS lines whose text starts with U+200E
that are not media markers) are ``system`` messages. Media markers (``<Media
omitted>``, ``image omitted``, ``<attached: …>``, ``… (file attached)``, deleted
messages) become attachment placeholders. A poll ("POLL:", its question, "OPTION: North
(1 vote)" lines) becomes the one-line poll every import writes (``common.poll_text``).
Timestamps carry no zone: they are read in the import's time zone (recorded in the
conversation metadata).

WhatsApp has no message ids: each gets a stable id derived from (chat, local time,
speaker, occurrence of that time and speaker), so importing the same or a newer export
again adds only new messages.
"""
from __future__ import annotations

import re
from collections import Counter
from datetime import datetime
from hashlib import blake2b
from pathlib import PurePosixPath
from typing import Iterator, Optional

from ..errors import ImportFormatError
from .common import Claim, ParseContext, norm_name, poll_text, suffix
from .model import Attachment, Conversation, Item, Message, ParseProblem
from .text import utf16_without_bom
from .tree import DirTree, FileTree, SubTree, Tree, ZipTree

FORMAT = "whatsapp"
LABEL = "WhatsApp chat"

_D = r"(\d{1,4})[./\-]\s?(\d{1,2})[./\-]\s?(\d{1,4})\.?"
_PRE = r"(?:(上午|下午|午前|午後|오전|오후)\s?)?"
_T = r"(\d{1,2})[:.](\d{2})(?:[:.](\d{2}))?"
_AMPM = (r"(?:\s?([AaPp]\.?\s?[Mm]\.?|[AaPp](?=\]|\s[-–])|ص|م|vorm\.|nachm\.|μ\.μ\.|π\.μ\."
         r"|de la (?:mañana|tarde|noche)))?")
HEADER = re.compile(
    r"\[" + _D + r"[,،]?\s*(?:klo\s|à\s|um\s)?\s*" + _PRE + _T + _AMPM + r"\]\s?(.*)"
    r"|" + _D + r"[,،]?\s*(?:klo\s|à\s|um\s)?\s*" + _PRE + _T + _AMPM + r"\s?[-–]\s(.*)",
    re.S)
# the same, for finding every header of a whole export in one scan
HEADER_LINES = re.compile(r"^\u200e*(?:" + HEADER.pattern.replace("(.*)", "([^\n]*)") + ")",
                          re.M)
_PM = {"pm", "p", "م", "下午", "午後", "오후", "μμ", "nachm", "delatarde", "delanoche"}
_AM = {"am", "a", "ص", "上午", "午前", "오전", "πμ", "vorm", "delamañana"}

_CLEAN = (("\u202f", " "), ("\u00a0", " "), ("\u200f", ""), ("\ufeff", ""), ("\u202a", ""),
          ("\u202b", ""), ("\u202c", ""), ("\u202d", ""), ("\u202e", ""), ("\u2066", ""),
          ("\u2067", ""), ("\u2068", ""), ("\u2069", ""))


def clean(text: str) -> str:
    """Map U+202F/U+00A0 to spaces and drop bidi marks (not U+200E: see _message) and BOMs.

    (``str.replace`` per character present is several times faster than ``translate``.)
    """
    for a, b in _CLEAN:
        if a in text:
            text = text.replace(a, b)
    return text
_QUOTES = set('"“”«»„')

_OMITTED = re.compile(
    r"^(?P<what>image|video|audio|sticker|GIF|document|Contact card|video note|"
    r"imagen|vídeo|video|audio|sticker|documento|Bild|Video|Audio|Sticker|Dokument|"
    r"image|vidéo|audio|autocollant|document|imagem|áudio|figurinha|afbeelding|"
    r"immagine)\s+(?:omitted|omitida|omitido|weggelassen|omis|omise|ocultad[oa]|"
    r"oculto|oculta|omessa|omesso|weggelaten)$", re.I)
_OMITTED_KIND = {"image": "image", "imagen": "image", "bild": "image", "imagem": "image",
                 "afbeelding": "image", "immagine": "image", "gif": "image",
                 "video": "video", "vídeo": "video", "vidéo": "video", "video note": "video",
                 "audio": "audio", "áudio": "audio", "sticker": "sticker",
                 "autocollant": "sticker", "figurinha": "sticker"}
_MEDIA_ANDROID = re.compile(r"^<[^<>]*(?:omit|omis|media|medien|mídia|multimedia|"
                            r"weggelaten|ausgeschlossen|медиа)[^<>]*>$", re.I)
_ATTACHED = re.compile(r"<(?:attached|angehängt|adjunto|pièce jointe|anexado|bijlage|"
                       r"allegato):\s*([^<>]+)>", re.I)
_FILE_ATTACHED = re.compile(r"^(.+?\.\w{1,5})\s\((?:file attached|Datei angehängt|"
                            r"archivo adjunto|fichier joint|arquivo anexado|"
                            r"bestand bijgevoegd|file allegato)\)\s*", re.I)
_DELETED = re.compile(r"^(?:This message was deleted\.?|You deleted this message\.?|"
                      r"Diese Nachricht wurde gelöscht\.?|Du hast diese Nachricht gelöscht\.?|"
                      r"Se eliminó este mensaje\.?|Eliminaste este mensaje\.?|"
                      r"Ce message a été supprimé\.?|Vous avez supprimé ce message\.?|"
                      r"Mensagem apagada|Você apagou esta mensagem|"
                      r"Dit bericht is verwijderd\.?|Questo messaggio è stato eliminato)$",
                      re.I)
_EDITED = re.compile(r"\s*<(?:This message was edited|Diese Nachricht wurde bearbeitet|"
                     r"Se editó este mensaje|Ce message a été modifié|"
                     r"Mensagem editada|Dit bericht is bewerkt)>$", re.I)
_NAME_PREFIX = re.compile(
    r"^(?:WhatsApp[\s\-_]*(?:Chat|chat)?[\s\-_]*(?:with|mit|con|avec|com|met|med|z|ze|"
    r"ile|с|-)\s+|(?:Chat|Conversa|Discussion|Conversación)\s+(?:de|do|da|)\s*WhatsApp\s+"
    r"(?:con|com|avec|mit|with)\s+)", re.I)


def _kind_for(name: str) -> str:
    n = name.lower()
    if re.search(r"(photo|\.(jpe?g|png|gif|webp|heic))", n):
        return "image"
    if re.search(r"(video|\.(mp4|mov|3gp|mkv))", n):
        return "video"
    if re.search(r"(audio|ptt|\.(opus|ogg|m4a|mp3|aac|wav))", n):
        return "audio"
    if re.search(r"(sticker|\.webp)", n):
        return "sticker"
    return "file"


# -- detection --------------------------------------------------------------------------

def _lines_head(tree: Tree, rel: str, n: int = 16384) -> list[str]:
    try:
        data = tree.head(rel, n)
    except (OSError, ImportFormatError):
        return []
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # re-saved as UTF-16 on Windows
        text = clean(data[: len(data) - len(data) % 2].decode("utf-16", "replace"))
    elif utf16_without_bom(data):  # ... and some editors leave the BOM out
        text = clean(data[: len(data) - len(data) % 2].decode(utf16_without_bom(data),
                                                               "replace"))
    else:
        text = clean(data.decode("utf-8", "replace"))
    return [ln.lstrip("\u200e") for ln in text.splitlines() if ln.strip()][:40]


def looks_like_whatsapp(lines: list[str]) -> bool:
    """True when the first non-empty line is a message header: a date and a time
    closed by ``]`` (iOS) or followed by `` - `` (Android). The header pattern is strict
    enough that ordinary text does not start with one; later lines may all continue a
    long first message."""
    return bool(lines) and HEADER.match(lines[0]) is not None


def claim(tree: Tree, files: list[str], force: bool = False) -> list[Claim]:
    """Text files whose lines are WhatsApp message headers."""
    out = []
    for rel in files:
        if suffix(rel) != ".txt":
            continue
        if force or looks_like_whatsapp(_lines_head(tree, rel)):
            out.append(Claim(FORMAT, tree, [rel], tree.display(rel),
                             {"title": chat_title(tree, rel)}))
    return out


def chat_title(tree: Tree, rel: str) -> str:
    """The chat's name from the file, folder or ZIP name WhatsApp gave the export."""
    candidates = []
    p = PurePosixPath(rel)
    candidates.append(p.stem)
    if len(p.parts) > 1:
        candidates.append(p.parent.name)
    for t in (tree, tree.parent if isinstance(tree, SubTree) else None):
        if isinstance(t, (ZipTree, FileTree)):
            candidates.append(PurePosixPath(str(t.path)).stem)
        elif isinstance(t, SubTree):
            candidates.append(PurePosixPath(t.prefix.rstrip("/")).name)
        elif isinstance(t, DirTree):
            candidates.append(PurePosixPath(str(t.path)).name)
    for c in candidates:
        m = _NAME_PREFIX.match(c.strip())
        if m:
            return _tidy_title(c.strip()[m.end():])
    for c in candidates:
        if c and c.lower() not in ("_chat", "chat", "whatsapp", ""):
            return _tidy_title(c)
    return "WhatsApp chat"


def _tidy_title(s: str) -> str:
    s = re.sub(r"\s*\(\d+\)$", "", s)  # "Anna (1)" from a second download
    return s.strip(" -_") or "WhatsApp chat"


# -- parsing ----------------------------------------------------------------------------

def _decode(data: bytes, path: str) -> str:
    bomless = None if data.startswith((b"\xff\xfe", b"\xfe\xff")) else \
        utf16_without_bom(data)
    if bomless or data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode(bomless or "utf-16")
        except UnicodeDecodeError as e:
            raise ImportFormatError(f"not valid UTF-16 text ({e.reason})", path=path,
                                    position=f"byte {e.start}") from e
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise ImportFormatError(
            "not UTF-8 text, so not a WhatsApp export as WhatsApp writes it (if you "
            "re-saved it, save it as UTF-8)", path=path,
            position=f"line {line}, byte {e.start}") from e


def _year(v: int) -> int:
    return 2000 + v if v < 100 else v


def _infer_order(dates: list[tuple[int, int, int]], ampm: int, slash: int) -> str:
    """'ymd', 'dmy' or 'mdy' for a file's dates (first two fields as written)."""
    if not dates:
        return "dmy"
    if sum(1 for a, _, _ in dates if a > 31) > len(dates) // 2:
        return "ymd"
    if any(a > 12 for a, _, _ in dates):
        return "dmy"
    if any(b > 12 for _, b, _ in dates):
        return "mdy"

    def inversions(order: str) -> int:
        prev, bad = None, 0
        for a, b, c in dates:
            key = (_year(c), b, a) if order == "dmy" else (_year(c), a, b)
            if prev is not None and key < prev:
                bad += 1
            prev = key
        return bad

    d, m = inversions("dmy"), inversions("mdy")
    if d != m:
        return "dmy" if d < m else "mdy"
    return "mdy" if ampm > len(dates) // 2 and slash > len(dates) // 2 else "dmy"


def parse(c: Claim, ctx: ParseContext) -> Iterator[Item]:
    """Yield the one Conversation of a WhatsApp export file (or a ParseProblem)."""
    rel = c.files[0]
    path = c.tree.display(rel)
    with ctx.open(c.tree, rel) as f:
        data = f.read()
    text = _decode(data, path)
    title = c.data.get("title") or chat_title(c.tree, rel)
    conv = parse_text(text, title, ctx, path)
    if conv is None:
        yield ParseProblem(path, "line 1", "no WhatsApp message lines found "
                           "(expected lines like '[31/12/23, 21:41:05] Name: text' or "
                           "'31/12/23, 21:41 - Name: text')")
        return
    yield conv


def parse_text(text: str, title: str, ctx: ParseContext, path: str = "") -> Optional[Conversation]:
    """Parse the text of one export into a Conversation (None if it has no messages)."""
    text = clean(text)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    heads = list(HEADER_LINES.finditer(text))  # one C-level scan instead of a line loop
    if not heads:
        return None
    # decide the date order from every date in the file
    dates, ampm, slash = [], 0, 0
    for m in heads:
        g = m.groups()
        o = 0 if g[0] is not None else 9
        try:
            dates.append((int(g[o]), int(g[o + 1]), int(g[o + 2])))
        except ValueError:
            continue
        if g[o + 7]:
            ampm += 1
        if "/" in m.group(0)[:12]:
            slash += 1
    order = _infer_order(dates, ampm, slash)

    chat_id = norm_name(title) or "whatsapp"
    conv = Conversation(FORMAT, chat_id, title, metadata={
        "timezone": ctx.zone_label, "date_order": order})
    raw: list[tuple] = []  # (naive, speaker, text)
    candidates: Counter = Counter()
    n_heads = len(heads)
    for n, m in enumerate(heads):
        g = m.groups()
        o = 0 if g[0] is not None else 9
        naive = _naive(g, o, order)
        end = heads[n + 1].start() if n + 1 < n_heads else len(text)
        msg = text[m.start(o + 9):end].rstrip()
        speaker: Optional[str] = None
        if not msg.startswith("\u200e"):
            first_nl = msg.find("\n")
            k = msg.find(": ", 0, first_nl if first_nl >= 0 else len(msg))
            if k > 0:
                speaker, msg = msg[:k], msg[k + 2:]
            elif (first_nl < 0 and msg.endswith(":") and len(msg) > 1) or \
                    (0 < first_nl and msg[first_nl - 1] == ":"):
                cut = first_nl if first_nl > 0 else len(msg)
                speaker, msg = msg[:cut - 1], msg[cut + 1:]
            if speaker is not None:
                candidates[speaker] += 1
        raw.append((naive, speaker, msg))
    seen: Counter = Counter()
    speakers: dict[str, None] = {}
    for naive, speaker, msg in raw:
        if naive is None:
            continue
        if speaker is not None and candidates[speaker] == 1 and \
                (any(q in speaker for q in _QUOTES) or "://" in speaker or len(speaker) > 80):
            speaker, msg = None, f"{speaker}: {msg}"  # "X changed the subject to “a: b”"
        m = _message(chat_id, naive, speaker, msg, seen, ctx)
        if m.kind == "message":
            speakers.setdefault(m.speaker)
        conv.messages.append(m)
    conv.participants = list(speakers)
    _infer_me(conv, ctx)
    return conv


def _naive(g: tuple, o: int, order: str) -> Optional[datetime]:
    try:
        a, b, c = int(g[o]), int(g[o + 1]), int(g[o + 2])
        if order == "ymd":
            y, mo, d = a, b, c
        elif order == "mdy":
            y, mo, d = _year(c), a, b
        else:
            y, mo, d = _year(c), b, a
        h, mi = int(g[o + 4]), int(g[o + 5])
        s = int(g[o + 6]) if g[o + 6] else 0
        pre, post = g[o + 3], g[o + 7]
        tok = (pre or post or "")
        if tok:
            t = tok.lower().replace(".", "").replace(" ", "")
            if t in _PM and h < 12:
                h += 12
            elif t in _AM and h == 12:
                h = 0
        return datetime(y, mo, d, h, mi, s)
    except (ValueError, TypeError, OverflowError):
        return None


def _message(chat_id: str, naive: datetime, speaker: Optional[str], msg: str,
             seen: Counter, ctx: ParseContext) -> Message:
    marked = msg.startswith("\u200e")
    text = msg.replace("\u200e", "").strip("\n") if "\u200e" in msg else msg
    kind = "message"
    atts: list[Attachment] = []
    meta: dict = {}
    if speaker is None:
        kind, spk = "system", ""
    else:
        spk = speaker.replace("\u200e", "").strip()
        if spk.startswith("~"):
            spk = spk[1:].strip()
        stripped = text.strip()
        done = False
        if "<" in stripped:  # markers in angle brackets (cheap test first: hot path)
            m_edit = _EDITED.search(stripped)
            if m_edit:
                stripped = stripped[:m_edit.start()].rstrip()
                meta["edited"] = True
                text = stripped
            att = _ATTACHED.search(stripped)
            if att:
                name = att.group(1).strip()
                atts.append(Attachment(_kind_for(name), name, att.group(0)))
                before = stripped[:att.start()].strip()
                after = stripped[att.end():].strip()
                # iOS documents read "NAME • 3 pages <attached: NAME>": drop the description
                if before and (name in before or before.startswith(name.rsplit(".", 1)[0][:20])
                               or "•" in before):
                    before = ""
                text = "\n".join(x for x in (before, after) if x)
                done = True
            elif _MEDIA_ANDROID.match(stripped):
                atts.append(Attachment("unknown", "", stripped))
                text, done = "", True
        if not done and len(stripped) <= 64:
            om = _OMITTED.match(stripped)
            if om:
                atts.append(Attachment(_OMITTED_KIND.get(om.group("what").lower(), "file"), "",
                                       stripped))
                text, done = "", True
            elif _DELETED.match(stripped):
                atts.append(Attachment("deleted", "", stripped))
                text, done = "", True
                meta["deleted"] = True
            elif stripped == "null":
                atts.append(Attachment("unknown", "", "null"))
                text, done = "", True
        if not done and "(" in stripped:
            fa = _FILE_ATTACHED.match(stripped)
            if fa:
                name = fa.group(1).strip()
                atts.append(Attachment(_kind_for(name), name, fa.group(0).strip()))
                text, done = stripped[fa.end():].strip(), True
        if not done and stripped.startswith("POLL:"):
            text = _poll(stripped)
        if not done and marked:
            kind, spk = "system", ""
    key = (naive, spk)
    n = seen[key]
    seen[key] = n + 1
    # = derive_id(chat_id, naive.isoformat(), spk, n), inlined: this is the hot path
    mid = blake2b(f"{chat_id}\x1f{naive.isoformat()}\x1f{spk}\x1f{n}".encode(
        "utf-8", "surrogatepass"), digest_size=8).hexdigest()
    m = Message(mid, spk, ctx.localize(naive), text, kind=kind, attachments=atts)
    if meta:
        m.metadata.update(meta)
    return m


_OPTION = re.compile(r"^OPTION: (?P<name>.*?)(?: \((?P<votes>\d+) votes?\))?$")


def _poll(text: str) -> str:
    """A poll as WhatsApp writes it ("POLL:", the question, then "OPTION: North (1
    vote)" lines) in the one-line form of every import (``common.poll_text``); anything
    else as it was."""
    lines = [x.strip() for x in text.split("\n")[1:]]
    opts = [_OPTION.match(x) for x in lines]
    first = next((i for i, m in enumerate(opts) if m), None)
    if first is None or not all(opts[first:]):
        return text
    question = " ".join(x for x in lines[:first] if x) or "?"
    return poll_text(question, [(m.group("name"), int(m.group("votes"))
                                 if m.group("votes") is not None else None)
                                for m in opts[first:]])


def _infer_me(conv: Conversation, ctx: ParseContext) -> None:
    """In a two-person chat named after the other person, the other speaker is me
    (only when the person gave no name of their own)."""
    if ctx.me_names:
        return
    people = conv.participants
    if len(people) != 2:
        return
    t = norm_name(conv.title)
    names = [norm_name(p) for p in people]
    if t not in names:
        return
    me = people[1 - names.index(t)]
    conv.metadata["me_inferred"] = me
    for m in conv.messages:
        if m.kind == "message" and m.speaker:
            m.is_me = m.speaker == me
