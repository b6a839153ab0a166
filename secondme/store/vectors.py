"""The vector index: hnswlib, persisted beside the database.

Files: ``<home>/vectors/index.bin`` (hnswlib) and ``index.json`` (model id, dimension,
element count, deleted count, the ``vector_state`` generation it reflects, checksum). The
database is the source of truth: the ``vector_items`` table maps each hnswlib label to
an item, and ``embeddings`` holds every vector by content hash. A missing, corrupt or
mismatched index file is therefore never fatal: :meth:`VectorIndex.open` rebuilds it from
the database (with progress) without recomputing a single embedding.

Several processes (the desktop app, the CLI, the MCP server) may hold the index at once:
labels are never reused, and every change of ``vector_items`` advances
``vector_state.generation`` (migration m403), so :meth:`VectorIndex.sync` — called at
open and after a search that finds the database moved on — adds what others indexed and
scrubs what they removed. A search spends no time on that: it searches what is loaded
and, when the database has moved on, starts a background thread that catches up (another
process is indexing a million messages, or forming memories) — keyword search finds the
newest items meanwhile.

Thread-safety: all methods take an internal lock; searches are short, adds are batched
(a catch-up takes the lock per small batch) and searches go first: between two batches a
catch-up waits while a search is waiting for the lock (:meth:`VectorIndex._give_way`).
Python's locks are not fair — a thread that releases a lock and takes it again at once
usually wins — and without that a search waited for a whole catch-up: 0.8–5.7 s behind
8,000 insertions in steps of 32 at 200k vectors.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

import numpy as np

from ..errors import Cancelled
from ..paths import private_dir, private_file, write_private
from ..progress import CancelToken, ProgressFn, check, report

log = logging.getLogger(__name__)

INDEX_FILE = "index.bin"
META_FILE = "index.json"
M = 16
# 100, not 200: inserting is 2.1× faster (2,380 vs 1,129 vectors/s, 57k real message
# vectors, one thread) — at 1M messages insertion was a fifth of the embedding time —
# and recall@10 at the search breadth search uses (ef 400) is 0.990 vs 0.9925 counting
# equally close neighbours, 0.8915 strict for both (bench_recall_latency.py, 100k store).
# An index already built keeps the breadth it was built with (hnswlib saves it).
EF_CONSTRUCTION = 100
EF_SEARCH = 96
# A search adds nothing of what other processes indexed: catching up costs ~0.7–1 ms a
# vector at 1M; with a process indexing at ~850 vectors/s, a search every 2 s that caught
# up everything took 1.7 s (p50), and one that added a step of 8 first (its budget was
# 10 ms) spent a median 16.5 ms of its 54 in that while memories formed at 1M. A
# background thread catches up (the app's worker runs are caught up every 10 s anyway).
# vectors read per step of a catch-up
SYNC_BATCH = 256
# vectors added per hold of the index lock by a catch-up: at 1M an insertion takes
# ~0.7 ms on a slow 2-core machine, so a step of 256 held searches for ~180 ms (dense
# stage p95 188 ms while memories formed)
ADD_STEP = 32
# removed vectors overwritten with noise per hold of the lock: overwriting re-links the
# element (hnswlib updatePoint), ~4 ms a vector at 200k — five times an insertion
SCRUB_STEP = 4
# the longest a catch-up waits for searches to finish before its next step
GIVE_WAY_S = 1.0
# The least time between two comparisons of every label by the background thread. While
# another process forms memories it removes note vectors all the time, and each
# comparison at 1M costs seconds of CPU: back to back they would take a core from the app.
RECONCILE_INTERVAL_S = 30.0


def vector_to_blob(v: np.ndarray) -> bytes:
    return np.asarray(v, dtype="<f4").tobytes()


def blob_to_vector(b: bytes) -> np.ndarray:
    return np.frombuffer(b, dtype="<f4")


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def capacity_for(count: int) -> int:
    """Room for ``count`` vectors and an eighth more (at least 1,024). hnswlib sizes some
    tables by its capacity and fills them at once — a lock per slot, 40 bytes — so the
    room of twice the count that opening used to give cost ~36 MB at 1M messages for
    slots most runs never use; :meth:`VectorIndex.add` grows it by an eighth at a time."""
    return count + max(1024, count // 8)


def _load_hnsw(path: Path, dim: int, count: int, cipher):
    """Read an index file: plain hnswlib, or (encrypted store) a sealed pickle of one.

    The pickle is only unpickled after AES-GCM authenticated it, i.e. it was written by
    this store's key holder.
    """
    import hnswlib

    capacity = capacity_for(count)
    if cipher is None:
        index = hnswlib.Index(space="cosine", dim=dim)
        index.load_index(str(path), max_elements=capacity)
        return index
    import pickle

    index = pickle.loads(cipher.read_file(path, "vector index"))
    if index.dim != dim:
        raise ValueError("index dimension differs from its metadata")
    if index.get_max_elements() < capacity:
        index.resize_index(capacity)
    return index


def drop_vector_items(conn, kind: str, ids: Iterable[int]) -> list[int]:
    """Delete the ``vector_items`` rows of items ``ids`` of ``kind`` (inside a write
    transaction). Returns the index entries no item points at any more: the labels to
    remove from (or scrub in) the hnswlib index. An entry another item with the same
    text still uses stays."""
    ids = list(ids)
    vecs: set[int] = set()
    for i in range(0, len(ids), 500):
        part = ids[i:i + 500]
        q = ",".join("?" * len(part))
        vecs.update(r[0] for r in conn.execute(
            f"select vec from vector_items where kind = ? and item_id in ({q})", [kind, *part]))
        conn.execute(f"delete from vector_items where kind = ? and item_id in ({q})",
                     [kind, *part])
    return unused_entries(conn, vecs)


def unused_entries(conn, vecs: Iterable[int]) -> list[int]:
    """Those of index entries ``vecs`` that no ``vector_items`` row points at."""
    vecs = sorted({v for v in vecs if v is not None})
    gone = []
    for i in range(0, len(vecs), 500):
        part = vecs[i:i + 500]
        used = {r[0] for r in conn.execute(
            f"select distinct vec from vector_items where vec in "
            f"({','.join('?' * len(part))})", part)}
        gone += [v for v in part if v not in used]
    return gone


class StoreOnlyIndex:
    """Stands in for the vector index where vectors are written but never searched:
    the desktop app's worker process, and memory formation in a command run.

    Every writer records vectors in the database before it tells the index
    (:func:`secondme.indexing.write_vectors`), so nothing is lost by not holding one:
    whoever holds the real index reads the new labels from ``vector_items`` and scrubs
    the removed ones (:meth:`VectorIndex.sync`). What it saves: at 1M messages the index
    is ~0.8 GB of memory, which the worker held a second copy of beside the app's, and
    the time to insert every vector twice. ``on_add`` hears the labels added (the
    worker reports them to the app); ``added``/``removed`` count them.
    """

    status = "store only"
    dirty = False

    def __init__(self, model_id: str, dim: int):
        self.model_id = model_id
        self.dim = dim
        self.on_add: Optional[Callable[[list[int]], None]] = None
        self.added = 0
        self.removed = 0

    def add(self, labels: Sequence[int], vectors: np.ndarray, *, threads: int = -1) -> None:
        if len(labels) == 0:
            return
        self.added += len(labels)
        if self.on_add is not None:
            self.on_add([int(x) for x in labels])

    def remove(self, labels: Iterable[int]) -> None:
        self.removed += sum(1 for _ in labels)

    scrub = remove

    def save(self) -> None:
        """Nothing to write: the database holds the vectors."""

    def stop_catching_up(self, timeout: float = 30.0) -> None:
        """Nothing catches up here."""


class _OutOfStep(Exception):
    """The loaded index cannot be reconciled with ``vector_items``: rebuild it."""


# an index entry (``vec``) and its vector; ``group by v.vec`` gives each entry once
_ROWS_SQL = ("select v.vec, e.vector from vector_items v join embeddings e "
             "on e.content_hash = v.content_hash and e.model_id = ? ")
# the layout of the index file: 2 = one entry per distinct text (migration m516); 3 =
# notes embedded from their text alone (m517). An older file is rebuilt when opened, from
# the stored vectors (nothing is embedded again): without a layout it has one entry per
# item; a layout-2 file holds the slots of every note's old vector, which hnswlib keeps
# until a rebuild (~140 MB at 1M messages)
LAYOUT = 3
_REBUILT_FOR = {2: "notes embedded from their text now"}


def _generation(conn) -> Optional[int]:
    """The ``vector_state`` generation (None on a database without it)."""
    try:
        row = conn.execute("select generation from vector_state where id = 1").fetchone()
    except Exception:  # noqa: BLE001 - an old database mid-migration
        return None
    return None if row is None else int(row[0])


def _last_removal(conn) -> Optional[int]:
    """The id of the last ``vector_removals`` row (0 when none; None on a database
    without the log)."""
    try:
        return int(conn.execute("select coalesce(max(id), 0) from vector_removals"
                                ).fetchone()[0])
    except Exception:  # noqa: BLE001 - an old database mid-migration
        return None


def prune_removals(conn, keep: int) -> int:
    """Delete all but the last ``keep`` (at least 1) rows of the ``vector_removals`` log
    (inside a write transaction); how many went. An index that had not read them
    compares every label instead the next time it syncs (``_follow_removals``)."""
    return conn.execute("delete from vector_removals where id <= "
                        "(select max(id) from vector_removals) - ?", [max(keep, 1)]).rowcount


def _batches(rows, n: int):
    part = []
    for r in rows:
        part.append(r)
        if len(part) == n:
            yield part
            part = []
    if part:
        yield part


class VectorIndex:
    """An hnswlib cosine index of ``dim``-dimensional vectors made by ``model_id``."""

    def __init__(self, directory: Path, model_id: str, dim: int):
        import hnswlib

        self.directory = Path(directory)
        self.model_id = model_id
        self.dim = dim
        self.deleted = 0
        self._lock = threading.RLock()
        self._sync_lock = threading.Lock()   # one catch-up at a time
        self._save_lock = threading.Lock()   # one save at a time
        self._turn = threading.Condition()   # searches waiting for the lock (_give_way)
        self._searching = 0
        self._unscrubbed: set[int] = set()   # removed, not yet overwritten (save does)
        self._catcher: Optional[threading.Thread] = None
        self._stop = CancelToken()
        self.reconciled_at = -1e9   # time.monotonic() of the last comparison of labels
        self._index = hnswlib.Index(space="cosine", dim=dim)
        self._index.init_index(max_elements=1024, ef_construction=EF_CONSTRUCTION, M=M,
                               allow_replace_deleted=False)
        self._index.set_ef(EF_SEARCH)
        self.dirty = False
        self.status = "new"   # new | loaded | caught up | rebuilt:<reason>
        #: called with the labels of every :meth:`add` (a worker process reports them to
        #: the app, whose loaded index then catches up: :meth:`sync`)
        self.on_add: Optional[Callable[[list[int]], None]] = None
        self.cipher = None    # a FileCipher when the store is encrypted (see open)
        self.store = None     # the Store it mirrors (see open and sync)
        self.generation = -1  # the vector_state generation this index reflects
        self.max_label = 0    # the highest label ever added here
        self.removals_seen = -1   # the last vector_removals id applied (-1: unknown)
        self.dropped = 0      # items the last rebuild found no vector for (re-embedded
        #                       by the next extract job, which opening requests)

    # -- persistence -----------------------------------------------------------------
    @classmethod
    def open(cls, directory: Path, model_id: str, dim: int, store,
             progress: Optional[ProgressFn] = None,
             cancel: Optional[CancelToken] = None) -> "VectorIndex":
        """Load the index from ``directory``, or rebuild it from ``store`` when the file is
        missing, corrupt, for another model/dimension, or out of step with the database.
        ``status`` tells which happened."""

        idx = cls(directory, model_id, dim)
        idx.cipher = store.file_cipher
        idx.store = store
        meta_path = idx.directory / META_FILE
        bin_path = idx.directory / INDEX_FILE
        reason = None
        if not bin_path.exists() or not meta_path.exists():
            reason = "missing"
        else:
            try:
                meta = json.loads(meta_path.read_text())
                if meta.get("model_id") != model_id or int(meta.get("dim", -1)) != dim:
                    reason = "model changed"
                elif meta.get("layout") != LAYOUT:
                    reason = _REBUILT_FOR.get(meta.get("layout"), "one entry per text now")
                else:
                    cipher = store.file_cipher
                    if meta.get("sha256") and _file_sha256(bin_path) != meta["sha256"]:
                        # hnswlib loads a damaged file without complaint and may then
                        # crash the process in a search: check before loading. (A sealed
                        # file is authenticated too; the checksum pairs it with its meta.)
                        raise ValueError("index file checksum mismatch")
                    index = _load_hnsw(bin_path, dim, int(meta.get("count", 0)), cipher)
                    if index.get_current_count() != meta.get("count"):
                        raise ValueError("index file and metadata differ")
                    index.set_ef(EF_SEARCH)
                    idx._index = index
                    idx.deleted = int(meta.get("deleted", 0))
                    idx.generation = int(meta.get("generation", -1))
                    idx.removals_seen = int(meta.get("removals_seen", -1))
                    idx.max_label = max(index.get_ids_list(), default=0)
                    idx.status = "loaded"
            except Exception as e:  # a damaged file is rebuilt, never fatal
                log.warning("vector index unreadable, rebuilding: %s", e)
                reason = "corrupt"
        if not reason:
            # another process may have indexed or removed items since the file was saved
            try:
                if idx.sync(store, progress=progress, cancel=cancel, verify=True):
                    idx.status = "caught up"
            except _OutOfStep:
                reason = "out of step with the database"
        if reason:
            idx.rebuild(store, progress=progress, cancel=cancel)
            idx.status = f"rebuilt: {reason}"
        return idx

    def sync(self, store=None, progress: Optional[ProgressFn] = None,
             cancel: Optional[CancelToken] = None, verify: bool = False) -> int:
        """Catch up with ``vector_items``: add the vectors other processes (or other code
        paths of this one) indexed since this index last looked, scrub those they removed.

        Cheap when nothing changed (one read of ``vector_state.generation``); otherwise
        reads the entries added since and the removals logged since
        (``vector_removals``, migration m518). Only when that log cannot tell (an index
        file saved before it) or ``verify`` is asked (opening) are the counts compared,
        and the whole label sets when they differ. Returns how many labels were added or
        removed. Raises _OutOfStep when the index cannot be reconciled (the caller
        rebuilds it). ``progress`` hears "catching up the vector index" when there is
        anything to add (after a killed indexing run: thousands of stored vectors,
        nothing re-embedded).
        """
        store = store or self.store
        if store is None:
            return 0
        self._sync_lock.acquire()
        try:
            conn = store.conn
            gen = _generation(conn)
            if gen is None or gen == self.generation:
                return 0
            logged = _last_removal(conn)   # read first: later removals are for next time
            ahead = conn.execute("select count(distinct vec) from vector_items where vec > ?",
                                 [self.max_label]).fetchone()[0] if progress else 0
            progress = progress if ahead else None
            changed, last = 0, self.max_label
            report(progress, "catching up the vector index", 0, ahead)
            while True:
                check(cancel)
                # the entries past the last one here (an item sharing an entry already
                # here adds nothing; one whose first item is gone still counts)
                rows = conn.execute(_ROWS_SQL + "where v.vec > ? group by v.vec "
                                    "order by v.vec limit ?",
                                    [self.model_id, last, SYNC_BATCH]).fetchall()
                if not rows:
                    break
                last = int(rows[-1][0])
                changed += self._add_rows(rows)
                report(progress, "catching up the vector index", changed, ahead)
            followed = self._follow_removals(conn)
            if followed is not None:
                changed += followed
                if not verify:
                    with self._lock:
                        self.generation = gen
                    return changed
            # compared up to the highest label seen: what another process adds
            # meanwhile is for the next call, not a difference to reconcile
            bound = max(last, self.max_label)
            expected = conn.execute("select count(distinct vec) from vector_items "
                                    "where vec <= ?", [bound]).fetchone()[0]
            if len(self) != expected:
                changed += self._reconcile(conn, bound)
            with self._lock:
                self.generation = gen
                if logged is not None:
                    self.removals_seen = max(self.removals_seen, logged)
            return changed
        finally:
            self._sync_lock.release()

    def _follow_removals(self, conn) -> Optional[int]:
        """Scrub the entries removed since this index last looked, from the
        ``vector_removals`` log; how many were here. None when the log cannot tell: the
        index does not know where it stands in it (a file saved before the log), or the
        database has none."""
        if self.removals_seen < 0:
            return None
        try:
            first = conn.execute("select min(id) from vector_removals").fetchone()[0]
            if first is not None and first > self.removals_seen + 1:
                return None      # pruned past this index (prune_removals): not all here
            rows = conn.execute("select id, vec from vector_removals where id > ? "
                                "order by id", [self.removals_seen]).fetchall()
        except Exception:  # noqa: BLE001 - an old database mid-migration
            return None
        if not rows:
            return 0
        with self._lock:
            gone = [v for _, v in rows if self._delete_live(int(v))]
            self.removals_seen = int(rows[-1][0])
            if gone:
                self.dirty = True
        self.scrub_deleted(gone)
        return len(gone)

    def catch_up_in_background(self) -> None:
        """Finish catching up on a thread of its own (one at a time; see :meth:`sync`).
        :meth:`stop_catching_up` ends it (closing the service does)."""
        with self._lock:
            if self._catcher is not None and self._catcher.is_alive():
                return
            self._stop = CancelToken()
            self._catcher = threading.Thread(target=self._catch_up, args=(self._stop,),
                                             name="secondme-vector-catch-up", daemon=True)
            self._catcher.start()

    def _catch_up(self, stop: CancelToken) -> None:
        try:
            # what waits here is the comparison of every label (an index that cannot
            # follow the removals log): at most once per RECONCILE_INTERVAL_S
            while (self.removals_seen < 0
                   and time.monotonic() < self.reconciled_at + RECONCILE_INTERVAL_S):
                check(stop)
                time.sleep(0.1)
            n = self.sync(cancel=stop)
            if n:
                log.info("vector index: caught up with %d labels in the background", n)
        except Cancelled:
            pass
        except _OutOfStep as e:
            log.warning("vector index out of step while catching up, rebuilding: %s", e)
            try:
                self.rebuild(self.store, cancel=stop)
            except Cancelled:
                pass
        except Exception:  # noqa: BLE001 - a closed store mid-way; the next open catches up
            log.exception("catching up the vector index in the background failed")

    def stop_catching_up(self, timeout: float = 30.0) -> None:
        """Stop a background catch-up and wait for it (it stops between two batches)."""
        t = self._catcher
        if t is None:
            return
        self._stop.cancel()
        t.join(timeout)
        self._catcher = None

    def _give_way(self) -> None:
        """Wait (at most :data:`GIVE_WAY_S`) while searches wait for the index lock: a
        catch-up calls this before each step, so a search waits for one step at most."""
        with self._turn:
            if self._searching:
                self._turn.wait_for(lambda: self._searching == 0, timeout=GIVE_WAY_S)

    def _add_rows(self, rows) -> int:
        n = 0
        for part in _batches(rows, ADD_STEP):
            labels = [r[0] for r in part]
            vecs = np.vstack([blob_to_vector(r[1]) for r in part])
            if vecs.shape[1] != self.dim:
                continue
            self._give_way()
            self.add(labels, vecs, threads=1)
            n += len(labels)
        return n

    def _reconcile(self, conn, bound: int, attempts: int = 3) -> int:
        """Make the live labels exactly those of ``vector_items`` up to ``bound`` (see
        :meth:`sync`).

        Compared against one read of the table: other processes keep writing (formation
        removes the vector of every note it refines), so a count read by one query and
        labels read by the next disagree, and that must not look like an index out of
        step (it made a search at 1M rebuild the whole index, minutes, again and again).
        The index lock is held only to read and mark labels, not while comparing."""
        changed = 0
        for attempt in range(attempts):
            # sorted label arrays, not sets of ints: at 1M messages two sets of ~600k
            # Python ints held ~55 MB for a moment, every RECONCILE_INTERVAL_S while
            # another process forms memories
            in_db = np.fromiter((r[0] for r in conn.execute(
                "select distinct vec from vector_items where vec <= ? order by vec",
                [bound])), dtype=np.int64)
            with self._lock:
                here = np.unique(np.asarray(self._index.get_ids_list(), dtype=np.int64))
                gone = [label for label in np.setdiff1d(here, in_db, assume_unique=True)
                        .tolist() if self._delete_live(label)]
            self.scrub_deleted(gone)
            missing = np.setdiff1d(in_db, here, assume_unique=True).tolist()
            added = 0
            for i in range(0, len(missing), 500):
                part = missing[i:i + 500]
                added += self._add_rows(conn.execute(
                    _ROWS_SQL + f"where v.vec in ({','.join('?' * len(part))}) "
                    "group by v.vec order by v.vec", [self.model_id, *part]))
            changed += len(gone) + added
            # an entry removed since the read above is simply not added: it is gone
            expected = len(in_db) - (len(missing) - added)
            if len(self) != expected and attempt == attempts - 1:
                with self._lock:   # in the database but deleted here: revive them
                    for label in np.intersect1d(in_db, here, assume_unique=True).tolist():
                        try:
                            self._index.unmark_deleted(label)
                            self.deleted -= 1
                            self._unscrubbed.discard(label)
                        except RuntimeError:
                            pass
            if len(self) == expected:
                self.dirty = True
                self.reconciled_at = time.monotonic()
                return changed
        raise _OutOfStep(f"{len(self)} vectors for {expected} entries")

    def _delete_live(self, label: int) -> bool:
        """Mark ``label`` deleted; False when it already was."""
        try:
            self._index.mark_deleted(label)
        except RuntimeError:
            return False
        self.deleted += 1
        self._unscrubbed.add(label)   # until scrub_deleted overwrites it
        return True

    def scrub_deleted(self, labels: Iterable[int]) -> None:
        """Overwrite the stored vectors of ``labels`` (already marked deleted) with noise,
        so that a removed item's fingerprint does not outlive it in this index's file.
        :data:`SCRUB_STEP` at a time, giving way to searches in between; a save meanwhile
        finishes the rest first (:meth:`save`)."""
        for part in _batches(list(labels), SCRUB_STEP):
            self._give_way()
            with self._lock:
                self._overwrite_deleted(part)

    def _overwrite_deleted(self, labels: Iterable[int]) -> None:
        """(Index lock held.) Noise over deleted ``labels``' vectors, still deleted."""
        rng = np.random.default_rng()
        for label in labels:
            label = int(label)
            noise = rng.standard_normal((1, self.dim)).astype(np.float32)
            # updating a deleted label un-deletes it with the new data...
            self._index.add_items(noise, np.array([label], dtype=np.int64))
            self._index.mark_deleted(label)  # ...so delete it again
            self._unscrubbed.discard(label)

    def save(self) -> None:
        """Write the index atomically (temp file + rename), then its metadata.

        The index lock is held only while the index is serialised: searches wait for
        that, not for the checksum, the sealing and the rename (at 1M vectors, seconds
        more; the app saves after every worker run). Saves run one at a time."""
        with self._save_lock:
            private_dir(self.directory)
            final = self.directory / INDEX_FILE
            tmp = self.directory / f"{INDEX_FILE}.{os.getpid()}.tmp"
            with self._lock:
                if self._unscrubbed:   # a catch-up still overwriting removed vectors
                    self._overwrite_deleted(list(self._unscrubbed))
                if self.cipher is not None:
                    # Encrypted store: the index (vectors are a fingerprint of the text)
                    # never touches the disk in the clear; serialised in memory, sealed.
                    import pickle

                    payload = pickle.dumps(self._index, protocol=5)
                else:
                    # a name of this process: two processes may save at the same moment
                    self._index.save_index(str(private_file(tmp)))
                meta = {"model_id": self.model_id, "dim": self.dim,
                        "count": self._index.get_current_count(), "deleted": self.deleted,
                        "generation": self.generation, "max_label": self.max_label,
                        "removals_seen": self.removals_seen,
                        "M": M, "ef_construction": int(self._index.ef_construction),
                        "layout": LAYOUT}
                self.dirty = False   # what changes from here on is for the next save
            try:
                if self.cipher is not None:
                    sealed = self.cipher.encrypt(payload, "vector index")
                    del payload
                    # pairs the metadata with its file when processes save at once
                    meta["sha256"] = hashlib.sha256(sealed).hexdigest()
                    write_private(final, sealed)
                else:
                    meta["sha256"] = _file_sha256(tmp)
                    os.replace(tmp, final)
                write_private(self.directory / META_FILE, json.dumps(meta))
            except BaseException:
                self.dirty = True
                raise

    def rebuild(self, store, progress: Optional[ProgressFn] = None,
                cancel: Optional[CancelToken] = None, batch: int = 5000) -> int:
        """Refill the index from the ``vector_items`` + ``embeddings`` tables.

        Items whose embedding for this model is missing are dropped from
        ``vector_items`` so that the indexing job embeds them again. Returns the count.
        """
        import hnswlib

        with self._lock:
            self.store = self.store or store
            generation = _generation(store.conn)   # read first: later changes sync again
            logged = _last_removal(store.conn)
            total = store.conn.execute("select count(distinct vec) from vector_items"
                                       ).fetchone()[0]
            index = hnswlib.Index(space="cosine", dim=self.dim)
            index.init_index(max_elements=max(1024, total + 1024),
                             ef_construction=EF_CONSTRUCTION, M=M)
            index.set_ef(EF_SEARCH)
            done = 0
            report(progress, "rebuilding vector index", 0, total)
            last = -1
            while True:
                check(cancel)
                rows = store.conn.execute(
                    _ROWS_SQL + "where v.vec > ? group by v.vec order by v.vec limit ?",
                    [self.model_id, last, batch]).fetchall()
                if not rows:
                    break
                labels = np.array([r[0] for r in rows], dtype=np.int64)
                vecs = np.vstack([blob_to_vector(r[1]) for r in rows])
                if vecs.shape[1] != self.dim:
                    break
                index.add_items(vecs, labels)
                last = int(labels[-1])
                done += len(rows)
                report(progress, "rebuilding vector index", done, total)
            self.dropped = total - done   # items to embed again (model changed)
            if done != total:
                with store.write() as db:
                    db.execute(
                        "delete from vector_items where not exists (select 1 from embeddings e "
                        "where e.content_hash = vector_items.content_hash and e.model_id = ?)",
                        [self.model_id])
            self._index = index
            self.deleted = 0
            self._unscrubbed.clear()   # not in the new index
            self.generation = -1 if generation is None else generation
            self.removals_seen = -1 if logged is None else logged
            self.max_label = max(last, 0)
        self.save()   # (outside the index lock: saves take the save lock first)
        return done

    # -- use -------------------------------------------------------------------------
    def __len__(self) -> int:
        with self._lock:
            return self._index.get_current_count() - self.deleted

    def add(self, labels: Sequence[int], vectors: np.ndarray, *, threads: int = -1) -> None:
        """Add vectors under ``labels`` (growing the index as needed). Not saved yet.

        ``threads``: hnswlib insertion threads (-1 = one per core). Pass 1 when the
        insertion overlaps with an embedding model using the same cores.
        """
        if len(labels) == 0:
            return
        with self._lock:
            need = self._index.get_current_count() + len(labels)
            if need > self._index.get_max_elements():
                self._index.resize_index(capacity_for(need))
            self._index.add_items(np.asarray(vectors, dtype=np.float32),
                                  np.asarray(labels, dtype=np.int64), num_threads=threads)
            self.max_label = max(self.max_label, int(max(labels)))
            self.dirty = True
        if self.on_add is not None:
            self.on_add([int(x) for x in labels])

    def remove(self, labels: Iterable[int]) -> None:
        """Mark labels deleted (hnswlib keeps the slot until a rebuild compacts it)."""
        with self._lock:
            for label in labels:
                try:
                    self._index.mark_deleted(int(label))
                    self.deleted += 1
                except RuntimeError:
                    pass  # already deleted or never added
            self.dirty = True

    def scrub(self, labels: Iterable[int]) -> None:
        """Remove ``labels`` for good: overwrite their stored vectors with noise, deleted.

        ``mark_deleted`` alone keeps a vector in memory and in the saved file; a person
        who deletes a source expects its fingerprint gone too (privacy). Labels already
        marked deleted are overwritten as well. Not saved yet.
        """
        with self._lock:
            found = []
            for label in labels:
                label = int(label)
                try:
                    self._index.mark_deleted(label)
                    self.deleted += 1
                except RuntimeError as e:
                    if "not found" in str(e).lower():
                        continue  # never added: nothing to overwrite
                    # else: deleted before; its vector is still stored
                found.append(label)
            self._overwrite_deleted(found)
            self.dirty = True

    def search(self, vector: np.ndarray, k: int,
               filter: Optional[Callable[[int], bool]] = None) -> list[tuple[int, float]]:
        """The ``k`` nearest labels to ``vector`` as (label, cosine distance), best first,
        of what is loaded. When other processes indexed or removed items since
        (:meth:`sync`), a background thread then catches up (:meth:`catch_up_in_background`):
        the next searches find them. Labels removed meanwhile may still come back; they
        name no item any more (``vector_items``)."""
        store = self.store
        try:
            moved_on = store is not None and _generation(store.conn) not in (
                None, self.generation)
        except Exception:  # noqa: BLE001 - a closed store: search what is loaded
            moved_on = False
        try:
            return self._search_loaded(vector, k, filter)
        finally:
            if moved_on:
                self.catch_up_in_background()

    def _search_loaded(self, vector: np.ndarray, k: int,
                       filter: Optional[Callable[[int], bool]]) -> list[tuple[int, float]]:
        with self._turn:
            self._searching += 1   # a catch-up waits before its next step (_give_way)
        try:
            with self._lock:
                n = len(self)
                if n == 0:
                    return []
                k = min(k, n)
                q = np.asarray(vector, dtype=np.float32)
                while True:
                    self._index.set_ef(max(EF_SEARCH, k))
                    try:
                        labels, dists = self._index.knn_query(q, k=k, filter=filter)
                        break
                    except RuntimeError as e:
                        # hnswlib found fewer than k: a filter, many deleted labels, or an
                        # index another process is rebuilding. Fewer results, never a
                        # failed search.
                        if "contiguous 2D array" not in str(e):
                            raise
                        if k == 1:
                            return []
                        k //= 2
        finally:
            with self._turn:
                self._searching -= 1
                self._turn.notify_all()
        return [(int(l), float(d)) for l, d in zip(labels[0], dists[0])]

    def exact_search(self, store, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Brute-force search over the stored embeddings (for measuring HNSW recall)."""
        rows = store.conn.execute(
            "select v.label, e.vector from vector_items v join embeddings e "
            "on e.content_hash = v.content_hash and e.model_id = ?", [self.model_id]).fetchall()
        if not rows:
            return []
        labels = np.array([r[0] for r in rows])
        mat = np.vstack([blob_to_vector(r[1]) for r in rows])
        q = np.asarray(vector, dtype=np.float32)
        sims = mat @ q / (np.linalg.norm(mat, axis=1) * np.linalg.norm(q) + 1e-12)
        top = np.argsort(-sims)[:k]
        return [(int(labels[i]), float(1 - sims[i])) for i in top]
