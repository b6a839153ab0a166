"""A question about something never mentioned is not answered from a word it shares
with an unrelated message."""
from __future__ import annotations

from secondme.recall.answer import discount_unknown_terms


def _conv(sm, messages):
    with sm.store.write() as db:
        db.execute("insert into conversations (format, external_id, title) "
                   "values ('generic', 'c1', 'Anna')")
        for i, (speaker, text) in enumerate(messages):
            db.execute("insert into messages (conversation_id, external_id, position, speaker,"
                       " timestamp, ts, text, content_hash) values (1, ?, ?, ?, ?, ?, ?, ?)",
                       [f"m{i}", i, speaker, f"2023-09-0{1 + i % 9}T10:00:00+00:00",
                        1693562400 + i * 86400, text, f"h{i}"])
    sm.index_pending()


def test_never_mentioned_subject_abstains(sm):
    _conv(sm, [("Anna", "Biscuit is the best name in history."),
               ("Sam", "We named the beagle Biscuit after all."),
               ("Anna", "The new flat has a huge kitchen.")])
    ans = sm.ask("What is the name of my dentist?")
    assert ans.abstained, ans.answer
    assert ans.closest  # the closest memories are still offered


def test_a_mentioned_subject_is_still_answered(sm):
    _conv(sm, [("Anna", "My dentist is Dr. Okafor, she is great."),
               ("Sam", "We named the beagle Biscuit after all.")])
    ans = sm.ask("What is the name of my dentist?")
    assert not ans.abstained
    assert "Okafor" in ans.answer


def test_discount_rules():
    idf = {"name": 3.0, "dentist": 9.0}
    assert discount_unknown_terms(0.5, ["name", "dentist"], idf, set()) == 0.5
    low = discount_unknown_terms(0.5, ["name", "dentist"], idf, {"dentist"})
    assert abs(low - 0.5 * 0.25) < 1e-9
    # a semantically close source (a synonym) is not penalised
    assert discount_unknown_terms(0.5, ["name", "dentist"], idf, {"dentist"},
                                  dense_sim=0.7) == 0.5
