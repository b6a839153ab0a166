"""Formation quality floors on the labelled set (figures: benchmarks/bench_memory_quality.py).

Two halves: ``tune`` (the rules were tuned on it) and ``heldout`` (written before the rules
changed, never tuned on), plus two later held-out sets (``fresh``, ``fresh2``) that are only
checked for form here. Match rule (issue 15): content-token F1 ≥ 0.3 and a shared source
message, one-to-one. Measured (deterministic, second round of recall rules): tune P 0.83 /
R 0.86, held-out P 0.69 / R 0.71 (fresh 0.78 / 0.69, fresh2 0.67 / 0.70); echoing every
message: held-out P 0.42 / R 0.69. Floors sit below the measured figures so that noise does
not fail them while a real regression does; the held-out precision floor is the issue's
0.65 target plus a hair.
"""
from __future__ import annotations

import json
import re

import pytest
from conftest import FIXTURES

from secondme.memory.evaluate import (
    PredictedFact,
    Score,
    echo_facts,
    evaluate_file,
    gold_like_responder,
    is_casual_chat,
    labelled_files,
    score,
)
from secondme.models.llm import ScriptedLLM

LABELLED = FIXTURES / "memory" / "labelled"
HALVES = ("tune", "heldout")
FRESH = ("fresh", "fresh2")     # later held-out sets, in the order they were written


def run_all(fake_embedder, make_llm, half, casual=None):
    """Score every file of ``half``; ``casual`` (a dict) collects messages, notes and gold
    facts of the casual two-person chats."""
    from secondme.service import SecondMe

    total, windows, rejected = Score(), 0, 0
    for path in labelled_files(LABELLED / half):
        s, summary = evaluate_file(path, lambda home, data: SecondMe(
            home, embedder=fake_embedder, llm=make_llm()))
        total.add(s)
        windows += summary["windows"]
        rejected += summary["rejected"]
        data = json.loads(path.read_text())
        if casual is not None and is_casual_chat(data):
            casual["messages"] += sum(len(c["messages"]) for c in data["conversations"])
            casual["notes"] += s.predicted
            casual["gold"] += s.gold
    return total, windows, rejected


def _check_half(half: str, speakers: set, kinds: set) -> tuple[int, int]:
    """Assert every fact of ``half`` cites messages/paragraphs that exist; collect its
    speakers and kinds (document, assistant, group); return (files, facts)."""
    files = facts = 0
    for p in labelled_files(LABELLED / half):
        data = json.loads(p.read_text())
        ids = {m["id"] for c in data["conversations"] for m in c["messages"]}
        ids |= {f"¶{i}" for d in data.get("documents", []) for i in range(1, 100)}
        speakers |= {m["speaker"] for c in data["conversations"] for m in c["messages"]}
        kinds |= {"document"} if data.get("documents") else set()
        kinds |= {"assistant"} if any(m["speaker"] in ("ChatGPT", "Claude") for c in
                                      data["conversations"] for m in c["messages"]) else set()
        kinds |= {"group"} if any(len(c["participants"]) > 2
                                  for c in data["conversations"]) else set()
        for f in data["facts"]:
            assert f["text"] and f["sources"] and set(f["sources"]) <= ids, (p, f)
            assert not f.get("date") or re.fullmatch(r"\d{4}(-\d\d){0,2}", f["date"]), (p, f)
        facts += len(data["facts"])
        files += 1
    return files, facts


def test_the_labelled_set_is_big_varied_and_well_formed():
    n, files, speakers, kinds = 0, 0, set(), set()
    for half in HALVES:
        half_files, half_facts = _check_half(half, speakers, kinds)
        assert half_facts >= 180, half
        n += half_facts
        files += half_files
    assert files >= 20 and n >= 400 and len(speakers) >= 40
    assert kinds == {"document", "assistant", "group"}


@pytest.mark.parametrize("half", ["fresh", "fresh2"])
def test_the_fresh_held_out_sets_are_varied_and_well_formed(half):
    """The later held-out sets (each written by another hand after the rules it is scored
    against, scored once before any rule change, never read for failure analysis) have
    their own people and every kind of source."""
    speakers, kinds = set(), set()
    files, facts = _check_half(half, speakers, kinds)
    assert files >= 8 and facts >= 150
    assert kinds == {"document", "assistant", "group"}
    older: set = set()
    for earlier in HALVES + FRESH[:FRESH.index(half)]:
        _check_half(earlier, older, set())
    assert len(speakers - older) >= 20           # mostly new people, not the old casts


def test_deterministic_extractor_floors(fake_embedder):
    tune, _w, rejected = run_all(fake_embedder, lambda: ScriptedLLM([], capable=False), "tune")
    assert rejected == 0
    assert tune.precision >= 0.78, tune.extras
    assert tune.recall >= 0.80, tune.misses
    casual = {"messages": 0, "notes": 0, "gold": 0}
    held, _w, _r = run_all(fake_embedder, lambda: ScriptedLLM([], capable=False), "heldout",
                           casual)
    # salience: casual chat gives about one note per 2–4 messages, not one per message
    # (echo: 0.95), and not clearly more than a careful reader kept on the same chats
    # (0.55 on the held-out casual chats; measured 0.57 since short answers keep their
    # question and more clauses are kept, 0.45 before)
    assert 0.2 <= casual["notes"] / casual["messages"] <= \
        casual["gold"] / casual["messages"] + 0.05, casual
    assert held.precision >= 0.66, held.extras
    assert held.recall >= 0.68, held.misses
    assert held.date_accuracy >= 0.5
    echo = Score()
    for p in labelled_files(LABELLED / "heldout"):
        data = json.loads(p.read_text())
        echo.add(score(echo_facts(data), data["facts"]))
    assert held.precision >= echo.precision + 0.2      # formation adds over the raw messages


def test_llm_path_mechanics_with_gold_like_output(fake_embedder):
    for half in HALVES:
        responder = gold_like_responder(labelled_files(LABELLED / half))
        s, windows, rejected = run_all(fake_embedder, lambda r=responder: ScriptedLLM(r), half)
        assert rejected == windows          # the one invented fact per window, never stored
        assert s.precision >= 0.95 and s.recall >= 0.95
        assert s.date_accuracy >= 0.9


def test_the_matching_rule():
    gold = [{"text": "Anna moved to Berlin in April 2023.", "sources": ["3"], "date": "2023-04"},
            {"text": "Anna is allergic to dogs.", "sources": ["9"]}]
    pred = [PredictedFact("Anna moved to Berlin in April 2023.", ["3"], "2023-04-01"),
            PredictedFact("Anna is allergic to dogs.", ["4"]),          # wrong source
            PredictedFact("Anna moved to Berlin.", ["3"])]               # second match: extra
    s = score(pred, gold)
    assert (s.matched, s.precision, s.recall, s.date_accuracy) == (1, 1 / 3, 0.5, 1.0)
    # F1 0.3 is enough: "Anna lives in Kreuzberg." vs a longer gold fact
    s = score([PredictedFact("Anna lives in Kreuzberg.", ["5"])],
              [{"text": "Anna lives in Kreuzberg and shares a flat with two architects.",
                "sources": ["5"]}])
    assert s.matched == 1
    s = score([PredictedFact("Anna likes flats.", ["5"])],
              [{"text": "Anna lives in Kreuzberg and shares a flat with two architects.",
                "sources": ["5"]}])
    assert s.matched == 0
