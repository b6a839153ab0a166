"""What a benchmark ran on, for its result file.

The embedding figures depend on the processor more than on anything the app does:
int8 matrix products run on AVX-512 VNNI where the CPU has it and on plain AVX2
otherwise (measured: ``secondme index`` 2.7× sentence-transformers on a Zen 4 with
VNNI, 1.25–1.6× on an AVX2-only host of the same 2-core class). A figure without the
CPU beside it cannot be compared with the next run's.
"""
from __future__ import annotations

import os
import platform

# the flags int8 and float32 inference pick their kernels by
FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "amx_int8")


def cpu() -> dict:
    """Model name, family/model and the vector-extension flags present (Linux; other
    systems get what ``platform`` knows)."""
    info: dict = {"cpus": os.cpu_count(), "machine": platform.machine()}
    try:
        text = open("/proc/cpuinfo", encoding="utf-8", errors="replace").read()
    except OSError:
        info["model_name"] = platform.processor() or None
        return info
    first = text.split("\n\n", 1)[0]
    fields = {}
    for line in first.splitlines():
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    have = set(fields.get("flags", "").split())
    info.update(model_name=fields.get("model name"), family=fields.get("cpu family"),
                model=fields.get("model"), flags=[f for f in FLAGS if f in have])
    return info


def git_head(root=None) -> str | None:
    """The commit the benchmark ran (with ``+dirty`` when the tree has changes), so a
    record says which code it measured; ``root``: another checkout's."""
    import subprocess
    root = root or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root,
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+dirty" if dirty else "")
