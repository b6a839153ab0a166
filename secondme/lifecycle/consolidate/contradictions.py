"""Step 2 of consolidation: contradictions settled by the time rule.

Two valid facts linked ``contradicts``, or with the same subject and attribute but
different values (``note_slots``, or :func:`heuristic_slot` for facts formation gave no
slot), cannot both be current: the older one gets ``valid_to`` = when the newer became
true, an ``updates`` link from the newer and an ``invalidate`` history row (undoable).
Text is not touched.
"""
from __future__ import annotations

import re
from collections import defaultdict
from datetime import datetime
from typing import Callable, Optional

from ...hooks import Hooks
from ...memory import notes as N
from ...progress import CancelToken, check
from ...store.db import Store

_SLOT_PATTERNS = [
    (re.compile(r"^(?P<s>i|[a-z]+) (?:now )?(?:live|lives|am living|is living|moved|have moved|"
                r"has moved) (?:in|to) (?P<v>[\w' -]+?)(?: now)?[.!]?$", re.I), "residence"),
    (re.compile(r"^(?P<s>my|[a-z]+'s) favou?rite (?P<a>[\w ]+?) is (?P<v>[\w' -]+?)[.!]?$", re.I),
     None),
    (re.compile(r"^(?P<s>i|[a-z]+) (?:is moving|am moving|are moving|told me they are moving|"
                r"told me she is moving|told me he is moving) to (?P<v>[\w' -]+?)[.!]?$", re.I),
     "residence"),
    (re.compile(r"^(?P<s>i|[a-z]+) (?:work|works|am working|is working) (?:at|for) "
                r"(?P<v>[\w'& -]+?)(?: now)?[.!]?$", re.I), "employer"),
]


def heuristic_slot(text: str) -> Optional[tuple[str, str, str]]:
    """(subject, attribute, value) for a few unambiguous single-valued facts ("I live in
    Oslo now", "My favourite food is ramen", "Anna works at Acme"), else None. Used for
    facts that memory formation gave no ``note_slots`` row."""
    t = text.strip()
    for rx, attr in _SLOT_PATTERNS:
        m = rx.match(t)
        if m:
            subj = m.group("s").lower()
            subj = "me" if subj in ("i", "my") else subj.removesuffix("'s")
            a = attr or "favourite " + m.group("a").lower().strip()
            return subj, a, m.group("v").lower().strip()
    return None


def _when(valid_from: Optional[str], created_at: str) -> str:
    return valid_from or created_at


def contradiction_pairs(conn) -> list[tuple[int, int]]:
    """Pairs of current facts that cannot both be true: linked ``contradicts``, or the
    same slot (subject, attribute) with different values."""
    pairs: list[tuple[int, int]] = []
    for a, b in conn.execute(
            "select l.src_id, l.dst_id from links l join notes x on x.id = l.src_id "
            "join notes y on y.id = l.dst_id where l.kind = 'contradicts' and "
            "x.valid_to is null and y.valid_to is null and x.archived = 0 and y.archived = 0"):
        pairs.append((a, b))
    groups: dict[tuple, list[tuple]] = defaultdict(list)
    slotted: set[int] = set()
    for nid, subj, attr, value in conn.execute(
            "select s.note_id, s.subject, s.attribute, s.value from note_slots s join notes "
            "n on n.id = s.note_id where n.valid_to is null and n.archived = 0 and "
            "n.kind = 'fact'"):
        groups[(subj, attr)].append((nid, value))
        slotted.add(nid)
    for nid, text in conn.execute("select id, text from notes where kind = 'fact' and "
                                  "valid_to is null and archived = 0"):
        if nid not in slotted:
            slot = heuristic_slot(text)
            if slot:
                groups[slot[:2]].append((nid, slot[2]))
    for items in groups.values():
        if len({v for _, v in items}) > 1:
            for i in range(len(items)):
                for j in range(i + 1, len(items)):
                    if items[i][1] != items[j][1]:
                        pairs.append((items[i][0], items[j][0]))
    return pairs


def resolve_contradictions(store: Store, *, clock: Callable[[], datetime], hooks: Hooks,
                           cancel: Optional[CancelToken] = None) -> dict:
    """Step 2 (see the module doc): each pair in its own transaction, actor
    ``consolidate``. Announces ``notes_did_change(ids, action="invalidate")``. Returns
    ``{"invalidated": n, "ids": [...]}``."""
    conn = store.conn
    invalidated: list[int] = []
    now = clock().isoformat(timespec="seconds")
    for a, b in contradiction_pairs(conn):
        check(cancel)
        rows = {r[0]: r for r in conn.execute(
            "select id, valid_from, created_at, valid_to from notes where id in (?, ?)", [a, b])}
        if len(rows) < 2 or rows[a][3] or rows[b][3]:
            continue
        older, newer = sorted((a, b), key=lambda i: (_when(rows[i][1], rows[i][2]), i))
        until = _when(rows[newer][1], rows[newer][2])
        with store.write() as db:
            c = db.conn
            # valid_to only: an invalidated fact does not start fading anew
            with N.recorded(c, older, "invalidate", "consolidate", at=now) as change:
                N.set_fields(c, older, valid_to=until)
                change.detail["superseded_by"] = newer
                if N.ensure_link(c, newer, older, "updates", now):
                    change.detail["links_added"] = [[newer, older, "updates"]]
        invalidated.append(older)
    if invalidated:
        hooks.emit("notes_did_change", ids=invalidated, action="invalidate")
    return {"invalidated": len(invalidated), "ids": invalidated}
