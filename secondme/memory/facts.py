"""What extractors read (windows of messages or chunks) and what they return (facts).

Both extractors — the LLM one and the deterministic one — take a :class:`Window` and
return an :class:`ExtractResult`; everything after extraction (enrichment,
reconciliation, links) is shared. A fact always names the window items it rests on;
:func:`validate_fact` rejects any fact without valid provenance or text.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

FACT_TYPES = ("biography", "preference", "event", "plan", "relationship", "opinion",
              "health", "work", "other")


@dataclass
class WindowItem:
    """One message (or document chunk) of a window."""

    kind: str                       # message | chunk
    id: int                         # messages.id / chunks.id
    text: str
    speaker: str = ""
    is_me: bool = False
    timestamp: Optional[str] = None  # ISO 8601 with the writer's offset
    external_id: str = ""
    reply_to: Optional[str] = None
    position: int = 0
    heading: str = ""
    page: Optional[int] = None


@dataclass
class Window:
    """A session window: consecutive messages of one conversation (split where the time
    gap reaches ``session_gap_minutes``), or a section's chunks of one document."""

    items: list[WindowItem]
    conversation_id: Optional[int] = None
    document_id: Optional[int] = None
    title: str = ""
    participants: list[str] = field(default_factory=list)
    me_name: str = ""
    me_aliases: list[str] = field(default_factory=list)
    ref_date: Optional[str] = None   # documents: the date relative dates resolve against
    summary: str = ""                # rolling summary of the conversation so far

    @property
    def kind(self) -> str:
        return "chunk" if self.document_id is not None else "message"


@dataclass
class Fact:
    """A self-contained statement resting on ``sources`` (ids of window items)."""

    text: str
    sources: list[int]
    fact_type: str = "other"
    confidence: float = 0.7
    valid_from: Optional[str] = None     # YYYY-MM-DD
    subject: str = ""                    # who the fact is about, as named in the text
    entities: list[tuple[str, str]] = field(default_factory=list)  # (name, kind)
    slot: Optional[tuple[str, str, str]] = None   # (subject, attribute, value), normalised


@dataclass
class ExtractResult:
    facts: list[Fact]
    rejected: list[dict] = field(default_factory=list)   # {"fact": ..., "problem": ...}
    summary: str = ""                                     # updated rolling summary
    tokens: int = 0                                       # generated tokens (LLM only)


def validate_fact(fact: Fact, window: Window) -> Optional[str]:
    """Why ``fact`` must not be stored (a sentence), or None when it is acceptable."""
    if not isinstance(fact.text, str) or len(fact.text.strip()) < 3:
        return "empty text"
    if len(fact.text) > 600:
        return "text too long"
    ids = {it.id for it in window.items}
    if not fact.sources:
        return "no sources"
    bad = [s for s in fact.sources if s not in ids]
    if bad:
        return f"sources not in the window: {bad}"
    if fact.fact_type not in FACT_TYPES:
        return f"unknown type {fact.fact_type!r}"
    if not 0.0 <= float(fact.confidence) <= 1.0:
        return "confidence out of range"
    return None
