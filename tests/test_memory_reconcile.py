"""Reconciliation: duplicates reinforce, refinements version, contradictions invalidate;
all of it recorded in history and undoable; the model only picks among small ids."""
from __future__ import annotations

from test_memory_extract import write_chat

from secondme.memory.facts import Fact
from secondme.memory.reconcile import Candidate, decide, llm_decide
from secondme.models.llm import ScriptedLLM


def chat(tmp_path, name, msgs):
    return write_chat(tmp_path / f"{name}.json", {name: msgs})


def form(sm, tmp_path, name, msgs):
    sm.import_paths([chat(tmp_path, name, msgs)])
    return sm.run_extract()


def notes(sm):
    return sm.store.conn.execute("select id, text, strength, valid_from, valid_to, version "
                                 "from notes order by id").fetchall()


def test_duplicate_reinforces_and_adds_the_source(sm, tmp_path):
    form(sm, tmp_path, "a", [("Anna", "2023-05-10T10:00:00+02:00", "I love sushi.")])
    rep = form(sm, tmp_path, "b", [("Anna", "2023-06-01T10:00:00+02:00", "I really love sushi!")])
    assert rep["merged"] == 1 and rep["added"] == 0
    (nid, text, strength, *_), = notes(sm)
    assert text == "Anna loves sushi." and strength == 2.0
    d = sm.get_note(nid)
    assert [s.message_id for s in d.sources] == ["a-0", "b-0"]
    h = sm.note_history(nid)
    assert [e.action for e in h] == ["create", "reinforce"]
    sm.undo(h[-1].id)
    assert notes(sm)[0][2] == 1.0 and len(sm.get_note(nid).sources) == 1


def test_refinement_becomes_a_new_version_with_the_old_text_in_history(sm, tmp_path):
    form(sm, tmp_path, "a", [("Anna", "2023-05-10T10:00:00+02:00", "I adopted a dog.")])
    rep = form(sm, tmp_path, "b", [("Anna", "2023-05-11T10:00:00+02:00",
                                    "I adopted a dog, a beagle named Rex, from the shelter.")])
    assert rep["refined"] == 1
    (nid, text, strength, _vf, _vt, version), = notes(sm)
    assert text == "Anna adopted a dog, a beagle named Rex, from the shelter." and version == 2
    d = sm.get_note(nid)
    assert [v.text for v in d.versions] == ["Anna adopted a dog.", text]
    assert len(d.sources) == 2
    # the note's vector was replaced (one vector for the note, for the new text)
    assert sm.store.conn.execute("select count(*) from vector_items where kind = 'note'"
                                 ).fetchone()[0] == 1
    sm.undo(sm.note_history(nid)[-1].id)
    assert notes(sm)[0][1] == "Anna adopted a dog." and notes(sm)[0][5] == 1


def test_a_user_edited_note_is_never_rewritten_by_extraction(sm, tmp_path):
    form(sm, tmp_path, "a", [("Anna", "2023-05-10T10:00:00+02:00", "I adopted a dog.")])
    nid = notes(sm)[0][0]
    sm.edit_note(nid, text="Anna adopted Rex, her dog.")
    form(sm, tmp_path, "b", [("Anna", "2023-05-11T10:00:00+02:00",
                              "I adopted a dog, a beagle named Rex, from the shelter.")])
    assert sm.get_note(nid).note.text == "Anna adopted Rex, her dog."


def test_contradiction_invalidates_the_older_fact_and_links_them(sm, tmp_path):
    form(sm, tmp_path, "a", [("Anna", "2023-01-10T10:00:00+01:00", "I live in Berlin.")])
    rep = form(sm, tmp_path, "b", [("Anna", "2023-09-10T10:00:00+02:00",
                                    "I moved to Paris last month.")])
    assert rep["invalidated"] == 1
    (old_id, old, _s, vf_old, vt_old, _v), (new_id, new, _s2, vf_new, vt_new, _v2) = notes(sm)
    assert old == "Anna lives in Berlin." and new == "Anna moved to Paris in August 2023."
    assert vt_old == vf_new == "2023-08-01" and vt_new is None   # never deleted
    links = [(l.id, l.kind, l.direction) for l in sm.get_note(old_id).links]
    assert (new_id, "updates", "in") in links
    inv = [h for h in sm.note_history(old_id) if h.action == "invalidate"][0]
    sm.undo(inv.id)
    assert notes(sm)[0][4] is None
    assert all(l.kind != "updates" for l in sm.get_note(old_id).links)


def test_an_older_fact_learned_later_gets_the_valid_to_itself(sm, tmp_path):
    form(sm, tmp_path, "a", [("Anna", "2023-09-10T10:00:00+02:00", "I moved to Paris last month.")])
    form(sm, tmp_path, "b", [("Anna", "2023-01-10T10:00:00+01:00", "I live in Berlin.")])
    rows = {r[1]: r for r in notes(sm)}
    assert rows["Anna lives in Berlin."][4] == "2023-08-01"
    assert rows["Anna moved to Paris in August 2023."][4] is None


def test_different_dates_are_not_duplicates():
    f = Fact(text="Anna went hiking on Saturday, 13 May 2023.", sources=[1])
    c = Candidate(note_id=7, text="Anna went hiking on Saturday, 6 May 2023.")
    assert decide(f, [c]).action == "add"
    assert decide(f, [Candidate(note_id=8, text=f.text)]).action == "merge"


def test_the_model_picks_among_small_ids_and_bad_picks_fall_back():
    f = Fact(text="Anna lives in Paris now.", sources=[1])
    cands = [Candidate(note_id=41, text="Anna likes tea."),
             Candidate(note_id=97, text="Anna lives in Berlin.")]
    llm = ScriptedLLM([{"event": "DELETE", "id": 1}, {"event": "UPDATE", "id": 5},
                       "not json", {"event": "NONE", "id": 0}, {"event": "ADD", "id": -1}])
    assert (d := llm_decide(llm, f, cands)).action == "invalidate" and d.target == 97
    assert "0: Anna likes tea." in llm.prompts[0] and "97" not in llm.prompts[0]
    assert llm.calls[0]["json_schema"]["required"] == ["event", "id"]
    assert llm_decide(llm, f, cands) is None        # id 5 was never offered
    assert llm_decide(llm, f, cands) is None        # malformed
    assert llm_decide(llm, f, cands).target == 41   # NONE → merge into 0
    assert llm_decide(llm, f, cands).action == "add"


def test_capable_model_reconciles_during_extraction(home, fake_embedder, tmp_path):
    from secondme.service import SecondMe

    def respond(prompt):
        if "Existing memories" in prompt:
            return {"event": "DELETE", "id": 0}
        if "Conversation" in prompt and "Paris" in prompt:
            return {"facts": [{"text": "Anna lives in Paris.", "type": "biography",
                               "sources": [1], "confidence": 0.9}], "summary": "Anna moved."}
        return {"facts": [{"text": "Anna lives in Berlin.", "type": "biography",
                           "sources": [1], "confidence": 0.9}], "summary": "Anna in Berlin."}

    with SecondMe(home, embedder=fake_embedder, llm=ScriptedLLM(respond)) as sm:
        form(sm, tmp_path, "a", [("Anna", "2023-01-10T10:00:00+01:00", "Berlin is home")])
        rep = form(sm, tmp_path, "b", [("Anna", "2023-09-10T10:00:00+02:00", "Paris now!")])
        assert rep["extractor"] == "llm" and rep["invalidated"] == 1
        rows = notes(sm)
        assert rows[0][1] == "Anna lives in Berlin." and rows[0][4] == "2023-09-10"
        assert rows[1][1] == "Anna lives in Paris." and rows[1][4] is None
