"""SetupOps: what the app's setup screens reach through the service (issue 12)."""
from __future__ import annotations

import json
from datetime import date, datetime


def test_recommended_models_are_the_download_catalogue(sm):
    from secondme.models.download import CATALOGUE

    offered = sm.recommended_models()
    assert [m.name for m in offered] == [e.name for e in CATALOGUE]
    assert all(m.size_mb > 0 and m.description for m in offered)


def test_describe_model_of_a_missing_gguf(sm):
    sm.update_settings(llm_source="gguf", llm_path=str(sm.home / "nothing.gguf"))
    status = sm.describe_model()
    assert status.source == "gguf" and status.name == "nothing.gguf"
    assert status.found is False and status.error


def test_endpoint_key_goes_to_the_keyring_only(sm, monkeypatch):
    from secondme import secrets

    stored = {}
    monkeypatch.setattr(secrets, "set_secret", lambda home, name, v: stored.update({name: v}))
    monkeypatch.setattr(secrets, "get_secret", lambda home, name: stored.get(name))
    assert sm.endpoint_key_stored() is False
    sm.store_endpoint_key("sk-secret-123")
    assert stored == {"llm_api_key": "sk-secret-123"}
    assert sm.endpoint_key_stored() is True
    assert "sk-secret" not in sm.settings.to_json()


def test_mcp_snippet_is_the_mcp_servers(sm):
    """The service's copy must say exactly what the MCP module says."""
    from secondme.integrations.mcp import client_config_snippet

    for client in ("claude-desktop", "generic"):
        assert sm.mcp_client_snippet(client) == client_config_snippet(sm.home, client=client)
    block = json.loads(sm.mcp_client_snippet())["mcpServers"]["secondme"]
    assert block["args"][-1] == "mcp" and str(sm.home) in block["args"]


def test_with_fake_models_opens_on_the_hash_embedder(home):
    from secondme.models.embed import HashEmbedder
    from secondme.service import SecondMe

    with SecondMe.with_fake_models(home) as sm:
        assert isinstance(sm.embedder, HashEmbedder)


def test_bucket_range(sm):
    assert sm.bucket_range(date(2024, 2, 1), "month") == (datetime(2024, 2, 1),
                                                          datetime(2024, 3, 1))
    assert sm.bucket_range(date(2024, 5, 6), "week")[1] == datetime(2024, 5, 13)
    assert sm.bucket_range(date(2024, 5, 6), "day")[1] == datetime(2024, 5, 7)
