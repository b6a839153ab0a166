"""Notes embedded from their text alone against "text | keywords | context" (issue 14).

    python benchmarks/bench_memory_note_vectors.py [--messages 3000] [--rounds 2]
                                                   [--no-quality] [--out FILE]

Formation at 1M messages spends most of its time embedding facts (77 % of the worker's
samples on a 2-core Zen 1). Each note used to be embedded from its text, keywords and
one-line context ("Chat between Me, Pia and Jonas, "group 11", 30 October 2023"); it is
now embedded from its text alone (``secondme.indexing.NOTE_VECTOR_PARTS``). Both ways are
measured in this run:

* **speed** — a generated WhatsApp export of ``--messages`` messages (bench_scale_1m's
  generator: the realistic chat text of the 1M run) is imported and its messages embedded
  once with the app's embedder (ONNX Runtime); copies of that store are formed each way,
  alternating which goes first, ``--rounds`` times. Reported: formation seconds (median),
  messages/s, notes, texts the embedder was given during formation and their mean tokens,
  and ``enriched_over_text`` (formation time, old way over new: above 1 = faster now).
* **quality** — ``bench_recall_quality.py`` (evidence recall@10 of the whole pipeline
  after formation, tune and held-out questions) and ``bench_memory_quality.py
  --real-embedder`` (formation's precision and recall on the labelled halves) run each way
  with ``--note-vectors``.

Writes benchmarks/results/memory_note_vectors.json.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_scale_1m import generate  # noqa: E402
from machine import cpu  # noqa: E402

RESULTS = ROOT / "benchmarks/results/memory_note_vectors.json"
WAYS = ("text", "enriched")


def build(base: Path, export: Path, n: int) -> dict:
    """Import ``n`` generated messages into ``base`` and embed them (once, for both ways)."""
    from secondme.models.onnx_backend import ensure_onnx_model
    from secondme.paths import MODELS_DIR
    from secondme.service import SecondMe

    files = generate(export, n, chats=3)
    ensure_onnx_model(base / MODELS_DIR)
    t = time.perf_counter()
    with SecondMe(base) as sm:
        sm.import_paths(files)
        rep = sm.index_pending()
    return {"messages": n, "embedded_messages": rep.items,
            "import_and_embed_s": round(time.perf_counter() - t, 1)}


def form(base: Path, home: Path, way: str, tokenizer) -> dict:
    """Form a copy of ``base`` with notes embedded ``way``; time it, count what the
    embedder was given."""
    import secondme.indexing as indexing
    from secondme.service import SecondMe

    shutil.rmtree(home, ignore_errors=True)
    shutil.copytree(base, home)
    indexing.NOTE_VECTOR_PARTS = (indexing.NOTE_VECTOR_ENRICHED if way == "enriched"
                                  else ("text",))
    given: list[str] = []
    try:
        with SecondMe(home) as sm:
            embedder = sm.embedder
            embed = embedder.embed
            embedder.embed = lambda texts: given.extend(texts) or embed(texts)
            t = time.perf_counter()
            summary = sm.run_extract()
            dt = time.perf_counter() - t
    finally:
        indexing.NOTE_VECTOR_PARTS = ("text",)
        shutil.rmtree(home, ignore_errors=True)
    tokens = [len(tokenizer.encode(x).ids) for x in given]
    return {"s": round(dt, 2), "notes_added": summary["added"], "facts": summary["facts"],
            "texts_embedded": len(given),
            "mean_tokens": round(statistics.mean(tokens), 1) if tokens else 0,
            "vectors_reused": summary.get("vectors_reused")}


def speed(n: int, rounds: int) -> dict:
    from tokenizers import Tokenizer

    from secondme.paths import MODELS_DIR

    with tempfile.TemporaryDirectory(prefix="bench-notevec-") as tmp:
        tmp = Path(tmp)
        base = tmp / "base"
        out = build(base, tmp / "export", n)
        tok_file = next((base / MODELS_DIR).rglob("tokenizer.json"))
        tokenizer = Tokenizer.from_file(str(tok_file))
        tokenizer.no_padding()
        tokenizer.no_truncation()
        runs: dict[str, list[dict]] = {w: [] for w in WAYS}
        for r in range(rounds):
            for way in (WAYS if r % 2 == 0 else WAYS[::-1]):
                got = form(base, tmp / "form", way, tokenizer)
                runs[way].append(got)
                print(f"round {r + 1} {way:8s} {json.dumps(got)}", flush=True)
    for way in WAYS:
        secs = [g["s"] for g in runs[way]]
        out[way] = {**runs[way][-1], "s": statistics.median(secs), "rounds_s": secs,
                    "messages_per_s": round(n / statistics.median(secs), 1)}
    out["enriched_over_text"] = round(out["enriched"]["s"] / out["text"]["s"], 3)
    out["rounds_ratio"] = [round(e["s"] / t["s"], 3)
                           for e, t in zip(runs["enriched"], runs["text"])]
    return out


def quality() -> dict:
    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-notevec-q-") as tmp:
        for way in WAYS:
            rq = Path(tmp) / f"recall_{way}.json"
            mq = Path(tmp) / f"memory_{way}.json"
            for script, extra, dest in (
                    ("bench_recall_quality.py", [], rq),
                    ("bench_memory_quality.py", ["--real-embedder"], mq)):
                subprocess.run([sys.executable, str(ROOT / "benchmarks" / script),
                                "--note-vectors", way, "--out", str(dest), *extra],
                               check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
            recall = json.loads(rq.read_text())["variants"]
            memory = json.loads(mq.read_text())
            out[way] = {
                "recall_at_10_formed": {s: recall["full_formed"][s]["all"]
                                        for s in ("tune", "heldout")},
                "recall_at_10_before_forming": {s: recall["full"][s]["all"]
                                                for s in ("tune", "heldout")},
                "formation": {half: {k: memory[half]["deterministic"][k]
                                     for k in ("precision", "recall", "predicted")}
                              for half in ("tune", "heldout", "fresh", "fresh2")
                              if half in memory}}
            print(way, json.dumps(out[way]), flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--no-quality", action="store_true")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    res = {"benchmark": "memory_note_vectors", "cpu": cpu(),
           "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "speed": speed(args.messages, args.rounds)}
    print("enriched over text (formation time):", res["speed"]["enriched_over_text"])
    if not args.no_quality:
        res["quality"] = quality()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
