"""What every parser produces: format-neutral conversations, messages and documents.

Parsers yield these (streaming, one conversation or document at a time) and the
pipeline (``ingest/pipeline.py``) stores them. A parser never touches the database.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Optional, Union


@dataclass
class Attachment:
    """A placeholder for media that is not imported itself."""

    kind: str = "file"          # image | video | audio | sticker | file | deleted | unknown
    name: str = ""              # file name as in the export, if any
    note: str = ""              # the export's own marker text, e.g. "<Media omitted>"


@dataclass
class Message:
    external_id: str            # the export's id, or a stable derived one (never random)
    speaker: str                # display name as in the export ("" for system lines)
    timestamp: Optional[datetime]  # timezone-aware; None only when the export has none
    text: str
    is_me: Optional[bool] = None   # None: decided by the "me" name/aliases setting
    kind: str = "message"       # message | system
    reply_to: Optional[str] = None  # external id of the message replied to
    attachments: list[Attachment] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class Conversation:
    format: str                 # chatgpt | claude | whatsapp | telegram | discord | slack |
    #                             signal | generic; secondme-chat | mcp | demo (app-written)
    external_id: str            # stable across re-exports of the same chat
    title: str
    participants: list[str] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class Chunk:
    text: str
    page: Optional[int] = None  # 1-based page for paged formats (PDF)
    heading: str = ""           # heading path "A > B > C"
    char_start: int = 0         # offsets into the document's extracted text
    char_end: int = 0


@dataclass
class WikiLink:
    target: str                 # note name as written: [[target#heading|alias]]
    heading: str = ""
    alias: str = ""
    embed: bool = False         # ![[...]]


@dataclass
class Document:
    format: str                 # markdown | text | pdf | docx | html
    path: str                   # identity: file path, or "archive.zip!inner/path.md"
    title: str
    chunks: list[Chunk] = field(default_factory=list)
    content_hash: str = ""      # of the raw bytes; unchanged → skipped on re-import
    created_at: Optional[datetime] = None
    modified_at: Optional[datetime] = None
    metadata: dict[str, Any] = field(default_factory=dict)  # front matter, tags, aliases
    links: list[WikiLink] = field(default_factory=list)
    text: str = ""              # the extracted text that chunks' char_start/char_end index into


@dataclass
class ParseProblem:
    """A part of an export that could not be read; the rest still imports."""

    path: str
    position: str               # "line 1203", "byte 5501", "conversation 17 (id abc)"
    problem: str
    conversation: Optional[str] = None


Item = Union[Conversation, Document, ParseProblem]
