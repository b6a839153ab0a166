"""Cited answers: invented citations removed, grounding, extractive answers, abstention,
follow-ups, "remember that", reinforcement, open_source."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from secondme.models.llm import ScriptedLLM
from secondme.recall.answer import CitationFilter, clean_citations, grounding
from secondme.recall.dataset import load_conversations

T0 = datetime(2023, 5, 8, 13, 56, tzinfo=timezone.utc)

LINES = [
    ("Caroline", "hey Mel! how was your week?"),
    ("Melanie", "busy! the kids had swimming every day"),
    ("Caroline", "I went to a LGBTQ support group yesterday and it was so powerful"),
    ("Melanie", "that's wonderful, I'm proud of you"),
    ("Caroline", "thanks! I'm also researching adoption agencies now"),
    ("Melanie", "wow, big step! any favourites?"),
    ("Caroline", "one in Portland looks great, they work with single parents"),
    ("Melanie", "I painted a lake sunrise last week, want to see?"),
    ("Caroline", "yes please!! you're so talented"),
    ("Melanie", "my sister Joanna is visiting from Denver next month"),
    ("Caroline", "oh nice, is she the nurse?"),
    ("Melanie", "yep, she works night shifts at the children's hospital"),
]


@pytest.fixture
def chat_sm(home, fake_embedder):
    from secondme.service import SecondMe

    clock = lambda: T0 + timedelta(days=1)  # noqa: E731
    llm = ScriptedLLM(capable=False)
    sm = SecondMe(home, embedder=fake_embedder, llm=llm, clock=clock)
    msgs = [{"id": f"D1:{i}", "speaker": s, "text": t,
             "timestamp": (T0 + timedelta(minutes=2 * i)).isoformat()}
            for i, (s, t) in enumerate(LINES)]
    load_conversations(sm.store, [{"id": "locomo-1", "title": "Caroline & Melanie",
                             "participants": ["Caroline", "Melanie"], "messages": msgs}])
    sm.index_pending()
    yield sm
    sm.close()


def _use_llm(sm, llm):
    sm._llm = llm
    sm._llm_injected = True


# -- the citation filter ---------------------------------------------------------------
def test_filter_removes_invented_markers_even_split_across_tokens():
    shown = []
    f = CitationFilter([1, 2, 3], emit=shown.append)
    for piece in ["She went ", "[", "1", "] and also [", "7] then [2, ", "9] end [", "3"]:
        f.feed(piece)
    text = f.close()
    assert text == "She went [1] and also  then [2] end "
    assert "".join(shown) == text
    assert not any("7" in s or "9" in s for s in shown)


def test_filter_keeps_ordinary_brackets_and_clean_citations():
    assert clean_citations("a [note] and [1][4]", [1]) == "a [note] and [1]"
    assert clean_citations("list [x, y]", [1]) == "list [x, y]"


def test_grounding_counts_supported_words():
    assert grounding("She went to a support group [1]", ["I went to a support group"]) > 0.6
    assert grounding("She climbed Everest in 1999 [1]", ["I went to a support group"]) < 0.3
    assert grounding("anything", []) == 0.0


# -- ask with a capable (scripted) model ----------------------------------------------
def test_invented_citation_never_shown_or_returned(chat_sm):
    sm = chat_sm
    sm.update_settings(answer_top_k=3)
    _use_llm(sm, ScriptedLLM(["Caroline went to a LGBTQ support group [1] [7], "
                              "it was powerful [2][7]."], capable=True))
    shown = []
    a = sm.ask("What kind of group did Caroline go to?", on_token=shown.append)
    assert "[7]" not in a.answer and "7]" not in "".join(shown)
    assert all(1 <= c.n <= 3 for c in a.citations)
    assert {c.n for c in a.citations} <= {1, 2, 3}
    assert a.citations, "valid markers are kept"


def test_ungrounded_draft_is_replaced_by_extractive(chat_sm):
    sm = chat_sm
    _use_llm(sm, ScriptedLLM(["Caroline climbed Kilimanjaro with seventeen penguins [1]."],
                             capable=True))
    a = sm.ask("What did Caroline go to yesterday?")
    assert a.draft_rejected and a.method == "extractive"
    assert "penguins" not in a.answer
    assert "support group" in a.answer


def test_grounded_draft_is_used(chat_sm):
    sm = chat_sm
    def answer(prompt: str) -> str:
        n = next(line.split("]")[0][1:] for line in prompt.splitlines()
                 if line.startswith("[") and "support group" in line)
        return f"Caroline went to a LGBTQ support group [{n}]."

    _use_llm(sm, ScriptedLLM(answer, capable=True))
    a = sm.ask("What kind of group did Caroline go to?")
    assert a.method == "model" and a.citations and "support group" in a.answer
    assert a.citations[0].sources[0]["message_id"] == "D1:2"


def test_draft_citing_the_wrong_source_is_rejected(chat_sm):
    sm = chat_sm
    # the claim is true, but source [1] is not where it comes from
    _use_llm(sm, ScriptedLLM(["Caroline went to a LGBTQ support group [8]."], capable=True))
    a = sm.ask("What kind of group did Caroline go to?")
    assert a.draft_rejected or a.citations[0].sources[0]["message_id"] == "D1:2"


# -- the embedded (not capable) model: extractive answers -----------------------------
def test_when_question_states_the_absolute_event_date(chat_sm):
    a = chat_sm.ask("When did Caroline go to the LGBTQ support group?")
    assert not a.abstained
    assert "7 May 2023" in a.answer  # "yesterday" in a message of 8 May 2023
    assert a.citations[0].sources[0]["message_id"] == "D1:2"


def test_what_question_picks_the_answering_sentence(chat_sm):
    a = chat_sm.ask("Where does Melanie's sister Joanna work?")
    assert "hospital" in a.answer
    assert a.citations and all(c.sources for c in a.citations)


def test_streams_tokens_and_reports_first_token_time(chat_sm):
    pieces = []
    a = chat_sm.ask("What is Caroline researching?", on_token=pieces.append)
    assert len(pieces) > 2 and "".join(pieces) == a.answer
    assert "adoption" in a.answer
    assert 0 <= a.timings["first_token_ms"] <= a.timings["total_ms"]


def test_abstains_when_memory_has_nothing(chat_sm):
    a = chat_sm.ask("What colour is Melanie's motorbike?")
    assert a.abstained and a.answer == "I have no memory of that."
    assert a.citations == [] and a.closest


def test_abstain_threshold_is_a_setting(chat_sm):
    chat_sm.update_settings(abstain_threshold=1.0)
    assert chat_sm.ask("What is Caroline researching?").abstained
    chat_sm.update_settings(abstain_threshold=0.0)
    assert not chat_sm.ask("What colour is Melanie's motorbike?").abstained


# -- chats, follow-ups, remember ---------------------------------------------------------
def test_followup_carries_the_previous_person(chat_sm):
    sm = chat_sm
    a1 = sm.ask("Who is visiting Melanie next month?")
    a2 = sm.ask("what does she do for work?", chat_id=a1.chat_id)
    assert "night shifts" in a2.answer or "hospital" in a2.answer
    hist = sm.chat_history(a1.chat_id)
    assert [t.role for t in hist] == ["user", "assistant", "user", "assistant"]
    assert sm.list_chats()[0].id == a1.chat_id


def test_remember_that_creates_a_note_sourced_by_the_chat_message(chat_sm):
    sm = chat_sm
    a = sm.ask("Remember that my passport expires in March 2025")
    assert a.method == "remembered" and a.citations[0].kind == "note"
    nid = a.citations[0].id
    row = sm.store.conn.execute(
        "select n.origin, m.text, c.format from notes n join note_sources ns on ns.note_id = n.id "
        "join messages m on m.id = ns.message_id join conversations c on c.id = m.conversation_id "
        "where n.id = ?", [nid]).fetchone()
    assert row[0] == "chat" and "passport" in row[1] and row[2] == "secondme-chat"
    later = sm.ask("When does my passport expire?")
    assert not later.abstained and "March 2025" in later.answer


def test_answers_are_never_stored_as_messages(chat_sm):
    sm = chat_sm
    before = sm.store.conn.execute("select count(*) from messages").fetchone()[0]
    sm.ask("What is Caroline researching?")
    sm.ask("When did Caroline go to the support group?")
    assert sm.store.conn.execute("select count(*) from messages").fetchone()[0] == before
    assert sm.store.conn.execute(
        "select count(*) from messages_fts where messages_fts match 'abstain OR memory'"
    ).fetchone()[0] == 0


def test_cited_notes_are_reinforced(chat_sm):
    sm = chat_sm
    now = "2023-05-08T00:00:00+00:00"
    with sm.store.write() as db:
        c = db.conn
        mid = c.execute("select id from messages where external_id = 'D1:4'").fetchone()[0]
        nid = c.execute("insert into notes (kind, text, created_at, updated_at, retention) "
                        "values ('fact', 'Caroline is researching adoption agencies', ?, ?, 0.4)",
                        [now, now]).lastrowid
        c.execute("insert into note_sources (note_id, message_id) values (?, ?)", [nid, mid])
    sm.index_pending()
    def cite_the_note(prompt: str) -> str:
        nums = [line.split("]")[0][1:] for line in prompt.splitlines()
                if line.startswith("[") and "memory note" in line]
        return "Caroline is researching adoption agencies " + "".join(f"[{n}]" for n in nums)

    _use_llm(sm, ScriptedLLM(cite_the_note, capable=True))
    a = sm.ask("What is Caroline researching?")
    assert any(c.kind == "note" and c.id == nid for c in a.citations), a
    strength, retention, last = sm.store.conn.execute(
        "select strength, retention, last_recalled from notes where id = ?", [nid]).fetchone()
    assert strength == 2.0 and retention == 1.0 and last is not None


def test_open_source_shows_the_message_in_its_conversation(chat_sm):
    sm = chat_sm
    mid = sm.store.conn.execute("select id from messages where external_id = 'D1:6'").fetchone()[0]
    view = sm.open_source("message", mid)
    assert view.highlight == mid and view.title == "Caroline & Melanie"
    assert len(view.messages) == 11  # five either side
    assert [m["highlight"] for m in view.messages].count(True) == 1
    assert view.messages[5]["message_id"] == "D1:6"


def test_open_source_chunk_and_missing(chat_sm):
    from secondme.errors import NotFound

    sm = chat_sm
    with sm.store.write() as db:
        did = db.conn.execute("insert into documents (format, path, title, content_hash) values "
                              "('pdf', '/d/a.pdf', 'A', 'h')").lastrowid
        cid = db.conn.execute("insert into chunks (document_id, position, text, page, heading, "
                              "char_start, char_end, content_hash) values (?, 0, 'txt', 3, "
                              "'Intro', 10, 13, 'x')", [did]).lastrowid
    v = sm.open_source("chunk", cid)
    assert v.document["path"] == "/d/a.pdf" and v.document["page"] == 3
    assert v.document["char_start"] == 10
    with pytest.raises(NotFound):
        sm.open_source("message", 999999)
