"""Evaluation datasets: reading them and loading their conversations into a store.

A dataset (documented in docs/recall.md) is one JSON file::

    {"conversations": [ generic import format: {"id", "title", "participants",
                         "messages": [{"id", "speaker", "timestamp", "text"}]} ],
     "questions": [{"question", "evidence": [message ids], "answer",
                    "category": "single|multi|temporal|open|unanswerable",
                    "conversation": optional conversation id scoping the evidence ids}]}

:func:`load_conversations` imports the conversations of a dataset (or any list of
generic-format dicts) through the import pipeline, one transaction per conversation.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import InvalidInput
from ..ingest.common import context_for
from ..ingest.generic import conversation_from_json
from ..ingest.pipeline import store_conversation
from ..store.db import Store

CATEGORIES = ("single", "multi", "temporal", "open", "unanswerable")


def read_dataset(path) -> dict[str, Any]:
    """Parse and check a dataset file. Raises InvalidInput with what is wrong."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput("no such dataset file", path=str(p)) from None
    except ValueError as e:
        raise InvalidInput(f"the dataset is not valid JSON ({e})", path=str(p)) from None
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


def load_conversations(store: Store, conversations: list[dict]) -> int:
    """Import generic-format ``conversations`` (plain dicts, see
    :mod:`secondme.ingest.generic`) into ``store``; returns how many messages were added.

    The same path as importing them from a file: the generic parser's conversion and
    the import pipeline's storage (dedupe by external id, positions, full-text index),
    without a sources row. Timestamps without an offset are UTC. Idempotent per
    (conversation id, message id). Raises InvalidInput naming a malformed conversation.
    """
    ctx = context_for("UTC")
    added = 0
    for i, obj in enumerate(conversations):
        try:
            conv = conversation_from_json(obj, ctx)
        except ValueError as e:
            raise InvalidInput(f"conversation {i + 1}: {e}") from None
        added += store_conversation(store, conv, None, frozenset())[0]
    return added
