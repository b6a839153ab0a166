"""The LLM extractor: facts from a window, constrained by a JSON-schema grammar.

The model sees the conversation's rolling summary and the window's messages, each with
a small integer id, speaker and local date/time, and returns
``{"facts": [{"text", "type", "sources", "confidence"}], "summary": "..."}``. Facts
must be self-contained (names, not pronouns; absolute dates). The small ids are mapped
back to message/chunk ids; anything malformed is rejected and never stored: output that
is not JSON, facts with empty text, no sources, sources outside the window, an unknown
type or a confidence outside 0..1. As a last guard, relative date words the model left
in a fact are resolved against the timestamp of the fact's first source.
"""
from __future__ import annotations

import json
import logging
from typing import Any

from .deterministic import is_assistant, read_slot, speaker_name
from .entities import find_entities
from .facts import FACT_TYPES, ExtractResult, Fact, Window, validate_fact
from .timeparse import find_dates, local_date, rewrite_dates

log = logging.getLogger(__name__)

NAME = "llm"
MAX_ITEM_CHARS = 600

FACT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "facts": {
            "type": "array",
            "maxItems": 24,
            "items": {
                "type": "object",
                "properties": {
                    "text": {"type": "string"},
                    "type": {"type": "string", "enum": list(FACT_TYPES)},
                    "sources": {"type": "array", "items": {"type": "integer"}, "minItems": 1},
                    "confidence": {"type": "number"},
                },
                "required": ["text", "type", "sources", "confidence"],
            },
        },
        "summary": {"type": "string"},
    },
    "required": ["facts", "summary"],
}

PROMPT = """You extract lasting facts about people from a conversation, for their personal memory.
Rules:
- Each fact is one self-contained sentence: use names, never pronouns ("Anna moved to Berlin", \
not "I moved" or "she moved").
- Resolve relative dates ("yesterday", "last month", "next Friday") to absolute dates using \
the message dates.
- Only facts about people's lives: biography, preferences, events, plans, relationships, \
opinions, health, work. Skip greetings, small talk, questions and anything the assistant says \
about itself.
- "sources" are the numbers of the messages the fact rests on. "confidence" is between 0 and 1.
- "summary" is a short summary of the whole conversation so far (at most 3 sentences).
{me}
Summary so far: {summary}

Conversation "{title}":
{lines}

Answer in JSON."""


def render_window(window: Window) -> tuple[str, dict[int, int]]:
    """The window as numbered lines and the map small id → item id."""
    lines, ids = [], {}
    for n, it in enumerate(window.items, start=1):
        ids[n] = it.id
        text = " ".join(it.text.split())[:MAX_ITEM_CHARS]
        if it.kind == "message":
            when = ""
            if it.timestamp:
                when = it.timestamp[:16].replace("T", " ")
            who = speaker_name(it, window) or it.speaker or "someone"
            if is_assistant(it):
                who = f"{it.speaker or 'assistant'} (AI assistant)"
            lines.append(f"[{n}] {when} {who}: {text}")
        else:
            where = f" ({it.heading})" if it.heading else ""
            lines.append(f"[{n}]{where} {text}")
    return "\n".join(lines), ids


class LLMExtractor:
    """Extraction with a capable model (``llm.capable``). Thread-compatible: one call at
    a time per model, as the model itself requires."""

    name = NAME

    def __init__(self, llm: Any, *, max_tokens: int = 1024):
        self.llm = llm
        self.max_tokens = max_tokens

    def prompt(self, window: Window) -> tuple[str, dict[int, int]]:
        lines, ids = render_window(window)
        me = ""
        if window.me_name:
            me = f"- The person whose memory this is: {window.me_name}.\n"
        if window.ref_date:
            me += f"- The document is dated {window.ref_date}.\n"
        return PROMPT.format(me=me, summary=window.summary or "(none)",
                             title=window.title or "untitled", lines=lines), ids

    def extract(self, window: Window, cancel=None) -> ExtractResult:
        """Ask the model; parse, map and validate its facts (see the module docstring).

        Raises Cancelled when ``cancel`` fires during generation; any other model
        failure propagates (the job reports it)."""
        prompt, ids = self.prompt(window)
        count = {"n": 0}

        def on_token(_t: str) -> None:
            count["n"] += 1

        raw = self.llm.complete(prompt, max_tokens=self.max_tokens, temperature=0.0,
                                json_schema=FACT_SCHEMA, on_token=on_token, cancel=cancel)
        return self.parse(raw, window, ids, tokens=count["n"])

    def parse(self, raw: str, window: Window, ids: dict[int, int], tokens: int = 0
              ) -> ExtractResult:
        """Turn the model's text into validated facts; everything else is rejected."""
        rejected: list[dict] = []
        try:
            data = json.loads(raw)
        except (ValueError, TypeError) as e:
            return ExtractResult(facts=[], rejected=[{"fact": raw[:200],
                                                      "problem": f"not JSON: {e}"}],
                                 summary=window.summary, tokens=tokens)
        if not isinstance(data, dict) or not isinstance(data.get("facts"), list):
            return ExtractResult(facts=[], rejected=[{"fact": str(data)[:200],
                                                      "problem": "no facts list"}],
                                 summary=window.summary, tokens=tokens)
        summary = data.get("summary") if isinstance(data.get("summary"), str) else window.summary
        by_id = {it.id: it for it in window.items}
        people = [p for p in window.participants if p] + \
            ([window.me_name] if window.me_name else [])
        facts: list[Fact] = []
        for f in data["facts"]:
            if not isinstance(f, dict):
                rejected.append({"fact": str(f)[:200], "problem": "not an object"})
                continue
            text = f.get("text")
            src = f.get("sources")
            try:
                small = [int(s) for s in src] if isinstance(src, list) else []
            except (TypeError, ValueError):
                small = []
            mapped = [ids.get(s, -1) for s in small]
            try:
                conf = float(f.get("confidence", 0.7))
            except (TypeError, ValueError):
                conf = -1.0
            fact = Fact(text=text.strip() if isinstance(text, str) else "",
                        sources=list(dict.fromkeys(mapped)),
                        fact_type=f.get("type") if isinstance(f.get("type"), str) else "",
                        confidence=conf)
            problem = validate_fact(fact, window)
            if problem is None and -1 in mapped:
                problem = f"sources not in the window: {[s for s in small if s not in ids]}"
            if problem is None and all(is_assistant(by_id[s]) for s in fact.sources
                                       if by_id[s].kind == "message") and \
                    by_id[fact.sources[0]].kind == "message":
                problem = "rests only on the assistant's messages"
            if problem:
                rejected.append({"fact": f, "problem": problem})
                continue
            first = by_id[fact.sources[0]]
            ref = first.timestamp if first.kind == "message" else window.ref_date
            fact.text, dates = rewrite_dates(fact.text, ref)
            if not fact.text.endswith((".", "!", "?")):
                fact.text += "."
            day = local_date(ref) if ref else None
            past = [d for d in find_dates(fact.text, ref) if day is None or d.start <= day]
            fact.valid_from = past[0].iso() if past and fact.fact_type != "plan" else (
                day.isoformat() if day else None)
            fact.entities = find_entities(fact.text, people=people, sentence_start_ok=True)
            subj = fact.entities[0][0] if fact.entities and fact.text.startswith(
                fact.entities[0][0]) else ""
            fact.subject = subj
            fact.slot = read_slot(fact.text, subj) if subj else None
            facts.append(fact)
        return ExtractResult(facts=facts, rejected=rejected, summary=(summary or "")[:1000],
                             tokens=tokens)
