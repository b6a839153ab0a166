"""A disk that fills up during an import (issue 17, item 6), on a real 20 MB tmpfs.

Before: the import said "nothing was written" while 50,600 messages were committed,
printed no ``--json``, and afterwards ``search`` exited 70 with an unhandled OSError (the
vector index could not be saved) and an empty log. Now: the import says how much it
kept, in one line naming the database, and ``--json`` reports exactly what the database
holds; ``search`` on the full disk says "the disk is full" in one line (exit 1); once
there is space again the same import adds exactly the rest.
"""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures" / "privacy"))
from helpers import run_cli  # noqa: E402

CONVS, PER = 600, 200


def _export(path: Path) -> int:
    convs = [{"id": f"c{c}", "title": f"Chat {c}", "participants": ["Ava", "Sam"],
              "messages": [{"id": f"m{i}", "speaker": ["Ava", "Sam"][i % 2],
                            "timestamp": f"2024-03-{1 + c % 28:02d}T10:{i % 60:02d}:00+00:00",
                            "text": f"I moved to Harbour{c} and work at Company{c}x{i} now, "
                                    f"message number {i} of a long chat."}
                           for i in range(PER)]} for c in range(CONVS)]
    path.write_text(json.dumps({"conversations": convs}))
    return CONVS * PER


@pytest.fixture
def tiny_disk(tmp_path):
    """A real 20 MB tmpfs (needs root)."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def _messages(home: Path) -> int:
    conn = sqlite3.connect(f"file:{home / 'secondme.db'}?mode=ro", uri=True)
    try:
        return conn.execute("select count(*) from messages").fetchone()[0]
    finally:
        conn.close()


def test_a_full_disk_says_what_was_kept_and_the_next_import_adds_the_rest(tmp_path,
                                                                           tiny_disk):
    export = tmp_path / "big.json"   # 21 MB: the database cannot hold it in 20 MB
    total = _export(export)
    home = tiny_disk / "home"
    r = run_cli(home, "import", "--json", str(export), timeout=900)
    assert r.returncode == 1, r.stderr
    stored = _messages(home)
    assert 0 < stored < total
    src = json.loads(r.stdout)["sources"][0]   # --json even when stopped
    assert src["messages_added"] == stored     # exactly what the database holds
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(f"Error: {home / 'secondme.db'}: the disk is full: stopped "
                               f"after {src['conversations']} conversations ({stored} new "
                               "messages), which are kept")
    assert "nothing was written" not in r.stderr
    # whole conversations only
    conn = sqlite3.connect(f"file:{home / 'secondme.db'}?mode=ro", uri=True)
    assert {n for (n,) in conn.execute(
        "select count(*) from messages group by conversation_id")} == {PER}
    conn.close()

    r = run_cli(home, "search", "--json", "Harbour7", timeout=300)
    assert r.returncode == 1, r.stderr           # was 70: unhandled OSError
    assert len(r.stderr.strip().splitlines()) == 1 and "the disk is full" in r.stderr
    assert "Internal error" not in r.stderr and "Errno" not in r.stderr

    subprocess.run(["mount", "-o", "remount,size=400m", str(tiny_disk)], check=True)
    r = run_cli(home, "import", "--json", str(export), timeout=900)
    assert r.returncode == 0, r.stderr
    src = json.loads(r.stdout)["sources"][0]
    assert src["messages_added"] == total - stored
    assert _messages(home) == total
