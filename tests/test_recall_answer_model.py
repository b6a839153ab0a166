"""With a capable model: the typed evidence (answer type, the reader's candidate with its
source, relative dates resolved) goes into its prompt, and a draft is kept only when it is
grounded and of the asked type."""
from __future__ import annotations

import pytest
from test_recall_answer_types import build

from secondme.models.llm import ScriptedLLM


def _src_n(prompt: str, words: str) -> str:
    return next(line.split("]")[0][1:] for line in prompt.splitlines()
                if line.startswith("[") and words in line)


@pytest.fixture
def model_sm(home, fake_embedder):
    sm = build(home, fake_embedder)
    yield sm
    sm.close()


def _use(sm, fn):
    llm = ScriptedLLM(fn, capable=True)
    sm._llm = llm
    sm._llm_injected = True
    return llm


def test_prompt_carries_the_type_and_the_readers_candidate(model_sm):
    llm = _use(model_sm, lambda p: f"14 January 2023 [{_src_n(p, 'Paris')}]")
    a = model_sm.ask("When did Rosa go to Paris?")
    prompt = llm.prompts[0]
    assert "Answer with a date" in prompt
    assert "A candidate answer found in the sources: the weekend of 14 January 2023" in prompt
    assert "last weekend (the weekend of 14 January 2023)" in prompt   # resolved in place
    assert a.method == "model" and "14 January 2023" in a.answer


def test_a_grounded_draft_of_the_wrong_type_is_replaced(model_sm):
    """Every word of "Rosa went to Paris [n]" is in its source, but a date was asked."""
    _use(model_sm, lambda p: f"Rosa went to Paris [{_src_n(p, 'Paris')}]")
    a = model_sm.ask("When did Rosa go to Paris?")
    assert a.draft_rejected and a.method == "extractive"
    assert "14 January 2023" in a.answer


def test_a_date_the_sources_do_not_stand_for_is_replaced(model_sm):
    _use(model_sm, lambda p: f"Rosa went to Paris on 3 March 2023 [{_src_n(p, 'Paris')}]")
    a = model_sm.ask("When did Rosa go to Paris?")
    assert a.draft_rejected and "March" not in a.answer


def test_a_count_must_use_the_sources_numbers(model_sm):
    def draft(p):
        return f"Ella went to the beach five times [{_src_n(p, 'beach')}]"
    _use(model_sm, draft)
    a = model_sm.ask("How many times did Ella go to the beach?")
    assert a.draft_rejected and a.answer.startswith("twice")
