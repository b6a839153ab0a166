#!/usr/bin/env python3
"""Install secondme into its own virtual environment, then launch the app or run the tests.

    python3 packaging/bootstrap.py app     # install everything, open the desktop app
    python3 packaging/bootstrap.py test    # install everything, run the full test suite
    python3 packaging/bootstrap.py install # install only

What it does, in order (each step is skipped when already done):
1. checks Python >= 3.11 (re-running itself with python3.12/3.11 if the default is older);
2. on Debian/Ubuntu, installs the system libraries Qt and the llama.cpp build need
   (with apt-get as root, or sudo; otherwise it prints the command to run);
3. creates the virtual environment (``.venv`` beside this checkout, or ``$SECONDME_VENV``);
4. installs PyTorch's CPU build first (``torch==2.13.0``; an unpinned torch would pull
   gigabytes of CUDA libraries), then secondme with its test extras, editable;
   pip's wheel cache keeps the ~11-minute llama-cpp-python compile to the first run;
5. ``app``: runs ``secondme``; ``test``: runs ``ruff check .`` and then pytest with Qt
   offscreen (extra arguments go to pytest, and then the linter is skipped).

Standard library only: it runs before anything is installed.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TORCH = os.environ.get("SECONDME_TORCH", "torch==2.13.0")
# Debian package -> a shared library it provides (checked with ldconfig)
APT_PACKAGES = {
    "libegl1": "libEGL.so.1",
    "libgl1": "libGL.so.1",
    "libxkbcommon0": "libxkbcommon.so.0",
    "libxkbcommon-x11-0": "libxkbcommon-x11.so.0",
    "libfontconfig1": "libfontconfig.so.1",
    "libdbus-1-3": "libdbus-1.so.3",
    "libglib2.0-0": "libglib-2.0.so.0",
    "libxcb-cursor0": "libxcb-cursor.so.0",
    "libxcb-icccm4": "libxcb-icccm.so.4",
    "libxcb-keysyms1": "libxcb-keysyms.so.1",
    "libxcb-shape0": "libxcb-shape.so.0",
    "libxcb-xinerama0": "libxcb-xinerama.so.0",
    "libxcb-randr0": "libxcb-randr.so.0",
    "libxcb-render-util0": "libxcb-render-util.so.0",
    "libxcb-image0": "libxcb-image.so.0",
}
APT_TOOLS = {"g++": "g++", "cmake": "cmake", "git": "git"}  # tool -> package
# the bundle's check runs it without network (unshare, util-linux) and on Xvfb; the
# packaging tests validate the desktop entry and the AppStream metainfo
APT_TEST_PACKAGES = ["xvfb", "xauth", "gnome-keyring", "dbus-x11", "libsecret-tools",
                     "util-linux", "desktop-file-utils", "appstream"]


def say(msg: str) -> None:
    print(f"[bootstrap] {msg}", flush=True)


def ensure_python() -> None:
    if sys.version_info >= (3, 11):
        return
    for exe in ("python3.13", "python3.12", "python3.11"):
        path = shutil.which(exe)
        if path:
            say(f"Python {sys.version.split()[0]} is too old; re-running with {exe}")
            os.execv(path, [path, *sys.argv])
    sys.exit("secondme needs Python 3.11 or newer: install python3.11 (or newer) "
             "with python3-venv, then run this again.")


def missing_apt(test: bool) -> list[str]:
    if not Path("/etc/debian_version").exists():
        return []
    try:
        libs = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    except OSError:
        libs = ""
    missing = [pkg for pkg, lib in APT_PACKAGES.items() if lib not in libs]
    missing += [pkg for tool, pkg in APT_TOOLS.items() if not shutil.which(tool)]
    if test:
        for pkg in APT_TEST_PACKAGES:
            r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg],
                               capture_output=True, text=True)
            if "install ok installed" not in r.stdout:
                missing.append(pkg)
    try:
        import ensurepip  # noqa: F401
        import venv  # noqa: F401
    except ImportError:
        missing.append(f"python3.{sys.version_info.minor}-venv")
    return missing


def ensure_system_packages(test: bool) -> None:
    missing = missing_apt(test)
    if not missing:
        return
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", *missing]
    if os.geteuid() != 0:
        if shutil.which("sudo") and subprocess.run(["sudo", "-n", "true"],
                                                   capture_output=True).returncode == 0:
            cmd = ["sudo", *cmd]
        else:
            say("these system packages are missing: " + " ".join(missing))
            say("install them with:  sudo " + " ".join(cmd) + "  and run this again")
            if not test:
                say("continuing; the app may not start without them")
            return
    say("installing system packages: " + " ".join(missing))
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    pre = cmd[:-len(missing) - 4]  # "sudo" or nothing
    subprocess.run([*pre, "apt-get", "update", "-qq"], env=env, check=False)
    r = subprocess.run(cmd, env=env)
    if r.returncode != 0:
        say("apt-get failed; continuing, some features may not work")


def venv_dir() -> Path:
    return Path(os.environ.get("SECONDME_VENV", ROOT / ".venv")).expanduser()


def vpython(venv: Path) -> Path:
    return venv / "bin" / "python"


def stamp_of() -> str:
    h = hashlib.sha256()
    h.update((ROOT / "pyproject.toml").read_bytes())
    h.update(TORCH.encode())
    h.update(str(ROOT).encode())
    return h.hexdigest()


def pip(venv: Path, *args: str) -> None:
    cmd = [str(vpython(venv)), "-m", "pip", "install", "--disable-pip-version-check", *args]
    say(" ".join(cmd[3:]))
    subprocess.run(cmd, check=True, env={**os.environ, "CMAKE_BUILD_PARALLEL_LEVEL":
                                         str(os.cpu_count() or 2)})


def healthy(venv: Path) -> bool:
    if not vpython(venv).exists():
        return False
    r = subprocess.run([str(vpython(venv)), "-c", "import sys; assert sys.version_info >= (3, 11)"],
                       capture_output=True)
    return r.returncode == 0


def install() -> Path:
    venv = venv_dir()
    if venv.exists() and not healthy(venv):
        say(f"the virtual environment at {venv} is broken; recreating it")
        shutil.rmtree(venv)
    if not venv.exists():
        say(f"creating the virtual environment {venv}")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip(venv, "--upgrade", "pip", "wheel", "setuptools")
    stamp = venv / ".secondme-stamp"
    if stamp.exists() and stamp.read_text() == stamp_of():
        say("dependencies up to date")
        return venv
    try:
        pip(venv, TORCH)
        pip(venv, "-e", f"{ROOT}[test]")
    except subprocess.CalledProcessError:
        sys.exit("[bootstrap] installing the Python packages failed (see pip's message above)")
    stamp.write_text(stamp_of())
    return venv


def main(argv: list[str]) -> int:
    ensure_python()
    what = argv[1] if len(argv) > 1 else "app"
    if what not in ("app", "test", "install"):
        sys.exit(__doc__)
    ensure_system_packages(test=what == "test")
    venv = install()
    bin_ = venv / "bin"
    env = {**os.environ, "PATH": f"{bin_}{os.pathsep}{os.environ.get('PATH', '')}",
           "VIRTUAL_ENV": str(venv)}
    if what == "install":
        say("installed; run the app with " + str(bin_ / "secondme"))
        return 0
    if what == "app":
        os.execve(str(bin_ / "secondme"), [str(bin_ / "secondme"), *argv[2:]], env)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    if not argv[2:]:
        # the whole check: the linter (rules in pyproject.toml), then every test
        say("ruff check .")
        lint = subprocess.run([str(bin_ / "ruff"), "check", "."], cwd=ROOT, env=env)
        if lint.returncode != 0:
            say("ruff found problems (above); fix them, or run `ruff check --fix .`")
            return lint.returncode
    cmd = [str(vpython(venv)), "-m", "pytest", *argv[2:]]
    say(" ".join(cmd[1:]))
    return subprocess.run(cmd, cwd=ROOT, env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv))
