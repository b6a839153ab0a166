"""One vector index entry per distinct text (migration m516): items with the same text
share it, search finds every one of them, and the entry leaves the index (scrubbed) only
when the last item using it goes."""
from __future__ import annotations

import json
import sqlite3

import numpy as np
from test_indexing import add_messages, open_index, store  # noqa: F401 (a fixture)

from secondme.indexing import forget_items, index_pending
from secondme.models.embed import HashEmbedder, content_hash
from secondme.store import migrations
from secondme.store.db import Store
from secondme.store.vectors import META_FILE, VectorIndex


def _items_of(st, vec):
    return sorted(r[0] for r in st.conn.execute(
        "select item_id from vector_items where vec = ?", [vec]))


def test_items_with_one_text_share_an_entry_until_the_last_goes(tmp_path, store):  # noqa: F811
    emb = HashEmbedder()
    vi = open_index(tmp_path, store, emb)
    ids = add_messages(store, ["ok", "see you at the lake", "ok", "ok"])
    index_pending(store, emb, vi)
    assert len(vi) == 2
    (vec,) = {r[0] for r in store.conn.execute(
        "select vec from vector_items where item_id in (?, ?, ?)", [ids[0], ids[2], ids[3]])}
    assert _items_of(store, vec) == [ids[0], ids[2], ids[3]]
    # the item that made the entry goes: the entry stays for the other two
    assert forget_items(store, vi, "message", [ids[0]]) == 0
    assert len(vi) == 2
    label, dist = vi.search(emb.embed(["Anna: ok"])[0], 1)[0]
    assert label == vec and dist < 1e-4
    # the last one goes: the entry leaves the index
    assert forget_items(store, vi, "message", [ids[2], ids[3]]) == 1
    assert len(vi) == 1
    # the index file agrees with the database when opened again
    vi.save()
    again = open_index(tmp_path, store, emb)
    assert again.status == "loaded" and len(again) == 1


def test_search_answers_every_item_with_the_text(sm, tmp_path):
    conv = {"conversations": [{"id": f"c{n}", "title": f"Chat {n}", "participants": ["Bo"],
                               "messages": [
                                   {"id": f"c{n}-1", "speaker": "Bo",
                                    "timestamp": f"2024-0{n}-01T10:00:00Z",
                                    "text": "the spare key is under the blue flowerpot"},
                                   {"id": f"c{n}-2", "speaker": "Bo",
                                    "timestamp": f"2024-0{n}-01T10:01:00Z",
                                    "text": f"unrelated line number {n}"}]}
                              for n in (1, 2, 3)]}
    path = tmp_path / "chats.json"
    path.write_text(json.dumps(conv))
    sm.import_paths([path])
    sm.index_pending()
    rows = sm.store.conn.execute(
        "select m.id, v.vec from messages m join vector_items v on v.kind = 'message' and "
        "v.item_id = m.id where m.text like 'the spare key%'").fetchall()
    assert len(rows) == 3 and len({vec for _id, vec in rows}) == 1
    assert len(sm.vectors) == 4     # 6 messages, 4 texts
    from secondme.recall.search import SearchTrace, _dense

    q = sm.embedder.embed(["Bo: the spare key is under the blue flowerpot"])[0]
    found = _dense(sm.store.conn, sm.vectors, lambda: q, 10, SearchTrace())
    assert {("message", i) for i, _v in rows} <= set(found)
    # never more items than asked for, even when one entry holds more
    assert len(_dense(sm.store.conn, sm.vectors, lambda: q, 2, SearchTrace())) == 2


def test_another_process_sharing_an_entry_is_not_a_difference(tmp_path, store):  # noqa: F811
    """A process that indexed an item whose text the index already holds changed
    ``vector_items`` but not the index: catching up adds nothing and rebuilds nothing."""
    emb = HashEmbedder()
    here = open_index(tmp_path, store, emb)
    add_messages(store, ["hello there", "general kenobi"])
    index_pending(store, emb, here)
    other_store = Store.open(tmp_path / "db.sqlite")
    try:
        other = open_index(tmp_path, other_store, emb)
        add_messages(other_store, ["hello there", "a new line"], conversation="c2")
        index_pending(other_store, emb, other)
    finally:
        other_store.close()
    assert here.sync() == 1          # "a new line"; "hello there" shares an entry
    assert len(here) == 3 and here.status != "rebuilt: out of step with the database"


def _store_before(db, migration: str) -> sqlite3.Connection:
    """A database at ``db`` with every migration before ``migration`` applied."""
    old = sqlite3.connect(db, isolation_level=None)
    old.execute("create table migrations (name text primary key, applied_at text not null)")
    upto = [n for n, _f in migrations.MIGRATIONS].index(migration)
    for name, fn in migrations.MIGRATIONS[:upto]:
        old.execute("begin")
        fn(old)
        old.execute("insert into migrations values (?, 'then')", [name])
        old.execute("commit")
    return old


def test_a_store_indexed_one_entry_per_item_is_migrated_and_its_index_rebuilt(tmp_path):
    """Before m516 every item had its own entry: the migration points items with one
    text at the first one's label, and the old index file is rebuilt from the stored
    vectors (nothing embedded again)."""
    db = tmp_path / "db.sqlite"
    old = _store_before(db, "m516_one_vector_per_text")
    emb = HashEmbedder()
    texts = ["Anna: ok", "Anna: see you", "Anna: ok", "Anna: ok"]
    vecs = emb.embed(texts)
    conv = old.execute("insert into conversations (format, external_id) values ('t', 'c')"
                       ).lastrowid
    for i, (t, v) in enumerate(zip(texts, vecs), start=1):
        old.execute("insert into messages (id, conversation_id, external_id, position, "
                    "speaker, text, content_hash) values (?, ?, ?, ?, 'Anna', ?, ?)",
                    [i, conv, f"m{i}", i, t[6:], content_hash(t)])
        old.execute("insert or ignore into embeddings values (?, ?, ?)",
                    [content_hash(t), emb.model_id, np.asarray(v, "<f4").tobytes()])
        old.execute("insert into vector_items (label, kind, item_id, content_hash) values "
                    "(?, 'message', ?, ?)", [i + 10, i, content_hash(t)])
    old.close()
    # an index file of the old layout: one entry per item
    legacy = VectorIndex(tmp_path / "vectors", emb.model_id, emb.dim)
    legacy.add([11, 12, 13, 14], np.vstack(vecs))
    legacy.save()
    meta = json.loads((tmp_path / "vectors" / META_FILE).read_text())
    meta.pop("layout")
    (tmp_path / "vectors" / META_FILE).write_text(json.dumps(meta))

    migrated = Store.open(db)
    try:
        assert dict(migrated.conn.execute("select item_id, vec from vector_items")) == {
            1: 11, 2: 12, 3: 11, 4: 11}
        steps = []
        vi = VectorIndex.open(tmp_path / "vectors", emb.model_id, emb.dim, migrated,
                              progress=steps.append)
        assert vi.status == "rebuilt: one entry per text now"
        assert len(vi) == 2 and sorted(vi._index.get_ids_list()) == [11, 12]
        assert steps and steps[-1].done == 2
        assert migrated.conn.execute(
            "select count(*) from note_sources where source_note_id = 1").fetchone() == (0,)
        plan = " ".join(str(r) for r in migrated.conn.execute(
            "explain query plan select 1 from note_sources where source_note_id = 1"))
        assert "note_sources_source_note" in plan
    finally:
        migrated.close()


def test_a_search_while_the_index_is_rebuilt_answers_by_keywords_at_once(sm, tmp_path,
                                                                          monkeypatch):
    """After the upgrade the index is rebuilt once (minutes at 1M messages); searches in
    the meantime must not wait for it."""
    import threading
    import time

    from secondme.recall.search import SearchTrace
    from secondme.store import vectors as vmod

    path = tmp_path / "chat.json"
    path.write_text(json.dumps({"conversations": [{
        "id": "c1", "title": "Chat", "participants": ["Bo"],
        "messages": [{"id": "m1", "speaker": "Bo", "timestamp": "2024-01-01T10:00:00Z",
                      "text": "the spare key is under the blue flowerpot"}]}]}))
    sm.import_paths([path])
    sm.index_pending()
    sm._vectors.save()
    sm._vectors = None
    (sm.home / "vectors" / META_FILE).unlink()            # rebuilt when next opened
    release, started = threading.Event(), threading.Event()
    real_rebuild = vmod.VectorIndex.rebuild

    def slow_rebuild(self, *a, **kw):
        started.set()
        assert release.wait(30)
        return real_rebuild(self, *a, **kw)

    monkeypatch.setattr(vmod.VectorIndex, "rebuild", slow_rebuild)
    opener = threading.Thread(target=sm.open_vectors)
    opener.start()
    try:
        assert started.wait(10)
        t = time.perf_counter()
        trace = SearchTrace()
        hits = sm.search("blue flowerpot", k=5, trace=trace)
        assert time.perf_counter() - t < 5
        assert hits and "flowerpot" in hits[0].text and trace.dense == "index not ready"
    finally:
        release.set()
        opener.join(30)
    trace = SearchTrace()
    assert sm.search("blue flowerpot", k=5, trace=trace) and trace.dense == ""
    assert trace.dense_sims


def test_notes_embedded_with_their_keywords_and_context_are_embedded_again_from_their_text(
        tmp_path):
    """m517: a note's vector is made of its text alone now; the vectors of "text |
    keywords | context" leave the store and the index, and indexing embeds the notes
    again. A message's vector stays, even one sharing nothing with the notes."""
    from secondme.indexing import NOTE_VECTOR_ENRICHED, count_pending

    db = tmp_path / "db.sqlite"
    old = _store_before(db, "m517_note_vectors_of_their_text")
    emb = HashEmbedder()
    conv = old.execute("insert into conversations (format, external_id) values ('t', 'c')"
                       ).lastrowid
    message = "Anna: I moved to Berlin"
    old.execute("insert into messages (id, conversation_id, external_id, position, speaker, "
                "text, content_hash) values (1, ?, 'm1', 1, 'Anna', 'I moved to Berlin', ?)",
                [conv, content_hash(message)])
    note = ("Anna moved to Berlin in April 2023.", "berlin moved",
            "Chat between Anna and Ben, 10 May 2023")
    old.execute("insert into notes (id, text, keywords, context, created_at, updated_at) "
                "values (1, ?, ?, ?, 'then', 'then')", list(note))
    enriched = " | ".join(note)
    assert set(NOTE_VECTOR_ENRICHED) == {"text", "keywords", "context"}
    vecs = emb.embed([message, enriched])
    for label, (kind, item, text), v in zip((1, 2), (("message", 1, message),
                                                     ("note", 1, enriched)), vecs):
        old.execute("insert into embeddings values (?, ?, ?)",
                    [content_hash(text), emb.model_id, np.asarray(v, "<f4").tobytes()])
        old.execute("insert into vector_items (label, kind, item_id, content_hash, vec) "
                    "values (?, ?, ?, ?, ?)", [label, kind, item, content_hash(text), label])
    old.close()
    saved = VectorIndex(tmp_path / "vectors", emb.model_id, emb.dim)
    saved.add([1, 2], np.vstack(vecs))
    saved.save()
    meta = json.loads((tmp_path / "vectors" / META_FILE).read_text())
    (tmp_path / "vectors" / META_FILE).write_text(json.dumps({**meta, "layout": 2}))

    migrated = Store.open(db)
    try:
        conn = migrated.conn
        assert conn.execute("select kind, item_id from vector_items").fetchall() == [
            ("message", 1)]
        assert [r[0] for r in conn.execute("select content_hash from embeddings")] == [
            content_hash(message)]
        # the file of the old layout is rebuilt once: no slot of the notes' old vectors
        vi = VectorIndex.open(tmp_path / "vectors", emb.model_id, emb.dim, migrated)
        assert vi.status == "rebuilt: notes embedded from their text now"
        assert vi._index.get_current_count() == len(vi) == 1 and vi.deleted == 0
        assert [lb for lb, _d in vi.search(vecs[1], 2)] == [1]
        assert count_pending(migrated) == 1
        assert index_pending(migrated, emb, vi).items == 1
        (h,) = conn.execute("select content_hash from vector_items where kind = 'note'"
                            ).fetchone()
        assert h == content_hash(note[0])
        label, dist = vi.search(emb.embed([note[0]])[0], 1)[0]
        assert label != 2 and dist < 1e-4
    finally:
        migrated.close()
