"""Step 1 of consolidation: merge near-duplicate facts.

Active facts (not archived, still valid, never edited by the person) whose content
words overlap by Jaccard ≥ ``DUP_JACCARD`` and whose numbers agree are grouped; two
facts with the same slot (subject, attribute) but different values are a contradiction
(step 2), never duplicates. Exact duplicates — the same ``content_hash`` and slot — are
grouped first, and only one of them is compared with the rest. The strongest of a group
(pinned first) survives and absorbs the others by the one merge of
:mod:`secondme.memory.notes.merge` (they are archived, and the merge can be undone).
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
from .common import words

DUP_JACCARD = 0.8
MAX_BLOCK_DF = 1000         # tokens shared by more notes than this do not make candidates

_NUM = re.compile(r"\d+")


class _Groups:
    """Union-find over note ids."""

    def __init__(self, ids):
        self.parent = {i: i for i in ids}

    def find(self, x: int) -> int:
        parent = self.parent
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        self.parent[self.find(b)] = self.find(a)


def find_duplicates(conn) -> list[list[int]]:
    """Groups of near-duplicate active facts, survivor first."""
    rows = conn.execute(
        "select id, text, strength, pinned, content_hash from notes where kind = 'fact' "
        "and archived = 0 and valid_to is null and user_edited = 0").fetchall()
    if len(rows) < 2:
        return []
    slots = {r[0]: (r[1], r[2], r[3]) for r in conn.execute(
        "select note_id, subject, attribute, value from note_slots")}
    toks, nums, rank, same_as = {}, {}, {}, {}
    first_with: dict[tuple, int] = {}
    for nid, text, strength, pinned, chash in rows:
        toks[nid] = frozenset(words(text))
        nums[nid] = tuple(sorted(_NUM.findall(text)))
        rank[nid] = (-pinned, -strength, nid)
        key = (chash, slots.get(nid))
        # an exact duplicate is compared through the first note with its hash and slot
        same_as[nid] = first_with.setdefault(key, nid) if chash and toks[nid] else nid
    lowest: dict[int, int] = {}
    highest: dict[int, int] = {}
    for nid, rep in same_as.items():
        lowest[rep] = min(lowest.get(rep, nid), nid)
        highest[rep] = max(highest.get(rep, nid), nid)
    postings: dict[str, list[int]] = defaultdict(list)
    for nid, ts in toks.items():
        for t in ts:
            postings[t].append(nid)
    groups = _Groups(toks)
    seen: set[tuple[int, int]] = set()
    for nid, ts in toks.items():
        if same_as[nid] != nid:
            groups.union(same_as[nid], nid)
            continue
        if not ts:
            continue
        # candidates: notes sharing the rarest tokens of this note (a prefix filter:
        # Jaccard >= J requires sharing one of the |ts| - ceil(J*|ts|) + 1 rarest tokens);
        # a pair is looked at from its lower id's side
        ranked = sorted(ts, key=lambda t: len(postings[t]))
        prefix = len(ranked) - int(DUP_JACCARD * len(ranked) + 0.999) + 1
        cands = set(postings[ranked[0]])
        for t in ranked[1:max(1, prefix)]:
            if len(postings[t]) <= MAX_BLOCK_DF:
                cands.update(postings[t])
        for other in {same_as[c] for c in cands}:
            pair = (min(nid, other), max(nid, other))
            if other == nid or highest[other] <= lowest[nid] or pair in seen:
                continue
            seen.add(pair)
            b = toks[other]
            if not b or nums[nid] != nums[other]:
                continue
            if len(ts & b) / len(ts | b) < DUP_JACCARD:
                continue
            sa, sb = slots.get(nid), slots.get(other)
            if sa and sb and sa[:2] == sb[:2] and sa[2] != sb[2]:
                continue   # same slot, other value: a contradiction, not a duplicate
            groups.union(nid, other)
    members: dict[int, list[int]] = defaultdict(list)
    for nid in toks:
        members[groups.find(nid)].append(nid)
    return [sorted(m, key=rank.__getitem__) for m in members.values() if len(m) > 1]


def merge_duplicates(store: Store, *, clock: Callable[[], datetime], hooks: Hooks,
                     cancel: Optional[CancelToken] = None) -> dict:
    """Step 1: find the groups and merge each in its own transaction (actor
    ``consolidate``). Announces ``notes_did_change(ids, action="merge")``. Returns
    ``{"groups", "merged", "history_ids"}`` (the survivors' ``merge`` entries)."""
    groups = find_duplicates(store.conn)
    merged = 0
    hids = []
    for g in groups:
        check(cancel)
        with store.write() as db:
            hids.append(N.merge(db.conn, g[0], g[1:], actor="consolidate",
                                at=clock().isoformat(timespec="seconds")))
        merged += len(g) - 1
    if groups:
        hooks.emit("notes_did_change", ids=[i for g in groups for i in g], action="merge")
    return {"groups": len(groups), "merged": merged, "history_ids": hids}
