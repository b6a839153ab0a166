"""The LLM extractor: small ids mapped back, invalid output rejected, rolling summary."""
from __future__ import annotations

import json

import pytest
from test_memory_extract import write_chat

from secondme.memory.facts import Window, WindowItem
from secondme.memory.llm_extract import FACT_SCHEMA, LLMExtractor
from secondme.models.llm import ScriptedLLM


def window():
    items = [WindowItem(kind="message", id=101, speaker="Anna", text="I moved to Berlin last month",
                        timestamp="2023-05-10T14:00:00+02:00", external_id="a"),
             WindowItem(kind="message", id=205, speaker="Ben", text="Nice! I got a puppy.",
                        timestamp="2023-05-10T14:01:00+02:00", external_id="b"),
             WindowItem(kind="message", id=300, speaker="ChatGPT", text="As an AI I love dogs.",
                        timestamp="2023-05-10T14:02:00+02:00", external_id="c")]
    return Window(items=items, conversation_id=1, title="Catch-up",
                  participants=["Anna", "Ben", "ChatGPT"], summary="They are old friends.")


def test_ids_are_mapped_back_and_invalid_facts_rejected():
    out = {"facts": [
        {"text": "Anna moved to Berlin last month", "type": "event", "sources": [1],
         "confidence": 0.9},
        {"text": "Ben got a puppy.", "type": "event", "sources": [2, 1], "confidence": 0.8},
        {"text": "Ben has a cat.", "type": "event", "sources": [7], "confidence": 0.8},
        {"text": "", "type": "event", "sources": [1], "confidence": 0.8},
        {"text": "Anna likes tea.", "type": "preference", "sources": [], "confidence": 0.8},
        {"text": "Anna is tall.", "type": "made-up", "sources": [1], "confidence": 0.8},
        {"text": "Anna is kind.", "type": "opinion", "sources": [1], "confidence": 7},
        {"text": "The assistant loves dogs.", "type": "preference", "sources": [3],
         "confidence": 0.9},
    ], "summary": "Anna moved; Ben has a puppy."}
    llm = ScriptedLLM([out])
    res = LLMExtractor(llm).extract(window())
    assert [(f.text, f.sources) for f in res.facts] == [
        ("Anna moved to Berlin in April 2023.", [101]),   # left-over relative date resolved
        ("Ben got a puppy.", [205, 101])]
    assert res.facts[0].valid_from == "2023-04-01"
    assert len(res.rejected) == 6
    problems = " | ".join(r["problem"] for r in res.rejected)
    for p in ("not in the window", "empty text", "no sources", "unknown type",
              "confidence", "assistant"):
        assert p in problems
    assert res.summary == "Anna moved; Ben has a puppy."
    call = llm.calls[0]
    assert call["json_schema"] == FACT_SCHEMA
    assert "[1] 2023-05-10 14:00 Anna: I moved to Berlin last month" in call["prompt"]
    assert "101" not in call["prompt"] and "They are old friends." in call["prompt"]
    assert "(AI assistant)" in call["prompt"]


@pytest.mark.parametrize("raw", ["{not json", "[]", json.dumps({"summary": "x"})])
def test_malformed_output_stores_nothing(raw):
    res = LLMExtractor(ScriptedLLM([raw])).extract(window())
    assert res.facts == [] and res.rejected


def test_unusable_windows_fall_back_to_rules_and_summary_rolls(home, fake_embedder, tmp_path):
    from secondme.service import SecondMe

    llm = ScriptedLLM(["garbage", {"facts": [], "summary": "Anna talked about moving."}])
    conv = {"c": [("Anna", "2023-05-10T10:00:00+02:00", "I moved to Berlin last month."),
                  ("Anna", "2023-05-12T10:00:00+02:00", "I bought a plant.")]}
    with SecondMe(home, embedder=fake_embedder, llm=llm) as sm:
        sm.import_paths([write_chat(tmp_path / "c.json", conv)])
        rep = sm.run_extract()
        assert rep["extractor"] == "llm" and rep["fallback_windows"] == 1
        assert rep["windows"] == 2 and rep["rejected"] == 1
        assert [n.text for n in sm.list_notes()] == ["Anna moved to Berlin in April 2023."]
        assert sm.store.conn.execute("select summary from formation_state").fetchone()[0] == \
            "Anna talked about moving."
        assert sm.store.conn.execute("select extractor from formation_windows order by id"
                                     ).fetchall() == [("deterministic",), ("llm",)]


def test_the_default_tiny_model_uses_the_deterministic_extractor(home, fake_embedder):
    from secondme.memory.extract import choose_extractor
    from secondme.service import SecondMe

    with SecondMe(home, embedder=fake_embedder) as sm:
        assert choose_extractor(lambda: sm.llm, sm.settings.llm_source).name == "deterministic"
    with SecondMe(home, embedder=fake_embedder, llm=ScriptedLLM([], capable=False)) as sm:
        assert choose_extractor(lambda: sm.llm, sm.settings.llm_source).name == "deterministic"
    with SecondMe(home, embedder=fake_embedder, llm=ScriptedLLM([])) as sm:
        assert choose_extractor(lambda: sm.llm, sm.settings.llm_source).name == "llm"
