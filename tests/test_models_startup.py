"""`secondme --version` imports none of the heavy libraries (and is quick)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
import bench_models_startup as bench  # noqa: E402

sys.path.pop(0)


def test_version_imports_no_torch_llama_sentence_transformers_or_qt():
    loaded = bench.modules_loaded_by_version()
    assert "secondme" in loaded and "click" in loaded  # the probe did run the CLI
    assert not loaded & {"torch", "llama_cpp", "sentence_transformers", "PySide6",
                         "shiboken6", "transformers"}, loaded


def test_version_prints_the_version():
    from secondme import __version__

    r = subprocess.run(bench.version_command(), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0
    assert r.stdout.strip() == f"secondme {__version__}"


def test_version_is_quick():
    """Generous bound for a loaded CI machine; the benchmark measures the 300 ms target."""
    times = bench.wall_times(bench.version_command(), 3)
    assert min(times) < 1.5, times
