"""HTML pages (BeautifulSoup): readable text, title, heading paths.

Scripts, styles, navigation, forms' controls, hidden elements and other non-content are
dropped; when the page marks its content with a single ``<main>`` (or ``<article>``),
only that is read. ``Document.text`` is the page's blocks (paragraphs, list items,
headings, preformatted text, tables as one line per row with cells joined by `` | ``)
separated by blank lines; headings h1–h6 give the chunks their heading path.

The encoding comes from a byte-order mark, the page's ``<meta charset>``, or detection.
"""
from __future__ import annotations

import codecs
import re
import warnings
from typing import Any

from ..errors import ImportFormatError
from .model import Document
from .text import _BOMS, Block, chunk_blocks, decode_bytes, normalize_text, when

_SKIP = frozenset({
    "script", "style", "noscript", "template", "nav", "svg", "math", "iframe", "object",
    "embed", "canvas", "button", "select", "option", "input", "textarea", "head",
    "link", "meta", "audio", "video", "map", "dialog"})
_BLOCK = frozenset({
    "html", "body", "p", "div", "section", "article", "main", "header", "footer", "aside",
    "blockquote", "li", "ul", "ol", "dl", "dt", "dd", "figure", "figcaption", "address",
    "hr", "details", "summary", "fieldset", "legend", "center", "form", "tr", "td", "th",
    "caption", "tbody", "thead", "tfoot", "table"})
_SPACES = re.compile(r"\s+")
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_LAYOUT = ["h1", "h2", "h3", "h4", "h5", "h6", "p", "div", "ul", "ol", "table",
           "blockquote", "pre"]
_META_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]{1,40})""",
                           re.IGNORECASE)
_CREATED_META = ("article:published_time", "datepublished", "date", "dc.date",
                 "dcterms.created", "dc.date.created", "pubdate", "publish-date",
                 "og:published_time")
_MODIFIED_META = ("article:modified_time", "datemodified", "last-modified",
                  "dcterms.modified", "dc.date.modified", "og:updated_time")


def parse_html(raw: bytes, path: str, stem: str) -> Document:
    """Parse an HTML page's bytes. ``stem`` is the fallback title.

    Raises ImportFormatError for binary content or a page the parser rejects. An empty
    page gives a Document without chunks.
    """
    html = normalize_text(_decode(raw, path))
    from bs4 import BeautifulSoup

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "looks like a URL/filename" and similar
            soup = BeautifulSoup(html, "html.parser")
        title_tag = soup.find("title")
        title = " ".join(title_tag.get_text(" ").split()) if title_tag else ""
        meta = _meta(soup)
        root = _content_root(soup)
        items = _blocks(root)
    except ImportFormatError:
        raise
    except Exception as e:  # bs4/html.parser give up on some malformed markup
        raise ImportFormatError(f"the HTML cannot be parsed ({type(e).__name__}: "
                                f"{' '.join(str(e).split())[:160]})", path=path) from None

    parts: list[str] = []
    blocks: list[Block] = []
    stack: list[tuple[int, str]] = []
    first_h1 = ""
    offset = 0
    for level, block_text in items:
        block_text = normalize_text(block_text)
        if not block_text.strip():
            continue
        if parts:
            parts.append("\n\n")
            offset += 2
        start = offset
        parts.append(block_text)
        offset += len(block_text)
        if level:
            name = " ".join(block_text.split())
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, name))
            if level == 1 and not first_h1:
                first_h1 = name
            blocks.append(Block(start, offset, heading=" > ".join(t for _, t in stack),
                                is_heading=True))
        else:
            blocks.append(Block(start, offset, heading=" > ".join(t for _, t in stack)))
    text = "".join(parts)
    title = title or first_h1 or meta.get("og:title", "") or stem
    metadata: dict[str, Any] = {}
    for key in ("author", "description", "keywords"):
        if meta.get(key):
            metadata[key] = meta[key][:500]
    return Document(format="html", path=path, title=title[:500],
                    chunks=chunk_blocks(text, blocks),
                    created_at=_first_when(meta, _CREATED_META),
                    modified_at=_first_when(meta, _MODIFIED_META),
                    metadata=metadata, text=text)


def _decode(raw: bytes, path: str) -> str:
    if any(raw.startswith(bom) for bom, _, _ in _BOMS):
        return decode_bytes(raw, path)[0]
    m = _META_CHARSET.search(raw[:8192])
    if m:
        name = m.group(1).decode("ascii", "ignore").lower()
        if name in ("iso-8859-1", "latin-1", "latin1", "us-ascii", "ascii"):
            name = "cp1252"  # what browsers do, and what such pages really contain
        try:
            codec = codecs.lookup(name).name
        except LookupError:
            codec = None
        if codec and not codec.startswith("utf-16") and not codec.startswith("utf-32"):
            try:
                return raw.decode(codec)
            except UnicodeDecodeError:
                pass  # the declaration is wrong: detect instead
    return decode_bytes(raw, path)[0]


def _meta(soup) -> dict[str, str]:
    out: dict[str, str] = {}
    for tag in soup.find_all("meta", limit=200):
        key = (tag.get("name") or tag.get("property") or tag.get("itemprop")
               or tag.get("http-equiv") or "")
        value = tag.get("content")
        if isinstance(key, list):
            key = " ".join(key)
        if isinstance(value, list):
            value = " ".join(value)
        if key and value and str(value).strip():
            out.setdefault(str(key).strip().lower(), " ".join(str(value).split()))
    return out


def _first_when(meta: dict[str, str], keys: tuple[str, ...]):
    for key in keys:
        if key in meta:
            dt = when(meta[key])
            if dt is not None:
                return dt
    return None


def _content_root(soup):
    for name in ("main", "article"):
        found = soup.find_all(name, limit=2)
        if len(found) == 1 and found[0].get_text(strip=True):
            return found[0]
    return soup.body or soup


def _hidden(tag) -> bool:
    attrs = tag.attrs or {}
    if "hidden" in attrs or str(attrs.get("aria-hidden", "")).lower() == "true":
        return True
    style = attrs.get("style")
    if isinstance(style, str) and re.search(r"display\s*:\s*none|visibility\s*:\s*hidden",
                                            style, re.IGNORECASE):
        return True
    return False


def _collapse(s: str) -> str:
    lines = (" ".join(line.split()) for line in s.split("\n"))
    return "\n".join(line for line in lines if line)


def _blocks(root) -> list[tuple[int, str]]:
    """``(heading level or 0, text)`` for each block of ``root`` in document order.

    Iterative (a deeply nested page cannot exhaust the stack).
    """
    from bs4 import NavigableString, Tag
    from bs4.element import CData, Comment, Declaration, Doctype, ProcessingInstruction

    out: list[tuple[int, str]] = []
    inline: list[str] = []

    def flush() -> None:
        if inline:
            t = _collapse("".join(inline))
            inline.clear()
            if t:
                out.append((0, t))

    stack: list[tuple[bool, Any]] = [(False, root)]
    while stack:
        exiting, node = stack.pop()
        if exiting:
            flush()
            continue
        if isinstance(node, NavigableString):
            if not isinstance(node, (Comment, Declaration, Doctype, ProcessingInstruction,
                                     CData)):
                # source line breaks are spaces; only <br> breaks a line
                inline.append(_SPACES.sub(" ", str(node)))
            continue
        if not isinstance(node, Tag):
            continue
        name = (node.name or "").lower()
        if name in _SKIP or _hidden(node):
            continue
        if name in _HEADINGS:
            flush()
            t = " ".join(node.get_text(" ").split())
            if t:
                out.append((_HEADINGS[name], t))
            continue
        if name == "pre":
            flush()
            t = node.get_text().strip("\n")
            if t.strip():
                out.append((0, t))
            continue
        if name == "br":
            inline.append("\n")
            continue
        if name == "table" and not node.find(_LAYOUT):
            flush()
            t = _table(node)
            if t:
                out.append((0, t))
            continue
        if name in ("td", "th"):
            inline.append(" ")
        if name in _BLOCK:
            flush()
            stack.append((True, node))
        children = list(node.children)
        for child in reversed(children):
            stack.append((False, child))
    flush()
    return out


def _table(table) -> str:
    rows = []
    for tr in table.find_all("tr"):
        if tr.find_parent("table") is not table:
            continue
        cells = [" ".join(c.get_text(" ").split()) for c in tr.find_all(["td", "th"],
                                                                         recursive=False)]
        while cells and not cells[-1]:
            cells.pop()
        if any(cells):
            rows.append(" | ".join(cells))
    return "\n".join(rows)

