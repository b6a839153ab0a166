"""Nothing is lost when things go wrong: disk full, a read-only data dir, a corrupt
database (detected, restore from the latest backup offered and done), a corrupt vector
index (rebuilt), missing or malformed model files (clear errors)."""
from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures" / "privacy"))
from helpers import DRIVER, GARDEN, TRIPS, run_cli  # noqa: E402


def _can_unshare() -> bool:
    if shutil.which("unshare") is None:
        return False
    r = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "true"],
                       capture_output=True)
    return r.returncode == 0


UNSHARE = pytest.mark.skipif(not _can_unshare(),
                             reason="user+mount namespaces are not permitted here (needed "
                                    "for a real tiny tmpfs / read-only bind mount)")


def _big_fixture(path: Path, n: int = 3000) -> None:
    msgs = [{"id": f"m{i}", "speaker": "Ava", "timestamp": "2024-01-01T10:00:00+00:00",
             "text": f"Message number {i} about the lighthouse keeper's {i * 7} lanterns "
                     + "and a long tail of words " * 8} for i in range(n)]
    path.write_text(json.dumps({"conversations": [{"id": "c", "title": "Big",
                                                   "participants": ["Ava"],
                                                   "messages": msgs}]}))


def _in_namespace(script: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
                           script], capture_output=True, text=True, timeout=timeout)


INTEGRITY = ('import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); '
             'print("integrity", c.execute("pragma integrity_check").fetchone()[0]); '
             'print("messages", c.execute("select count(*) from messages").fetchone()[0])')


@UNSHARE
def test_disk_full_fails_cleanly_on_a_tiny_filesystem(tmp_path):
    big = tmp_path / "big.json"
    _big_fixture(big)
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    py, drv = sys.executable, DRIVER
    home = mnt / "home"
    script = f'''
        mount -t tmpfs -o size=1200k tmpfs "{mnt}" || exit 99
        "{py}" "{drv}" --home "{home}" import "{TRIPS}" || exit 98
        "{py}" "{drv}" --home "{home}" import "{big}"; echo "rc=$?"
        "{py}" -c '{INTEGRITY}' "{home}/secondme.db"
        "{py}" "{drv}" --home "{home}" search zanzibarquux --json | head -c 300
    '''
    r = _in_namespace(script)
    assert "rc=" in r.stdout, r.stdout + r.stderr
    rc = int(r.stdout.split("rc=")[1].split()[0])
    assert rc not in (0, 70), r.stderr  # failed, and not as an internal error
    assert "disk is full" in r.stderr and "Traceback" not in r.stderr
    assert "integrity ok" in r.stdout
    assert "zanzibarquux" in r.stdout  # what was there before is intact and searchable


def test_disk_full_is_a_clear_error_in_the_service(sm):
    """The same, simulated with SQLite's page limit (runs everywhere)."""
    from secondme.errors import DataDirError, SecondMeError

    sm.import_paths([TRIPS])
    pages = sm.store.conn.execute("pragma page_count").fetchone()[0]
    sm.store.conn.execute(f"pragma max_page_count = {pages + 1}")
    with pytest.raises(SecondMeError, match="disk is full") as info:
        with sm.store.write() as db:
            db.execute("insert into sources (kind, path, imported_at) values "
                       "('x', ?, 'now')", ["y" * 200_000])
    assert isinstance(info.value, DataDirError)
    assert sm.store.integrity_check() == "ok"
    assert sm.store.counts()["messages"] == 4


@UNSHARE
def test_read_only_data_dir_fails_cleanly(tmp_path):
    home = tmp_path / "home"
    assert run_cli(home, "import", str(TRIPS)).returncode == 0
    py, drv = sys.executable, DRIVER
    script = f'''
        mount --bind "{home}" "{home}" && mount -o remount,ro,bind "{home}" || exit 99
        "{py}" "{drv}" --home "{home}" import "{GARDEN}"; echo "import-rc=$?"
        "{py}" "{drv}" --home "{home}" jobs run extract; echo "extract-rc=$?"
    '''
    r = _in_namespace(script)
    assert "import-rc=" in r.stdout, r.stdout + r.stderr
    for step in ("import", "extract"):
        rc = int(r.stdout.split(f"{step}-rc=")[1].split()[0])
        assert rc not in (0, 70), (step, r.stderr)
    assert "Traceback" not in r.stderr and "Internal error" not in r.stderr
    assert "read-only" in r.stderr or "not writable" in r.stderr
    conn = sqlite3.connect(home / "secondme.db")
    assert conn.execute("select count(*) from messages").fetchone()[0] == 4


def _corrupt(path: Path, offset: int, length: int = 4096 * 3) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(b"\xde\xad\xbe\xef" * (length // 4))


@pytest.mark.parametrize("where", ["header", "inside"])
def test_corrupt_database_is_detected_and_restored_from_the_latest_backup(tmp_path, where):
    home = tmp_path / "home"
    assert run_cli(home, "import", str(TRIPS)).returncode == 0
    assert run_cli(home, "jobs", "run", "backup").returncode == 0
    assert run_cli(home, "import", str(GARDEN)).returncode == 0  # after the backup
    db = home / "secondme.db"
    conn = sqlite3.connect(db)
    conn.execute("pragma wal_checkpoint(TRUNCATE)")
    conn.close()
    size = db.stat().st_size
    _corrupt(db, 0 if where == "header" else size // 3)

    from secondme.store.recovery import check_startup

    chk = check_startup(home)  # what the desktop app calls before opening
    assert chk.state == "damaged" and chk.latest_backup
    assert "secondme recover" in chk.message and chk.latest_backup in chk.message
    if where == "header":
        r = run_cli(home, "search", "zanzibarquux")
        assert r.returncode == 1 and "secondme recover" in r.stderr
        assert "Traceback" not in r.stderr
    r = run_cli(home, "recover")  # asks first
    assert r.returncode != 0 and db.read_bytes()[:4] != b"SQLi" or where == "inside"
    r = run_cli(home, "recover", "--yes")
    assert r.returncode == 0, r.stderr
    assert "Restored secondme-" in r.stdout
    assert list(home.glob("secondme.db.damaged-*"))  # the damaged file is kept
    assert check_startup(home).state == "ok"
    out = run_cli(home, "search", "zanzibarquux", "--json")
    assert out.returncode == 0 and "Mirabel" in out.stdout
    sources = json.loads(run_cli(home, "sources", "list", "--json").stdout)
    assert [Path(s["path"]).name for s in sources] == ["trips.json"]  # as of the backup
    assert run_cli(home, "recover").stdout.startswith("The store is healthy")


def test_corrupt_encrypted_database_is_recovered_too(tmp_path, monkeypatch, fake_embedder):
    from secondme.errors import StoreError
    from secondme.service import SecondMe
    from secondme.store import crypto
    from secondme.store.recovery import check_startup, recover_latest

    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.setenv("SECONDME_PASSPHRASE", "crash passphrase")
    crypto.init_store(tmp_path, encrypt=True, passphrase="crash passphrase", scrypt_n=2 ** 12)
    with SecondMe(tmp_path, embedder=fake_embedder) as sm:
        sm.import_paths([TRIPS])
        sm.backup_now()
        sm.store.conn.execute("pragma wal_checkpoint(TRUNCATE)")
    _corrupt(tmp_path / "secondme.db", 4096)
    with pytest.raises(StoreError, match="recover"):
        SecondMe(tmp_path, embedder=fake_embedder)
    assert check_startup(tmp_path).state == "damaged"
    rep = recover_latest(tmp_path)
    assert rep["damaged_copy"]
    with SecondMe(tmp_path, embedder=fake_embedder) as sm:
        assert sm.store.counts()["messages"] == 4 and sm.store.encrypted


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
def test_corrupt_or_deleted_index_is_rebuilt(tmp_path, monkeypatch, fake_embedder, encrypted):
    from secondme.service import SecondMe
    from secondme.store import crypto

    if encrypted:
        monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
        monkeypatch.setenv("SECONDME_PASSPHRASE", "index passphrase")
        crypto.init_store(tmp_path, encrypt=True, passphrase="index passphrase",
                          scrypt_n=2 ** 12)
    with SecondMe(tmp_path, embedder=fake_embedder) as sm:
        sm.import_paths([TRIPS, GARDEN])
        sm.index_pending()
        n = len(sm.vectors)
    index = tmp_path / "vectors" / "index.bin"
    _corrupt(index, 64, 256)
    with SecondMe(tmp_path, embedder=fake_embedder) as sm:
        assert [r for r in sm.search("moonberrytrellis") if "moonberrytrellis" in r.text]
        assert sm.vectors.status.startswith("rebuilt") and len(sm.vectors) == n
    index.unlink()
    with SecondMe(tmp_path, embedder=fake_embedder) as sm:
        assert sm.vectors.status == "rebuilt: missing" and len(sm.vectors) == n
    with SecondMe(tmp_path, embedder=fake_embedder) as sm:
        assert sm.vectors.status == "loaded"


def test_missing_or_malformed_models_give_clear_errors(sm, tmp_path):
    from secondme.errors import ModelError

    sm.import_paths([TRIPS])
    sm.index_pending()
    missing = tmp_path / "gone.gguf"
    sm.update_settings(llm_source="gguf", llm_path=str(missing))
    with pytest.raises(ModelError, match="does not exist"):
        sm.ask("What is Mirabel's favourite dish?")
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\x00not a model" * 64)
    sm.update_settings(llm_path=str(bad))
    with pytest.raises(ModelError, match="damaged|could not load"):
        sm.ask("What is Mirabel's favourite dish?")
    # search does not need the LLM at all
    assert sm.search("zanzibarquux")


def test_missing_embedding_model_degrades_to_keyword_search_and_doctor_says_why(home):
    from secondme.service import SecondMe

    with SecondMe(home) as sm:
        sm.update_settings(embedding_model=str(home / "no-such-model"))
        sm.import_paths([TRIPS])
        hits = sm.search("zanzibarquux")
        assert hits and "zanzibarquux" in hits[0].text
        rep = sm.doctor()
        assert not rep["ok"]
        assert any("embedding model" in p for p in rep["problems"])
