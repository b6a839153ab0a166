"""The database key in a real Secret Service (gnome-keyring in a private D-Bus session),
and the no-keyring-backend path."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures" / "privacy"))
from helpers import DRIVER, SECRETS, TRIPS, files_containing, run_cli  # noqa: E402

# The script runs inside `dbus-run-session`: it starts gnome-keyring-daemon (our own
# child, so it is stopped by pid), then drives the real CLI against the keyring.
INNER = textwrap.dedent(r'''
    import json, os, subprocess, sys, time
    tmp, driver, home, trips = sys.argv[1:5]
    env = dict(os.environ, HOME=tmp, XDG_DATA_HOME=tmp + "/data",
               XDG_RUNTIME_DIR=tmp + "/run", SECONDME_PASSPHRASE="")
    env.pop("PYTHON_KEYRING_BACKEND", None)
    os.makedirs(env["XDG_RUNTIME_DIR"], mode=0o700, exist_ok=True)
    daemon = subprocess.Popen(
        ["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    daemon.stdin.write(b"test keyring password"); daemon.stdin.close()
    out = {}
    try:
        def cli(*args):
            r = subprocess.run([sys.executable, driver, "--home", home, *args],
                               capture_output=True, text=True, env=env, timeout=120)
            return {"rc": r.returncode, "out": r.stdout, "err": r.stderr}
        for _ in range(50):  # wait until the daemon owns org.freedesktop.secrets
            r = subprocess.run([sys.executable, "-c",
                                "import keyring, keyring.backends.SecretService as s;"
                                "k = s.Keyring(); k.get_preferred_collection(); print('ok')"],
                               capture_output=True, text=True, env=env)
            if "ok" in r.stdout:
                break
            time.sleep(0.2)
        out["init"] = cli("init", "--encrypt")
        out["marker"] = json.load(open(os.path.join(home, "encryption.json")))
        out["import"] = cli("import", trips)
        out["search"] = cli("search", "zanzibarquux", "--json")
        out["status"] = cli("key", "status", "--json")
        r = subprocess.run(["secret-tool", "search", "--all", "service", "secondme"],
                           capture_output=True, text=True, env=env)
        out["secret_tool"] = r.stdout + r.stderr
        out["change"] = cli("key", "change")
        out["marker2"] = json.load(open(os.path.join(home, "encryption.json")))
        out["search2"] = cli("search", "zanzibarquux", "--json")
        # the key removed from the keyring: a clear error, nothing created
        subprocess.run(["secret-tool", "clear", "service", "secondme"], env=env)
        out["locked"] = cli("search", "zanzibarquux")
    finally:
        daemon.terminate()
        try:
            daemon.wait(10)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
    print(json.dumps(out))
''')


def _have_secret_service_tools() -> str | None:
    missing = [t for t in ("dbus-run-session", "gnome-keyring-daemon", "secret-tool")
               if shutil.which(t) is None]
    if missing:
        return ("Debian packages dbus, gnome-keyring and libsecret-tools are not installed "
                f"(missing {', '.join(missing)}); packaging/bootstrap.py installs them for tests")
    return None


@pytest.mark.skipif(_have_secret_service_tools() is not None,
                    reason=_have_secret_service_tools() or "")
def test_key_in_a_real_secret_service(tmp_path):
    script = tmp_path / "inner.py"
    script.write_text(INNER)
    home = tmp_path / "data dir"
    r = subprocess.run(["dbus-run-session", "--", sys.executable, str(script), str(tmp_path),
                        str(DRIVER), str(home), str(TRIPS)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    for step in ("init", "import", "search", "status", "change", "search2"):
        assert out[step]["rc"] == 0, (step, out[step])
    assert out["marker"]["method"] == "keyring" and out["marker"]["kdf"] is None
    assert "zanzibarquux" in out["search"]["out"] and "zanzibarquux" in out["search2"]["out"]
    assert json.loads(out["status"]["out"])["method"] == "keyring"
    # the key lives in the Secret Service under the store's id, not in any file
    assert "database-key@" in out["secret_tool"], out["secret_tool"]
    assert out["marker2"]["key_check"] != out["marker"]["key_check"]
    assert out["locked"]["rc"] == 1
    assert "keyring" in out["locked"]["err"] and "Traceback" not in out["locked"]["err"]
    assert files_containing(home, [s.encode() for s in SECRETS]) == {}


def test_no_keyring_backend_falls_back_to_a_passphrase(tmp_path):
    env = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
           "SECONDME_PASSPHRASE": "a passphrase for scripts"}
    r = run_cli(tmp_path, "init", "--encrypt", env=env)
    assert r.returncode == 0, r.stderr
    assert "passphrase" in r.stderr + r.stdout
    marker = json.loads((tmp_path / "encryption.json").read_text())
    assert marker["method"] == "passphrase"
    assert run_cli(tmp_path, "import", str(TRIPS), env=env).returncode == 0
    r = run_cli(tmp_path, "doctor", "--json", env=env)
    assert json.loads(r.stdout)["keyring"] == "none"
    # the same store cannot be opened through a null keyring without the passphrase
    r = run_cli(tmp_path, "search", "x", env={"PYTHON_KEYRING_BACKEND":
                                               "keyring.backends.null.Keyring",
                                               "SECONDME_PASSPHRASE": ""})
    assert r.returncode == 1 and "passphrase" in r.stderr and "Traceback" not in r.stderr


def test_key_change_between_passphrase_and_keyring_needs_a_keyring(tmp_path):
    env = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
           "SECONDME_PASSPHRASE": "first passphrase"}
    assert run_cli(tmp_path, "init", "--encrypt", env=env).returncode == 0
    r = run_cli(tmp_path, "key", "change", "--keyring", env=env)
    assert r.returncode == 1 and "keyring" in r.stderr and "Traceback" not in r.stderr
    assert json.loads((tmp_path / "encryption.json").read_text())["pending"] is None
    assert run_cli(tmp_path, "search", "x", env=env).returncode == 0
