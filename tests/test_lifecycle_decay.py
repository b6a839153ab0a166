"""Decay: exact retention curves with an injected clock, reinforcement, pinning,
archiving below the threshold, never deleting."""
from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import pytest
from fabricate import insert_note

from secondme.lifecycle.decay import retention

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=timezone.utc)


class Clock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


@pytest.fixture
def clocked(home, fake_embedder):
    from secondme.service import SecondMe

    clock = Clock(T0)
    sm = SecondMe(home, embedder=fake_embedder, clock=clock)
    sm.update_settings(decay_tau_days=30.0, archive_threshold=0.05)
    yield sm, clock
    sm.close()


def _ret(sm, nid):
    return sm.store.conn.execute("select retention, archived from notes where id = ?",
                                 [nid]).fetchone()


def test_formula_has_the_brackets_right():
    # R = exp(-t / (tau * S)): a stronger memory fades slower
    assert retention(30, 1, 30) == pytest.approx(math.exp(-1))
    assert retention(30, 2, 30) == pytest.approx(math.exp(-0.5))
    assert retention(30, 2, 30) > retention(30, 1, 30)
    assert retention(0, 1, 30) == 1.0
    assert retention(-5, 1, 30) == 1.0       # a clock skew never makes R > 1


def test_curve_exact_values(clocked):
    sm, clock = clocked
    nid = insert_note(sm, "Anna likes tea", created_at=T0)
    for days in (0, 1, 10, 30, 60, 90):
        clock.now = T0 + timedelta(days=days)
        sm.run_decay()
        assert _ret(sm, nid)[0] == pytest.approx(math.exp(-days / 30.0), rel=1e-7)


def test_reinforcement_resets_and_slows_decay(clocked):
    sm, clock = clocked
    a = insert_note(sm, "fact a", created_at=T0)
    b = insert_note(sm, "fact b", created_at=T0)
    clock.now = T0 + timedelta(days=20)
    assert sm.reinforce_notes([b, b], "cited") == 1          # once per call
    row = sm.store.conn.execute("select strength, last_recalled, retention from notes "
                                "where id = ?", [b]).fetchone()
    assert row[0] == 2.0 and row[2] == 1.0
    assert row[1] == clock.now.isoformat()
    clock.now = T0 + timedelta(days=50)
    sm.run_decay()
    assert _ret(sm, a)[0] == pytest.approx(math.exp(-50 / 30), rel=1e-7)
    # b: 30 days since reinforcement at S = 2
    assert _ret(sm, b)[0] == pytest.approx(math.exp(-30 / 60), rel=1e-7)
    assert sm.store.conn.execute("select count(*) from reinforcements where note_id = ?",
                                 [b]).fetchone()[0] == 1
    assert sm.reinforce_notes([b], "opened") == 1
    assert sm.store.conn.execute("select strength from notes where id = ?",
                                 [b]).fetchone()[0] == 3.0


def test_pinned_and_profile_are_exempt(clocked):
    sm, clock = clocked
    pinned = insert_note(sm, "pinned", created_at=T0, pinned=True)
    profile = insert_note(sm, "profile", kind="profile", created_at=T0)
    clock.now = T0 + timedelta(days=3650)
    rep = sm.run_decay()
    assert _ret(sm, pinned) == (1.0, 0)
    assert _ret(sm, profile) == (1.0, 0)
    assert rep["exempt"] == 2


def test_archiving_threshold_never_deletes(clocked):
    sm, clock = clocked
    nid = insert_note(sm, "Bob once mentioned a red bicycle", created_at=T0)
    strong = insert_note(sm, "strong", created_at=T0, strength=4)
    seen = []
    sm.hooks.connect("notes_did_change", lambda ids, action: seen.append((action, ids)))
    # exp(-d/30) < 0.05  <=>  d > 30 ln 20 = 89.87 days
    clock.now = T0 + timedelta(days=89)
    assert sm.run_decay()["archived"] == 0
    assert _ret(sm, nid)[1] == 0
    clock.now = T0 + timedelta(days=91)
    rep = sm.run_decay()
    assert rep["archived"] == 1
    r, archived = _ret(sm, nid)
    assert archived == 1 and r == pytest.approx(math.exp(-91 / 30))
    assert _ret(sm, strong)[1] == 0                       # S = 4 fades 4x slower
    assert ("archive", [nid]) in seen
    # still there, with its history; a second pass does not archive it again
    assert sm.store.conn.execute("select count(*) from notes").fetchone()[0] == 2
    hist = sm.store.conn.execute("select action, actor from history where note_id = ?",
                                 [nid]).fetchall()
    assert hist == [("archive", "decay")]
    clock.now = T0 + timedelta(days=400)
    sm.run_decay()
    assert sm.store.conn.execute("select count(*) from notes").fetchone()[0] == 2
    assert sm.store.conn.execute("select count(*) from history where note_id = ?",
                                 [nid]).fetchone()[0] == 1
    # reinforcing a note decay archived brings it back; one the person archived stays
    sm.reinforce_notes([nid], "cited")
    assert _ret(sm, nid) == (1.0, 0)
    user = insert_note(sm, "archived by me", created_at=T0, archived=True)
    with sm.store.write() as db:
        db.conn.execute("insert into history (note_id, action, actor, at) values "
                        "(?, 'archive', 'user', ?)", [user, T0.isoformat()])
    sm.reinforce_notes([user], "opened")
    assert _ret(sm, user)[1] == 1


def test_an_archive_by_decay_can_be_undone(clocked):
    sm, clock = clocked
    nid = insert_note(sm, "Bob once mentioned a red bicycle", created_at=T0)
    clock.now = T0 + timedelta(days=200)
    sm.run_decay()
    entry, = sm.note_history(nid)
    assert entry.action == "archive" and entry.before["note"]["archived"] == 0
    assert entry.after["note"]["archived"] == 1
    assert entry.after["detail"]["reason"] == "retention below threshold"
    assert not sm.undo(entry.id).archived
    assert _ret(sm, nid)[1] == 0


def test_decay_job_runs_through_the_job_system(clocked):
    sm, clock = clocked
    insert_note(sm, "x", created_at=T0)
    clock.now = T0 + timedelta(days=200)
    summary = sm.run_job("decay")
    assert summary["archived"] == 1 and summary["notes"] == 1
    info = {j.name: j for j in sm.jobs_list()}["decay"]
    assert info.last_outcome == "ok" and info.last_summary["archived"] == 1
