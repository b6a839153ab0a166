"""The vector index stays in step with the database (issue 17, item 9).

After every formation that refined a note, ``doctor`` said the index was "out of step"
and the next open rebuilt all of it: the refined note's vector was dropped (its label
marked deleted) and the next vector got the same label (labels were ``max + 1``), which
hnswlib took as "bring the deleted entry back" — one deletion counted too many. Labels
are never reused now, so the saved index matches the database after formation and the
next open just loads it.
"""
from __future__ import annotations

import json
import sqlite3

from test_memory_extract import write_chat

from secondme.models.embed import HashEmbedder
from secondme.service import SecondMe


def _in_step(home) -> tuple[int, int]:
    meta = json.loads((home / "vectors" / "index.json").read_text())
    conn = sqlite3.connect(home / "secondme.db")
    items = conn.execute("select count(distinct vec) from vector_items").fetchone()[0]
    conn.close()
    return meta["count"] - meta["deleted"], items


def test_formation_that_refines_a_note_leaves_the_index_in_step(tmp_path):
    chat = write_chat(tmp_path / "chat.json", {
        "a": [("Anna", "2023-05-10T10:00:00+02:00", "I adopted a dog.")],
        "b": [("Anna", "2023-05-11T10:00:00+02:00",
               "I adopted a dog, a beagle named Rex, from the shelter.")]})
    home = tmp_path / "home"
    with SecondMe(home, embedder=HashEmbedder()) as sm:
        sm.import_paths([chat])
        rep = sm.run_extract()
        assert rep["refined"] == 1   # the second window refines the first one's note
        report = sm.doctor()["index"]
        assert not report["health"].startswith(("out of step", "behind")), report
    live, items = _in_step(home)
    assert live == items == 3        # two messages and the one (refined) note
    with SecondMe(home, embedder=HashEmbedder()) as sm:
        assert sm.vectors.status == "loaded"        # not rebuilt
        labels = [r[0] for r in sm.store.conn.execute("select label from vector_items")]
        assert sorted(labels) == [1, 2, 4]          # label 3 (the old note) never again
        hit = sm.search("beagle named Rex")[0]
        assert hit.kind == "note" and "beagle" in hit.text


def test_many_formations_never_put_the_index_out_of_step(tmp_path):
    """Rounds of imports, each formed in one run where later windows refine, reinforce
    or invalidate the notes of earlier ones: the loaded index and the saved one always
    match the database."""
    home = tmp_path / "home"
    facts = ["I adopted a dog.", "I adopted a dog, a beagle named Rex, from the shelter.",
             "I live in Berlin.", "I moved to Paris last month.", "I love sushi.",
             "I really love sushi!", "I work at Acme as an engineer.",
             "I work at Acme as an engineer in the robotics team of the Berlin office."]
    with SecondMe(home, embedder=HashEmbedder()) as sm:
        for round_ in range(3):
            chat = write_chat(tmp_path / f"round{round_}.json", {
                f"r{round_}c{i}": [("Anna", f"2023-0{1 + i}-1{round_}T10:00:00+02:00",
                                    text + ("" if round_ == 0 else f" Round {round_}."))]
                for i, text in enumerate(facts)})
            sm.import_paths([chat])
            rep = sm.run_extract()
            assert rep["refined"] + rep["merged"] + rep["invalidated"] > 0, rep
            # one index entry per distinct text (m516): a note whose text another
            # note has too (the same fact, said in another round) shares its entry
            live, items = len(sm.vectors), sm.store.conn.execute(
                "select count(distinct vec) from vector_items").fetchone()[0]
            assert live == items, (round_, rep)
            sm.vectors.save()
            assert _in_step(home)[0] == items
    live, items = _in_step(home)
    assert live == items
    with SecondMe(home, embedder=HashEmbedder()) as sm:
        assert sm.vectors.status == "loaded"
