"""Telegram, Discord, Slack and Signal exports."""
from __future__ import annotations

import json

from conftest import FIXTURES

ING = FIXTURES / "ingest"


def msgs(sm, fmt, ext):
    return sm.store.conn.execute(
        "select m.external_id, m.speaker, m.is_me, m.kind, m.timestamp, m.text, m.attachments, "
        "m.reply_to from messages m join conversations c on c.id = m.conversation_id "
        "where c.format = ? and c.external_id = ? order by m.position", [fmt, ext]).fetchall()


# -- Telegram -----------------------------------------------------------------------------

def test_telegram_single_chat(sm):
    rep = sm.import_paths([ING / "telegram" / "ChatExport_2023-10-30"], timezone="Europe/Berlin")
    s = rep.sources[0]
    assert (s.format, s.conversations, s.messages_added, s.errors) == ("telegram", 1, 6, [])
    r = msgs(sm, "telegram", "4400123")
    assert [x[0] for x in r] == ["1", "2", "3", "4", "5", "6"]
    assert r[0][3] == "system" and "call" in r[0][5] and "65 s" in r[0][5]
    # DST end in Berlin: 02:30 CEST then 02:30 CET, told apart by date_unixtime
    assert r[1][4] == "2023-10-29T02:30:00+02:00" and r[2][4] == "2023-10-29T02:30:00+01:00"
    assert r[2][5] == "Yes, see https://time.is — one hour back" and r[2][7] == "2"
    # personal chat named after Olga: the other speaker (Sam) is me
    assert (r[1][1], r[1][2]) == ("Olga", 0) and (r[2][1], r[2][2]) == ("Sam", 1)
    assert json.loads(r[3][6])[0]["kind"] == "image" and r[3][5] == "Breakfast 🥞"
    voice = json.loads(r[4][6])[0]
    assert voice["kind"] == "audio" and voice["name"] == ""
    assert r[5][1] == "Deleted Account"


def test_telegram_full_account_export(sm):
    rep = sm.import_paths([ING / "telegram" / "account-result.json"], timezone="UTC")
    s = rep.sources[0]
    assert s.format == "telegram" and s.conversations == 4 and s.errors == []
    crew = msgs(sm, "telegram", "9876543210")
    assert crew[0][3] == "system" and "created the group" in crew[0][5]
    assert (crew[1][1], crew[1][2]) == ("Jo", 0)
    assert (crew[2][1], crew[2][2]) == ("Sam", 1)             # personal_information user_id
    assert crew[2][5] == "Poll: Which gym? (North: 1 vote / South: 0 votes)"   # the votes too
    assert json.loads(crew[3][6])[0]["kind"] == "sticker" and crew[3][5] == "👍"
    old = msgs(sm, "telegram", "555")                         # left_chats, no date_unixtime
    assert old[0][4] == "2019-05-01T09:00:00+00:00"
    # the single-chat export of the same chat adds nothing new
    rep = sm.import_paths([ING / "telegram" / "ChatExport_2023-10-30" / "result.json"])
    assert rep.sources[0].messages_added == 0


# -- Discord ------------------------------------------------------------------------------

def test_discord_chat_exporter(sm):
    rep = sm.import_paths([ING / "discord" / "Game Night - general [800000000000000002].json"])
    s = rep.sources[0]
    assert (s.format, s.conversations, s.messages_added, s.errors) == ("discord", 1, 5, [])
    r = msgs(sm, "discord", "800000000000000002")
    assert r[0][3] == "system"
    assert r[1][1] == "Mika" and r[1][4] == "2024-01-20T19:01:00.123000+00:00"
    assert r[2][7] == "900000000000000011" and json.loads(r[2][6])[0]["name"] == "board.png"
    assert r[3][5] == "Roll result\nYou rolled a 6"
    assert r[4][3] == "system"
    title = sm.store.conn.execute("select title from conversations where format='discord'")
    assert title.fetchone()[0] == "Game Night / #general"


def test_discord_data_package_json_and_csv(sm):
    sm.import_paths([ING / "discord" / "Game Night - general [800000000000000002].json"])
    rep = sm.import_paths([ING / "discord" / "package.zip"])
    s = rep.sources[0]
    assert s.format == "discord" and s.conversations == 2 and s.errors == []
    # message 900…012 was already imported from DiscordChatExporter: stored once
    assert (s.messages_added, s.messages_skipped) == (3, 1)
    r = msgs(sm, "discord", "800000000000000002")
    assert r[-1][0] == "900000000000000020" and r[-1][2] == 1 and r[-1][1] == "Sam"
    assert r[-1][4] == "2024-01-21T10:00:00+00:00"
    dm = msgs(sm, "discord", "800000000000000003")
    assert [x[0] for x in dm] == ["900000000000000030", "900000000000000031"]
    assert dm[0][5] == "multi\nline, with comma" and all(x[2] == 1 for x in dm)
    t = sm.store.conn.execute("select title from conversations where external_id = "
                              "'800000000000000003'").fetchone()[0]
    assert t == "Direct Message with mika"


# -- Slack --------------------------------------------------------------------------------

def test_slack_workspace_export(sm):
    rep = sm.import_paths([ING / "slack" / "Acme Slack export Nov 2023.zip"], timezone="UTC")
    s = rep.sources[0]
    assert s.format == "slack" and s.conversations == 2
    assert len(s.errors) == 1 and "random" in s.errors[0]["file"]
    assert "JSON" in s.errors[0]["problem"]
    r = msgs(sm, "slack", "C100")
    assert r[0][3] == "system" and r[0][5] == "@Ana Gomez has joined the channel"
    assert r[1][1] == "sam" and r[1][5] == \
        "Welcome @Ana Gomez! Docs are at the wiki (https://wiki.example.com) & #general"
    assert r[1][0] == "1700000200.000200" and r[1][7] is None
    assert r[2][7] == "1700000200.000200" and r[2][5] == "Thanks! @here lunch at 12?"
    assert r[3][1] == "deploybot" and r[3][3] == "message"
    assert json.loads(r[4][6])[0]["name"] == "plan.pdf"
    assert r[1][4] == "2023-11-14T22:16:40.000200+00:00"
    assert r[-1][3] == "system"
    dm = msgs(sm, "slack", "D200")
    assert dm[0][1] == "Ana Gomez"


def test_slack_me_by_name(sm):
    sm.import_paths([ING / "slack" / "Acme Slack export Nov 2023.zip"], me=["Sam"])
    r = msgs(sm, "slack", "C100")
    assert {(x[1], x[2]) for x in r if x[3] == "message"} >= {("sam", 1), ("Ana Gomez", 0)}


# -- Signal -------------------------------------------------------------------------------

def test_signal_export_markdown(sm):
    rep = sm.import_paths([ING / "signal" / "signal-export"], timezone="Europe/Berlin")
    s = rep.sources[0]
    assert (s.format, s.conversations, s.errors, s.documents) == ("signal", 1, [], 0)
    r = msgs(sm, "signal", "jonas")
    assert [x[1] for x in r] == ["Jonas", "Me", "Jonas", "Me", "Jonas", "Jonas", "Jonas"]
    assert r[1][2] == 1 and r[0][2] == 0
    assert r[0][4] == "2024-02-10T18:05:00+01:00"
    assert r[0][5] == "Are we still on for the concert? 🎸"
    assert r[2][5] == "Perfect, meet at the station" and r[2][7] == r[1][0]  # quote → reply
    assert json.loads(r[3][6])[0]["kind"] == "image" and r[3][5] == ""
    assert r[4][5] == "line one\nline two" and r[4][4] == "2024-02-10T18:09:30+01:00"
    assert json.loads(r[5][6])[0]["kind"] == "deleted"
    assert json.loads(r[6][6])[0]["kind"] == "sticker"
    again = sm.import_paths([ING / "signal" / "signal-export"]).sources[0]
    assert (again.messages_added, again.messages_skipped) == (0, 7)


def test_a_telegram_poll_keeps_its_votes_and_mine():
    from secondme.ingest.telegram import _poll_text

    poll = {"question": "Which gym?", "closed": True, "total_voters": 3,
            "answers": [{"text": "North", "voters": 2, "chosen": False},
                        {"text": "South", "voters": 1, "chosen": True}]}
    assert _poll_text(poll) == ("Poll: Which gym? (North: 2 votes / South: 1 vote; closed; "
                                "my vote: South)")
    # an export without counts (or an odd one) still lists the options
    assert _poll_text({"question": "Pizza?", "answers": [{"text": "yes"}, {"text": "no"},
                                                          "junk"]}) == "Poll: Pizza? (yes / no)"
    assert _poll_text({"question": "Empty?"}) == "Poll: Empty?"
