"""Embedding of new messages, chunks and notes into the vector index.

``index_pending`` finds items that have no vector yet, builds the text that represents
each, looks its content hash up in ``embeddings`` (text already embedded by this model
is never embedded again, whichever item it belongs to), embeds the rest in large
batches, and records labels in ``vector_items`` before adding them to the hnswlib index.

Speed: the model call dominates, so database work and hnswlib insertion for batch *n*
run on a helper thread while batch *n+1* is being encoded (torch releases the GIL).
"""
from __future__ import annotations

import threading
import time
from queue import Queue
from typing import Iterable, Optional

import numpy as np

from .api import IndexReport
from .models.embed import Embedder, content_hash
from .progress import CancelToken, ProgressFn, check, report
from .store.db import Store
from .store.vectors import VectorIndex, blob_to_vector, drop_vector_items, vector_to_blob

MAX_CHARS = 2000  # MiniLM reads 256 tokens; longer text only costs tokenisation time


def message_text(speaker: str, text: str) -> str:
    return (f"{speaker}: {text}" if speaker else text)[:MAX_CHARS]


def chunk_text(heading: str, text: str) -> str:
    return (f"{heading}\n{text}" if heading else text)[:MAX_CHARS]


#: What a note's vector is made of: its text alone. It used to be text | keywords |
#: context ("… | pia bank landlord | Chat between Me, Pia and Jonas, 30 October 2023"):
#: on the recall set that bought nothing (evidence recall@10 after formation, held out:
#: 84.2 with them, 85.5 without; formation's precision and recall unchanged) and it
#: doubled the tokens embedded for every fact (52 → 26 on generated chats), which is most
#: of formation's time. Keywords and context stay on the note: keyword search, the
#: screen. Migration m517 re-embeds notes embedded the old way. Benchmarks set
#: :data:`NOTE_VECTOR_ENRICHED` here to measure the old way in the same run.
NOTE_VECTOR_PARTS: tuple[str, ...] = ("text",)
NOTE_VECTOR_ENRICHED = ("text", "keywords", "context")


def note_text(text: str, keywords: str = "", context: str = "") -> str:
    """The text a note's vector is embedded from (:data:`NOTE_VECTOR_PARTS`)."""
    given = {"text": text, "keywords": keywords, "context": context}
    return " | ".join(given[p] for p in NOTE_VECTOR_PARTS if given[p])[:MAX_CHARS]


# kind -> SQL selecting (id, text-to-embed parts) of items without a vector
PENDING_SQL = {
    "message": ("select m.id, m.speaker, m.text from messages m where m.kind = 'message' "
                "and m.text != '' and m.id > ? and not exists (select 1 from vector_items v "
                "where v.kind = 'message' and v.item_id = m.id) order by m.id limit ?"),
    "chunk": ("select c.id, c.heading, c.text from chunks c where c.id > ? and not exists "
              "(select 1 from vector_items v where v.kind = 'chunk' and v.item_id = c.id) "
              "order by c.id limit ?"),
    "note": ("select n.id, n.text, n.keywords, n.context from notes n where n.id > ? "
             "and not exists (select 1 from vector_items v where v.kind = 'note' "
             "and v.item_id = n.id) order by n.id limit ?"),
}


def _item_text(kind: str, row) -> str:
    if kind == "message":
        return message_text(row[1], row[2])
    if kind == "chunk":
        return chunk_text(row[1], row[2])
    return note_text(row[1], row[2], row[3])


def count_pending(store: Store) -> int:
    c = store.conn
    return (
        c.execute("select count(*) from messages m where m.kind='message' and m.text != '' and "
                  "not exists (select 1 from vector_items v where v.kind='message' and "
                  "v.item_id=m.id)").fetchone()[0]
        + c.execute("select count(*) from chunks c where not exists (select 1 from vector_items "
                    "v where v.kind='chunk' and v.item_id=c.id)").fetchone()[0]
        + c.execute("select count(*) from notes n where not exists (select 1 from vector_items "
                    "v where v.kind='note' and v.item_id=n.id)").fetchone()[0]
    )


def stored_vectors(conn, model_id: str, hashes: list[str]) -> dict[str, np.ndarray]:
    """The vectors ``model_id`` already made of texts with content hashes ``hashes``."""
    found: dict[str, np.ndarray] = {}
    for i in range(0, len(hashes), 500):
        part = hashes[i:i + 500]
        q = ",".join("?" * len(part))
        for h, blob in conn.execute(
                f"select content_hash, vector from embeddings where model_id = ? "
                f"and content_hash in ({q})", [model_id, *part]):
            found[h] = blob_to_vector(blob)
    return found


class _Saver:
    """Saves the vector index every ``every`` seconds of a long run — but never spends
    more than a tenth of the time saving (a 1M-item index takes seconds to write)."""

    def __init__(self, vindex: VectorIndex, every: float):
        self.vindex, self.every = vindex, every
        self.last, self.cost = time.monotonic(), 0.0

    def maybe_save(self) -> None:
        now = time.monotonic()
        if self.vindex.dirty and now - self.last >= max(self.every, 10 * self.cost):
            self.vindex.save()
            self.last = time.monotonic()
            self.cost = self.last - now


def index_pending(store: Store, embedder: Embedder, vindex: VectorIndex, *,
                  kinds: Iterable[str] = ("message", "chunk", "note"),
                  batch_size: int = 1024, save_every: float = 60.0,
                  progress: Optional[ProgressFn] = None,
                  cancel: Optional[CancelToken] = None) -> IndexReport:
    """Embed every item of ``kinds`` that has no vector yet and add it to ``vindex``.

    Resumable: each batch is committed (rows + embeddings) before its vectors enter the
    index, and the index is saved every ``save_every`` seconds and at the end. A run that
    is stopped — cancelled, killed, the laptop closed — loses no embedding: the next run
    starts with the first item without a vector, and ``VectorIndex.open`` adds the items
    recorded after the last save from their stored embeddings. Progress: stage
    ``"embedding"``, done/total items (the CLI draws a bar with an ETA from it). Raises
    Cancelled between batches.
    """
    rep = IndexReport()
    total = count_pending(store)
    report(progress, "embedding", 0, total)
    writes: Queue = Queue(maxsize=2)
    failure: list[BaseException] = []
    saver = _Saver(vindex, save_every)

    def writer() -> None:
        while True:
            item = writes.get()
            if item is None:
                return
            if failure:
                continue
            try:
                _write_batch(store, vindex, embedder.model_id, *item)
                saver.maybe_save()
            except BaseException as e:  # surfaced on the caller's thread
                failure.append(e)

    worker = threading.Thread(target=writer, name="secondme-index-writer", daemon=True)
    worker.start()
    try:
        for kind in kinds:
            last = 0
            while True:
                check(cancel)
                if failure:
                    raise failure[0]
                rows = store.conn.execute(PENDING_SQL[kind], [last, batch_size]).fetchall()
                if not rows:
                    break
                last = rows[-1][0]
                texts = [_item_text(kind, r) for r in rows]
                hashes = [content_hash(t) for t in texts]
                known = stored_vectors(store.conn, embedder.model_id, hashes)
                todo: dict[str, str] = {}
                for h, t in zip(hashes, texts):
                    if h not in known and h not in todo:
                        todo[h] = t
                new: dict[str, np.ndarray] = {}
                if todo:
                    vecs = embedder.embed(list(todo.values()))
                    new = dict(zip(todo.keys(), vecs))
                rep.embedded += len(todo)
                rep.reused += len(rows) - len(todo)
                rep.items += len(rows)
                writes.put((kind, [r[0] for r in rows], hashes, known, new))
                report(progress, "embedding", rep.items, total)
    finally:
        writes.put(None)
        worker.join()
    if failure:
        raise failure[0]
    if vindex.dirty:
        vindex.save()
    return rep


def write_vectors(conn, model_id: str, kind: str,
                  entries: Iterable[tuple[int, str, np.ndarray]], *,
                  replace: bool = False) -> tuple[list[tuple[int, np.ndarray]], list[int]]:
    """Record vectors of items of ``kind`` in ``embeddings`` + ``vector_items`` — the one
    writer of those tables; call inside a write transaction (``store.write()``).

    ``entries``: (item id, content hash, vector); an item listed twice keeps its last
    entry. An item that already has a vector keeps it (``replace=False``: another process
    or an earlier batch indexed it meanwhile) or gets the new one (``replace=True``: its
    text changed). Labels are allocated here, under the transaction's write lock, so
    several processes can index one store at once. An item whose text is already in the
    index shares that entry (``vec``, migration m516) and adds nothing to it. Returns the
    (label, vector) pairs to add to the hnswlib index and the labels it must drop.
    """
    latest = {item_id: (h, v) for item_id, h, v in entries}
    if not latest:
        return [], []
    ids = list(latest)
    present: dict[int, int] = {}
    for i in range(0, len(ids), 500):
        part = ids[i:i + 500]
        q = ",".join("?" * len(part))
        present.update(conn.execute(
            f"select item_id, label from vector_items where kind = ? and item_id in ({q})",
            [kind, *part]).fetchall())
    stale: list[int] = []
    if replace and present:
        stale = drop_vector_items(conn, kind, list(present))
        present = {}
    todo = [(i, *latest[i]) for i in ids if i not in present]
    conn.executemany(
        "insert or ignore into embeddings (content_hash, model_id, vector) values (?, ?, ?)",
        [(h, model_id, vector_to_blob(v)) for _i, h, v in todo])
    # labels are never reused (see migration m403): a label an index still holds as
    # deleted, in this process or another, never comes back for another item
    start = conn.execute("select max(v.next_label, coalesce((select max(label) from "
                         "vector_items), 0) + 1) from vector_state v").fetchone()[0]
    shared = _entries_for(conn, {h for _i, h, _v in todo})
    rows, added = [], []
    for n, (i, h, v) in enumerate(todo):
        label = start + n
        vec = shared.setdefault(h, label)
        rows.append((label, kind, i, h, vec))
        if vec == label:
            added.append((label, v))
    conn.executemany("insert into vector_items (label, kind, item_id, content_hash, vec) "
                     "values (?, ?, ?, ?, ?)", rows)
    # ``stale`` entries lost their last row before ``_entries_for`` looked: never reused
    return added, stale


def _entries_for(conn, hashes: set[str]) -> dict[str, int]:
    """The index entry (``vec``) already holding each of ``hashes``, where one does."""
    out: dict[str, int] = {}
    hashes = list(hashes)
    for i in range(0, len(hashes), 500):
        part = hashes[i:i + 500]
        out.update(conn.execute(
            f"select content_hash, min(vec) from vector_items where content_hash in "
            f"({','.join('?' * len(part))}) group by content_hash", part).fetchall())
    return out


def _write_batch(store: Store, vindex: VectorIndex, model_id: str, kind: str,
                 ids: list[int], hashes: list[str], known: dict, new: dict) -> None:
    vectors = [new[h] if h in new else known[h] for h in hashes]
    with store.write() as db:
        added, _ = write_vectors(db.conn, model_id, kind, zip(ids, hashes, vectors))
    if added:
        # hnswlib would insert with one thread per core, fighting torch's OpenMP threads
        # for the same cores (oversubscribed OpenMP barriers slow encoding far more than
        # the insertion gains); the insertion overlaps with encoding, so one is enough.
        vindex.add([label for label, _ in added], np.vstack([v for _, v in added]),
                   threads=1)


def index_notes_now(store: Store, embedder: Embedder, vindex: VectorIndex,
                    ids: Iterable[int]) -> int:
    """Embed and index the notes ``ids`` that have no vector yet (a note the person just
    wrote or edited: found by meaning at once, not after the next indexing run). A text
    embedded before reuses its stored vector. Returns how many notes got one."""
    ids = list(ids)
    if not ids:
        return 0
    rows = store.conn.execute(
        "select n.id, n.text, n.keywords, n.context from notes n where n.id in "
        f"({','.join('?' * len(ids))}) and not exists (select 1 from vector_items v "
        "where v.kind = 'note' and v.item_id = n.id)", ids).fetchall()
    if not rows:
        return 0
    texts = [_item_text("note", r) for r in rows]
    hashes = [content_hash(t) for t in texts]
    known = stored_vectors(store.conn, embedder.model_id, hashes)
    todo = {h: t for h, t in zip(hashes, texts) if h not in known}
    new = dict(zip(todo, embedder.embed(list(todo.values())))) if todo else {}
    _write_batch(store, vindex, embedder.model_id, "note", [r[0] for r in rows], hashes,
                 known, new)
    return len(rows)


def forget_items(store: Store, vindex: Optional[VectorIndex], kind: str,
                 ids: Iterable[int]) -> int:
    """Drop the vectors of items that were deleted or whose text changed.

    Must be called inside or after the transaction that changed them; the next
    ``index_pending`` re-embeds changed items. Returns how many index entries were
    dropped (an entry another item with the same text uses stays).
    """
    with store.write() as db:
        labels = drop_vector_items(db.conn, kind, ids)
    if vindex is not None and labels:
        vindex.remove(labels)
    return len(labels)
