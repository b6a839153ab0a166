"""Shared fixtures: every test gets its own data directory; models are fakes unless a
test is marked ``slow`` and asks for the real ones."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """No test ever touches the real user data dir."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("SECONDME_HOME", str(home))
    yield


@pytest.fixture
def home(tmp_path) -> Path:
    d = tmp_path / "data dir with spaces"
    d.mkdir()
    return d


@pytest.fixture
def fake_embedder():
    from secondme.models.embed import HashEmbedder

    return HashEmbedder()


@pytest.fixture
def sm(home, fake_embedder):
    """A SecondMe on a temp data dir with a deterministic fake embedder."""
    from secondme.service import SecondMe

    service = SecondMe(home, embedder=fake_embedder)
    yield service
    service.close()


@pytest.fixture(scope="session")
def real_embedder():
    """The real all-MiniLM-L6-v2 (loaded once per test session)."""
    from secondme.models.embed import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder()
