"""Precision and recall of fact extraction on the labelled set.

tests/fixtures/memory/labelled/*.json: 8 conversations (WhatsApp-style, ChatGPT, family
group, work DM, new friends, siblings across time zones and a year end, roommates, old
friends) with 92 facts a careful person would note, their source messages and resolved
dates. Matching rule (secondme/memory/evaluate.py): token-F1 ≥ 0.5 with the gold fact
AND at least one shared source message, one-to-one.

Extractors measured:

* ``deterministic`` — the rule-based extractor (what the embedded tiny model uses);
* ``scripted-gold`` — the LLM extractor driven by a ScriptedLLM that answers with the
  gold facts of the window (+ one invalid fact per window, which must be rejected): it
  measures the LLM path's mechanics (prompting, id mapping, validation, reconcile,
  storage), not a model;
* ``embedded-llm`` (with ``--llm``) — the LLM extractor with the embedded default model
  forced to act as capable: tokens/s, windows and what it gets right (expect little:
  it is a ~135M model).

Writes benchmarks/results/memory_quality.json.

    python benchmarks/bench_memory_quality.py [--llm] [--real-embedder] [-v]
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
LABELLED = ROOT / "tests" / "fixtures" / "memory" / "labelled"
RESULTS = ROOT / "benchmarks" / "results" / "memory_quality.json"

from secondme.memory.evaluate import Score, evaluate_file, gold_like_responder, labelled_files  # noqa: E402
from secondme.models.embed import HashEmbedder  # noqa: E402
from secondme.models.llm import ScriptedLLM  # noqa: E402


def run(name, make_llm, embedder_factory, verbose=False):
    from secondme.service import SecondMe

    total = Score()
    per_file = {}
    extra = {"windows": 0, "rejected": 0, "tokens": 0, "seconds": 0.0, "fallback_windows": 0}
    for path in labelled_files(LABELLED):
        def make(home, data):
            return SecondMe(home, embedder=embedder_factory(), llm=make_llm())

        t = time.perf_counter()
        s, summary = evaluate_file(path, make)
        extra["seconds"] += time.perf_counter() - t
        for k in ("windows", "rejected", "tokens", "fallback_windows"):
            extra[k] += summary.get(k, 0)
        per_file[path.stem] = s.as_dict()
        total.add(s)
        if verbose:
            print(f"  {path.stem}: P {s.precision:.2f} R {s.recall:.2f}")
            for m in s.misses:
                print(f"     miss:  {m}")
            for e in s.extras:
                print(f"     extra: {e}")
    out = total.as_dict()
    out.update({k: round(v, 2) if isinstance(v, float) else v for k, v in extra.items()})
    if extra["tokens"] and extra["seconds"]:
        out["tokens_per_s"] = round(extra["tokens"] / extra["seconds"], 1)
    out["per_file"] = per_file
    print(f"{name:>15}: precision {out['precision']:.3f}  recall {out['recall']:.3f}  "
          f"dates {out['date_accuracy']:.3f} ({out['matched']}/{out['gold']} gold, "
          f"{out['predicted']} notes, {out['rejected']} rejected, {extra['seconds']:.1f} s)")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--llm", action="store_true", help="also run the embedded model (slow)")
    ap.add_argument("--real-embedder", action="store_true", help="use all-MiniLM-L6-v2")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    files = labelled_files(LABELLED)
    n_facts = sum(len(json.loads(p.read_text())["facts"]) for p in files)
    print(f"labelled set: {len(files)} conversations, {n_facts} facts")
    if args.real_embedder:
        from secondme.models.embed import SentenceTransformerEmbedder

        real = SentenceTransformerEmbedder()
        emb = lambda: real  # noqa: E731
    else:
        emb = HashEmbedder
    results = {"machine": platform.platform(), "embedder": "all-MiniLM-L6-v2" if
               args.real_embedder else "hash-64", "conversations": len(files),
               "facts": n_facts, "rule": "token-F1 >= 0.5 and a shared source message"}
    results["deterministic"] = run("deterministic", lambda: ScriptedLLM([], capable=False),
                                   emb, args.verbose)
    responder = gold_like_responder(files)
    results["scripted-gold"] = run("scripted-gold", lambda: ScriptedLLM(responder), emb,
                                   args.verbose)
    if args.llm:
        from secondme.config import Settings
        from secondme.models.llm import llm_from_settings

        cache = {}

        def embedded():
            if "llm" not in cache:
                llm = llm_from_settings(Settings(), ROOT / ".bench-home")
                llm.capable = True      # force the LLM path with the tiny default model
                cache["llm"] = llm
            return cache["llm"]

        results["embedded-llm"] = run("embedded-llm", embedded, emb, args.verbose)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1))
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
