"""The extract job end to end: windows, resumability, cancel, progress, indexing, hooks."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from secondme.errors import Cancelled
from secondme.progress import CancelToken


def write_chat(path, convs):
    """Write conversations in the generic import format; ``convs`` = {id: [(speaker, ts,
    text), ...]}."""
    data = {"conversations": [
        {"id": cid, "title": f"Chat {cid}",
         "participants": sorted({m[0] for m in msgs}),
         "messages": [{"id": f"{cid}-{i}", "speaker": sp, "timestamp": ts, "text": text}
                      for i, (sp, ts, text) in enumerate(msgs)]}
        for cid, msgs in convs.items()]}
    path.write_text(json.dumps(data))
    return path


def ts(day, hour=12, minute=0):
    return datetime(2023, 5, day, hour, minute, tzinfo=timezone(timedelta(hours=2))).isoformat()


SESSIONS = {
    "c1": [
        ("Anna", ts(10, 9), "Hi Ben!"),
        ("Anna", ts(10, 9, 1), "I moved to Berlin last month."),
        ("Ben", ts(10, 9, 2), "I started a pottery class on Monday."),
        # a gap of > 4 hours starts a new session window
        ("Anna", ts(10, 20), "My sister Lena is getting married in June."),
        ("Ben", ts(12, 8), "I adopted a cat called Miso yesterday."),
    ],
}


def note_texts(sm):
    return sorted(r[0] for r in sm.store.conn.execute("select text from notes"))


def test_forms_windows_with_provenance_and_indexes_notes(sm, tmp_path):
    sm.import_paths([write_chat(tmp_path / "c.json", SESSIONS)])
    seen = []
    rep = sm.run_extract(progress=seen.append)
    assert rep["extractor"] == "deterministic"
    assert rep["windows"] == 3 and rep["items"] == 5
    assert note_texts(sm) == [
        "Anna moved to Berlin in April 2023.",
        "Anna's sister Lena is getting married in June 2023.",
        "Ben adopted a cat called Miso on Thursday, 11 May 2023.",
        "Ben started a pottery class on Monday, 8 May 2023.",
    ]
    conn = sm.store.conn
    # every note cites exactly the message it came from
    rows = dict(conn.execute("select n.text, m.external_id from notes n join note_sources s on "
                             "s.note_id = n.id join messages m on m.id = s.message_id").fetchall())
    assert rows == {"Anna moved to Berlin in April 2023.": "c1-1",
                    "Ben started a pottery class on Monday, 8 May 2023.": "c1-2",
                    "Anna's sister Lena is getting married in June 2023.": "c1-3",
                    "Ben adopted a cat called Miso on Thursday, 11 May 2023.": "c1-4"}
    # notes are searchable by vector and FTS straight away
    assert conn.execute("select count(*) from vector_items where kind = 'note'").fetchone()[0] == 4
    assert conn.execute("select count(*) from notes_fts where notes_fts match 'pottery'"
                        ).fetchone()[0] == 1
    assert len(sm.vectors) == 5 + 4
    forming = [p for p in seen if p.stage == "forming memories"]
    assert [p.done for p in forming] == [0, 1, 2, 3] and forming[-1].total == 3
    # enrichment
    n = sm.list_notes(query="pottery")[0]
    assert "pottery" in n.keywords and "event" in n.tags
    assert n.context.startswith("Chat between Anna and Ben") and "8 May 2023" not in n.context
    assert n.valid_from == "2023-05-08"


def test_second_run_repeats_nothing_and_new_messages_are_formed_alone(sm, tmp_path):
    p = write_chat(tmp_path / "c.json", SESSIONS)
    sm.import_paths([p])
    sm.run_extract()
    before = note_texts(sm)
    again = sm.run_extract()
    assert again["windows"] == 0 and note_texts(sm) == before
    more = dict(SESSIONS)
    more["c1"] = SESSIONS["c1"] + [("Anna", ts(20), "I bought a red bike today.")]
    sm.import_paths([write_chat(tmp_path / "c2.json", more)])
    rep = sm.run_extract()
    assert rep["windows"] == 1 and rep["items"] == 1
    assert note_texts(sm) == sorted(before + ["Anna bought a red bike on Saturday, 20 May 2023."])
    strengths = {r[0] for r in sm.store.conn.execute("select strength from notes")}
    assert strengths == {1.0}


def test_cancel_between_windows_keeps_finished_windows(sm, tmp_path):
    sm.import_paths([write_chat(tmp_path / "c.json", SESSIONS)])
    token = CancelToken()

    def progress(p):
        if p.stage == "forming memories" and p.done == 1:
            token.cancel()

    with pytest.raises(Cancelled):
        sm.run_extract(progress=progress, cancel=token)
    assert note_texts(sm) == ["Anna moved to Berlin in April 2023.",
                              "Ben started a pottery class on Monday, 8 May 2023."]
    rep = sm.run_extract()
    assert rep["windows"] == 2
    assert len(note_texts(sm)) == 4


def test_a_crash_inside_a_window_leaves_nothing_half_written(sm, tmp_path, monkeypatch):
    # issue 15: the failing window is set aside (quarantined) and the run goes on; before,
    # the run stopped there and blocked every window behind it
    sm.import_paths([write_chat(tmp_path / "c.json", SESSIONS)])
    from secondme.memory import extract

    real = extract.Former._link_window
    calls = {"n": 0}

    def failing(self, *a, **kw):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk on fire")
        return real(self, *a, **kw)

    monkeypatch.setattr(extract.Former, "_link_window", failing)
    rep = sm.run_extract()
    assert rep["quarantined"] == 1 and rep["windows"] == 2
    conn = sm.store.conn
    assert len(note_texts(sm)) == 3        # windows 1 and 3; nothing of window 2
    assert conn.execute("select count(*) from formed_items").fetchone()[0] == 4
    monkeypatch.setattr(extract.Former, "_link_window", real)
    assert sm.run_extract()["windows"] == 0          # set aside until a retry is asked for
    rep = sm.retry_failed_windows()
    assert rep["windows"] == 1 and rep["retried"] == 1 and len(note_texts(sm)) == 4
    assert conn.execute("select count(*) from history where action = 'create'").fetchone()[0] == 4
    assert sm.quarantined_windows() == []


def test_hooks_announce_changed_notes(sm, tmp_path):
    sm.import_paths([write_chat(tmp_path / "c.json", SESSIONS)])
    got = []
    sm.hooks.connect("notes_did_change", lambda ids, action: got.append((ids, action)))
    sm.run_extract()
    assert len(got) == 3 and all(a == "extract" for _, a in got)
    assert sorted(i for ids, _ in got for i in ids) == [r[0] for r in sm.store.conn.execute(
        "select id from notes order by id")]


def test_the_me_entity_collects_my_names(sm, tmp_path):
    sm.update_settings(me_name="Anna Schmidt", me_aliases=["Annie"])
    sm.import_paths([write_chat(tmp_path / "c.json", SESSIONS)], me=["Anna"])
    sm.run_extract()
    me = [e for e in sm.list_entities() if e.is_me]
    assert len(me) == 1
    assert me[0].name == "Anna Schmidt" and {"Annie", "Anna"} <= set(me[0].aliases)
    # facts by "me" use my configured name and mention the me entity
    assert "Anna Schmidt moved to Berlin in April 2023." in note_texts(sm)
    assert me[0].mentions >= 2
    people = {e.name for e in sm.list_entities(kind="person")}
    assert "Lena" in people and "Ben" in people


def test_documents_are_formed_by_section(sm, tmp_path):
    doc = tmp_path / "2023-03-04 journal.md"
    doc.write_text("# Saturday\n\nI finally finished my thesis on coral reefs yesterday. "
                   "The weather was grey.\n\n# Plans\n\nI will start a job at Oceana next month.\n")
    sm.import_paths([doc])
    rep = sm.run_extract()
    assert rep["windows"] >= 1
    texts = note_texts(sm)
    assert any("finished" in t and "thesis" in t and "3 March 2023" in t for t in texts), texts
    assert any("Oceana" in t and "April 2023" in t for t in texts), texts
    src = sm.get_note(sm.list_notes(query="thesis")[0].id).sources[0]
    assert src.kind == "chunk" and src.document and src.offset is not None


def test_note_matrix_finds_nearest_notes_exactly(sm, tmp_path):
    import numpy as np

    from secondme.memory.extract import NoteMatrix

    m = NoteMatrix(sm.store.conn, "hash-64", 4)
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(3000, 4)).astype("float32")
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    for i, v in enumerate(vecs):
        m.add(i + 1, v)
    q = vecs[41]
    best = m.search(q, 5)
    # held as float16 (half the memory): exact over the stored values, within ~1e-3 of
    # the float32 similarities
    assert m.mat.dtype == np.float16 and m.mat.nbytes == m.mat.shape[0] * 4 * 2
    assert best[0][0] == 42 and abs(best[0][1] - 1.0) < 2e-3
    held = vecs.astype(np.float16).astype(np.float32)
    expected = [int(i) + 1 for i in np.argsort(-(held @ q))[:5]]
    assert [b[0] for b in best] == expected
    assert np.allclose([s for _, s in best], np.sort(vecs @ q)[::-1][:5], atol=2e-3)
    m.remove(42)
    assert 42 not in [b[0] for b in m.search(q, 5)]
    # notes formed earlier are loaded from the store
    sm.import_paths([write_chat(tmp_path / "c.json", SESSIONS)])
    sm.run_extract()
    loaded = NoteMatrix(sm.store.conn, sm.embedder.model_id, sm.embedder.dim)
    assert sorted(loaded.ids) == [r[0] for r in sm.store.conn.execute(
        "select id from notes order by id")]


def test_a_prefetched_search_equals_a_fresh_one_after_notes_change(sm):
    """A group's facts are searched against the note matrix in one product, before the
    group's windows add, refine and remove notes; each fact's answer must still be what
    an exact search at its turn gives."""
    import numpy as np

    from secondme.memory.extract import NoteMatrix

    m = NoteMatrix(sm.store.conn, "hash-64", 8)
    rng = np.random.default_rng(1)

    def unit(n):
        v = rng.normal(size=(n, 8)).astype("float32")
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    for i, v in enumerate(unit(500)):
        m.add(i + 1, v)
    queries = unit(20)
    pre = m.prefetch(queries, 10)
    next_id = 501
    for j, q in enumerate(queries):
        # between facts: a new note very close to the query, a refined note (its vector
        # replaced by one close to the query), a removed note among the prefetched best
        m.add(next_id, (q + 0.01 * unit(1)[0]) / np.linalg.norm(q + 0.01 * unit(1)[0]))
        next_id += 1
        m.add(int(rng.integers(1, 500)), q)
        m.remove(m.ids[pre[j][0][0]] if m.ids[pre[j][0][0]] != -1 else 1)
        got = m.search_after(pre[j], q, 10)
        want = m.search(q, 10)
        assert [i for i, _ in got] == [i for i, _ in want]
        assert np.allclose([s for _, s in got], [s for _, s in want], atol=1e-5)


def test_prefetch_holds_a_bounded_block_of_similarities(sm, monkeypatch):
    """A group's facts against every note is a (facts, notes) product: at 1M messages
    (800 facts, 120k notes) holding it whole, with argpartition's int64 indices, was the
    formation's peak memory. Blocks of notes (made float32 once each) give the same
    answer in bounded memory."""
    import tracemalloc

    import numpy as np

    from secondme.memory import extract as X

    rng = np.random.default_rng(2)

    def unit(n, d=32):
        v = rng.normal(size=(n, d)).astype("float32")
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    m = X.NoteMatrix(sm.store.conn, "hash-64", 32)
    for i, v in enumerate(unit(20_000)):
        m.add(i + 1, v)
    queries = unit(400)
    monkeypatch.setattr(X, "PREFETCH_CELLS", 200_000)
    tracemalloc.start()
    try:
        pre = m.prefetch(queries, 10)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # whole: 400 × 20,000 × (4 + 4 + 8) bytes = 128 MB; a block of 10 facts: 2.4 MB
    assert peak < 16 * 2**20, peak
    assert len(pre) == len(queries)
    for j in (0, 199, 399):
        assert sorted(m.ids[r] for r, _ in pre[j]) == sorted(
            i for i, _ in m.search(queries[j], 20))
    for j in (0, 7, 199, 399):
        got = sorted(pre[j], key=lambda rs: -rs[1])[:10]
        want = m.search(queries[j], 10)
        assert [m.ids[r] for r, _ in got] == [i for i, _ in want]
        assert np.allclose([s for _, s in got], [s for _, s in want], atol=1e-5)


def test_word_candidates_skip_common_words_and_still_find_the_duplicate(sm, tmp_path):
    """The word query of reconciliation reads a bounded number of notes: words common to
    many notes are left out, a rare word finds the near-duplicate."""
    from secondme.memory import extract as X

    conn = sm.store.conn
    with sm.store.write() as db:
        for i in range(60):
            db.conn.execute("insert into notes (kind, text, created_at, updated_at) "
                            "values ('fact', ?, '2024-01-01', '2024-01-01')",
                            [f"Sam took the number {i} bus to work"])
        target = db.conn.execute("insert into notes (kind, text, created_at, updated_at) "
                                 "values ('fact', 'Sam took the ferry to Tallinn', "
                                 "'2024-01-01', '2024-01-01')").lastrowid
    old = X.WORD_POSTINGS
    X.WORD_POSTINGS = 40
    try:
        words = X.NoteWords(conn)
        q = words.query("Sam took the ferry to Tallinn on Friday")
        assert "tallinn" in q and "sam" not in q and "took" not in q
        assert words.search("Sam took the ferry to Tallinn on Friday", 10)[0] == target
        # every word common: the rarest three, all required
        q = words.query("Sam took the bus")
        assert " AND " in q and words.search("Sam took the bus", 10)
        words.added("Tallinn again")
        assert words.df["tallinn"] == 2
    finally:
        X.WORD_POSTINGS = old


@pytest.mark.parametrize("role", ["searcher", "batch"])
def test_a_command_forms_with_the_index_out_of_memory(sm, tmp_path, monkeypatch, role):
    # `secondme notes form` / `jobs run` ("batch"): formation never searches the vector
    # index, so it leaves memory while formation runs (at 1M messages ~0.8 GB of the
    # peak) and is opened again, caught up, for the new notes. The app ("searcher")
    # keeps its loaded index: its searches go on meanwhile.
    import secondme.memory.extract as extract
    from secondme.store.vectors import StoreOnlyIndex

    sm.import_paths([write_chat(tmp_path / "c.json", SESSIONS)])
    sm.index_pending()
    loaded = sm.open_vectors()
    seen = {}
    real = extract.form_memories

    def spy(*a, **kw):
        seen["held"], seen["vindex"] = sm._vectors, kw["vindex"]
        return real(*a, **kw)

    monkeypatch.setattr(extract, "form_memories", spy)
    sm.vector_role = role
    rep = sm.run_extract()
    assert rep["added"] == 4
    if role == "batch":
        assert seen["held"] is None and isinstance(seen["vindex"], StoreOnlyIndex)
        assert seen["vindex"].added == 4
    else:
        assert seen["held"] is loaded and seen["vindex"] is loaded
    vindex = sm._vectors
    assert vindex is not None and len(vindex) == 5 + 4        # caught up with formation
    _the_notes_vectors_are_searchable(sm, vindex)


def _the_notes_vectors_are_searchable(sm, vindex):
    note = sm.list_notes(query="pottery")[0]
    label, blob = sm.store.conn.execute(
        "select v.vec, e.vector from vector_items v join embeddings e on e.content_hash = "
        "v.content_hash where v.kind = 'note' and v.item_id = ?", [note.id]).fetchone()
    hits = dict(vindex.search(np.frombuffer(blob, dtype="<f4"), 9))
    assert hits[label] < 1e-4        # the note's own vector, in the index


def test_a_command_indexes_new_items_without_loading_the_index(sm, tmp_path, monkeypatch):
    # `notes form` on a store with items not indexed yet: their vectors go to the
    # database with formation's (at 1M messages, loading the index for them first took
    # the command to 917 MB before it formed anything); the index is loaded once, after
    # formation, caught up with both, and saved complete
    import secondme.memory.extract as extract
    from secondme.store.vectors import VectorIndex

    sm.import_paths([write_chat(tmp_path / "c.json", SESSIONS)])
    sm.index_pending()
    sm.release_vectors()
    sm.import_paths([write_chat(tmp_path / "d.json", {"c2": [
        ("Anna", ts(14, 10), "My cousin Ines moved to Porto last week."),
        ("Ben", ts(14, 10, 1), "Porto is lovely in spring.")]})])
    events = []
    real_open, real_form = VectorIndex.open.__func__, extract.form_memories
    monkeypatch.setattr(VectorIndex, "open", classmethod(
        lambda cls, *a, **kw: events.append("load") or real_open(cls, *a, **kw)))
    monkeypatch.setattr(extract, "form_memories",
                        lambda *a, **kw: events.append("form") or real_form(*a, **kw))
    sm.vector_role = "batch"
    rep = sm.run_extract()
    assert events == ["form", "load"]
    vindex = sm._vectors
    assert rep["added"] >= 5     # the four notes of c1 and Ines's
    assert len(vindex) == sm.store.conn.execute(
        "select count(distinct vec) from vector_items").fetchone()[0] == 5 + 2 + rep["added"]
    saved = json.loads((sm.home / "vectors" / "index.json").read_text())
    assert saved["count"] - saved["deleted"] == len(vindex)
    _the_notes_vectors_are_searchable(sm, vindex)


def test_a_note_is_embedded_from_its_text_alone_and_a_fact_said_again_is_not_embedded_again(
        sm, tmp_path, monkeypatch):
    # issue 14: "text | keywords | context" doubled the tokens formation embeds (most of
    # its time) and bought no recall; the keywords and context stay on the note
    from secondme.models.embed import content_hash

    embedded = []
    real_embed = type(sm.embedder).embed
    monkeypatch.setattr(type(sm.embedder), "embed",
                        lambda self, texts: embedded.extend(texts) or real_embed(self, texts))
    sm.import_paths([write_chat(tmp_path / "c.json", SESSIONS)])
    rep = sm.run_extract()
    rows = sm.store.conn.execute(
        "select n.text, n.keywords, n.context, v.content_hash from notes n join vector_items "
        "v on v.kind = 'note' and v.item_id = n.id order by n.id").fetchall()
    assert len(rows) == 4 and all(kw and ctx for _t, kw, ctx, _h in rows)
    assert [h for *_x, h in rows] == [content_hash(t) for t, *_x in rows]
    notes = [t for t, *_x in rows]
    assert sorted(set(notes) & set(embedded)) == sorted(notes)
    assert rep["vectors_embedded"] == 4 and rep["vectors_reused"] == 0
    # Anna says it again, in another chat: the fact's vector is the stored one
    del embedded[:]
    sm.import_paths([write_chat(tmp_path / "d.json", {"c2": [
        ("Anna", ts(10, 9, 1), "I moved to Berlin last month."),
        ("Anna", ts(10, 9, 2), "I moved to Berlin last month, did I tell you?")]})])
    again = sm.run_extract()
    assert again["vectors_reused"] >= 1
    assert "Anna moved to Berlin in April 2023." not in embedded
    assert again["vectors_embedded"] == len({t for t in embedded if "Anna:" not in t})
