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


# -- the code map (issue 12) ---------------------------------------------------------------
CORE = ROOT / "secondme"


def _core_modules() -> dict[str, Path]:
    mods = {}
    for p in CORE.rglob("*.py"):
        parts = list(p.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = p
    return mods


def _imports(name: str, path: Path, mods: dict[str, Path]) -> set[str]:
    """Modules of the package that ``name`` imports anywhere (also inside functions),
    except under ``if TYPE_CHECKING:``."""
    import ast

    is_pkg = path.name == "__init__.py"

    def resolve(node) -> list[str]:
        if isinstance(node, ast.Import):
            return [a.name for a in node.names if a.name in mods]
        base = name.split(".") if is_pkg else name.split(".")[:-1]
        if node.level:
            base = base[:len(base) - (node.level - 1)]
            mod = ".".join(base + ([node.module] if node.module else []))
        else:
            mod = node.module or ""
        out = []
        for a in node.names:
            if f"{mod}.{a.name}" in mods:
                out.append(f"{mod}.{a.name}")
            elif mod in mods:
                out.append(mod)
        return out

    found: set[str] = set()

    def visit(node) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.update(resolve(node))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    found.discard(name)
    return found


def test_no_import_cycles_counting_function_level_imports():
    mods = _core_modules()
    graph = {m: _imports(m, p, mods) for m, p in mods.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def strongconnect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))
    for v in graph:
        if v not in index:
            strongconnect(v)
    assert not cycles, f"import cycles: {cycles}"


def test_nothing_below_the_service_imports_the_service_or_the_cli():
    mods = _core_modules()
    top = {"secondme.service", "secondme.__main__"}
    offenders = []
    for m, p in mods.items():
        if m in top or m == "secondme.cli" or m.startswith("secondme.cli."):
            continue
        bad = {i for i in _imports(m, p, mods)
               if i == "secondme.service" or i == "secondme.cli" or i.startswith("secondme.cli.")}
        if bad:
            offenders.append(f"{m} imports {sorted(bad)}")
    assert not offenders, offenders


def test_no_function_in_the_core_is_longer_than_120_lines():
    import ast

    long = []
    for p in CORE.rglob("*.py"):
        for n in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = n.end_lineno - n.lineno + 1
                if lines > 120:
                    long.append(f"{p.relative_to(ROOT)}:{n.lineno} {n.name} ({lines} lines)")
    assert not long, long


# one writer per table family (docs/ENGINEERING.md): the SQL that changes these tables
# appears only in the family's module (migrations create and convert them)
WRITERS = {
    ("notes", "note_sources", "links", "history"): "secondme/memory/notes/",
    ("conversations", "messages", "documents"): "secondme/ingest/pipeline.py",
}
_WRITE_SQL = re.compile(r"(?:insert(?:\s+or\s+\w+)?\s+into|replace\s+into|update|delete\s+from)"
                        r"\s+[\"']?(\w+)\b", re.IGNORECASE)


def test_one_writer_per_table_family():
    owner = {t: where for tables, where in WRITERS.items() for t in tables}
    found = []
    for p in CORE.rglob("*.py"):
        rel = p.relative_to(ROOT).as_posix()
        if rel == "secondme/store/migrations.py":
            continue
        for no, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
            for table in _WRITE_SQL.findall(line):
                where = owner.get(table.lower())
                if where and not rel.startswith(where):
                    found.append(f"{rel}:{no} writes {table} (only {where} may)")
    assert not found, "\n".join(found)


PROBES = (
    # every area is always present: nothing looks for parts of the app at run time
    (re.compile(r"import_module\(\s*f?[\"']secondme"), "imports an app module by name"),
    (re.compile(r"in this build"), "talks about parts missing from 'this build'"),
    (re.compile(r"\b(hasattr|getattr)\((self|sm|service)\s*,\s*[\"']"),
     "probes the service for an attribute"),
)


def test_no_probing_for_parts_of_the_app():
    found = []
    for folder in ("secondme", "ui", "tests"):
        for p in (ROOT / folder).rglob("*.py"):
            if p.name == "test_layout.py":
                continue
            for no, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
                for pattern, what in PROBES:
                    # a test may walk the app's modules on purpose (tests/test_cli.py)
                    if folder == "tests" and "import_module" in pattern.pattern:
                        continue
                    if pattern.search(line):
                        found.append(f"{p.relative_to(ROOT)}:{no} {what}: {line.strip()}")
    assert not found, "\n".join(found)


def test_hard_dependencies_are_never_skipped():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())
    deps = cfg["project"]["dependencies"] + cfg["project"]["optional-dependencies"]["test"]
    names = {re.split(r"[<>=!~\[ ;]", d, maxsplit=1)[0].lower().replace("-", "_")
             for d in deps}
    import_names = names | {"pyside6", "pytestqt", "sqlcipher3", "pyinstaller", "mcp"}
    skipped = []
    for p in (ROOT / "tests").rglob("*.py"):
        for no, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
            m = re.search(r"importorskip\(\s*[\"']([\w.]+)", line)
            if m and m.group(1).split(".")[0].lower() in import_names:
                skipped.append(f"{p.relative_to(ROOT)}:{no} {line.strip()}")
    assert not skipped, skipped


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
