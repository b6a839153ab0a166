"""Word documents (.docx, python-docx): paragraphs, heading paths, tables.

``Document.text`` is the body's paragraphs and tables in document order, separated by
blank lines; a table is one line per row, cells joined by `` | ``. Heading paragraphs
(the built-in "Heading N" styles, styles based on them, or any paragraph with an outline
level) give the chunks their heading path; the "Title" style or the core properties give
the title. DOCX has no fixed pages, so chunks have ``page=None``.

Text is read from the XML directly, so hyperlinks, tracked insertions, fields and
content controls are included and deleted (tracked) text is not.
"""
from __future__ import annotations

import io
import re
from datetime import timezone
from typing import Any, Iterator, Optional

from ..errors import ImportFormatError
from .model import Document
from .text import Block, chunk_blocks, normalize_text, when

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_MC_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"
_HEADING_NAME = re.compile(r"^heading\s*([1-9])$", re.IGNORECASE)
_MAX_DEPTH = 40


def parse_docx(raw: bytes, path: str, stem: str) -> Document:
    """Parse a .docx file's bytes. ``stem`` is the fallback title.

    Raises ImportFormatError for an empty file, a file that is not a DOCX (including
    legacy .doc and password-protected documents, which are OLE files) or a damaged one.
    """
    if not raw:
        raise ImportFormatError("empty file (0 bytes), not a Word document", path=path)
    if raw.startswith(b"\xd0\xcf\x11\xe0"):
        raise ImportFormatError(
            "a password-protected Word document or an old Word 97-2003 file; save it as "
            "an unprotected .docx and import it again", path=path)
    if not raw.startswith(b"PK"):
        raise ImportFormatError("not a Word .docx file (it is not a ZIP package)",
                                path=path, position="byte 0")
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(io.BytesIO(raw))
        body = document.element.body
    except PackageNotFoundError:
        raise ImportFormatError("not a Word .docx file (no Word document inside the "
                                "package)", path=path) from None
    except Exception as e:  # BadZipFile, KeyError for missing parts, XML syntax errors
        raise ImportFormatError(f"damaged Word document ({_why(e)})", path=path) from None

    try:
        styles = _StyleLevels(document)
        parts: list[str] = []
        blocks: list[Block] = []
        stack: list[tuple[int, str]] = []
        title_from_style = ""
        first_h1 = ""
        offset = 0
        n_para = 0
        for kind, el in _body_items(body):
            if kind == "p":
                n_para += 1
                para = _para_text(el).strip()
                if not para:
                    continue
                level = styles.level(el)
            else:
                para = _table_text(el, 0)
                if not para.strip():
                    continue
                level = None
            para = normalize_text(para)
            if parts:
                parts.append("\n\n")
                offset += 2
            start = offset
            parts.append(para)
            offset += len(para)
            if level == 0:
                title_from_style = title_from_style or " ".join(para.split())
                blocks.append(Block(start, offset, heading=_path(stack), is_heading=True))
            elif level is not None:
                name = " ".join(para.split())
                while stack and stack[-1][0] >= level:
                    stack.pop()
                stack.append((level, name))
                if level == 1 and not first_h1:
                    first_h1 = name
                blocks.append(Block(start, offset, heading=_path(stack), is_heading=True))
            else:
                blocks.append(Block(start, offset, heading=_path(stack)))
        text = "".join(parts)
    except ImportFormatError:
        raise
    except Exception as e:  # malformed XML structure in an otherwise valid package
        raise ImportFormatError(f"damaged Word document ({_why(e)})", path=path,
                                position=f"paragraph {n_para}") from None

    props = _core(document)
    title = props.get("title") or title_from_style or first_h1 or stem
    metadata: dict[str, Any] = {}
    for key in ("author", "subject", "keywords"):
        if props.get(key):
            metadata[key] = props[key]
    return Document(format="docx", path=path, title=title,
                    chunks=chunk_blocks(text, blocks), created_at=props.get("created"),
                    modified_at=props.get("modified"), metadata=metadata, text=text)


def _path(stack: list[tuple[int, str]]) -> str:
    return " > ".join(t for _, t in stack)


def _body_items(el, depth: int = 0) -> Iterator[tuple[str, Any]]:
    """Paragraphs and tables of the body in order, looking into content controls."""
    if depth > _MAX_DEPTH:
        return
    for child in el.iterchildren():
        tag = child.tag
        if tag == _W + "p":
            yield "p", child
        elif tag == _W + "tbl":
            yield "tbl", child
        elif tag in (_W + "sdt", _W + "sdtContent", _W + "customXml", _W + "ins",
                     _W + "smartTag"):
            yield from _body_items(child, depth + 1)


def _para_text(p) -> str:
    """A paragraph's visible text: runs, hyperlinks, insertions, fields; tabs and breaks
    kept; deleted text and the duplicate fallback copies of drawings left out."""
    out: list[str] = []
    stack = [iter([p])]
    depth = 0
    while stack:
        child = next(stack[-1], None)
        if child is None:
            stack.pop()
            depth -= 1
            continue
        tag = child.tag
        if not isinstance(tag, str):
            continue  # comments, processing instructions
        if tag == _W + "t":
            out.append(child.text or "")
        elif tag == _W + "tab":
            out.append("\t")
        elif tag in (_W + "br", _W + "cr"):
            out.append("\n")
        elif tag == _W + "noBreakHyphen":
            out.append("-")
        elif tag in (_W + "del", _W + "delText", _W + "moveFrom", _W + "instrText",
                     _MC_FALLBACK, _W + "rPr", _W + "pPr"):
            continue
        elif depth < _MAX_DEPTH:
            if tag == _W + "p" and child is not p:
                out.append("\n")  # a paragraph inside a text box
            stack.append(iter(child))
            depth += 1
    return "".join(out)


def _table_text(tbl, depth: int) -> str:
    rows = []
    for tr in tbl.iterchildren(_W + "tr"):
        cells = []
        for tc in tr.iterchildren(_W + "tc"):
            parts = []
            for kind, el in _body_items(tc):
                if kind == "p":
                    t = " ".join(_para_text(el).split())
                elif depth < 5:
                    t = _table_text(el, depth + 1).replace("\n", "; ")
                else:
                    t = ""
                if t:
                    parts.append(t)
            cells.append(" ".join(parts))
        # merged cells repeat their text in python-docx's view; here each w:tc is one
        # cell, and empty trailing cells are dropped
        while cells and not cells[-1]:
            cells.pop()
        if any(cells):
            rows.append(" | ".join(cells))
    return "\n".join(rows)


class _StyleLevels:
    """Heading level of a paragraph: 0 for Title, 1-9 for headings, None for body text."""

    def __init__(self, document):
        self._by_id: dict[str, Optional[int]] = {}
        try:
            styles = document.styles.element
        except Exception:
            return
        raw: dict[str, tuple[str, Optional[int], Optional[str]]] = {}
        for st in styles.iterchildren(_W + "style"):
            sid = st.get(_W + "styleId")
            if not sid:
                continue
            name_el = st.find(_W + "name")
            name = (name_el.get(_W + "val") if name_el is not None else "") or ""
            lvl_el = st.find(f"{_W}pPr/{_W}outlineLvl")
            lvl = _int(lvl_el.get(_W + "val")) if lvl_el is not None else None
            based = st.find(_W + "basedOn")
            raw[sid] = (name, lvl, based.get(_W + "val") if based is not None else None)

        def resolve(sid: str, seen: set) -> Optional[int]:
            if sid in seen or sid not in raw:
                return None
            seen.add(sid)
            name, lvl, based = raw[sid]
            if name.strip().lower() == "title":
                return 0
            m = _HEADING_NAME.match(name.strip())
            if m:
                return int(m.group(1))
            if lvl is not None and 0 <= lvl <= 8:
                return lvl + 1
            return resolve(based, seen) if based else None

        for sid in raw:
            self._by_id[sid] = resolve(sid, set())

    def level(self, p) -> Optional[int]:
        ppr = p.find(_W + "pPr")
        if ppr is not None:
            lvl = ppr.find(_W + "outlineLvl")
            if lvl is not None:
                v = _int(lvl.get(_W + "val"))
                if v is not None and 0 <= v <= 8:
                    return v + 1
                if v == 9:
                    return None
            ps = ppr.find(_W + "pStyle")
            if ps is not None:
                return self._by_id.get(ps.get(_W + "val") or "")
        return None


def _int(v) -> Optional[int]:
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def _core(document) -> dict[str, Any]:
    out: dict[str, Any] = {}
    try:
        cp = document.core_properties
    except Exception:
        return out
    for key in ("title", "author", "subject", "keywords"):
        try:
            value = getattr(cp, key)
        except Exception:
            continue
        if value and str(value).strip():
            out[key] = " ".join(str(value).split())
    for key in ("created", "modified"):
        try:
            dt = getattr(cp, key)
        except Exception:
            continue
        if dt is not None and getattr(dt, "tzinfo", None) is None:
            dt = dt.replace(tzinfo=timezone.utc)  # core properties are stored in UTC
        out[key] = when(dt)
    return out


def _why(e: BaseException) -> str:
    msg = " ".join(str(e).split())
    return (f"{type(e).__name__}: {msg}" if msg else type(e).__name__)[:200]
