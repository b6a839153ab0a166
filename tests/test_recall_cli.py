"""The recall command line: search (single and --batch), ask --json, eval."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from secondme.cli import main
from secondme.recall.dataset import load_conversations

T0 = datetime(2023, 3, 1, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def cli_home(home, fake_embedder, monkeypatch):
    """A data dir with a small conversation; the CLI uses the fake embedder."""
    from secondme.cli import base as cli_base
    from secondme.models.llm import ScriptedLLM
    from secondme.service import SecondMe

    lines = [("Ana", "we adopted a greyhound yesterday"), ("Bo", "name??"),
             ("Ana", "Pepper! she sleeps all day"), ("Bo", "my hamster died last week"),
             ("Ana", "so sorry, he was a good hamster")]
    msgs = [{"id": f"x{i}", "speaker": s, "text": t,
             "timestamp": (T0 + timedelta(minutes=i)).isoformat()}
            for i, (s, t) in enumerate(lines)]
    with SecondMe(home, embedder=fake_embedder) as sm:
        load_conversations(sm.store, [{"id": "c", "title": "Ana & Bo", "messages": msgs}])
        sm.index_pending()
    orig = cli_base.CliState.service

    def service(self, **kw):
        kw.setdefault("embedder", fake_embedder)
        kw.setdefault("llm", ScriptedLLM(capable=False))
        return orig(self, **kw)

    monkeypatch.setattr(cli_base.CliState, "service", service)
    return home


def test_search_json_has_provenance(cli_home):
    r = CliRunner().invoke(main, ["--home", str(cli_home), "search", "greyhound adopted",
                                  "-k", "3", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["query"] == "greyhound adopted"
    top = out["results"][0]
    assert set(top) >= {"id", "kind", "text", "score", "sources"}
    assert top["sources"][0]["message_id"] == "x0"
    assert top["sources"][0]["conversation"] == "Ana & Bo"
    assert top["sources"][0]["speaker"] == "Ana"
    assert top["sources"][0]["timestamp"].startswith("2023-03-01")


def test_search_batch_one_json_line_per_query_in_order(cli_home, tmp_path):
    f = tmp_path / "q.txt"
    f.write_text("greyhound\nhamster\n\nfoo:bar \"baz\n", encoding="utf-8")
    r = CliRunner().invoke(main, ["--home", str(cli_home), "search", "--batch", str(f), "-k", "2"])
    assert r.exit_code == 0, r.output
    lines = [json.loads(x) for x in r.output.strip().splitlines()]
    assert [x["query"] for x in lines] == ["greyhound", "hamster", 'foo:bar "baz']
    assert lines[1]["results"][0]["sources"][0]["message_id"] in ("x3", "x4")
    assert len(lines[0]["results"]) <= 2


def test_search_batch_from_stdin(cli_home):
    r = CliRunner().invoke(main, ["--home", str(cli_home), "search", "--batch", "-"],
                           input="hamster\n")
    assert r.exit_code == 0 and json.loads(r.output)["query"] == "hamster"


def test_search_human_output_and_usage_error(cli_home):
    r = CliRunner().invoke(main, ["--home", str(cli_home), "search", "Pepper"])
    assert r.exit_code == 0 and "Pepper" in r.output and "2023" in r.output
    r = CliRunner().invoke(main, ["--home", str(cli_home), "search"])
    assert r.exit_code != 0


def test_ask_json(cli_home):
    r = CliRunner().invoke(main, ["--home", str(cli_home), "ask",
                                  "When did Ana adopt the greyhound?", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert set(out) >= {"answer", "abstained", "citations", "timings"}
    assert not out["abstained"]
    assert "28 February 2023" in out["answer"]
    c = out["citations"][0]
    assert set(c) >= {"n", "id", "kind", "text", "sources"}
    assert f"[{c['n']}]" in out["answer"]
    assert c["sources"][0]["message_id"] == "x0"


def test_ask_streams_in_the_terminal(cli_home):
    r = CliRunner().invoke(main, ["--home", str(cli_home), "ask", "What is the greyhound called?"])
    assert r.exit_code == 0, r.output
    assert "Pepper" in r.output and "[1]" in r.output


def test_eval_command(cli_home, tmp_path):
    ds = {"conversations": [{"id": "e", "title": "E", "messages": [
        {"id": "e1", "speaker": "Ana", "timestamp": "2023-01-02T10:00:00+00:00",
         "text": "I started pottery classes on Monday"},
        {"id": "e2", "speaker": "Bo", "timestamp": "2023-01-02T10:01:00+00:00",
         "text": "cool! my brother plays the oboe"}]}],
        "questions": [{"question": "What classes did Ana start?", "evidence": ["e1"],
                       "answer": "pottery classes", "category": "single"},
                      {"question": "What is Ana's favourite submarine?", "evidence": [],
                       "answer": "", "category": "unanswerable"}]}
    f = tmp_path / "ds.json"
    f.write_text(json.dumps(ds))
    r = CliRunner().invoke(main, ["--home", str(cli_home), "eval", str(f), "--json"])
    assert r.exit_code == 0, r.output
    rep = json.loads(r.output)
    assert rep["questions"] == 2 and rep["invalid_citations"] == 0
    assert rep["overall"]["recall@k"] == 100.0
    assert rep["per_category"]["unanswerable"]["abstention_acc"] == 100.0
    r = CliRunner().invoke(main, ["--home", str(cli_home), "eval", str(f)])
    assert "recall@k" in r.output
    bad = tmp_path / "bad.json"
    bad.write_text('{"questions": 3}')
    r = CliRunner().invoke(main, ["--home", str(cli_home), "eval", str(bad)])
    assert r.exit_code == 2 and "dataset" in r.output


def test_search_embeds_new_imports_first(cli_home):
    """Right after an import nothing is embedded yet; the CLI catches up first."""
    from secondme.indexing import count_pending
    from secondme.models.embed import HashEmbedder
    from secondme.service import SecondMe

    with SecondMe(cli_home, embedder=HashEmbedder()) as sm:
        load_conversations(sm.store, [{"id": "new", "title": "New", "messages": [
            {"id": "n1", "speaker": "Ana", "timestamp": "2023-04-01T10:00:00+00:00",
             "text": "the glacier hike was freezing"}]}])
        assert count_pending(sm.store) == 1
    r = CliRunner().invoke(main, ["--home", str(cli_home), "search", "glacier", "--json"])
    assert r.exit_code == 0, r.output
    with SecondMe(cli_home, embedder=HashEmbedder()) as sm:
        assert count_pending(sm.store) == 0
