"""The typed surface front ends use: the dataclasses the service takes and returns.

The desktop app, the CLI and the MCP server read these, by these field names; nothing
here imports the rest of the core (tests/test_layout.py checks it), so a front end can
import it cheaply. ``Settings`` is the settings type (``secondme.config``), and
:func:`to_jsonable` turns any of these into JSON-ready data.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Optional

from .config import Settings
from .paths import open_private, private_dir, resolve_home

__all__ = [
    "Settings", "resolve_home", "to_jsonable", "SourceReport", "ImportReport",
    "open_private", "private_dir",
    "DetectedSource", "IndexReport", "Note", "NoteSource", "NoteLink", "HistoryEntry",
    "NoteVersion", "NoteDetail", "GraphNode", "GraphEdge", "Graph", "Entity",
    "SearchResult", "Citation", "Answer", "SourceView", "ChatInfo", "ChatTurn",
    "EvalReport", "TimelineBucket", "Timeline", "JobInfo", "BackupInfo", "ProfileLine",
    "ProfileNote", "SourceInfo", "RemovalReport", "ExportReport", "DumpImportReport",
    "InitReport", "RecommendedModel", "ModelStatus", "QuarantinedWindow",
]


def to_jsonable(obj: Any) -> Any:
    """``obj`` with dataclasses, paths and dates turned into JSON-ready values."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {k: to_jsonable(v) for k, v in dataclasses.asdict(obj).items()}
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, (datetime, date)):
        return obj.isoformat()
    return obj

# -- Importing ------------------------------------------------------------------------------


@dataclass
class SourceReport:
    """What importing one path did.

    ``conversations`` counts conversations read from the export (new or already
    known); ``messages_skipped`` counts messages already in the store. ``errors`` are
    ``{"conversation", "position", "problem", "file"}`` dicts. ``failed`` is True when
    nothing could be imported from the path at all.
    """

    path: str
    format: str = ""
    conversations: int = 0
    messages_added: int = 0
    messages_skipped: int = 0
    documents: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    source_id: Optional[int] = None
    kind: str = ""                    # chat | document | mixed
    formats: list[str] = field(default_factory=list)
    conversations_added: int = 0
    documents_skipped: int = 0
    files_skipped: int = 0            # media and other files no parser reads
    failed: bool = False
    seconds: float = 0.0


@dataclass
class ImportReport:
    """The result of :meth:`ImportOps.import_paths`: one SourceReport per path."""

    sources: list[SourceReport] = field(default_factory=list)

    @property
    def messages_added(self) -> int:
        return sum(s.messages_added for s in self.sources)

    @property
    def failed(self) -> list[SourceReport]:
        return [s for s in self.sources if s.failed]

    @property
    def has_errors(self) -> bool:
        return any(s.errors for s in self.sources)


@dataclass
class DetectedSource:
    """What :meth:`ImportOps.detect` found at a path."""

    path: str
    format: str                       # a chat format, "documents", or "mixed"
    kind: str                         # chat | document | mixed
    description: str
    formats: list[str] = field(default_factory=list)
    files: int = 0                    # files that will be read
    files_skipped: int = 0

# -- Indexing -------------------------------------------------------------------------------


@dataclass
class IndexReport:
    items: int = 0          # items given a vector
    embedded: int = 0       # texts actually run through the model
    reused: int = 0         # texts whose hash was already embedded

# -- Memories -------------------------------------------------------------------------------


@dataclass
class Note:
    """A memory as the app shows it."""

    id: int
    kind: str
    text: str
    fact_type: str = ""
    keywords: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    context: str = ""
    valid_from: Optional[str] = None
    valid_to: Optional[str] = None
    created_at: str = ""
    updated_at: str = ""
    strength: float = 1.0
    retention: float = 1.0
    last_recalled: Optional[str] = None
    pinned: bool = False
    archived: bool = False
    version: int = 1
    user_edited: bool = False
    origin: str = "extract"
    confidence: float = 1.0

    def to_json(self) -> dict:
        """The stable JSON fields of a note (without sources and links)."""
        return {"id": self.id, "kind": self.kind, "text": self.text,
                "keywords": self.keywords, "tags": self.tags, "context": self.context,
                "valid_from": self.valid_from, "valid_to": self.valid_to,
                "created_at": self.created_at, "updated_at": self.updated_at,
                "strength": self.strength, "retention": self.retention,
                "pinned": self.pinned, "archived": self.archived}


@dataclass
class NoteSource:
    """Where a note comes from: a message (export ids) or a document chunk."""

    kind: str                         # message | chunk | note
    item_id: int                      # internal id (for open_source)
    message_id: Optional[str] = None  # the export's external id
    conversation: Optional[str] = None
    conversation_id: Optional[str] = None   # the export's conversation id
    timestamp: Optional[str] = None
    speaker: Optional[str] = None
    text: str = ""
    document: Optional[str] = None
    page: Optional[int] = None
    offset: Optional[int] = None
    note_id: Optional[int] = None

    def to_json(self) -> dict:
        if self.kind == "message":
            return {"message_id": self.message_id, "conversation": self.conversation,
                    "timestamp": self.timestamp, "speaker": self.speaker}
        if self.kind == "chunk":
            return {"document": self.document, "page": self.page, "offset": self.offset}
        return {"note": self.note_id}


@dataclass
class NoteLink:
    id: int                  # the other note
    kind: str
    weight: float
    created_by: str = "auto"
    direction: str = "out"   # out: this note → other; in: other → this note
    text: str = ""

    def to_json(self) -> dict:
        return {"id": self.id, "kind": self.kind, "weight": self.weight}


@dataclass
class HistoryEntry:
    id: int
    note_id: int
    action: str
    before: Optional[dict]
    after: Optional[dict]
    actor: str
    at: str
    undone: bool = False


@dataclass
class NoteVersion:
    history_id: int
    version: int
    text: str
    at: str
    action: str
    actor: str


@dataclass
class NoteDetail:
    note: Note
    sources: list[NoteSource]
    links: list[NoteLink]
    versions: list[NoteVersion]
    entities: list[Any] = field(default_factory=list)

    def to_json(self) -> dict:
        """The note JSON of ``secondme notes show --json`` (see docs/memory.md)."""
        d = self.note.to_json()
        d["sources"] = [s.to_json() for s in self.sources]
        d["links"] = [l.to_json() for l in self.links]
        d["versions"] = [{"version": v.version, "text": v.text, "at": v.at,
                          "action": v.action, "history_id": v.history_id}
                         for v in self.versions]
        d["fact_type"] = self.note.fact_type
        d["entities"] = [{"id": e.id, "kind": e.kind, "name": e.name} for e in self.entities]
        return d


@dataclass
class GraphNode:
    id: str                   # "n12" (note), "e5" (entity) or "g:2023" (a group)
    type: str                 # note | entity | group
    label: str                # a group: its period ("2023", "Jan–Mar 2024", "undated")
    kind: str                 # note kind / entity kind / "group"
    weight: float = 1.0       # strength (notes) / mentions (entities)
    depth: int = 0
    count: int = 0            # a group: how many memories it stands for
    members: list[int] = field(default_factory=list)  # a group: their note ids
    since: Optional[str] = None   # a group: first day of its period (ISO date)
    until: Optional[str] = None   # a group: last day of its period (ISO date)


@dataclass
class GraphEdge:
    src: str
    dst: str
    kind: str
    weight: float = 1.0


@dataclass
class Graph:
    nodes: list[GraphNode]
    edges: list[GraphEdge]
    truncated: bool = False

# -- Entities -------------------------------------------------------------------------------


@dataclass
class Entity:
    """A person, place or organisation, with the names it goes by."""

    id: int
    kind: str
    name: str
    aliases: list[str]
    is_me: bool = False
    mentions: int = 0

# -- Search and answers ---------------------------------------------------------------------


@dataclass
class SearchResult:
    """One search hit: what a person reads (a message, a note, a chunk) + provenance."""

    id: int
    kind: str                      # message | chunk | note
    text: str
    score: float
    timestamp: Optional[str] = None
    sources: list[dict] = field(default_factory=list)
    date: Optional[str] = None     # the absolute date, for display ("8 May 2023")
    speaker: Optional[str] = None
    conversation: Optional[str] = None
    matched: list[str] = field(default_factory=list)  # lists that found it (window, dense…)

    def message_ids(self) -> list[str]:
        """External ids of the messages this result stands for (itself or its sources)."""
        return [s["message_id"] for s in self.sources if s.get("message_id")]


@dataclass
class Citation:
    """A source an answer cites: ``n`` is the marker number used in the answer text
    (an answer's citations carry exactly the numbers its text uses). ``quote`` is the
    sentence of ``text`` that supports the answer (None when the whole source does)."""

    n: int
    id: int
    kind: str
    text: str
    sources: list[dict] = field(default_factory=list)
    date: Optional[str] = None
    speaker: Optional[str] = None
    quote: Optional[str] = None


@dataclass
class Answer:
    """An answer to a question (``abstained`` when memory had nothing good enough).

    ``method``: ``model`` (a capable model's grounded draft), ``extractive`` (built from
    the sources), ``corrected`` (the question's premise is wrong: "That was Nadia, not
    Marco [1]" — ``abstained`` is True, the citation shows who it was), ``abstained``, or
    ``remembered`` ("remember that …" stored a note).
    ``draft_rejected`` is True when a model's draft was streamed but replaced because it
    was not grounded in its sources: a front end then shows ``answer`` instead of what
    it streamed.
    """

    answer: str
    abstained: bool
    citations: list[Citation] = field(default_factory=list)
    closest: list[SearchResult] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    chat_id: Optional[int] = None
    method: str = "extractive"
    strength: float = 0.0
    draft_rejected: bool = False
    question: str = ""


@dataclass
class SourceView:
    """What a citation click shows.

    For a message: its conversation and ``messages`` around it (about five either side)
    with ``highlight`` = the cited message's id. For a chunk: the document (path, title),
    page, heading, character offsets and text. For a note: its text and sources.
    """

    kind: str
    id: int
    title: str = ""
    highlight: Optional[int] = None
    messages: list[dict] = field(default_factory=list)
    document: Optional[dict] = None
    text: str = ""
    sources: list[dict] = field(default_factory=list)


@dataclass
class ChatInfo:
    id: int
    title: str
    created_at: str
    updated_at: str
    turns: int = 0


@dataclass
class ChatTurn:
    id: int
    role: str          # user | assistant
    text: str
    created_at: str
    citations: list[dict] = field(default_factory=list)
    abstained: bool = False

# -- Evaluation -----------------------------------------------------------------------------


@dataclass
class EvalReport:
    """Evaluation figures (percentages 0–100, latencies in ms)."""

    questions: int
    k: int
    overall: dict[str, Any] = field(default_factory=dict)
    per_category: dict[str, dict[str, Any]] = field(default_factory=dict)
    invalid_citations: int = 0
    details: list[dict] = field(default_factory=list)
    setup: dict[str, Any] = field(default_factory=dict)

    def format_table(self) -> str:
        """A plain-text table for people."""
        cols = ["n", "recall@k", "f1", "abstention_acc", "search_p50_ms", "search_p95_ms",
                "ask_p50_ms", "ask_p95_ms", "first_token_p95_ms"]
        lines = [f"{self.questions} questions, k={self.k}, invalid citations: "
                 f"{self.invalid_citations}",
                 f"{'category':<14}" + "".join(f"{c:>19}" for c in cols)]
        for name, row in [("overall", self.overall), *sorted(self.per_category.items())]:
            vals = []
            for c in cols:
                v = row.get(c)
                shown = "-" if v is None else (f"{v:.1f}" if isinstance(v, float) else v)
                vals.append(f"{shown:>19}")
            lines.append(f"{name:<14}" + "".join(vals))
        return "\n".join(lines)

# -- Timeline -------------------------------------------------------------------------------


@dataclass
class TimelineBucket:
    """Counts for the bucket that starts on ``start`` (a date)."""

    start: date
    notes: int = 0
    messages: int = 0
    conversations: int = 0


@dataclass
class Timeline:
    bucket: str                                   # day | week | month
    buckets: list[TimelineBucket] = field(default_factory=list)  # oldest first, gaps filled

    @property
    def first(self) -> Optional[date]:
        return self.buckets[0].start if self.buckets else None

    @property
    def last(self) -> Optional[date]:
        return self.buckets[-1].start if self.buckets else None

# -- Jobs, backups, the profile -------------------------------------------------------------


@dataclass
class JobInfo:
    """What ``jobs list`` and the Activity pane show about one job.

    Times are ISO 8601 strings (UTC offset included) or None. ``progress`` is None or
    ``{"stage", "done", "total", "message", "fraction"}``; ``last_summary`` is the dict
    the last run returned.
    """

    name: str
    description: str
    next_run: Optional[str]
    last_run: Optional[str]
    last_outcome: Optional[str]       # ok | failed | cancelled | None
    running: bool
    paused: bool
    progress: Optional[dict]
    last_error: Optional[str]
    last_duration: Optional[float] = None
    last_summary: Optional[dict] = None
    requested: bool = False
    quarantined: int = 0              # extract: windows set aside (see QuarantinedWindow)


@dataclass
class BackupInfo:
    """One snapshot file."""

    name: str
    path: str
    created_at: str      # ISO 8601, from the file name (UTC)
    size: int            # bytes
    kind: str            # daily | pre-restore


@dataclass
class ProfileLine:
    """One line of the profile with the sources it rests on."""

    text: str
    sources: list[dict] = field(default_factory=list)


@dataclass
class ProfileNote:
    """The profile note: its text (as stored; the person may have edited it) and lines."""

    id: int
    kind: str
    text: str
    lines: list[ProfileLine]
    created_at: str
    updated_at: str
    origin: str
    method: str                 # template | model
    user_edited: bool = False

# -- Privacy and encryption -----------------------------------------------------------------


# -- result types ---------------------------------------------------------------------------
@dataclass
class SourceInfo:
    """One imported source with what is stored from it now."""

    id: int
    kind: str
    path: str
    imported_at: str
    conversations: int
    messages: int
    documents: int
    chunks: int
    notes: int            # notes citing at least one of its messages/chunks
    errors: int


@dataclass
class RemovalReport:
    """What a delete / forget / wipe removed (counts), and which notes."""

    action: str
    sources: int = 0
    conversations: int = 0
    messages: int = 0
    documents: int = 0
    chunks: int = 0
    notes: int = 0
    entities: int = 0
    vectors: int = 0
    note_ids: list[int] = field(default_factory=list)


@dataclass
class ExportReport:
    """Where ``export_all`` wrote the vault and the dump, and how much."""

    directory: str
    notes: int
    dump: str
    tables: dict[str, int]


@dataclass
class DumpImportReport:
    """What ``import_dump`` restored."""

    tables: dict[str, int]
    indexed: int = 0


# -- creating -------------------------------------------------------------------------------
@dataclass
class InitReport:
    """What ``init`` did: where, whether encrypted, and where the key lives."""

    home: str
    encrypted: bool
    method: Optional[str] = None      # keyring | passphrase
    created: bool = True


# -- changing the key -----------------------------------------------------------------------
# -- Setting up: models ---------------------------------------------------------------------
@dataclass
class RecommendedModel:
    """A capable GGUF model the app offers to download (``size_mb`` is approximate)."""

    name: str
    size_mb: int
    description: str
    licence: str


@dataclass
class ModelStatus:
    """The configured language model, described without loading it."""

    name: str
    source: str                       # default | gguf | openai
    path: str                         # the model file, or the endpoint's URL
    found: bool                       # the file is there / an endpoint URL is set
    capable: bool                     # False for the embedded tiny default
    error: str = ""                   # why it is not usable, when not found


# -- Formation: windows set aside -----------------------------------------------------------
@dataclass
class QuarantinedWindow:
    """A window of messages (or document passages) memory formation could not form.

    ``problem`` is written for people (the Activity pane shows it); ``error`` is the
    technical detail for a bug report. ``conversation``/``document`` is the title;
    ``first``/``last`` the timestamps of its first and last message (None for
    documents). ``retrying``: the person asked for a retry; the next extract run tries it.
    """

    id: int
    problem: str
    error: str
    failed_at: str
    attempts: int
    items: int
    conversation: Optional[str] = None
    document: Optional[str] = None
    first: Optional[str] = None
    last: Optional[str] = None
    retrying: bool = False
