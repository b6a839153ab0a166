"""Helpers every chat parser shares: the parse context, time zones, derived ids,
JSON sniffing and byte counting.

A parser receives a :class:`ParseContext` and yields Conversation / Document /
ParseProblem items (see ``model.py``); it never touches the database.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterable, Optional

from ..errors import ImportFormatError, InvalidInput
from .model import ParseProblem
from .tree import Tree

# -- time zones -------------------------------------------------------------------------


def _zone(key: str) -> tzinfo:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError, OSError) as e:
        raise InvalidInput(f"unknown time zone {key!r}; use an IANA name such as "
                           "Europe/Berlin or America/New_York") from e


def system_zone() -> tuple[Optional[tzinfo], str]:
    """The machine's time zone as (zone, label).

    ``TZ`` wins, then the ``/etc/localtime`` link. When neither names an IANA zone the
    zone is None and :func:`localize` falls back to the C library's local time, which
    still applies daylight saving time correctly for each instant.
    """
    env = os.environ.get("TZ", "").lstrip(":")
    if env:
        try:
            return _zone(env), env
        except InvalidInput:
            pass
    try:
        target = os.path.realpath("/etc/localtime")
        if "zoneinfo/" in target:
            key = target.split("zoneinfo/", 1)[1]
            return _zone(key), key
    except (OSError, InvalidInput):
        pass
    return None, "system local time (" + time.strftime("%Z") + ")"


def resolve_zone(name: Optional[str]) -> tuple[Optional[tzinfo], str]:
    """(zone, label) for an IANA ``name``; the system zone when ``name`` is empty.

    Raises InvalidInput for an unknown name.
    """
    if name:
        return _zone(name), name
    return system_zone()


@dataclass
class ParseContext:
    """What a parser may know about the import it is part of.

    ``zone`` is the time zone for exports whose timestamps carry none (WhatsApp,
    Signal, Telegram without ``date_unixtime``); ``me_names`` are the normalised names
    (see :func:`norm_name`) the person goes by — parsers may use them to decide
    ``is_me`` themselves, otherwise the pipeline does.
    """

    zone: Optional[tzinfo] = None
    zone_label: str = "UTC"
    me_names: frozenset[str] = frozenset()
    bytes_read: int = 0          # over the whole import (progress)
    file_offset: int = 0         # into the file opened last (positions in messages)
    on_bytes: Optional[Callable[[int], None]] = None

    def localize(self, naive: datetime) -> datetime:
        """Attach this import's time zone to a naive local datetime (DST-correct)."""
        if self.zone is not None:
            return naive.replace(tzinfo=self.zone)
        try:
            return naive.astimezone()  # the C library's local time for that instant
        except (OverflowError, OSError, ValueError):
            return naive.replace(tzinfo=timezone.utc)

    def from_epoch(self, seconds: float) -> datetime:
        """An aware datetime for a POSIX timestamp, shown in this import's zone.

        Raises ValueError for a number no datetime can hold.
        """
        try:
            if self.zone is not None:
                return datetime.fromtimestamp(seconds, self.zone)
            return datetime.fromtimestamp(seconds, timezone.utc).astimezone()
        except (OverflowError, OSError, ValueError) as e:
            raise ValueError(f"timestamp {seconds!r} is out of range") from e

    def open(self, tree: Tree, rel: str, is_json: bool = False) -> BinaryIO:
        """Open ``rel`` in ``tree`` for reading, counting bytes for progress reports.

        ``is_json``: the stream is JSON; reading raises :class:`JsonTooDeep` (a ValueError)
        as soon as the data nests deeper than :data:`MAX_JSON_DEPTH` (ijson's cost grows
        with the square of the depth: 100,000 levels take all the memory there is).
        """
        guard = JsonDepthGuard() if is_json else None
        self.file_offset = 0
        return io.BufferedReader(CountingReader(tree.open(rel), self, guard), 1 << 16)


def context_for(zone_name: Optional[str] = None, me: Iterable[str] = ()) -> ParseContext:
    """A ParseContext for tests and tools: zone by IANA name (None: the system's)."""
    z, label = resolve_zone(zone_name)
    return ParseContext(zone=z, zone_label=label,
                        me_names=frozenset(norm_name(n) for n in me if norm_name(n)))


class CountingReader(io.RawIOBase):
    """A raw stream that counts the bytes it delivers into ``ctx.bytes_read``."""

    def __init__(self, raw: BinaryIO, ctx: ParseContext,
                 guard: Optional["JsonDepthGuard"] = None):
        self._raw = raw
        self._ctx = ctx
        self._guard = guard

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        data = self._raw.read(len(b))
        n = len(data)
        if self._guard is not None:
            self._guard.feed(data)
        b[:n] = data
        self._ctx.bytes_read += n
        self._ctx.file_offset += n
        if self._ctx.on_bytes is not None and n:
            self._ctx.on_bytes(n)
        return n

    def close(self) -> None:
        try:
            self._raw.close()
        finally:
            super().close()


MAX_JSON_DEPTH = 400
_BRACKETS = b"[]{}"
_NOT_BRACKETS = bytes(b for b in range(256) if b not in _BRACKETS)


class JsonTooDeep(ValueError):
    """JSON nested deeper than any export (a damaged or hostile file)."""

    def __init__(self) -> None:
        super().__init__(f"nested more than {MAX_JSON_DEPTH} levels deep, which no export "
                         "is: a damaged or hostile file")


class JsonDepthGuard:
    """Watches the bytes of a JSON stream for nesting deeper than ``limit``.

    Counts brackets with C-speed byte operations (about 4% of ijson's time): a rise of
    more than ``limit`` over the lowest depth seen in the last ``window`` blocks (64 KB
    each as the pipeline reads: 2 MB) trips it. Brackets inside strings are counted too,
    so prose with unbalanced brackets (":[") drifts the count; measuring against a
    recent low point, not the start of the file, keeps that drift from adding up over a
    large export — it would take 400 unbalanced brackets within 2 MB of text to trip.
    """

    def __init__(self, limit: int = MAX_JSON_DEPTH, window: int = 32):
        self.limit = limit
        self.depth = 0
        self._lows: deque[int] = deque([0], maxlen=window)

    def feed(self, data: bytes) -> None:
        br = data.translate(None, _NOT_BRACKETS)
        if not br:
            return
        d, low = self.depth, min(self._lows)
        opens = br.count(b"[") + br.count(b"{")
        if d + opens - low <= self.limit:  # cannot trip inside this block
            end = d + 2 * opens - len(br)
            self._lows.append(min(d, end))
            self.depth = end
            return
        block_low = d
        for c in br:
            if c == 91 or c == 123:  # [ {
                d += 1
                if d - low > self.limit:
                    raise JsonTooDeep()
            else:
                d -= 1
                low = min(low, d)
                block_low = min(block_low, d)
        self._lows.append(block_low)
        self.depth = d


# What a JSON parser's complaint means, in words (first match wins). The parsers' own
# wording ("lexical error: invalid bytes in UTF8 string", "parse error: premature EOF",
# "Expecting ',' delimiter") is theirs, not the person's: it is matched, never shown.
_JSON_PROBLEMS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("utf8", "utf-8", "unicode", "surrogate"),
     "the bytes near that point are not UTF-8 text"),
    (("premature eof", "incomplete json", "unterminated", "end of data"),
     "the data stops before it is complete"),
    (("trailing garbage", "additional data", "extra data"),
     "more text follows where the data should end"),
    (("inside a string", "inside string", "control character", "escape"),
     "a piece of text there holds a character JSON does not allow"),
    (("expecting value", "invalid char", "invalid string", "unexpected symbol"),
     "something there is not JSON (a stray word or character)"),
    (("expect", "separated by", "object key", "unallowed token", "delimiter"),
     "a comma, colon, bracket or quote is missing or out of place there"),
)
_JSON_OTHER = _JSON_PROBLEMS[4][1]


def json_error_text(e: BaseException, *, where: bool = True) -> str:
    """What is wrong with a JSON file, for a person: one short plain phrase and never the
    parser's wording or the file's content (yajl's messages quote the bytes around the
    error — message text — as a Python ``b'…'`` value over three lines, in the words of a
    C library: "lexical error: invalid bytes in UTF8 string"). ``where``: add the line
    and column a whole-file ``json`` error knows (streamed ijson errors know none; their
    callers name the byte they had reached)."""
    if isinstance(e, JsonTooDeep):
        return str(e)
    if isinstance(e, UnicodeDecodeError):
        return _JSON_PROBLEMS[0][1]
    text = e.msg if isinstance(e, json.JSONDecodeError) else str(e)
    if text.startswith(("b'", 'b"')):
        text = text[2:]
    # only the parser's first line: yajl's next ones quote the file around the error
    text = (text.replace("\\n", "\n").splitlines() or [""])[0].lower()
    if isinstance(e, json.JSONDecodeError) and text.startswith("expecting value") \
            and not e.doc[e.pos:].strip():
        text = "end of data"   # the file stops where a value should begin: cut short
    said = next((words for keys, words in _JSON_PROBLEMS if any(k in text for k in keys)),
                _JSON_OTHER)
    if where and isinstance(e, json.JSONDecodeError):
        said += f" (line {e.lineno}, column {e.colno})"
    return said


def loads_json(text: str | bytes) -> Any:
    """``json.loads`` that raises JsonTooDeep (a ValueError) instead of RecursionError."""
    try:
        return json.loads(text)
    except RecursionError:
        raise JsonTooDeep() from None


# -- names, ids, text -------------------------------------------------------------------

_SPACES = re.compile(r"\s+")
_INVISIBLE = dict.fromkeys(map(ord, "\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
                               "\u2066\u2067\u2068\u2069\ufeff"), None)


def norm_name(name: str) -> str:
    """A speaker name folded for comparison: invisible marks dropped, spaces collapsed,
    case folded, a WhatsApp ``~`` prefix removed."""
    if not name:
        return ""
    n = name.translate(_INVISIBLE).replace("\u202f", " ").replace("\u00a0", " ")
    n = _SPACES.sub(" ", n).strip().lstrip("~").strip()
    return n.casefold()


def derive_id(*parts: Any) -> str:
    """A stable id from ``parts`` (for exports without message ids): 16 hex chars."""
    return hashlib.blake2b("\x1f".join(map(str, parts)).encode("utf-8", "surrogatepass"),
                           digest_size=8).hexdigest()


def parse_iso(value: Any, ctx: ParseContext) -> Optional[datetime]:
    """Parse an ISO 8601 timestamp (``Z``, offsets, fractions); naive → ctx zone.

    Returns None for None/"". Raises ValueError for text that is not a timestamp.
    """
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        t = epoch_seconds(value)  # seconds, or milliseconds/microseconds scaled down
        if t is None:
            raise ValueError(f"timestamp {value!r} is not a plausible POSIX time")
        return ctx.from_epoch(t)
    if not isinstance(value, str):
        raise ValueError(f"not a timestamp: {value!r}")
    s = value.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        from dateutil import parser as du

        try:
            dt = du.isoparse(s)
        except (ValueError, OverflowError) as e:
            raise ValueError(f"not an ISO 8601 timestamp: {value!r}") from e
    if dt.tzinfo is None:
        return ctx.localize(dt)
    return dt


def as_text(value: Any) -> str:
    """``value`` as a string ('' for None); numbers and booleans converted."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float, bool)):
        return str(value)
    return ""


# -- sniffing -----------------------------------------------------------------------------

def head_text(tree: Tree, rel: str, n: int = 65536) -> str:
    """The first ``n`` bytes of a file decoded leniently (for detection only)."""
    try:
        data = tree.head(rel, n)
    except (OSError, ImportFormatError):
        return ""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16", "replace")
        except UnicodeDecodeError:
            return ""
    return data.decode("utf-8", "replace")


def json_keys_in(head: str, keys: Iterable[str]) -> set[str]:
    """Which of ``keys`` appear as JSON object keys ("key":) in ``head``."""
    found = set()
    for k in keys:
        if re.search(r'"' + re.escape(k) + r'"\s*:', head):
            found.add(k)
    return found


def poll_text(question: str, options: list[tuple[str, Optional[int]]], *,
              closed: bool = False, mine: Iterable[str] = ()) -> str:
    """A poll as one line of text, the same from every chat app:
    "Poll: Which gym? (North: 1 vote / South: 0 votes; closed; my vote: North)". The votes
    are kept because they are the answer to a question about the poll (the search's
    reader answers "which gym?" with the option most voted for)."""
    shown = [f"{name}: {votes} vote{'' if votes == 1 else 's'}" if votes is not None
             else name for name, votes in options]
    notes = [" / ".join(shown)] if shown else []
    if closed:
        notes.append("closed")
    mine = list(mine)
    if mine:
        notes.append("my vote: " + ", ".join(mine))
    return f"Poll: {question}" + (f" ({'; '.join(notes)})" if notes else "")


def suffix(rel: str) -> str:
    """The lower-case extension of ``rel`` including the dot ('' if none)."""
    return Path(rel).suffix.lower()


def stem(rel: str) -> str:
    return Path(rel).stem


@dataclass
class Claim:
    """Part of a tree that one format will parse: its files and how to name it."""

    format: str
    tree: Tree
    files: list[str]            # files the parser reads
    label: str
    data: dict[str, Any] = field(default_factory=dict)
    covers: list[str] = field(default_factory=list)  # export files not read but not
    # documents either (ChatGPT's chat.html repeats conversations.json)


def json_error_position(e: Exception, ctx_bytes: int | None = None) -> str:
    """A position string for an ijson/json error."""
    pos = getattr(e, "pos", None)
    if pos is not None:
        return f"character {pos}"
    if ctx_bytes is not None:
        return f"near byte {ctx_bytes}"
    return "unknown position"


EPOCH_MIN = datetime(1990, 1, 1, tzinfo=timezone.utc).timestamp()
EPOCH_MAX = datetime(2100, 1, 1, tzinfo=timezone.utc).timestamp()


def epoch_seconds(value: Any) -> Optional[float]:
    """A plausible POSIX timestamp from a number or numeric string (ms/µs scaled), or None."""
    if value is None or isinstance(value, bool):
        return None
    try:
        t = float(value)
    except (TypeError, ValueError):
        return None
    if t != t or t in (float("inf"), float("-inf")):
        return None
    for _ in range(3):
        if t > EPOCH_MAX:
            t /= 1000.0
    if not (0 <= t <= EPOCH_MAX):
        return None
    return t


def utc_offset_label(dt: datetime) -> str:
    off = dt.utcoffset() or timedelta(0)
    return dt.tzname() or str(off)


def stream_json_conversations(claim, ctx: "ParseContext",
                              convert: Callable[[Any, str, int, "ParseContext"], Any]):
    """Stream the conversation objects of one JSON file — an array, or a single object —
    in bounded memory (ijson), yielding ``convert(obj, path, n, ctx)`` for each (a
    Conversation, or a ParseProblem naming the conversation that cannot be read).

    A file that is not valid JSON or is truncated ends with a ParseProblem naming the
    position; the conversations before that point are kept.
    """
    import ijson

    rel = claim.files[0]
    path = claim.tree.display(rel)
    n = 0
    with ctx.open(claim.tree, rel, is_json=True) as raw:
        start = raw.peek(256)[:256].lstrip(b"\xef\xbb\xbf \t\r\n")
        prefix = "" if start.startswith(b"{") else "item"
        try:
            for n, obj in enumerate(ijson.items(raw, prefix, use_float=True), 1):
                yield convert(obj, path, n, ctx)
        except (ijson.JSONError, UnicodeDecodeError, ValueError) as e:
            yield ParseProblem(path, f"after conversation {n}, near byte {ctx.file_offset}",
                               f"the file is not valid JSON or is truncated "
                               f"({json_error_text(e)}); the conversations "
                               "before this point were imported")
