"""PDF documents (pypdf): text per page, outline titles as heading paths.

``Document.text`` is the pages' text joined by blank lines; every chunk lies within one
page and carries its 1-based ``page``. When the PDF has an outline (bookmarks), a chunk's
heading is the path of the outline entry it falls under ("Part I > Chapter 2"); the
entry's title is looked up on its page so that a section starting mid-page splits there.

Refused with ImportFormatError: not a PDF, empty, password-protected, damaged beyond
reading, or without any text layer (a scan: OCR is not supported). Pages that cannot be
read, or scanned pages in an otherwise textual PDF, are listed in
``metadata["problems"]`` and the rest imports.
"""
from __future__ import annotations

import io
import logging
import re
from contextlib import contextmanager
from typing import Any, Optional

from ..errors import ImportFormatError
from .model import Document
from .text import Block, chunk_blocks, normalize_text, paragraphs, when

_MAX_OUTLINE_DEPTH = 32
# Typeset PDFs use ligature glyphs ("ﬁnd") and soft hyphens; as text they would stop a
# search for "find" from matching.
_TYPOGRAPHY = {0xFB00: "ff", 0xFB01: "fi", 0xFB02: "fl", 0xFB03: "ffi", 0xFB04: "ffl",
               0xFB05: "st", 0xFB06: "st", 0x00AD: None}


@contextmanager
def _quiet_pypdf():
    """pypdf logs its repairs ("EOF marker not found") as warnings; they would land on
    the person's terminal. Collect them instead (they explain a later failure)."""
    logger = logging.getLogger("pypdf")
    seen: list[str] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if len(seen) < 20:
                seen.append(record.getMessage())

    handler = _Collect(logging.WARNING)
    old_propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield seen
    finally:
        logger.removeHandler(handler)
        logger.propagate = old_propagate


def parse_pdf(raw: bytes, path: str, stem: str) -> Document:
    """Parse a PDF's bytes. ``stem`` is the fallback title. See the module docstring.

    Not safe to call from several threads at once (pypdf's log is redirected meanwhile).
    """
    with _quiet_pypdf() as warnings:
        try:
            return _parse_pdf(raw, path, stem)
        except ImportFormatError as e:
            if warnings and "EOF marker not found" in warnings and "truncated" not in str(e):
                raise ImportFormatError(e.plain_message + "; the file seems truncated "
                                        "(no end-of-file marker)", path=path,
                                        position=e.position) from None
            raise


def _parse_pdf(raw: bytes, path: str, stem: str) -> Document:
    if not raw:
        raise ImportFormatError("empty file (0 bytes), not a PDF", path=path)
    start = raw.find(b"%PDF-", 0, 1024)
    if start < 0:
        raise ImportFormatError("not a PDF file (no %PDF- header)", path=path,
                                position="byte 0")
    from pypdf import PdfReader
    from pypdf.errors import DependencyError

    try:
        reader = PdfReader(io.BytesIO(raw), strict=False)
        encrypted = reader.is_encrypted
    except Exception as e:  # pypdf raises many kinds for damaged files
        has_eof = b"%%EOF" in raw[-1024:]
        # Some writers (and some copies) lose only the final "%%EOF" line; pypdf then
        # gives up although everything else is there.
        try:
            if has_eof:
                raise e
            reader = PdfReader(io.BytesIO(raw + b"\n%%EOF\n"), strict=False)
            encrypted = reader.is_encrypted
        except Exception:
            if has_eof:
                raise ImportFormatError(f"damaged PDF ({_why(e)})", path=path) from None
            raise ImportFormatError(
                f"truncated PDF: the file ends at byte {len(raw)} without the PDF end "
                f"marker (an interrupted download or copy?) ({_why(e)})", path=path,
                position=f"byte {len(raw)}") from None
    if encrypted:
        try:
            ok = reader.decrypt("")
        except DependencyError as e:
            raise ImportFormatError(f"encrypted PDF that needs a missing library ({e})",
                                    path=path) from None
        except Exception as e:
            raise ImportFormatError(f"encrypted PDF that cannot be opened ({_why(e)})",
                                    path=path) from None
        if not ok:
            raise ImportFormatError(
                "the PDF is password-protected; remove the password (e.g. print it to a "
                "new PDF) and import it again", path=path)
    try:
        pages = reader.pages
        n_pages = len(pages)
    except Exception as e:
        raise ImportFormatError(f"damaged PDF: its page list cannot be read "
                                f"({_why(e)})", path=path) from None
    if n_pages == 0:
        raise ImportFormatError("the PDF has no pages", path=path)

    outline = _outline(reader)
    problems: list[dict] = []
    parts: list[str] = []
    blocks: list[Block] = []
    offset = 0
    heading = ""
    failed: list[tuple[int, str]] = []
    scanned: list[int] = []
    for i in range(n_pages):
        try:
            page = pages[i]
            page_text = normalize_text((page.extract_text() or "").translate(_TYPOGRAPHY))
        except Exception as e:
            failed.append((i + 1, _why(e)))
            problems.append({"position": f"page {i + 1}",
                             "problem": f"the page cannot be read ({_why(e)}); skipped"})
            page_text = ""
        else:
            if not page_text.strip() and _has_images(page):
                scanned.append(i + 1)
        if parts:
            parts.append("\n\n")
            offset += 2
        parts.append(page_text)
        heading = _page_blocks(page_text, offset, i + 1, outline.get(i, []), heading, blocks)
        offset += len(page_text)
    if len(failed) == n_pages:
        page_no, why = failed[0]
        raise ImportFormatError(f"damaged PDF: no page can be read ({why})", path=path,
                                position=f"page {page_no}")
    text = "".join(parts)
    if not text.strip():
        raise ImportFormatError(
            f"no text layer on any of its {n_pages} page{'s' if n_pages != 1 else ''} "
            "(a scanned document?); OCR is not supported", path=path,
            position=f"pages 1-{n_pages}" if n_pages > 1 else "page 1")
    if scanned:
        problems.append({"position": _pages_label(scanned),
                         "problem": "no text layer (scanned?); OCR is not supported, so "
                                    "these pages are not searchable"})

    info = _info(reader)
    metadata: dict[str, Any] = {"pages": n_pages}
    for key in ("author", "subject"):
        if info.get(key):
            metadata[key] = info[key]
    if problems:
        metadata["problems"] = problems
    return Document(format="pdf", path=path, title=_title(info.get("title", "")) or stem,
                    chunks=chunk_blocks(text, blocks), created_at=info.get("created"),
                    modified_at=info.get("modified"), metadata=metadata, text=text)


def _page_blocks(page_text: str, offset: int, page_no: int,
                 entries: list[str], heading: str, blocks: list[Block]) -> str:
    """Append the page's paragraph blocks; return the heading in effect at its end.

    Outline entries starting on this page split it where their title appears; an entry
    whose title cannot be found applies from the top of the page (or, after a found
    one, takes its place).
    """
    cuts: list[list] = []  # [position in page, heading path]
    search_from = 0
    for path in entries:
        title = path.rsplit(" > ", 1)[-1]
        pos = _find_title(page_text, title, search_from)
        if pos is None:
            if cuts:
                cuts[-1][1] = path
            else:
                heading = path
        else:
            cuts.append([pos, path])
            search_from = pos + 1
    bounds = [(0, heading)] + [(c[0], c[1]) for c in cuts]
    for k, (s, h) in enumerate(bounds):
        e = bounds[k + 1][0] if k + 1 < len(bounds) else len(page_text)
        for ps, pe in paragraphs(page_text, s, e):
            blocks.append(Block(offset + ps, offset + pe, heading=h, page=page_no))
    return bounds[-1][1]


def _find_title(page_text: str, title: str, start: int) -> Optional[int]:
    words = title.split()
    if not words or len(title) > 300:
        return None
    pattern = r"\s*".join(re.escape(w) for w in words)
    m = re.compile(pattern, re.IGNORECASE).search(page_text, start)
    return m.start() if m else None


def _outline(reader) -> dict[int, list[str]]:
    """Page index → heading paths of the outline entries starting there, in order."""
    out: dict[int, list[str]] = {}

    def walk(items: list, parents: list[str], depth: int) -> None:
        if depth > _MAX_OUTLINE_DEPTH:
            return
        last: Optional[str] = None
        for item in items:
            if isinstance(item, list):
                walk(item, parents + ([last] if last else []), depth + 1)
                continue
            title = " ".join(str(getattr(item, "title", "") or "").split())
            last = title or None
            if not title:
                continue
            try:
                page = reader.get_destination_page_number(item)
            except Exception:  # a broken bookmark is not worth losing the PDF over
                continue
            if page is not None and page >= 0:
                out.setdefault(page, []).append(" > ".join(parents + [title]))

    try:
        walk(reader.outline, [], 0)
    except Exception:  # a damaged outline: import without headings
        return {}
    return out


def _has_images(page) -> bool:
    try:
        resources = page.get("/Resources") or {}
        xobjects = resources.get("/XObject") or {}
        return any((xobjects[k].get_object() or {}).get("/Subtype") == "/Image"
                   for k in xobjects)
    except Exception:
        return False


def _info(reader) -> dict[str, Any]:
    out: dict[str, Any] = {}
    try:
        meta = reader.metadata
    except Exception:
        return out
    if not meta:
        return out
    for key, attr in (("title", "title"), ("author", "author"), ("subject", "subject")):
        try:
            value = getattr(meta, attr)
        except Exception:
            continue
        if value and str(value).strip():
            out[key] = " ".join(str(value).split())
    for key, attr in (("created", "creation_date"), ("modified", "modification_date")):
        try:
            out[key] = when(getattr(meta, attr))
        except Exception:  # malformed PDF dates raise inside pypdf
            out[key] = None
    return out


def _title(title: str) -> str:
    """The PDF's own title, unless it is a placeholder the producing program left."""
    title = re.sub(r"^Microsoft (?:Word|PowerPoint|Excel) - ", "", title).strip()
    if title.lower() in ("untitled", "untitled document", "document", "title", "(anonymous)"):
        return ""
    return title


def _pages_label(pages: list[int]) -> str:
    if len(pages) == 1:
        return f"page {pages[0]}"
    shown = ", ".join(str(p) for p in pages[:20]) + (", …" if len(pages) > 20 else "")
    return f"pages {shown}"


def _why(e: BaseException) -> str:
    msg = " ".join(str(e).split())
    return (f"{type(e).__name__}: {msg}" if msg else type(e).__name__)[:200]
