"""Nightly consolidation: merge duplicates, settle contradictions, write summaries and
the profile.

Steps (cancel is honoured between units; every write is one short transaction):

1. **Merge near-duplicate facts.** Active facts (not archived, still valid) whose word
   sets overlap by Jaccard ≥ ``DUP_JACCARD`` and whose numbers agree are grouped; the
   strongest (pinned first) survives. With ``MemoryOps.merge_notes`` in
   this build it does the merge; otherwise :func:`merge_into` does: the duplicates are
   archived (never deleted) with a ``merge`` history row holding their full snapshot,
   their sources and links move to the survivor, the survivor gains one strength per
   duplicate (each was a confirmation). :func:`undo_merge` reverts one merge. A note
   the person edited is left out of automatic merging.
2. **Contradictions by the time rule.** Two valid facts linked ``contradicts``, or with
   the same subject and attribute but different values (``note_slots``), cannot both be
   current: the older one gets ``valid_to`` = when the newer became true, an ``updates``
   link from the newer and an ``invalidate`` history row. Text is not touched.
3. **Summaries.** One per day (messages and facts of that date), per ISO week (its days
   and top facts) and per topic (an entity or a keyword shared by several facts). Each
   is a note of kind ``summary`` (``fact_type`` ``day`` / ``week`` / ``topic``) citing the
   notes (``note_sources.source_note_id``) and messages it rests on; its parts are linked
   to it ``part_of``. With a capable model (``sm.llm.capable``) the model writes the text
   from numbered evidence under a JSON schema (invalid citations are dropped); with the
   embedded model a deterministic template does (top facts by strength × retention,
   people, counts, keywords).
4. **Profile** (see :mod:`secondme.lifecycle.profile`): one ``profile`` note, every line
   cited.

Idempotent: each summary has a stable key in ``consolidations`` with the hash of its
inputs; unchanged input is skipped, changed input updates the note in place (version + 1,
a ``consolidate`` history row with the old text). A note with ``user_edited = 1`` keeps
its text: it is reported as ``kept_user_edited`` and left alone.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Iterable, Optional

from ..progress import CancelToken, ProgressFn, check, report

log = logging.getLogger(__name__)

DUP_JACCARD = 0.8
MAX_BLOCK_DF = 1000         # tokens shared by more notes than this do not make candidates
MIN_DAY_MESSAGES = 3
DAY_TOP_FACTS = 5
WEEK_TOP_FACTS = 5
TOPIC_MIN_FACTS = 3
TOPIC_MAX = 40
TOPIC_TOP_FACTS = 8
MAX_CITED_MESSAGES = 12
MAX_MODEL_CALLS = 40

STOPWORDS = frozenset("""a an the and or but if then so of to in on at by for with from as is
are was were be been being am do does did have has had i me my mine you your yours he him his
she her hers it its we us our they them their this that these those there here what which who
whom when where why how not no yes all any some just very really too also about again today
yesterday tomorrow now then ok okay haha lol yeah got get go going went will would can could
should shall may might must one ones than more most much many such own same other into over
under up down out off only new told tell says said like good night morning thanks thank sure
thing things see soon time way well great nice cool fine let know think""".split())

_WORD = re.compile(r"[a-z0-9][a-z0-9'’-]*")
_NUM = re.compile(r"\d+")


def words(text: str) -> list[str]:
    """Lowercase content words of ``text`` (no stop words, no 1-letter tokens)."""
    return [w for w in _WORD.findall(text.lower()) if len(w) > 1 and w not in STOPWORDS]


def _h(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _now(sm: Any) -> str:
    return sm.clock().isoformat(timespec="seconds")


NOTE_COLUMNS = ("id", "kind", "fact_type", "text", "keywords", "tags", "context", "valid_from",
                "valid_to", "created_at", "updated_at", "strength", "last_recalled",
                "retention", "pinned", "archived", "version", "user_edited", "origin")


def snapshot(conn, note_id: int) -> dict:
    """A note's columns as a dict (for history rows)."""
    row = conn.execute(f"select {', '.join(NOTE_COLUMNS)} from notes where id = ?",
                       [note_id]).fetchone()
    return dict(zip(NOTE_COLUMNS, row)) if row else {}


# -- 1. duplicates ----------------------------------------------------------------------------
def find_duplicates(conn) -> list[list[int]]:
    """Groups of near-duplicate active facts, survivor first."""
    rows = conn.execute(
        "select id, text, strength, pinned, user_edited from notes where kind = 'fact' "
        "and archived = 0 and valid_to is null and user_edited = 0").fetchall()
    if len(rows) < 2:
        return []
    toks = {}
    nums = {}
    meta = {}
    for nid, text, strength, pinned, edited in rows:
        toks[nid] = frozenset(words(text))
        nums[nid] = tuple(sorted(_NUM.findall(text)))
        meta[nid] = (pinned, edited, strength)
    slots = {}
    if conn.execute("select 1 from sqlite_master where name = 'note_slots'").fetchone():
        slots = {r[0]: (r[1], r[2], r[3]) for r in conn.execute(
            "select note_id, subject, attribute, value from note_slots")}
    postings: dict[str, list[int]] = defaultdict(list)
    for nid, ts in toks.items():
        for t in ts:
            postings[t].append(nid)
    parent = {nid: nid for nid in toks}

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    seen: set[tuple[int, int]] = set()
    for nid, ts in toks.items():
        if not ts:
            continue
        # candidates: notes sharing the rarest tokens of this note (a prefix filter:
        # Jaccard >= J requires sharing one of the |ts| - ceil(J*|ts|) + 1 rarest tokens)
        ranked = sorted(ts, key=lambda t: len(postings[t]))
        prefix = len(ranked) - int(DUP_JACCARD * len(ranked) + 0.999) + 1
        cands = set(postings[ranked[0]])
        for t in ranked[1:max(1, prefix)]:
            if len(postings[t]) <= MAX_BLOCK_DF:
                cands.update(postings[t])
        for other in cands:
            if other <= nid:
                continue
            key = (nid, other)
            if key in seen:
                continue
            seen.add(key)
            b = toks[other]
            if not b or nums[nid] != nums[other]:
                continue
            if len(ts & b) / len(ts | b) < DUP_JACCARD:
                continue
            sa, sb = slots.get(nid), slots.get(other)
            if sa and sb and sa[:2] == sb[:2] and sa[2] != sb[2]:
                continue   # same slot, other value: a contradiction, not a duplicate
            parent[find(other)] = find(nid)
    groups: dict[int, list[int]] = defaultdict(list)
    for nid in toks:
        groups[find(nid)].append(nid)
    out = []
    for members in groups.values():
        if len(members) < 2:
            continue
        members.sort(key=lambda i: (-meta[i][0], -meta[i][1], -meta[i][2], i))
        survivor, rest = members[0], [m for m in members[1:] if not meta[m][1]]
        if rest:
            out.append([survivor, *rest])
    return out


def merge_into(sm: Any, survivor: int, dups: list[int], actor: str = "consolidate") -> int:
    """Merge ``dups`` into ``survivor`` (see the module doc). Returns the survivor's
    ``merge`` history id (what :func:`undo_merge` takes)."""
    now = _now(sm)
    with sm.store.write() as db:
        c = db.conn
        before = snapshot(c, survivor)
        have = {(r[0], r[1], r[2]) for r in c.execute(
            "select message_id, chunk_id, source_note_id from note_sources where note_id = ?",
            [survivor])}
        added = []
        moved_links = []
        for d in dups:
            for m, ch, sn in c.execute("select message_id, chunk_id, source_note_id from "
                                       "note_sources where note_id = ?", [d]).fetchall():
                if (m, ch, sn) not in have and sn != survivor:
                    c.execute("insert into note_sources (note_id, message_id, chunk_id, "
                              "source_note_id) values (?, ?, ?, ?)", [survivor, m, ch, sn])
                    have.add((m, ch, sn))
                    added.append([m, ch, sn])
            for lid, src, dst, kind, weight, by, at in c.execute(
                    "select id, src_id, dst_id, kind, weight, created_by, created_at from links "
                    "where (src_id = ? or dst_id = ?)", [d, d]).fetchall():
                nsrc = survivor if src == d else src
                ndst = survivor if dst == d else dst
                if nsrc == ndst or nsrc in dups or ndst in dups:
                    continue
                cur = c.execute("insert or ignore into links (src_id, dst_id, kind, weight, "
                                "created_by, created_at) values (?, ?, ?, ?, ?, ?)",
                                [nsrc, ndst, kind, weight, by, at])
                moved_links.append({"from": [src, dst], "kind": kind, "weight": weight,
                                    "created_by": by, "created_at": at,
                                    "new": cur.lastrowid if cur.rowcount else None})
            c.execute("delete from links where src_id = ? or dst_id = ?", [d, d])
            dsnap = snapshot(c, d)
            c.execute("update notes set archived = 1 where id = ?", [d])
            c.execute("insert into history (note_id, action, before, after, actor, at) "
                      "values (?, 'merge', ?, ?, ?, ?)",
                      [d, json.dumps(dsnap), json.dumps({"archived": 1, "merged_into": survivor}),
                       actor, now])
        c.execute("update notes set strength = strength + ?, updated_at = ? where id = ?",
                  [len(dups), now, survivor])
        after = snapshot(c, survivor)
        after.update({"merged": dups, "added_sources": added, "moved_links": moved_links})
        hid = c.execute("insert into history (note_id, action, before, after, actor, at) "
                        "values (?, 'merge', ?, ?, ?, ?)",
                        [survivor, json.dumps(before), json.dumps(after), actor, now]).lastrowid
    return hid


def undo_merge(sm: Any, history_id: int) -> int:
    """Revert a merge done by :func:`merge_into` (the survivor's history id): the
    duplicates come back, the survivor loses the sources, links and strength it gained.
    Returns the survivor's id. Raises NotFound / InvalidInput."""
    from ..errors import InvalidInput, NotFound

    row = sm.store.conn.execute("select note_id, action, before, after, undone from history "
                                "where id = ?", [history_id]).fetchone()
    if row is None:
        raise NotFound(f"no history entry {history_id}")
    survivor, action, before, after, undone = row
    after = json.loads(after or "{}")
    if action != "merge" or "merged" not in after:
        raise InvalidInput(f"history entry {history_id} is not a merge of consolidation")
    if undone:
        raise InvalidInput(f"history entry {history_id} was already undone")
    before = json.loads(before)
    now = _now(sm)
    with sm.store.write() as db:
        c = db.conn
        for m, ch, sn in after["added_sources"]:
            c.execute("delete from note_sources where note_id = ? and message_id is ? and "
                      "chunk_id is ? and source_note_id is ?", [survivor, m, ch, sn])
        for link in after["moved_links"]:
            if link["new"]:
                c.execute("delete from links where id = ?", [link["new"]])
            src, dst = link["from"]
            c.execute("insert or ignore into links (src_id, dst_id, kind, weight, created_by, "
                      "created_at) values (?, ?, ?, ?, ?, ?)",
                      [src, dst, link["kind"], link["weight"], link["created_by"],
                       link["created_at"]])
        c.execute("update notes set strength = ? where id = ?", [before["strength"], survivor])
        for d in after["merged"]:
            dh = c.execute("select id, before from history where note_id = ? and action = "
                           "'merge' and undone = 0 order by id desc limit 1", [d]).fetchone()
            archived = json.loads(dh[1]).get("archived", 0) if dh else 0
            c.execute("update notes set archived = ? where id = ?", [archived, d])
            if dh:
                c.execute("update history set undone = 1 where id = ?", [dh[0]])
        c.execute("update history set undone = 1 where id = ?", [history_id])
        c.execute("insert into history (note_id, action, before, after, actor, at) values "
                  "(?, 'undo', ?, ?, 'user', ?)",
                  [survivor, json.dumps({"history_id": history_id}),
                   json.dumps({"restored": after["merged"]}), now])
    sm.hooks.emit("notes_did_change", ids=[survivor, *after["merged"]], action="undo")
    return survivor


def undo_consolidation(sm: Any, history_id: int) -> None:
    """Undo one merge or invalidation made by consolidation, whichever code made it
    (:func:`undo_merge` for ours, ``MemoryOps.undo`` for memory formation's)."""
    row = sm.store.conn.execute("select action, after from history where id = ?",
                                [history_id]).fetchone()
    if row and row[0] == "merge" and "\"added_sources\"" in (row[1] or ""):
        undo_merge(sm, history_id)
    elif callable(getattr(sm, "undo", None)):
        sm.undo(history_id)
    elif row and row[0] == "invalidate":
        with sm.store.write() as db:
            nid = db.conn.execute("select note_id from history where id = ?",
                                  [history_id]).fetchone()[0]
            db.conn.execute("update notes set valid_to = null where id = ?", [nid])
            db.conn.execute("update history set undone = 1 where id = ?", [history_id])
    else:
        undo_merge(sm, history_id)


def merge_duplicates(sm: Any, cancel: Optional[CancelToken] = None) -> dict:
    """Step 1. Returns ``{"groups", "merged", "history_ids"}``."""
    groups = find_duplicates(sm.store.conn)
    merged = 0
    hids = []
    use_memory = callable(getattr(sm, "merge_notes", None))
    for g in groups:
        check(cancel)
        if use_memory:
            try:
                sm.merge_notes(g)
                merged += len(g) - 1
                row = sm.store.conn.execute(
                    "select max(id) from history where note_id = ? and action = 'merge'",
                    [g[0]]).fetchone()
                if row and row[0]:
                    hids.append(row[0])
                continue
            except Exception as e:  # their merge refused: fall back to ours, say why
                log.info("MemoryOps.merge_notes(%s) failed (%s); merging here", g, e)
        hids.append(merge_into(sm, g[0], g[1:]))
        merged += len(g) - 1
    if groups:
        sm.hooks.emit("notes_did_change", ids=[i for g in groups for i in g], action="merge")
    return {"groups": len(groups), "merged": merged, "history_ids": hids}


# -- 2. contradictions ------------------------------------------------------------------------
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


def resolve_contradictions(sm: Any, cancel: Optional[CancelToken] = None) -> dict:
    """Step 2. Returns ``{"invalidated": n, "ids": [...]}``."""
    conn = sm.store.conn
    pairs: list[tuple[int, int]] = []
    for a, b in conn.execute(
            "select l.src_id, l.dst_id from links l join notes x on x.id = l.src_id "
            "join notes y on y.id = l.dst_id where l.kind = 'contradicts' and "
            "x.valid_to is null and y.valid_to is null and x.archived = 0 and y.archived = 0"):
        pairs.append((a, b))
    groups: dict[tuple, list[tuple]] = defaultdict(list)
    slotted: set[int] = set()
    if conn.execute("select 1 from sqlite_master where name = 'note_slots'").fetchone():
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
    if groups:
        for items in groups.values():
            if len({v for _, v in items}) > 1:
                for i in range(len(items)):
                    for j in range(i + 1, len(items)):
                        if items[i][1] != items[j][1]:
                            pairs.append((items[i][0], items[j][0]))
    invalidated: list[int] = []
    now = _now(sm)
    for a, b in pairs:
        check(cancel)
        rows = {r[0]: r for r in conn.execute(
            "select id, valid_from, created_at, valid_to from notes where id in (?, ?)", [a, b])}
        if len(rows) < 2 or rows[a][3] or rows[b][3]:
            continue
        older, newer = sorted((a, b), key=lambda i: (_when(rows[i][1], rows[i][2]), i))
        until = _when(rows[newer][1], rows[newer][2])
        with sm.store.write() as db:
            c = db.conn
            before = snapshot(c, older)
            c.execute("update notes set valid_to = ? where id = ? and valid_to is null",
                      [until, older])
            c.execute("insert or ignore into links (src_id, dst_id, kind, created_by, "
                      "created_at) values (?, ?, 'updates', 'auto', ?)", [newer, older, now])
            c.execute("insert into history (note_id, action, before, after, actor, at) values "
                      "(?, 'invalidate', ?, ?, 'consolidate', ?)",
                      [older, json.dumps(before),
                       json.dumps({"valid_to": until, "superseded_by": newer}), now])
        invalidated.append(older)
    if invalidated:
        sm.hooks.emit("notes_did_change", ids=invalidated, action="invalidate")
    return {"invalidated": len(invalidated), "ids": invalidated}


# -- 3. summaries -----------------------------------------------------------------------------
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


def _top(facts: Iterable[Fact], n: int) -> list[Fact]:
    return sorted(facts, key=lambda f: (-f.score, f.id))[:n]


def _join_names(names: list[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def _model_text(llm: Any, instruction: str, evidence: list[str], budget: list[int],
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
    except Exception as e:  # noqa: BLE001 - a bad model answer falls back to the template
        from ..errors import Cancelled

        if isinstance(e, Cancelled):
            raise
        log.info("model summary unusable (%s); using the template", e)
        return None
    if not text or not idx:
        return None
    return text, idx


def build_day_summaries(conn, facts: dict[int, Fact], me_name: str, llm: Any,
                        budget: list[int], cancel: Optional[CancelToken]) -> list[Built]:
    """One summary per day with at least ``MIN_DAY_MESSAGES`` messages or one fact."""
    days: dict[str, dict] = defaultdict(lambda: {"messages": [], "people": Counter(),
                                                 "convs": set(), "words": Counter()})
    for mid, ts, speaker, is_me, conv, text, title in conn.execute(
            "select m.id, m.timestamp, m.speaker, m.is_me, m.conversation_id, m.text, c.title "
            "from messages m join conversations c on c.id = m.conversation_id "
            "where m.kind = 'message' and m.timestamp is not null order by m.ts"):
        d = days[ts[:10]]
        d["messages"].append((mid, is_me, conv, text))
        if not is_me and speaker:
            d["people"][speaker] += 1
        d["convs"].add(conv)
        d["words"].update(set(words(text)))
    by_day: dict[str, list[Fact]] = defaultdict(list)
    for f in facts.values():
        if f.day:
            by_day[f.day].append(f)
    df = Counter()
    for d in days.values():
        df.update(d["words"].keys())
    n_days = max(1, len(days))
    out = []
    for day in sorted(set(days) | set(by_day)):
        check(cancel)
        d = days.get(day) or {"messages": [], "people": Counter(), "convs": set(),
                              "words": Counter()}
        day_facts = _top(by_day.get(day, []), DAY_TOP_FACTS)
        if len(d["messages"]) < MIN_DAY_MESSAGES and not day_facts:
            continue
        try:
            weekday = date.fromisoformat(day).strftime("%A")
        except ValueError:
            continue
        people = [p for p, _ in d["people"].most_common(4)]
        # keywords: frequent that day, rare over the whole history (tf-idf)
        import math

        kw = sorted(((c * math.log(1 + n_days / df[w]), w) for w, c in d["words"].items()
                     if c >= 2 and not w.isdigit()), reverse=True)
        keywords = [w for _, w in kw[:5]]
        cited = [f.id for f in day_facts]
        msgs: list[int] = []
        for f in day_facts:
            msgs.extend(f.messages[:2])
        kwset = set(keywords)
        for mid, is_me, conv, text in d["messages"]:
            if len(msgs) >= MAX_CITED_MESSAGES:
                break
            if kwset & set(words(text)) and mid not in msgs:
                msgs.append(mid)
        if not msgs and d["messages"]:
            msgs = [m[0] for m in d["messages"][:3]]
        lead = f"{day} ({weekday}): "
        n = len(d["messages"])
        if n:
            talk = f"talked with {_join_names(people)}" if people else "only you wrote"
            lead += f"{talk} ({n} message{'s' * (n != 1)} in {len(d['convs'])} " \
                    f"conversation{'s' * (len(d['convs']) != 1)})."
        parts = [lead]
        if keywords:
            parts.append("Topics: " + ", ".join(keywords) + ".")
        if day_facts:
            parts.append("Noted: " + " ".join(f"• {f.text.rstrip('.')}." for f in day_facts))
        text = " ".join(parts)
        method = "template"
        hash_in = _h("day", day, n, sorted(d["people"].items()), [(f.id, f.text)
                                                                    for f in day_facts], msgs)
        if llm is not None and day_facts:
            ev = [f.text for f in day_facts]
            got = _model_text(llm, f"Summarise the day {day} of {me_name or 'the user'} in "
                                   "two sentences.", ev, budget, cancel)
            if got:
                text, idx = got
                text = f"{day} ({weekday}): {text}"
                cited = [day_facts[i].id for i in idx]
                method = "model"
        out.append(Built(f"day:{day}", "summary", "day", text, notes=cited, messages=msgs,
                         parts=[f.id for f in day_facts], valid_from=day,
                         keywords=" ".join(keywords + [p.lower() for p in people]),
                         method=method, input_hash=hash_in))
    return out


def build_week_summaries(days: list[Built], day_ids: dict[str, int], facts: dict[int, Fact],
                         llm: Any, budget: list[int],
                         cancel: Optional[CancelToken]) -> list[Built]:
    """One summary per ISO week, resting on its day summaries and top facts."""
    weeks: dict[str, list[Built]] = defaultdict(list)
    for b in days:
        y, w, _ = date.fromisoformat(b.valid_from).isocalendar()
        weeks[f"{y}-W{w:02d}"].append(b)
    out = []
    for week, members in sorted(weeks.items()):
        check(cancel)
        members.sort(key=lambda b: b.valid_from)
        first = date.fromisoformat(members[0].valid_from)
        monday = first - timedelta(days=first.weekday())
        sunday = monday + timedelta(days=6)
        wfacts = _top((facts[i] for b in members for i in b.parts if i in facts),
                      WEEK_TOP_FACTS)
        people = Counter()
        for b in members:
            m = re.search(r"talked with (.+?) \(", b.text)
            if m:
                for p in re.split(r", | and ", m.group(1)):
                    people[p] += 1
        text = (f"Week {week} ({monday:%d %b} – {sunday:%d %b %Y}): {len(members)} active "
                f"day{'s' * (len(members) != 1)}")
        if people:
            text += "; mostly with " + _join_names([p for p, _ in people.most_common(3)])
        text += "."
        if wfacts:
            text += " Highlights: " + " ".join(f"• {f.text.rstrip('.')}." for f in wfacts)
        cited = [day_ids[b.key] for b in members if b.key in day_ids] + [f.id for f in wfacts]
        msgs = [m for f in wfacts for m in f.messages[:1]][:MAX_CITED_MESSAGES]
        method = "template"
        hash_in = _h("week", week, [(b.key, b.input_hash) for b in members],
                     [f.id for f in wfacts])
        if llm is not None and wfacts:
            ev = [b.text for b in members] + [f.text for f in wfacts]
            got = _model_text(llm, f"Summarise week {week} in three sentences.", ev, budget,
                              cancel)
            if got:
                body, idx = got
                text = f"Week {week}: {body}"
                srcs = [day_ids.get(b.key) for b in members] + [f.id for f in wfacts]
                cited = [srcs[i] for i in idx if srcs[i] is not None]
                method = "model"
        out.append(Built(f"week:{week}", "summary", "week", text, notes=cited, messages=msgs,
                         parts=[day_ids[b.key] for b in members if b.key in day_ids],
                         valid_from=monday.isoformat(), method=method, input_hash=hash_in))
    return out


def _topics(conn, facts: dict[int, Fact]) -> list[tuple[str, str, list[int]]]:
    """(key, label, fact ids) for entities / keywords shared by ≥ TOPIC_MIN_FACTS facts."""
    topics: list[tuple[str, str, list[int]]] = []
    covered: set[str] = set()
    has_entities = conn.execute("select count(*) from entity_mentions where note_id is not "
                                "null").fetchone()[0]
    if has_entities:
        ent_facts: dict[int, list[int]] = defaultdict(list)
        names = {}
        for eid, name, kind, is_me in conn.execute(
                "select id, name, kind, is_me from entities"):
            names[eid] = (name, kind, is_me)
        for eid, nid in conn.execute("select entity_id, note_id from entity_mentions "
                                     "where note_id is not null"):
            if nid in facts:
                ent_facts[eid].append(nid)
        for eid, ids in ent_facts.items():
            name, kind, is_me = names.get(eid, ("", "", 0))
            if len(ids) >= TOPIC_MIN_FACTS and name and not is_me:
                topics.append((f"topic:{kind}:{name.lower()}", name, sorted(set(ids))))
                covered.add(name.lower())
    kw_facts: dict[str, list[int]] = defaultdict(list)
    for f in facts.values():
        # names in the text, and keywords that occur in the text itself (a merged
        # note's keywords are the union of its parts')
        low = set(words(f.text))
        terms = {w.lower() for w in re.findall(r"\b[A-Z][a-z]{2,}\b", f.text)} | {
            k for k in f.keywords.lower().split() if k in low}
        for t in terms - STOPWORDS:
            kw_facts[t].append(f.id)
    for term, ids in kw_facts.items():
        if len(ids) >= TOPIC_MIN_FACTS and term not in covered and \
                (len(facts) < 20 or len(ids) < 0.5 * len(facts)):
            topics.append((f"topic:keyword:{term}", term.capitalize(), sorted(ids)))
    topics.sort(key=lambda t: (-len(t[2]), t[0]))
    return topics[:TOPIC_MAX]


def build_topic_summaries(conn, facts: dict[int, Fact], llm: Any, budget: list[int],
                          cancel: Optional[CancelToken]) -> list[Built]:
    """One summary per topic (entity or keyword shared by several facts)."""
    out = []
    for key, label, ids in _topics(conn, facts):
        check(cancel)
        top = _top((facts[i] for i in ids), TOPIC_TOP_FACTS)
        top.sort(key=lambda f: (f.day or "", f.id))
        days = [f.day for f in top if f.day]
        span = f" ({days[0]} – {days[-1]})" if days and days[0] != days[-1] else ""
        text = (f"About {label}{span}, {len(ids)} memories: " +
                " ".join(f"• {f.text.rstrip('.')}." for f in top))
        method = "template"
        cited = [f.id for f in top]
        hash_in = _h("topic", key, [(f.id, f.text) for f in top], len(ids))
        if llm is not None:
            got = _model_text(llm, f"Summarise what is known about {label} in two sentences.",
                              [f.text for f in top], budget, cancel)
            if got:
                body, idx = got
                text = f"About {label}: {body}"
                cited = [top[i].id for i in idx]
                method = "model"
        msgs = [m for f in top for m in f.messages[:1]][:MAX_CITED_MESSAGES]
        out.append(Built(key, "summary", "topic", text, notes=cited, messages=msgs,
                         parts=[f.id for f in top], keywords=label.lower(), method=method,
                         input_hash=hash_in))
    return out


# -- writing ----------------------------------------------------------------------------------
def upsert(sm: Any, b: Built, capable: bool) -> tuple[str, int]:
    """Create or update the note for ``b``. Returns (action, note id), action one of
    ``created``, ``updated``, ``unchanged``, ``kept_user_edited``."""
    conn = sm.store.conn
    row = conn.execute("select c.note_id, c.input_hash, c.method, n.user_edited, n.text "
                       "from consolidations c left join notes n on n.id = c.note_id "
                       "where c.key = ?", [b.key]).fetchone()
    now = _now(sm)
    chash = hashlib.sha256(b.text.encode()).hexdigest()
    if row is not None and row[0] is not None and row[4] is not None:
        nid, old_hash, old_method, edited, old_text = row
        redo_with_model = capable and old_method != "model" and b.method == "model"
        if old_hash == b.input_hash and not redo_with_model:
            return "unchanged", nid
        if edited:
            return "kept_user_edited", nid
        with sm.store.write() as db:
            c = db.conn
            before = snapshot(c, nid)
            if old_text != b.text:
                c.execute("update notes set text = ?, keywords = ?, updated_at = ?, "
                          "version = version + 1, content_hash = ?, valid_from = ? where id = ?",
                          [b.text, b.keywords, now, chash, b.valid_from, nid])
            _write_links(c, nid, b, now)
            c.execute("update consolidations set input_hash = ?, method = ?, lines = ?, "
                      "updated_at = ? where key = ?",
                      [b.input_hash, b.method, json.dumps(b.lines), now, b.key])
            if old_text != b.text:
                c.execute("insert into history (note_id, action, before, after, actor, at) "
                          "values (?, 'consolidate', ?, ?, 'consolidate', ?)",
                          [nid, json.dumps(before), json.dumps(snapshot(c, nid)), now])
        if old_text != b.text:
            _forget_vector(sm, nid)
        return "updated", nid
    with sm.store.write() as db:
        c = db.conn
        nid = c.execute(
            "insert into notes (kind, fact_type, text, keywords, valid_from, created_at, "
            "updated_at, origin, content_hash) values (?, ?, ?, ?, ?, ?, ?, 'consolidate', ?)",
            [b.kind, b.fact_type, b.text, b.keywords, b.valid_from, now, now, chash]).lastrowid
        _write_links(c, nid, b, now)
        c.execute("insert or replace into consolidations (key, note_id, input_hash, method, "
                  "lines, updated_at) values (?, ?, ?, ?, ?, ?)",
                  [b.key, nid, b.input_hash, b.method, json.dumps(b.lines), now])
        c.execute("insert into history (note_id, action, before, after, actor, at) values "
                  "(?, 'create', null, ?, 'consolidate', ?)",
                  [nid, json.dumps(snapshot(c, nid)), now])
    return "created", nid


def _write_links(c, nid: int, b: Built, now: str) -> None:
    """Replace the note's sources and its automatic part_of links with ``b``'s."""
    c.execute("delete from note_sources where note_id = ?", [nid])
    c.executemany("insert or ignore into note_sources (note_id, source_note_id) values (?, ?)",
                  [(nid, n) for n in dict.fromkeys(b.notes) if n != nid])
    c.executemany("insert or ignore into note_sources (note_id, message_id) values (?, ?)",
                  [(nid, m) for m in dict.fromkeys(b.messages)])
    c.execute("delete from links where dst_id = ? and kind = 'part_of' and created_by = 'auto'",
              [nid])
    c.executemany("insert or ignore into links (src_id, dst_id, kind, created_by, created_at) "
                  "values (?, ?, 'part_of', 'auto', ?)",
                  [(p, nid, now) for p in dict.fromkeys(b.parts) if p != nid])


def _forget_vector(sm: Any, nid: int) -> None:
    """A changed note's old vector must go; the next indexing embeds the new text."""
    from ..indexing import forget_items

    forget_items(sm.store, sm._vectors, "note", [nid])


def capable_llm(sm: Any) -> Any:
    """``sm.llm`` when it is a capable model, else None (never raises)."""
    try:
        llm = sm.llm
    except Exception as e:  # noqa: BLE001 - no model configured: deterministic path
        log.info("no LLM for consolidation (%s); using templates", e)
        return None
    return llm if getattr(llm, "capable", False) else None


def run_consolidate(sm: Any, progress: Optional[ProgressFn] = None,
                    cancel: Optional[CancelToken] = None) -> dict:
    """The ``consolidate`` job (see the module doc). Returns counts per step."""
    from .profile import build_profile

    stages = 6
    report(progress, "consolidate", 0, stages, "merging duplicates")
    merged = merge_duplicates(sm, cancel)
    report(progress, "consolidate", 1, stages, "contradictions")
    contra = resolve_contradictions(sm, cancel)
    llm = capable_llm(sm)
    budget = [MAX_MODEL_CALLS]
    conn = sm.store.conn
    facts = load_facts(conn)
    counts: Counter = Counter()
    changed: list[int] = []

    def write(items: list[Built]) -> dict[str, int]:
        ids = {}
        for b in items:
            check(cancel)
            action, nid = upsert(sm, b, llm is not None)
            counts[f"{b.fact_type}_{action}"] += 1
            if action in ("created", "updated"):
                changed.append(nid)
            ids[b.key] = nid
        return ids

    report(progress, "consolidate", 2, stages, "day summaries")
    days = build_day_summaries(conn, facts, sm.settings.me_name, llm, budget, cancel)
    day_ids = write(days)
    report(progress, "consolidate", 3, stages, "week summaries")
    write(build_week_summaries(days, day_ids, facts, llm, budget, cancel))
    report(progress, "consolidate", 4, stages, "topic summaries")
    write(build_topic_summaries(conn, facts, llm, budget, cancel))
    report(progress, "consolidate", 5, stages, "profile")
    profile = build_profile(sm, facts, llm, budget, cancel)
    profile_id = None
    if profile is not None:
        profile_id = write([profile])[profile.key]
    if changed:
        sm.hooks.emit("notes_did_change", ids=changed, action="consolidate")
        if getattr(sm, "embedder_loaded", False):
            try:
                sm.index_pending(cancel=cancel)
            except Exception as e:  # noqa: BLE001 - the extract job indexes them later
                log.info("indexing summaries deferred: %s", e)
    report(progress, "consolidate", stages, stages)
    return {"merged": merged["merged"], "merge_groups": merged["groups"],
            "invalidated": contra["invalidated"], "facts": len(facts),
            "summaries": dict(sorted(counts.items())), "profile_id": profile_id,
            "model_calls": MAX_MODEL_CALLS - budget[0], "method": "model" if llm else "template"}
