#!/usr/bin/env python3
"""Build the desktop bundle: the one-folder app (PyInstaller) and its tarball.

    python packaging/build.py            # -> dist/secondme-<version>-linux-<arch>.tar.gz
    python packaging/build.py --check    # ... then run it scrubbed, offline (check_bundle.py)
    python packaging/build.py --lite     # no models (SECONDME_BUNDLE_MODELS=0): quick checks

Run it with the Python of a full install (``.venv/bin/python`` after
``packaging/bootstrap.py install``, plus ``pip install 'pyinstaller>=6.3'``): the bundle
is made of what that environment holds. Nothing is downloaded.

Steps:
1. PyInstaller builds ``packaging/secondme.spec`` into ``build/bundle/app/secondme/``
   (``build/bundle/work`` keeps its cache: a rebuild after a code change is faster);
2. the tarball's folder ``secondme/`` gets the app (``secondme`` and ``_internal/``),
   ``install.sh`` (adds the app to the desktop menu, ``--uninstall`` removes it),
   ``share/`` (the ``.desktop`` entry, the hicolor icons, the AppStream metainfo — for
   packagers; the app carries its own copy) and ``README.txt``;
3. ``tar`` + ``gzip -6`` write ``dist/secondme-<version>-linux-<arch>[-lite].tar.gz``;
4. the sizes — unpacked, compressed, and the ten largest components of ``_internal`` —
   go to ``benchmarks/results/bundle_size[_lite].json`` and the terminal;
5. with ``--check``: ``packaging/check_bundle.py`` unpacks the tarball and runs it in a
   scrubbed environment without network (results in
   ``benchmarks/results/bundle_check[_lite].json``).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "packaging"
RESULTS = ROOT / "benchmarks" / "results"
APP_ID = "io.secondme.SecondMe"


def say(msg: str) -> None:
    print(f"[build] {msg}", flush=True)


def version() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def run_pyinstaller(out: Path, work: Path, lite: bool) -> Path:
    """Build the one-folder app; returns its folder (holding ``secondme``)."""
    env = dict(os.environ, SECONDME_BUNDLE_MODELS="0" if lite else "1")
    cmd = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
           "--distpath", str(out), "--workpath", str(work), str(PKG / "secondme.spec")]
    say(" ".join(cmd))
    r = subprocess.run(cmd, cwd=ROOT, env=env)
    if r.returncode != 0:
        sys.exit(f"PyInstaller failed (exit {r.returncode})")
    app = out / "secondme"
    if not (app / "secondme").is_file():
        sys.exit(f"PyInstaller left no executable at {app / 'secondme'}")
    return app


def stage(app: Path, stage_dir: Path) -> Path:
    """Lay out the tarball's folder ``secondme/`` under ``stage_dir``."""
    top = stage_dir / "secondme"
    if stage_dir.exists():
        shutil.rmtree(stage_dir)
    stage_dir.mkdir(parents=True)
    shutil.copytree(app, top, symlinks=True)
    shutil.copy2(PKG / "install.sh", top / "install.sh")
    os.chmod(top / "install.sh", 0o755)
    shutil.copy2(PKG / "README-bundle.txt", top / "README.txt")
    share = top / "share"
    (share / "applications").mkdir(parents=True)
    shutil.copy2(PKG / "secondme.desktop", share / "applications" / "secondme.desktop")
    (share / "metainfo").mkdir()
    shutil.copy2(PKG / f"{APP_ID}.metainfo.xml", share / "metainfo")
    shutil.copytree(PKG / "icons", share / "icons")
    return top


def make_tarball(stage_dir: Path, tarball: Path) -> None:
    tarball.parent.mkdir(parents=True, exist_ok=True)
    tmp = tarball.with_name(tarball.name + ".part")
    gz = "pigz -6" if shutil.which("pigz") else "gzip -6"
    subprocess.run(["tar", "-C", str(stage_dir), "--owner=0", "--group=0", "--numeric-owner",
                    "-I", gz, "-cf", str(tmp), "secondme"], check=True)
    os.replace(tmp, tarball)


def tree_size(path: Path) -> int:
    if path.is_symlink():
        return 0
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def size_report(top: Path, tarball: Path) -> dict:
    """Sizes in MB: unpacked, the tarball, and the largest components of ``_internal``.

    A component is a top-level entry of ``_internal`` (a package folder, a shared
    library); Qt's own libraries and plugins (``PySide6/Qt/lib``, ``PySide6/Qt/plugins``)
    and torch's ``lib`` are listed apart from the Python bindings because they are what
    one cuts."""
    internal = top / "_internal"
    parts: dict[str, int] = {}
    split = {"PySide6": ["Qt/lib", "Qt/plugins", "Qt/translations"], "torch": ["lib"]}
    for entry in internal.iterdir():
        size = tree_size(entry)
        for sub in split.get(entry.name, []):
            s = tree_size(entry / sub)
            parts[f"{entry.name}/{sub}"] = s
            size -= s
        parts[entry.name] = size
    largest = sorted(parts.items(), key=lambda kv: -kv[1])[:10]
    mb = 1024 * 1024
    total = tree_size(top)
    return {"unpacked_mb": round(total / mb, 1),
            "tarball_mb": round(tarball.stat().st_size / mb, 1),
            "files": sum(1 for p in top.rglob("*") if p.is_file()),
            "largest_components_mb": [[k, round(v / mb, 1)] for k, v in largest],
            "largest_ten_share": round(sum(v for _k, v in largest) / max(total, 1), 3)}


def children_cpu_s() -> float:
    """CPU seconds (user + system) of the finished child processes so far: the build's
    cost independent of how busy the machine is."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lite", action="store_true",
                    help="no models, torch or llama.cpp (SECONDME_BUNDLE_MODELS=0)")
    ap.add_argument("--check", action="store_true",
                    help="then unpack and run the bundle scrubbed and offline")
    ap.add_argument("--dist", type=Path, default=ROOT / "dist", help="where the tarball goes")
    ap.add_argument("--work", type=Path, default=ROOT / "build" / "bundle",
                    help="PyInstaller's work and output folders")
    ap.add_argument("--results", type=Path, default=RESULTS,
                    help="where bundle_size.json and bundle_check.json go")
    ap.add_argument("--skip-build", action="store_true",
                    help="reuse the app already built under --work (re-stage, re-pack)")
    args = ap.parse_args()
    suffix = "-lite" if args.lite else ""
    name = f"secondme-{version()}-linux-{platform.machine()}{suffix}"
    tarball = args.dist.resolve() / f"{name}.tar.gz"
    work = args.work.resolve()
    t0, cpu0 = time.perf_counter(), children_cpu_s()
    if args.skip_build:
        app = work / "app" / "secondme"
    else:
        app = run_pyinstaller(work / "app", work / "work", args.lite)
    build_s, build_cpu_s = time.perf_counter() - t0, children_cpu_s() - cpu0
    say(f"app built in {build_s:.0f} s: {app}")
    t1, cpu1 = time.perf_counter(), children_cpu_s()
    top = stage(app, work / "stage")
    make_tarball(work / "stage", tarball)
    pack_s, pack_cpu_s = time.perf_counter() - t1, children_cpu_s() - cpu1
    rep = {"tarball": tarball.name, "lite": args.lite, **size_report(top, tarball),
           "build_s": None if args.skip_build else round(build_s), "pack_s": round(pack_s),
           "build_cpu_s": None if args.skip_build else round(build_cpu_s),
           "pack_cpu_s": round(pack_cpu_s),
           "load_average_1min": round(os.getloadavg()[0], 1), "cpus": os.cpu_count(),
           "python": platform.python_version()}
    say(f"{tarball} ({rep['tarball_mb']} MB; {rep['unpacked_mb']} MB unpacked, "
        f"{rep['files']} files)")
    for comp, size in rep["largest_components_mb"]:
        say(f"  {size:8.1f} MB  {comp}")
    results = args.results.resolve()
    results.mkdir(parents=True, exist_ok=True)
    (results / f"bundle_size{suffix.replace('-', '_')}.json").write_text(
        json.dumps(rep, indent=2) + "\n")
    if args.check:
        sys.path.insert(0, str(PKG))
        from check_bundle import CheckFailed, check_bundle

        check_work = work / "check"
        shutil.rmtree(check_work, ignore_errors=True)
        try:
            res = check_bundle(tarball, check_work, version(), say=say)
        except CheckFailed as e:
            sys.exit(f"bundle check failed: {e}")
        finally:
            shutil.rmtree(check_work, ignore_errors=True)
        (results / f"bundle_check{suffix.replace('-', '_')}.json").write_text(
            json.dumps(res, indent=2) + "\n")
        say("every check passed")


if __name__ == "__main__":
    main()
