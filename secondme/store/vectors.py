"""The vector index: hnswlib, persisted beside the database.

Files: ``<home>/vectors/index.bin`` (hnswlib) and ``index.json`` (model id, dimension,
element count, deleted count). The database is the source of truth: the
``vector_items`` table maps each hnswlib label to an item, and ``embeddings`` holds every
vector by content hash. A missing, corrupt or mismatched index file is therefore never
fatal: :meth:`VectorIndex.open` rebuilds it from the database (with progress) without
recomputing a single embedding.

Thread-safety: all methods take an internal lock; searches are short, adds are batched.
"""
from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

import numpy as np

from ..progress import CancelToken, ProgressFn, check, report

log = logging.getLogger(__name__)

INDEX_FILE = "index.bin"
META_FILE = "index.json"
M = 16
EF_CONSTRUCTION = 200
EF_SEARCH = 96


def vector_to_blob(v: np.ndarray) -> bytes:
    return np.asarray(v, dtype="<f4").tobytes()


def blob_to_vector(b: bytes) -> np.ndarray:
    return np.frombuffer(b, dtype="<f4")


def _file_sha256(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _load_hnsw(path: Path, dim: int, count: int, cipher):
    """Read an index file: plain hnswlib, or (encrypted store) a sealed pickle of one.

    The pickle is only unpickled after AES-GCM authenticated it, i.e. it was written by
    this store's key holder.
    """
    import hnswlib

    capacity = max(1024, count * 2)
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


class VectorIndex:
    """An hnswlib cosine index of ``dim``-dimensional vectors made by ``model_id``."""

    def __init__(self, directory: Path, model_id: str, dim: int):
        import hnswlib

        self.directory = Path(directory)
        self.model_id = model_id
        self.dim = dim
        self.deleted = 0
        self._lock = threading.RLock()
        self._index = hnswlib.Index(space="cosine", dim=dim)
        self._index.init_index(max_elements=1024, ef_construction=EF_CONSTRUCTION, M=M,
                               allow_replace_deleted=False)
        self._index.set_ef(EF_SEARCH)
        self.dirty = False
        self.max_label = 0    # the largest label ever added (a kill is caught up from it)
        self.status = "new"   # new | loaded | caught up | rebuilt: <reason>
        self.cipher = None    # a FileCipher when the store is encrypted (see open)

    # -- persistence -----------------------------------------------------------------
    @classmethod
    def open(cls, directory: Path, model_id: str, dim: int, store,
             progress: Optional[ProgressFn] = None,
             cancel: Optional[CancelToken] = None) -> "VectorIndex":
        """Load the index from ``directory``, or rebuild it from ``store`` when the file is
        missing, corrupt, for another model/dimension, or out of step with the database.
        A file that is only behind (an indexing run was stopped after its last save) is
        caught up from the stored embeddings instead of rebuilt. ``status`` tells which
        happened."""

        idx = cls(directory, model_id, dim)
        idx.cipher = store.file_cipher
        meta_path = idx.directory / META_FILE
        bin_path = idx.directory / INDEX_FILE
        expected = store.conn.execute("select count(*) from vector_items").fetchone()[0]
        reason = None
        if not bin_path.exists() or not meta_path.exists():
            reason = "missing"
        else:
            try:
                meta = json.loads(meta_path.read_text())
                if meta.get("model_id") != model_id or int(meta.get("dim", -1)) != dim:
                    reason = "model changed"
                else:
                    cipher = store.file_cipher
                    if cipher is None and meta.get("sha256") and \
                            _file_sha256(bin_path) != meta["sha256"]:
                        # hnswlib loads a damaged file without complaint and may then
                        # crash the process in a search: check before loading.
                        raise ValueError("index file checksum mismatch")
                    index = _load_hnsw(bin_path, dim, int(meta.get("count", 0)), cipher)
                    live = index.get_current_count() - int(meta.get("deleted", 0))
                    behind = idx._appended_since(store, meta)
                    if index.get_current_count() != meta.get("count"):
                        reason = "out of step with the database"
                    elif live == expected:
                        idx._adopt(index, meta, "loaded")
                    elif behind is not None and live + behind == expected:
                        # an indexing run stopped (killed) after its last save: add the
                        # items it recorded since, from their stored embeddings
                        idx._adopt(index, meta, "caught up")
                        idx._catch_up(store, int(meta["max_label"]), behind,
                                      progress, cancel)
                    else:
                        reason = "out of step with the database"
            except Exception as e:  # a damaged file is rebuilt, never fatal
                log.warning("vector index unreadable, rebuilding: %s", e)
                reason = "corrupt"
        if reason:
            idx.rebuild(store, progress=progress, cancel=cancel)
            idx.status = f"rebuilt: {reason}"
        return idx

    def _adopt(self, index, meta: dict, status: str) -> None:
        index.set_ef(EF_SEARCH)
        self._index = index
        self.deleted = int(meta.get("deleted", 0))
        self.max_label = int(meta.get("max_label", 0))
        self.status = status

    @staticmethod
    def _appended_since(store, meta: dict) -> Optional[int]:
        """How many ``vector_items`` were recorded after the saved file's last label
        (None when the file predates that bookkeeping)."""
        if "max_label" not in meta:
            return None
        return store.conn.execute("select count(*) from vector_items where label > ?",
                                  [int(meta["max_label"])]).fetchone()[0]

    def _catch_up(self, store, after: int, total: int,
                  progress: Optional[ProgressFn], cancel: Optional[CancelToken],
                  batch: int = 5000) -> None:
        report(progress, "catching up the vector index", 0, total)
        done = 0
        for labels, vecs in self._stored_vectors(store, after, batch, cancel):
            self.add(labels, vecs)
            done += len(labels)
            report(progress, "catching up the vector index", done, total)
        if done != total:  # an embedding went missing: only a rebuild can tell which
            raise ValueError("stored embeddings missing for recorded items")
        self.save()

    def _stored_vectors(self, store, after: int, batch: int,
                        cancel: Optional[CancelToken]):
        """(labels, vectors) of ``vector_items`` with label > ``after``, in label order,
        ``batch`` at a time, from the embeddings of this model."""
        last = after
        while True:
            check(cancel)
            rows = store.conn.execute(
                "select v.label, e.vector from vector_items v "
                "join embeddings e on e.content_hash = v.content_hash and e.model_id = ? "
                "where v.label > ? order by v.label limit ?",
                [self.model_id, last, batch]).fetchall()
            if not rows:
                return
            labels = np.array([r[0] for r in rows], dtype=np.int64)
            vecs = np.vstack([blob_to_vector(r[1]) for r in rows])
            if vecs.shape[1] != self.dim:
                return
            yield labels, vecs
            last = int(labels[-1])

    def save(self) -> None:
        """Write the index atomically (temp file + rename), then its metadata."""
        with self._lock:
            self.directory.mkdir(parents=True, exist_ok=True)
            if self.cipher is not None:
                # Encrypted store: the index (vectors are a fingerprint of the text) never
                # touches the disk in the clear; it is serialised in memory, then sealed.
                import pickle

                self.cipher.write_file(self.directory / INDEX_FILE,
                                       pickle.dumps(self._index, protocol=5), "vector index")
            else:
                tmp = self.directory / (INDEX_FILE + ".tmp")
                self._index.save_index(str(tmp))
                os.replace(tmp, self.directory / INDEX_FILE)
            meta = {"model_id": self.model_id, "dim": self.dim,
                    "count": self._index.get_current_count(), "deleted": self.deleted,
                    "max_label": self.max_label,
                    "M": M, "ef_construction": EF_CONSTRUCTION}
            if self.cipher is None:  # the sealed file is authenticated by AES-GCM instead
                meta["sha256"] = _file_sha256(self.directory / INDEX_FILE)
            tmpm = self.directory / (META_FILE + ".tmp")
            tmpm.write_text(json.dumps(meta))
            os.replace(tmpm, self.directory / META_FILE)
            self.dirty = False

    def rebuild(self, store, progress: Optional[ProgressFn] = None,
                cancel: Optional[CancelToken] = None, batch: int = 5000) -> int:
        """Refill the index from the ``vector_items`` + ``embeddings`` tables.

        Items whose embedding for this model is missing are dropped from
        ``vector_items`` so that the indexing job embeds them again. Returns the count.
        """
        import hnswlib

        with self._lock:
            total = store.conn.execute("select count(*) from vector_items").fetchone()[0]
            index = hnswlib.Index(space="cosine", dim=self.dim)
            index.init_index(max_elements=max(1024, total + 1024),
                             ef_construction=EF_CONSTRUCTION, M=M)
            index.set_ef(EF_SEARCH)
            done = 0
            max_label = 0
            report(progress, "rebuilding vector index", 0, total)
            for labels, vecs in self._stored_vectors(store, -1, batch, cancel):
                index.add_items(vecs, labels)
                max_label = int(labels[-1])
                done += len(labels)
                report(progress, "rebuilding vector index", done, total)
            if done != total:
                with store.write() as db:
                    db.execute(
                        "delete from vector_items where not exists (select 1 from embeddings e "
                        "where e.content_hash = vector_items.content_hash and e.model_id = ?)",
                        [self.model_id])
            self._index = index
            self.deleted = 0
            self.max_label = max_label
            self.save()
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
                self._index.resize_index(max(need, self._index.get_max_elements() * 2))
            labels = np.asarray(labels, dtype=np.int64)
            self._index.add_items(np.asarray(vectors, dtype=np.float32), labels,
                                  num_threads=threads)
            self.max_label = max(self.max_label, int(labels.max()))
            self.dirty = True

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
        rng = np.random.default_rng()
        with self._lock:
            for label in labels:
                label = int(label)
                try:
                    self._index.mark_deleted(label)
                    self.deleted += 1
                except RuntimeError as e:
                    if "not found" in str(e).lower():
                        continue  # never added: nothing to overwrite
                    # else: deleted before; its vector is still stored
                noise = rng.standard_normal((1, self.dim)).astype(np.float32)
                # updating a deleted label un-deletes it with the new data...
                self._index.add_items(noise, np.array([label], dtype=np.int64))
                self._index.mark_deleted(label)  # ...so delete it again
            self.dirty = True

    def search(self, vector: np.ndarray, k: int,
               filter: Optional[Callable[[int], bool]] = None) -> list[tuple[int, float]]:
        """The ``k`` nearest labels to ``vector`` as (label, cosine distance), best first."""
        with self._lock:
            n = len(self)
            if n == 0:
                return []
            k = min(k, n)
            self._index.set_ef(max(EF_SEARCH, k))
            labels, dists = self._index.knn_query(np.asarray(vector, dtype=np.float32), k=k,
                                                  filter=filter)
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
