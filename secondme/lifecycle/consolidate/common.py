"""What every consolidation step shares: content words, the active facts it works on,
what a step builds (:class:`Built`), input hashes and the capable model's cited text."""
from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

from ...errors import Cancelled
from ...progress import CancelToken

log = logging.getLogger(__name__)

STOPWORDS = frozenset("""a an the and or but if then so of to in on at by for with from as is
are was were be been being am do does did have has had i me my mine you your yours he him his
she her hers it its we us our they them their this that these those there here what which who
whom when where why how not no yes all any some just very really too also about again today
yesterday tomorrow now then ok okay haha lol yeah got get go going went will would can could
should shall may might must one ones than more most much many such own same other into over
under up down out off only new told tell says said like good night morning thanks thank sure
thing things see soon time way well great nice cool fine let know think""".split())

_WORD = re.compile(r"[a-z0-9][a-z0-9'’-]*")


def words(text: str) -> list[str]:
    """Lowercase content words of ``text`` (no stop words, no 1-letter tokens)."""
    return [w for w in _WORD.findall(text.lower()) if len(w) > 1 and w not in STOPWORDS]


def input_hash(*parts: Any) -> str:
    """A stable hash of a summary's inputs (unchanged inputs → nothing is redone)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class Built:
    """One summary (or the profile) to write."""

    key: str
    kind: str                 # summary | profile
    fact_type: str            # day | week | topic | profile
    text: str
    notes: list[int] = field(default_factory=list)      # cited notes
    messages: list[int] = field(default_factory=list)   # cited messages
    parts: list[int] = field(default_factory=list)      # notes linked part_of → this
    valid_from: Optional[str] = None
    keywords: str = ""
    lines: list[dict] = field(default_factory=list)
    method: str = "template"
    input_hash: str = ""


@dataclass
class Fact:
    """An active fact as the summaries and the profile see it."""

    id: int
    text: str
    fact_type: str
    score: float              # strength × retention
    messages: list[int]
    day: Optional[str]
    keywords: str
    is_me: bool


def load_facts(conn) -> dict[int, Fact]:
    """Active facts with their cited messages and the day they belong to."""
    facts: dict[int, Fact] = {}
    for nid, text, ftype, strength, retention, vf, created, kw in conn.execute(
            "select id, text, fact_type, strength, retention, valid_from, created_at, keywords "
            "from notes where kind = 'fact' and archived = 0 and valid_to is null"):
        facts[nid] = Fact(nid, text, ftype or "", float(strength) * float(retention), [],
                          (vf or created or "")[:10] or None, kw or "", False)
    for nid, mid, ts, is_me in conn.execute(
            "select s.note_id, m.id, m.timestamp, m.is_me from note_sources s join messages m "
            "on m.id = s.message_id join notes n on n.id = s.note_id where n.kind = 'fact' "
            "and n.archived = 0 and n.valid_to is null order by m.ts"):
        f = facts.get(nid)
        if f is None:
            continue
        if not f.messages and ts:
            f.day = ts[:10]
        f.messages.append(mid)
        f.is_me = f.is_me or bool(is_me)
    return facts


def top_facts(facts: Iterable[Fact], n: int) -> list[Fact]:
    """The ``n`` facts of highest strength × retention (then oldest first)."""
    return sorted(facts, key=lambda f: (-f.score, f.id))[:n]


def join_names(names: list[str]) -> str:
    """"Anna", "Anna and Bob", "Anna, Bob and Chen"."""
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def model_text(llm: Any, instruction: str, evidence: list[str], budget: list[int],
               cancel: Optional[CancelToken]) -> Optional[tuple[str, list[int]]]:
    """Ask a capable model for ``{"summary", "sources"}`` over numbered evidence.

    Returns (text, 0-based evidence indexes) or None when the model is not usable, the
    call budget is spent, or the output cites nothing valid.
    """
    if llm is None or budget[0] <= 0 or not evidence:
        return None
    budget[0] -= 1
    numbered = "\n".join(f"[{i + 1}] {e}" for i, e in enumerate(evidence))
    prompt = (f"{instruction}\nUse only the numbered evidence below and list the numbers "
              f"you used in \"sources\".\n\nEvidence:\n{numbered}\n\nJSON:")
    schema = {"type": "object", "properties": {
        "summary": {"type": "string"},
        "sources": {"type": "array", "items": {"type": "integer"}}},
        "required": ["summary", "sources"]}
    try:
        raw = llm.complete(prompt, max_tokens=400, temperature=0.0, json_schema=schema,
                           cancel=cancel)
        data = json.loads(raw)
        text = str(data.get("summary", "")).strip()
        idx = sorted({int(n) - 1 for n in data.get("sources", [])
                      if isinstance(n, int) and 1 <= n <= len(evidence)})
    except Cancelled:
        raise
    except Exception as e:  # noqa: BLE001 - a bad model answer falls back to the template
        log.info("model summary unusable (%s); using the template", e)
        return None
    if not text or not idx:
        return None
    return text, idx

