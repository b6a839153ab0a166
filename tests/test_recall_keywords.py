"""The keyword index: FTS5's BM25 ranking answered with numpy (issue 14, search at scale)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from secondme.errors import Cancelled
from secondme.progress import CancelToken
from secondme.recall import keywords
from secondme.recall.dataset import load_conversations
from secondme.recall.search import DEFAULT_WEIGHTS, SearchTrace
from secondme.recall.windows import update_windows

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=timezone.utc)
GAP = 240
LONG = ("I wrote down everything about the trip so I do not forget it later. " * 5
        + "At the very end: the ferry to Zanzibar left late.")   # "ferry" past 300 chars


def _conv(cid, speakers, lines, start=T0, step=7, gaps=()):
    msgs, ts = [], start
    for i, text in enumerate(lines):
        ts += timedelta(minutes=step) + (timedelta(hours=6) if i in gaps else timedelta())
        msgs.append({"id": f"{cid}-{i}", "speaker": speakers[i % len(speakers)],
                     "timestamp": ts.isoformat(), "text": text})
    return {"id": cid, "title": cid, "participants": list(speakers), "messages": msgs}


CONVS = [
    _conv("trip", ["Anna", "Ben"], [
        "we booked the flights to Lisbon!", "which flight? the early one?",
        "yes, 6am. Café Müller for breakfast before", "São Paulo next year maybe",
        LONG, "the ferry was fine in the end", "flights flights flights",
        "ok", "did you pack the tent?", "the blue tent, yes"], gaps=(5, 8)),
    _conv("work", ["Clara", "Dev"], [
        "the report is due on Friday", "can you send the slides for the report",
        "Müller from finance wants the numbers", "I'll bring the numbers tomorrow",
        "flight delayed again, working from the airport"]),
    _conv("notes", ["Me"], ["remember: the tent pegs are in the garage",
                            "the ferry timetable changed in June"]),
]
QUERIES = [["flights"], ["flight", "lisbon"], ["muller"], ["müller", "numbers"], ["ferry"],
           ["cafe", "breakfast"], ["tent", "garage"], ["sao", "paulo"], ["friday"],
           ["march", "report"], ["anna"], ["zanzibar"], ["nothing", "matches", "xyzzy"]]


@pytest.fixture
def loaded(sm):
    load_conversations(sm.store, CONVS)
    with sm.store.write() as db:   # things told to secondme: windows without neighbours
        db.conn.execute("update conversations set format = 'secondme-chat' where "
                        "external_id = 'notes'")
    update_windows(sm.store, gap_minutes=GAP)
    return sm


def _fts(conn, terms, w=DEFAULT_WEIGHTS):
    from secondme.recall.query import fts_query

    m = fts_query(terms)
    win = conn.execute("select rowid, bm25(message_windows, ?, ?, ?) from message_windows "
                       "where message_windows match ?", [w.col_own, w.col_ctx, w.col_meta, m])
    one = conn.execute("select rowid, bm25(messages_fts, 1.0, 0.5) from messages_fts "
                       "where messages_fts match ?", [m])
    return dict(win.fetchall()), dict(one.fetchall())


def test_the_index_scores_every_message_as_fts5_does(loaded):
    idx = keywords.refresh(loaded.store, GAP)
    assert idx is not None and idx.size == sum(len(c["messages"]) for c in CONVS)
    w = DEFAULT_WEIGHTS
    for terms in QUERIES:
        win, one, used = idx.top(terms, col_own=w.col_own, col_ctx=w.col_ctx,
                                 col_meta=w.col_meta, limit=1000)
        fts_win, fts_one = _fts(loaded.store.conn, terms)
        assert dict(win) == pytest.approx(fts_win, rel=1e-4), terms
        assert dict(one) == pytest.approx(fts_one, rel=1e-4), terms
        assert used == list(dict.fromkeys(terms))
        scores = [s for _, s in win]
        assert scores == sorted(scores)   # best (lowest, as FTS5) first


def test_a_limit_keeps_the_best(loaded):
    idx = keywords.refresh(loaded.store, GAP)
    w = DEFAULT_WEIGHTS
    full, _, _ = idx.top(["flight", "tent"], col_own=w.col_own, col_ctx=w.col_ctx,
                         col_meta=w.col_meta, limit=1000)
    top3, _, _ = idx.top(["flight", "tent"], col_own=w.col_own, col_ctx=w.col_ctx,
                         col_meta=w.col_meta, limit=3)
    assert len(full) > 3 and top3 == full[:3]


def test_search_ranks_with_the_index_after_an_import(sm, tmp_path):
    f = tmp_path / "chat.json"
    import json

    f.write_text(json.dumps({"conversations": CONVS}))
    sm.import_paths([f], format="generic")
    assert keywords.index_path(sm.store).exists()
    tr = SearchTrace()
    res = sm.search("when did the ferry leave?", trace=tr)
    assert tr.lexical == "keyword index"
    assert any("ferry" in r.text for r in res[:3])


def test_messages_newer_than_the_index_are_found(loaded):
    keywords.refresh(loaded.store, GAP)
    load_conversations(loaded.store, [_conv("later", ["Anna", "Ben"], [
        "the kayak rental was closed", "try the kayak place by the pier"],
        start=T0 + timedelta(days=30))])
    tr = SearchTrace()
    res = loaded.search("kayak rental", trace=tr)
    assert tr.lexical == "keyword index"   # the index, with SQLite for what is newer
    hit = [r for r in res if r.text == "the kayak rental was closed"]
    assert hit and {"window", "single"} <= set(hit[0].matched)


def test_a_message_deleted_behind_the_index_is_never_shown_and_the_next_refresh_drops_it(
        loaded):
    keywords.refresh(loaded.store, GAP)
    with loaded.store.write() as db:   # deleted behind the index's back (no purge)
        db.conn.execute("delete from messages where text like '%Zanzibar%'")
    assert not any("Zanzibar" in r.text for r in loaded.search("zanzibar"))
    idx = keywords.refresh(loaded.store, GAP)    # the import / extract job looks
    assert idx.postings("zanzibar") is None
    assert b"zanzibar" not in keywords.index_path(loaded.store).read_bytes()


def test_an_index_whose_last_message_was_replaced_is_never_used(loaded):
    keywords.refresh(loaded.store, GAP)
    with loaded.store.write() as db:   # the last id deleted, then reused by a new message
        top = db.conn.execute("select max(id) from messages").fetchone()[0]
        row = db.conn.execute("select conversation_id, position from messages where id = ?",
                              [top]).fetchone()
        db.conn.execute("delete from messages where id = ?", [top])
        db.conn.execute("insert into messages (id, conversation_id, external_id, position, "
                        "speaker, text, content_hash) values (?, ?, 'x', ?, 'Me', "
                        "'quokka sighting', 'h-new')", [top, row[0], row[1]])
    tr = SearchTrace()
    res = loaded.search("quokka", trace=tr)
    assert tr.lexical == "sqlite" and res and "quokka" in res[0].text


def test_forgetting_removes_the_words_from_the_index_file(loaded):
    keywords.refresh(loaded.store, GAP)
    path = keywords.index_path(loaded.store)
    assert b"zanzibar" in path.read_bytes()
    loaded.forget_person("Anna", messages=True)   # Anna wrote about Zanzibar
    assert path.exists() and b"zanzibar" not in path.read_bytes()
    tr = SearchTrace()
    assert not loaded.search("zanzibar ferry", trace=tr) or tr.lexical == "keyword index"
    assert all("Zanzibar" not in r.text for r in loaded.search("zanzibar ferry"))


def test_a_damaged_index_file_falls_back_and_is_rebuilt(loaded):
    keywords.refresh(loaded.store, GAP)
    path = keywords.index_path(loaded.store)
    path.write_bytes(b"not an index")
    tr = SearchTrace()
    res = loaded.search("ferry", trace=tr)
    assert tr.lexical == "sqlite" and res
    assert keywords.refresh(loaded.store, GAP) is not None
    assert keywords.load(loaded.store) is not None


def test_cancelling_a_rebuild_writes_nothing(loaded):
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        keywords.refresh(loaded.store, GAP, cancel=token)
    assert not keywords.index_path(loaded.store).exists()


def test_an_index_made_with_another_session_gap_is_not_used(loaded):
    keywords.refresh(loaded.store, 30)
    assert keywords.for_search(loaded.store, GAP) is None
    assert keywords.refresh(loaded.store, GAP).gap_minutes == GAP


def test_the_index_file_is_private(loaded):
    keywords.refresh(loaded.store, GAP)
    path = keywords.index_path(loaded.store)
    assert path.stat().st_mode & 0o077 == 0 and path.parent.stat().st_mode & 0o077 == 0


def _export(tmp_path):
    import json

    f = tmp_path / "chat.json"
    f.write_text(json.dumps({"conversations": CONVS}))
    return f


def test_cancelling_an_import_while_windowing_stops_the_keyword_build(sm, tmp_path):
    import threading

    token = CancelToken()

    def progress(p):
        if p.stage == "indexing message windows":
            token.cancel()

    with pytest.raises(Cancelled):
        sm.import_paths([_export(tmp_path)], progress=progress, cancel=token)
    assert not keywords.index_path(sm.store).exists()
    assert not [t for t in threading.enumerate() if t.name == "secondme-keywords"]
    assert sm.search("ferry")          # keyword search works (SQLite) all the same


def test_a_failure_building_the_keyword_index_never_fails_the_import(sm, tmp_path,
                                                                    monkeypatch):
    def broken(*a, **k):
        raise RuntimeError("simulated bug in the keyword index")

    monkeypatch.setattr(keywords, "build", broken)
    rep = sm.import_paths([_export(tmp_path)])
    assert sum(s.messages_added for s in rep.sources) == 17
    tr = SearchTrace()
    assert sm.search("ferry", trace=tr) and tr.lexical == "sqlite"


def test_the_extract_job_builds_a_missing_index(sm, tmp_path):
    sm.import_paths([_export(tmp_path)])
    keywords.discard(sm.store)          # a store from before the index existed
    sm.run_extract()
    assert keywords.load(sm.store) is not None


def test_the_doctor_tells_the_keyword_index_state(loaded, monkeypatch):
    """Each state a person may meet, with what happens next; a missing stemmer (a broken
    install or bundle: search would quietly fall back to SQLite) is a problem."""
    loaded.settings.session_gap_minutes = GAP

    def state():
        return loaded.doctor()["keyword_index"]

    assert state()["health"].startswith("missing: search ranks keywords with SQLite")
    keywords.refresh(loaded.store, GAP)
    rep = loaded.doctor()
    assert rep["keyword_index"]["health"] == "ok" and rep["keyword_index"]["newer"] == 0
    assert rep["keyword_index"]["messages"] == 17 and rep["versions"]["PyStemmer"]
    load_conversations(loaded.store, [_conv("later", ["Anna"], ["a new one"],
                                            start=T0 + timedelta(days=30))])
    assert state()["newer"] == 1
    with loaded.store.write() as db:   # deleted behind the index's back
        db.conn.execute("delete from messages where text like '%Zanzibar%'")
    assert state()["health"].startswith("out of step with the database")
    keywords.index_path(loaded.store).write_bytes(b"not an index")
    assert state()["health"].startswith("unreadable")
    keywords.refresh(loaded.store, 30)
    assert state()["health"].startswith("built for another session gap")
    assert not any("keyword" in p for p in loaded.doctor()["problems"])
    monkeypatch.setitem(__import__("sys").modules, "Stemmer", None)  # import fails
    rep = loaded.doctor()
    assert rep["keyword_index"]["stemmer"] is False and not rep["ok"]
    assert any("PyStemmer is missing" in p for p in rep["problems"])


def test_a_plain_index_file_is_read_member_by_member(loaded, monkeypatch):
    # reading the file whole and then its arrays held both at once (at 1M messages
    # ~120 MB more at the app's peak): a plain file is read in place, never as one bytes
    import pathlib

    built = keywords.refresh(loaded.store, GAP)
    path = keywords.index_path(loaded.store)
    real = pathlib.Path.read_bytes

    def read_bytes(self):
        assert self != path, "the keyword index was read whole"
        return real(self)

    monkeypatch.setattr(pathlib.Path, "read_bytes", read_bytes)
    again = keywords.load(loaded.store)
    assert again is not None and again.max_id == built.max_id
    assert (again.pos == built.pos).all() and again.terms.vocab == built.terms.vocab


# -- the tail: messages added since the snapshot (issue 14, search at 1M with new messages)
LATER = _conv("later", ["Anna", "Ben"], [
    "the kayak rental was closed", "try the kayak place by the pier",
    "flights to Lisbon are cheaper in May", "tent or hotel?"], start=T0 + timedelta(days=30))


def _top(idx, terms, tail=None, limit=1000):
    w = DEFAULT_WEIGHTS
    return idx.top(terms, col_own=w.col_own, col_ctx=w.col_ctx, col_meta=w.col_meta,
                   limit=limit, tail=tail)


def test_the_snapshot_and_its_tail_score_every_message_as_fts5_does(loaded):
    idx = keywords.refresh(loaded.store, GAP)
    load_conversations(loaded.store, [LATER])
    update_windows(loaded.store, gap_minutes=GAP)
    tail = keywords.tail_for(loaded.store, idx, build_now=True)
    assert tail is not None and tail.newer == len(LATER["messages"])
    for terms in QUERIES + [["kayak"], ["flights", "tent"], ["lisbon", "may"]]:
        win, one, _ = _top(idx, terms, tail)
        fts_win, fts_one = _fts(loaded.store.conn, terms)
        # the whole table's counts (rows, rows with the word, average length): as FTS5's
        assert dict(win) == pytest.approx(fts_win, rel=1e-4), terms
        assert dict(one) == pytest.approx(fts_one, rel=1e-4), terms
        assert [s for _, s in win] == sorted(s for _, s in win)
    # without the tail the snapshot alone counts fewer rows: its scores are not FTS5's
    alone, _, _ = _top(idx, ["zanzibar"])
    fts_win, _ = _fts(loaded.store.conn, ["zanzibar"])
    assert alone and all(abs(s / fts_win[i] - 1) > 0.01 for i, s in alone)


def test_a_tail_in_an_old_chat_ranks_the_windows_it_changed_as_fts5_does(loaded):
    idx = keywords.refresh(loaded.store, GAP)
    trip = _conv("trip", ["Anna", "Ben"], ["quokka selfie from the island",
                                           "and the view from the top"],
                 start=T0 + timedelta(minutes=71))
    trip["messages"] = [dict(m, id=f"trip-later-{i}") for i, m in enumerate(trip["messages"])]
    load_conversations(loaded.store, [trip])
    update_windows(loaded.store, gap_minutes=GAP)
    tail = keywords.tail_for(loaded.store, idx, build_now=True)
    # the two new messages, the older ones whose windows now quote them, their neighbours
    assert tail.newer == 2 and tail.own.sum() > 2 and tail.size > tail.own.sum()
    assert tail.main_own is not None and (~tail.main_own).sum() == tail.own.sum() - 2
    for terms in QUERIES + [["quokka"], ["view", "island"], ["tent", "selfie"]]:
        win, one, _ = _top(idx, terms, tail)
        fts_win, fts_one = _fts(loaded.store.conn, terms)
        assert dict(win) == pytest.approx(fts_win, rel=1e-4), terms
        assert dict(one) == pytest.approx(fts_one, rel=1e-4), terms
    # "the blue tent, yes" is found by "quokka": its window quotes the new message
    blue = loaded.store.conn.execute("select id from messages where text = 'the blue tent, "
                                     "yes'").fetchone()[0]
    assert blue in dict(_top(idx, ["quokka"], tail)[0])
    assert blue not in dict(_top(idx, ["quokka"])[0])


def test_search_ranks_newer_messages_with_the_tail_once_it_is_built(loaded):
    keywords.refresh(loaded.store, GAP)
    load_conversations(loaded.store, [LATER])
    tr = SearchTrace()
    first = loaded.search("kayak rental", trace=tr)     # FTS5 for them while it is built
    assert tr.lexical == "keyword index" and tr.keyword_tail == 0
    assert "the kayak rental was closed" in [r.text for r in first[:2]]
    _wait_for_tail(loaded.store)
    tr = SearchTrace()
    res = loaded.search("kayak rental", trace=tr)
    assert tr.keyword_tail == len(LATER["messages"])
    assert [r.text for r in res] == [r.text for r in first]   # FTS5's ranking, kept
    hit = [r for r in res if r.text == "the kayak rental was closed"]
    assert {"window", "single"} <= set(hit[0].matched)


def _wait_for_tail(store, timeout=10.0):
    import time

    st = keywords._tails[str(store.path)]
    end = time.monotonic() + timeout
    while (st.thread is not None or st.index is None) and time.monotonic() < end:
        time.sleep(0.02)
    assert st.index is not None


def test_messages_newer_than_the_tail_are_still_found(loaded):
    keywords.refresh(loaded.store, GAP)
    load_conversations(loaded.store, [LATER])
    loaded.search("kayak")
    _wait_for_tail(loaded.store)
    load_conversations(loaded.store, [_conv("latest", ["Clara"], ["the narwhal documentary"],
                                            start=T0 + timedelta(days=40))])
    tr = SearchTrace()
    res = loaded.search("narwhal kayak", trace=tr)
    assert tr.keyword_tail == len(LATER["messages"])   # the old tail, FTS5 past it
    texts = [r.text for r in res]
    assert "the narwhal documentary" in texts and "the kayak rental was closed" in texts


def test_a_tail_whose_messages_changed_is_never_used(loaded):
    idx = keywords.refresh(loaded.store, GAP)
    load_conversations(loaded.store, [LATER])
    tail = keywords.tail_for(loaded.store, idx, build_now=True)
    assert tail is not None
    with loaded.store.write() as db:     # one of its messages deleted behind its back
        db.conn.execute("delete from messages where text = 'tent or hotel?'")
    keywords._tails[str(loaded.store.path)].not_before = float("inf")   # no rebuild
    assert keywords.tail_for(loaded.store, idx) is None
    tr = SearchTrace()
    res = loaded.search("kayak rental", trace=tr)
    assert tr.keyword_tail == 0
    assert "the kayak rental was closed" in [r.text for r in res[:2]]


def test_no_tail_past_the_share_a_rebuild_is_for(loaded, monkeypatch):
    idx = keywords.refresh(loaded.store, GAP)
    monkeypatch.setattr(keywords, "STALE_SHARE", 0.0)
    many = _conv("many", ["Dev"], [f"note number {i} about kayaks" for i in range(1001)])
    load_conversations(loaded.store, [many])
    assert keywords.tail_for(loaded.store, idx, build_now=True) is None
    monkeypatch.setattr(keywords, "STALE_SHARE", 0.05)
    assert keywords.tail_for(loaded.store, idx, build_now=True) is None   # 1001 > 1000


def test_a_tail_of_system_lines_only_spares_sqlite(loaded, monkeypatch):
    idx = keywords.refresh(loaded.store, GAP)
    with loaded.store.write() as db:     # only a system line is newer than the index
        conv = db.conn.execute("select conversation_id from messages limit 1").fetchone()[0]
        db.conn.execute("insert into messages (conversation_id, external_id, position, "
                        "speaker, kind, text, content_hash) values (?, 'sys', 999, '', "
                        "'system', 'Anna joined', 'h-sys')", [conv])
    tail = keywords.tail_for(loaded.store, idx, build_now=True)
    assert tail is not None and tail.newer == 0
    loaded.search("ferry")     # search's own snapshot (loaded from the file) gets its tail
    _wait_for_tail(loaded.store)
    from secondme.recall import search as S

    asked = []
    real = S._keyword_lists

    def spy(conn, *a, **k):
        class Conn:   # records the FTS5 queries for messages newer than the tail
            def execute(self, sql, args=()):
                asked.append(sql)
                return conn.execute(sql, args)
        return real(Conn(), *a, **k)

    monkeypatch.setattr(S, "_keyword_lists", spy)
    res = loaded.search("ferry")
    assert res and not [q for q in asked if "bm25" in q]
