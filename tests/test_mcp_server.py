"""A real MCP client session (the SDK's stdio client) against ``python -m secondme
--home TMP mcp`` on a data dir filled by a generic JSON import through the service."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import anyio
import pytest
from mcp import types
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

pytestmark = pytest.mark.slow   # the real embedding model, in a server subprocess too

EXPORT = {"format": "secondme-chat", "version": 1, "conversations": [
    {"id": "trip-2024", "title": "Lisbon trip", "participants": ["Sam", "Anna"],
     "messages": [
         {"id": "m1", "speaker": "Anna", "timestamp": "2024-05-01T09:30:00+02:00",
          "text": "Did you book the flight to Lisbon?", "is_me": False},
         {"id": "m2", "speaker": "Sam", "timestamp": "2024-05-01T09:35:00+02:00",
          "text": "Yes, the flight to Lisbon leaves on the 12th of June", "is_me": True},
         {"id": "m3", "speaker": "Anna", "timestamp": "2024-05-01T09:40:00+02:00",
          "text": "Great, I will bring my blue tent for camping", "is_me": False}]},
    {"id": "work-2024", "title": "Work chat", "participants": ["Sam", "Bob"],
     "messages": [
         {"id": "w1", "speaker": "Bob", "timestamp": "2025-02-03T14:00:00+00:00",
          "text": "The quarterly report is due on Friday", "is_me": False},
         {"id": "w2", "speaker": "Sam", "timestamp": "2025-02-03T14:05:00+00:00",
          "text": "I will finish the quarterly report tomorrow", "is_me": True}]}]}


def _env():
    return {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path),
            "SECONDME_HOME": "", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


@pytest.fixture(scope="module")
def data_home(tmp_path_factory):
    """A data dir with the fixture export imported and indexed by the app's own default
    embedder (the one the server process loads, so its index is current)."""
    from secondme.service import SecondMe

    home = tmp_path_factory.mktemp("mcp home")
    export = home.parent / "export.json"
    export.write_text(json.dumps(EXPORT))
    with SecondMe(home) as sm:
        sm.update_settings(me_name="Sam")
        rep = sm.import_paths([export], format="generic")
        assert sum(s.messages_added for s in rep.sources) == 5
        sm.index_pending()
    return home


def session_run(home: Path, fn, *, client_name="pytest-client"):
    """Start the server as a subprocess, run ``await fn(session)`` and return its result."""
    params = StdioServerParameters(command=sys.executable,
                                   args=["-m", "secondme", "--home", str(home), "mcp"],
                                   env=_env())

    async def main():
        with anyio.fail_after(240):
            async with stdio_client(params) as (read, write):
                async with ClientSession(read, write, client_info=types.Implementation(
                        name=client_name, version="1.0")) as session:
                    await session.initialize()
                    return await fn(session)

    return anyio.run(main)


def _data(result):
    assert not result.is_error, result.content
    if result.structured_content:
        return result.structured_content
    return json.loads(result.content[0].text)


def _error_text(result):
    assert result.is_error
    return " ".join(getattr(c, "text", "") for c in result.content)


def test_tools_search_ask_profile_recent_and_errors(data_home):
    async def run(s):
        tools = sorted(t.name for t in (await s.list_tools()).tools)
        found = _data(await s.call_tool("search_memories",
                                        {"query": "flight to Lisbon", "k": 5}))
        ranged = _data(await s.call_tool("search_memories", {
            "query": "quarterly report", "time_range": "2025-01-01..2025-12-31"}))
        outside = _data(await s.call_tool("search_memories", {
            "query": "quarterly report", "time_range": "2020-01-01..2020-12-31"}))
        answer = _data(await s.call_tool("ask", {"question": "When does the flight to "
                                                             "Lisbon leave?"}))
        profile = _data(await s.call_tool("get_profile", {}))
        recent = _data(await s.call_tool("list_recent", {"days": 3650}))
        errors = [
            await s.call_tool("search_memories", {"query": "  "}),
            await s.call_tool("search_memories", {"query": "x", "k": 500}),
            await s.call_tool("search_memories", {"query": "x", "time_range": "last tuesday"}),
            await s.call_tool("list_recent", {"days": 0}),
            await s.call_tool("ask", {"question": ""}),
            await s.call_tool("remember", {"text": "I like tea"}),
        ]
        return tools, found, ranged, outside, answer, profile, recent, errors

    tools, found, ranged, outside, answer, profile, recent, errors = session_run(data_home, run)
    assert tools == ["ask", "get_profile", "list_recent", "search_memories"]   # no remember
    top = found["results"][0]
    assert top["kind"] == "message" and "Lisbon" in top["text"]
    src = top["sources"][0]
    assert src["message_id"] in ("m1", "m2") and src["conversation"] == "Lisbon trip"
    assert src["speaker"] in ("Anna", "Sam") and src["timestamp"].startswith("2024-05-01")
    assert any("quarterly" in r["text"] for r in ranged["results"])
    assert not any("quarterly" in r["text"] for r in outside["results"])
    # the answer's citations resolve to real messages of the export
    assert answer["citations"], answer
    ids = {s.get("message_id") for c in answer["citations"] for s in c["sources"]}
    assert ids & {"m1", "m2"}
    assert {"m1", "m2", "m3", "w1", "w2"} >= ids - {None}
    assert profile["lines"] == [] or all(line["sources"] for line in profile["lines"])
    assert {c["conversation"] for c in recent["conversations"]} == {"Lisbon trip", "Work chat"}
    msgs = [_error_text(e) for e in errors]
    assert "query must not be empty" in msgs[0]
    assert "k must be between 1 and 50" in msgs[1]
    assert "time_range must be" in msgs[2]
    assert "days must be between" in msgs[3]
    assert "question must not be empty" in msgs[4]
    assert "remember" in msgs[5].lower()     # unknown tool while disabled


def test_remember_when_enabled_marks_the_client_and_never_outranks_own(tmp_path,
                                                                       real_embedder):
    from secondme.service import SecondMe

    home = tmp_path / "remember home"
    export = tmp_path / "export.json"
    export.write_text(json.dumps(EXPORT))
    with SecondMe(home, embedder=real_embedder) as sm:
        sm.import_paths([export], format="generic")
        sm.index_pending()
        sm.update_settings(mcp_allow_remember=True)

    async def run(s):
        tools = sorted(t.name for t in (await s.list_tools()).tools)
        added = _data(await s.call_tool("remember", {
            "text": "The flight to Lisbon leaves on the 12th of June from gate B"}))
        empty = await s.call_tool("remember", {"text": ""})
        return tools, added, empty

    # the desktop app is open on the same data dir (scheduler running) meanwhile
    app = SecondMe(home, embedder=real_embedder)
    app.catchup_delay_seconds = 3600
    app.pause_job("extract")           # keep the request visible instead of running it
    app.start_background()
    try:
        tools, added, empty = session_run(home, run, client_name="Test Assistant")
        # the MCP process asked the app to index the new memory
        assert {j.name: j for j in app.jobs_list()}["extract"].requested
    finally:
        app.close()
    assert "remember" in tools
    assert added["origin"] == "mcp:Test Assistant"
    assert "must not be empty" in _error_text(empty)
    with SecondMe(home, embedder=real_embedder) as sm:
        row = sm.store.conn.execute("select origin, text from notes where id = ?",
                                    [added["id"]]).fetchone()
        assert row[0] == "mcp:Test Assistant"
        conv = sm.store.conn.execute(
            "select c.format, c.title, m.speaker, m.is_me from note_sources s join messages m "
            "on m.id = s.message_id join conversations c on c.id = m.conversation_id where "
            "s.note_id = ?", [added["id"]]).fetchone()
        assert conv == ("mcp", "Added by Test Assistant (MCP)", "Test Assistant (via MCP)", 0)
        sm.index_pending()
        from secondme.integrations.mcp import demote_external

        results = demote_external(sm.store, sm.search("flight to Lisbon 12th of June", k=10))
        own = [i for i, r in enumerate(results) if r.kind == "message" and
               r.sources and r.sources[0].get("conversation") == "Lisbon trip"]
        ext = [i for i, r in enumerate(results) if (r.kind == "note" and r.id == added["id"])
               or (r.kind == "message" and r.speaker == "Test Assistant (via MCP)")]
        assert own and ext and max(own) < min(ext)


def test_a_damaged_store_is_a_clear_error_not_a_hang(tmp_path):
    home = tmp_path / "broken"
    home.mkdir()
    (home / "secondme.db").write_bytes(b"this is not a database, just bytes" * 200)

    async def run(s):
        tools = sorted(t.name for t in (await s.list_tools()).tools)
        return tools, await s.call_tool("search_memories", {"query": "anything"})

    tools, res = session_run(home, run)
    assert "search_memories" in tools
    msg = _error_text(res)
    assert "cannot open its data" in msg


def test_a_locked_encrypted_store_is_a_clear_error(tmp_path, fake_embedder, monkeypatch):
    from secondme.service import SecondMe

    home = tmp_path / "locked"
    with SecondMe(home, embedder=fake_embedder) as sm:
        sm.encrypt_store(passphrase="correct horse battery staple 42", scrypt_n=2 ** 12)
    monkeypatch.delenv("SECONDME_PASSPHRASE", raising=False)

    async def run(s):
        return await s.call_tool("get_profile", {})

    res = session_run(home, run)
    msg = _error_text(res)
    assert "passphrase" in msg and "SECONDME_PASSPHRASE" in msg


def test_client_config_snippet(tmp_path):
    from secondme.integrations.mcp import client_config_snippet

    data = json.loads(client_config_snippet(tmp_path))
    entry = data["mcpServers"]["secondme"]
    assert entry["args"][-1] == "mcp" and str(tmp_path.resolve()) in entry["args"]
    generic = json.loads(client_config_snippet(tmp_path, client="generic"))
    assert generic["transport"] == "stdio" and generic["command"]


def test_print_config_from_the_command_line(tmp_path):
    from click.testing import CliRunner

    from secondme.cli import main

    out = CliRunner().invoke(main, ["mcp", "--home", str(tmp_path), "--print-config",
                                    "claude-desktop"])
    assert out.exit_code == 0, out.output
    entry = json.loads(out.output)["mcpServers"]["secondme"]
    assert entry["args"] == ["--home", str(tmp_path.resolve()), "mcp"] or \
        entry["args"][-3:] == ["--home", str(tmp_path.resolve()), "mcp"]
