"""The one writer of vector_items (indexing.write_vectors): an item listed twice, an item
indexed meanwhile by someone else, and a changed item never break the UNIQUE(kind, item_id)
constraint (the crash of issues 15 and 17)."""
from __future__ import annotations

import numpy as np

from secondme.indexing import write_vectors


def _v(x: float) -> np.ndarray:
    return np.full(4, x, dtype=np.float32)


def _rows(sm):
    return sm.store.conn.execute(
        "select label, item_id, content_hash from vector_items order by label").fetchall()


def test_an_item_listed_twice_keeps_its_last_vector(sm):
    with sm.store.write() as db:
        added, stale = write_vectors(db.conn, "m", "note", [(1, "a", _v(1)), (1, "b", _v(2))])
    assert [r[1:] for r in _rows(sm)] == [(1, "b")]
    assert len(added) == 1 and float(added[0][1][0]) == 2.0 and stale == []


def test_an_item_indexed_meanwhile_is_skipped_unless_replaced(sm):
    with sm.store.write() as db:
        write_vectors(db.conn, "m", "message", [(7, "a", _v(1))])
        added, stale = write_vectors(db.conn, "m", "message", [(7, "a", _v(1)),
                                                               (8, "c", _v(3))])
    assert [r[1] for r in _rows(sm)] == [7, 8]
    assert [float(v[0]) for _, v in added] == [3.0] and stale == []
    first_label = _rows(sm)[0][0]
    with sm.store.write() as db:
        added, stale = write_vectors(db.conn, "m", "message", [(7, "z", _v(9))], replace=True)
    assert stale == [first_label]
    assert sorted((r[1], r[2]) for r in _rows(sm)) == [(7, "z"), (8, "c")]
    labels = [r[0] for r in _rows(sm)]
    assert len(set(labels)) == 2 and added[0][0] == max(labels)
