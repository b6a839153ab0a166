"""Nothing is lost: ``kill -9`` at random points of import, memory formation and
consolidation (≥ 20 trials), on a plain and on an encrypted store."""
from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures" / "privacy"))
from helpers import DRIVER  # noqa: E402

CONVERSATIONS, PER_CONVERSATION = 4, 20
TRIALS_PER_STORE = 10           # two stores: 20 kills
STEPS = (("import", "{fixture}"), ("jobs", "run", "extract"), ("jobs", "run", "consolidate"))
PASSPHRASE = "crash test passphrase"


def _fixture(path: Path, batch: int) -> int:
    """A chat export whose conversations and message ids are unique to ``batch``."""
    cities = ["Lisbon", "Oslo", "Kyoto", "Quito", "Hanoi", "Dakar", "Lima", "Perth"]
    convs = []
    for c in range(CONVERSATIONS):
        msgs = []
        for i in range(PER_CONVERSATION):
            text = [f"I moved to {cities[(c + i + batch) % 8]} and I love harbour {batch}-{c}-{i}.",
                    f"I work at Company{batch}x{c}x{i} as an engineer.",
                    f"Did you see the game {batch}-{c}-{i}?",
                    f"My favourite book is Volume{batch}y{c}y{i}."][i % 4]
            msgs.append({"id": f"b{batch}c{c}m{i}", "speaker": ["Ava", "Sam"][i % 2],
                         "timestamp": f"2024-{1 + batch % 12:02d}-{1 + c:02d}T10:{i:02d}:00+00:00",
                         "text": text})
        convs.append({"id": f"batch{batch}-conv{c}", "title": f"Chat {batch}.{c}",
                      "participants": ["Ava", "Sam"], "messages": msgs})
    path.write_text(json.dumps({"conversations": convs}))
    return CONVERSATIONS * PER_CONVERSATION


def _chain(home: Path, fixtures: list[Path]) -> list[str]:
    """One process running import (of ``fixtures``), extract and consolidate via the CLI."""
    steps = [["--home", str(home), "import", *map(str, fixtures)],
             ["--home", str(home), "jobs", "run", "extract"],
             ["--home", str(home), "jobs", "run", "consolidate"]]
    return [sys.executable, str(DRIVER), "--chain", json.dumps(steps)]


def _connect(home: Path, encrypted: bool) -> sqlite3.Connection:
    if encrypted:
        from secondme.store.crypto import unlock

        return unlock(home, PASSPHRASE)(str(home / "secondme.db"))
    return sqlite3.connect(home / "secondme.db")


def _check_invariants(home: Path, encrypted: bool, expected: int) -> dict:
    conn = _connect(home, encrypted)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        if not conn.execute("select 1 from sqlite_master where name = 'messages'").fetchone():
            return {"messages": 0, "notes": 0}  # killed before the first migration committed
        n = conn.execute("select count(*) from messages").fetchone()[0]
        distinct = conn.execute("select count(*) from (select distinct c.external_id, "
                                "m.external_id from messages m join conversations c "
                                "on c.id = m.conversation_id)").fetchone()[0]
        assert n == distinct <= expected  # no duplicates, never more than the export has
        unsourced = conn.execute("select count(*) from notes n where not exists "
                                 "(select 1 from note_sources s where s.note_id = n.id)"
                                 ).fetchone()[0]
        assert unsourced == 0
        notes = conn.execute("select count(*) from notes").fetchone()[0]
        return {"messages": n, "notes": notes}
    finally:
        conn.close()


def _chain_seconds(d: Path, encrypted: bool, env: dict) -> float:
    """How long one uninterrupted chain (start-up, import, formation, consolidation) takes
    on this machine right now, on a store of the same kind (an encrypted store spends its
    first seconds deriving the key and opening SQLCipher); kill delays are drawn from
    [0.2 s, this] so they land in every phase however loaded the machine is."""
    fixture = d / "calibrate.json"
    _fixture(fixture, 0)
    home = d / "calibrate-home"
    if encrypted:
        from secondme.store import crypto

        crypto.init_store(home, encrypt=True, passphrase=PASSPHRASE, scrypt_n=2 ** 12)
    t = time.monotonic()
    r = subprocess.run(_chain(home, [fixture]), env=env, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    return time.monotonic() - t


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
def test_kill_9_at_random_points_loses_nothing(tmp_path, encrypted):
    """Each trial imports a new export and forms memories from it in one CLI process that
    is SIGKILLed after a random delay; the store must stay sound after every kill, and a
    final run must finish with every message exactly once."""
    home = tmp_path / "home"
    env = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    if encrypted:
        from secondme.store import crypto

        env["SECONDME_PASSPHRASE"] = PASSPHRASE
        crypto.init_store(home, encrypt=True, passphrase=PASSPHRASE, scrypt_n=2 ** 12)
    chain_seconds = _chain_seconds(tmp_path, encrypted, env)
    rng = random.Random(1234 + encrypted)
    fixtures, started, states = [], 0, []
    for trial in range(TRIALS_PER_STORE):
        fixture = tmp_path / f"export-{trial}.json"
        started += _fixture(fixture, trial + 1)
        fixtures.append(fixture)
        p = subprocess.Popen(_chain(home, [fixture]), env=env, start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.2, chain_seconds))
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        if (home / "secondme.db").exists():
            states.append(_check_invariants(home, encrypted, started))
    assert len(states) >= TRIALS_PER_STORE // 2
    # the kills interrupted the work at different points
    assert len({(s["messages"], s["notes"]) for s in states}) >= 3, states
    # a re-run of everything finishes, with every message exactly once
    r = subprocess.run(_chain(home, fixtures), env=env, capture_output=True, text=True,
                       timeout=900)
    assert r.returncode == 0, r.stderr
    final = _check_invariants(home, encrypted, started)
    assert final["messages"] == started and final["notes"] > 0
    r = subprocess.run([sys.executable, str(DRIVER), "--home", str(home), "import",
                        *map(str, fixtures), "--json"], env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert sum(s["messages_added"] for s in json.loads(r.stdout)["sources"]) == 0
