"""Nothing lost: ``key change`` killed at any moment leaves exactly one key that opens
the store, a message that says which, and ``recover`` that never replaces a database
that opens.

The person's way: ``secondme key change --passphrase`` in a real terminal (a pty), the
current passphrase and the new one typed at the prompts, the process SIGKILLed a random
time after the new passphrase is confirmed. Then both passphrases are tried through the
CLI: one opens the store with every message, note and backup; the other is refused
with one line naming the passphrase to use. The random kills are completed by kills at
every step boundary of the change (after the new key is recorded, after each backup, after
the database took the new key, while the staged files are swapped in, before and after
the marker is finished), made by a driver that SIGKILLs its own process there.
"""
from __future__ import annotations

import json
import os
import pty
import random
import select
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures" / "privacy"))
from helpers import DRIVER, GARDEN, TRIPS, run_chain  # noqa: E402

ENV = {**os.environ, "PYTHONUNBUFFERED": "1",
       "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
ENV.pop("SECONDME_PASSPHRASE", None)
ENV.pop("SECONDME_NEW_PASSPHRASE", None)
FIRST = "first passphrase 0"
RANDOM_KILLS = 11

KILLER = r'''
import os, signal, sys
sys.argv = [sys.argv[0], *sys.argv[3:]]
target, after = os.environ["KILL_AT"].rsplit(":", 1)
after = int(after)
mod_name, attr = target.rsplit(".", 1)
import importlib
owner = importlib.import_module(mod_name.rsplit(":", 1)[0])
if ":" in mod_name:
    owner = getattr(owner, mod_name.rsplit(":", 1)[1])
original = getattr(owner, attr)
calls = [0]
def wrapper(*a, **kw):
    out = original(*a, **kw)
    calls[0] += 1
    if calls[0] == after:
        os.kill(os.getpid(), signal.SIGKILL)
    return out
setattr(owner, attr, wrapper)
exec(compile(open(os.environ["DRIVER"]).read(), os.environ["DRIVER"], "exec"),
     {"__name__": "__main__", "__file__": os.environ["DRIVER"]})
'''


def cli(home: Path, *args: str, passphrase: str | None = None, env: dict | None = None,
        timeout: float = 300) -> subprocess.CompletedProcess:
    e = {**ENV, **(env or {})}
    if passphrase is not None:
        e["SECONDME_PASSPHRASE"] = passphrase
    return subprocess.run([sys.executable, str(DRIVER), "--home", str(home), *args],
                          capture_output=True, text=True, env=e, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def _read_until(fd: int, needle: bytes, buf: bytearray, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while needle not in buf:
        left = end - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no {needle!r} on the terminal; got {bytes(buf)!r}")
        r, _, _ = select.select([fd], [], [], left)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                chunk = b""
            if not chunk:
                raise AssertionError(f"the terminal closed before {needle!r}: {bytes(buf)!r}")
            buf += chunk


def key_change_in_a_terminal(home: Path, old: str, new: str,
                             kill_after: float | None) -> tuple[str, float]:
    """Type ``old``, then ``new`` twice at the prompts of ``key change --passphrase`` in a
    pty; SIGKILL it ``kill_after`` seconds after the confirmation (None: let it finish).
    Returns (what the terminal showed, seconds from confirmation to exit or kill)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: the real command line, on the terminal
        os.execve(sys.executable, [sys.executable, str(DRIVER), "--home", str(home),
                                   "key", "change", "--passphrase"], ENV)
    buf = bytearray()
    try:
        _read_until(fd, b"Passphrase:", buf)
        os.write(fd, old.encode() + b"\r")
        _read_until(fd, b"New passphrase:", buf)
        os.write(fd, new.encode() + b"\r")
        _read_until(fd, b"Repeat for confirmation:", buf)
        os.write(fd, new.encode() + b"\r")
        t0 = time.monotonic()
        if kill_after is not None:
            time.sleep(kill_after)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        while True:  # drain the terminal until the process is gone
            r, _, _ = select.select([fd], [], [], 0.2)
            if r:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:
                    chunk = b""
                buf += chunk
                if not chunk:
                    break
            done, _status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
        elapsed = time.monotonic() - t0
    finally:
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
        os.close(fd)
    return buf.decode("utf-8", "replace"), elapsed


def _prepare(home: Path) -> dict:
    """An encrypted passphrase store with messages, notes, two backups and an index."""
    r = cli(home, "init", "--encrypt", "--passphrase", passphrase=FIRST)
    assert r.returncode == 0, r.stderr
    r = run_chain(home, [("import", str(TRIPS)), ("jobs", "run", "extract"), ("backup", "now"),
                         ("import", str(GARDEN)), ("jobs", "run", "extract"), ("backup", "now"),
                         ("search", "zanzibarquux")],
                  env={**ENV, "SECONDME_PASSPHRASE": FIRST})
    assert r.returncode == 0, r.stderr
    return _counts(home, FIRST)


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> tuple[Path, dict]:
    """One prepared store; each test works on its own copy."""
    home = tmp_path_factory.mktemp("key-change-template") / "home"
    return home, _prepare(home)


def _copy(template: tuple[Path, dict], dest: Path) -> tuple[Path, dict]:
    shutil.copytree(template[0], dest)
    return dest, dict(template[1])


def _counts(home: Path, passphrase: str) -> dict:
    from secondme.store.crypto import unlock

    conn = unlock(home, passphrase)(str(home / "secondme.db"))
    try:
        assert conn.execute("pragma integrity_check").fetchone()[0] == "ok"
        return {t: conn.execute(f"select count(*) from {t}").fetchone()[0]
                for t in ("messages", "notes", "conversations")}
    finally:
        conn.close()


def _backups_open_with(home: Path, passphrase: str) -> list[int]:
    """Messages in every backup, opened with the key ``passphrase`` gives now."""
    from secondme.store.crypto import unlock

    conn_for = unlock(home, passphrase)
    out = []
    for p in sorted((home / "backups").glob("*.db")):
        c = conn_for(str(p))
        out.append(c.execute("select count(*) from messages").fetchone()[0])
        c.close()
    return out


def _settle(home: Path, old: str, new: str, first: str) -> tuple[str, dict]:
    """Try the two passphrases (``first`` of them first); exactly one opens the store.
    Returns the one that does and what the other's refusal said."""
    second = new if first == old else old
    r1 = cli(home, "search", "zanzibarquux", "--json", passphrase=first)
    r2 = cli(home, "search", "zanzibarquux", "--json", passphrase=second)
    opened = [pw for pw, r in ((first, r1), (second, r2)) if r.returncode == 0]
    assert len(opened) == 1, (r1.returncode, r1.stderr, r2.returncode, r2.stderr)
    refused = r2 if r1.returncode == 0 else r1
    assert refused.returncode == 1
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), refused.stderr
    assert "Traceback" not in refused.stderr and "damaged" not in refused.stderr
    works = opened[0]
    ok = r1 if r1.returncode == 0 else r2
    assert "Mirabel" in ok.stdout
    return works, {"message": lines[0], "tried_first": refused is r1}


def _check_message(info: dict, works: str, old: str) -> None:
    msg = info["message"]
    if info["tried_first"]:  # refused while the change was still unsettled
        which = "old" if works == old else "new"
        assert (f"{which} passphrase" in msg or "wrong passphrase" in msg), msg
        if "wrong passphrase" not in msg:
            assert "interrupted" in msg
    else:                    # refused after the other one settled the change
        assert "wrong passphrase" in msg, msg


def _assert_nothing_lost(home: Path, works: str, expected: dict, *,
                         recover_cli: bool = True) -> None:
    from secondme.errors import InvalidInput
    from secondme.store.recovery import check_startup, plan_recovery

    assert _counts(home, works) == expected
    assert _backups_open_with(home, works) == [4, 8]
    marker = json.loads((home / "encryption.json").read_text())
    assert marker["pending"] is None
    assert not list(home.rglob("*.rekeyed"))
    assert check_startup(home, works).state == "ok"
    with pytest.raises(InvalidInput, match="never replaces it"):
        plan_recovery(home, works)           # what recover does first
    if recover_cli:
        r = cli(home, "recover", "--yes", passphrase=works)
        assert r.returncode == 0 and "healthy" in r.stdout, r.stderr
    assert not list(home.glob("secondme.db.damaged-*"))


def test_key_change_killed_at_random_moments_in_a_terminal(tmp_path, template):
    home, expected = _copy(template, tmp_path / "home")
    # how long a whole change takes now, from the confirmation to the end
    shown, seconds = key_change_in_a_terminal(home, FIRST, "calibration pass 1", None)
    assert "Key changed" in shown, shown
    current = "calibration pass 1"
    rng = random.Random(17)
    outcomes = []
    for trial in range(RANDOM_KILLS):
        new = f"trial passphrase {trial}"
        delay = rng.uniform(0.0, seconds * 1.2)
        key_change_in_a_terminal(home, current, new, delay)
        first = current if trial % 2 else new
        works, info = _settle(home, current, new, first)
        _check_message(info, works, current)
        _assert_nothing_lost(home, works, expected, recover_cli=trial % 4 == 0)
        outcomes.append("new" if works == new else "old")
        current = works
    # the kills landed both before and after the database took the new key
    assert {"old", "new"} <= set(outcomes), outcomes


# each (function, nth call after which the process kills itself, the key that must open
# the store afterwards): every step boundary of the change
STEPS = [
    ("secondme.privacy.encryption.plan_new_key", 1, "old"),         # new key is pending
    ("secondme.store.crypto.ciphers:SQLCipherConnector.rekey", 1, "old"),  # 1st backup staged
    ("secondme.store.crypto.ciphers:SQLCipherConnector.rekey", 2, "old"),  # 2nd backup staged
    ("secondme.privacy.encryption.write_index", 1, "old"),          # index staged
    ("secondme.store.crypto.ciphers:SQLCipherConnector.rekey", 3, "new"),  # database re-keyed
    ("secondme.store.crypto.rekey._swap_staged", 1, "new"),         # one staged file in
    # (the 1st call drops leftovers of an older interrupted change, before any staging)
    ("secondme.privacy.encryption.settle_staged", 1, "old"),
    ("secondme.privacy.encryption.settle_staged", 2, "new"),        # every staged file in
    ("secondme.privacy.encryption.finish_key_change", 1, "new"),    # marker finished
]


@pytest.mark.parametrize("target,nth,opens", STEPS,
                         ids=[f"{t.rsplit('.', 1)[-1]}-{n}" for t, n, _o in STEPS])
def test_key_change_killed_at_every_step_boundary(tmp_path, template, target, nth, opens):
    home, expected = _copy(template, tmp_path / "home")
    env = {**ENV, "KILL_AT": f"{target}:{nth}", "DRIVER": str(DRIVER),
           "SECONDME_PASSPHRASE": FIRST, "SECONDME_NEW_PASSPHRASE": "the next passphrase"}
    p = subprocess.run([sys.executable, "-c", KILLER, "-", "--", "--home", str(home),
                        "key", "change", "--passphrase"], env=env, capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == -signal.SIGKILL, (p.returncode, p.stderr)
    # half the steps try the old passphrase first, half the new one: the refusal before
    # the change is settled must name the passphrase that works
    first = FIRST if STEPS.index((target, nth, opens)) % 2 else "the next passphrase"
    works, info = _settle(home, FIRST, "the next passphrase", first)
    assert works == (FIRST if opens == "old" else "the next passphrase")
    _check_message(info, works, FIRST)
    _assert_nothing_lost(home, works, expected)


def test_the_fault_table_counts_the_kills_this_file_makes():
    """docs/privacy.md's fault table is what a reader trusts about key change: its rows
    for this file must count the kills made here (it said 8 steps while 9 were killed).
    A step added to STEPS or a change of RANDOM_KILLS fails here until the table says so."""
    doc = (Path(__file__).resolve().parent.parent / "docs" / "privacy.md").read_text()

    def row(test: str) -> list[str]:
        [line] = [ln for ln in doc.splitlines()
                  if ln.startswith("|") and f"test_faults_key_change.py::{test}`" in ln]
        return [c.strip() for c in line.strip("|").split("|")]

    fault, _test, trials, _holds = row("test_key_change_killed_at_every_step_boundary")
    assert trials == str(len(STEPS)), trials
    assert f"each of the {len(STEPS)} step boundaries" in fault, fault
    assert row("test_key_change_killed_at_random_moments_in_a_terminal")[2] == \
        str(RANDOM_KILLS)


def test_the_new_passphrase_never_comes_from_the_current_one(tmp_path):
    """SECONDME_PASSPHRASE is the passphrase that opens the store; key change used to
    re-key with it. The new one comes from SECONDME_NEW_PASSPHRASE or the terminal."""
    home = tmp_path / "home"
    assert cli(home, "init", "--encrypt", "--passphrase", passphrase=FIRST).returncode == 0
    r = cli(home, "key", "change", "--passphrase", passphrase=FIRST)
    assert r.returncode == 2 and "SECONDME_NEW_PASSPHRASE" in r.stderr
    r = cli(home, "key", "change", "--passphrase", passphrase=FIRST,
            env={"SECONDME_NEW_PASSPHRASE": FIRST})
    assert r.returncode == 2 and "same as the current" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = cli(home, "key", "change", "--passphrase", passphrase=FIRST,
            env={"SECONDME_NEW_PASSPHRASE": "a brand new one"})
    assert r.returncode == 0, r.stderr
    assert cli(home, "search", "x", passphrase="a brand new one").returncode == 0
    assert cli(home, "search", "x", passphrase=FIRST).returncode == 1


def test_recover_asks_before_going_back_in_time_and_says_what_is_lost(tmp_path):
    home = tmp_path / "home"
    assert cli(home, "import", str(TRIPS)).returncode == 0
    assert cli(home, "jobs", "run", "extract").returncode == 0
    assert cli(home, "backup", "now").returncode == 0
    assert cli(home, "import", str(GARDEN)).returncode == 0
    db = home / "secondme.db"
    c = sqlite3.connect(db)
    c.execute("pragma wal_checkpoint(TRUNCATE)")
    c.close()
    with open(db, "r+b") as f:   # damage the header: nothing opens it any more
        f.write(b"\xde\xad" * 50)
    r = subprocess.run([sys.executable, str(DRIVER), "--home", str(home), "recover"],
                       capture_output=True, text=True, env=ENV, input="n\n", timeout=120)
    assert r.returncode != 0
    assert "goes back in time" in r.stderr and "4 messages" in r.stderr, r.stderr
    assert db.read_bytes()[:2] == b"\xde\xad"          # asked, refused: nothing replaced
    r = cli(home, "recover", "--yes", "--json")
    out = json.loads(r.stdout)
    assert out["backup_counts"]["messages"] == 4 and out["restored"].startswith("secondme-")
    assert out["damaged_copy"].startswith("secondme.db.damaged-")
    # a healthy store is never replaced, not even when a backup is named
    name = out["restored"]
    r = cli(home, "recover", "--backup", name, "--yes")
    assert r.returncode != 0 and "backup restore" in r.stderr
    assert len(list(home.glob("secondme.db.damaged-*"))) == 1
