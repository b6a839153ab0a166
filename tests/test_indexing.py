"""The embedding path: nothing is embedded twice, the vector index rebuilds itself from the
database (missing / corrupt / other model / other dimension) with progress, and indexing
reports progress and honours cancel."""
from __future__ import annotations

import json

import numpy as np
import pytest

from secondme.errors import Cancelled
from secondme.indexing import count_pending, forget_items, index_pending, message_text
from secondme.models.embed import HashEmbedder, content_hash
from secondme.progress import CancelToken
from secondme.store.db import Store
from secondme.store.vectors import INDEX_FILE, META_FILE, VectorIndex


def add_messages(store: Store, texts: list[str], conversation: str = "c1",
                 speaker: str = "Anna") -> list[int]:
    with store.write() as db:
        conn = db.conn
        row = conn.execute("select id from conversations where external_id = ?",
                           [conversation]).fetchone()
        if row:
            conv = row[0]
        else:
            conv = conn.execute("insert into conversations (format, external_id) values "
                                "('test', ?)", [conversation]).lastrowid
        start = conn.execute("select count(*) from messages where conversation_id = ?",
                             [conv]).fetchone()[0]
        ids = []
        for i, t in enumerate(texts, start):
            ids.append(conn.execute(
                "insert into messages (conversation_id, external_id, position, speaker, text, "
                "content_hash) values (?, ?, ?, ?, ?, ?)",
                [conv, f"m{i}", i, speaker, t, content_hash(t)]).lastrowid)
    return ids


@pytest.fixture
def store(tmp_path):
    s = Store.open(tmp_path / "db.sqlite")
    yield s
    s.close()


def open_index(tmp_path, store, emb, **kw):
    return VectorIndex.open(tmp_path / "vectors", emb.model_id, emb.dim, store, **kw)


def test_text_whose_hash_is_stored_is_never_embedded_again(tmp_path, store):
    emb = HashEmbedder()
    vi = open_index(tmp_path, store, emb)
    add_messages(store, ["hello there", "see you at the lake", "hello there"])
    rep = index_pending(store, emb, vi)
    assert (rep.items, rep.embedded, rep.reused) == (3, 2, 1)
    assert emb.texts_embedded == 2
    # nothing new: no model call at all
    rep = index_pending(store, emb, vi)
    assert rep.items == 0 and emb.calls == 1 and emb.texts_embedded == 2
    # the same words again in another conversation, by the same speaker: reused
    add_messages(store, ["see you at the lake", "a brand new line"], conversation="c2")
    rep = index_pending(store, emb, vi)
    assert (rep.items, rep.embedded, rep.reused) == (2, 1, 1)
    assert emb.texts_embedded == 3
    # five items, three texts: one index entry per text (migration m516)
    assert store.conn.execute("select count(*) from vector_items").fetchone()[0] == 5
    assert len(vi) == 3


def test_forgotten_items_are_reindexed_from_stored_embeddings(tmp_path, store):
    emb = HashEmbedder()
    vi = open_index(tmp_path, store, emb)
    ids = add_messages(store, ["alpha beta", "gamma delta"])
    index_pending(store, emb, vi)
    assert forget_items(store, vi, "message", ids) == 2
    assert len(vi) == 0 and count_pending(store) == 2
    rep = index_pending(store, emb, vi)
    assert rep.items == 2 and rep.embedded == 0 and rep.reused == 2
    assert emb.texts_embedded == 2


def test_search_finds_the_indexed_message(tmp_path, store):
    emb = HashEmbedder()
    vi = open_index(tmp_path, store, emb)
    ids = add_messages(store, ["we met at the harbour cafe", "my dentist is on Main street",
                               "the cat sleeps all day"])
    index_pending(store, emb, vi)
    q = emb.embed([message_text("Anna", "dentist on Main street")])[0]
    label = vi.search(q, k=1)[0][0]
    item = store.conn.execute("select item_id from vector_items where label = ?",
                              [label]).fetchone()[0]
    assert item == ids[1]


def test_search_that_finds_fewer_than_asked_returns_what_it_found(tmp_path, store):
    """hnswlib raises when it finds fewer than k neighbours (a filter, many deleted labels,
    an index another process is rebuilding — a concurrent search failed this way): the
    search returns the neighbours there are instead of failing."""
    emb = HashEmbedder()
    vi = open_index(tmp_path, store, emb)
    add_messages(store, [f"message {i} about topic {i % 5}" for i in range(40)])
    index_pending(store, emb, vi)
    q = emb.embed([message_text("Anna", "topic 3")])[0]
    labels = [label for label, _ in vi.search(q, k=40)]
    keep = set(labels[:3])
    hits = vi.search(q, k=10, filter=lambda label: label in keep)
    assert {label for label, _ in hits} <= keep and 1 <= len(hits) <= 3
    assert vi.search(q, k=10, filter=lambda label: False) == []


@pytest.fixture
def indexed(tmp_path, store):
    emb = HashEmbedder()
    vi = open_index(tmp_path, store, emb)
    add_messages(store, [f"message number {i} about topic {i % 7}" for i in range(300)])
    index_pending(store, emb, vi)
    vi.save()
    return emb


def _reopen(tmp_path, store, emb):
    reports = []
    calls = emb.calls
    vi = open_index(tmp_path, store, emb, progress=reports.append)
    assert emb.calls == calls  # a rebuild never re-embeds
    return vi, reports


def test_an_intact_index_is_loaded(tmp_path, store, indexed):
    vi, reports = _reopen(tmp_path, store, indexed)
    assert vi.status == "loaded" and len(vi) == 300 and reports == []


def test_a_missing_index_is_rebuilt_with_progress(tmp_path, store, indexed):
    (tmp_path / "vectors" / INDEX_FILE).unlink()
    vi, reports = _reopen(tmp_path, store, indexed)
    assert vi.status == "rebuilt: missing" and len(vi) == 300
    assert reports and reports[-1].done == reports[-1].total == 300
    assert (tmp_path / "vectors" / INDEX_FILE).exists()  # saved again
    assert _reopen(tmp_path, store, indexed)[0].status == "loaded"


def test_a_corrupt_index_is_rebuilt(tmp_path, store, indexed):
    (tmp_path / "vectors" / INDEX_FILE).write_bytes(b"\x00garbage" * 100)
    vi, reports = _reopen(tmp_path, store, indexed)
    assert vi.status == "rebuilt: corrupt" and len(vi) == 300 and reports


def test_corrupt_metadata_is_rebuilt(tmp_path, store, indexed):
    (tmp_path / "vectors" / META_FILE).write_text("{not json")
    vi, _ = _reopen(tmp_path, store, indexed)
    assert vi.status == "rebuilt: corrupt" and len(vi) == 300


def test_an_index_of_another_model_is_rebuilt(tmp_path, store, indexed):
    meta_path = tmp_path / "vectors" / META_FILE
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "model_id": "some-other-model"}))
    vi, reports = _reopen(tmp_path, store, indexed)
    assert vi.status == "rebuilt: model changed" and len(vi) == 300 and reports


def test_an_index_of_another_dimension_is_rebuilt_and_stale_items_requeued(tmp_path, store,
                                                                          indexed):
    emb32 = HashEmbedder(dim=32, model_id="hash-32")
    vi, reports = _reopen(tmp_path, store, emb32)
    assert vi.status == "rebuilt: model changed"
    # no embeddings of the new model exist yet: every item waits to be embedded again
    assert len(vi) == 0 and count_pending(store) == 300
    rep = index_pending(store, emb32, vi)
    assert rep.items == 300 and len(vi) == 300 and vi.dim == 32


def test_an_index_behind_the_database_catches_up_without_a_rebuild(tmp_path, store, indexed):
    """Another process removed an item and indexed a new one after this file was saved:
    the index adds and scrubs what changed (labels are never reused, so the label of the
    removed item cannot come back as another item)."""
    open_index(tmp_path, store, indexed)
    removed = store.conn.execute("select max(label) from vector_items").fetchone()[0]
    with store.write() as db:   # "another process": straight to the database
        db.execute("delete from vector_items where label = ?", [removed])
    add_messages(store, ["one more message"], conversation="c9")
    other = VectorIndex(tmp_path / "elsewhere", indexed.model_id, indexed.dim)
    index_pending(store, indexed, other)
    new_label = store.conn.execute("select max(label) from vector_items").fetchone()[0]
    assert new_label > removed
    items = store.conn.execute("select count(*) from vector_items").fetchone()[0]
    assert items == 301   # the removed item was indexed again (new label), one is new
    vi2, reports = _reopen(tmp_path, store, indexed)
    assert vi2.status == "caught up" and len(vi2) == items
    # no rebuild: the only progress is the catch-up, from stored vectors
    assert {r.stage for r in reports} == {"catching up the vector index"}
    hits = [label for label, _d in vi2.search(indexed.embed(["one more message"])[0], 400)]
    assert new_label in hits and removed not in hits
    vi2.save()
    assert _reopen(tmp_path, store, indexed)[0].status == "loaded"


def test_an_index_that_cannot_be_reconciled_is_rebuilt(tmp_path, store, indexed):
    open_index(tmp_path, store, indexed)
    meta_path = tmp_path / "vectors" / META_FILE
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "deleted": 7, "generation": -1}))
    vi2, _ = _reopen(tmp_path, store, indexed)
    assert vi2.status == "rebuilt: out of step with the database" and len(vi2) == 300


def test_indexing_reports_progress_and_honours_cancel(tmp_path, store):
    emb = HashEmbedder()
    vi = open_index(tmp_path, store, emb)
    add_messages(store, [f"text {i}" for i in range(50)])
    cancel = CancelToken()
    reports = []

    def progress(p):
        reports.append(p)
        if p.done >= 10:
            cancel.cancel()

    with pytest.raises(Cancelled):
        index_pending(store, emb, vi, batch_size=10, progress=progress, cancel=cancel)
    assert reports[0].total == 50 and reports[-1].done == 10
    done_before = 50 - count_pending(store)
    assert done_before == 10  # the finished batch was kept
    rep = index_pending(store, emb, vi, batch_size=10)
    assert rep.items == 40 and len(vi) == 50


def test_writer_failure_surfaces_on_the_caller(tmp_path, store, monkeypatch):
    emb = HashEmbedder()
    vi = open_index(tmp_path, store, emb)
    add_messages(store, [f"text {i}" for i in range(30)])

    def broken_add(labels, vectors, **kw):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(vi, "add", broken_add)
    with pytest.raises(RuntimeError, match="disk on fire"):
        index_pending(store, emb, vi, batch_size=10)


def test_vectors_are_the_embedders_vectors(tmp_path, store):
    emb = HashEmbedder()
    vi = open_index(tmp_path, store, emb)
    add_messages(store, ["exact vector check"])
    index_pending(store, emb, vi)
    blob = store.conn.execute("select vector from embeddings").fetchone()[0]
    want = emb.embed([message_text("Anna", "exact vector check")])[0]
    assert np.allclose(np.frombuffer(blob, dtype="<f4"), want)


def test_a_model_change_asks_for_the_items_to_be_embedded_again(home):
    """Opening the index for a new model drops the items with no vector for it, and asks
    for the extract job at once (the app runs it within seconds; a CLI or MCP process
    leaves the request for the app) — until then they are found by keywords only."""
    from secondme.recall.dataset import load_conversations
    from secondme.service import SecondMe

    convs = [{"id": "c", "title": "t", "participants": ["A", "B"],
              "messages": [{"id": f"m{i}", "speaker": "AB"[i % 2], "text": f"message {i} "
                            f"about the flight to Lisbon", "timestamp": None}
                           for i in range(6)]}]
    with SecondMe(home, embedder=HashEmbedder(model_id="model-a")) as sm:
        load_conversations(sm.store, convs)
        sm.index_pending()
        assert count_pending(sm.store) == 0
    with SecondMe(home, embedder=HashEmbedder(model_id="model-a")) as sm:
        assert sm.vectors.dropped == 0
        row = sm.store.conn.execute(
            "select requested_at from jobs where name = 'extract'").fetchone()
        assert not (row and row[0])
    with SecondMe(home, embedder=HashEmbedder(model_id="model-b")) as sm:
        assert sm.vectors.status == "rebuilt: model changed"
        assert sm.vectors.dropped == 6 and count_pending(sm.store) == 6
        assert sm.store.conn.execute(
            "select requested_at from jobs where name = 'extract'").fetchone()[0]
        sm.index_pending()
        assert count_pending(sm.store) == 0 and len(sm.vectors) == 6


def test_a_search_does_not_wait_for_a_save_to_checksum_and_rename(tmp_path, store,
                                                                 monkeypatch):
    # the app saves its index after every worker run (the worker holds none): at 1M
    # vectors the checksum and the rename take seconds, outside the index lock
    import threading

    import secondme.store.vectors as vectors

    emb = HashEmbedder()
    vi = open_index(tmp_path, store, emb)
    add_messages(store, [f"note {i} about the harbour" for i in range(50)])
    index_pending(store, emb, vi)
    in_checksum, release = threading.Event(), threading.Event()
    real = vectors._file_sha256

    def slow_checksum(path):
        in_checksum.set()
        assert release.wait(20)
        return real(path)

    monkeypatch.setattr(vectors, "_file_sha256", slow_checksum)
    saver = threading.Thread(target=vi.save)
    saver.start()
    try:
        assert in_checksum.wait(20)
        found = []
        searcher = threading.Thread(target=lambda: found.append(
            vi.search(emb.embed(["harbour"])[0], k=3)))
        searcher.start()
        searcher.join(5)
        assert found and len(found[0]) == 3      # answered while the save checksums
    finally:
        release.set()
        saver.join(20)
    monkeypatch.setattr(vectors, "_file_sha256", real)
    again = open_index(tmp_path, store, emb)
    assert again.status == "loaded" and len(again) == len(vi) == 50


def test_an_opened_index_has_room_for_an_eighth_more_and_grows_by_as_much(tmp_path, store):
    # hnswlib fills a lock per slot of its capacity at once: opening with room for twice
    # the count held ~36 MB at 1M messages for slots most runs never use
    from secondme.store.vectors import capacity_for

    emb = HashEmbedder()
    vi = open_index(tmp_path, store, emb)
    add_messages(store, [f"message number {i} about the lake" for i in range(3000)])
    index_pending(store, emb, vi)
    vi.save()
    vi2 = open_index(tmp_path, store, emb)
    assert vi2.status == "loaded"
    assert vi2._index.get_max_elements() == capacity_for(3000) == 3000 + 1024
    assert capacity_for(800_000) == 900_000
    later = add_messages(store, [f"later message {i} on the ferry" for i in range(1500)])
    index_pending(store, emb, vi2)
    assert len(vi2) == 4500
    assert vi2._index.get_max_elements() == capacity_for(4500) == 4500 + 1024
    label, blob = store.conn.execute(
        "select v.vec, e.vector from vector_items v join embeddings e on e.content_hash = "
        "v.content_hash where v.kind = 'message' and v.item_id = ?", [later[-1]]).fetchone()
    # found after the growth (the hash embedder gives many texts this very vector)
    assert vi2.search(np.frombuffer(blob, dtype="<f4"), 10)[0][1] < 1e-4
    assert label in set(vi2._index.get_ids_list())
