"""Can the embedder get faster at the same quality? ONNX variants against PyTorch (issue 14).

    python benchmarks/bench_models_onnx_variants.py [--n 1500] [--rounds 2] [--no-recall]

The issue asks for ``secondme index`` at ≥ 2.0× plain ``SentenceTransformer.encode``,
and quotes ≈ 2.1× for ONNX fp32 and ≈ 2.5× for dynamic int8 (per-channel, reduce_range)
from another machine. This script measures, on this machine and in one run:

* each variant's in-process throughput on the same ``--n`` chat messages as
  ``bench_models_embedding.py`` (``"speaker: text"``), against ``encode`` (batch 32,
  normalised) — rounds interleaved, best round per side, so a noisy neighbour hurts
  every side alike:

  - ``fp32`` — the app's float32 export (``export_onnx(precision="fp32")``, what the
    app shipped before int8);
  - ``fp32_fused`` — the same graph through ONNX Runtime's transformer optimizer
    (Attention, SkipLayerNorm, BiasGelu fusions);
  - ``int8_per_channel`` — dynamic int8 weights, per channel, reduce_range (what the
    app ships now: the same quantizer settings as ``export_onnx``'s default);
  - ``int8_default`` — dynamic int8 with the quantizer's defaults;

* the vectors: min and mean cosine against sentence-transformers over the same texts;
* how close to the machine's arithmetic limit the fp32 path already runs: the
  multiply-adds the texts need (6 layers × (4·384² + 2·384·1536) per token, plus
  attention) over the measured seconds, against a peak of cores × GHz × 32 FLOP/cycle
  (two AVX2 FMA units on 8 floats) — when fp32 is near that peak, no fp32 runtime can be
  twice as fast;
* the same graphs on OpenVINO (``openvino_fp32``, ``openvino_int8``: its CPU plugin,
  oneDNN's JIT kernels, ``THROUGHPUT`` hint, one request per stream, the app's length
  batches) when the ``openvino`` package is importable — not a dependency of the app;
  ``PYTHONPATH=<a folder with openvino>`` for this measurement only;
* the machine's measured float32 ceiling: numpy's (OpenBLAS) 1024×1024 product in
  GFLOP/s, beside the nominal peak (a Zen 1 core runs AVX2 as two 128-bit halves, so
  the nominal figure is twice what it can do);
* unless ``--no-recall``: evidence recall@10 of the whole search pipeline and of dense
  search alone on both evaluation sets (``bench_recall_quality.py --no-formed``, a child
  process per variant with ``$SECONDME_EMBEDDING_ONNX_DIR`` pointing at it), so a
  variant's quality cost is in points of recall (the issue's bar for int8: ≤ 0.5).

Writes benchmarks/results/models_onnx_variants.json (``--out`` to keep another host's).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from machine import cpu  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "models_onnx_variants.json"


def restamp(folder: Path) -> None:
    """Rewrite the manifest's checksums after the model file was replaced."""
    from secondme.models.onnx_embed import MANIFEST, MODEL_FILE, TOKENIZER_FILE, file_sha256

    m = json.loads((folder / MANIFEST).read_text())
    for name in (MODEL_FILE, TOKENIZER_FILE):
        m["sha256"][name] = file_sha256(folder / name)
    (folder / MANIFEST).write_text(json.dumps(m, indent=2))
    (folder / ".verified").unlink(missing_ok=True)


def make_variants(work: Path) -> dict[str, Path]:
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers import optimizer

    from secondme.models.onnx_backend import export_onnx
    from secondme.models.onnx_embed import MODEL_FILE

    base = export_onnx(work / "fp32", precision="fp32")
    out = {"fp32": base}
    fused = work / "fp32_fused"
    shutil.copytree(base, fused)
    m = optimizer.optimize_model(str(base / MODEL_FILE), model_type="bert", num_heads=12,
                                 hidden_size=384, opt_level=0)
    m.save_model_to_file(str(fused / MODEL_FILE))
    restamp(fused)
    out["fp32_fused"] = fused
    for name, kw in (("int8_per_channel", {"per_channel": True, "reduce_range": True}),
                     ("int8_default", {})):
        d = work / name
        shutil.copytree(base, d)
        quantize_dynamic(str(base / MODEL_FILE), str(d / MODEL_FILE),
                         weight_type=QuantType.QInt8, **kw)
        restamp(d)
        out[name] = d
    return out


def flops(lengths) -> float:
    import numpy as np

    lengths = np.asarray(lengths, dtype=np.float64)
    per_token = 2 * 6 * (4 * 384 * 384 + 2 * 384 * 1536)
    attention = 2 * 6 * 2 * 384 * (lengths ** 2).sum()
    return float(per_token * lengths.sum() + attention)


def peak_flops() -> tuple[float, float]:
    """(cores × GHz × 32 FLOP per cycle, GHz) from /proc/cpuinfo (AVX2, two FMA units)."""
    ghz = 0.0
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("cpu MHz"):
                ghz = max(ghz, float(line.split(":")[1]) / 1000)
    except OSError:
        pass
    cores = os.cpu_count() or 1
    return cores * ghz * 32 * 1e9, ghz


def sgemm_gflops() -> float:
    """What this machine's float32 matrix products really reach (numpy/OpenBLAS)."""
    import numpy as np

    a = np.random.default_rng(0).random((1024, 1024), dtype=np.float32)
    a @ a
    t = time.perf_counter()
    for _ in range(10):
        a @ a
    return 10 * 2 * 1024 ** 3 / (time.perf_counter() - t) / 1e9


class OpenVinoEmbedder:
    """The exported graph on OpenVINO's CPU plugin, fed the app's length batches."""

    def __init__(self, folder: Path, tokenizer):
        import openvino as ov

        self._ov = ov
        self.model = ov.Core().compile_model(str(folder / "model.onnx"), "CPU",
                                             {"PERFORMANCE_HINT": "THROUGHPUT"})
        self.requests = int(self.model.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
        self.tok = tokenizer

    def embed(self, texts):
        import numpy as np

        from secondme.models.onnx_embed import plan_batches

        ids = [e.ids for e in self.tok.encode_batch(list(texts))]
        lengths = np.fromiter((len(i) for i in ids), dtype=np.int64, count=len(ids))
        out = np.empty((len(texts), 384), dtype=np.float32)
        queue = self._ov.AsyncInferQueue(self.model, self.requests)

        def done(request, rows):
            out[rows] = request.get_output_tensor(0).data

        queue.set_callback(done)
        for rows in plan_batches(lengths):
            width = int(lengths[rows].max())
            input_ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros_like(input_ids)
            for j, r in enumerate(rows):
                input_ids[j, :lengths[r]] = ids[r]
                mask[j, :lengths[r]] = 1
            queue.start_async({"input_ids": input_ids, "attention_mask": mask}, rows)
        queue.wait_all()
        return out


def recall_with(folder: Path | None, work: Path) -> dict:
    out = work / f"recall-{folder.name if folder else 'default'}.json"
    env = dict(os.environ)
    if folder is not None:
        env["SECONDME_EMBEDDING_ONNX_DIR"] = str(folder)
    subprocess.run([sys.executable, str(ROOT / "benchmarks/bench_recall_quality.py"),
                    "--no-formed", "--out", str(out)], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    r = json.loads(out.read_text())
    return {v: {s: r["variants"][v][s]["all"] for s in ("tune", "heldout")}
            for v in ("full", "dense_single")} | {"embedder": r.get("embedder")}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1500)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--no-recall", action="store_true")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()

    import numpy as np
    from bench_models_embedding import make_texts
    from sentence_transformers import SentenceTransformer

    from secondme.models.embed import bundled_model_dir
    from secondme.models.onnx_embed import OnnxEmbedder

    texts = [f"{s}: {t}" for s, t in make_texts(args.n)]
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        variants = make_variants(work)
        st = SentenceTransformer(str(bundled_model_dir()), device="cpu",
                                 local_files_only=True)
        embedders = {name: OnnxEmbedder(folder) for name, folder in variants.items()}
        tok = embedders["fp32"]._tokenizer
        lengths = [len(e.ids) for e in tok.encode_batch(texts)]
        try:
            import openvino  # noqa: F401
            embedders["openvino_fp32"] = OpenVinoEmbedder(variants["fp32"], tok)
            embedders["openvino_int8"] = OpenVinoEmbedder(variants["int8_per_channel"], tok)
        except ImportError:
            pass

        def run_st():
            return st.encode(texts, batch_size=32, normalize_embeddings=True,
                             convert_to_numpy=True, show_progress_bar=False)

        sides = {"torch": run_st} | {n: (lambda e=e: e.embed(texts))
                                     for n, e in embedders.items()}
        st.encode(texts[:64], batch_size=32)   # warm every side once
        for e in embedders.values():
            e.embed(texts[:64])
        best = {n: float("inf") for n in sides}
        vectors = {}
        for r in range(args.rounds):
            order = list(sides) if r % 2 == 0 else list(reversed(sides))
            for n in order:
                t = time.perf_counter()
                vectors[n] = sides[n]()
                best[n] = min(best[n], time.perf_counter() - t)
                print(f"round {r} {n:<18} {best[n]:6.2f} s", flush=True)
        ref = vectors["torch"]
        peak, ghz = peak_flops()
        need = flops(lengths)
        result = {
            "benchmark": "models_onnx_variants", "texts": len(texts),
            "tokens": int(sum(lengths)), "mean_tokens": round(float(np.mean(lengths)), 1),
            "cpus": os.cpu_count(), "ghz": round(ghz, 2),
            "cpu": cpu(), "peak_gflops_avx2": round(peak / 1e9, 1),
            "numpy_sgemm_gflops": round(sgemm_gflops(), 1),
            "gflop_needed": round(need / 1e9, 1),
            "variants": {},
        }
        for n in sides:
            cos = (vectors[n] * ref).sum(axis=1)
            result["variants"][n] = {
                "seconds": round(best[n], 2),
                "texts_per_s": round(len(texts) / best[n], 1),
                "vs_torch": round(best["torch"] / best[n], 3),
                "gflops": round(need / best[n] / 1e9, 1),
                "share_of_peak": round(need / best[n] / peak, 3) if peak else None,
                "min_cosine": round(float(cos.min()), 5),
                "mean_cosine": round(float(cos.mean()), 5),
            }
        if not args.no_recall:
            for n, folder in variants.items():
                if n == "fp32_fused":
                    continue   # identical vectors to fp32 (cosine 1.0): same recall
                result["variants"][n]["recall_at_10"] = recall_with(folder, work)
                print(n, result["variants"][n]["recall_at_10"], flush=True)
            base = result["variants"]["fp32"]["recall_at_10"]
            for v in result["variants"].values():
                if "recall_at_10" in v:
                    v["heldout_full_minus_fp32"] = round(
                        v["recall_at_10"]["full"]["heldout"] - base["full"]["heldout"], 1)
    result["load_average"] = {"start": [round(x, 2) for x in load_start],
                              "end": [round(x, 2) for x in os.getloadavg()]}
    result["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
