"""Entities: found without a gazetteer, resolved exact → fuzzy → model, "me" unified."""
from __future__ import annotations

import pytest

from secondme.memory.entities import EntityResolver, find_entities
from secondme.models.llm import ScriptedLLM


@pytest.mark.parametrize("text,expected", [
    ("Anna moved to Lisbon with her sister Lena.", [("Anna", "person"), ("Lisbon", "place"),
                                                     ("Lena", "person")]),
    ("Ben works at Acme Inc now.", [("Ben", "person"), ("Acme Inc", "organisation")]),
    ("Ben joined Spotify in Stockholm.", [("Ben", "person"), ("Spotify", "organisation"),
                                          ("Stockholm", "place")]),
    ("Thanks @maria.k for the photos!", [("@maria.k", "person")]),
    ("We hiked in the Swiss Alps on Monday.", [("Swiss Alps", "place")]),
])
def test_find_entities(text, expected):
    assert find_entities(text, people=["Anna", "Ben"], sentence_start_ok=True) == expected


def test_sentence_start_words_are_not_names_unless_known():
    assert find_entities("Yesterday was great. Maybe later.", people=[]) == []
    assert find_entities("Anna called.", people=["Anna"]) == [("Anna", "person")]


def test_resolution_order_and_me(sm):
    with sm.store.write() as db:
        r = EntityResolver(db.conn, me_names=["Anna Schmidt", "Annie"])
        me = r.me_id
        lena = r.resolve("Lena Vogel", "person")
        assert r.resolve("lena  vogel", "person") == lena          # normalised exact
        assert r.resolve("Zoë Müller", "person") == r.resolve("Zoe Muller", "person")
        assert r.resolve("Lena", "person") == lena                  # lone first name, unique
        assert r.resolve("Annie", "person") == me
        r.add_me_alias("anna.s")
        assert r.resolve("anna.s") == me
        berlin = r.resolve("Berlin", "place")
        assert berlin not in (me, lena)
    ents = {e.name: e for e in sm.list_entities()}
    assert ents["Anna Schmidt"].is_me and "Annie" in ents["Anna Schmidt"].aliases
    assert "Lena" in ents["Lena Vogel"].aliases


def test_two_people_with_the_same_first_name_stay_apart(sm):
    with sm.store.write() as db:
        r = EntityResolver(db.conn)
        a = r.resolve("Tom Berg", "person")
        b = r.resolve("Tom Lund", "person")
        assert a != b
        tom = r.resolve("Tom", "person")
        assert tom not in (a, b)         # ambiguous: not silently merged


def test_the_model_decides_only_what_rules_leave_open(sm):
    llm = ScriptedLLM([{"match": 0}, {"match": 7}])
    with sm.store.write() as db:
        r = EntityResolver(db.conn, llm=llm)
        kat = r.resolve("Katharina Meier", "person")
        assert r.resolve("Katharina Meier", "person") == kat and llm.calls == []
        r.ask_model_first([("Kathi Meier", "person"), ("Kathrin Meyer", "person"),
                           ("Katharina Meier", "person")])      # the last: rules suffice
        assert len(llm.calls) == 2 and "0: Katharina Meier" in llm.prompts[0]
        assert r.resolve("Kathi Meier", "person") == kat        # model: 0 = Katharina
        other = r.resolve("Kathrin Meyer", "person")            # model: 7 not offered → new
        assert other != kat and len(llm.calls) == 2             # resolve never asks
