"""ScriptedLLM: the deterministic fake other areas' tests drive the LLM paths with."""
from __future__ import annotations

import json
import threading

import pytest

from secondme.errors import Cancelled
from secondme.models.llm import ScriptedLLM, plain_chat_prompt
from secondme.progress import CancelToken


def test_responses_in_order_and_prompts_recorded():
    llm = ScriptedLLM(["first answer", "second"])
    assert llm.capable is True
    assert llm.complete("p1") == "first answer"
    assert llm.chat([{"role": "user", "content": "p2"}]) == "second"
    assert llm.prompts[0] == "p1"
    assert "User: p2" in llm.prompts[1]
    assert llm.calls[1]["messages"] == [{"role": "user", "content": "p2"}]
    with pytest.raises(AssertionError, match="no response left"):
        llm.complete("p3")


def test_callable_and_json_responses():
    llm = ScriptedLLM(lambda prompt: {"echo": prompt.upper()}, capable=False)
    assert llm.capable is False
    out = llm.complete("abc", json_schema={"type": "object"})
    assert json.loads(out) == {"echo": "ABC"}
    assert llm.calls[0]["json_schema"] == {"type": "object"}


def test_streaming_pieces_concatenate_to_the_result():
    llm = ScriptedLLM(["Anna moved to Berlin [1] in  2021.\nThen Paris [2]."])
    pieces = []
    out = llm.complete("q", on_token=pieces.append)
    assert out == "Anna moved to Berlin [1] in  2021.\nThen Paris [2]."
    assert "".join(pieces) == out and len(pieces) == 10


def test_stop_and_max_tokens():
    assert ScriptedLLM(["one two three END four"]).complete("q", stop=["END"]) == \
        "one two three "
    assert ScriptedLLM(["one two three four"]).complete("q", max_tokens=2) == "one two"


def test_cancel_mid_stream():
    llm = ScriptedLLM(["a b c d e f g h"])
    cancel = CancelToken()
    got = []

    def on_token(s):
        got.append(s)
        if len(got) == 2:
            cancel.cancel()

    with pytest.raises(Cancelled):
        llm.complete("q", on_token=on_token, cancel=cancel)
    assert got == ["a", " b"]


def test_cancel_from_another_thread_with_token_delay():
    llm = ScriptedLLM(["x " * 1000], token_delay=0.01)
    cancel = CancelToken()
    threading.Timer(0.05, cancel.cancel).start()
    with pytest.raises(Cancelled):
        llm.complete("q", cancel=cancel)


def test_scripted_exception_is_raised():
    from secondme.errors import ModelError

    llm = ScriptedLLM([ModelError("endpoint down")])
    with pytest.raises(ModelError, match="endpoint down"):
        llm.complete("q")


def test_plain_chat_prompt_ends_with_an_open_assistant_turn():
    p = plain_chat_prompt([{"role": "system", "content": "Be brief."},
                           {"role": "user", "content": "Hi"}])
    assert p == "System: Be brief.\n\nUser: Hi\n\nAssistant:"


def test_chat_rejects_malformed_messages():
    from secondme.errors import InvalidInput

    with pytest.raises(InvalidInput):
        ScriptedLLM(["x"]).chat([])
    with pytest.raises(InvalidInput):
        ScriptedLLM(["x"]).chat([{"text": "no role"}])
