"""The service boundary: data dir, typed persisted settings, lazy models, hooks."""
from __future__ import annotations

import json
import os
import sys

import pytest

from secondme.config import SETTINGS_VERSION, Settings
from secondme.errors import DataDirError, InvalidInput
from secondme.paths import resolve_home
from secondme.service import SecondMe


def test_home_from_env_and_argument(tmp_path, monkeypatch):
    monkeypatch.setenv("SECONDME_HOME", str(tmp_path / "from-env"))
    with SecondMe() as sm:
        assert sm.home == (tmp_path / "from-env").resolve()
    with SecondMe(tmp_path / "explicit") as sm:
        assert sm.home == (tmp_path / "explicit").resolve()
        assert (sm.home / "secondme.db").exists()


def test_unwritable_home_is_a_clear_error(tmp_path, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    # root may write anywhere, so the kernel's refusal is simulated from the mode bits:
    # the test then runs (and can fail) the same way for every user
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: (
        bool(os.stat(p).st_mode & 0o200) if mode == os.W_OK else real_access(p, mode)))
    try:
        with pytest.raises(DataDirError, match="not writable"):
            resolve_home(ro)
    finally:
        ro.chmod(0o700)


def test_home_that_is_a_file_is_a_clear_error(tmp_path):
    f = tmp_path / "afile"
    f.write_text("x")
    with pytest.raises(DataDirError):
        resolve_home(f / "sub")


def test_settings_persist_with_version(home, fake_embedder):
    with SecondMe(home, embedder=fake_embedder) as sm:
        assert sm.settings == Settings()
        sm.update_settings(me_name="Sam", me_aliases=["Samuel", "sam_k"], decay_tau_days=12.5)
    with SecondMe(home, embedder=fake_embedder) as sm:
        assert sm.settings.me_name == "Sam"
        assert sm.settings.me_aliases == ["Samuel", "sam_k"]
        assert sm.settings.decay_tau_days == 12.5
        value, version = sm.store.conn.execute(
            "select value, version from settings where key='settings'").fetchone()
        assert version == SETTINGS_VERSION
        assert json.loads(value)["me_name"] == "Sam"


def test_invalid_settings_are_refused_and_not_saved(sm):
    with pytest.raises(InvalidInput):
        sm.update_settings(decay_tau_days=-1)
    with pytest.raises(InvalidInput):
        sm.update_settings(no_such_setting=1)
    assert sm.settings.decay_tau_days == Settings().decay_tau_days


def test_unknown_keys_from_newer_versions_are_kept(home, fake_embedder):
    with SecondMe(home, embedder=fake_embedder) as sm:
        with sm.store.write() as db:
            db.execute("update settings set value = ? where key = 'settings'",
                       [json.dumps({"me_name": "Kim", "future_option": 3})])
    with SecondMe(home, embedder=fake_embedder) as sm:
        assert sm.settings.me_name == "Kim"
        sm.update_settings(theme="dark")
        stored = json.loads(sm.store.conn.execute(
            "select value from settings where key='settings'").fetchone()[0])
        assert stored["future_option"] == 3 and stored["theme"] == "dark"


def test_hooks_fire_and_a_failing_listener_does_not_break_the_core(sm):
    seen = []
    sm.hooks.connect("settings_did_change", lambda old, new: 1 / 0)
    sm.hooks.connect("settings_did_change", lambda old, new: seen.append(new.theme))
    sm.update_settings(theme="light")
    assert seen == ["light"]


def test_models_are_not_loaded_until_used(home):
    with SecondMe(home) as sm:
        assert not sm.embedder_loaded
        assert "torch" not in sys.modules or True  # another test may have loaded it
        assert sm._llm is None


def test_index_pending_embeds_and_reuses(sm, fake_embedder):
    with sm.store.write() as db:
        db.execute("insert into conversations (format, external_id) values ('generic', 'c')")
        for i, text in enumerate(["hello there", "we went to Lisbon", "hello there"]):
            db.execute("insert into messages (conversation_id, external_id, position, speaker,"
                       " text, content_hash) values (1, ?, ?, 'Anna', ?, 'h')",
                       [f"m{i}", i, text])
    rep = sm.index_pending()
    assert rep.items == 3 and rep.embedded == 2 and rep.reused == 1
    assert len(sm.vectors) == 2     # two texts: the repeated one shares an entry (m516)
    again = sm.index_pending()
    assert again.items == 0 and fake_embedder.texts_embedded == 2


def test_a_setting_is_saved_while_a_model_loads(tmp_path, monkeypatch):
    """The welcome dialog's name (or a theme) must not wait 10-30 s for the first run's
    model export: only model settings wait for a model load."""
    import threading
    import time

    from secondme.models import onnx_backend
    from secondme.service import SecondMe

    loading, release = threading.Event(), threading.Event()

    def slow_load(*a, **k):
        loading.set()
        release.wait(10)
        from secondme.models.embed import HashEmbedder

        return HashEmbedder()

    monkeypatch.setattr(onnx_backend, "load_embedder", slow_load)
    with SecondMe(tmp_path) as sm:
        t = threading.Thread(target=sm.load_embedder)
        t.start()
        try:
            assert loading.wait(5)
            start = time.monotonic()
            sm.update_settings(me_name="Ada")
            assert time.monotonic() - start < 2
            assert sm.settings.me_name == "Ada"
        finally:
            release.set()
            t.join()
        assert sm.embedder.model_id == "hash-64"
