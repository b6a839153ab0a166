"""The profile of the user: who they are, what they like, the people in their life.

Built by consolidation into one note of kind ``profile`` (key ``profile`` in
``consolidations``). Every line carries its citations (facts and messages), stored in
``consolidations.lines`` and resolved by :func:`get_profile` into the same source dicts
search results use, so the Memories pane and the MCP ``get_profile`` tool can show where
each line comes from.

Deterministic path (the embedded model): the person's name (cited by one of their own
messages), biography facts about them, their preferences, their plans, and the people
they talk with most (message counts and span, cited by the first and last message, plus
the strongest fact that mentions them) — facts ranked by strength × retention.
With a capable model, the model writes the lines from the same numbered evidence under a
JSON schema; lines citing nothing valid are dropped, and when none remain the template
is used, so the profile exists either way.
"""
from __future__ import annotations

import json
import logging
import re
from typing import Any, Iterable, Optional

from ..api import ProfileLine, ProfileNote
from ..errors import Cancelled
from ..progress import CancelToken
from .consolidate.common import Built, Fact, input_hash, top_facts

log = logging.getLogger(__name__)

MAX_ABOUT = 5
MAX_LIKES = 6
MAX_PLANS = 3
MAX_PEOPLE = 6

_LIKE = re.compile(r"\b(love|loves|like|likes|enjoy|enjoys|favou?rite|fan of|into)\b", re.I)
_BIO = re.compile(r"\b(live|lives|living|moved|born|work|works|working|job|study|studies|"
                  r"grew up|from|married|name is|years old)\b", re.I)
_PLAN = re.compile(r"\b(plan|plans|planning|going to|will|want to|started learning|"
                   r"start)\b", re.I)


def _is_me_fact(f: Any, me_names: set[str]) -> bool:
    t = f.text.strip()
    if re.match(r"^(i|my|i'm|i've)\b", t, re.I):
        return True
    first = t.split(" ", 1)[0].lower().strip(",.:")
    return bool(me_names) and first in me_names


def _people(conn) -> list[tuple[str, int, str, str, int, int]]:
    """(speaker, messages, first ts, last ts, first id, last id) of the people the user
    talks with, most messages first."""
    return conn.execute(
        "select m.speaker, count(*), min(m.timestamp), max(m.timestamp), "
        "(select id from messages x where x.speaker = m.speaker and x.is_me = 0 "
        " order by x.ts limit 1), "
        "(select id from messages x where x.speaker = m.speaker and x.is_me = 0 "
        " order by x.ts desc limit 1) "
        "from messages m where m.is_me = 0 and m.speaker != '' and m.kind = 'message' and "
        "m.conversation_id in (select distinct conversation_id from messages where is_me = 1) "
        "and m.conversation_id not in (select id from conversations where format like 'mcp%') "
        "group by m.speaker order by count(*) desc limit ?", [MAX_PEOPLE]).fetchall()


def template_lines(conn, facts: dict[int, Fact], me_name: str,
                   me_aliases: Iterable[str]) -> tuple[str, list[dict]]:
    """(name, lines) of the deterministic profile; each line ``{"text", "sources"}``.
    ``me_name`` / ``me_aliases``: the user's names from the settings."""
    name = me_name.strip()
    first_me = conn.execute("select id, speaker from messages where is_me = 1 and kind = "
                            "'message' order by ts limit 1").fetchone()
    if not name and first_me:
        row = conn.execute("select speaker, count(*) from messages where is_me = 1 and "
                           "speaker != '' group by speaker order by 2 desc limit 1").fetchone()
        name = row[0] if row else ""
    me_names = {n.lower() for n in [name, *me_aliases] if n}
    lines: list[dict] = []
    if name and first_me:
        total = conn.execute("select count(*) from messages where is_me = 1").fetchone()[0]
        lines.append({"text": f"Name: {name} ({total} messages written by you)",
                      "sources": [{"message_id": first_me[0]}]})

    def fact_line(prefix: str, f) -> dict:
        return {"text": f"{prefix}: {f.text.rstrip('.')}",
                "sources": [{"note_id": f.id}] + [{"message_id": m} for m in f.messages[:2]]}

    mine = [f for f in facts.values() if _is_me_fact(f, me_names)]
    used: set[int] = set()
    about = top_facts((f for f in mine if f.fact_type == "biography" or
                  (not f.fact_type and _BIO.search(f.text))), MAX_ABOUT)
    for f in about:
        lines.append(fact_line("About you", f))
        used.add(f.id)
    likes = top_facts((f for f in mine if f.id not in used and
                  (f.fact_type == "preference" or _LIKE.search(f.text))), MAX_LIKES)
    for f in likes:
        lines.append(fact_line("You like", f))
        used.add(f.id)
    plans = sorted((f for f in mine if f.id not in used and
                    (f.fact_type == "plan" or _PLAN.search(f.text))),
                   key=lambda f: (f.day or "", f.id), reverse=True)[:MAX_PLANS]
    for f in plans:
        lines.append(fact_line("Plans and pursuits", f))
        used.add(f.id)
    for speaker, n, first, last, first_id, last_id in _people(conn):
        text = (f"In your life: {speaker} — {n} messages from {first[:10]} to {last[:10]}")
        sources: list[dict] = [{"message_id": first_id}]
        if last_id != first_id:
            sources.append({"message_id": last_id})
        about_them = top_facts((f for f in facts.values()
                           if re.search(rf"\b{re.escape(speaker)}\b", f.text)), 1)
        if about_them:
            text += f"; {about_them[0].text.rstrip('.')}"
            sources.append({"note_id": about_them[0].id})
        lines.append({"text": text, "sources": sources})
    return name, lines


def _model_lines(llm: Any, name: str, lines: list[dict], budget: list[int],
                 cancel: Optional[CancelToken]) -> Optional[list[dict]]:
    """A capable model rewrites the profile from the template lines as numbered evidence."""
    if llm is None or budget[0] <= 0 or not lines:
        return None
    budget[0] -= 1
    evidence = "\n".join(f"[{i + 1}] {line['text']}" for i, line in enumerate(lines))
    prompt = (f"Write a short profile of {name or 'the user'}: who they are, what they like, "
              "the people in their life. One line per point; each line lists the evidence "
              f"numbers it rests on in \"sources\".\n\nEvidence:\n{evidence}\n\nJSON:")
    schema = {"type": "object", "properties": {"lines": {"type": "array", "items": {
        "type": "object", "properties": {"text": {"type": "string"},
                                         "sources": {"type": "array",
                                                     "items": {"type": "integer"}}},
        "required": ["text", "sources"]}}}, "required": ["lines"]}
    try:
        data = json.loads(llm.complete(prompt, max_tokens=600, temperature=0.0,
                                       json_schema=schema, cancel=cancel))
    except Cancelled:
        raise
    except Exception as e:  # noqa: BLE001 - a bad model answer falls back to the template
        log.info("model profile unusable (%s); using the template", e)
        return None
    out = []
    for item in data.get("lines", []) if isinstance(data, dict) else []:
        text = str(item.get("text", "")).strip() if isinstance(item, dict) else ""
        nums = [n for n in (item.get("sources") or []) if isinstance(n, int)
                and 1 <= n <= len(lines)] if isinstance(item, dict) else []
        if not text or not nums:
            continue   # an uncited line is never shown
        sources: list[dict] = []
        for n in dict.fromkeys(nums):
            for s in lines[n - 1]["sources"]:
                if s not in sources:
                    sources.append(s)
        out.append({"text": text, "sources": sources})
    return out or None


def build_profile(conn, facts: dict[int, Fact], me_name: str, me_aliases: Iterable[str],
                  llm: Any, budget: list[int], cancel: Optional[CancelToken]) -> Optional[Built]:
    """The profile as a consolidation ``Built`` (None when there is nothing to say).
    ``llm``: a capable model or None (the template); ``budget``: model calls left."""
    name, lines = template_lines(conn, facts, me_name, me_aliases)
    if not lines:
        return None
    method = "template"
    got = _model_lines(llm, name, lines, budget, cancel)
    hash_in = input_hash("profile", name, lines)
    if got:
        lines, method = got, "model"
    title = f"Profile of {name}" if name else "Profile"
    text = title + "\n" + "\n".join(f"- {line['text']}" for line in lines)
    notes = [s["note_id"] for line in lines for s in line["sources"] if "note_id" in s]
    msgs = [s["message_id"] for line in lines for s in line["sources"] if "message_id" in s]
    return Built("profile", "profile", "profile", text, notes=notes, messages=msgs,
                 keywords=" ".join(n.lower() for n in [name] if n), lines=lines,
                 method=method, input_hash=hash_in)


def resolve_sources(conn, sources: list[dict]) -> list[dict]:
    """Internal ``{"message_id": id}`` / ``{"note_id": id}`` → the source dicts search
    results use (external message id, conversation, timestamp, speaker; or the note)."""
    out = []
    for s in sources:
        if "message_id" in s:
            r = conn.execute(
                "select m.external_id, c.title, c.external_id, m.timestamp, m.speaker, m.id "
                "from messages m join conversations c on c.id = m.conversation_id "
                "where m.id = ?", [s["message_id"]]).fetchone()
            if r:
                out.append({"message_id": r[0], "conversation": r[1] or r[2],
                            "conversation_id": r[2], "timestamp": r[3], "speaker": r[4],
                            "item_id": r[5]})
        elif "note_id" in s:
            r = conn.execute("select id, text, kind from notes where id = ?",
                             [s["note_id"]]).fetchone()
            if r:
                out.append({"note_id": r[0], "note": r[1], "kind": r[2], "item_id": r[0]})
        elif "chunk_id" in s:
            r = conn.execute("select d.path, c.page, c.id from chunks c join documents d on "
                             "d.id = c.document_id where c.id = ?", [s["chunk_id"]]).fetchone()
            if r:
                out.append({"document": r[0], "page": r[1], "item_id": r[2]})
    return out


def get_profile(conn) -> Optional[ProfileNote]:
    """The current profile with its lines' sources resolved, or None before the first
    consolidation (run the ``consolidate`` job)."""
    row = conn.execute(
        "select n.id, n.kind, n.text, n.created_at, n.updated_at, n.origin, c.method, "
        "c.lines, n.user_edited from consolidations c join notes n on n.id = c.note_id "
        "where c.key = 'profile'").fetchone()
    if row is None:
        row = conn.execute(
            "select id, kind, text, created_at, updated_at, origin, 'user', '[]', user_edited "
            "from notes where kind = 'profile' and archived = 0 order by updated_at desc "
            "limit 1").fetchone()
        if row is None:
            return None
    lines = [ProfileLine(line["text"], resolve_sources(conn, line["sources"]))
             for line in json.loads(row[7] or "[]")]
    return ProfileNote(id=row[0], kind=row[1], text=row[2], lines=lines, created_at=row[3],
                       updated_at=row[4], origin=row[5], method=row[6],
                       user_edited=bool(row[8]))
