"""Embedding throughput: `secondme index` vs plain SentenceTransformer.encode (issue 14).

The issue's figure: ``secondme index`` on 6,000 chat messages against plain
``SentenceTransformer.encode`` on the same texts, in the same run, **process start
included**, target ≥ 2.0×. Each side is a fresh process timed from the outside:

* raw — ``python -c "from sentence_transformers import SentenceTransformer;
  SentenceTransformer(<bundled model>).encode(texts, normalize_embeddings=True)"`` with
  sentence-transformers' defaults (batch 32; it sorts by length itself) on exactly the
  strings the app embeds (``"speaker: text"``);
* app — ``secondme --home H index`` on a data dir holding those 6,000 messages, imported
  but not indexed (a fresh copy per run): process start, the CLI, the store, the
  embedder (ONNX Runtime from the data dir's exported model), reading, hashing,
  embedding, writing embeddings + vector_items, HNSW insertion, saving the index;
* app-torch (``--with-torch-backend``) — the same command with ``embedding_backend =
  torch`` (the old path).

Runs alternate (raw, app, then the reverse order) so a noisy neighbour on
the shared machine hurts every side alike; the ratio is the median of the per-round
ratios raw seconds / app seconds. The one-off export of the ONNX model (first use) is
timed separately. The vectors are compared too (min cosine ONNX vs sentence-transformers
over 1,500 of the texts), and what running without torch saves: start, RSS, install size.

Writes benchmarks/results/models_embedding.json.

    python benchmarks/bench_models_embedding.py [--n 6000] [--rounds 2] [--with-torch-backend]
"""
from __future__ import annotations

import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import cpu

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "models_embedding.json"

PEOPLE = ["Anna", "Ben", "Clara", "Dana", "Eli", "Farah", "Gus", "Hana", "Ivo", "Me"]
PLACES = ["Berlin", "the lake", "Lisbon", "the office", "Tempelhof", "mum's place", "the gym",
          "Café Luna", "the station", "Munich", "the dentist", "the park"]
THINGS = ["the tickets", "my keys", "the report", "dinner", "the new flat", "the cat",
          "the wifi password", "a birthday present", "the car", "the slides", "pizza",
          "the contract", "the recipe", "the photos", "my laptop"]
DAYS = ["today", "tomorrow", "on Friday", "last Saturday", "next week", "in March",
        "tonight", "on the 12th", "after work", "this weekend"]
TEMPLATES = [
    "are we still on for {place} {day}?",
    "I left {thing} at {place} 🙈",
    "can you bring {thing} {day}",
    "{person} said {thing} is ready, I'll pick it up {day}",
    "lol",
    "ok",
    "thanks!! see you {day}",
    "did you see what {person} posted about {place}? honestly I can't believe it, "
    "we should talk about it {day} because it changes the plan for {thing}",
    "reminder: {thing} {day}, don't forget, and ask {person} about {place}",
    "Running late, stuck near {place}. Start without me",
    "I think {thing} costs about {num} euros, {person} wants to split it",
    "Flight is at {hour}:{minute:02d} {day}, I land in {place} around {hour2}",
    "happy birthday {person}!!! 🎉🎂 hope you have an amazing day at {place}",
    "my new number is +49 151 {num}{num2}, save it please",
    "So about {thing}: I talked to {person} and they think we should move it to {day}. "
    "Also, {place} is closed for renovation until the end of the month, so maybe "
    "{place2}? Let me know what works, I'm flexible except {day2}.",
]


def make_texts(n: int, seed: int = 7) -> list[tuple[str, str]]:
    """``n`` (speaker, text) chat messages, varied in length and content, deterministic."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        t = rng.choice(TEMPLATES).format(
            person=rng.choice(PEOPLE), place=rng.choice(PLACES), place2=rng.choice(PLACES),
            thing=rng.choice(THINGS), day=rng.choice(DAYS), day2=rng.choice(DAYS),
            num=rng.randint(10, 999), num2=rng.randint(1000, 9999), hour=rng.randint(5, 22),
            minute=rng.randint(0, 59), hour2=rng.randint(5, 23))
        if rng.random() < 0.15:  # some long pasted messages
            t = t + " " + " ".join(rng.choice(THINGS + PLACES + DAYS) for _ in
                                   range(rng.randint(20, 120)))
        out.append((rng.choice(PEOPLE), f"{t} (#{i})"))
    return out


def fill_store(store, messages, offset: int = 0) -> None:
    from secondme.models.embed import content_hash

    with store.write() as db:
        row = db.conn.execute("select id from conversations where external_id = 'c'").fetchone()
        conv = row[0] if row else db.conn.execute(
            "insert into conversations (format, external_id) values ('bench', 'c')").lastrowid
        db.conn.executemany(
            "insert into messages (conversation_id, external_id, position, speaker, text, "
            "content_hash) values (?, ?, ?, ?, ?, ?)",
            [(conv, f"m{i}", i, s, t, content_hash(t))
             for i, (s, t) in enumerate(messages, offset)])


def run_raw(model, texts, batch_size: int = 32) -> float:
    """In-process ``encode`` (used by tests/test_models_embed.py)."""
    t0 = time.perf_counter()
    out = model.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                       convert_to_numpy=True, show_progress_bar=False)
    dt = time.perf_counter() - t0
    assert out.shape[0] == len(texts)
    return dt


def run_app(embedder, messages) -> float:
    """In-process ``index_pending`` of ``messages`` into a fresh store + index (seconds)."""
    from secondme.indexing import index_pending
    from secondme.store.db import Store
    from secondme.store.vectors import VectorIndex

    d = Path(tempfile.mkdtemp(prefix="bench-embed-"))
    try:
        store = Store.open(d / "db.sqlite")
        vi = VectorIndex.open(d / "vectors", embedder.model_id, embedder.dim, store)
        fill_store(store, messages)
        t0 = time.perf_counter()
        rep = index_pending(store, embedder, vi)
        dt = time.perf_counter() - t0
        assert rep.items == len(messages), rep
        store.close()
        return dt
    finally:
        shutil.rmtree(d, ignore_errors=True)


RAW_SCRIPT = r"""
import json, os, sys, time
os.environ["HF_HUB_OFFLINE"] = "1"
from sentence_transformers import SentenceTransformer
texts = json.load(open(sys.argv[2]))
model = SentenceTransformer(sys.argv[1], device="cpu", local_files_only=True)
out = model.encode(texts, normalize_embeddings=True, convert_to_numpy=True,
                   show_progress_bar=False)
assert out.shape == (len(texts), 384)
"""


def _env() -> dict:
    env = dict(os.environ)
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.pop("SECONDME_EMBEDDING_ONNX_DIR", None)  # the app uses its data dir's export
    return env


def _timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=_env(), cwd=str(ROOT))
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"{cmd[:4]} failed: {r.stderr[-1500:]}")
    return dt


def prepare(base: Path, messages) -> tuple[Path, dict]:
    """A data dir with ``messages`` imported (not indexed) and the ONNX model exported
    into it (timed: the one-off first-use cost)."""
    from secondme.models.embed import HashEmbedder
    from secondme.models.onnx_backend import ensure_onnx_model
    from secondme.paths import MODELS_DIR
    from secondme.service import SecondMe

    home = base / "template"
    with SecondMe(home, embedder=HashEmbedder()) as sm:
        fill_store(sm.store, messages)
    os.environ.pop("SECONDME_EMBEDDING_ONNX_DIR", None)
    t0 = time.perf_counter()
    ensure_onnx_model(home / MODELS_DIR)
    export_s = time.perf_counter() - t0
    return home, {"export_s": round(export_s, 1)}


def app_run(template: Path, base: Path, backend: str) -> float:
    home = base / f"run-{backend}"
    shutil.rmtree(home, ignore_errors=True)
    shutil.copytree(template, home)
    if backend != "auto":
        from secondme.models.embed import HashEmbedder
        from secondme.service import SecondMe

        with SecondMe(home, embedder=HashEmbedder()) as sm:
            sm.update_settings(embedding_backend=backend)
    dt = _timed([sys.executable, "-m", "secondme", "--home", str(home), "index"])
    shutil.rmtree(home, ignore_errors=True)
    return dt


def vector_agreement(home: Path, texts: list[str]) -> dict:
    import numpy as np

    from secondme.models.embed import SentenceTransformerEmbedder
    from secondme.models.onnx_embed import ONNX_DIRNAME, OnnxEmbedder
    from secondme.paths import MODELS_DIR

    a = OnnxEmbedder(home / MODELS_DIR / ONNX_DIRNAME).embed(texts)
    b = SentenceTransformerEmbedder().embed(texts)
    cos = np.sum(a * b, axis=1)
    return {"min_cosine": round(float(cos.min()), 7),
            "max_abs_diff": float(np.abs(a - b).max()),
            "texts": len(texts)}


FOOTPRINT = r"""
import json, os, sys, time
t0 = time.perf_counter()
backend, folder = sys.argv[1], sys.argv[2]
if backend == "onnx":
    from secondme.models.onnx_embed import OnnxEmbedder
    emb = OnnxEmbedder(folder)
else:
    from secondme.models.embed import SentenceTransformerEmbedder
    emb = SentenceTransformerEmbedder()
loaded = time.perf_counter() - t0
emb.embed(["warm up"])
first = time.perf_counter() - t0
emb.embed([f"message {i} about the trip to Lisbon with Anna" for i in range(256)])
import psutil
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"torch", "transformers",
                                                         "sentence_transformers"})
print("@@" + json.dumps({"load_s": loaded, "first_vector_s": first, "heavy": heavy,
                         "rss_mb": psutil.Process().memory_info().rss / 2**20}))
"""


def _du(paths) -> float:
    total = 0
    for p in paths:
        for root, _dirs, files in os.walk(p):
            total += sum(os.path.getsize(os.path.join(root, f)) for f in files
                         if not os.path.islink(os.path.join(root, f)))
    return round(total / 2**20, 1)


def _package_dirs(names) -> list[str]:
    import importlib.util

    out = []
    for n in names:
        spec = importlib.util.find_spec(n)
        if spec and spec.submodule_search_locations:
            out += list(spec.submodule_search_locations)
    return out


def footprint(folder: Path, runs: int = 3) -> dict:
    """What running without torch saves: start (load + first vector), RSS after
    embedding 256 texts, each in a fresh process (median of ``runs``, alternating), and
    the installed size of what each backend needs at run time."""
    res: dict = {}
    for _ in range(runs):
        for backend in ("onnx", "torch"):
            r = subprocess.run([sys.executable, "-c", FOOTPRINT, backend, str(folder)],
                               capture_output=True, text=True, env=_env(), cwd=str(ROOT))
            if r.returncode != 0:
                raise RuntimeError(r.stderr[-1500:])
            line = next(x for x in r.stdout.splitlines() if x.startswith("@@"))
            res.setdefault(backend, []).append(json.loads(line[2:]))
    out = {}
    for backend, rows in res.items():
        out[backend] = {k: round(statistics.median(r[k] for r in rows), 3)
                        for k in ("load_s", "first_vector_s", "rss_mb")}
        out[backend]["heavy_modules"] = rows[0]["heavy"]
    torch_pkgs = ["torch", "transformers", "sentence_transformers", "safetensors",
                  "huggingface_hub", "tokenizers", "sympy", "scipy", "sklearn"]
    onnx_pkgs = ["onnxruntime", "tokenizers", "flatbuffers", "google"]
    out["torch"]["install_mb"] = _du(_package_dirs(torch_pkgs))
    out["torch"]["install_packages"] = torch_pkgs
    out["onnx"]["install_mb"] = _du(_package_dirs(onnx_pkgs)) + _du([folder])
    out["onnx"]["install_packages"] = onnx_pkgs + ["the exported model folder"]
    out["runs"] = runs
    return out


def _save_partial(n: int, runs: list, load: dict) -> None:
    """The rounds measured so far (replaced by the full result at the end)."""
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "benchmark": "models_embedding", "partial": True, "n_texts": n,
        "rounds_done": len(runs), "target": 2.0,
        "ratio": round(statistics.median(r["ratio_onnx"] for r in runs), 3),
        "loadavg": {**load, "now": os.getloadavg()}, "cpu": cpu(), "runs": runs,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, indent=2) + "\n")


def measure(n: int = 6000, rounds: int = 2, with_torch: bool = False) -> dict:
    from secondme.indexing import message_text
    from secondme.models.embed import bundled_model_dir

    messages = make_texts(n)
    texts = [message_text(s, t) for s, t in messages]
    base = Path(tempfile.mkdtemp(prefix="bench-embed-"))
    try:
        load = {"start": os.getloadavg()}
        template, info = prepare(base, messages)
        tfile = base / "texts.json"
        tfile.write_text(json.dumps(texts))
        raw_cmd = [sys.executable, "-c", RAW_SCRIPT, str(bundled_model_dir()), str(tfile)]
        runs = []
        sides = ["raw", "auto"] + (["torch"] if with_torch else [])
        for r in range(rounds):
            order = sides if r % 2 == 0 else sides[::-1]
            t = {}
            for side in order:
                t[side] = _timed(raw_cmd) if side == "raw" else app_run(template, base, side)
            run = {"round": r, "raw_s": round(t["raw"], 2), "app_onnx_s": round(t["auto"], 2),
                   "ratio_onnx": round(t["raw"] / t["auto"], 3), "load": os.getloadavg()[0]}
            if with_torch:
                run.update(app_torch_s=round(t["torch"], 2),
                           ratio_torch=round(t["raw"] / t["torch"], 3))
            runs.append(run)
            print(runs[-1], flush=True)
            _save_partial(n, runs, load)  # a busy machine may not see the end
        load["end"] = os.getloadavg()
        agree = vector_agreement(template, texts[:1500])
        from secondme.models.onnx_embed import ONNX_DIRNAME
        from secondme.paths import MODELS_DIR

        foot = footprint(template / MODELS_DIR / ONNX_DIRNAME, runs=2)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    raw = statistics.median(r["raw_s"] for r in runs)
    onnx = statistics.median(r["app_onnx_s"] for r in runs)
    extra = {}
    if with_torch:
        extra = {"ratio_torch_backend": round(statistics.median(r["ratio_torch"]
                                                                for r in runs), 3),
                 "app_torch_texts_per_s": round(
                     n / statistics.median(r["app_torch_s"] for r in runs), 1)}
    return {"n_texts": n, "rounds": rounds, "mean_chars": round(sum(map(len, texts)) / n, 1),
            "ratio": round(statistics.median(r["ratio_onnx"] for r in runs), 3),
            "ratio_of_totals": round(sum(r["raw_s"] for r in runs)
                                     / sum(r["app_onnx_s"] for r in runs), 3),
            "target": 2.0, **extra,
            "raw_texts_per_s": round(n / raw, 1), "app_onnx_texts_per_s": round(n / onnx, 1),
            "one_off_export_s": info["export_s"], "vectors": agree,
            "without_torch": foot,
            "loadavg": load, "cpu": cpu(), "runs": runs}


def main() -> None:
    n = int(sys.argv[sys.argv.index("--n") + 1]) if "--n" in sys.argv else 6000
    rounds = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else 2
    res = measure(n, rounds, with_torch="--with-torch-backend" in sys.argv)
    res["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    res["benchmark"] = "models_embedding"
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(res, indent=2) + "\n")
    print(f"plain SentenceTransformer.encode (process):   {res['raw_texts_per_s']} texts/s")
    print(f"secondme index, ONNX Runtime (process):      {res['app_onnx_texts_per_s']} texts/s")
    if "ratio_torch_backend" in res:
        print(f"secondme index, torch backend (process):     "
              f"{res['app_torch_texts_per_s']} texts/s, ratio {res['ratio_torch_backend']}")
    print(f"ratio (median of {rounds} rounds): {res['ratio']} (target >= 2.0); of totals "
          f"{res['ratio_of_totals']}; load {res['loadavg']}")
    print(f"vectors ONNX vs sentence-transformers: {res['vectors']}")
    print(f"one-off export on first use: {res['one_off_export_s']} s")
    print(f"runtime footprint (onnx vs torch): {json.dumps(res['without_torch'])}")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
