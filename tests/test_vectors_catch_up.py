"""A search while another process indexes (issue 14 item 4: the app usable throughout).

The loaded vector index catches up with what other processes wrote before each search.
At a million messages, with a process indexing ~850 vectors/s, a search that caught up
everything first took 1.7 s (p50, bench_scale_1m.py fullembed); a search now answers
from what is loaded and a background thread catches up.
"""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from secondme.store import vectors as vmod


def _other_process_writes(sm, v, n: int, seed: int = 5) -> tuple[list[int], np.ndarray]:
    """``n`` note vectors written to the database as another process would (the loaded
    index knows nothing of them yet)."""
    from secondme.indexing import write_vectors

    vecs = np.random.default_rng(seed).standard_normal((n, v.dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    with sm.store.write() as db:
        pairs, _ = write_vectors(db.conn, v.model_id, "note",
                                 [(i + 1, f"h{seed}-{i}", vecs[i]) for i in range(n)])
    return [label for label, _ in pairs], vecs


def test_a_sync_adds_everything_in_batches_and_then_nothing(sm):
    v = sm.open_vectors()
    n = 3 * vmod.SYNC_BATCH + 7
    labels, vecs = _other_process_writes(sm, v, n)
    assert v.generation != vmod._generation(sm.store.conn)     # behind
    assert v.sync(sm.store) == n
    assert len(v) == n and v.generation == vmod._generation(sm.store.conn)
    assert v.search(vecs[-1], 1)[0][0] == labels[-1]
    assert v.sync(sm.store) == 0                               # nothing changed since


def test_a_search_behind_a_long_backlog_answers_and_a_thread_finishes(sm, monkeypatch):
    """A search adds nothing itself (one that added a step of 8 first spent a median
    16.5 ms of its 54 on it while memories formed at 1M): it answers from what is loaded
    and a thread catches up, after which searches find the new vectors."""
    v = sm.open_vectors()
    labels, vecs = _other_process_writes(sm, v, 10)
    v.sync(sm.store)
    n = 6 * vmod.SYNC_BATCH
    new_labels, new_vecs = _other_process_writes(sm, v, n, seed=8)
    added = []
    add = v.add
    monkeypatch.setattr(v, "add", lambda *a, **k: added.append(threading.current_thread())
                        or add(*a, **k))
    hits = v.search(vecs[0], 3)             # what is loaded, at once
    assert hits[0][0] == labels[0]
    catcher = v._catcher
    assert catcher is not None and catcher.name == "secondme-vector-catch-up"
    catcher.join(30)
    assert not catcher.is_alive()
    assert added and all(t is catcher for t in added)   # none on the searching thread
    assert len(v) == 10 + len(new_labels) and v.generation == vmod._generation(sm.store.conn)
    assert v.search(new_vecs[-1], 1)[0][0] == new_labels[-1]
    assert v._catcher is catcher            # caught up: no new thread


def test_a_search_does_not_wait_for_a_catch_up_on_another_thread(sm):
    v = sm.open_vectors()
    labels, vecs = _other_process_writes(sm, v, 40)
    v.sync(sm.store)
    _other_process_writes(sm, v, 10, seed=6)
    took = []
    with v._sync_lock:                      # another thread is catching up (slowly)
        t = threading.Thread(target=lambda: took.append(_timed_search(v, vecs[3])))
        t.start()
        t.join(10)
    assert took, "the search waited for the catch-up"
    hits, seconds = took[0]
    assert hits[0][0] == labels[3] and seconds < 5


def _timed_search(v, q):
    t = time.perf_counter()
    hits = v.search(q, 2)
    return hits, time.perf_counter() - t


def test_closing_the_service_stops_a_catch_up(home, fake_embedder, monkeypatch):
    from secondme.service import SecondMe

    sm = SecondMe(home, embedder=fake_embedder)
    v = sm.open_vectors()
    _other_process_writes(sm, v, 40 * vmod.SYNC_BATCH)
    steps = threading.Semaphore(0)
    add = v.add

    def slow_add(*a, **k):       # a catch-up slow enough to be stopped half-way
        steps.release()
        time.sleep(0.02)
        return add(*a, **k)

    monkeypatch.setattr(v, "add", slow_add)
    v.catch_up_in_background()
    assert steps.acquire(timeout=10)
    catcher = v._catcher
    sm.close()                              # stops it before the store closes
    assert not catcher.is_alive()
    assert 0 < len(v) < 40 * vmod.SYNC_BATCH
    with SecondMe(home, embedder=fake_embedder) as again:   # opening catches up the rest
        assert len(again.open_vectors()) == 40 * vmod.SYNC_BATCH


def test_a_removal_elsewhere_is_scrubbed_from_the_log(sm):
    """Another process removes an entry: the next sync scrubs it from the
    ``vector_removals`` log without comparing every label — at 1M that comparison, before
    every search while memories formed, made searches take p50/p95 0.36/0.64 s."""
    v = sm.open_vectors()
    labels, vecs = _other_process_writes(sm, v, 30)
    v.sync(sm.store)
    assert v.removals_seen >= 0
    with sm.store.write() as db:
        db.conn.execute("delete from vector_items where label = ?", [labels[4]])
    counted = []
    conn = sm.store.conn
    conn.set_trace_callback(lambda sql: counted.append(sql) if "count(" in sql else None)
    try:
        assert v.sync(sm.store) == 1 and len(v) == 29
    finally:
        conn.set_trace_callback(None)
    assert v.generation == vmod._generation(conn)
    assert counted == []
    assert labels[4] not in [lab for lab, _ in v.search(vecs[4], 5)]
    # an entry another item still points at stays
    with sm.store.write() as db:
        db.conn.execute("insert into vector_items (kind, item_id, content_hash, label, vec) "
                        "select kind, item_id + 1000, content_hash, "
                        "(select next_label from vector_state), vec from vector_items "
                        "where label = ?", [labels[5]])
        db.conn.execute("delete from vector_items where label = ?", [labels[5]])
    assert v.sync(sm.store) == 0 and len(v) == 29
    assert v.search(vecs[5], 1)[0][0] == labels[5]


@pytest.mark.parametrize("where", ["sync", "thread"])
def test_an_index_that_cannot_follow_the_log_compares_every_label(sm, where):
    """An index file saved before the log (no ``removals_seen``): a sync (opening's, or
    the background thread's after a search) compares every label, and from then on the
    index follows the log."""
    v = sm.open_vectors()
    labels, vecs = _other_process_writes(sm, v, 30)
    v.sync(sm.store)
    v.removals_seen = -1
    with sm.store.write() as db:
        db.conn.execute("delete from vector_items where label = ?", [labels[4]])
    if where == "sync":
        assert v.sync(sm.store) == 1 and len(v) == 29
    else:
        v.reconciled_at = -1e9
        v.search(vecs[0], 1)           # answers from what is loaded, starts the thread
        v._catcher.join(10)
        assert len(v) == 29 and v.generation == vmod._generation(sm.store.conn)
    assert v.removals_seen == vmod._last_removal(sm.store.conn) > 0
    assert labels[4] not in [lab for lab, _ in v.search(vecs[4], 5)]


def test_a_removal_made_while_comparing_is_not_an_index_out_of_step(sm, monkeypatch):
    """Formation removes note vectors all the time; one removed between the count and
    the comparison of labels used to make the index "out of step" and rebuild (minutes
    at 1M, inside a search)."""
    v = sm.open_vectors()
    labels, vecs = _other_process_writes(sm, v, 30)
    v.sync(sm.store)
    with sm.store.write() as db:
        db.conn.execute("delete from vector_items where label = ?", [labels[4]])
    real = vmod.VectorIndex._reconcile

    def removed_meanwhile(self, *args, **kw):
        # another process removes an entry after this one counted, before it compares
        with sm.store.write() as db:
            db.conn.execute("delete from vector_items where label = ?", [labels[7]])
        return real(self, *args, **kw)

    rebuilt = []
    monkeypatch.setattr(vmod.VectorIndex, "_reconcile", removed_meanwhile)
    monkeypatch.setattr(vmod.VectorIndex, "rebuild", lambda *a, **k: rebuilt.append(1))
    v.removals_seen = -1        # an index that cannot follow the removals log
    v.sync(sm.store)
    assert not rebuilt and len(v) == 28
    found = [lab for lab, _ in v.search(vecs[4], 5) + v.search(vecs[7], 5)]
    assert labels[4] not in found and labels[7] not in found


def test_the_background_compares_every_label_at_most_once_per_interval(sm, monkeypatch):
    """While another process forms memories, removals never stop: comparing every label
    (seconds of CPU at 1M) runs at most once per RECONCILE_INTERVAL_S, for an index that
    cannot follow the removals log."""
    v = sm.open_vectors()
    labels, vecs = _other_process_writes(sm, v, 30)
    v.sync(sm.store)
    compared = []
    real = vmod.VectorIndex._reconcile

    def counting(self, *a, **k):
        compared.append(time.monotonic())
        return real(self, *a, **k)

    monkeypatch.setattr(vmod.VectorIndex, "_reconcile", counting)
    monkeypatch.setattr(vmod, "RECONCILE_INTERVAL_S", 0.6)
    for n in (4, 7):
        with sm.store.write() as db:
            db.conn.execute("delete from vector_items where label = ?", [labels[n]])
        v.removals_seen = -1
        v.catch_up_in_background()
        v._catcher.join(10)
    assert len(compared) == 2 and compared[1] - compared[0] >= 0.55
    assert len(v) == 28 and v.generation == vmod._generation(sm.store.conn)


def test_a_catch_up_holds_the_index_lock_for_a_small_step_at_a_time(sm, monkeypatch):
    """At 1M an insertion takes ~0.7 ms on a slow machine: a catch-up adding 256 vectors
    under one hold of the lock kept every search waiting ~180 ms."""
    v = sm.open_vectors()
    _other_process_writes(sm, v, 3 * vmod.SYNC_BATCH)
    held = []
    add = v.add

    def watched(labels, vectors, **k):
        assert not v._lock._is_owned()      # taken afresh for every step
        held.append(len(labels))
        return add(labels, vectors, **k)

    monkeypatch.setattr(v, "add", watched)
    assert v.sync(sm.store) == 3 * vmod.SYNC_BATCH
    assert max(held) <= vmod.ADD_STEP and sum(held) == 3 * vmod.SYNC_BATCH


def test_an_index_behind_a_pruned_removals_log_compares_every_label(sm, monkeypatch):
    """Upkeep keeps the last REMOVALS_KEPT rows of the log; an index that had not read
    the pruned ones cannot follow it and compares every label (still exact)."""
    from secondme.lifecycle import upkeep

    v = sm.open_vectors()
    labels, vecs = _other_process_writes(sm, v, 30)
    v.sync(sm.store)
    seen = v.removals_seen
    with sm.store.write() as db:
        for n in (3, 4, 5, 6):
            db.conn.execute("delete from vector_items where label = ?", [labels[n]])
    with sm.store.write() as db:
        assert vmod.prune_removals(db.conn, 2) == 2
    left = [r[0] for r in sm.store.conn.execute("select id from vector_removals")]
    assert len(left) == 2 and min(left) > seen + 1
    compared = []
    real = vmod.VectorIndex._reconcile
    monkeypatch.setattr(vmod.VectorIndex, "_reconcile",
                        lambda self, *a, **k: compared.append(1) or real(self, *a, **k))
    assert v.sync(sm.store) == 4 and len(v) == 26 and compared == [1]
    assert v.removals_seen == max(left)
    found = [lab for lab, _ in v.search(vecs[4], 5)]
    assert labels[4] not in found
    # from here on it follows the log again
    with sm.store.write() as db:
        db.conn.execute("delete from vector_items where label = ?", [labels[9]])
    assert v.sync(sm.store) == 1 and compared == [1] and len(v) == 25
    # the weekly upkeep prunes it (the notes these vectors stood for do not exist: their
    # 25 entries go as orphans, and are logged too)
    monkeypatch.setattr(upkeep, "REMOVALS_KEPT", 2)
    out = upkeep.compact_vectors(sm.store, v, sm.home / "vectors")
    assert out["orphans_dropped"] == 25 and len(v) == 0
    assert out["removals_pruned"] == 3 + 25 - 2
    assert sm.store.conn.execute("select count(*) from vector_removals").fetchone()[0] == 2


def _slow_steps(monkeypatch, v, seconds: float) -> list[int]:
    """Every insertion into ``v``'s hnswlib index takes ``seconds`` longer (sleeping
    without the GIL, as hnswlib inserts): a catch-up at 1M on a slow machine. Returns
    the sizes of the calls as they come."""
    calls = []

    class Slow:
        def __init__(self, index):
            self._real = index

        def add_items(self, *a, **k):
            calls.append(len(a[0]))
            time.sleep(seconds)
            return self._real.add_items(*a, **k)

        def __getattr__(self, name):
            return getattr(self._real, name)

    monkeypatch.setattr(v, "_index", Slow(v._index))
    return calls


def test_a_search_waits_for_one_step_of_a_catch_up_not_all_of_it(sm, monkeypatch):
    """Python's locks are not fair: a catch-up that released the index lock and took it
    again at once often went on ahead of a waiting search (at 1M, searches while the
    app caught up with formation: p95 166 ms, max 1.2 s). A catch-up now gives way before
    every step: no step starts while a search waits (but the one a search finds under
    way, or one starting in the same instant)."""
    v = sm.open_vectors()
    labels, vecs = _other_process_writes(sm, v, 20)
    v.sync(sm.store)
    _other_process_writes(sm, v, 80 * vmod.ADD_STEP, seed=6)
    calls = _slow_steps(monkeypatch, v, 0.01)         # the whole catch-up: ~0.8 s
    t = threading.Thread(target=v.sync, args=(sm.store,))
    t.start()
    while not calls:
        time.sleep(0.001)
    started = []                                      # steps begun while a search ran
    for _ in range(20):
        before = len(calls)
        hits, _s = _timed_search(v, vecs[3])
        started.append(len(calls) - before)
        assert hits[0][0] == labels[3]
        time.sleep(0.013)
    steps_meanwhile = len(calls)
    t.join(30)
    assert len(calls) == 80 and steps_meanwhile < 80   # the searches ran mid-way
    assert sum(started) <= 1, started


def test_removals_are_scrubbed_a_few_at_a_time_giving_way_to_searches(sm, monkeypatch):
    """Overwriting a removed vector re-links it (~4 ms at 200k): formation removes one
    for every note it refines, and a catch-up that scrubbed them all under one hold of
    the lock kept searches waiting."""
    v = sm.open_vectors()
    labels, vecs = _other_process_writes(sm, v, 40)
    v.sync(sm.store)
    with sm.store.write() as db:
        db.conn.executemany("delete from vector_items where label = ?",
                            [[lab] for lab in labels[:20]])
    held = []
    real = v._overwrite_deleted

    def watched(part):
        held.append(len(part))
        return real(part)

    monkeypatch.setattr(v, "_overwrite_deleted", watched)
    assert v.sync(sm.store) == 20 and len(v) == 20
    assert max(held) <= vmod.SCRUB_STEP and sum(held) == 20
    assert not v._unscrubbed
    assert labels[4] not in [lab for lab, _ in v.search(vecs[4], 5)]


def test_a_save_during_a_scrub_overwrites_what_is_left_first(sm):
    """A removed vector must not reach the saved file even when the save comes between
    two steps of a scrub (another thread saving)."""
    v = sm.open_vectors()
    labels, vecs = _other_process_writes(sm, v, 10)
    v.sync(sm.store)
    with v._lock:                      # marked removed; the scrub has not come yet
        assert v._delete_live(labels[2])
    assert v._unscrubbed == {labels[2]}
    v.save()
    assert not v._unscrubbed
    saved = (v.directory / vmod.INDEX_FILE).read_bytes()
    assert vecs[3].astype("<f4").tobytes() in saved          # control: a kept vector
    assert vecs[2].astype("<f4").tobytes() not in saved      # the removed one: noise
