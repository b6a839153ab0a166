"""Precision and recall of memory formation on the labelled set, by half.

tests/fixtures/memory/labelled/tune/*.json — the half the rules were tuned on;
tests/fixtures/memory/labelled/heldout/*.json — the half nobody tuned on (written before
the rules were changed, and only ever scored; scored so often since that it is no longer
truly unseen); tests/fixtures/memory/labelled/fresh/*.json — a second held-out set written
later by another hand, scored before any rule change and never read for failure analysis
(only its totals); tests/fixtures/memory/labelled/fresh2/*.json — a third held-out set,
written the same way before the next round of rule changes. Each file: conversations (casual
two-person chats, generated-style long chats, ChatGPT/Claude sessions, group chats,
work DMs) or a document, with the facts a careful reader would keep, their source
messages (or ``¶N`` paragraphs) and resolved dates.

Matching rule (secondme/memory/evaluate.py, issue 15): content-token F1 ≥ 0.3 with the
gold fact AND at least one shared source message, one-to-one.

Measured per half:

* ``echo`` — every message verbatim as a note (the baseline formation must beat);
* ``deterministic`` — the rule-based extractor (what the embedded tiny model uses);
* ``scripted-gold`` — the LLM extractor driven by a ScriptedLLM answering with the gold
  facts of the window (+ one invalid fact per window, which must be rejected): the LLM
  path's mechanics scored by the same measure, not a model;
* ``embedded-llm`` (with ``--llm``) — the LLM extractor with the embedded default model
  forced to act as capable (expect little: it is a ~135M model).

Also: notes per message, formation failures (a file whose formation raised), seconds.

Writes benchmarks/results/memory_quality.json.

    python benchmarks/bench_memory_quality.py [--half tune|heldout|fresh|fresh2|both|all]
                                              [--llm] [--real-embedder] [-v]

``--half`` takes one half, a comma list ("tune,fresh"), ``both`` (tune and heldout) or
``all`` (the default). Halves not run keep their previous figures in the results file.
``-v`` prints per-file figures, and the misses and extras of the tune half only.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
LABELLED = ROOT / "tests" / "fixtures" / "memory" / "labelled"
RESULTS = ROOT / "benchmarks" / "results" / "memory_quality.json"

from secondme.memory.evaluate import (  # noqa: E402
    Score,
    echo_facts,
    evaluate_file,
    gold_like_responder,
    is_casual_chat,
    labelled_files,
    score,
)
from secondme.models.embed import HashEmbedder  # noqa: E402
from secondme.models.llm import ScriptedLLM  # noqa: E402

HALVES = ("tune", "heldout", "fresh", "fresh2")


def _halves(value: str) -> tuple[str, ...]:
    """``--half`` value → the halves to run, in a fixed order."""
    named = {"all": HALVES, "both": ("tune", "heldout")}
    wanted = set(named.get(value, tuple(v.strip() for v in value.split(","))))
    if not wanted or wanted - set(HALVES):
        raise argparse.ArgumentTypeError(f"unknown half in {value!r}; use {', '.join(HALVES)}")
    return tuple(h for h in HALVES if h in wanted)


def _messages(data: dict) -> int:
    return sum(len(c["messages"]) for c in data["conversations"]) + sum(
        d["text"].count("¶") for d in data.get("documents", []))


def _line(name: str, out: dict) -> None:
    print(f"{name:>15}: precision {out['precision']:.3f}  recall {out['recall']:.3f}  "
          f"dates {out['date_accuracy']:.3f} ({out['matched']}/{out['gold']} gold, "
          f"{out['predicted']} notes, {out.get('notes_per_message', 0):.2f}/message, "
          f"{out.get('failures', 0)} failures, {out.get('seconds', 0):.1f} s)")
    if "casual" in out:
        c = out["casual"]
        print(f"{'':>17}casual two-person chats: {c['notes_per_message']:.2f} notes/message "
              f"(a careful reader: {c['gold_per_message']:.2f}) over {c['messages']} messages")


def run_echo(files: list[Path]) -> dict:
    total, msgs = Score(), 0
    for path in files:
        data = json.loads(path.read_text())
        total.add(score(echo_facts(data), data["facts"]))
        msgs += _messages(data)
    out = total.as_dict()
    out["notes_per_message"] = round(total.predicted / max(1, msgs), 3)
    _line("echo", out)
    return out


def run(name, files, make_llm, embedder_factory, verbose=False, show_misses=False):
    from secondme.service import SecondMe

    total = Score()
    per_file = {}
    extra = {"windows": 0, "rejected": 0, "tokens": 0, "seconds": 0.0, "fallback_windows": 0,
             "failures": 0}
    msgs = 0
    casual = {"messages": 0, "notes": 0, "gold": 0}
    for path in files:
        data = json.loads(path.read_text())
        msgs += _messages(data)

        def make(home, data):
            return SecondMe(home, embedder=embedder_factory(), llm=make_llm())

        t = time.perf_counter()
        try:
            s, summary = evaluate_file(path, make)
        except Exception:  # a failure is a figure of this benchmark, not its end
            extra["failures"] += 1
            traceback.print_exc()
            continue
        extra["seconds"] += time.perf_counter() - t
        for k in ("windows", "rejected", "tokens", "fallback_windows"):
            extra[k] += summary.get(k, 0)
        per_file[path.stem] = s.as_dict()
        total.add(s)
        if is_casual_chat(data):
            casual["messages"] += _messages(data)
            casual["notes"] += s.predicted
            casual["gold"] += s.gold
        if verbose:
            print(f"  {path.stem}: P {s.precision:.2f} R {s.recall:.2f}")
        if verbose and show_misses:
            for m in s.misses:
                print(f"     miss:  {m}")
            for e in s.extras:
                print(f"     extra: {e}")
    out = total.as_dict()
    out.update({k: round(v, 2) if isinstance(v, float) else v for k, v in extra.items()})
    out["notes_per_message"] = round(total.predicted / max(1, msgs), 3)
    # casual two-person chats: notes per message against what a careful reader kept
    out["casual"] = {**casual,
                     "notes_per_message": round(casual["notes"] / max(1, casual["messages"]), 3),
                     "gold_per_message": round(casual["gold"] / max(1, casual["messages"]), 3)}
    if extra["tokens"] and extra["seconds"]:
        out["tokens_per_s"] = round(extra["tokens"] / extra["seconds"], 1)
    out["per_file"] = per_file
    _line(name, out)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--half", type=_halves, default=HALVES,
                    help="tune, heldout, fresh, fresh2, a comma list, both (tune,heldout) or all")
    ap.add_argument("--llm", action="store_true", help="also run the embedded model (slow)")
    ap.add_argument("--real-embedder", action="store_true", help="use all-MiniLM-L6-v2")
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("--note-vectors", choices=("text", "enriched"), default="text",
                    help="what notes are embedded from: their text (the app's way) or "
                         "text | keywords | context (before; bench_memory_note_vectors.py)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    if args.note_vectors == "enriched":
        import secondme.indexing

        secondme.indexing.NOTE_VECTOR_PARTS = secondme.indexing.NOTE_VECTOR_ENRICHED
    if args.real_embedder:
        from secondme.models.embed import SentenceTransformerEmbedder

        real = SentenceTransformerEmbedder()
        emb = lambda: real  # noqa: E731
    else:
        emb = HashEmbedder
    results = {"machine": platform.platform(), "embedder": "all-MiniLM-L6-v2" if
               args.real_embedder else "hash-64",
               "rule": "content-token F1 >= 0.3 and a shared source message, one-to-one"}
    if args.out.exists() and set(args.half) != set(HALVES):
        results = {**json.loads(args.out.read_text()), **results}
    for half in args.half:
        files = labelled_files(LABELLED / half)
        n_facts = sum(len(json.loads(p.read_text())["facts"]) for p in files)
        n_msgs = sum(_messages(json.loads(p.read_text())) for p in files)
        print(f"{half}: {len(files)} conversations/documents, {n_msgs} messages, "
              f"{n_facts} facts")
        res = {"files": len(files), "messages": n_msgs, "facts": n_facts}
        res["echo"] = run_echo(files)
        # misses and extras are listed for the tune half only: the held-out halves are
        # scored, never read for failure analysis
        res["deterministic"] = run("deterministic", files,
                                   lambda: ScriptedLLM([], capable=False), emb, args.verbose,
                                   show_misses=half == "tune")
        responder = gold_like_responder(files)
        res["scripted-gold"] = run("scripted-gold", files,
                                   lambda r=responder: ScriptedLLM(r), emb, args.verbose)
        if args.llm:
            from secondme.config import Settings
            from secondme.models.llm import llm_from_settings

            cache = {}

            def embedded(cache=cache):
                if "llm" not in cache:
                    llm = llm_from_settings(Settings(), ROOT / ".bench-home")
                    llm.capable = True      # force the LLM path with the tiny default model
                    cache["llm"] = llm
                return cache["llm"]

            res["embedded-llm"] = run("embedded-llm", files, embedded, emb, args.verbose)
        results[half] = res
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
