"""Nothing exposed: every file and folder the app creates is private to its owner.

The data directory, the database and its WAL, backups, the vector index, the encryption
marker, logs and exports are 0600 (files) / 0700 (folders), set explicitly: the CLI runs
here with a umask of 000, the worst a person could have. The tests run as root, which
reads anything, so what another local user would see is checked as ``nobody`` through
``setpriv``. ``doctor`` reports a wider data directory (made by an older version) and
``doctor --repair`` makes it private.
"""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures" / "privacy"))
from helpers import DRIVER, GARDEN, TRIPS  # noqa: E402

PASSPHRASE = "permissions test passphrase"
NOBODY = 65534


def _can_switch_user() -> bool:
    return os.geteuid() == 0 and shutil.which("setpriv") is not None


AS_OTHER_USER = pytest.mark.skipif(not _can_switch_user(),
                                   reason="needs root and setpriv to act as another user")


def as_nobody(*cmd: str) -> subprocess.CompletedProcess:
    """Run ``cmd`` as the unprivileged user ``nobody`` (what another local user sees)."""
    return subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}",
                           "--clear-groups", "--", *cmd], capture_output=True, text=True,
                          errors="replace", timeout=60)


@pytest.fixture
def open_dir():
    """A folder every user may enter (0755), like a home directory, outside pytest's
    private temp dir — so that only the app's own permissions protect what it writes."""
    d = Path(tempfile.mkdtemp(prefix="secondme-perm-"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _cli(home: Path, *args: str, env: dict | None = None, umask: int = 0o000,
         check: bool = True) -> subprocess.CompletedProcess:
    full = {**os.environ, "PYTHONUNBUFFERED": "1",
            "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring", **(env or {})}
    r = subprocess.run([sys.executable, str(DRIVER), "--home", str(home), *args],
                       capture_output=True, text=True, env=full, timeout=300,
                       preexec_fn=lambda: os.umask(umask))
    if check:
        assert r.returncode == 0, (args, r.stderr)
    return r


def _modes(root: Path) -> dict[str, str]:
    out = {}
    for p in [root, *root.rglob("*")]:
        st = os.lstat(p)
        if not stat.S_ISLNK(st.st_mode):
            out[str(p.relative_to(root)) or "."] = f"{stat.S_IMODE(st.st_mode):04o}"
    return out


def _assert_private(root: Path) -> None:
    modes = _modes(root)
    wrong = {p: m for p, m in modes.items()
             if m != ("0700" if (root / p).is_dir() else "0600")}
    assert not wrong, wrong


@AS_OTHER_USER
@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
def test_everything_the_app_creates_is_private_whatever_the_umask(open_dir, encrypted):
    home = open_dir / "data"
    export = open_dir / "export"
    env = {"SECONDME_PASSPHRASE": PASSPHRASE} if encrypted else {}
    if encrypted:
        _cli(home, "init", "--encrypt", "--passphrase", env=env)
    _cli(home, "import", str(TRIPS), env=env)
    _cli(home, "jobs", "run", "extract", env=env)
    _cli(home, "backup", "now", env=env)
    _cli(home, "search", "zanzibarquux", env=env)
    _cli(home, "import", str(GARDEN), env=env)
    _cli(home, "backup", "now", env=env)
    _cli(home, "export", str(export), env=env)
    modes = _modes(home)
    for name in ("secondme.db", "vectors/index.bin", "vectors/index.json"):
        assert modes[name] == "0600", (name, modes)
    for name in (".", "vectors", "backups"):
        assert modes[name] == "0700", (name, modes)
    assert any(p.startswith("backups/secondme-") for p in modes)
    if encrypted:
        assert modes["encryption.json"] == "0600"
    _assert_private(home)
    _assert_private(export)
    assert (export / "secondme-dump.json").exists() and (export / "index.md").exists()
    # another local user can read none of it (root would: it bypasses permissions)
    for target in (home / "secondme.db", export / "secondme-dump.json", export / "index.md"):
        r = as_nobody("cat", str(target))
        assert r.returncode != 0 and "Permission denied" in r.stderr, (target, r.stdout[:80])
    r = as_nobody("ls", str(home))
    assert r.returncode != 0 and "Permission denied" in r.stderr


@AS_OTHER_USER
def test_the_log_of_an_internal_error_is_private(open_dir):
    from secondme.cli.base import _log_file, _log_internal_error

    home = open_dir / "data"
    old = os.umask(0)
    try:
        path = _log_file(str(home))
        try:
            raise RuntimeError("a bug")
        except RuntimeError as e:
            _log_internal_error(path, e)
    finally:
        os.umask(old)
    _assert_private(home)
    assert "RuntimeError" in path.read_text()
    assert as_nobody("cat", str(path)).returncode != 0


@AS_OTHER_USER
def test_doctor_reports_and_repairs_a_data_directory_readable_by_others(open_dir):
    home = open_dir / "data"
    _cli(home, "import", str(TRIPS))
    _cli(home, "backup", "now")
    for p in [home, *home.rglob("*")]:       # what an older version left behind
        os.chmod(p, 0o755 if p.is_dir() else 0o644)
    assert as_nobody("cat", str(home / "secondme.db")).returncode == 0
    r = _cli(home, "doctor", check=False)
    assert r.returncode == 1
    [line] = [ln for ln in r.stderr.splitlines() if "permissions" in ln]
    assert "other users can read the data directory (0755)" in line
    assert "secondme doctor --repair" in line
    r = _cli(home, "doctor", "--json", check=False)
    import json

    rep = json.loads(r.stdout)
    assert rep["permissions"]["ok"] is False
    assert {"path": "secondme.db", "mode": "0644"} in rep["permissions"]["wider"]
    r = _cli(home, "doctor", "--repair", check=False)
    assert "made private" in r.stdout
    assert "permissions" not in r.stderr
    _assert_private(home)
    assert as_nobody("cat", str(home / "secondme.db")).returncode != 0
    rep = json.loads(_cli(home, "doctor", "--json", check=False).stdout)
    assert rep["permissions"] == {"ok": True, "wider": []}
