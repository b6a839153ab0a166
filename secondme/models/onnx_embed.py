"""all-MiniLM-L6-v2 on ONNX Runtime: the fast embedder, and the one that needs no torch.

A *model folder* holds everything the embedder needs at run time:

* ``model.onnx`` — the transformer with mean pooling and L2 normalisation inside the
  graph (inputs ``input_ids`` and ``attention_mask``, int64 (batch, tokens); output
  ``embedding``, float32 (batch, 384));
* ``tokenizer.json`` — the model's own WordPiece tokenizer (the ``tokenizers`` library);
* ``manifest.json`` — model id, dimension, maximum tokens, and the sha256 of both files.

:class:`OnnxEmbedder` loads such a folder with only ``onnxruntime``, ``tokenizers`` and
``numpy``; :func:`export_onnx` (in :mod:`secondme.models.onnx_export`, which needs torch
and onnx) writes one from the bundled sentence-transformers weights. The vectors are the
ones sentence-transformers computes (float32 all the way; a test compares them), so both
backends share one ``model_id`` and one vector index.

Where a folder comes from (:func:`find_onnx_model`): ``$SECONDME_EMBEDDING_ONNX_DIR``,
then the desktop bundle's ``models/`` folder, then the data dir's cache
``<home>/models/all-MiniLM-L6-v2-onnx`` (written on first use by exporting).

Thread-safety: :meth:`OnnxEmbedder.embed` may be called from any thread; calls are
serialised (one call already keeps every core busy: its batches run side by side).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..errors import ModelError
from ..paths import open_private

log = logging.getLogger(__name__)

ONNX_DIRNAME = "all-MiniLM-L6-v2-onnx"
MANIFEST = "manifest.json"
MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
# bump when the folder's layout or the graph's contract changes; 2: int8 weights (a
# format-1 folder in the data dir is exported again, and the vector index rebuilt)
FORMAT = 2
PRECISION = "int8"
ENV_DIR = "SECONDME_EMBEDDING_ONNX_DIR"
ENV_THREADS = "SECONDME_EMBEDDING_THREADS"
# Rows and padded tokens per model call. Texts are sorted by length first, so a batch
# holds texts of about one length. Small calls are faster on CPU: a call's activations
# stay in cache. Measured on 2 cores (240 and 1,000 chat messages, ~42 tokens each):
# 8192 tokens/128 rows 3.03 s, 2048/64 1.89 s, 1024/32 1.69 s, 512/32 1.63 s (torch's
# encode at batch 32: 2.43 s); smaller than 512 gains nothing.
MAX_ROWS = 32
MAX_TOKENS = 512


def model_id_for(model: str, precision: str) -> str:
    """The id vectors are stored under: ``all-MiniLM-L6-v2`` (float32, the same vectors
    as sentence-transformers) or ``all-MiniLM-L6-v2+int8``."""
    return model if precision == "fp32" else f"{model}+{precision}"


def base_model_id(model_id: str) -> str:
    """``all-MiniLM-L6-v2+int8`` → ``all-MiniLM-L6-v2``."""
    return model_id.split("+", 1)[0]


def default_threads() -> int:
    """Model calls run at once: one per physical core (``$SECONDME_EMBEDDING_THREADS``
    wins).

    Hyper-threads share a core's vector units: a second thread per core adds
    synchronisation, not arithmetic, for these matrix products.
    """
    env = os.environ.get(ENV_THREADS, "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        import psutil

        n = psutil.cpu_count(logical=False)
    except Exception:
        n = None
    return max(1, min(8, n or os.cpu_count() or 1))


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_manifest(folder: Path) -> dict:
    """The folder's manifest, its files checked against their sha256.

    A check is remembered in ``.verified`` by each file's size and modification time, so
    later starts cost a ``stat``, not hashing 90 MB. Raises ModelError naming the folder
    and the problem when a file is missing, damaged or of another format.
    """
    folder = Path(folder)
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ModelError("the exported embedding model has no readable manifest",
                         path=folder) from e
    if manifest.get("format") != FORMAT:
        raise ModelError(f"the exported embedding model is of format "
                         f"{manifest.get('format')!r}, this version reads {FORMAT}",
                         path=folder)
    stamp_path = folder / ".verified"
    stamps = {}
    for name in (MODEL_FILE, TOKENIZER_FILE):
        try:
            st = (folder / name).stat()
        except OSError as e:
            raise ModelError(f"the exported embedding model lacks {name}", path=folder) from e
        stamps[name] = [st.st_size, st.st_mtime_ns]
    try:
        if json.loads(stamp_path.read_text()) == stamps:
            return manifest
    except (OSError, ValueError):
        pass
    for name in (MODEL_FILE, TOKENIZER_FILE):
        if file_sha256(folder / name) != manifest.get("sha256", {}).get(name):
            raise ModelError(f"the exported embedding model's {name} is damaged "
                             f"(checksum mismatch)", path=folder)
    try:
        with open_private(stamp_path) as f:
            f.write(json.dumps(stamps))
    except OSError:
        pass  # a read-only bundle: verified again next time, which is only slower
    return manifest


def bundle_dir() -> Optional[Path]:
    """The desktop bundle's exported model, when running frozen (PyInstaller)."""
    base = getattr(sys, "_MEIPASS", None)
    if not getattr(sys, "frozen", False) or not base:
        return None
    return Path(base) / "models" / ONNX_DIRNAME


def find_onnx_model(models_dir: Optional[Path]) -> Optional[Path]:
    """The first usable exported-model folder, or None (then the caller exports one).

    ``$SECONDME_EMBEDDING_ONNX_DIR`` must be valid if set (a ModelError says why not);
    the bundle's and the data dir's are used when their manifest checks out.
    """
    env = os.environ.get(ENV_DIR, "").strip()
    if env:
        read_manifest(Path(env).expanduser())
        return Path(env).expanduser()
    for cand in (bundle_dir(), models_dir / ONNX_DIRNAME if models_dir else None):
        if cand is not None and (cand / MANIFEST).exists():
            try:
                read_manifest(cand)
                return cand
            except ModelError as e:
                log.warning("ignoring the exported embedding model: %s", e)
    return None


def plan_batches(lengths: np.ndarray, max_rows: int = MAX_ROWS,
                 max_tokens: int = MAX_TOKENS) -> list[np.ndarray]:
    """Row indices grouped into model calls: longest texts first, each call within
    ``max_rows`` rows and ``max_tokens`` padded tokens (at least one row)."""
    order = np.argsort(-np.asarray(lengths), kind="stable")
    out, start = [], 0
    while start < len(order):
        longest = int(lengths[order[start]])
        rows = max(1, min(max_rows, max_tokens // max(1, longest)))
        out.append(order[start:start + rows])
        start += rows
    return out


def _session(model_path: Path, threads: int = 1):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Spinning threads burn the cores they wait on; on a laptop that also runs the
    # window, the import and the database that is time taken from them, for ~no gain.
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    # with one intra-op thread a run computes on its caller's thread, and runs of one
    # session may go concurrently (weights shared): how OnnxEmbedder uses the cores
    so.log_severity_level = 3
    return ort.InferenceSession(str(model_path), so, providers=["CPUExecutionProvider"])


class OnnxEmbedder:
    """An exported sentence embedding model on ONNX Runtime (CPU)."""

    backend = "onnx"

    def __init__(self, folder: Path, *, threads: Optional[int] = None,
                 max_rows: int = MAX_ROWS, max_tokens: int = MAX_TOKENS):
        self.path = Path(folder)
        manifest = read_manifest(self.path)
        self.precision = manifest.get("precision", "fp32")
        # int8 vectors are close to, not equal to, sentence-transformers': their own id,
        # so the index and the embedding cache never mix the two
        self.model_id = model_id_for(manifest["model_id"], self.precision)
        self.dim = int(manifest["dim"])
        self.max_length = int(manifest.get("max_length", 256))
        self.threads = threads or default_threads()
        self.max_rows = max_rows
        self.max_tokens = max_tokens
        self._lock = threading.Lock()
        self._pool: Optional[ThreadPoolExecutor] = None
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        try:
            from tokenizers import Tokenizer

            tok = Tokenizer.from_file(str(self.path / TOKENIZER_FILE))
            tok.no_padding()
            tok.enable_truncation(self.max_length)
            self._tokenizer = tok
            # Batches run side by side, one per core, each single-threaded — rather than
            # one batch at a time split across the cores. A chat batch is a few small
            # matrix products; splitting each across threads costs a barrier per
            # operator. Measured on 2 cores, 300 chat messages, same vectors to the bit:
            # 2 runs x 1 thread 10.9-11.1 s vs 1 run x 2 threads 12.4-13.4 s (1.13-1.21x).
            self._session = _session(self.path / MODEL_FILE, 1)
        except ImportError as e:
            raise ModelError(f"the fast embedding backend needs {e.name}; reinstall "
                             f"secondme") from e
        except Exception as e:
            raise ModelError(f"cannot load the exported embedding model: {e}",
                             path=self.path) from e

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised float32 vectors, shape (len(texts), dim), in input order."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            encodings = self._tokenizer.encode_batch(list(texts))
            ids = [e.ids for e in encodings]
            lengths = np.fromiter((len(i) for i in ids), dtype=np.int64, count=len(ids))
            out = np.empty((len(texts), self.dim), dtype=np.float32)
            batches = plan_batches(lengths, self.max_rows, self.max_tokens)
            lanes = min(self.threads, len(batches))

            def lane(k: int) -> None:
                # batches are longest first: lane k takes k, k+lanes, ... so the lanes
                # get about the same number of tokens and finish together
                for rows in batches[k::lanes]:
                    out[rows] = self._run(rows, ids, lengths)

            if lanes <= 1:
                lane(0)
            else:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(self.threads,
                                                    thread_name_prefix="secondme-onnx")
                for f in [self._pool.submit(lane, k) for k in range(lanes)]:
                    f.result()
        return out

    def _run(self, rows: np.ndarray, ids: list, lengths: np.ndarray) -> np.ndarray:
        """One model call on ``rows`` (padded to the longest of them); releases the GIL
        while the model computes, so several may run at once."""
        width = int(lengths[rows].max())
        input_ids = np.zeros((len(rows), width), dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for j, r in enumerate(rows):
            n = int(lengths[r])
            input_ids[j, :n] = ids[r]
            mask[j, :n] = 1
        return self._session.run(None, {"input_ids": input_ids, "attention_mask": mask})[0]
