"""Evaluation datasets: reading them and loading their conversations into a store.

A dataset (documented in docs/recall.md) is one JSON file::

    {"conversations": [ generic import format: {"id", "title", "participants",
                         "messages": [{"id", "speaker", "timestamp", "text"}]} ],
     "questions": [{"question", "evidence": [message ids], "answer",
                    "category": "single|multi|temporal|open|unanswerable",
                    "conversation": optional conversation id scoping the evidence ids}]}

:func:`load_conversations` writes the conversations straight into the store (one
transaction per conversation) in the same shape the generic importer produces; the
evaluation prefers the real importer when this build has it.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

from ..errors import InvalidInput
from ..models.embed import content_hash

CATEGORIES = ("single", "multi", "temporal", "open", "unanswerable")


def read_dataset(path) -> dict[str, Any]:
    """Parse and check a dataset file. Raises InvalidInput with what is wrong."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput("no such dataset file", path=str(p))
    except ValueError as e:
        raise InvalidInput(f"the dataset is not valid JSON ({e})", path=str(p))
    if not isinstance(data, dict) or not isinstance(data.get("conversations"), list) \
            or not isinstance(data.get("questions"), list):
        raise InvalidInput('a dataset is {"conversations": [...], "questions": [...]}',
                           path=str(p))
    for i, q in enumerate(data["questions"]):
        if not isinstance(q, dict) or not isinstance(q.get("question"), str):
            raise InvalidInput(f"question {i + 1} has no 'question' text", path=str(p))
        cat = q.get("category", "single")
        if cat not in CATEGORIES:
            raise InvalidInput(f"question {i + 1}: category must be one of "
                               f"{', '.join(CATEGORIES)}, not {cat!r}", path=str(p))
        if not isinstance(q.get("evidence", []), list):
            raise InvalidInput(f"question {i + 1}: evidence must be a list of message ids",
                               path=str(p))
    return data


def _parse_ts(value: Any) -> tuple[Optional[str], Optional[float]]:
    if value is None or value == "":
        return None, None
    if isinstance(value, (int, float)):
        d = datetime.fromtimestamp(float(value), tz=timezone.utc)
    else:
        try:
            d = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return None, None
    if d.tzinfo is None:
        d = d.replace(tzinfo=timezone.utc)
    return d.isoformat(), d.timestamp()


def load_conversations(sm, conversations: list[dict], *, fmt: str = "generic",
                       me: str = "") -> int:
    """Insert generic-format ``conversations`` into ``sm``'s store; returns messages added.

    Idempotent per (format, conversation id, message id).
    """
    added = 0
    for ci, conv in enumerate(conversations):
        cid = str(conv.get("id") or f"conversation-{ci + 1}")
        msgs = conv.get("messages") or []
        parts = conv.get("participants") or sorted({m.get("speaker", "") for m in msgs} - {""})
        times = [_parse_ts(m.get("timestamp")) for m in msgs]
        with sm.store.write() as db:
            c = db.conn
            row = c.execute("select id from conversations where format = ? and external_id = ?",
                            [fmt, cid]).fetchone()
            if row:
                conv_id = row[0]
            else:
                first = next((t[0] for t in times if t[0]), None)
                last = next((t[0] for t in reversed(times) if t[0]), None)
                conv_id = c.execute(
                    "insert into conversations (format, external_id, title, participants, "
                    "started_at, updated_at) values (?, ?, ?, ?, ?, ?)",
                    [fmt, cid, conv.get("title") or cid, json.dumps(parts), first, last]
                ).lastrowid
            rows = []
            for pos, (m, (iso, ts)) in enumerate(zip(msgs, times)):
                text = str(m.get("text") or "")
                speaker = str(m.get("speaker") or "")
                mid = str(m.get("id") or f"{cid}:{pos}")
                rows.append((conv_id, mid, pos, speaker, int(bool(me) and speaker == me),
                             iso, ts, text, content_hash(f"{speaker}\x00{iso}\x00{text}")))
            count = "select count(*) from messages where conversation_id = ?"
            before = c.execute(count, [conv_id]).fetchone()[0]
            c.executemany(
                "insert or ignore into messages (conversation_id, external_id, position, speaker, "
                "is_me, timestamp, ts, text, content_hash) values (?,?,?,?,?,?,?,?,?)", rows)
            added += c.execute(count, [conv_id]).fetchone()[0] - before
    return added
