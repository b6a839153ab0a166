"""`secondme model list|download|use|endpoint`."""
from __future__ import annotations

import json

from click.testing import CliRunner

from secondme.cli import main


def run(home, *args, input=None):
    return CliRunner().invoke(main, ["--home", str(home), *args], input=input)


def settings_of(home):
    from secondme.models.embed import HashEmbedder
    from secondme.service import SecondMe

    with SecondMe(home, embedder=HashEmbedder()) as sm:
        return sm.settings


def test_list_json_shows_the_embedded_default_and_the_catalogue(home):
    r = run(home, "model", "list", "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["configured"]["source"] == "default" and data["configured"]["found"]
    assert data["configured"]["capable"] is False
    assert len(data["recommended"]) >= 2 and data["recommended"][0]["url"].startswith("https")


def test_use_a_gguf_file_then_back_to_default(home, tmp_path):
    good = tmp_path / "mine.gguf"
    good.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\0" * 64)
    r = run(home, "model", "use", str(good))
    assert r.exit_code == 0, r.output
    s = settings_of(home)
    assert s.llm_source == "gguf" and s.llm_path == str(good.resolve())
    assert json.loads(run(home, "model", "list", "--json").output)["configured"]["capable"]
    assert run(home, "model", "use", "default").exit_code == 0
    assert settings_of(home).llm_source == "default"


def test_use_a_bad_file_is_a_one_line_error_and_changes_nothing(home, tmp_path):
    bad = tmp_path / "page.gguf"
    bad.write_text("<html>nope</html>")
    r = run(home, "model", "use", str(bad))
    assert r.exit_code == 1
    assert "not a GGUF" in r.output and str(bad) in r.output and "Traceback" not in r.output
    assert settings_of(home).llm_source == "default"


def test_endpoint_stores_the_key_in_the_keyring_not_in_settings(home, monkeypatch):
    from secondme import secrets

    stored = {}
    monkeypatch.setattr(secrets, "set_secret", lambda h, n, v: stored.update({n: v}))
    r = run(home, "model", "endpoint", "http://localhost:11434/v1", "--model", "qwen2.5",
            "--api-key-stdin", input="sk-secret-123\n")
    assert r.exit_code == 0, r.output
    assert stored == {"llm_api_key": "sk-secret-123"}
    s = settings_of(home)
    assert s.llm_source == "openai" and s.llm_endpoint_model == "qwen2.5"
    assert "sk-secret" not in s.to_json() and "sk-secret" not in r.output


def test_endpoint_with_a_bad_url(home):
    r = run(home, "model", "endpoint", "localhost:11434", "--model", "m")
    assert r.exit_code == 1 and "http" in r.output


def test_download_a_url_and_use_it(home):
    from test_models_download import PAYLOAD, SHA, FileServer

    server = FileServer()
    try:
        r = run(home, "model", "download", server.url("tiny.gguf"), "--sha256", SHA, "--use")
    finally:
        server.close()
    assert r.exit_code == 0, r.output
    path = home / "models" / "tiny.gguf"
    assert path.read_bytes() == PAYLOAD
    assert settings_of(home).llm_path == str(path.resolve())


def test_download_an_unknown_name(home):
    r = run(home, "model", "download", "no-such-model")
    assert r.exit_code == 1 and "choose one of" in r.output
