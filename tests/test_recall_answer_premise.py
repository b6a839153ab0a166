"""False premises and the wrong person: "That was Rosa, not Ella [1]" with the source that
shows who it was; a premise nothing supports is declined with the closest memories."""
from __future__ import annotations

import re

import pytest
from test_recall_answer_types import LINES, build

from secondme.recall.premise import Premise, check_premise, correction
from secondme.recall.qtypes import analyze_question
from secondme.recall.reader import Sent


@pytest.fixture
def premise_sm(home, fake_embedder):
    sm = build(home, fake_embedder)
    yield sm
    sm.close()


@pytest.mark.parametrize("question,actual,source", [
    ("When did Ella go to Paris?", "Rosa", LINES[0][2]),
    ("Which instrument is Ella learning?", "Rosa", LINES[6][2]),
    ("Where did Rosa go to the beach?", "Ella", LINES[7][2]),
])
def test_wrong_person_is_corrected_with_its_source(premise_sm, question, actual, source):
    a = premise_sm.ask(question)
    asked = "Ella" if actual == "Rosa" else "Rosa"
    assert a.method == "corrected" and a.abstained
    assert a.answer == f"That was {actual}, not {asked} [1]."
    assert [c.n for c in a.citations] == [1]
    assert a.citations[0].text == source


def test_the_right_person_is_answered(premise_sm):
    a = premise_sm.ask("Where did Rosa go last weekend?")
    assert a.method == "extractive" and not a.abstained and "Paris" in a.answer


def test_own_message_without_a_subject_is_the_speakers(premise_sm):
    """ "went to the beach with the kids today" (Ella): asking about Ella is no false
    premise, although the message names no one."""
    a = premise_sm.ask("What did Ella say about the beach?")
    assert a.method == "extractive" and not a.abstained


def test_never_mentioned_is_declined_with_closest_memories(premise_sm):
    a = premise_sm.ask("What is Ella's favourite submarine?")
    assert a.abstained and a.method == "abstained" and a.citations == []
    assert a.answer == "I have no memory of that."
    assert a.closest


class _Src:
    def __init__(self, n, speaker, participants=("Rosa", "Ella")):
        self.n, self.speaker, self.participants, self.kind = n, speaker, list(participants), \
            "message"


def _sent(text, n, speaker, match, involves, about, hits=("marathon",)):
    s = Sent(text, _Src(n, speaker), match=match, hits=list(hits))
    s.involves, s.about, s.score = involves, set(about), match
    return s


def test_premise_rules():
    spec = analyze_question("When did Ella run the half marathon?", ["Ella"])
    other = _sent("I ran the half marathon", 1, "Rosa", 1.0, False, {"Rosa"})
    p = check_premise(spec, [other])
    assert p.verdict == "wrong_person" and p.actual == "Rosa"
    assert correction(p) == "That was Rosa, not Ella [1]."
    # the asked person also did it: no correction
    own = _sent("I ran it too!", 2, "Ella", 0.9, True, {"Ella"})
    assert check_premise(spec, [other, own]).verdict == "ok"
    # only related words ("a run", no exact term): too weak to say it was someone else
    weak = _sent("I went for a jog", 1, "Rosa", 0.5, False, {"Rosa"}, hits=())
    assert check_premise(spec, [weak]).verdict == "unsupported"
    # a stranger in another conversation is not "someone else" for Ella
    stranger = _sent("I ran the half marathon", 1, "Kai", 1.0, False, {"Kai"},
                     hits=("marathon",))
    stranger.src.participants = ["Kai", "Bo"]
    assert check_premise(spec, [stranger]).verdict != "wrong_person"
    # a question naming no one is never checked
    assert check_premise(analyze_question("When was the half marathon?"), [other]) == \
        Premise("ok")


def test_corrections_carry_valid_citations(premise_sm):
    for a in premise_sm.ask_many(["When did Ella go to Paris?",
                                  "Which instrument is Ella learning?"]):
        used = {int(n) for n in re.findall(r"\[(\d+)\]", a.answer)}
        assert used == {c.n for c in a.citations} == {1}


def test_someone_elses_chat_does_not_answer_for_the_asked_person(home, fake_embedder):
    """Grace's cat (in a chat Ella is not in) is no answer to "What is Ella's cat
    called?"; it answers for Grace."""
    from datetime import timedelta

    from test_recall_answer_types import T0

    from secondme.recall.dataset import load_conversations

    sm = build(home, fake_embedder)
    try:
        load_conversations(sm.store, [{"id": "gk", "title": "Grace & Kai",
                                       "participants": ["Grace", "Kai"], "messages": [
            {"id": "g1", "speaker": "Grace", "text": "my new cat is called Clementine",
             "timestamp": (T0 + timedelta(days=3)).isoformat()},
            {"id": "g2", "speaker": "Kai", "text": "cute name!",
             "timestamp": (T0 + timedelta(days=3, minutes=1)).isoformat()}]}])
        sm.index_pending()
        a = sm.ask("What is Ella's cat called?")
        assert a.abstained and "Clementine" not in a.answer
        a = sm.ask("What is Grace's cat called?")
        assert not a.abstained and "Clementine" in a.answer
    finally:
        sm.close()
