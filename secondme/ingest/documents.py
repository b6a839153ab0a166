"""Documents: Markdown/text (with front matter), Obsidian vaults, PDF, DOCX, HTML.

The pipeline calls three functions on a :class:`~secondme.ingest.tree.Tree`:

- :func:`is_document` — is this file a document we import (extension and a cheap look
  at its head: a ``.txt`` that is really a WhatsApp chat export is not);
- :func:`is_vault` — is the tree an Obsidian vault;
- :func:`parse_document` — one file → one :class:`~secondme.ingest.model.Document` whose
  chunks carry page (PDF), heading path and character offsets into ``Document.text``.

A parser never touches the database. Bad input raises ImportFormatError naming the file,
the position and the problem.
"""
from __future__ import annotations

import hashlib
import posixpath
import re
from datetime import datetime, timezone
from typing import Optional

from ..errors import ImportFormatError, SecondMeError
from . import obsidian
from .docx import parse_docx
from .html import parse_html
from .markdown import parse_markdown
from .model import Document
from .pdf import parse_pdf
from .text import _BOMS, parse_text
from .tree import DirTree, FileTree, SubTree, Tree, ZipTree

MARKDOWN_EXTENSIONS = frozenset({".md", ".markdown", ".mdown", ".mkd", ".mkdn"})
TEXT_EXTENSIONS = frozenset({".txt", ".text"})
HTML_EXTENSIONS = frozenset({".html", ".htm", ".xhtml"})
DOCUMENT_EXTENSIONS: frozenset[str] = (
    MARKDOWN_EXTENSIONS | TEXT_EXTENSIONS | HTML_EXTENSIONS | frozenset({".pdf", ".docx"}))
"""Lower-case file suffixes (with the dot) of the documents we import."""

MAX_DOCUMENT_BYTES = 512 * 1024 * 1024
"""Files above this size are refused rather than read into memory."""

# A chat export's first lines: a date and a time (in any of the locale orders
# WhatsApp, signal-export and friends write), then "Name:" or a system line.
#   [12/31/23, 9:41:05 PM] Name:    12/31/23, 21:41 - Name:    [2024-01-02 10:00] Name:
_CHAT_STAMP = re.compile(
    r"^[\u200e\u200f\ufeff]?\[?\s*"
    r"(?:\d{1,2}[./-]\d{1,2}[./-]\d{2,4}|\d{4}[./-]\d{1,2}[./-]\d{1,2})\.?,?\s+"
    r"\d{1,2}[:.]\d{2}(?:[:.]\d{2})?(?:[\s\u202f\u00a0]*[AaPp]\.?\s?[Mm]\.?)?"
    r"\s*(?:\]\s*|\s[-–]\s)")
_CHAT_NAME = re.compile(r"[^:\n]{1,80}?:\s")


def is_document(tree: Tree, rel: str) -> bool:
    """True when ``rel`` in ``tree`` is a document this module imports.

    By extension (:data:`DOCUMENT_EXTENSIONS`), then a cheap look at the head (4 KiB) of
    text and Markdown files: a chat export (WhatsApp, signal-export) whose first lines are
    timestamped ``Name:`` lines is not a document. Never raises for unreadable files
    (they are left for :func:`parse_document` to report).
    """
    ext = posixpath.splitext(rel)[1].lower()
    if ext not in DOCUMENT_EXTENSIONS:
        return False
    if ext in TEXT_EXTENSIONS or ext in MARKDOWN_EXTENSIONS:
        try:
            head = tree.head(rel, 4096)
        except (OSError, SecondMeError):
            return True
        return not looks_like_chat_export(head)
    if ext in HTML_EXTENSIONS:
        try:
            head = tree.head(rel, 4096)
        except (OSError, SecondMeError):
            return True
        # ChatGPT's export carries chat.html next to conversations.json: same chats.
        return not (b"var jsonData" in head or b"ChatGPT Data Export" in head)
    return True


def looks_like_chat_export(head: bytes) -> bool:
    """True when the first non-empty lines of ``head`` are chat-export message lines."""
    text = None
    for bom, codec, _ in _BOMS:
        if head.startswith(bom):
            text = head[len(bom):].decode(codec, "ignore")
            break
    if text is None:
        text = head.decode("utf-8", "replace")
    lines = [ln for ln in text.replace("\r", "\n").split("\n") if ln.strip()][:8]
    if len(head) >= 4096 and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut short
    if not lines or not _CHAT_STAMP.match(lines[0]):
        return False
    stamped = [ln for ln in lines if _CHAT_STAMP.match(ln)]
    named = [ln for ln in stamped if _CHAT_NAME.match(ln[_CHAT_STAMP.match(ln).end():])]
    return bool(named) and len(stamped) * 2 >= len(lines)


def is_vault(tree: Tree) -> bool:
    """True when ``tree`` is an Obsidian vault (see :func:`obsidian.is_vault`)."""
    return obsidian.is_vault(tree)


def parse_document(tree: Tree, rel: str) -> Document:
    """Parse one document of ``tree`` into a Document.

    ``Document.path`` is ``tree.display(rel)`` (the file's identity), ``content_hash``
    the SHA-256 of the raw bytes, ``text`` the extracted text the chunks' offsets index
    into. Dates come from the document's own metadata, else from the file (mtime, or the
    ZIP entry's time). Not thread-safe per tree (a ZIP is read through one handle).

    Raises ImportFormatError (with ``path`` and ``position``) for a malformed, encrypted,
    truncated, empty-where-content-is-required or unsupported file.
    """
    path = tree.display(rel)
    ext = posixpath.splitext(rel)[1].lower()
    if ext not in DOCUMENT_EXTENSIONS:
        raise ImportFormatError(
            f"not a supported document type ({ext or 'no extension'}); supported: "
            + ", ".join(sorted(DOCUMENT_EXTENSIONS)), path=path)
    try:
        size = tree.size(rel)
    except (OSError, KeyError) as e:
        raise ImportFormatError(f"cannot read the file ({e})", path=path) from None
    if size > MAX_DOCUMENT_BYTES:
        raise ImportFormatError(
            f"too large to import as a document ({size // (1024 * 1024)} MB; the limit is "
            f"{MAX_DOCUMENT_BYTES // (1024 * 1024)} MB)", path=path)
    try:
        raw = tree.read_bytes(rel)
    except OSError as e:
        raise ImportFormatError(f"cannot read the file ({e.strerror or e})", path=path) from None
    except EOFError as e:
        raise ImportFormatError(f"the archive member is truncated ({e})", path=path) from None
    stem = posixpath.splitext(posixpath.basename(rel))[0] or posixpath.basename(rel)

    if ext in MARKDOWN_EXTENSIONS:
        doc = parse_markdown(raw, path, stem, posixpath.dirname(rel))
    elif ext in TEXT_EXTENSIONS:
        text, chunks, metadata = parse_text(raw, path, stem)
        doc = Document(format="text", path=path, title=stem, chunks=chunks,
                       metadata=metadata, text=text)
    elif ext == ".pdf":
        doc = parse_pdf(raw, path, stem)
    elif ext == ".docx":
        doc = parse_docx(raw, path, stem)
    else:
        doc = parse_html(raw, path, stem)

    doc.content_hash = hashlib.sha256(raw).hexdigest()
    if doc.created_at is None or doc.modified_at is None:
        created, modified = file_times(tree, rel)
        doc.modified_at = doc.modified_at or modified
        doc.created_at = doc.created_at or created
    return doc


def file_times(tree: Tree, rel: str) -> tuple[Optional[datetime], Optional[datetime]]:
    """``(created, modified)`` of a real file or ZIP member, aware; ``(None, None)`` if
    unknown. Created is the birth time where the OS keeps one, else the mtime."""
    try:
        while isinstance(tree, SubTree):
            rel = tree.prefix + rel
            tree = tree.parent
        if isinstance(tree, (FileTree, DirTree)):
            st = (tree.path if isinstance(tree, FileTree) else tree.path / rel).stat()
            modified = datetime.fromtimestamp(st.st_mtime, tz=timezone.utc)
            birth = getattr(st, "st_birthtime", None)
            created = datetime.fromtimestamp(birth, tz=timezone.utc) if birth else modified
            return created, modified
        if isinstance(tree, ZipTree):
            stamp = tree._zip.getinfo(rel).date_time
            if stamp[:3] == (1980, 1, 1):  # the ZIP format's "no date"
                return None, None
            dt = datetime(*stamp).astimezone()  # ZIP times are local times
            return dt, dt
    except (OSError, KeyError, ValueError, OverflowError):
        pass
    return None, None
