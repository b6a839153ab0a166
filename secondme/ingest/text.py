"""Plain text, and what every document format shares: decoding and chunking.

Decoding: byte-order marks (UTF-8/16/32) first, then strict UTF-8 (most files), then
UTF-16 without a BOM (recognised by its NUL pattern), then charset-normalizer for legacy
encodings (Latin-1, Windows-1252, ...). Binary data is refused with the byte offset.

Chunking: a document is turned into one extracted text plus :class:`Block` spans
(paragraphs, heading lines, tables) and :func:`chunk_blocks` packs them into chunks of
reader size — a paragraph or a few, at most :data:`MAX_CHUNK_CHARS` characters, never
across a heading or page change, long paragraphs split at sentence, then line, then word
boundaries. Every chunk's text is exactly ``text[char_start:char_end]``.
"""
from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from typing import Iterator, Optional

from ..errors import ImportFormatError
from .model import Chunk

MAX_CHUNK_CHARS = 1200

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le", "UTF-32"),
    (codecs.BOM_UTF32_BE, "utf-32-be", "UTF-32"),
    (codecs.BOM_UTF8, "utf-8", "UTF-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16"),
)

# Control characters that only get in the way of search and display. Form feeds and
# Unicode paragraph separators become blank lines (paragraph breaks); NUL and the other
# C0 controls except tab/newline are dropped.
_CLEAN = {c: None for c in list(range(0, 9)) + [11] + list(range(14, 32)) + [127]}
_CLEAN.update({12: "\n\n", 0x85: "\n", 0x2028: "\n", 0x2029: "\n\n", 0xFEFF: None})
_NEEDS_CLEAN = re.compile("[" + "".join(re.escape(chr(c)) for c in sorted(_CLEAN)) + "]")


def decode_bytes(raw: bytes, path: str) -> tuple[str, str]:
    """Decode a text file's bytes; return ``(text, encoding)``.

    Raises ImportFormatError (naming ``path`` and the byte offset) for binary data or
    bytes that fit no encoding. A leading BOM is removed; newlines are left as they are.
    """
    for bom, codec, name in _BOMS:
        if raw.startswith(bom):
            try:
                return raw[len(bom):].decode(codec), codec
            except UnicodeDecodeError as e:
                at = e.start + len(bom)
                raise ImportFormatError(
                    f"the file starts with a {name} byte-order mark but is not valid {name}",
                    path=path, position=f"byte {at}") from None
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as e:
        first_bad = e.start
    nul = raw.find(b"\x00")
    if nul >= 0:
        codec = utf16_without_bom(raw)
        if codec:
            try:
                return raw.decode(codec), codec
            except UnicodeDecodeError:
                pass
        raise ImportFormatError("binary data, not text (a NUL byte)", path=path,
                                position=f"byte {nul}")
    # Western European text in Windows-1252/Latin-1 is by far the most common legacy
    # file, and the statistical detector confuses it with its neighbours (cp1250 turns
    # "à Genève" into "ŕ Genčve"), so it is checked first, by how its letters sit.
    try:
        western = raw.decode("cp1252")
    except UnicodeDecodeError:
        western = None
    if western is not None and _plausibly_western(western):
        return western, "cp1252"
    import charset_normalizer  # imported here: it is only needed for legacy encodings

    best = charset_normalizer.from_bytes(raw).best()
    if best is None:
        raise ImportFormatError(
            "not a text file, or in an encoding that cannot be recognised "
            "(not valid UTF-8)", path=path, position=f"byte {first_bad}")
    return str(best), best.encoding


_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_WESTERN_PUNCT = frozenset("€‚„…‘’“”•–—«»°£¥§©®™¡¿·\u00a0½¼¾±")


def _plausibly_western(text: str) -> bool:
    """Does this cp1252 decoding read like Western European text? Accented letters
    sit inside ASCII words ("café", "Größe"); text in another legacy encoding shows up
    as runs of accented letters ("Ïðèâåò") or symbols inside words ("Za¿ó³æ")."""
    sample = text[:65536]
    n = bad = 0
    for m in _NON_ASCII.finditer(sample):
        n += 1
        i = m.start()
        c = sample[i]
        before = sample[i - 1] if i else " "
        after = sample[i + 1] if i + 1 < len(sample) else " "
        if c.isalpha():
            if not before.isascii() and before.isalpha() and not after.isascii() \
                    and after.isalpha():
                bad += 1
        elif c in _WESTERN_PUNCT:
            if c != "’" and before.isalpha() and after.isalpha():
                bad += 1
        else:
            bad += 1
    return n > 0 and bad <= 0.05 * n


def utf16_without_bom(raw: bytes) -> Optional[str]:
    """"utf-16-le"/"utf-16-be" when ``raw`` looks like UTF-16 text saved without a BOM
    (every other byte NUL), else None."""
    sample = raw[:8192]
    half = len(sample) // 2
    if half < 2:
        return None
    even = sample[0::2].count(0)
    odd = sample[1::2].count(0)
    if odd > 0.3 * half and even < 0.02 * half:
        return "utf-16-le"
    if even > 0.3 * half and odd < 0.02 * half:
        return "utf-16-be"
    return None


def normalize_text(text: str) -> str:
    """Newlines to ``\\n``; drop NUL and other stray control characters.

    Chunk offsets index into the normalised text (``Document.text``).
    """
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if _NEEDS_CLEAN.search(text):  # rare; str.translate is slow on every character
        text = text.translate(_CLEAN)
    return text


@dataclass
class Block:
    """A span ``text[start:end]`` of a document that chunks are made from."""

    start: int
    end: int
    heading: str = ""           # heading path in effect, "A > B > C"
    page: Optional[int] = None
    is_heading: bool = False    # a heading line: it opens the chunk that follows it


_BLANK = re.compile(r"\n[ \t]*\n\s*")
_WS = frozenset(" \t\n\r\f\v\u00a0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
                "\u2008\u2009\u200a\u202f\u205f\u3000")


def trim(text: str, start: int, end: int) -> Optional[tuple[int, int]]:
    """``(start, end)`` without surrounding whitespace, or None if nothing is left."""
    while start < end and (text[start] in _WS or text[start].isspace()):
        start += 1
    while end > start and (text[end - 1] in _WS or text[end - 1].isspace()):
        end -= 1
    return (start, end) if start < end else None


def paragraphs(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """Spans of the paragraphs (blank-line separated) in ``text[start:end]``, trimmed."""
    pos = start
    for m in _BLANK.finditer(text, start, end):
        span = trim(text, pos, m.start())
        if span:
            yield span
        pos = m.end()
    span = trim(text, pos, end)
    if span:
        yield span


# Split levels for a paragraph longer than a chunk: sentences, then lines, then words.
# Each pattern's group "end" ends the piece before the separator (closing quotes stay
# with their sentence); the match end starts the next piece.
_SENTENCE = re.compile(
    r"(?<=[.!?…])(?P<end>[\"'”’»)\]]*)\s+"
    r"|(?<=[。！？])(?P<cjk>[」』”)]*)\s*")
_LINE = re.compile(r"(?P<end>)[ \t]*\n\s*")
_WORD = re.compile(r"(?P<end>)\s+")
_LEVELS = (_SENTENCE, _LINE, _WORD)


def split_span(text: str, start: int, end: int, max_chars: int = MAX_CHUNK_CHARS,
               level: int = 0) -> list[tuple[int, int]]:
    """Split ``text[start:end]`` into trimmed spans of at most ``max_chars``.

    Prefers sentence boundaries, then line breaks, then spaces; only a single "word"
    longer than ``max_chars`` (a URL, a base64 blob) is cut inside.
    """
    span = trim(text, start, end)
    if not span:
        return []
    start, end = span
    if end - start <= max_chars:
        return [span]
    if level >= len(_LEVELS):
        out = []
        for s in range(start, end, max_chars):
            piece = trim(text, s, min(s + max_chars, end))
            if piece:
                out.append(piece)
        return out
    pieces: list[tuple[int, int]] = []
    cur: Optional[list[int]] = None

    def add(s: int, e: int) -> None:
        nonlocal cur
        sp = trim(text, s, e)
        if not sp:
            return
        s, e = sp
        if e - s > max_chars:
            if cur:
                pieces.append((cur[0], cur[1]))
                cur = None
            pieces.extend(split_span(text, s, e, max_chars, level + 1))
        elif cur is None:
            cur = [s, e]
        elif e - cur[0] <= max_chars:
            cur[1] = e
        else:
            pieces.append((cur[0], cur[1]))
            cur = [s, e]

    pos = start
    for m in _LEVELS[level].finditer(text, start, end):
        piece_end = m.end("end") if m.group("end") is not None else m.end("cjk")
        if piece_end > pos:
            add(pos, piece_end)
            pos = m.end()
    add(pos, end)
    if cur:
        pieces.append((cur[0], cur[1]))
    return pieces


def chunk_blocks(text: str, blocks: list[Block],
                 max_chars: int = MAX_CHUNK_CHARS) -> list[Chunk]:
    """Pack blocks into chunks of reader size.

    Consecutive blocks with the same heading path and page share a chunk while it stays
    within ``max_chars``; a heading line opens a new chunk and stays with the text after
    it (several heading lines in a row travel together). Every chunk's text is exactly
    ``text[char_start:char_end]``.
    """
    chunks: list[Chunk] = []
    cur: Optional[list] = None  # [start, end, heading, page, has_content]

    def flush() -> None:
        nonlocal cur
        if cur is not None:
            s, e, heading, page, _ = cur
            chunks.append(Chunk(text=text[s:e], page=page, heading=heading,
                                char_start=s, char_end=e))
            cur = None

    for b in blocks:
        if b.is_heading:
            span = trim(text, b.start, b.end)
            if not span:
                continue
            if (cur is not None and not cur[4] and cur[3] == b.page
                    and span[1] - cur[0] <= max_chars):
                cur[1], cur[2] = span[1], b.heading
                continue
            flush()
            for s, e in split_span(text, span[0], span[1], max_chars):
                flush()
                cur = [s, e, b.heading, b.page, False]
            continue
        for s, e in split_span(text, b.start, b.end, max_chars):
            if (cur is not None and cur[2] == b.heading and cur[3] == b.page
                    and e - cur[0] <= max_chars):
                cur[1] = e
                cur[4] = True
            else:
                flush()
                cur = [s, e, b.heading, b.page, True]
    flush()
    return chunks


def parse_text(raw: bytes, path: str, title: str) -> tuple[str, list[Chunk], dict]:
    """A plain text file: ``(text, chunks, metadata)``; chunks follow paragraphs.

    Raises ImportFormatError for binary or undecodable content.
    """
    decoded, encoding = decode_bytes(raw, path)
    text = normalize_text(decoded)
    blocks = [Block(s, e) for s, e in paragraphs(text, 0, len(text))]
    return text, chunk_blocks(text, blocks), {"encoding": encoding}


def when(value) -> Optional[datetime]:
    """A timezone-aware datetime from a front-matter/metadata value, or None.

    Accepts datetimes and dates (naive ones are taken as local time), ISO 8601 and other
    common date strings (they must contain a 4-digit year), and Unix timestamps in
    seconds or milliseconds. Never raises.
    """
    try:
        if isinstance(value, bool) or value is None:
            return None
        if isinstance(value, datetime):
            dt = value
        elif isinstance(value, date):
            dt = datetime.combine(value, time())
        elif isinstance(value, (int, float)):
            v = float(value)
            if v > 1e11:
                v /= 1000.0
            if not 1e8 < v < 1e10:
                return None
            return datetime.fromtimestamp(v, tz=timezone.utc)
        elif isinstance(value, str):
            s = value.strip()
            if not s or len(s) > 64 or not re.search(r"\d{4}", s):
                return None
            try:
                dt = datetime.fromisoformat(s.replace("Z", "+00:00") if s.endswith("Z") else s)
            except ValueError:
                from dateutil import parser as dateparser

                dt = dateparser.parse(s, fuzzy=False)
        else:
            return None
        if dt.tzinfo is None or dt.tzinfo.utcoffset(dt) is None:
            dt = dt.astimezone()  # naive: the writer's local time
        return dt
    except (ValueError, OverflowError, OSError, TypeError, ArithmeticError):
        return None
