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
