"""A stopped index continues where it stopped: after a kill -9 in the middle of
`index_pending`, nothing already embedded is embedded again, the vector index file is
caught up from the stored embeddings (not rebuilt), and the run finishes the rest."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from secondme.indexing import count_pending, index_pending, message_text
from secondme.models.embed import HashEmbedder, content_hash
from secondme.store.db import Store
from secondme.store.vectors import META_FILE, VectorIndex

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import sys, time
from pathlib import Path
from secondme.indexing import index_pending
from secondme.models.embed import HashEmbedder
from secondme.store.db import Store
from secondme.store.vectors import VectorIndex

class Slow(HashEmbedder):
    def embed(self, texts):
        time.sleep(0.03)  # a real model's pace, roughly, per small batch
        return super().embed(texts)

home = Path(sys.argv[1])
store = Store.open(home / "db.sqlite")
emb = Slow()
vi = VectorIndex.open(home / "vectors", emb.model_id, emb.dim, store)
def progress(p):
    print(f"{p.stage} {p.done} {p.total}", flush=True)
index_pending(store, emb, vi, batch_size=50, save_every=0.2, progress=progress)
print("finished", flush=True)
"""


def add_messages(store: Store, texts: list[str], conversation: str = "c1") -> list[int]:
    with store.write() as db:
        conv = db.conn.execute("insert into conversations (format, external_id) values "
                               "('test', ?)", [conversation]).lastrowid
        return [db.conn.execute(
            "insert into messages (conversation_id, external_id, position, speaker, text, "
            "content_hash) values (?, ?, ?, 'Anna', ?, ?)",
            [conv, f"m{i}", i, t, content_hash(t)]).lastrowid for i, t in enumerate(texts)]


@pytest.fixture
def store(tmp_path):
    s = Store.open(tmp_path / "db.sqlite")
    yield s
    s.close()


def _kill_midway(home: Path, at: int) -> list[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT / ".pp"), *os.environ.get("PYTHONPATH", "").split(os.pathsep)])}
    proc = subprocess.Popen([sys.executable, "-u", "-c", CHILD, str(home)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=str(ROOT))
    seen = []
    deadline = time.monotonic() + 240
    try:
        for line in proc.stdout:
            seen.append(line.strip())
            parts = line.split()
            if parts[0] == "embedding" and int(parts[1]) >= at:
                proc.send_signal(signal.SIGKILL)  # no cleanup, no final save
                break
            assert time.monotonic() < deadline, "child too slow"
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, proc.stderr.read()[-2000:])
    return seen


def test_a_killed_index_run_resumes_without_re_embedding(tmp_path, store):
    n = 2000
    texts = [f"note {i}: the {w} moved to {i % 13} o'clock" for i, w in
             enumerate(["dentist", "train", "party", "call", "lesson"] * (n // 5))]
    add_messages(store, texts)
    seen = _kill_midway(tmp_path, at=900)
    assert seen[0] == f"embedding 0 {n}"
    done_before = n - count_pending(store)
    # committed batches survived the kill (progress runs ahead of the writer thread by
    # the two batches waiting for it and the one it writes)
    assert 900 - 3 * 50 <= done_before < n

    emb = HashEmbedder()
    reports = []
    vi = VectorIndex.open(tmp_path / "vectors", emb.model_id, emb.dim, store,
                          progress=reports.append)
    # the saved file was behind the database: caught up, not rebuilt
    assert vi.status in ("caught up", "loaded"), vi.status
    assert len(vi) == done_before and emb.calls == 0
    if vi.status == "caught up":
        assert reports[-1].stage == "catching up the vector index"
        assert reports[-1].done == reports[-1].total > 0

    rep = index_pending(store, emb, vi, batch_size=50)
    assert rep.items == n - done_before and emb.texts_embedded == n - done_before
    assert len(vi) == n and count_pending(store) == 0
    # both sides of the kill are searchable
    for i in (0, done_before - 1, n - 1):
        q = emb.embed([message_text("Anna", texts[i])])[0]
        # k=5: HNSW is approximate and the hash embedder gives near-identical texts
        # near-identical vectors; one k=1 lookup under load once returned a neighbour
        found = set()
        for label, _ in vi.search(q, k=5):
            found.add(store.conn.execute(
                "select m.text from vector_items v join messages m on m.id = v.item_id "
                "where v.label = ?", [label]).fetchone()[0])
        assert texts[i] in found
    vi.save()
    again = VectorIndex.open(tmp_path / "vectors", emb.model_id, emb.dim, store)
    assert again.status == "loaded" and len(again) == n


def test_a_file_behind_after_a_deletion_is_caught_up_both_ways(tmp_path, store):
    """Items removed since the save are dropped and those added are added (the
    ``vector_state`` generation tells, labels are never reused): no rebuild."""
    from secondme.indexing import forget_items

    emb = HashEmbedder()
    ids = add_messages(store, [f"line {i} about apples" for i in range(300)])
    vi = VectorIndex.open(tmp_path / "vectors", emb.model_id, emb.dim, store)
    index_pending(store, emb, vi, batch_size=100)  # saved at the end
    # now, without saving: one forgotten and more indexed -> the file is stale both ways
    forget_items(store, None, "message", ids[:1])
    add_messages(store, [f"line {i} about pears" for i in range(300, 350)], conversation="c2")
    vi2 = VectorIndex.open(tmp_path / "vectors", emb.model_id, emb.dim, store)
    assert vi2.status == "caught up" and len(vi2) == 299
    index_pending(store, emb, vi2, batch_size=100, save_every=1e9)
    import json

    meta = json.loads((tmp_path / "vectors" / META_FILE).read_text())
    assert meta["max_label"] == vi2.max_label
    vi3 = VectorIndex.open(tmp_path / "vectors", emb.model_id, emb.dim, store)
    # the forgotten item counts as pending again (its text may have changed): 300 + 50
    assert vi3.status == "loaded" and len(vi3) == 350


def test_indexing_saves_the_index_during_a_long_run(tmp_path, store, monkeypatch):
    class Slow(HashEmbedder):
        def embed(self, texts):
            time.sleep(0.1)
            return super().embed(texts)

    emb = Slow()
    add_messages(store, [f"text {i}" for i in range(500)])
    vi = VectorIndex.open(tmp_path / "vectors", emb.model_id, emb.dim, store)
    saves = []
    real_save = vi.save
    monkeypatch.setattr(vi, "save", lambda: (saves.append(len(vi)), real_save()))
    index_pending(store, emb, vi, batch_size=50, save_every=0.0)
    # along the way (at most a tenth of the time goes to saving), and at the end
    assert len(saves) >= 3 and 0 < saves[0] < 500 and saves[-1] == 500
