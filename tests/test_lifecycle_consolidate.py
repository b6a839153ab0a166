"""Consolidation: duplicates merged (undoable), contradictions by the time rule, day/week/
topic summaries citing notes and messages, a cited profile with or without a capable
model, idempotence, user-edited notes left alone."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from fabricate import insert_note

from secondme.lifecycle.demo import insert_conversation

D0 = datetime(2024, 3, 4, 10, 0, tzinfo=timezone.utc)   # a Monday


def _chat(sm, day=D0, person="Anna", lines=None):
    lines = lines or ["I went hiking with Anna", "nice, where?", "In the Alps near Oslo",
                      "I love ramen", "me too"]
    msgs = [{"speaker": "Sam" if i % 2 == 0 else person, "is_me": i % 2 == 0, "text": t,
             "timestamp": day + timedelta(minutes=5 * i)} for i, t in enumerate(lines)]
    return insert_conversation(sm, f"Chat with {person} {day:%Y%m%d}", msgs,
                               external_id=f"conv-{person}-{day:%Y%m%d}")


@pytest.fixture
def life(sm):
    sm.update_settings(me_name="Sam")
    m1 = _chat(sm, D0)
    m2 = _chat(sm, D0 + timedelta(days=1), lines=["Anna is moving to Lisbon", "yes in May",
                                                  "Anna loves climbing", "true", "bye"])
    m3 = _chat(sm, D0 + timedelta(days=8), person="Bob",
               lines=["I live in Oslo now", "cool", "My favourite food is ramen", "ok", "ok"])
    facts = {
        "hike": insert_note(sm, "Sam went hiking with Anna in the Alps", fact_type="event",
                            valid_from=D0, message_ids=[m1[0], m1[2]]),
        "ramen": insert_note(sm, "My favourite food is ramen", fact_type="preference",
                             valid_from=D0 + timedelta(days=8), message_ids=[m3[2]]),
        "love": insert_note(sm, "I love ramen", fact_type="preference", valid_from=D0,
                            message_ids=[m1[3]]),
        "move": insert_note(sm, "Anna is moving to Lisbon", fact_type="plan",
                            valid_from=D0 + timedelta(days=1), message_ids=[m2[0]]),
        "climb": insert_note(sm, "Anna loves climbing", fact_type="preference",
                             valid_from=D0 + timedelta(days=1), message_ids=[m2[2]]),
        "oslo": insert_note(sm, "I live in Oslo now", fact_type="biography",
                            valid_from=D0 + timedelta(days=8), message_ids=[m3[0]]),
    }
    return sm, facts, (m1, m2, m3)


def _active(sm, text_like):
    return [r[0] for r in sm.store.conn.execute(
        "select id from notes where text like ? and archived = 0 and kind = 'fact'",
        [text_like])]


def test_near_duplicates_merge_and_undo(life):
    sm, facts, (m1, m2, m3) = life
    dup1 = insert_note(sm, "Anna loves climbing.", message_ids=[m1[1]],
                       valid_from=D0 + timedelta(days=2))
    dup2 = insert_note(sm, "anna loves climbing", message_ids=[m1[4]], strength=3)
    edited = insert_note(sm, "Anna loves climbing!", message_ids=[m2[3]], user_edited=True)
    before = sm.store.conn.execute("select count(*) from notes").fetchone()[0]
    out = sm.run_job("consolidate")
    assert out["merged"] == 2 and out["merge_groups"] == 1
    active = _active(sm, "%anna loves climbing%")
    # the strongest survives, the user-edited note is never merged away
    assert sorted(active) == sorted([dup2, edited])
    srcs = {r[0] for r in sm.store.conn.execute(
        "select message_id from note_sources where note_id = ?", [dup2])}
    assert {m2[2], m1[1], m1[4]} <= srcs
    hist = sm.store.conn.execute("select id from history where note_id = ? and action = "
                                 "'merge'", [dup2]).fetchall()
    assert len(hist) == 1
    sm.undo(hist[0][0])
    assert sorted(_active(sm, "%anna loves climbing%")) == sorted(
        [facts["climb"], dup1, dup2, edited])
    assert sm.store.conn.execute("select count(*) from notes where kind = 'fact'").fetchone()[0] \
        == before


def test_contradictions_by_the_time_rule(life):
    sm, facts, (m1, m2, m3) = life
    old_home = insert_note(sm, "I live in Berlin now", fact_type="biography",
                           valid_from=D0 - timedelta(days=300), message_ids=[m1[0]])
    a = insert_note(sm, "Bob works at Acme", valid_from=D0, message_ids=[m3[1]])
    b = insert_note(sm, "Bob is employed by Initech", valid_from=D0 + timedelta(days=5),
                    message_ids=[m3[3]])
    with sm.store.write() as db:
        db.conn.execute("insert into links (src_id, dst_id, kind, created_at) values "
                        "(?, ?, 'contradicts', ?)", [b, a, D0.isoformat()])
    out = sm.run_job("consolidate")
    assert out["invalidated"] >= 2
    rows = {r[0]: r[1] for r in sm.store.conn.execute("select id, valid_to from notes")}
    assert rows[old_home] == (D0 + timedelta(days=8)).isoformat(timespec="seconds")
    assert rows[facts["oslo"]] is None
    assert rows[a] == (D0 + timedelta(days=5)).isoformat(timespec="seconds")
    assert rows[b] is None
    assert sm.store.conn.execute("select count(*) from links where src_id = ? and dst_id = ? "
                                 "and kind = 'updates'", [b, a]).fetchone()[0] == 1
    assert sm.store.conn.execute("select text from notes where id = ?",
                                 [old_home]).fetchone()[0] == "I live in Berlin now"


def test_every_change_of_consolidation_can_be_undone(life):
    sm, facts, (m1, m2, m3) = life
    conn = sm.store.conn
    old_home = insert_note(sm, "I live in Berlin now", fact_type="biography",
                           valid_from=D0 - timedelta(days=300), message_ids=[m1[0]])
    sm.run_job("consolidate")

    def entries(nid, action):
        return [h for h in sm.note_history(nid) if h.action == action and not h.undone]

    # a contradiction: valid_to and the updates link go again
    inv, = entries(old_home, "invalidate")
    assert inv.actor == "consolidate" and inv.after["detail"]["superseded_by"] == facts["oslo"]
    sm.undo(inv.id)
    assert conn.execute("select valid_to from notes where id = ?", [old_home]).fetchone()[0] \
        is None
    assert conn.execute("select count(*) from links where dst_id = ? and kind = 'updates'",
                        [old_home]).fetchone()[0] == 0
    # a summary's update: the old text, sources and part_of links come back
    day = conn.execute("select note_id from consolidations where key = 'day:2024-03-04'"
                       ).fetchone()[0]
    old = sm.get_note(day)
    boots = insert_note(sm, "Sam bought new boots", valid_from=D0, strength=5,
                        message_ids=[m1[2]])
    sm.run_job("consolidate")
    assert "bought new boots" in sm.get_note(day).note.text
    upd, = entries(day, "consolidate")
    back = sm.undo(upd.id)
    assert back.text == old.note.text and back.version == old.note.version
    assert [s.item_id for s in sm.get_note(day).sources] == [s.item_id for s in old.sources]
    assert conn.execute("select count(*) from links where src_id = ? and dst_id = ?",
                        [boots, day]).fetchone()[0] == 0
    # a summary's creation: the summary goes
    week = conn.execute("select note_id from consolidations where key = 'week:2024-W11'"
                        ).fetchone()[0]
    created, = entries(week, "create")
    sm.undo(created.id)
    assert conn.execute("select count(*) from notes where id = ?", [week]).fetchone()[0] == 0


def test_exact_duplicates_are_grouped_by_content_hash(sm):
    from secondme.lifecycle.consolidate.duplicates import find_duplicates
    from secondme.memory import notes as N

    m = insert_conversation(sm, "c", [{"speaker": "Anna", "text": "hi",
                                       "timestamp": D0}])[0]
    with sm.store.write() as db:
        c = db.conn

        def note(text, slot=None, strength=1.0):
            return N.insert_note(c, text=text, sources=[("message", m)], slot=slot,
                                 strength=strength)

        a = note("Anna loves  climbing.")
        b = note("anna loves climbing.", strength=2.0)
        near = note("Anna really loves climbing!")
        other = note("Anna loves climbing.", slot=("anna", "hobby", "climbing"))
        lone = note("Bob sells bikes.")
    assert N.note_hash("Anna loves  climbing.") == N.note_hash("anna loves climbing.")
    groups = find_duplicates(sm.store.conn)
    assert groups == [[b, a, near, other]]
    assert lone not in groups[0]


def test_day_week_topic_summaries_cite_their_sources(life):
    sm, facts, (m1, m2, m3) = life
    insert_note(sm, "Anna started learning chess", valid_from=D0 + timedelta(days=1),
                message_ids=[m2[4]])
    sm.run_job("consolidate")
    conn = sm.store.conn
    days = dict(conn.execute("select c.key, c.note_id from consolidations c "
                             "where c.key like 'day:%'").fetchall())
    assert set(days) == {"day:2024-03-04", "day:2024-03-05", "day:2024-03-12"}
    day1 = days["day:2024-03-04"]
    text = conn.execute("select text from notes where id = ?", [day1]).fetchone()[0]
    assert text.startswith("2024-03-04 (Monday): talked with Anna")
    assert "went hiking with Anna" in text
    cited_notes = {r[0] for r in conn.execute(
        "select source_note_id from note_sources where note_id = ? and source_note_id is not "
        "null", [day1])}
    cited_msgs = {r[0] for r in conn.execute(
        "select message_id from note_sources where note_id = ? and message_id is not null",
        [day1])}
    assert facts["hike"] in cited_notes and m1[0] in cited_msgs
    assert conn.execute("select count(*) from links where src_id = ? and dst_id = ? and "
                        "kind = 'part_of'", [facts["hike"], day1]).fetchone()[0] == 1
    weeks = dict(conn.execute("select key, note_id from consolidations where key like "
                              "'week:%'").fetchall())
    assert set(weeks) == {"week:2024-W10", "week:2024-W11"}
    w10 = weeks["week:2024-W10"]
    w_cites = {r[0] for r in conn.execute("select source_note_id from note_sources where "
                                          "note_id = ?", [w10])}
    assert {days["day:2024-03-04"], days["day:2024-03-05"]} <= w_cites
    assert conn.execute("select count(*) from links where src_id = ? and dst_id = ? and kind "
                        "= 'part_of'", [day1, w10]).fetchone()[0] == 1
    topic = conn.execute("select n.id, n.text from consolidations c join notes n on "
                         "n.id = c.note_id where c.key like 'topic:%anna'").fetchone()
    assert topic is not None and topic[1].startswith("About Anna")
    assert conn.execute("select count(*) from note_sources where note_id = ? and "
                        "source_note_id = ?", [topic[0], facts["climb"]]).fetchone()[0] == 1
    for kind in ("summary", "profile"):   # every summary cites something
        assert conn.execute(f"select count(*) from notes n where kind = '{kind}' and not "
                            "exists (select 1 from note_sources s where s.note_id = n.id)"
                            ).fetchone()[0] == 0


def test_profile_without_a_capable_model_every_line_cited(life):
    sm, facts, (m1, m2, m3) = life
    assert sm.get_profile() is None
    sm.run_job("consolidate")
    p = sm.get_profile()
    assert p is not None and p.kind == "profile" and p.method == "template"
    texts = [line.text for line in p.lines]
    assert texts[0].startswith("Name: Sam")
    assert any("I live in Oslo now" in t for t in texts)
    assert any("favourite food is ramen" in t for t in texts)
    assert any(t.startswith("In your life: Anna") for t in texts)
    assert any(t.startswith("In your life: Bob") for t in texts)
    assert not any("Anna loves climbing" in t and t.startswith("You like") for t in texts)
    real = {r[0] for r in sm.store.conn.execute("select external_id from messages")}
    for line in p.lines:
        assert line.sources, line.text
        for s in line.sources:
            assert s.get("message_id") in real or s.get("note_id")
    assert p.text.startswith("Profile of Sam")


def test_idempotent_and_updates_in_place(life):
    sm, facts, (m1, m2, m3) = life
    sm.run_job("consolidate")
    conn = sm.store.conn
    n_notes = conn.execute("select count(*) from notes").fetchone()[0]
    n_hist = conn.execute("select count(*) from history").fetchone()[0]
    out = sm.run_job("consolidate")
    assert conn.execute("select count(*) from notes").fetchone()[0] == n_notes
    assert conn.execute("select count(*) from history").fetchone()[0] == n_hist
    assert all(k.endswith("_unchanged") for k in out["summaries"])
    day = conn.execute("select note_id from consolidations where key = 'day:2024-03-04'"
                       ).fetchone()[0]
    insert_note(sm, "Sam bought new boots", valid_from=D0, strength=5, message_ids=[m1[2]])
    out = sm.run_job("consolidate")
    assert out["summaries"]["day_updated"] == 1
    row = conn.execute("select text, version from notes where id = ?", [day]).fetchone()
    assert "bought new boots" in row[0] and row[1] == 2
    h = conn.execute("select before from history where note_id = ? and action = "
                     "'consolidate'", [day]).fetchone()
    assert "bought new boots" not in json.loads(h[0])["note"]["text"]
    assert conn.execute("select count(*) from consolidations where key = 'day:2024-03-04'"
                        ).fetchone()[0] == 1


def test_user_edited_summary_is_left_alone(life):
    sm, facts, (m1, m2, m3) = life
    sm.run_job("consolidate")
    conn = sm.store.conn
    day = conn.execute("select note_id from consolidations where key = 'day:2024-03-04'"
                       ).fetchone()[0]
    with sm.store.write() as db:
        db.conn.execute("update notes set text = 'My own words about that Monday', "
                        "user_edited = 1 where id = ?", [day])
    insert_note(sm, "Sam bought new boots", valid_from=D0, strength=5, message_ids=[m1[2]])
    out = sm.run_job("consolidate")
    assert out["summaries"]["day_kept_user_edited"] == 1
    assert conn.execute("select text from notes where id = ?", [day]).fetchone()[0] == \
        "My own words about that Monday"


def test_capable_model_writes_profile_and_summaries(home, fake_embedder):
    from secondme.models.llm import ScriptedLLM
    from secondme.service import SecondMe

    def respond(prompt):
        if "profile" in prompt:
            return {"lines": [{"text": "Sam lives in Oslo and loves ramen.", "sources": [2, 3]},
                              {"text": "An invented line.", "sources": [99]},
                              {"text": "An uncited line.", "sources": []}]}
        return {"summary": "A day of hiking and ramen.", "sources": [1]}

    llm = ScriptedLLM(respond, capable=True)
    with SecondMe(home, embedder=fake_embedder, llm=llm) as sm:
        sm.update_settings(me_name="Sam")
        m = _chat(sm, D0, lines=["I live in Oslo now", "ok", "My favourite food is ramen"])
        insert_note(sm, "I live in Oslo now", fact_type="biography", valid_from=D0,
                    message_ids=[m[0]])
        insert_note(sm, "My favourite food is ramen", fact_type="preference", valid_from=D0,
                    message_ids=[m[2]])
        out = sm.run_job("consolidate")
        assert out["method"] == "model" and out["model_calls"] >= 2
        p = sm.get_profile()
        assert p.method == "model"
        assert [line.text for line in p.lines] == ["Sam lives in Oslo and loves ramen."]
        assert p.lines[0].sources
        day = sm.store.conn.execute("select n.text from consolidations c join notes n on "
                                    "n.id = c.note_id where c.key = 'day:2024-03-04'").fetchone()
        assert day[0] == "2024-03-04 (Monday): A day of hiking and ramen."
        assert any(c["json_schema"] for c in llm.calls)
