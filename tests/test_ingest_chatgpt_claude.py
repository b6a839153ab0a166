"""ChatGPT and Claude.ai exports."""
from __future__ import annotations

import json

import pytest
from conftest import FIXTURES

from secondme.errors import ImportFormatError

GPT = FIXTURES / "ingest" / "chatgpt"
CLAUDE = FIXTURES / "ingest" / "claude"


def msgs(sm, fmt, ext):
    return sm.store.conn.execute(
        "select m.external_id, m.speaker, m.is_me, m.kind, m.timestamp, m.text, m.attachments "
        "from messages m join conversations c on c.id = m.conversation_id "
        "where c.format = ? and c.external_id = ? order by m.position", [fmt, ext]).fetchall()


def test_chatgpt_visible_thread_content_types_and_me(sm):
    rep = sm.import_paths([GPT / "conversations.json"], timezone="UTC")
    s = rep.sources[0]
    assert s.format == "chatgpt" and s.conversations == 3  # 2 full + 1 empty
    assert len(s.errors) == 1 and s.errors[0]["conversation"] == "conv-broken-3"
    assert "conversation 3" in s.errors[0]["position"]
    r = msgs(sm, "chatgpt", "conv-sourdough-1")
    ids = [x[0] for x in r]
    # abandoned branch, hidden (weight 0), empty system and null messages are gone
    assert ids == ["u1", "a1", "u2", "tool-call", "tool-out", "think", "a2", "weird"]
    by = {x[0]: x for x in r}
    assert by["u1"][1:4] == ("You", 1, "message") and "acetone" in by["u1"][5]
    assert by["a1"][1:4] == ("ChatGPT", 0, "message")
    assert by["u1"][4] == "2024-03-08T12:13:30+00:00"
    u2_atts = json.loads(by["u2"][6])
    assert by["u2"][5] == "Here is a photo of the jar"
    assert {a["kind"] for a in u2_atts} == {"image"} and len(u2_atts) == 2
    assert by["tool-call"][3] == "system" and "ratio" in by["tool-call"][5]
    assert by["tool-out"][3] == "system" and by["tool-out"][5] == "0.2"
    assert by["think"][3] == "system" and "1:5:5" in by["think"][5]
    assert by["a2"][3] == "message" and by["a2"][4] == by["think"][4]  # missing time inferred
    assert by["weird"][5] == "[sonic_webpage content not imported]"
    assert msgs(sm, "chatgpt", "conv-empty-4") == []


def test_chatgpt_split_files_in_a_zip_under_a_top_folder(sm):
    rep = sm.import_paths([GPT / "chatgpt-export.zip"])
    s = rep.sources[0]
    assert s.format == "chatgpt" and s.conversations == 2 and s.errors == []
    assert s.documents == 0  # chat.html repeats the conversations: not a document
    assert [x[0] for x in msgs(sm, "chatgpt", "conv-lisbon-2")] == ["q", "b"]
    # the same conversations from the plain file are not stored twice
    rep = sm.import_paths([GPT / "conversations.json"])
    assert rep.sources[0].messages_added == 0


def test_chatgpt_truncated_file_keeps_conversations_before_the_cut(sm):
    rep = sm.import_paths([GPT / "truncated.json"], format="chatgpt")
    s = rep.sources[0]
    assert s.conversations == 1 and s.messages_added == 2
    assert len(s.errors) == 1 and "truncated" in s.errors[0]["problem"]
    assert "byte" in s.errors[0]["position"]
    assert msgs(sm, "chatgpt", "conv-sourdough-1") == []  # not half-written


def test_chatgpt_garbage_is_a_clear_error(sm, tmp_path):
    bad = tmp_path / "conversations.json"
    bad.write_bytes(b'[{"title": "x", "mapping": {"a": \xff\xfe')
    with pytest.raises(ImportFormatError) as ei:
        sm.import_paths([bad])
    assert "conversations.json" in str(ei.value)


def test_claude_order_attachments_tools_and_branches(sm):
    rep = sm.import_paths([CLAUDE / "conversations.json"], timezone="UTC")
    s = rep.sources[0]
    assert s.format == "claude" and s.conversations == 3
    assert len(s.errors) == 1 and "uuid" in s.errors[0]["problem"]
    r = msgs(sm, "claude", "c-0001")
    assert [x[0] for x in r] == ["m-1", "m-2", "m-3"]          # ordered by index
    assert r[0][1:3] == ("You", 1) and r[1][1:3] == ("Claude", 0)
    assert "Mia turns 30" in r[0][5] and "ceramics, astronomy" in r[0][5]
    assert {a["name"] for a in json.loads(r[0][6])} == {"wishlist.txt", "mia.jpg"}
    assert r[2][5] == "Found three studios near you."
    assert r[0][4] == "2024-06-01T10:00:00+00:00"
    assert [x[0] for x in msgs(sm, "claude", "c-0002")] == ["b-1", "b-3"]


def test_claude_zip_is_idempotent(sm):
    first = sm.import_paths([CLAUDE / "claude-export.zip"]).sources[0]
    assert first.format == "claude" and first.messages_added == 5 and first.errors == []
    again = sm.import_paths([CLAUDE / "claude-export.zip"]).sources[0]
    assert (again.messages_added, again.messages_skipped) == (0, 5)
