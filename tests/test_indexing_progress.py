"""Progress where the user waits for indexing: ``index_pending`` reports done/total
items as it goes, and the command line turns that into a bar with an ETA."""
from __future__ import annotations

import io
import re
import time

from secondme.indexing import index_pending
from secondme.models.embed import HashEmbedder, content_hash
from secondme.store.db import Store
from secondme.store.vectors import VectorIndex


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_index_reports_every_batch_up_to_the_total(tmp_path):
    store = Store.open(tmp_path / "db.sqlite")
    texts = [f"message {i} about the trip to Lisbon" for i in range(230)]
    with store.write() as db:
        conv = db.conn.execute("insert into conversations (format, external_id) "
                               "values ('t', 'c')").lastrowid
        db.conn.executemany(
            "insert into messages (conversation_id, external_id, position, speaker, text, "
            "content_hash) values (?, ?, ?, 'Anna', ?, ?)",
            [(conv, f"m{i}", i, t, content_hash(t)) for i, t in enumerate(texts)])
    emb = HashEmbedder()
    vi = VectorIndex.open(tmp_path / "vectors", emb.model_id, emb.dim, store)
    seen = []
    index_pending(store, emb, vi, batch_size=50, progress=seen.append)
    store.close()
    embedding = [p for p in seen if p.stage == "embedding"]
    assert embedding[0].done == 0 and embedding[0].total == 230
    assert embedding[-1].done == embedding[-1].total == 230
    dones = [p.done for p in embedding]
    assert dones == sorted(dones) and len(set(dones)) >= 5  # one step per batch at least


def test_the_command_line_bar_shows_an_eta(monkeypatch):
    from secondme.cli.base import terminal_progress
    from secondme.progress import Progress

    err = _Tty()
    monkeypatch.setattr("sys.stderr", err)
    progress, close = terminal_progress()
    for done in (0, 100, 200, 300):
        progress(Progress("embedding", done, 1000))
        time.sleep(0.15)
    close()
    text = err.getvalue()
    assert "embedding" in text and "300/1000" in text
    # tqdm's "[elapsed<remaining, rate]": the remaining time is known, not "?"
    assert re.search(r"300/1000 \[\d\d:\d\d<\d\d:\d\d", text), text[-300:]
