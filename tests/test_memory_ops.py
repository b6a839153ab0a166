"""MemoryOps: browse, edit, pin, archive, delete, merge, link, undo, entities, graph."""
from __future__ import annotations

import json
import time

import pytest
from test_memory_extract import SESSIONS, write_chat

from secondme.errors import InvalidInput, NotFound


@pytest.fixture
def formed(sm, tmp_path):
    sm.import_paths([write_chat(tmp_path / "c.json", SESSIONS)])
    sm.run_extract()
    return sm


def ids_by_text(sm):
    return {n.text: n.id for n in sm.list_notes(archived=None, limit=1000)}


def test_list_filters(formed):
    sm = formed
    assert len(sm.list_notes()) == 4
    assert [n.text for n in sm.list_notes(query="pottery")] == [
        "Ben started a pottery class on Monday, 8 May 2023."]
    assert {n.text for n in sm.list_notes(person="Lena")} == {
        "Anna's sister Lena is getting married in June 2023."}
    assert {n.text for n in sm.list_notes(tag="family")} == {
        "Anna's sister Lena is getting married in June 2023."}
    assert [n.valid_from for n in sm.list_notes(since="2023-05-08", until="2023-05-08")] == [
        "2023-05-08"]
    assert sm.list_notes(kind="user") == []
    assert len(sm.list_notes(limit=2)) == 2 and len(sm.list_notes(limit=2, offset=3)) == 1
    with pytest.raises(InvalidInput):
        sm.list_notes(kind="bogus")


def test_note_json_shape(formed):
    sm = formed
    nid = ids_by_text(sm)["Anna moved to Berlin in April 2023."]
    d = sm.get_note(nid).to_json()
    for key in ("id", "kind", "text", "keywords", "tags", "context", "valid_from", "valid_to",
                "created_at", "updated_at", "strength", "retention", "pinned", "archived",
                "sources", "links"):
        assert key in d
    assert d["sources"] == [{"message_id": "c1-1", "conversation": "Chat c1",
                             "timestamp": "2023-05-10T09:01:00+02:00", "speaker": "Anna"}]
    assert all(set(l) == {"id", "kind", "weight"} for l in d["links"])
    with pytest.raises(NotFound):
        sm.get_note(99999)


def test_edit_records_history_reembeds_and_undo_restores(formed):
    sm = formed
    nid = ids_by_text(sm)["Anna moved to Berlin in April 2023."]
    seen = []
    sm.hooks.connect("notes_did_change", lambda ids, action: seen.append((ids, action)))
    n = sm.edit_note(nid, text="Anna moved to Berlin-Kreuzberg in April 2023.", tags="home city")
    assert n.user_edited and n.version == 2 and n.tags == ["home", "city"]
    assert seen == [([nid], "edit")]
    conn = sm.store.conn
    # embedded again at once (the model and the index are loaded, as in the app)
    assert conn.execute("select count(*) from vector_items where kind='note' and item_id=?",
                        [nid]).fetchone()[0] == 1
    assert conn.execute("select count(*) from notes_fts where notes_fts match 'kreuzberg'"
                        ).fetchone()[0] == 1
    assert sm.index_pending().items == 0
    assert conn.execute("select count(*) from vector_items where kind='note' and item_id=?",
                        [nid]).fetchone()[0] == 1
    edit = sm.note_history(nid)[-1]
    assert edit.action == "edit" and edit.before["note"]["text"] == \
        "Anna moved to Berlin in April 2023."
    back = sm.undo(edit.id)
    assert back.text == "Anna moved to Berlin in April 2023." and not back.user_edited
    with pytest.raises(InvalidInput):
        sm.undo(edit.id)     # already undone
    with pytest.raises(InvalidInput):
        sm.edit_note(nid, text="   ")


def test_a_note_keeps_its_vector_when_only_its_tags_or_context_change(formed):
    # a note's vector is of its text alone (issue 14): nothing to embed again
    sm = formed
    nid = ids_by_text(sm)["Anna moved to Berlin in April 2023."]

    def vectors():
        return sm.store.conn.execute("select count(*) from vector_items where kind = "
                                     "'note' and item_id = ?", [nid]).fetchone()[0]

    assert vectors() == 1
    n = sm.edit_note(nid, tags="home", context="Anna's move, as she told Ben")
    assert n.context == "Anna's move, as she told Ben" and vectors() == 1
    before = sm.store.conn.execute("select content_hash from vector_items where kind = "
                                   "'note' and item_id = ?", [nid]).fetchone()[0]
    sm.edit_note(nid, text="Anna moved to Berlin in spring 2023.")
    after = sm.store.conn.execute("select content_hash from vector_items where kind = "
                                  "'note' and item_id = ?", [nid]).fetchall()
    assert len(after) == 1 and after[0][0] != before   # the new text's, at once


def test_a_note_written_or_edited_is_found_by_meaning_at_once(formed):
    """Found using the app: an edited note's new words were found by keywords at once
    but by meaning only after the next indexing run."""
    from secondme.store.vectors import blob_to_vector

    sm = formed
    assert sm.embedder_loaded and sm._vectors is not None     # as in the app after use
    nid = ids_by_text(sm)["Anna moved to Berlin in April 2023."]
    text = "Anna's flat in Berlin has a balcony full of tomato plants."
    sm.edit_note(nid, text=text)
    q = sm.embedder.embed([text])[0]
    labels = [lab for lab, _ in sm._vectors.search(q, 1)]
    assert labels and sm.store.conn.execute(
        "select item_id from vector_items where vec = ? and kind = 'note'",
        labels).fetchone()[0] == nid
    made = sm.create_note("Ben's sister Carla teaches violin in Leipzig.")
    row = sm.store.conn.execute(
        "select e.vector from vector_items v join embeddings e on e.content_hash = "
        "v.content_hash where v.kind = 'note' and v.item_id = ?", [made.id]).fetchone()
    assert row is not None and len(blob_to_vector(row[0])) == sm._vectors.dim


def test_an_edit_never_loads_the_model_or_the_index_for_itself(home):
    from secondme.service import SecondMe

    with SecondMe(home) as sm:        # the bundled model, loaded lazily
        n = sm.create_note("Dana bakes sourdough on Sundays.")
        sm.edit_note(n.id, text="Dana bakes rye bread on Sundays.")
        assert not sm.embedder_loaded and sm._vectors is None
        assert sm.store.conn.execute("select count(*) from vector_items where kind = "
                                     "'note'").fetchone()[0] == 0   # the next run embeds it


def test_only_the_latest_change_can_be_undone(formed):
    sm = formed
    nid = next(iter(ids_by_text(sm).values()))
    first = sm.edit_note(nid, text="one") and sm.note_history(nid)[-1]
    sm.pin_note(nid)
    with pytest.raises(InvalidInput, match="undo the later change first"):
        sm.undo(first.id)


def test_pin_archive_delete_and_undo_delete(formed):
    sm = formed
    ids = ids_by_text(sm)
    nid = ids["Ben adopted a cat called Miso on Thursday, 11 May 2023."]
    assert sm.pin_note(nid).pinned and sm.list_notes()[0].id == nid
    assert sm.archive_note(nid).archived
    assert nid not in [n.id for n in sm.list_notes()]
    assert [n.id for n in sm.list_notes(archived=True)] == [nid]
    sm.archive_note(nid, False)
    links_before = {(l.id, l.kind) for l in sm.get_note(nid).links}
    hid = sm.delete_note(nid)
    with pytest.raises(NotFound):
        sm.get_note(nid)
    assert sm.note_history(nid)[-1].action == "delete"       # history survives deletion
    back = sm.undo(hid)
    assert back.id == nid and back.pinned
    d = sm.get_note(nid)
    assert {(l.id, l.kind) for l in d.links} == links_before
    assert [s.message_id for s in d.sources] == ["c1-4"]


def test_create_and_merge_and_undo_merge(formed):
    sm = formed
    ids = ids_by_text(sm)
    a = ids["Anna moved to Berlin in April 2023."]
    b = sm.create_note("Anna lives in Berlin Mitte.", tags=["home"]).id
    assert sm.get_note(b).note.kind == "user"
    merged = sm.merge_notes([a, b])
    assert merged.id == a and merged.strength == 2.0 and "home" in merged.tags
    # the merged note is archived, not deleted: both texts stay readable
    gone = sm.get_note(b)
    assert gone.note.archived and gone.note.text == "Anna lives in Berlin Mitte."
    assert b not in [n.id for n in sm.list_notes()]
    into = sm.note_history(b)[-1]
    assert into.action == "merged_into" and into.after["detail"]["into"] == a
    with pytest.raises(InvalidInput, match="undo that merge"):
        sm.undo(into.id)
    with pytest.raises(InvalidInput, match="undo that merge first"):
        sm.undo(sm.note_history(b)[0].id)     # b's creation: the merge came later
    h = [e for e in sm.note_history(a) if e.action == "merge"][0]
    assert h.after["detail"]["merged"] == [b]
    sm.undo(h.id)
    assert sm.get_note(b).note.text == "Anna lives in Berlin Mitte."
    assert not sm.get_note(b).note.archived and sm.note_history(b)[-1].undone
    assert sm.get_note(a).note.strength == 1.0
    with pytest.raises(InvalidInput):
        sm.merge_notes([a])


def test_every_action_of_the_person_can_be_undone(formed):
    sm = formed
    ids = ids_by_text(sm)
    a = ids["Anna moved to Berlin in April 2023."]
    b = ids["Ben adopted a cat called Miso on Thursday, 11 May 2023."]
    before = sm.get_note(a)

    def undo_last(nid, action):
        entry = sm.note_history(nid)[-1]
        assert entry.action == action and not entry.undone
        return sm.undo(entry.id)

    sm.pin_note(a)
    assert not undo_last(a, "pin").pinned
    sm.archive_note(a)
    assert not undo_last(a, "archive").archived
    sm.archive_note(a)
    sm.archive_note(a, False)
    assert undo_last(a, "unarchive").archived
    sm.archive_note(a, False)
    sm.pin_note(a)
    sm.pin_note(a, False)
    assert undo_last(a, "unpin").pinned
    sm.unlink_notes(a, b) if any(l.id == b for l in sm.get_note(a).links) else None
    links = {(l.id, l.kind) for l in sm.get_note(a).links}
    sm.link_notes(a, b, "part_of")
    undo_last(a, "link")
    assert {(l.id, l.kind) for l in sm.get_note(a).links} == links
    sm.link_notes(a, b, "related")
    assert sm.unlink_notes(a, b) == 1
    undo_last(a, "unlink")
    assert (b, "related") in {(l.id, l.kind) for l in sm.get_note(a).links}
    new = sm.create_note("Anna's flat has a balcony.", sources=[("note", a)])
    gone = undo_last(new.id, "create")
    assert gone.text == "Anna's flat has a balcony."
    with pytest.raises(NotFound):
        sm.get_note(new.id)
    # undo records itself, and an undo cannot be undone
    undo_row = [e for e in sm.note_history(a) if e.action == "undo"][-1]
    with pytest.raises(InvalidInput, match="cannot be undone"):
        sm.undo(undo_row.id)
    after = sm.get_note(a)
    assert after.note.text == before.note.text and after.note.pinned
    assert [s.message_id for s in after.sources] == [s.message_id for s in before.sources]


def test_undoing_an_edit_leaves_later_link_changes_alone(formed):
    sm = formed
    ids = list(ids_by_text(sm).values())
    a, b, c = ids[0], ids[1], ids[2]
    sm.link_notes(a, b, "related")
    edit = sm.edit_note(a, text="Anna moved to Berlin in spring 2023.") and \
        sm.note_history(a)[-1]
    sm.unlink_notes(a, b)
    sm.link_notes(a, c, "part_of")
    sm.undo(edit.id)
    links = {(l.id, l.kind) for l in sm.get_note(a).links}
    assert (b, "related") not in links and (c, "part_of") in links


def test_history_rows_have_one_shape(formed):
    sm = formed
    ids = list(ids_by_text(sm).values())
    sm.edit_note(ids[0], text="Anna moved to Berlin in spring 2023.")
    sm.merge_notes(ids[1:3])
    sm.link_notes(ids[0], ids[3], "related")
    sm.delete_note(ids[3])
    sm.run_job("consolidate")
    keys = {"note", "sources", "slot", "mentions", "links"}
    rows = sm.store.conn.execute("select action, before, after from history").fetchall()
    assert {r[0] for r in rows} >= {"create", "edit", "merge", "merged_into", "link", "delete"}
    for action, before, after in rows:
        for snap in (before, after):
            if snap is not None:
                assert set(json.loads(snap)) - {"detail"} == keys, action
    # content_hash is computed one way, by the writer, for every note
    from secondme.memory.notes import note_hash

    for text, chash in sm.store.conn.execute("select text, content_hash from notes"):
        assert chash == note_hash(text)


def test_user_links_survive_extraction_and_unlink(formed, tmp_path):
    sm = formed
    ids = list(ids_by_text(sm).values())
    a, b = ids[0], ids[1]
    sm.unlink_notes(a, b) if any(l.id == b for l in sm.get_note(a).links) else None
    sm.link_notes(a, b, "part_of")
    more = {"c9": [("Anna", "2023-06-01T10:00:00+02:00", "I bought a sofa for the new flat.")]}
    sm.import_paths([write_chat(tmp_path / "more.json", more)])
    sm.run_extract()
    link = [l for l in sm.get_note(a).links if l.id == b and l.kind == "part_of"]
    assert link and link[0].created_by == "user"
    assert sm.unlink_notes(a, b, "part_of") == 1
    with pytest.raises(NotFound):
        sm.unlink_notes(a, b, "part_of")
    with pytest.raises(InvalidInput):
        sm.link_notes(a, a)
    with pytest.raises(InvalidInput):
        sm.link_notes(a, b, "friends")


def test_graph_is_capped_and_fast_on_a_big_store(sm):
    """A 20,000-note store with a hub of 2,000 links: the graph stays within its cap."""
    with sm.store.write() as db:
        c = db.conn
        c.executemany("insert into notes (id, text, created_at, updated_at) "
                      "values (?, ?, 'x', 'x')",
                      [(i, f"note {i}") for i in range(1, 20001)])
        c.executemany("insert into links (src_id, dst_id, kind, weight, created_at) values "
                      "(?, ?, 'related', ?, 'x')",
                      [(1, i, 1.0 / i) for i in range(2, 2002)]
                      + [(i, i + 1, 0.5) for i in range(2002, 20000)])
    t = time.perf_counter()
    g = sm.graph(note_id=1, depth=2, limit=300)
    elapsed = time.perf_counter() - t
    assert len(g.nodes) == 300 and g.truncated
    assert {n.id for n in g.nodes} >= {"n1", "n2", "n3"}       # strongest links first
    assert elapsed < 1.0
    g2 = sm.graph(note_id=5000, depth=3, limit=50)
    assert {n.id for n in g2.nodes} == {f"n{i}" for i in range(4997, 5004)}
    assert not g2.truncated


def test_graph_around_an_entity(formed):
    sm = formed
    lena = [e for e in sm.list_entities(query="lena")][0]
    g = sm.graph(entity_id=lena.id, depth=1)
    assert g.nodes[0].id == f"e{lena.id}" and any(e.kind == "mentions" for e in g.edges)
    with pytest.raises(InvalidInput):
        sm.graph()
    with pytest.raises(NotFound):
        sm.graph(entity_id=99999)
