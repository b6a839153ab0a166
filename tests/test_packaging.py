"""Packaging: the desktop entry, AppStream metainfo and icons are valid, and the
PyInstaller one-folder bundle builds and starts (CLI, doctor, encrypted store, offscreen
window)."""
from __future__ import annotations

import configparser
import json
import os
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
FIXTURE = ROOT / "tests" / "fixtures" / "privacy" / "trips.json"


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
def test_pyinstaller_bundle_builds_and_starts(tmp_path):
    """Builds the lite bundle (no torch/llama.cpp: see the spec) and runs it."""
    env = {**os.environ, "SECONDME_BUNDLE_MODELS": "0"}
    dist, work = tmp_path / "dist", tmp_path / "build"
    r = subprocess.run([sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level",
                        "WARN", "--distpath", str(dist), "--workpath", str(work),
                        str(PKG / "secondme.spec")],
                       capture_output=True, text=True, env=env, timeout=900, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    exe = dist / "secondme" / "secondme"
    assert exe.exists()
    run_env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    run_env.update(QT_QPA_PLATFORM="offscreen", PYTHON_KEYRING_BACKEND=
                   "keyring.backends.fail.Keyring", SECONDME_PASSPHRASE="bundle passphrase")

    def run(*args, **kw):
        return subprocess.run([str(exe), *args], capture_output=True, text=True,
                              env={**run_env, **kw.pop("env", {})}, timeout=180, **kw)

    r = run("--version")
    assert r.returncode == 0 and r.stdout.strip() == "secondme 0.1.0"
    home = tmp_path / "home"
    r = run("--home", str(home), "init", "--encrypt")
    assert r.returncode == 0, r.stderr  # SQLCipher and cryptography are in the bundle
    r = run("--home", str(home), "import", str(FIXTURE))
    assert r.returncode == 0, r.stderr
    r = run("--home", str(home), "doctor", "--json")
    rep = json.loads(r.stdout)
    assert rep["counts"]["messages"] == 4 and rep["integrity"] == "ok"
    r = run("--home", str(home), env={"SECONDME_UI_PAINT_PROBE": "1",
                                      "SECONDME_UI_NO_DIALOGS": "1"})
    assert r.returncode == 0, r.stderr[-2000:]
    assert "FIRST_PAINT" in r.stdout


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
