"""secondme's own generic JSON / JSON Lines chat format."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from conftest import FIXTURES

from secondme.errors import ImportFormatError
from secondme.ingest import generic
from secondme.ingest.common import context_for

GEN = FIXTURES / "ingest" / "generic"


def _messages(sm, conv_external_id):
    return sm.store.conn.execute(
        "select m.external_id, m.speaker, m.is_me, m.kind, m.timestamp, m.ts, m.text, "
        "m.reply_to, m.attachments, m.position from messages m join conversations c "
        "on c.id = m.conversation_id where c.external_id = ? order by m.position",
        [conv_external_id]).fetchall()


def fts(sm, query):
    return [r[0] for r in sm.store.conn.execute(
        "select m.external_id from messages_fts f join messages m on m.id = f.rowid "
        "where messages_fts match ? order by m.id", [query])]


def test_json_ids_speakers_timestamps_survive(sm):
    rep = sm.import_paths([GEN / "chats.json"], timezone="Europe/Berlin")
    s = rep.sources[0]
    assert (s.format, s.conversations, s.messages_added, s.errors) == ("generic", 2, 8, [])
    rows = _messages(sm, "rome-trip-2024")
    assert [r[0] for r in rows] == ["m1", "m2", "m3", "m4", "m5"]
    m2 = rows[1]
    assert m2[1] == "Sam" and m2[2] == 1 and m2[7] == "m1"
    assert m2[4] == "2024-05-01T09:31:10+02:00"
    assert m2[5] == datetime(2024, 5, 1, 7, 31, 10, tzinfo=timezone.utc).timestamp()
    assert json.loads(rows[2][8]) == [{"kind": "image", "name": "IMG_0042.jpg", "note": ""}]
    assert rows[3][3] == "system"
    assert rows[4][6].startswith("مرحبا")
    conv = sm.store.conn.execute("select title, participants, metadata from conversations "
                                 "where external_id = 'rome-trip-2024'").fetchone()
    assert conv[0] == "Rome trip" and json.loads(conv[1]) == ["Anna", "Sam"]
    assert json.loads(conv[2])["origin"] == "hand-written fixture"


def test_naive_timestamps_use_the_import_zone_and_missing_ids_are_derived(sm):
    sm.import_paths([GEN / "chats.json"], timezone="America/New_York")
    rows = _messages(sm, "42")
    assert rows[0][4] == "2023-12-31T23:59:00-05:00"
    assert rows[0][0] != rows[1][0]  # same second and speaker: occurrence index differs
    assert rows[2][4].startswith("2023-12-31T19:01:00-05:00")  # epoch seconds
    # derived ids are stable: a second import adds nothing
    rep = sm.import_paths([GEN / "chats.json"], timezone="America/New_York")
    assert rep.sources[0].messages_added == 0 and rep.sources[0].messages_skipped == 8


def test_me_setting_decides_is_me_when_the_file_does_not(sm):
    sm.update_settings(me_name="lena")
    sm.import_paths([GEN / "chats.jsonl"], me=["Dr. Ruiz"])
    assert [r[2] for r in _messages(sm, "book-club")] == [1, 0]
    assert [r[2] for r in _messages(sm, "dentist")] == [1]


def test_jsonl_and_keyword_search_right_after_import(sm):
    rep = sm.import_paths([GEN / "chats.jsonl"])
    assert rep.sources[0].conversations == 2
    assert fts(sm, "middlemarch") == ["b1"]


def test_broken_lines_are_reported_and_healthy_conversations_import(sm):
    rep = sm.import_paths([GEN / "broken.jsonl"])
    s = rep.sources[0]
    assert s.conversations == 2 and s.messages_added == 2
    problems = {e["position"]: e["problem"] for e in s.errors}
    assert any(p.startswith("line 2") for p in problems), problems
    assert any(p.startswith("line 3") and "timestamp" in problems[p] for p in problems)
    # the conversation with a bad timestamp was not half-written
    assert _messages(sm, "bad-ts") == []
    assert fts(sm, "healthy") == ["x1", "x2"]


def test_a_file_that_is_entirely_broken_raises_with_file_and_position(sm, tmp_path):
    bad = tmp_path / "export.json"
    bad.write_text('{"format": "secondme-chat", "conversations": [{"id": "a", "messages": [')
    with pytest.raises(ImportFormatError) as ei:
        sm.import_paths([bad])
    msg = str(ei.value)
    assert "export.json" in msg and "byte" in msg and "JSON" in msg


def test_parser_rejects_wrong_types_with_a_reason():
    ctx = context_for("UTC")
    with pytest.raises(ValueError, match="speaker"):
        generic.conversation_from_json({"id": "x", "messages": [{"speaker": 3, "text": ""}]},
                                       ctx)
    with pytest.raises(ValueError, match="id"):
        generic.conversation_from_json({"messages": []}, ctx)


def test_single_object_and_bare_array_are_accepted(sm, tmp_path):
    one = tmp_path / "one.json"
    one.write_text(json.dumps({"id": "solo", "messages": [
        {"id": "s1", "speaker": "Kim", "timestamp": "2024-01-01T00:00:00Z", "text": "hi"}]}))
    arr = tmp_path / "arr.json"
    arr.write_text(json.dumps([{"id": "arr", "messages": [
        {"id": "a1", "speaker": "Kim", "timestamp": "2024-01-01T00:00:00Z", "text": "yo"}]}]))
    rep = sm.import_paths([one, arr], format="generic")
    assert [s.messages_added for s in rep.sources] == [1, 1]


def test_out_of_range_numeric_timestamp_is_reported_not_a_crash(sm, tmp_path):
    # found by the fuzzer: 9.2e18 made datetime.fromtimestamp overflow
    f = tmp_path / "x.jsonl"
    f.write_text(json.dumps({"id": "t", "messages": [
        {"id": "1", "speaker": "A", "timestamp": 9.2e18 * 1000, "text": "x"}]}) + "\n"
        + json.dumps({"id": "ok", "messages": [
            {"id": "1", "speaker": "A", "timestamp": 1.7e12, "text": "milliseconds"}]}) + "\n")
    rep = sm.import_paths([f]).sources[0]
    assert rep.conversations == 1 and "timestamp" in rep.errors[0]["problem"]
    ts = sm.store.conn.execute("select timestamp from messages").fetchone()[0]
    assert ts.startswith("2023-11-14")
