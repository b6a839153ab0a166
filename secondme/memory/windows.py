"""Session windows over what has not been formed yet.

A conversation's unformed messages are split where the time between two messages
reaches ``session_gap_minutes`` (and, so that a model's context and a transaction stay
small, after ``max_items`` messages). A document's unformed chunks are grouped by their
top-level heading, at most ``max_chunks`` per group. Messages and chunks already in
``formed_items`` are never offered again; quarantined ones (:mod:`.quarantine`) only after
the person asks for a retry.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Optional

from .facts import Window, WindowItem
from .quarantine import QUARANTINED_SQL
from .timeparse import local_date

MAX_ITEMS = 40
MAX_CHUNKS = 6


@dataclass
class WindowPlan:
    """Which items a window holds (loaded in full only when it is formed)."""

    kind: str                    # message | chunk
    parent_id: int               # conversation or document id
    item_ids: list[int]


def plan_windows(conn, gap_minutes: int, *, max_items: int = MAX_ITEMS,
                 max_chunks: int = MAX_CHUNKS) -> list[WindowPlan]:
    """Every window still to be formed, conversations first, in a stable order."""
    plans: list[WindowPlan] = []
    gap = gap_minutes * 60.0
    cur_conv, cur, last_ts = None, [], None
    for mid, conv, ts in conn.execute(
            "select m.id, m.conversation_id, m.ts from messages m "
            "where m.kind = 'message' and m.text != '' and not exists (select 1 from "
            "formed_items f where f.item_kind = 'message' and f.item_id = m.id) and not "
            + QUARANTINED_SQL.format(kind="message", alias="m") +
            " order by m.conversation_id, m.position, m.id"):
        split = (conv != cur_conv or len(cur) >= max_items
                 or (ts is not None and last_ts is not None and ts - last_ts >= gap))
        if split and cur:
            plans.append(WindowPlan("message", cur_conv, cur))
            cur = []
        cur_conv = conv
        cur.append(mid)
        if ts is not None:
            last_ts = ts
    if cur:
        plans.append(WindowPlan("message", cur_conv, cur))
    cur_doc, cur, cur_head = None, [], None
    for cid, doc, heading in conn.execute(
            "select c.id, c.document_id, c.heading from chunks c where not exists (select 1 "
            "from formed_items f where f.item_kind = 'chunk' and f.item_id = c.id) and not "
            + QUARANTINED_SQL.format(kind="chunk", alias="c") +
            " order by c.document_id, c.position, c.id"):
        top = (heading or "").split(">")[0].strip()
        if cur and (doc != cur_doc or top != cur_head or len(cur) >= max_chunks):
            plans.append(WindowPlan("chunk", cur_doc, cur))
            cur = []
        cur_doc, cur_head = doc, top
        cur.append(cid)
    if cur:
        plans.append(WindowPlan("chunk", cur_doc, cur))
    return plans


_DATE_IN_NAME = re.compile(r"(\d{4})[-_.](\d{2})[-_.](\d{2})")


def _date_from(*texts: Optional[str]) -> Optional[str]:
    for t in texts:
        if not t:
            continue
        m = _DATE_IN_NAME.search(t)
        if m:
            try:
                d = datetime(int(m.group(1)), int(m.group(2)), int(m.group(3)))
                return d.date().isoformat()
            except ValueError:
                continue
    return None


def load_window(conn, plan: WindowPlan, *, me_name: str = "",
                me_aliases: Optional[list[str]] = None) -> Window:
    """The full :class:`Window` for ``plan`` (texts, speakers, timestamps, title)."""
    q = ",".join("?" * len(plan.item_ids))
    if plan.kind == "message":
        title, participants, conv_summary = "", [], ""
        row = conn.execute("select title, participants from conversations where id = ?",
                           [plan.parent_id]).fetchone()
        if row:
            title = row[0] or ""
            try:
                participants = [p for p in json.loads(row[1] or "[]") if isinstance(p, str)]
            except ValueError:
                participants = []
        st = conn.execute("select summary from formation_state where conversation_id = ?",
                          [plan.parent_id]).fetchone()
        conv_summary = st[0] if st else ""
        items = [WindowItem(kind="message", id=r[0], external_id=r[1], speaker=r[2] or "",
                            is_me=bool(r[3]), timestamp=r[4], text=r[5] or "", reply_to=r[6],
                            position=r[7])
                 for r in conn.execute(
                     f"select id, external_id, speaker, is_me, timestamp, text, reply_to, "
                     f"position from messages where id in ({q}) order by position, id",
                     plan.item_ids)]
        if not participants:
            participants = list(dict.fromkeys(it.speaker for it in items if it.speaker))
        return Window(items=items, conversation_id=plan.parent_id, title=title,
                      participants=participants, me_name=me_name,
                      me_aliases=list(me_aliases or []), summary=conv_summary)
    drow = conn.execute("select title, path, created_at, modified_at from documents where id = ?",
                        [plan.parent_id]).fetchone()
    title, path, created, modified = drow if drow else ("", "", None, None)
    items = [WindowItem(kind="chunk", id=r[0], text=r[1] or "", heading=r[2] or "",
                        page=r[3], position=r[4])
             for r in conn.execute(f"select id, text, heading, page, position from chunks "
                                   f"where id in ({q}) order by position, id", plan.item_ids)]
    ref = _date_from(*(it.heading for it in items), title, path)
    if ref is None:
        d = local_date(created) or local_date(modified)
        ref = d.isoformat() if d else None
    return Window(items=items, document_id=plan.parent_id, title=title or path or "",
                  me_name=me_name, me_aliases=list(me_aliases or []), ref_date=ref)
