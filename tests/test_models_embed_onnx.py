"""The ONNX Runtime embedder: exported once from the bundled weights, the very vectors
sentence-transformers computes, loadable with no torch at all, checked by checksum, and
interchangeable with the torch backend in one vector index."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_indexing import add_messages

ROOT = Path(__file__).resolve().parent.parent


def varied_texts() -> list[str]:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import bench_models_embedding as bench
    finally:
        sys.path.pop(0)
    from secondme.indexing import message_text

    texts = [message_text(s, t) for s, t in bench.make_texts(150, seed=11)]
    return texts + [
        "", "ok", "🙈🙈🙈", "Ich bin letztes Jahr nach Berlin gezogen",
        "très bien, à demain — 東京で会いましょう",
        "word " * 400,  # longer than 256 tokens: truncated the same way
        "https://example.org/a/very/long/link?with=query&and=more#fragment",
    ]


@pytest.fixture(scope="session")
def onnx_folder(tmp_path_factory):
    """One export for the session, made the way the app makes it on first use."""
    from secondme.models.onnx_backend import ensure_onnx_model
    from secondme.models.onnx_embed import ONNX_DIRNAME

    models = tmp_path_factory.mktemp("home") / "data" / "models"  # made by the export
    reports = []
    folder = ensure_onnx_model(models, progress=reports.append)
    assert folder == models / ONNX_DIRNAME
    assert reports and reports[-1].done == reports[-1].total  # the wait is shown
    return folder


@pytest.mark.slow
def test_export_writes_a_checked_folder(onnx_folder):
    from secondme.models.onnx_embed import read_manifest
    from secondme.paths import wider_than_private

    manifest = read_manifest(onnx_folder)
    # private like the rest of the data directory (doctor fails on anything wider): the
    # folders it made, the model, its manifest and the .verified stamp read_manifest wrote
    assert (onnx_folder / ".verified").exists()
    assert list(wider_than_private(onnx_folder.parent.parent)) == []
    assert manifest["model_id"] == "all-MiniLM-L6-v2" and manifest["dim"] == 384
    # int8 weights, checked twice: the float32 graph against sentence-transformers
    # (identical), then the quantized one (close)
    assert manifest["precision"] == "int8" and manifest["quantization"]["per_channel"]
    assert manifest["fp32_check_min_cosine"] >= 0.99999
    assert 0.95 <= manifest["check_min_cosine"] < 1.0
    assert (onnx_folder / "model.onnx").stat().st_size < 40e6   # float32: 90 MB
    assert set(manifest["sha256"]) == {"model.onnx", "tokenizer.json"}
    assert not [p for p in onnx_folder.parent.iterdir() if p.name.startswith(".onnx-export")]


@pytest.fixture(scope="module")
def fp32_folder(tmp_path_factory):
    from secondme.models.onnx_backend import export_onnx

    return export_onnx(tmp_path_factory.mktemp("fp32") / "all-MiniLM-L6-v2-onnx",
                       precision="fp32")


@pytest.mark.slow
def test_int8_vectors_stay_close_to_sentence_transformers(onnx_folder, real_embedder):
    """The shipped int8 model: its own model id (never mixed with float32 vectors in an
    index or the cache), vectors within a cosine of 0.95 of the originals (0.99 on
    average), and nearly the same neighbours."""
    from secondme.models.onnx_embed import OnnxEmbedder

    texts = varied_texts()
    onnx = OnnxEmbedder(onnx_folder)
    assert onnx.model_id == real_embedder.model_id + "+int8" and onnx.precision == "int8"
    a, b = onnx.embed(texts), real_embedder.embed(texts)
    assert a.shape == b.shape == (len(texts), 384) and a.dtype == np.float32
    cos = np.sum(a * b, axis=1)
    assert cos.min() >= 0.95 and cos.mean() >= 0.98, (cos.min(), cos.mean())
    assert cos.min() < 0.9999   # it is the quantized model, not the float32 one
    sa, sb = a @ a.T, b @ b.T
    same_first = np.mean([np.argsort(-sa[i])[1] == np.argsort(-sb[i])[1]
                          for i in range(len(texts))])
    overlap = np.mean([len(set(np.argsort(-sa[i])[:10]) & set(np.argsort(-sb[i])[:10]))
                       for i in range(len(texts))])
    assert same_first >= 0.8 and overlap >= 8.5, (same_first, overlap)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)


@pytest.mark.slow
def test_onnx_vectors_are_sentence_transformers_vectors(fp32_folder, real_embedder):
    from secondme.models.onnx_embed import OnnxEmbedder

    texts = varied_texts()
    onnx = OnnxEmbedder(fp32_folder)
    assert onnx.model_id == real_embedder.model_id and onnx.dim == real_embedder.dim
    a = onnx.embed(texts)
    b = real_embedder.embed(texts)
    assert a.shape == b.shape == (len(texts), 384) and a.dtype == np.float32
    cos = np.sum(a * b, axis=1)
    assert cos.min() >= 0.99999, (cos.min(), texts[int(cos.argmin())][:60])
    assert np.abs(a - b).max() < 1e-4
    # the same neighbours: an index built by one backend answers the other's queries
    sa, sb = a @ a.T, b @ b.T
    for i in range(len(texts)):
        assert set(np.argsort(-sa[i])[:10]) == set(np.argsort(-sb[i])[:10]) or \
            np.allclose(np.sort(sa[i])[-10:], np.sort(sb[i])[-10:], atol=1e-4)
    # order-independent: one text alone gives the vector it gets inside a batch
    one = np.vstack([onnx.embed([t]) for t in texts[:5]])
    assert np.allclose(one, a[:5], atol=1e-5)
    assert onnx.embed([]).shape == (0, 384)


NO_TORCH = r"""
import json, socket, sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "transformers", "sentence_transformers"):
            raise ImportError(f"{name} is not in the bundle")
        return None
sys.meta_path.insert(0, Block())
def forbidden(*a, **k):
    raise OSError("no network")
socket.socket.connect = forbidden
socket.create_connection = forbidden
from secondme.models.onnx_backend import load_embedder
emb = load_embedder(backend="onnx", models_dir=None)
v = emb.embed(["I moved to Berlin last year", "The cat sleeps on the sofa"])
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"torch", "transformers",
                                                         "sentence_transformers"})
print("@@" + json.dumps({"backend": emb.backend, "shape": list(v.shape), "heavy": heavy,
                         "vecs": v.tolist()}))
"""


@pytest.mark.slow
def test_the_exported_folder_runs_without_torch(onnx_folder, real_embedder):
    """What the desktop bundle ships: onnxruntime + tokenizers + numpy, no torch."""
    env = {**os.environ, "SECONDME_EMBEDDING_ONNX_DIR": str(onnx_folder)}
    r = subprocess.run([sys.executable, "-c", NO_TORCH], capture_output=True, text=True,
                       env=env, cwd=str(ROOT), timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(next(l for l in r.stdout.splitlines() if l.startswith("@@"))[2:])
    assert out["backend"] == "onnx" and out["shape"] == [2, 384] and out["heavy"] == []
    ref = real_embedder.embed(["I moved to Berlin last year", "The cat sleeps on the sofa"])
    assert np.sum(np.array(out["vecs"]) * ref, axis=1).min() > 0.95


@pytest.mark.slow
def test_a_damaged_export_is_refused_by_checksum(onnx_folder, tmp_path, monkeypatch):
    from secondme.errors import ModelError
    from secondme.models.onnx_embed import ONNX_DIRNAME, find_onnx_model, read_manifest

    bad = tmp_path / ONNX_DIRNAME
    shutil.copytree(onnx_folder, bad)
    (bad / ".verified").unlink(missing_ok=True)
    read_manifest(bad)  # intact copy: fine, and remembered
    assert (bad / ".verified").exists()
    with open(bad / "model.onnx", "r+b") as f:  # same size, one flipped byte
        f.seek(5000)
        byte = f.read(1)
        f.seek(5000)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ModelError, match="damaged"):
        read_manifest(bad)
    # in the data dir it is ignored (and exported again by the caller) ...
    assert find_onnx_model(tmp_path) is None
    # ... while a folder the person pointed at is a clear error naming it
    monkeypatch.setenv("SECONDME_EMBEDDING_ONNX_DIR", str(bad))
    with pytest.raises(ModelError) as e:
        find_onnx_model(None)
    assert "damaged" in str(e.value) and str(bad) in str(e.value.path)


def test_a_missing_export_folder_is_a_clear_error(tmp_path, monkeypatch):
    from secondme.errors import ModelError
    from secondme.models.onnx_embed import find_onnx_model

    monkeypatch.setenv("SECONDME_EMBEDDING_ONNX_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(ModelError, match="manifest"):
        find_onnx_model(None)


@pytest.mark.slow
def test_doctor_names_the_backend_and_folder_the_embedder_runs_from(onnx_folder, tmp_path,
                                                                   monkeypatch):
    """The desktop bundle ships only the ONNX folder (no weights, no torch): doctor
    reports that folder; from source before the first export, the weights it is exported
    from; a damaged folder the person pointed at is a problem, not a crash."""
    from secondme.config import Settings
    from secondme.doctor import _models
    from secondme.models.embed import bundled_model_dir

    problems: list[str] = []
    monkeypatch.setattr("secondme.doctor.describe_configured_model",
                        lambda settings, home: {"found": True})
    emb = _models(tmp_path, Settings(), problems)["embedding"]
    assert emb["backend"].startswith("onnx") and emb["path"] == str(bundled_model_dir())
    monkeypatch.setenv("SECONDME_EMBEDDING_ONNX_DIR", str(onnx_folder))
    emb = _models(tmp_path, Settings(), problems)["embedding"]
    assert emb == {"name": Settings().embedding_model, "found": True, "backend": "onnx",
                   "path": str(onnx_folder)}
    torch = _models(tmp_path, Settings(embedding_backend="torch"), problems)["embedding"]
    assert torch["backend"] == "torch" and torch["path"] == str(bundled_model_dir())
    assert problems == []
    monkeypatch.setenv("SECONDME_EMBEDDING_ONNX_DIR", str(tmp_path / "nowhere"))
    emb = _models(tmp_path, Settings(), problems)["embedding"]
    assert emb["found"] is False and "manifest" in problems[0]


def test_batches_are_length_sorted_and_bounded():
    from secondme.models.onnx_embed import plan_batches

    rng = np.random.default_rng(1)
    lengths = rng.integers(3, 257, size=1000)
    batches = plan_batches(lengths, max_rows=128, max_tokens=8192)
    seen = np.concatenate(batches)
    assert sorted(seen.tolist()) == list(range(1000))  # every row exactly once
    for b in batches:
        assert 1 <= len(b) <= 128 and len(b) * lengths[b].max() <= max(8192, lengths[b].max())
    firsts = [lengths[b[0]] for b in batches]
    assert firsts == sorted(firsts, reverse=True)  # longest first
    # short chat lines go many to a call, long ones few
    assert len(plan_batches(np.full(300, 12))) == 10      # 32 to a call
    assert len(plan_batches(np.full(300, 256))) == 150    # 2 to a call


@pytest.mark.slow
def test_moving_to_the_int8_model_rebuilds_the_index_with_progress(onnx_folder,
                                                                   real_embedder, home):
    """First use finds the data dir's export; a store indexed by the torch backend gets
    its index rebuilt (another model id: the vectors differ a little) and every message
    embedded again, with progress, and search finds the same message first."""
    from secondme.models.onnx_embed import ONNX_DIRNAME
    from secondme.service import SecondMe

    texts = [f"message {i}: we talked about the {w} on Friday"
             for i, w in enumerate(["lake", "tickets", "dentist", "flat", "cat"] * 8)]
    with SecondMe(home, embedder=real_embedder) as sm:
        add_messages(sm.store, texts)
        assert sm.index_pending().embedded == len(texts)
        before = [r.id for r in sm.search("the dentist appointment", k=5, kinds=["message"])]
    shutil.copytree(onnx_folder, home / "models" / ONNX_DIRNAME)
    with SecondMe(home) as sm:
        assert sm.settings.embedding_backend == "auto"
        assert sm.embedder.backend == "onnx"
        reports = []
        assert sm.open_vectors(progress=reports.append).status == "rebuilt: model changed"
        rep = sm.index_pending(progress=reports.append)
        assert rep.embedded == len(texts)
        assert reports and reports[-1].done == reports[-1].total
        after = [r.id for r in sm.search("the dentist appointment", k=5, kinds=["message"])]
        assert after[0] == before[0]
        sm.update_settings(embedding_backend="torch")
        assert sm.embedder.backend == "torch"


@pytest.mark.slow
def test_a_float32_export_of_the_previous_format_is_exported_again(onnx_folder, tmp_path):
    """Data dirs from before int8 hold a format-1 folder: it is not used (the app
    exports the int8 one in its place on first use), and says why in the log."""
    from secondme.models.onnx_embed import MANIFEST, ONNX_DIRNAME, find_onnx_model

    old = tmp_path / "models" / ONNX_DIRNAME
    shutil.copytree(onnx_folder, old)
    assert find_onnx_model(tmp_path / "models") == old
    manifest = json.loads((old / MANIFEST).read_text())
    (old / MANIFEST).write_text(json.dumps({**manifest, "format": 1, "precision": "fp32"}))
    assert find_onnx_model(tmp_path / "models") is None


def test_unknown_backend_is_refused():
    from secondme.config import Settings
    from secondme.errors import InvalidInput, ModelError
    from secondme.models.onnx_backend import load_embedder

    with pytest.raises(ModelError, match="unknown embedding backend"):
        load_embedder(backend="gpu")
    with pytest.raises(InvalidInput, match="embedding_backend"):
        Settings().update(embedding_backend="gpu")


@pytest.mark.slow
def test_auto_falls_back_to_sentence_transformers_when_export_fails(tmp_path, monkeypatch):
    from secondme.errors import ModelError
    from secondme.models import onnx_backend

    def broken(*a, **k):
        raise ModelError("exporting the embedding model needs onnx")

    monkeypatch.setattr(onnx_backend, "export_in_child", broken)
    emb = onnx_backend.load_embedder(models_dir=tmp_path)
    assert emb.backend == "torch" and emb.model_id == "all-MiniLM-L6-v2"
    with pytest.raises(ModelError, match="needs onnx"):
        onnx_backend.load_embedder(backend="onnx", models_dir=tmp_path)


@pytest.mark.slow
def test_onnx_indexing_outpaces_raw_sentence_transformers(onnx_folder, real_embedder):
    """The issue's target is 2.0× with process start included
    (benchmarks/bench_models_embedding.py); this looser in-process floor (small sample,
    shared CPU) still fails if the ONNX path is no faster than plain encode."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import bench_models_embedding as bench
    finally:
        sys.path.pop(0)
    from secondme.indexing import message_text
    from secondme.models.onnx_embed import OnnxEmbedder

    load, cpus = os.getloadavg()[0], os.cpu_count() or 1
    if load > 3 * cpus:
        # ten processes per core: the ratio measures the scheduler, not the engines
        # (at load ~20 on 2 cores one run read 0.39×, the next 0.9×); the figure that
        # counts is the benchmark's, taken on a quieter machine
        pytest.skip(f"machine overloaded (load {load:.0f} on {cpus} cores)")
    msgs = bench.make_texts(240, seed=4)
    texts = [message_text(s, t) for s, t in msgs]
    onnx = OnnxEmbedder(onnx_folder)
    model = real_embedder._model
    model.encode(texts[:32], show_progress_bar=False)
    onnx.embed(texts[:32])
    raw, app = [], []
    for r in range(2):  # interleaved: a busy neighbour slows both alike
        if r % 2:
            app.append(bench.run_app(onnx, msgs))
            raw.append(bench.run_raw(model, texts))
        else:
            raw.append(bench.run_raw(model, texts))
            app.append(bench.run_app(onnx, msgs))
    ratio = min(raw) / min(app)
    assert ratio >= 1.1, f"ONNX indexing at {ratio:.2f}× raw encode (raw {raw}, app {app})"


CHILD_EXPORT = """
import sys, threading, time
gaps, stop = [], []
def tick():
    last = time.perf_counter()
    while not stop:
        time.sleep(0.005)
        now = time.perf_counter()
        gaps.append(now - last)
        last = now
threading.Thread(target=tick, daemon=True).start()
from pathlib import Path
from secondme.models.onnx_backend import ensure_onnx_model
reports = []
folder = ensure_onnx_model(Path(sys.argv[1]), progress=reports.append)
stop.append(1)
print(int(max(gaps) * 1000), "torch" in sys.modules, len(reports), folder.name)
"""


@pytest.mark.slow
def test_first_use_export_runs_in_a_child_and_never_holds_the_app(tmp_path):
    """torch's exporter held the interpreter lock for ~1 s at a time: the window froze
    during the first start. Exported by a child process, the app's other threads keep
    ticking, torch is never imported into the app, and the progress still arrives."""
    out = subprocess.run([sys.executable, "-c", CHILD_EXPORT, str(tmp_path / "models")],
                         capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    longest_ms, torch_loaded, reports, name = out.stdout.split()[-4:]
    assert torch_loaded == "False"
    assert int(reports) >= 2 and name == "all-MiniLM-L6-v2-onnx"
    assert int(longest_ms) < 400, f"a thread of the app waited {longest_ms} ms"


def test_a_failed_child_export_names_the_folder_and_the_reason(tmp_path):
    from secondme.errors import ModelError
    from secondme.models.onnx_backend import export_in_child

    blocker = tmp_path / "models"
    blocker.write_text("a file where the models folder should be")
    with pytest.raises(ModelError, match="could not export") as e:
        export_in_child(blocker / "all-MiniLM-L6-v2-onnx")
    assert "models" in str(e.value)


@pytest.mark.slow
def test_batches_run_side_by_side_and_give_the_one_lane_vectors(onnx_folder):
    """Each core runs its own model call (single-threaded runs of one session) instead
    of all cores splitting one call: the vectors are the same to the bit, in input
    order, and the calls really overlap."""
    import threading
    import time

    from secondme.models.onnx_embed import OnnxEmbedder

    texts = varied_texts()
    one = OnnxEmbedder(onnx_folder, threads=1, max_rows=4, max_tokens=64)
    two = OnnxEmbedder(onnx_folder, threads=2, max_rows=4, max_tokens=64)
    a, b = one.embed(texts), two.embed(texts)
    assert a.shape == b.shape == (len(texts), 384)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)
    # order follows the input (reversed, equal lengths batch up differently, and int8
    # activations are scaled per call: close vectors, not equal ones)
    assert np.sum(two.embed(texts[::-1])[::-1] * b, axis=1).min() > 0.98

    live, most = [0], [0]
    lock = threading.Lock()
    real_run = two._session.run

    def run(*args, **kw):
        with lock:
            live[0] += 1
            most[0] = max(most[0], live[0])
        try:
            time.sleep(0.02)  # long enough for the other lane to start its call
            return real_run(*args, **kw)
        finally:
            with lock:
                live[0] -= 1

    two._session = type("Spy", (), {"run": staticmethod(run)})()
    np.testing.assert_array_equal(two.embed(texts), b)
    assert most[0] == 2
    one._session = type("Spy", (), {"run": staticmethod(run)})()
    most[0] = 0
    one.embed(texts[:20])
    assert most[0] == 1   # threads=1: one call at a time, on the caller's thread


INDEX_IMPORTS = r"""
import json, sys
from secondme.cli import main
try:
    main(["--home", sys.argv[1], "index", "--json"], prog_name="secondme")
except SystemExit as e:
    assert not e.code, e.code
heavy = sorted({m.split(".")[0] for m in sys.modules} & {
    "torch", "transformers", "sentence_transformers", "PySide6", "spacy", "llama_cpp"})
print("@@" + json.dumps(heavy))
"""


@pytest.mark.slow
def test_secondme_index_on_onnx_imports_no_heavy_library(onnx_folder, tmp_path):
    """The ``index`` command's process start is part of its speed: on the ONNX path it
    loads no torch, transformers, sentence-transformers, Qt, spaCy or llama.cpp."""
    from secondme.models.embed import HashEmbedder
    from secondme.service import SecondMe

    home = tmp_path / "home"
    with SecondMe(home, embedder=HashEmbedder()) as sm:
        add_messages(sm.store, varied_texts()[:40])
    env = {**os.environ, "SECONDME_EMBEDDING_ONNX_DIR": str(onnx_folder)}
    r = subprocess.run([sys.executable, "-c", INDEX_IMPORTS, str(home)], capture_output=True,
                       text=True, env=env, cwd=str(ROOT), timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout.split("@@")[0])["items"] == 40, r.stdout
    assert json.loads(next(x for x in r.stdout.splitlines() if x.startswith("@@"))[2:]) == []
