"""The shape of the project: core without Qt, packages all listed, cheap imports."""
from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("PySide6", "torch", "llama_cpp", "sentence_transformers")


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys\n"
                          "print('\\n'.join(sorted(sys.modules)))"],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    return set(out.stdout.split())


def test_core_import_loads_no_qt():
    mods = _modules_after("import secondme, secondme.service, secondme.cli")
    loaded = {m.split(".")[0] for m in mods}
    assert "PySide6" not in loaded and "shiboken6" not in loaded


def test_core_import_loads_no_heavy_model_libraries():
    mods = _modules_after("import secondme, secondme.service, secondme.cli")
    loaded = {m.split(".")[0] for m in mods}
    assert not loaded & set(HEAVY), loaded & set(HEAVY)


def test_core_source_never_imports_qt():
    for path in (ROOT / "secondme").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for bad in ("import PySide6", "from PySide6", "import PyQt", "from PyQt"):
            assert bad not in text, f"{path.relative_to(ROOT)} mentions {bad}"
        # the app registers itself as an entry point; the core never names its package
        for line in text.splitlines():
            assert not re.match(r"\s*(from|import)\s+secondme_ui", line), \
                f"{path.relative_to(ROOT)} imports the UI"


def test_every_package_is_listed_in_pyproject():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(cfg["tool"]["setuptools"]["packages"])
    found = set()
    for init in (ROOT / "secondme").rglob("__init__.py"):
        found.add(".".join(init.parent.relative_to(ROOT).parts))
    for init in (ROOT / "ui").rglob("__init__.py"):
        rel = init.parent.relative_to(ROOT / "ui").parts
        found.add(".".join(("secondme_ui", *rel)))
    missing = found - listed
    assert not missing, f"add these to [tool.setuptools] packages: {sorted(missing)}"


def test_no_top_level_ui_package_installed():
    """`ui` must never be importable as a top-level package from an installed secondme."""
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "ui" not in cfg["tool"]["setuptools"]["packages"]
    assert cfg["tool"]["setuptools"]["package-dir"]["secondme_ui"] == "ui"


# -- the desktop app's contract with the core (issue 12) ---------------------------------
UI_MAY_IMPORT = {"secondme.service", "secondme.api", "secondme.errors", "secondme.progress"}


def _core_modules_imported(path: Path) -> set[str]:
    """The ``secondme`` modules a file imports, at any level (TYPE_CHECKING included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "secondme":  # from secondme import x: x is a module
                found |= {f"secondme.{a.name}" for a in node.names}
            else:
                found.add(node.module)
    return {m for m in found if m == "secondme" or m.startswith("secondme.")}


def test_ui_imports_only_the_service_api_errors_and_progress():
    """The app sees the core through the service and its typed surface only; every
    other module of secondme is the core's own business."""
    bad = {}
    for path in (ROOT / "ui").rglob("*.py"):
        wrong = _core_modules_imported(path) - UI_MAY_IMPORT
        if wrong:
            bad[str(path.relative_to(ROOT))] = sorted(wrong)
        assert "importlib" not in path.read_text(encoding="utf-8"), path
    assert not bad, f"the UI may import only {sorted(UI_MAY_IMPORT)}: {bad}"
