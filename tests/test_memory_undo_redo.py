"""Redo (the app's Ctrl+Shift+Z) for every change a person makes, the history marks the
app's undo stack reads, a merge that keeps both texts, and undo messages without ids."""
from __future__ import annotations

import re

import pytest

from secondme.errors import InvalidInput


@pytest.fixture
def two(sm):
    a = sm.create_note("Anna moved to Berlin in April 2023.", tags=["home"]).id
    b = sm.create_note("Anna lives in Berlin Mitte.").id
    c = sm.create_note("Biscuit is scared of the hoover.").id
    return sm, a, b, c


def change(sm, fn):
    """Run ``fn`` and return the one person's change it recorded."""
    mark = sm.history_mark()
    fn()
    rows = sm.history_since(mark)
    assert len(rows) == 1, rows
    return rows[0]


def state(sm, *ids):
    out = []
    for i in ids:
        try:
            d = sm.get_note(i)
        except Exception:
            out.append(None)
            continue
        out.append((d.note.text, d.note.pinned, d.note.archived, tuple(d.note.tags),
                    tuple(sorted((l.id, l.kind) for l in d.links))))
    return out


@pytest.mark.parametrize("action", ["edit", "pin", "archive", "delete", "link", "unlink",
                                    "merge", "create"])
def test_undo_redo_undo_again(two, action):
    sm, a, b, c = two
    if action == "unlink":
        sm.link_notes(a, c, "related")
    fns = {
        "edit": lambda: sm.edit_note(a, text="Anna moved to Berlin in spring 2023."),
        "pin": lambda: sm.pin_note(a),
        "archive": lambda: sm.archive_note(a),
        "delete": lambda: sm.delete_note(a),
        "link": lambda: sm.link_notes(a, c, "part_of"),
        "unlink": lambda: sm.unlink_notes(a, c),
        "merge": lambda: sm.merge_notes([a, b], text="Anna moved to Berlin (Mitte) in April "
                                                    "2023."),
        "create": lambda: sm.create_note("Anna's flat has a balcony."),
    }
    ids = [a, b, c]
    before = state(sm, *ids)
    h = change(sm, fns[action])
    assert h.action == action
    ids.append(h.note_id)
    done = state(sm, *ids)
    assert done[:3] != before or (action == "create" and done[3] is not None)
    sm.undo(h.id)
    assert state(sm, *ids[:3]) == before
    sm.redo(h.id)
    assert state(sm, *ids) == done
    # the same change can be undone again, and redone again
    sm.undo(h.id)
    assert state(sm, *ids[:3]) == before
    sm.redo(h.id)
    assert state(sm, *ids) == done
    with pytest.raises(InvalidInput, match="nothing to redo"):
        sm.redo(h.id)
    # undo and redo are recorded, and are not themselves undoable
    rows = [r for r in sm.note_history(h.note_id) if r.action in ("undo", "redo")]
    assert [r.action for r in rows] == ["undo", "redo", "undo", "redo"]
    with pytest.raises(InvalidInput, match="cannot be undone"):
        sm.undo(rows[-1].id)
    assert sm.history_since(h.id) == []  # undo/redo rows are not new changes


def test_redo_is_refused_when_the_memory_changed_since(two):
    sm, a, _b, _c = two
    h = change(sm, lambda: sm.edit_note(a, text="one"))
    sm.undo(h.id)
    sm.edit_note(a, text="two")
    with pytest.raises(InvalidInput, match="changed again later"):
        sm.redo(h.id)
    assert sm.get_note(a).note.text == "two"


def test_merge_keeps_both_texts_and_undoes_in_one_step(two):
    sm, a, b, _c = two
    text_a, text_b = sm.get_note(a).note.text, sm.get_note(b).note.text
    joined = f"{text_a} {text_b}"
    h = change(sm, lambda: sm.merge_notes([a, b], text=joined))
    assert h.action == "merge"
    assert sm.get_note(a).note.text == joined
    gone = sm.get_note(b).note
    assert gone.archived and gone.text == text_b          # the second text stays
    assert [v.text for v in sm.get_note(a).versions][-2:] == [text_a, joined]
    sm.undo(h.id)
    assert sm.get_note(a).note.text == text_a and not sm.get_note(b).note.archived


def test_history_since_lists_only_the_person_s_changes(two):
    sm, a, b, _c = two
    mark = sm.history_mark()
    sm.pin_note(a)
    with sm.store.write() as db:  # a change by formation meanwhile
        from secondme.memory import notes as N
        N.update_note(db.conn, b, "version", "extract", text="Anna lives in Mitte.")
    sm.merge_notes([a, b])
    rows = sm.history_since(mark)
    assert [r.action for r in rows] == ["pin", "merge"]


def test_undo_messages_are_written_for_people(two):
    sm, a, b, _c = two
    first = change(sm, lambda: sm.edit_note(a, text="one"))
    sm.pin_note(a)
    msgs = []
    for fn in (lambda: sm.undo(first.id),
               lambda: sm.undo(sm.history_mark() + 10),
               lambda: sm.redo(first.id)):
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - the message is what is checked
            msgs.append(str(e))
    merge = change(sm, lambda: sm.merge_notes([a, b]))
    into = [r for r in sm.note_history(b) if r.action == "merged_into"][-1]
    with pytest.raises(InvalidInput) as e:
        sm.undo(into.id)
    msgs.append(str(e.value))
    sm.undo(merge.id)
    with pytest.raises(InvalidInput) as e:
        sm.undo(merge.id)
    msgs.append(str(e.value))
    assert len(msgs) == 5
    for m in msgs:
        assert not re.search(r"\d", m), m            # no ids
        assert "history entry" not in m and "note " not in m, m
