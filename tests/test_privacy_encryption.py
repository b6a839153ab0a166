"""Encryption at rest: SQLCipher store, key from passphrase or keyring, key change, and
no memory text or embedding in the clear anywhere under the data directory."""
from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures" / "privacy"))
from helpers import GARDEN, SECRETS, TRIPS, files_containing, files_under, run_chain, run_cli  # noqa: E402

NO_KEYRING = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
PASS = {**NO_KEYRING, "SECONDME_PASSPHRASE": "correct horse battery"}
JOBS = ("decay", "consolidate", "upkeep", "backup")


def _ok(r):
    assert r.returncode == 0, f"exit {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}"
    assert "Traceback" not in r.stderr
    return r


def _full_flow(home: Path, env: dict) -> None:
    """Import, form notes, search, ask, every job and export through the real CLI (one
    process, each command opening and closing the store as usual)."""
    r = _ok(run_chain(home, [("import", str(TRIPS), str(GARDEN)), ("jobs", "run", "extract"),
                             ("search", "zanzibarquux", "--json"),
                             ("ask", "What is Mirabel's favourite dish?"),
                             *[("jobs", "run", job) for job in JOBS],
                             ("export", str(home.parent / f"{home.name}-export"))], env=env))
    assert "zanzibarquux" in r.stdout  # the data is really there, just not readable on disk


def _embedding_needles() -> list[bytes]:
    """The float32 bytes of embeddings that the flow stores (HashEmbedder is deterministic)."""
    from secondme.indexing import message_text
    from secondme.models.embed import HashEmbedder

    emb = HashEmbedder()
    texts = [message_text("Mirabel Quonk", "My favourite dish is zanzibarquux stew with saffron."),
             message_text("Theo", "I planted twelve moonberrytrellis shrubs in the back garden.")]
    return [np.asarray(v, dtype="<f4").tobytes() for v in emb.embed(texts)]


def test_encrypted_store_has_no_plaintext_anywhere(tmp_path):
    enc = tmp_path / "enc"
    plain = tmp_path / "plain"
    r = _ok(run_cli(enc, "init", "--encrypt", env=PASS))
    assert "encrypted" in r.stdout
    marker = json.loads((enc / "encryption.json").read_text())
    assert marker["method"] == "passphrase" and marker["kdf"]["name"] == "scrypt"
    assert "correct horse" not in (enc / "encryption.json").read_text()
    _full_flow(enc, PASS)
    _ok(run_cli(plain, "init", env=NO_KEYRING))
    _full_flow(plain, NO_KEYRING)

    needles = [s.encode() for s in SECRETS] + _embedding_needles()
    # the control proves the scanner finds text and vectors where they are in the clear
    control = files_containing(plain, needles)
    assert "secondme.db" in control or "secondme.db-wal" in control
    assert any(f.startswith("backups/") for f in control)
    assert any("<256 bytes>" in hits for hits in control.values())

    names = {str(p.relative_to(enc)) for p in files_under(enc)}
    assert "vectors/index.bin" in names and any(n.startswith("backups/") for n in names)
    assert files_containing(enc, needles) == {}
    # the index file is sealed (AES-GCM), the database is not a plain SQLite file
    assert (enc / "vectors" / "index.bin").read_bytes().startswith(b"SMENC1")
    assert not (enc / "secondme.db").read_bytes().startswith(b"SQLite format 3")
    with pytest.raises(sqlite3.DatabaseError):
        sqlite3.connect(enc / "secondme.db").execute("select * from sqlite_master").fetchall()


def _snapshot(home: Path) -> dict[str, bytes]:
    return {str(p.relative_to(home)): p.read_bytes() for p in files_under(home)}


def test_wrong_or_missing_key_is_a_clear_error_and_changes_nothing(tmp_path):
    home = tmp_path / "enc"
    _ok(run_cli(home, "init", "--encrypt", env=PASS))
    _ok(run_cli(home, "import", str(TRIPS), env=PASS))
    before = _snapshot(home)
    wrong = run_cli(home, "search", "zanzibarquux", env={**NO_KEYRING,
                                                         "SECONDME_PASSPHRASE": "not the one"})
    assert wrong.returncode == 1
    assert "wrong passphrase" in wrong.stderr and "Traceback" not in wrong.stderr
    missing = run_cli(home, "search", "zanzibarquux", env={**NO_KEYRING,
                                                           "SECONDME_PASSPHRASE": ""})
    assert missing.returncode == 1
    assert "SECONDME_PASSPHRASE" in missing.stderr and "Traceback" not in missing.stderr
    assert _snapshot(home) == before  # nothing created, nothing overwritten

    # the database gone but the marker there: refuse, never create an empty store
    (home / "secondme.db").rename(tmp_path / "moved.db")
    r = run_cli(home, "search", "x", env=PASS)
    assert r.returncode == 1 and "missing" in r.stderr and "Traceback" not in r.stderr
    assert not (home / "secondme.db").exists()
    (tmp_path / "moved.db").rename(home / "secondme.db")

    # the marker gone: the encrypted file is not mistaken for a new store
    (home / "encryption.json").rename(tmp_path / "marker.json")
    r = run_cli(home, "search", "x", env=PASS)
    assert r.returncode == 1 and "marker" in r.stderr and "Traceback" not in r.stderr
    (tmp_path / "marker.json").rename(home / "encryption.json")
    assert _snapshot(home) == before
    assert "zanzibarquux" in _ok(run_cli(home, "search", "zanzibarquux", "--json",
                                         env=PASS)).stdout


def test_service_refuses_before_touching_the_database(tmp_path, monkeypatch):
    from secondme.errors import EncryptionError
    from secondme.service import SecondMe
    from secondme.store import crypto
    from secondme.store import db as dbmod

    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.delenv("SECONDME_PASSPHRASE", raising=False)
    crypto.init_store(tmp_path, encrypt=True, passphrase="a long passphrase", scrypt_n=2 ** 12)
    opened = []
    monkeypatch.setattr(dbmod.Store, "open", classmethod(lambda cls, *a, **k: opened.append(a)))
    with pytest.raises(EncryptionError, match="passphrase"):
        SecondMe(tmp_path, passphrase="the wrong one!")
    with pytest.raises(EncryptionError):
        SecondMe(tmp_path)
    assert opened == []


def test_key_change_reencrypts_database_backups_and_index(tmp_path, monkeypatch, fake_embedder):
    from secondme.errors import EncryptionError
    from secondme.service import SecondMe
    from secondme.store import crypto

    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.delenv("SECONDME_PASSPHRASE", raising=False)
    crypto.init_store(tmp_path, encrypt=True, passphrase="old passphrase", scrypt_n=2 ** 12)
    with SecondMe(tmp_path, passphrase="old passphrase", embedder=fake_embedder) as sm:
        sm.import_paths([TRIPS])
        sm.index_pending()
        sm.backup_now()
        n_items = len(sm.vectors)
        rep = sm.change_key(passphrase="new passphrase", scrypt_n=2 ** 12)
        assert "secondme.db" in rep["files"] and "vectors" in rep["files"]
        assert any(f.startswith("backups/") for f in rep["files"])
        assert sm.search("zanzibarquux")  # the open service keeps working
    with pytest.raises(EncryptionError, match="wrong passphrase"):
        SecondMe(tmp_path, passphrase="old passphrase", embedder=fake_embedder)
    with SecondMe(tmp_path, passphrase="new passphrase", embedder=fake_embedder) as sm:
        assert sm.store.counts()["messages"] == 4
        assert sm.vectors.status == "loaded" and len(sm.vectors) == n_items
        backup = sm.backups_list()[0].path
        conn = sm.store.connect_file(backup)  # backups carry the new key too
        assert conn.execute("select count(*) from messages").fetchone()[0] == 4
        conn.close()
    assert json.loads((tmp_path / "encryption.json").read_text())["pending"] is None


def test_interrupted_key_change_is_finished_on_next_open(tmp_path, monkeypatch, fake_embedder):
    """A crash after PRAGMA rekey but before the marker was updated loses nothing."""
    from secondme.service import SecondMe
    from secondme.store import crypto

    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.delenv("SECONDME_PASSPHRASE", raising=False)
    crypto.init_store(tmp_path, encrypt=True, passphrase="old passphrase", scrypt_n=2 ** 12)
    with SecondMe(tmp_path, passphrase="old passphrase", embedder=fake_embedder) as sm:
        sm.import_paths([TRIPS])
    marker = crypto.EncryptionMarker.read(tmp_path)
    old = crypto.unlock(tmp_path, "old passphrase")
    new, pending = crypto.plan_new_key(tmp_path, marker, passphrase="new passphrase",
                                       use_keyring=None, scrypt_n=2 ** 12)
    conn = old(str(tmp_path / "secondme.db"))
    old.rekey(conn, new)
    conn.close()  # ... and the process dies here
    with SecondMe(tmp_path, passphrase="new passphrase", embedder=fake_embedder) as sm:
        assert sm.store.counts()["messages"] == 4
    m = crypto.EncryptionMarker.read(tmp_path)
    assert m.pending is None and m.key_check == pending["key_check"]


def test_encrypt_an_existing_plain_store(tmp_path, monkeypatch, fake_embedder):
    from secondme.service import SecondMe

    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.delenv("SECONDME_PASSPHRASE", raising=False)
    with SecondMe(tmp_path, embedder=fake_embedder) as sm:
        sm.import_paths([TRIPS, GARDEN])
        sm.run_extract()
        sm.backup_now()
        before = sm.store.counts()
        assert files_containing(tmp_path, [b"zanzibarquux"])
        rep = sm.encrypt_store(passphrase="a fine passphrase", scrypt_n=2 ** 12)
        assert rep["method"] == "passphrase" and "vectors" in rep["files"]
        assert sm.store.counts() == before
        assert [r.text for r in sm.search("zanzibarquux")]
    assert files_containing(tmp_path, [s.encode() for s in SECRETS]) == {}
    with SecondMe(tmp_path, passphrase="a fine passphrase", embedder=fake_embedder) as sm:
        assert sm.store.counts() == before
        assert sm.vectors.status == "loaded"
        assert sm.encryption_status()["encrypted"] is True


def test_passphrase_too_short_and_no_keyring_without_passphrase(tmp_path):
    r = run_cli(tmp_path / "a", "init", "--encrypt",
                env={**NO_KEYRING, "SECONDME_PASSPHRASE": "short"})
    assert r.returncode == 2 and "at least 8" in r.stderr
    assert not (tmp_path / "a" / "encryption.json").exists()
    r = run_cli(tmp_path / "b", "init", "--encrypt", env={**NO_KEYRING, "SECONDME_PASSPHRASE": ""})
    assert r.returncode != 0 and "SECONDME_PASSPHRASE" in (r.stderr + r.stdout)
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "b" / "secondme.db").exists()


def test_connector_and_cipher_never_show_the_key():
    from secondme.store.crypto import FileCipher, SQLCipherConnector

    key = bytes(range(32))
    c = SQLCipherConnector(key)
    assert key.hex() not in repr(c) and key.hex() not in repr(c.file_cipher)
    assert "hidden" in repr(FileCipher(key))


def test_key_change_while_background_jobs_run(tmp_path, monkeypatch, fake_embedder):
    """The Settings pane changes the key while the app's scheduler is running."""
    from secondme.service import SecondMe
    from secondme.store import crypto

    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.delenv("SECONDME_PASSPHRASE", raising=False)
    crypto.init_store(tmp_path, encrypt=True, passphrase="old passphrase", scrypt_n=2 ** 12)
    with SecondMe(tmp_path, passphrase="old passphrase", embedder=fake_embedder) as sm:
        sm.import_paths([TRIPS])
        sm.start_background()
        assert sm.background_running
        sm.change_key(passphrase="new passphrase", scrypt_n=2 ** 12)
        assert sm.background_running  # restarted on the re-keyed store
        assert sm.run_job("backup")["backup"]
        sm.stop_background()
    with SecondMe(tmp_path, passphrase="new passphrase", embedder=fake_embedder) as sm:
        assert sm.store.counts()["messages"] == 4
        conn = sm.store.connect_file(sm.backups_list()[0].path)
        assert conn.execute("select count(*) from messages").fetchone()[0] == 4
        conn.close()
