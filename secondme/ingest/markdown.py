"""Markdown notes (and Obsidian vault notes): front matter, headings, links, tags.

The extracted text (``Document.text``) is the decoded note with newlines normalised, so
chunk offsets point into the note as its author wrote it. The YAML front matter is read
into metadata and left out of the chunks; heading lines open the chunk that follows them
and give every chunk its heading path ("A > B > C"). Headings, links and tags inside
fenced code, inline code and comments are ignored.
"""
from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any, Optional

from .model import Document, WikiLink
from .obsidian import (
    aliases_from_front_matter,
    find_links,
    find_tags,
    tags_from_front_matter,
    unique,
)
from .text import Block, chunk_blocks, decode_bytes, normalize_text, paragraphs, when

_ATX = re.compile(r" {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})(.*)$")
_SETEXT = re.compile(r" {0,3}(=+|-+)[ \t]*$")
_HR = re.compile(r" {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
# Lines that cannot be the text of a setext heading (list items, quotes, table rows).
_NOT_PARA = re.compile(r" {0,3}(?:[-+*][ \t]|\d{1,9}[.)][ \t]|>|\|)")
_FM_CLOSE = re.compile(r"^(?:---|\.\.\.)[ \t]*$", re.M)
_INLINE_CODE = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)")
_COMMENTS = re.compile(r"<!--.*?(?:-->|\Z)|%%.*?(?:%%|\Z)", re.S)
_WIKI_IN_TITLE = re.compile(r"!?\[\[([^\[\]|#]*)(?:#[^\[\]|]*)?(?:\|([^\[\]]*))?\]\]")

_CREATED_KEYS = ("created", "date", "created_at", "creation_date", "date_created",
                 "created_on", "createdat")
_MODIFIED_KEYS = ("updated", "modified", "updated_at", "modified_at", "last_modified",
                  "lastmod", "date_modified", "last_updated", "updatedat")

try:  # the C loader is several times faster on a vault of thousands of notes
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader


def parse_markdown(raw: bytes, path: str, stem: str, folder: str = "") -> Document:
    """Parse a Markdown note. ``stem`` is the fallback title (the file name); ``folder``
    the note's folder inside the import (relative Markdown links are resolved from it).

    Returns a Document with ``format="markdown"``, chunks, links, ``metadata["tags"]``,
    ``metadata["aliases"]``, ``metadata["front_matter"]`` and created/modified dates from
    the front matter when present. Front matter that is not valid YAML does not lose the
    note: it stays in the text and is listed in ``metadata["problems"]``.
    Raises ImportFormatError for binary or undecodable files.
    """
    decoded, encoding = decode_bytes(raw, path)
    text = normalize_text(decoded)
    problems: list[dict] = []
    fm_end, front, verbatim = _front_matter(text, problems)

    blocks, code_spans, first_h1 = _scan(text, fm_end, verbatim)
    masked = _mask(text, fm_end, code_spans)
    found = find_links(masked, folder)
    links: list[WikiLink] = []
    if front and "[[" in text[:fm_end]:
        # Obsidian properties may hold links too: up: "[[Parent]]", people: ["[[Amy]]"]
        links.extend(link for _, _, link in find_links(text[:fm_end], folder))
    links.extend(link for _, _, link in found)
    if found:  # a link's text is not a tag: [[Note #2]]
        masked = _mask(masked, 0, [(s, e) for s, e, _ in found])

    fm = front or {}
    fm_lower = {str(k).strip().lower(): v for k, v in fm.items()}
    tags = unique(tags_from_front_matter(fm_lower.get("tags", fm_lower.get("tag")))
                  + find_tags(masked))
    aliases = unique(aliases_from_front_matter(fm_lower.get("aliases", fm_lower.get("alias"))))
    title = _scalar_text(fm_lower.get("title")) or first_h1 or stem

    metadata: dict[str, Any] = {"tags": tags, "aliases": aliases, "encoding": encoding}
    if front:
        metadata["front_matter"] = jsonable(front)
    if problems:
        metadata["problems"] = problems
    return Document(
        format="markdown", path=path, title=title,
        chunks=chunk_blocks(text, blocks),
        created_at=_first_date(fm_lower, _CREATED_KEYS),
        modified_at=_first_date(fm_lower, _MODIFIED_KEYS),
        metadata=metadata, links=links, text=text)


def _front_matter(text: str, problems: list[dict]) -> tuple[int, Optional[dict], int]:
    """``(offset where the body starts, the front matter as a dict or None, end of a
    broken front matter block that is kept as plain text, else 0)``."""
    if not text.startswith("---"):
        return 0, None, 0
    nl = text.find("\n")
    if nl < 0 or text[3:nl].strip():
        return 0, None, 0
    close = _FM_CLOSE.search(text, nl + 1)
    if not close:
        return 0, None, 0  # a thematic break at the top, not front matter
    body = text[nl + 1:close.start()]
    end = close.end() + (1 if text[close.end():close.end() + 1] == "\n" else 0)
    import yaml

    try:
        data = yaml.load(body, Loader=_Loader) if body.strip() else {}
    except Exception as e:  # YAMLError, and ValueError for impossible dates like 2024-13-01
        mark = getattr(e, "problem_mark", None)
        line = (mark.line + 2) if mark is not None else 1
        problem = getattr(e, "problem", None) or (str(e).strip().splitlines() or [""])[0]
        problem = problem or type(e).__name__
        problems.append({"position": f"line {line}",
                         "problem": f"front matter is not valid YAML ({problem}); "
                                    "kept as text"})
        return 0, None, close.end()
    if data is None:
        data = {}
    if not isinstance(data, dict):
        problems.append({"position": "line 1",
                         "problem": "front matter is not a list of key: value pairs; "
                                    "kept as text"})
        return 0, None, close.end()
    return end, data, 0


def _scan(text: str, start: int, verbatim: int = 0
          ) -> tuple[list[Block], list[tuple[int, int]], str]:
    """Blocks (paragraphs, heading lines, code blocks) with heading paths, the code spans
    to mask, and the first level-1 heading's text. ``text[start:verbatim]`` is one plain
    block (front matter that could not be read)."""
    blocks: list[Block] = []
    if verbatim > start:
        blocks.append(Block(start, verbatim))
        start = verbatim
    code: list[tuple[int, int]] = []
    stack: list[tuple[int, str]] = []
    path = ""
    first_h1 = ""
    para_start = para_end = -1
    para_ok = False
    fence: Optional[tuple[str, int, int]] = None  # (char, length, start offset)

    def close_para() -> None:
        nonlocal para_start
        if para_start >= 0:
            for s, e in paragraphs(text, para_start, para_end):
                blocks.append(Block(s, e, heading=path))
            para_start = -1

    def heading(level: int, title: str, s: int, e: int) -> None:
        nonlocal path, first_h1
        title = title.strip()
        if not title:
            return
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, title))
        path = " > ".join(t for _, t in stack)
        if level == 1 and not first_h1:
            first_h1 = _clean_title(title)
        blocks.append(Block(s, e, heading=path, is_heading=True))

    pos = start
    n = len(text)
    while pos < n:
        nl = text.find("\n", pos)
        le = n if nl < 0 else nl
        line = text[pos:le]
        ls = pos
        pos = le + 1
        if fence is not None:
            m = _FENCE.match(line)
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= fence[1] \
                    and not m.group(2).strip():
                blocks.append(Block(fence[2], le, heading=path))
                code.append((fence[2], le))
                fence = None
            continue
        if not line.strip():
            close_para()
            continue
        m = _FENCE.match(line)
        if m and not (m.group(1)[0] == "`" and "`" in m.group(2)):
            close_para()
            fence = (m.group(1)[0], len(m.group(1)), ls)
            continue
        m = _ATX.match(line)
        if m:
            close_para()
            heading(len(m.group(1)), m.group(2) or "", ls, le)
            continue
        if para_start >= 0 and para_ok and _SETEXT.match(line):
            title = " ".join(t.strip() for t in text[para_start:para_end].split("\n"))
            s = para_start
            para_start = -1
            heading(1 if line.strip()[0] == "=" else 2, title, s, le)
            continue
        if _HR.match(line):
            close_para()
            continue
        if para_start < 0:
            para_start = ls
            para_ok = True
        if _NOT_PARA.match(line):
            para_ok = False
        para_end = le
    if fence is not None:  # an unclosed fence runs to the end, as in CommonMark
        blocks.append(Block(fence[2], n, heading=path))
        code.append((fence[2], n))
    close_para()
    for m in _INLINE_CODE.finditer(text, start):
        code.append((m.start(), m.end()))
    for m in _COMMENTS.finditer(text, start):
        code.append((m.start(), m.end()))
    return blocks, code, first_h1


def _mask(text: str, upto: int, spans: list[tuple[int, int]]) -> str:
    """``text`` with ``[0:upto]`` and every span blanked by spaces (same length)."""
    spans = sorted(([(0, upto)] if upto else []) + list(spans))
    if not spans:
        return text
    out = []
    pos = 0
    for s, e in spans:
        if e <= pos:
            continue
        s = max(s, pos)
        out.append(text[pos:s])
        out.append(" " * (e - s))
        pos = e
    out.append(text[pos:])
    return "".join(out)


def _clean_title(title: str) -> str:
    return _WIKI_IN_TITLE.sub(lambda m: (m.group(2) or m.group(1) or "").strip(), title).strip()


def _scalar_text(value: Any) -> str:
    if value is None or isinstance(value, (dict, list, tuple, bool)):
        return ""
    return str(value).strip()


def _first_date(fm: dict, keys: tuple[str, ...]) -> Optional[datetime]:
    for key in keys:
        if key in fm:
            dt = when(fm[key])
            if dt is not None:
                return dt
    return None


def jsonable(value: Any, _budget: Optional[list[int]] = None, _depth: int = 0) -> Any:
    """Front matter as JSON-safe data: dates as ISO strings, keys as strings.

    Bounded in depth and size, so YAML anchors and aliases (including recursive ones)
    cannot blow it up; what is cut off becomes ``"…"``.
    """
    budget = _budget if _budget is not None else [10000]
    budget[0] -= 1
    if budget[0] < 0 or _depth > 20:
        return "…"
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        finite = value == value and value not in (float("inf"), float("-inf"))
        return value if finite else str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v, budget, _depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v, budget, _depth + 1) for v in value]
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return str(value)

