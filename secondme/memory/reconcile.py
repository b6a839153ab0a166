"""Reconciling a new fact with the notes most similar to it.

Outcomes (mem0's ADD / UPDATE / DELETE / NONE, applied by fixed rules):

- **merge** (NONE): the fact says what a note already says → the note is reinforced
  (strength + 1) and gains the fact's sources.
- **refine** (UPDATE): the fact says everything a note says and more → the note gets the
  fact's text as a new version (the old text stays in history), plus the sources.
- **invalidate** (DELETE): the fact gives another value for the same subject and
  attribute ("lives in Berlin" / "lives in Paris") → both are kept; the older one (by
  when it became true) gets ``valid_to`` and the newer one links to it with ``updates``
  (it became true later) or ``contradicts`` (same time, conflicting claims).
- **add** (ADD): anything else becomes a new note.

:func:`decide` is the deterministic rule. With a capable model, :func:`llm_decide` lets
the model choose the outcome among candidates it sees as small integers; its choice is
validated and then applied by the same code as the rule's.

Matching (documented so that it can be argued with): *duplicate* = content-token F1
≥ 0.8 with the same numbers (dates, amounts) — or the fact's tokens ≥ 90 % inside the
note's; *refinement* = the note's tokens ≥ 80 % inside the fact's, the fact longer, the
note's numbers all kept, and the note not edited by the person (their words win).
"""
from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any, Optional

from .facts import Fact
from .text import containment, content_tokens, token_f1

log = logging.getLogger(__name__)

DUPLICATE_F1 = 0.8
DUPLICATE_CONTAINED = 0.9
REFINE_CONTAINED = 0.8


@dataclass
class Candidate:
    """An existing note compared with a new fact."""

    note_id: int
    text: str
    valid_from: Optional[str] = None
    valid_to: Optional[str] = None
    slot: Optional[tuple[str, str, str]] = None
    user_edited: bool = False
    kind: str = "fact"
    similarity: float = 0.0      # cosine similarity of the two vectors (0 if unknown)


@dataclass
class Decision:
    action: str                  # add | merge | refine | invalidate | skip
    target: Optional[int] = None
    reason: str = ""


def _numbers(text: str) -> set[str]:
    return set(re.findall(r"\d+", text))


def decide(fact: Fact, candidates: list[Candidate]) -> Decision:
    """The deterministic outcome for ``fact`` against ``candidates`` (best first)."""
    nums = _numbers(fact.text)
    # contradiction: same subject + attribute, another value, still valid
    if fact.slot:
        for c in candidates:
            if c.slot and c.slot[:2] == fact.slot[:2] and c.valid_to is None:
                if c.slot[2] != fact.slot[2]:
                    return Decision("invalidate", c.note_id, f"{fact.slot[1]} of "
                                    f"{fact.slot[0]}: {c.slot[2]} → {fact.slot[2]}")
    best_dup: Optional[tuple[float, Candidate]] = None
    for c in candidates:
        if c.kind not in ("fact", "user"):
            continue
        f1 = token_f1(fact.text, c.text)
        same_numbers = _numbers(c.text) == nums
        if (f1 >= DUPLICATE_F1 and same_numbers) or (
                containment(fact.text, c.text) >= DUPLICATE_CONTAINED
                and nums <= _numbers(c.text)):
            if best_dup is None or f1 > best_dup[0]:
                best_dup = (f1, c)
    if best_dup is not None:
        return Decision("merge", best_dup[1].note_id, f"duplicate (F1 {best_dup[0]:.2f})")
    n_fact = len(content_tokens(fact.text))
    for c in candidates:
        if c.kind not in ("fact",) or c.user_edited or c.valid_to is not None:
            continue
        if (containment(c.text, fact.text) >= REFINE_CONTAINED
                and n_fact > len(content_tokens(c.text))
                and _numbers(c.text) <= nums):
            return Decision("refine", c.note_id, "adds detail to an existing note")
    return Decision("add", None, "new")


RECONCILE_SCHEMA = {
    "type": "object",
    "properties": {
        "event": {"type": "string", "enum": ["ADD", "UPDATE", "DELETE", "NONE"]},
        "id": {"type": "integer"},
    },
    "required": ["event", "id"],
}

RECONCILE_PROMPT = """You maintain a person's memory. Compare a new fact with existing memories.
Existing memories:
{lines}

New fact: {fact}

Choose one event:
- ADD: the new fact is new information (id -1).
- UPDATE: the new fact adds detail to memory <id> and should replace its wording.
- DELETE: the new fact contradicts memory <id>, which is no longer true.
- NONE: memory <id> already says the same thing.
Answer in JSON with "event" and "id"."""


def llm_decide(llm: Any, fact: Fact, candidates: list[Candidate]) -> Optional[Decision]:
    """Let a capable model choose among ``candidates`` (shown as 0..n-1).

    Returns None when the output is malformed or names an id that was not offered; the
    caller then falls back to :func:`decide`. A DELETE on a candidate the model calls
    contradicted becomes ``invalidate`` (never a deletion).
    """
    if not candidates:
        return Decision("add", None, "no similar notes")
    shown = candidates[:10]
    lines = "\n".join(f"{i}: {c.text}" + (f" (since {c.valid_from})" if c.valid_from else "")
                      for i, c in enumerate(shown))
    try:
        raw = llm.complete(RECONCILE_PROMPT.format(lines=lines, fact=fact.text), max_tokens=32,
                           temperature=0.0, json_schema=RECONCILE_SCHEMA)
        out = json.loads(raw)
        event = str(out["event"]).upper()
        idx = int(out.get("id", -1))
    except Exception as e:  # noqa: BLE001 — any malformed output is rejected the same way
        log.info("reconcile output rejected: %s", e)
        return None
    if event == "ADD":
        return Decision("add", None, "model: new")
    if not 0 <= idx < len(shown):
        return None
    target = shown[idx]
    if event == "NONE":
        return Decision("merge", target.note_id, "model: same as an existing note")
    if event == "UPDATE":
        if target.user_edited or target.kind != "fact":
            return Decision("add", None, "model: update of a note the person wrote → new note")
        return Decision("refine", target.note_id, "model: refines an existing note")
    if event == "DELETE":
        return Decision("invalidate", target.note_id, "model: contradicts an existing note")
    return None
