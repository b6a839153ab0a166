"""``secondme ask --batch FILE|-`` and ``SecondMe.ask_many``: one JSON line per question,
in order, in the ``ask --json`` schema; models loaded once; no chats kept; errors name the
line."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from test_recall_answer_types import build

from secondme.cli import main
from secondme.errors import Cancelled, InvalidInput
from secondme.progress import CancelToken

QUESTIONS = ["Which instrument is Rosa learning?", "What is Ella's favourite submarine?",
             "When did Ella go to Paris?", "What has Rosa painted?"]


@pytest.fixture
def batch_home(home, fake_embedder, monkeypatch):
    from secondme.cli import base as cli_base
    from secondme.models.llm import ScriptedLLM

    build(home, fake_embedder).close()
    orig = cli_base.CliState.service

    def service(self, **kw):
        kw.setdefault("embedder", fake_embedder)
        kw.setdefault("llm", ScriptedLLM(capable=False))
        return orig(self, **kw)

    monkeypatch.setattr(cli_base.CliState, "service", service)
    return home


def test_batch_file_one_json_line_per_question_in_order(batch_home, tmp_path):
    f = tmp_path / "q.txt"
    f.write_text("\n".join(QUESTIONS[:2]) + "\n\n" + "\n".join(QUESTIONS[2:]) + "\n",
                 encoding="utf-8")
    r = CliRunner().invoke(main, ["--home", str(batch_home), "ask", "--batch", str(f)])
    assert r.exit_code == 0, r.output
    lines = [json.loads(x) for x in r.output.strip().splitlines()]
    assert [x["question"] for x in lines] == QUESTIONS
    single = CliRunner().invoke(main, ["--home", str(batch_home), "ask", "--json",
                                       QUESTIONS[0]])
    assert set(lines[0]) == set(json.loads(single.output))   # the ask --json schema
    assert lines[0]["answer"].startswith("ukulele") and not lines[0]["abstained"]
    assert lines[0]["citations"][0]["quote"] == "I started learning the ukulele this month"
    assert lines[1]["abstained"] and lines[1]["method"] == "abstained" and lines[1]["closest"]
    assert lines[2]["method"] == "corrected" and "That was Rosa, not Ella" in lines[2]["answer"]
    assert all(x["chat_id"] is None for x in lines)          # no chats kept


def test_batch_from_stdin(batch_home):
    r = CliRunner().invoke(main, ["--home", str(batch_home), "ask", "--batch", "-"],
                           input="Which instrument is Rosa learning?\n")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["answer"].startswith("ukulele")


def test_batch_usage_errors(batch_home, tmp_path):
    r = CliRunner().invoke(main, ["--home", str(batch_home), "ask"])
    assert r.exit_code == 2 and "--batch" in r.output
    f = tmp_path / "q.txt"
    f.write_text("x?\n")
    r = CliRunner().invoke(main, ["--home", str(batch_home), "ask", "--batch", str(f), "why?"])
    assert r.exit_code == 2
    r = CliRunner().invoke(main, ["--home", str(batch_home), "ask", "--batch",
                                  str(tmp_path / "missing.txt")])
    assert r.exit_code == 2 and "missing.txt" in r.output


def test_ask_many_matches_ask_and_keeps_no_chats(home, fake_embedder):
    sm = build(home, fake_embedder)
    try:
        seen = []
        many = sm.ask_many(QUESTIONS, on_answer=lambda i, a: seen.append(i))
        assert seen == list(range(len(QUESTIONS)))
        assert sm.list_chats() == []
        for q, a in zip(QUESTIONS, many):
            one = sm.ask(q)
            assert (a.question, a.answer, a.method, [c.id for c in a.citations]) == \
                (q, one.answer, one.method, [c.id for c in one.citations])
        with pytest.raises(InvalidInput, match="question 2 is empty"):
            sm.ask_many(["Which instrument is Rosa learning?", "  "])
        tok = CancelToken()
        got = []

        def stop_after_first(i, a):
            got.append(a)
            tok.cancel()
        with pytest.raises(Cancelled):
            sm.ask_many(QUESTIONS, cancel=tok, on_answer=stop_after_first)
        assert len(got) == 1
    finally:
        sm.close()


def test_models_are_loaded_once_for_a_batch(batch_home, tmp_path, monkeypatch):
    """``ask --batch`` loads the embedding model once for all its questions."""
    from secondme.cli import base as cli_base
    from secondme.models import embed as embed_mod
    from secondme.models import onnx_backend

    made = []

    def counting(*_a, **_kw):   # the service's one way to load the embedding model
        made.append(1)
        return embed_mod.HashEmbedder()
    monkeypatch.setattr(onnx_backend, "load_embedder", counting)
    monkeypatch.setattr(cli_base.CliState, "service", _real_embedder_service)
    f = tmp_path / "q.txt"
    f.write_text("\n".join(QUESTIONS * 5) + "\n", encoding="utf-8")
    r = CliRunner().invoke(main, ["--home", str(batch_home), "ask", "--batch", str(f),
                                  "--no-index"])
    assert r.exit_code == 0, r.output
    assert len(r.output.strip().splitlines()) == 20
    assert len(made) == 1


def _real_embedder_service(self, **kw):
    """The CLI's service with the embedder it loads itself (the LLM stays a fake)."""
    from secondme.models.llm import ScriptedLLM
    from secondme.service import SecondMe

    if self._sm is None:
        self._sm = SecondMe(self.home, llm=ScriptedLLM(capable=False))
    return self._sm
