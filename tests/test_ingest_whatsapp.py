"""WhatsApp exports: iOS/Android, locale variants, system lines, media markers, ids."""
from __future__ import annotations

import json
from datetime import datetime

import pytest
from conftest import FIXTURES

from secondme.errors import ImportFormatError
from secondme.ingest import whatsapp
from secondme.ingest.common import context_for
from secondme.ingest.tree import open_tree

WA = FIXTURES / "ingest" / "whatsapp"


def rows(sm, title):
    return sm.store.conn.execute(
        "select m.external_id, m.speaker, m.is_me, m.kind, m.timestamp, m.text, m.attachments "
        "from messages m join conversations c on c.id = m.conversation_id "
        "where c.format = 'whatsapp' and c.title = ? order by m.position", [title]).fetchall()


def parse_file(name, zone="Europe/Berlin", me=()):
    tree = open_tree(WA / name)
    claims = whatsapp.claim(tree, tree.files())
    assert claims, f"{name} not detected as WhatsApp"
    items = list(whatsapp.parse(claims[0], context_for(zone, me)))
    assert len(items) == 1
    return items[0]


def test_ios_export_system_lines_media_and_multiline(sm):
    rep = sm.import_paths([WA / "WhatsApp Chat - Anna Lopez.txt"], timezone="Europe/Berlin")
    s = rep.sources[0]
    assert (s.format, s.conversations, s.errors) == ("whatsapp", 1, [])
    r = rows(sm, "Anna Lopez")
    assert r[0][3] == "system" and r[0][1] == "" and "end-to-end" in r[0][5]
    assert r[1][1:4] == ("Anna Lopez", 0, "message")
    assert r[1][4] == "2024-03-09T23:58:02+01:00"          # U+202F before PM handled
    assert r[1][5] == "Are you still up? 🌙"
    assert r[2][1] == "Sam" and r[2][2] == 1               # two-person chat: Sam is me
    assert r[3][5] == "" and json.loads(r[3][6])[0]["kind"] == "image"
    att = json.loads(r[4][6])[0]                            # line started with U+200E
    assert att["name"] == "00000014-PHOTO-2024-03-10-00-02-00.jpg" and r[4][5] == ""
    assert r[5][5] == "The flight is at 7:05 tomorrow:\nterminal 1, gate B12\n\nbring the charger"
    assert json.loads(r[6][6])[0]["kind"] == "deleted" and r[6][3] == "message"
    # identical lines at the same second get distinct, stable ids
    assert r[7][5] == r[8][5] == "ok 👍" and r[7][0] != r[8][0]
    # DST: 01:59:59 CET then 03:00:01 CEST on 2024-03-31, two seconds apart
    assert r[9][4].endswith("+01:00") and r[10][4].endswith("+02:00")
    t9 = datetime.fromisoformat(r[9][4]).timestamp()
    t10 = datetime.fromisoformat(r[10][4]).timestamp()
    assert t10 - t9 == 2
    doc = json.loads(r[11][6])[0]
    assert doc["name"] == "00000020-Contract.pdf" and r[11][5] == ""
    assert r[12][5] == "שלום! مرحبا 👋"                    # RTL kept, edit marker dropped
    meta = json.loads(sm.store.conn.execute(
        "select metadata from conversations where title = 'Anna Lopez'").fetchone()[0])
    assert meta["timezone"] == "Europe/Berlin" and meta["date_order"] == "mdy"


def test_android_group_with_system_lines_and_tilde_names(sm):
    sm.import_paths([WA / "WhatsApp Chat with Hiking.txt"], timezone="UTC")
    r = rows(sm, "Hiking")
    kinds = [(x[1], x[3]) for x in r]
    assert kinds[:3] == [("", "system")] * 3
    assert kinds[3] == ("Ash", "message") and kinds[4] == ("Brock", "message")
    assert r[3][4] == "2016-08-06T13:25:00+00:00"           # dd.mm.yyyy
    assert json.loads(r[5][6])[0]["note"] == "<Media omitted>" and r[5][5] == ""
    assert r[6][5] == "view from the top"
    assert json.loads(r[6][6])[0]["name"] == "IMG-20160813-WA0003.jpg"
    # "changed the subject ... to "Hiking: summer"" has a colon but is a system line
    assert r[7][3] == "system" and "Hiking: summer 2016" in r[7][5]
    assert json.loads(r[8][6])[0]["kind"] == "deleted"
    assert r[9][3] == "system" and r[9][5] == "Brock left"
    # a group: nobody is guessed to be me
    assert all(x[2] == 0 for x in r)


@pytest.mark.parametrize("name, first_ts, speakers", [
    ("WhatsApp Chat - Matti Virtanen.txt", "2022-03-12T14:08:18", ["Matti Virtanen", "Liisa"]),
    ("WhatsApp Chat with Michelle.txt", "2017-06-20T20:28:00", ["Michelle", "Carlos"]),
    ("WhatsApp Chat - 佐藤.txt", "2024-10-31T15:50:46", ["佐藤", "Sam"]),
    ("WhatsApp Chat with أحمد.txt", "2023-12-31T21:41:00", ["أحمد", "Sam"]),
    ("WhatsApp Chat with Kim.txt", "2021-01-02T10:00:00", ["Kim", "Lee"]),
])
def test_locale_variants(name, first_ts, speakers):
    conv = parse_file(name, zone="UTC")
    assert conv.messages[0].timestamp.replace(tzinfo=None).isoformat() == first_ts
    assert conv.participants == speakers
    assert all(m.timestamp.tzinfo is not None for m in conv.messages)


def test_spanish_pm_and_am_after_midnight():
    conv = parse_file("WhatsApp Chat with Michelle.txt", zone="UTC")
    assert [m.timestamp.hour for m in conv.messages] == [20, 20, 0]
    assert conv.messages[2].timestamp.day == 21


def test_ambiguous_dates_are_decided_by_the_whole_file():
    conv = parse_file("WhatsApp Chat with Kim.txt", zone="UTC")
    assert [m.timestamp.date().isoformat() for m in conv.messages] == [
        "2021-01-02", "2021-01-03", "2021-02-01", "2021-03-01"]
    # the same lines day-first when a day > 12 appears anywhere in the file
    ctx = context_for("UTC")
    text = "1/2/21, 10:00 - Kim: a\n13/2/21, 10:00 - Kim: b\n"
    c = whatsapp.parse_text(text, "Kim", ctx)
    assert [m.timestamp.date().isoformat() for m in c.messages] == ["2021-02-01", "2021-02-13"]


def test_me_name_wins_over_the_two_person_guess(sm):
    sm.import_paths([WA / "WhatsApp Chat - Anna Lopez.txt"], me=["Anna Lopez"])
    r = rows(sm, "Anna Lopez")
    assert {(x[1], x[2]) for x in r if x[3] == "message"} == {("Anna Lopez", 1), ("Sam", 0)}


def test_empty_chat_imports_as_a_conversation_without_real_messages(sm):
    rep = sm.import_paths([WA / "WhatsApp Chat with Nobody.txt"])
    assert rep.sources[0].conversations == 1
    assert [x[3] for x in rows(sm, "Nobody")] == ["system"]


def test_zip_and_folder_and_file_give_the_same_messages(sm, tmp_path):
    import zipfile

    sm.import_paths([WA / "WhatsApp Chat - Anna Lopez.zip"])
    first = rows(sm, "Anna Lopez")
    assert len(first) == 13
    # the extracted folder, and the ZIP with the export under one top folder
    folder = tmp_path / "WhatsApp Chat - Anna Lopez"
    folder.mkdir()
    with zipfile.ZipFile(WA / "WhatsApp Chat - Anna Lopez.zip") as z:
        z.extractall(folder)
    nested = tmp_path / "export.zip"
    with zipfile.ZipFile(nested, "w") as z:
        z.write(folder / "_chat.txt", "WhatsApp Chat - Anna Lopez/_chat.txt")
    for p in (folder, nested, WA / "WhatsApp Chat - Anna Lopez.txt"):
        rep = sm.import_paths([p])
        assert rep.sources[0].messages_added == 0, p
        assert rep.sources[0].messages_skipped == 13, p
    assert rows(sm, "Anna Lopez") == first


def test_huge_single_message(sm, tmp_path):
    body = "\n".join(f"line {i} of a very long pasted note about the garden" for i in range(20000))
    f = tmp_path / "WhatsApp Chat with Kai.txt"
    f.write_text(f"05/05/2024, 10:00 - Sam: {body}\n05/05/2024, 10:01 - Kai: tl;dr?\n",
                 encoding="utf-8")
    sm.import_paths([f])
    r = rows(sm, "Kai")
    assert len(r) == 2 and r[0][5] == body and r[1][5] == "tl;dr?"


def test_wrong_encoding_is_an_error_with_line_and_byte(sm):
    with pytest.raises(ImportFormatError) as ei:
        sm.import_paths([WA / "latin1.txt"], format="whatsapp")
    msg = str(ei.value)
    assert "latin1.txt" in msg and "line 1" in msg and "UTF-8" in msg
    assert sm.store.conn.execute("select count(*) from messages").fetchone()[0] == 0


def test_newer_export_adds_only_new_messages_keeping_positions(sm, tmp_path):
    older = tmp_path / "WhatsApp Chat with Ben.txt"
    older.write_text("01/02/2024, 10:00 - Ben: one\n01/02/2024, 10:00 - Ben: one\n"
                     "01/02/2024, 10:01 - Sam: two\n", encoding="utf-8")
    sm.import_paths([older])
    newer = tmp_path / "new" / "WhatsApp Chat with Ben.txt"
    newer.parent.mkdir()
    newer.write_text(older.read_text() + "01/02/2024, 10:01 - Sam: three\n"
                     "02/02/2024, 09:00 - Ben: four\nstill four\n", encoding="utf-8")
    rep = sm.import_paths([newer])
    assert (rep.sources[0].messages_added, rep.sources[0].messages_skipped) == (2, 3)
    got = sm.store.conn.execute(
        "select position, text, timestamp from messages order by position").fetchall()
    assert [g[0] for g in got] == [0, 1, 2, 3, 4]
    assert [g[1] for g in got] == ["one", "one", "two", "three", "four\nstill four"]


def test_chat_titles_from_file_and_zip_names():
    assert whatsapp.chat_title(open_tree(WA / "WhatsApp Chat with Hiking.txt"),
                               "WhatsApp Chat with Hiking.txt") == "Hiking"
    t = open_tree(WA / "WhatsApp Chat - Anna Lopez.zip")
    try:
        assert whatsapp.chat_title(t, "_chat.txt") == "Anna Lopez"
    finally:
        t.close()


def test_detection_rejects_ordinary_text(tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("Shopping list\n- milk\n- 12/31/23 party\n")
    t = open_tree(f)
    assert whatsapp.claim(t, t.files()) == []


def test_import_timezone_setting_is_used_and_recorded(sm):
    from secondme.errors import InvalidInput

    with pytest.raises(InvalidInput):
        sm.update_settings(import_timezone="Nowhere/Atlantis")
    sm.update_settings(import_timezone="Asia/Tokyo")
    sm.import_paths([WA / "WhatsApp Chat with Michelle.txt"])
    r = rows(sm, "Michelle")
    assert r[0][4] == "2017-06-20T20:28:00+09:00"
    meta = json.loads(sm.store.conn.execute(
        "select metadata from conversations where title = 'Michelle'").fetchone()[0])
    assert meta["timezone"] == "Asia/Tokyo"


@pytest.mark.parametrize("text, speaker, iso", [
    ("[31.12.23, 21:41:05] Jonas: Frohes neues Jahr!\n[01.01.24, 00:00:10] Sam: Danke\n",
     "Jonas", "2023-12-31T21:41:05"),
    ("2023/12/31 下午9:41 - 小明: 新年快乐\n2024/1/1 上午12:05 - Sam: 你也是\n",
     "小明", "2023-12-31T21:41:00"),
    ("31/12/2023 21:41 - João: Feliz ano novo\n", "João", "2023-12-31T21:41:00"),
    ("12/31/23, 9:41\u202fPM - \u202a+1 (555) 010-9999\u202c: hi from a number\n",
     "+1 (555) 010-9999", "2023-12-31T21:41:00"),
    ("[31/12/2023, 9:41:05\u202fpm] Priya: Happy new year\n", "Priya", "2023-12-31T21:41:05"),
])
def test_more_locales(text, speaker, iso):
    c = whatsapp.parse_text(text, "X", context_for("UTC"))
    m = c.messages[0]
    assert (m.speaker, m.timestamp.replace(tzinfo=None).isoformat()) == (speaker, iso)


def test_utf16_export_is_detected_and_read(sm, tmp_path):
    f = tmp_path / "WhatsApp Chat with Lea.txt"
    f.write_bytes("12/05/2024, 10:00 - Lea: Grüße aus Köln\n".encode("utf-16"))
    rep = sm.import_paths([f])
    assert rep.sources[0].format == "whatsapp"
    assert rows(sm, "Lea")[0][5] == "Grüße aus Köln"


def test_a_poll_becomes_the_one_line_poll_with_its_votes():
    text = ("[20/08/2024, 22:02:04] Sam: POLL:\nWhich gym?\nOPTION: North (1 vote)\n"
            "OPTION: South (3 votes)\n"
            "[20/08/2024, 22:03:00] Jo: POLL:\nnot really a poll, just shouting\n")
    c = whatsapp.parse_text(text, "Climbing", context_for("UTC"))
    assert [m.text for m in c.messages] == [
        "Poll: Which gym? (North: 1 vote / South: 3 votes)",
        "POLL:\nnot really a poll, just shouting"]
    assert c.messages[0].speaker == "Sam" and c.messages[0].kind == "message"
