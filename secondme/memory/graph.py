"""The graph view's data: the neighbourhood of a memory or a person.

Two shapes:

- :func:`neighbourhood` — everything within ``depth`` links, breadth first, strongest
  links first, capped at ``limit`` nodes (the raw data: exports, tools).
- :func:`overview` — what a person can read at a glance (issue 16): the centre, its
  strongest memories one by one, the people and places that come up with it, and the
  rest **grouped by period** ("14 more · 2023") instead of drawn; among the memories shown
  only each one's strongest links. About 40 nodes at most whatever the store's size.

Entities whose name is an ordinary word that happened to start a sentence ("Glad Tom",
"Appreciate Nina", "Problem", "Work") are not shown (:func:`displayable`): formation
records them, the graph and the people pickers leave them out.

Every step is an indexed query bounded by the caps, so the cost depends on the caps,
not on the size of the store. Read-only; callable from any thread with its own
connection.
"""
from __future__ import annotations

import re
import sqlite3
from collections import Counter, deque
from datetime import date
from typing import Iterable, Optional

from ..api import Graph, GraphEdge, GraphNode
from ..errors import InvalidInput, NotFound
from .text import STOPWORDS

#: the most nodes an overview has (centre, memories, people and places, groups)
OVERVIEW_MAX = 40
#: individual memories around the centre (the rest is grouped); fewer at depth ≥ 2,
#: which leaves room for the strongest memories one link further away
OVERVIEW_NOTES = 22
OVERVIEW_NOTES_DEEP = 14
#: people, places and organisations shown around the centre
OVERVIEW_ENTITIES = 8
#: groups of the remaining memories (by period)
OVERVIEW_GROUPS = 6
#: at depth ≥ 2: the strongest further links followed from each memory shown
SECOND_RING = 2
#: links drawn per memory among the memories shown (the strongest)
LINKS_PER_NOTE = 2
#: the most members a group lists (its count is exact)
GROUP_MEMBERS = 500

#: words that start chat sentences and get capitalised there; an entity whose name
#: starts with one of them is only shown when the corpus uses it as a name mid-sentence
COMMON_WORDS = STOPWORDS | frozenset("""
glad appreciate appreciated problem problems work working meeting meetings weather contract
understood landlady landlord hope hoping love loved miss missed happy sad congrats
congratulations sorry thanks thank great awesome perfect amazing lovely sweet poor lucky
welcome remember remind tell told ask asked call called meet met saw seen look looking
watch watched guess wait waiting hey hi hello dear morning evening night lunch dinner
breakfast coffee tea work home office job boss doctor school class plan plans trip
flight train bus car news story idea question answer reply note update thing stuff
definitely absolutely exactly honestly seriously totally agreed agree same true false
bad best better worse worst big small little new old first last next early late soon
interesting funny crazy weird strange hard easy busy tired sick fine ready sure cheers
bye goodnight goodbye also anyway still even only just already maybe perhaps
""".split())

_SENTENCE_END = re.compile(r"[.!?:;…\n]\s*$")


# -- which entities a person should see ---------------------------------------------------
def _case_counts(conn: sqlite3.Connection, word: str, phrase: str) -> tuple[int, int]:
    """(lowercase uses of ``word``, mid-sentence capitalised uses of ``phrase``) in
    up to 200 messages and 100 document passages that contain ``word``."""
    lower = mid = 0
    pat_word = re.compile(rf"(?<![\w'’-]){re.escape(word)}(?![\w'’-])", re.IGNORECASE)
    pat_phrase = re.compile(rf"(?<![\w'’-]){re.escape(phrase)}(?![\w'’-])")
    q = '"' + word.replace('"', '""') + '"'
    texts: list[str] = []
    for sql, cap in (("select m.text from messages_fts f join messages m on m.id = f.rowid "
                      "where messages_fts match ? limit ?", 200),
                     ("select c.text from chunks_fts f join chunks c on c.id = f.rowid "
                      "where chunks_fts match ? limit ?", 100)):
        try:
            texts += [r[0] for r in conn.execute(sql, [q, cap])]
        except sqlite3.OperationalError:  # a word FTS cannot parse: no evidence
            pass
    for text in texts:
        for m in pat_word.finditer(text):
            if m.group(0).islower():
                lower += 1
        for m in pat_phrase.finditer(text):
            before = text[:m.start()]
            if before.strip() and not _SENTENCE_END.search(before):
                mid += 1
    return lower, mid


def displayable(conn: sqlite3.Connection, name: str, *, is_me: bool = False,
                speakers: Optional[set[str]] = None, cache: Optional[dict] = None) -> bool:
    """Whether entity ``name`` reads as a name and not as an ordinary word that started a
    sentence ("Glad Tom", "Problem"). A speaker of the chats and "me" always are.

    Evidence from the person's own data: the first word of the name is an ordinary word
    when the chats use it in lower case (or it is in :data:`COMMON_WORDS`); such a name
    is kept only if it is written capitalised in the middle of a sentence (twice for a
    one-word name: "with Will", "in New York")."""
    name = " ".join((name or "").split())
    if is_me:
        return True
    if len(name) < 2 or not any(ch.isalpha() for ch in name):
        return False
    if speakers is not None and name.lower() in speakers:
        return True
    if cache is not None and name in cache:
        return cache[name]
    parts = name.split()
    first = parts[0].strip("@.'’-").lower()
    lower, mid = _case_counts(conn, first, name) if first else (0, 0)
    common = first in COMMON_WORDS or lower >= 1
    need = 2 if len(parts) == 1 else 1
    ok = not common or mid >= need
    if cache is not None:
        cache[name] = ok
    return ok


def speaker_names(conn: sqlite3.Connection) -> set[str]:
    """The distinct speakers of the imported chats, lower-cased."""
    return {str(r[0]).strip().lower() for r in
            conn.execute("select distinct speaker from messages where speaker != ''")}


def filter_displayable(conn: sqlite3.Connection, entities: Iterable, *,
                       cache: Optional[dict] = None) -> list:
    """The entities (anything with ``name`` and ``is_me``) that :func:`displayable` keeps."""
    speakers = speaker_names(conn)
    cache = {} if cache is None else cache
    return [e for e in entities
            if displayable(conn, e.name, is_me=e.is_me, speakers=speakers, cache=cache)]


# -- the raw neighbourhood ----------------------------------------------------------------
def neighbourhood(conn: sqlite3.Connection, *, note_id: Optional[int] = None,
                  entity_id: Optional[int] = None, depth: int = 1,
                  limit: int = 300) -> Graph:
    """Everything within ``depth`` links of a note or an entity, breadth first, at most
    ``limit`` nodes (``truncated`` says when more existed); strongest links first.
    Raises NotFound / InvalidInput."""
    if (note_id is None) == (entity_id is None):
        raise InvalidInput("give exactly one of note_id or entity_id")
    depth = max(0, min(int(depth), 4))
    limit = max(1, min(int(limit), 5000))
    nodes: dict[str, GraphNode] = {}
    edges: dict[tuple, GraphEdge] = {}
    truncated = False
    frontier: deque[tuple[int, int]] = deque()

    def add_note(nid: int, d: int) -> bool:
        nonlocal truncated
        key = f"n{nid}"
        if key in nodes:
            return True
        if len(nodes) >= limit:
            truncated = True
            return False
        r = conn.execute("select text, kind, strength from notes where id = ?",
                         [nid]).fetchone()
        if r is None:
            return False
        nodes[key] = GraphNode(id=key, type="note", label=r[0][:120], kind=r[1],
                               weight=r[2], depth=d)
        frontier.append((nid, d))
        return True

    if entity_id is not None:
        e = conn.execute("select name, kind from entities where id = ?",
                         [entity_id]).fetchone()
        if e is None:
            raise NotFound(f"entity {entity_id} does not exist", item="entity")
        nodes[f"e{entity_id}"] = GraphNode(id=f"e{entity_id}", type="entity", label=e[0],
                                           kind=e[1], depth=0)
        for (nid,) in conn.execute(
                "select m.note_id from entity_mentions m join notes n on n.id = m.note_id "
                "where m.entity_id = ? and n.archived = 0 order by n.strength desc, n.id desc "
                "limit ?", [entity_id, limit + 1]).fetchall():
            if add_note(nid, 1):
                edges[(f"e{entity_id}", f"n{nid}", "mentions")] = GraphEdge(
                    f"e{entity_id}", f"n{nid}", "mentions", 1.0)
        start_depth_limit = depth + 1
    else:
        if conn.execute("select 1 from notes where id = ?", [note_id]).fetchone() is None:
            raise NotFound(f"note {note_id} does not exist", item="memory")
        add_note(int(note_id), 0)
        start_depth_limit = depth
    while frontier:
        nid, d = frontier.popleft()
        if d >= start_depth_limit:
            continue
        for src, dst, kind, weight in _links_of(conn, nid, limit):
            other = dst if src == nid else src
            if add_note(other, d + 1):
                edges[(f"n{src}", f"n{dst}", kind)] = GraphEdge(f"n{src}", f"n{dst}", kind,
                                                               weight)
    ids = [int(k[1:]) for k, n in nodes.items() if n.type == "note"]
    for e in _links_among(conn, ids, limit * 4):
        edges.setdefault((e.src, e.dst, e.kind), e)
    return Graph(nodes=list(nodes.values()), edges=list(edges.values()), truncated=truncated)


def _links_of(conn: sqlite3.Connection, nid: int, limit: int) -> list[tuple]:
    """A note's links (both directions), those a person made first, then strongest."""
    return conn.execute(
        "select src_id, dst_id, kind, weight from (select src_id, dst_id, kind, weight, "
        "created_by from links where src_id = ? union all select src_id, dst_id, kind, "
        "weight, created_by from links where dst_id = ?) order by created_by = 'user' desc, "
        "weight desc limit ?", [nid, nid, limit]).fetchall()


def _links_among(conn: sqlite3.Connection, ids: list[int], limit: int) -> list[GraphEdge]:
    if len(ids) < 2:
        return []
    q = ",".join("?" * len(ids))
    return [GraphEdge(f"n{s}", f"n{d}", k, w) for s, d, k, w in conn.execute(
        f"select src_id, dst_id, kind, weight from links where src_id in ({q}) and "
        f"dst_id in ({q}) order by weight desc limit ?", [*ids, *ids, limit])]


# -- the readable overview ----------------------------------------------------------------
_NOTE_SQL = ("select n.id, n.kind, n.text, n.strength, n.pinned, "
             "coalesce(n.valid_from, n.created_at) from notes n ")


def _note_node(r: tuple, depth: int) -> GraphNode:
    return GraphNode(id=f"n{r[0]}", type="note", label=" ".join(r[2].split())[:160],
                     kind=r[1], weight=float(r[3] or 1.0), depth=depth)


def _rank_notes(rows: list[tuple]) -> list[tuple]:
    """Pinned first, then profiles and summaries, then strongest, then most recent."""
    prio = {"profile": 2, "summary": 1}
    return sorted(rows, key=lambda r: (-int(r[4] or 0), -prio.get(r[1], 0),
                                       -float(r[3] or 0), str(r[5] or "")), reverse=False)


def overview(conn: sqlite3.Connection, *, note_id: Optional[int] = None,
             entity_id: Optional[int] = None, depth: int = 1,
             expand: Optional[str] = None) -> Graph:
    """A readable neighbourhood (see the module doc) of a note or an entity.

    ``expand``: the id of one group (``"g:2023"``) whose memories are shown one by one
    instead. ``truncated`` is True when memories further away were left out (depth ≥ 2).
    Raises NotFound / InvalidInput."""
    if (note_id is None) == (entity_id is None):
        raise InvalidInput("give exactly one of note_id or entity_id")
    depth = max(1, min(int(depth), 3))
    cache: dict = {}
    speakers = speaker_names(conn)
    nodes: dict[str, GraphNode] = {}
    edges: dict[tuple, GraphEdge] = {}
    if entity_id is not None:
        centre, around, ents = _entity_centre(conn, int(entity_id))
    else:
        centre, around, ents = _note_centre(conn, int(note_id))
    nodes[centre.id] = centre
    # around a memory its links' order counts (the person's first, then strongest)
    ranked = _rank_notes(around) if centre.type == "entity" else around
    first_ring = OVERVIEW_NOTES if depth == 1 else OVERVIEW_NOTES_DEEP
    shown, rest = ranked[:first_ring], ranked[first_ring:]
    groups = _group_by_period(rest)
    if expand is not None and expand in groups:
        members = set(groups.pop(expand)[1])
        picked = [r for r in rest if r[0] in members][:first_ring]
        shown += picked
        taken = {r[0] for r in picked}
        groups = _group_by_period([r for r in rest if r[0] not in taken])
    edge_kind = "mentions" if centre.type == "entity" else "related"
    for r in shown:
        nodes[f"n{r[0]}"] = _note_node(r, 1)
        edges[(centre.id, f"n{r[0]}", edge_kind)] = GraphEdge(centre.id, f"n{r[0]}",
                                                              edge_kind, 1.0)
    if centre.type == "note":  # the real kinds and weights of the centre's links
        for e in _links_among(conn, [int(centre.id[1:]), *[r[0] for r in shown]], 2000):
            if centre.id in (e.src, e.dst):
                other = e.dst if e.src == centre.id else e.src
                edges.pop((centre.id, other, "related"), None)
                edges[(e.src, e.dst, e.kind)] = e
    for gid, (label, members, since, until) in groups.items():
        nodes[gid] = GraphNode(id=gid, type="group", label=label, kind="group",
                               weight=float(len(members)), depth=1, count=len(members),
                               members=members[:GROUP_MEMBERS], since=since, until=until)
        edges[(centre.id, gid, "group")] = GraphEdge(centre.id, gid, "group",
                                                     float(len(members)))
    shown_ids = [r[0] for r in shown]
    _add_entities(conn, nodes, edges, centre, ents, shown_ids, speakers, cache)
    truncated = False
    if depth >= 2:
        truncated = _second_ring(conn, nodes, edges, shown_ids, depth)
    note_ids = [int(k[1:]) for k, n in nodes.items() if n.type == "note"]
    _strongest_links(edges, _links_among(conn, note_ids, 4000), centre.id)
    return Graph(nodes=list(nodes.values()), edges=list(edges.values()), truncated=truncated)


def _entity_centre(conn: sqlite3.Connection, entity_id: int):
    e = conn.execute("select name, kind, is_me from entities where id = ?",
                     [entity_id]).fetchone()
    if e is None:
        raise NotFound(f"entity {entity_id} does not exist", item="entity")
    centre = GraphNode(id=f"e{entity_id}", type="entity", label=e[0], kind=e[1], depth=0)
    around = conn.execute(
        _NOTE_SQL + "join entity_mentions m on m.note_id = n.id where m.entity_id = ? and "
        "n.archived = 0 group by n.id order by n.strength desc, n.id desc limit 5000",
        [entity_id]).fetchall()
    ents = conn.execute(
        "select e.id, e.name, e.kind, e.is_me, count(*) as c from entity_mentions m1 "
        "join entity_mentions m2 on m2.note_id = m1.note_id and m2.entity_id != m1.entity_id "
        "join entities e on e.id = m2.entity_id join notes n on n.id = m1.note_id "
        "where m1.entity_id = ? and n.archived = 0 group by e.id order by c desc, e.id "
        "limit 60", [entity_id]).fetchall()
    return centre, around, ents


def _note_centre(conn: sqlite3.Connection, note_id: int):
    r = conn.execute(_NOTE_SQL + "where n.id = ?", [note_id]).fetchone()
    if r is None:
        raise NotFound(f"note {note_id} does not exist", item="memory")
    centre = _note_node(r, 0)
    centre.depth = 0
    others = [dst if src == note_id else src for src, dst, _k, _w in
              _links_of(conn, note_id, 5000)]
    others = list(dict.fromkeys(o for o in others if o != note_id))
    around = []
    for i in range(0, len(others), 500):
        chunk = others[i:i + 500]
        q = ",".join("?" * len(chunk))
        around += conn.execute(_NOTE_SQL + f"where n.id in ({q}) and n.archived = 0",
                               chunk).fetchall()
    # links a person made and the strongest links come first, whatever the note's rank
    order = {o: i for i, o in enumerate(others)}
    around.sort(key=lambda row: order[row[0]])
    ents = conn.execute(
        "select e.id, e.name, e.kind, e.is_me, 1 from entity_mentions m join entities e on "
        "e.id = m.entity_id where m.note_id = ? order by e.is_me, e.id", [note_id]).fetchall()
    return centre, around, ents


def _add_entities(conn, nodes, edges, centre, ents, shown_ids, speakers, cache) -> None:
    """The people, places and organisations around the centre (at most
    :data:`OVERVIEW_ENTITIES`, junk left out), each linked to the centre and to up to
    two of the memories shown that mention it."""
    picked = []
    for eid, name, kind, is_me, count in ents:
        if len(picked) >= OVERVIEW_ENTITIES:
            break
        if f"e{eid}" in nodes or not displayable(conn, name, is_me=bool(is_me),
                                                 speakers=speakers, cache=cache):
            continue
        picked.append((eid, name, kind, count))
    for eid, name, kind, count in picked:
        key = f"e{eid}"
        nodes[key] = GraphNode(id=key, type="entity", label=name, kind=kind,
                               weight=float(count), depth=1)
        edges[(centre.id, key, "together")] = GraphEdge(centre.id, key, "together",
                                                        float(count))
    if not picked or not shown_ids:
        return
    q = ",".join("?" * len(shown_ids))
    per: Counter = Counter()
    for eid, nid in conn.execute(
            f"select entity_id, note_id from entity_mentions where note_id in ({q}) "
            "order by note_id", shown_ids):
        key = f"e{eid}"
        if key in nodes and key != centre.id and per[key] < 2:
            per[key] += 1
            edges[(key, f"n{nid}", "mentions")] = GraphEdge(key, f"n{nid}", "mentions", 1.0)


def _second_ring(conn, nodes, edges, shown_ids: list[int], depth: int) -> bool:
    """Add the strongest further links of the memories shown (depth 2, then 3).
    Returns True when some were left out."""
    budget = OVERVIEW_MAX - len(nodes)
    left_out = False
    ring = list(shown_ids)
    for d in range(2, depth + 1):
        nxt = []
        for nid in ring:
            taken = 0
            for src, dst, kind, weight in _links_of(conn, nid, 12):
                other = dst if src == nid else src
                if taken >= SECOND_RING:
                    left_out = True
                    break
                if f"n{other}" in nodes:
                    continue
                if budget <= 0:
                    return True
                r = conn.execute(_NOTE_SQL + "where n.id = ? and n.archived = 0",
                                 [other]).fetchone()
                if r is None:
                    continue
                nodes[f"n{other}"] = _note_node(r, d)
                edges[(f"n{src}", f"n{dst}", kind)] = GraphEdge(f"n{src}", f"n{dst}", kind,
                                                               weight)
                budget -= 1
                taken += 1
                nxt.append(other)
        ring = nxt
    return left_out


def _strongest_links(edges: dict, among: list[GraphEdge], centre: str) -> None:
    """Add the links among the memories shown, only each one's strongest
    (:data:`LINKS_PER_NOTE`): the rest would only make a hairball."""
    per: Counter = Counter()
    for e in sorted(among, key=lambda e: -float(e.weight or 0)):
        if centre in (e.src, e.dst) or (e.src, e.dst, e.kind) in edges:
            continue
        if any((e.src, e.dst, k) in edges or (e.dst, e.src, k) in edges
               for k in ("related", "same_entity", "updates", "contradicts", "part_of",
                         "wikilink")):
            continue
        if per[e.src] >= LINKS_PER_NOTE or per[e.dst] >= LINKS_PER_NOTE:
            continue
        per[e.src] += 1
        per[e.dst] += 1
        edges[(e.src, e.dst, e.kind)] = e


# -- groups by period ---------------------------------------------------------------------
_MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()


def _day(value: Optional[str]) -> Optional[date]:
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def _period(d: date, unit: str) -> tuple[str, str, date, date]:
    """(key, label, first day, last day) of the ``unit`` period holding ``d``."""
    if unit == "month":
        first = d.replace(day=1)
        nxt = date(d.year + (d.month == 12), d.month % 12 + 1, 1)
        return (f"{d.year}-{d.month:02d}", f"{_MONTHS[d.month - 1]} {d.year}", first,
                date.fromordinal(nxt.toordinal() - 1))
    if unit == "quarter":
        q = (d.month - 1) // 3
        first = date(d.year, 3 * q + 1, 1)
        last_month = 3 * q + 3
        nxt = date(d.year + (last_month == 12), last_month % 12 + 1, 1)
        return (f"{d.year}-q{q + 1}", f"{_MONTHS[3 * q]}–{_MONTHS[3 * q + 2]} {d.year}",
                first, date.fromordinal(nxt.toordinal() - 1))
    return str(d.year), str(d.year), date(d.year, 1, 1), date(d.year, 12, 31)


def _group_by_period(rows: list[tuple]) -> dict[str, tuple[str, list[int], Optional[str],
                                                           Optional[str]]]:
    """Group note rows by the finest period (month, quarter, year) that makes at most
    :data:`OVERVIEW_GROUPS` groups; the oldest periods beyond that fold into one, and
    neighbouring small periods merge (a group of one is no summary).
    Returns {group id: (label, note ids, first day, last day)}, oldest first."""
    if not rows:
        return {}
    dated = [(r[0], _day(r[5])) for r in rows]
    days = [d for _i, d in dated if d is not None]
    undated = [i for i, d in dated if d is None]
    room = OVERVIEW_GROUPS - (1 if undated else 0)
    unit = "year"
    for u in ("month", "quarter"):
        if len({_period(d, u)[0] for d in days}) <= room:
            unit = u
            break
    by: dict[str, list] = {}
    for i, d in dated:
        if d is not None:
            key, label, first, last = _period(d, unit)
            by.setdefault(key, [label, label, [], first, last])[2].append(i)
    periods = [by[k] for k in sorted(by)]
    if len(periods) > room:  # fold the oldest periods together
        n = len(periods) - room + 1
        fold, periods = periods[:n], periods[n:]
        periods.insert(0, [fold[0][0], fold[-1][1], [i for g in fold for i in g[2]],
                           fold[0][3], fold[-1][4]])
    least = max(3, len(days) // (2 * OVERVIEW_GROUPS))
    merged: list[list] = []
    for g in periods:
        if merged and (len(merged[-1][2]) < least or len(g[2]) < least):
            merged[-1][1], merged[-1][4] = g[1], g[4]
            merged[-1][2] = merged[-1][2] + g[2]
        else:
            merged.append(list(g))
    if len(merged) > 1 and len(merged[-1][2]) < least:  # a small last one joins the one before
        g = merged.pop()
        merged[-1][1], merged[-1][4] = g[1], g[4]
        merged[-1][2] = merged[-1][2] + g[2]
    out = {f"g:{first.isoformat()}": (_range_label(start, end, first, last, unit), ids,
                                      first.isoformat(), last.isoformat())
           for start, end, ids, first, last in merged}
    if undated:
        out["g:undated"] = ("undated", undated, None, None)
    return out


def _range_label(start: str, end: str, first: date, last: date, unit: str) -> str:
    """"2023", "Jan–Mar 2024", "2022 – 2023" or "Oct 2022 – Sep 2023"."""
    if start == end:
        return start
    if unit == "year":
        return f"{first.year} – {last.year}"
    return f"{_MONTHS[first.month - 1]} {first.year} – {_MONTHS[last.month - 1]} {last.year}"
