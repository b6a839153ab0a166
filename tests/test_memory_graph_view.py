"""The graph view's data (issue 16): a readable overview of a person's or a memory's
neighbourhood — strongest memories one by one, the rest grouped by period, the people
around, only the strongest links — and no junk entities ("Glad Tom", "Problem")."""
from __future__ import annotations

import json
import time

import pytest

from secondme.errors import InvalidInput, NotFound
from secondme.memory import graph as G

NOW = "2024-06-01T10:00:00+00:00"


def write_chat(path, messages):
    convs = [{"id": "c1", "title": "Tom", "participants": ["Sam Rivera", "Tom Baker"],
              "messages": [{"id": f"m{i}", "speaker": who, "timestamp": f"2023-05-{1 + i % 27:02d}"
                            f"T10:{i % 60:02d}:00+00:00", "text": text}
                           for i, (who, text) in enumerate(messages)]}]
    path.write_text(json.dumps({"format": "secondme-chat", "conversations": convs}))
    return path


CHAT = [
    ("Tom Baker", "Glad Nina could come to the party."),
    ("Sam Rivera", "So glad you made it, honestly."),
    ("Tom Baker", "I am glad too."),
    ("Sam Rivera", "Problem is the train on Friday."),
    ("Tom Baker", "No problem, we drive."),
    ("Sam Rivera", "Appreciate Nina helping with the move."),
    ("Tom Baker", "I really appreciate it."),
    ("Sam Rivera", "We had dinner with Will and Nina on Sunday."),
    ("Tom Baker", "I saw Will at the station, he will call you."),
    ("Sam Rivera", "Lunch with Nina in Porto was lovely."),
    ("Tom Baker", "I went to Porto with Nina last year."),
]


def fill(sm, *, notes_per_year=(30, 40, 12), entity="Nina", others=("Porto", "Will")):
    """Notes mentioning ``entity`` over three years, with strengths and links; junk
    entities co-mentioned. Returns (entity id, {name: id}, note ids by strength desc)."""
    with sm.store.write() as db:
        c = db.conn
        ids: dict[str, int] = {}
        for name, kind in ((entity, "person"), *((o, "place" if o == "Porto" else "person")
                                                  for o in others),
                           ("Glad Nina", "person"), ("Problem", "other"),
                           ("Appreciate Nina", "person")):
            ids[name] = c.execute("insert into entities (kind, name, norm_name) values (?,?,?)",
                                  [kind, name, name.lower()]).lastrowid
        note_ids = []
        k = 0
        for year, n in zip((2021, 2022, 2023), notes_per_year):
            for i in range(n):
                k += 1
                nid = c.execute(
                    "insert into notes (kind, text, created_at, updated_at, valid_from, "
                    "strength) values ('fact', ?, ?, ?, ?, ?)",
                    [f"{entity} fact number {k} in {year}", NOW, NOW,
                     f"{year}-{1 + i % 12:02d}-10", 1.0 + (k * 37 % 101) / 10]).lastrowid
                note_ids.append(nid)
                c.execute("insert into entity_mentions (entity_id, note_id) values (?, ?)",
                          [ids[entity], nid])
                for j, other in enumerate([*others, "Glad Nina", "Problem", "Appreciate Nina"]):
                    if (k + j) % 3 == 0:
                        c.execute("insert into entity_mentions (entity_id, note_id) "
                                  "values (?, ?)", [ids[other], nid])
        # a dense web of links among them (the hairball of the issue)
        for a in note_ids:
            for b in note_ids:
                if a < b and (a * 7 + b) % 5 == 0:
                    c.execute("insert into links (src_id, dst_id, kind, weight, created_by, "
                              "created_at) values (?, ?, 'related', ?, 'auto', ?)",
                              [a, b, ((a * b) % 97) / 97, NOW])
    strength = {n.id: n.strength for n in sm.list_notes(limit=10000)}
    ranked = sorted(note_ids, key=lambda i: -strength[i])
    return ids[entity], ids, ranked


def test_overview_of_a_person_is_readable(sm, tmp_path):
    sm.import_paths([write_chat(tmp_path / "c.json", CHAT)], me="Sam Rivera")
    eid, ids, ranked = fill(sm)
    g = sm.graph_overview(entity_id=eid)
    by_type = {t: [n for n in g.nodes if n.type == t] for t in ("note", "entity", "group")}
    assert len(g.nodes) <= G.OVERVIEW_MAX
    assert g.nodes[0].id == f"e{eid}"
    # the strongest memories one by one, the rest grouped (every one accounted for)
    shown = {int(n.id[1:]) for n in by_type["note"]}
    assert len(shown) == G.OVERVIEW_NOTES
    strongest = {n.id: n.strength for n in sm.list_notes(limit=1000)}
    assert min(strongest[i] for i in shown) >= max(strongest[i] for i in set(ranked) - shown)
    groups = by_type["group"]
    assert 1 <= len(groups) <= G.OVERVIEW_GROUPS
    members = [m for grp in groups for m in grp.members]
    assert sorted(members) == sorted(set(ranked) - shown)
    assert sum(grp.count for grp in groups) == len(ranked) - len(shown)
    assert all(grp.count >= 3 and grp.since and grp.until for grp in groups)
    assert {grp.label for grp in groups} <= {"2021", "2022", "2023", "2021 – 2022",
                                             "2022 – 2023", "2021 – 2023"}
    # people and places around, junk left out
    names = {n.label for n in by_type["entity"]}
    assert {"Porto", "Will"} <= names
    assert not names & {"Glad Nina", "Problem", "Appreciate Nina"}
    # only the strongest links among the memories shown
    per: dict[str, int] = {}
    for e in g.edges:
        if e.kind == "related" and f"e{eid}" not in (e.src, e.dst):
            per[e.src] = per.get(e.src, 0) + 1
            per[e.dst] = per.get(e.dst, 0) + 1
    assert per and max(per.values()) <= G.LINKS_PER_NOTE
    assert len(g.edges) < 3 * len(g.nodes)
    # the raw neighbourhood of the same person is the hairball the overview avoids
    raw = sm.graph(entity_id=eid, depth=2)
    assert len(raw.nodes) > 2 * len(g.nodes)


def test_a_group_opens_into_its_memories(sm, tmp_path):
    eid, _ids, _ranked = fill(sm)
    g = sm.graph_overview(entity_id=eid)
    group = max((n for n in g.nodes if n.type == "group"), key=lambda n: n.count)
    opened = sm.graph_overview(entity_id=eid, expand=group.id)
    shown = {int(n.id[1:]) for n in opened.nodes if n.type == "note"}
    assert len(shown & set(group.members)) == min(group.count, G.OVERVIEW_NOTES)
    assert group.id not in {n.id for n in opened.nodes} or group.count > G.OVERVIEW_NOTES
    assert len(opened.nodes) <= G.OVERVIEW_MAX + G.OVERVIEW_NOTES


def test_depth_two_adds_the_strongest_further_memories_within_the_cap(sm):
    eid, _ids, _ranked = fill(sm, notes_per_year=(10, 10, 10))
    with sm.store.write() as db:  # memories one link further, not mentioning the person
        c = db.conn
        first = [r[0] for r in c.execute("select note_id from entity_mentions "
                                         "where entity_id = ?", [eid])]
        for i, a in enumerate(first):
            b = c.execute("insert into notes (kind, text, created_at, updated_at) values "
                          "('fact', ?, ?, ?)", [f"further {i}", NOW, NOW]).lastrowid
            c.execute("insert into links (src_id, dst_id, kind, weight, created_by, "
                      "created_at) values (?, ?, 'related', 0.9, 'auto', ?)", [a, b, NOW])
    one = sm.graph_overview(entity_id=eid, depth=1)
    two = sm.graph_overview(entity_id=eid, depth=2)
    assert not any(n.label.startswith("further") for n in one.nodes)
    further = [n for n in two.nodes if n.label.startswith("further")]
    assert further and all(n.depth == 2 for n in further)
    assert len(two.nodes) <= G.OVERVIEW_MAX and two.truncated


def test_overview_of_a_note_puts_the_person_s_links_first(sm):
    with sm.store.write() as db:
        c = db.conn
        ids = [c.execute("insert into notes (kind, text, created_at, updated_at, valid_from) "
                         "values ('fact', ?, ?, ?, ?)",
                         [f"note {i}", NOW, NOW, f"20{10 + i % 14}-03-01"]).lastrowid
               for i in range(200)]
        hub = ids[0]
        for i, other in enumerate(ids[1:], 1):
            c.execute("insert into links (src_id, dst_id, kind, weight, created_by, "
                      "created_at) values (?, ?, 'related', ?, 'auto', ?)",
                      [hub, other, 1.0 / i, NOW])
    weak = ids[-1]
    sm.link_notes(hub, weak, "part_of")  # the person's link: shown although weak
    g = sm.graph_overview(note_id=hub)
    shown = {int(n.id[1:]) for n in g.nodes if n.type == "note"}
    assert hub in shown and weak in shown and ids[1] in shown
    assert any(e.kind == "part_of" for e in g.edges)
    assert len(g.nodes) <= G.OVERVIEW_MAX
    groups = [n for n in g.nodes if n.type == "group"]
    assert sum(n.count for n in groups) == 199 - (len(shown) - 1)
    assert len(groups) <= G.OVERVIEW_GROUPS


def test_overview_is_fast_on_a_big_store(sm):
    with sm.store.write() as db:
        c = db.conn
        c.executemany("insert into notes (id, text, created_at, updated_at, valid_from) "
                      "values (?, ?, 'x', 'x', ?)",
                      [(i, f"note {i}", f"20{10 + i % 14}-0{1 + i % 9}-01")
                       for i in range(1, 20001)])
        c.executemany("insert into links (src_id, dst_id, kind, weight, created_at) values "
                      "(?, ?, 'related', ?, 'x')",
                      [(1, i, 1.0 / i) for i in range(2, 5002)]
                      + [(i, i + 1, 0.5) for i in range(5002, 20000)])
    t = time.perf_counter()
    g = sm.graph_overview(note_id=1, depth=2)
    elapsed = time.perf_counter() - t
    assert len(g.nodes) <= G.OVERVIEW_MAX
    assert sum(n.count for n in g.nodes if n.type == "group") > 4900
    assert elapsed < 2.0, elapsed


def test_bad_centres(sm):
    with pytest.raises(InvalidInput):
        sm.graph_overview()
    with pytest.raises(NotFound):
        sm.graph_overview(entity_id=99999)
    with pytest.raises(NotFound):
        sm.graph_overview(note_id=99999)


def test_displayable_names(sm, tmp_path):
    sm.import_paths([write_chat(tmp_path / "c.json", CHAT)], me="Sam Rivera")
    conn = sm.store.conn
    speakers = G.speaker_names(conn)
    ok = {name: G.displayable(conn, name, speakers=speakers)
          for name in ("Glad Nina", "Appreciate Nina", "Problem", "Nina", "Will", "Porto",
                       "Tom Baker", "Work", "x", "42")}
    assert ok == {"Glad Nina": False, "Appreciate Nina": False, "Problem": False,
                  "Nina": True, "Will": True, "Porto": True, "Tom Baker": True,
                  "Work": False, "x": False, "42": False}
    assert G.displayable(conn, "Glad", is_me=True)  # whatever "me" is called
    eid, _ids, _ranked = fill(sm)
    names = {e.name for e in sm.list_entities(limit=100, displayable=True)}
    assert "Nina" in names and not names & {"Glad Nina", "Problem", "Appreciate Nina"}
    assert {"Glad Nina", "Problem"} <= {e.name for e in sm.list_entities(limit=100)}
