"""How fast are memories formed?

1. Deterministic extractor on a generated 600-message, two-person conversation (a month
   of chat: facts, plans, small talk, questions, in sessions separated by hours), formed
   end to end: facts, enrichment, embedding of the notes, reconcile, links, entities.
   Timed with the fake (hash) embedder and with the real all-MiniLM-L6-v2:
   * ``formation``: ``run_extract`` after the messages were already embedded — the
     memory work itself (target ≤ 10 s on 2 cores);
   * ``end_to_end``: ``run_extract`` on a fresh import (it embeds the 600 messages first).
   With the fake embedder, formation's messages/s by wall clock and by the process's CPU
   time (formation is one thread: CPU seconds are what it costs on a loaded 2-core
   machine), against the import of the same messages measured in the same run
   (``import_s``: parse, dedupe, store, FTS) — issue 15's target is ≥ 100 messages/s
   excluding embedding.
   Baseline in the same run: embedding the same 600 message texts with the same model
   (``embed_baseline``), so the ratio shows what formation adds on top of one pass of
   the embedder.
2. ``--llm``: the LLM extractor with the embedded default model (forced capable) on the
   first ``--llm-messages`` messages: tokens/s and messages/s.

Writes benchmarks/results/memory_speed.json.

    python benchmarks/bench_memory_speed.py [--messages 600] [--no-real] [--llm]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# --baseline runs this script again on another checkout's package (its own process)
sys.path.insert(0, os.environ.get("SECONDME_BENCH_PACKAGE_ROOT", str(ROOT)))
RESULTS = ROOT / "benchmarks" / "results" / "memory_speed.json"

PLACES = ["Berlin", "Lisbon", "Oslo", "Madrid", "Vienna", "Prague", "Dublin", "Porto", "Rome",
          "Kyoto", "Boston", "Denver"]
ORGS = ["Siemens", "Zalando", "Spotify", "Acme", "Bosch", "Google", "Deloitte", "Ikea"]
PEOPLE = ["Lena", "Marco", "Julia", "Tariq", "Ines", "Kofi", "Hana", "Pavel", "Maya", "Otto"]
THINGS = ["sushi", "jazz", "hiking", "board games", "sourdough", "cycling", "opera", "tennis",
          "poetry", "kayaking", "chess", "pottery"]
FACTS = [
    "I moved to {place} last month.", "I started a new job at {org} on Monday.",
    "My sister {person} is getting married in June.", "I really love {thing}.",
    "I hate {thing}, honestly.", "I'm flying to {place} next week for a conference.",
    "We went {thing2} with {person} last Saturday.", "I adopted a cat called {person2} yesterday.",
    "My brother {person} works at {org} as an engineer.", "I'm allergic to {food}.",
    "I quit {org} two weeks ago.", "I'm planning a trip to {place} in March.",
    "{person} got a promotion at {org} yesterday.", "I've been learning {lang} since January.",
    "I bought a new bike last weekend.", "My favourite band is {band}.",
    "I ran a half marathon in {place} on Sunday.", "I live in {place} now.",
]
NOISE = ["haha yes", "how was your day?", "good morning!", "lol", "ok see you later",
         "did you see that?", "thanks!!", "what do you think?", "omg", "sounds good",
         "I'm so tired", "I know right", "where are you?", "nice 😄", "let's talk tomorrow"]


def make_conversation(n: int, seed: int = 7) -> dict:
    rnd = random.Random(seed)
    t = datetime(2023, 3, 1, 9, 0, tzinfo=timezone(timedelta(hours=1)))
    msgs = []
    for i in range(n):
        t += timedelta(minutes=rnd.choice([1, 1, 2, 3, 5])) if i % 25 else timedelta(hours=20)
        speaker = ["Alex", "Sam"][rnd.random() < 0.5]
        if rnd.random() < 0.45:
            text = rnd.choice(FACTS).format(
                place=rnd.choice(PLACES), org=rnd.choice(ORGS), person=rnd.choice(PEOPLE),
                person2=rnd.choice(PEOPLE), thing=rnd.choice(THINGS),
                thing2=rnd.choice(["hiking", "climbing", "sailing", "skiing"]),
                food=rnd.choice(["peanuts", "shellfish", "cats", "pollen"]),
                lang=rnd.choice(["Spanish", "Japanese", "Arabic", "Polish"]),
                band=rnd.choice(["Radiohead", "Arcade Fire", "Bonobo", "Portishead"]))
        else:
            text = rnd.choice(NOISE)
        msgs.append({"id": str(i), "speaker": speaker, "timestamp": t.isoformat(), "text": text})
    return {"conversations": [{"id": "bench", "title": "Alex & Sam",
                               "participants": ["Alex", "Sam"], "messages": msgs}]}


def form(embedder, data, *, pre_index: bool, llm=None, llm_messages=None):
    from secondme.models.llm import ScriptedLLM
    from secondme.service import SecondMe

    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "chat.json"
        if llm_messages:
            data = json.loads(json.dumps(data))
            conv = data["conversations"][0]
            conv["messages"] = conv["messages"][:llm_messages]
        p.write_text(json.dumps(data))
        sm = SecondMe(Path(tmp) / "home", embedder=embedder,
                      llm=llm or ScriptedLLM([], capable=False))
        try:
            t = time.perf_counter()
            sm.import_paths([p])
            import_s = time.perf_counter() - t
            if pre_index:
                sm.index_pending()
            t, c = time.perf_counter(), time.process_time()
            rep = sm.run_extract()
            rep["wall"] = round(time.perf_counter() - t, 3)
            rep["cpu"] = round(time.process_time() - c, 3)
            rep["import_s"] = round(import_s, 3)
            rep["notes"] = sm.store.conn.execute("select count(*) from notes").fetchone()[0]
            rep["links_total"] = sm.store.conn.execute("select count(*) from links").fetchone()[0]
            return rep
        finally:
            sm.close()


def bench_llm(data, n_messages: int, max_tokens: int) -> dict:
    """The LLM extractor alone with the embedded default model (forced capable) on the
    first ``n_messages`` messages, in windows of at most 12: tokens/s, messages/s, and
    how much of its output survived validation."""
    from secondme.config import Settings
    from secondme.memory.llm_extract import LLMExtractor
    from secondme.memory.windows import load_window, plan_windows
    from secondme.models.embed import HashEmbedder
    from secondme.models.llm import llm_from_settings
    from secondme.service import SecondMe

    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "chat.json"
        d = json.loads(json.dumps(data))
        d["conversations"][0]["messages"] = d["conversations"][0]["messages"][:n_messages]
        p.write_text(json.dumps(d))
        llm = llm_from_settings(Settings(), tmp)
        llm.capable = True
        with SecondMe(Path(tmp) / "home", embedder=HashEmbedder(), llm=llm) as sm:
            sm.import_paths([p])
            plans = plan_windows(sm.store.conn, 240, max_items=12)
            ex = LLMExtractor(llm, max_tokens=max_tokens)
            t0 = time.perf_counter()
            llm.complete("Hello", max_tokens=1)           # load the model outside the timing
            load_s = time.perf_counter() - t0
            tokens = facts = rejected = msgs = 0
            t = time.perf_counter()
            for plan in plans:
                w = load_window(sm.store.conn, plan)
                r = ex.extract(w)
                tokens += r.tokens
                facts += len(r.facts)
                rejected += len(r.rejected)
                msgs += len(w.items)
                print(f"  window of {len(w.items)}: {r.tokens} tokens, {len(r.facts)} facts, "
                      f"{len(r.rejected)} rejected", flush=True)
            secs = time.perf_counter() - t
    return {"model": getattr(llm, "model_id", "?"), "load_s": round(load_s, 2),
            "messages": msgs, "windows": len(plans), "seconds": round(secs, 2),
            "tokens": tokens, "tokens_per_s": round(tokens / secs, 1) if secs else 0.0,
            "messages_per_s": round(msgs / secs, 2) if secs else 0.0, "facts": facts,
            "rejected": rejected, "max_tokens": max_tokens}


def compare(args) -> None:
    """Formation with the fake embedder, this checkout vs ``args.baseline``, alternating in
    separate processes so that both see the same load; writes ``vs_baseline``."""
    import subprocess

    runs = {"this": [], "baseline": []}
    for _ in range(args.rounds):
        for which, root in (("baseline", args.baseline), ("this", str(ROOT))):
            env = dict(os.environ, SECONDME_BENCH_PACKAGE_ROOT=str(Path(root).resolve()))
            env["PYTHONPATH"] = str(Path(root).resolve())
            out = subprocess.run([sys.executable, __file__, "--fake-only-json", "--messages",
                                  str(args.messages)], env=env, capture_output=True,
                                 text=True, check=True)
            runs[which].append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(which, runs[which][-1], flush=True)
    med = {k: sorted(r["cpu"] for r in v)[len(v) // 2] for k, v in runs.items()}
    medw = {k: sorted(r["wall"] for r in v)[len(v) // 2] for k, v in runs.items()}
    res = {"baseline": str(args.baseline), "messages": args.messages, "runs": runs,
           "median_cpu_s": med, "median_wall_s": medw,
           "this_over_baseline_cpu": round(med["this"] / med["baseline"], 3),
           "messages_per_cpu_s": {k: round(args.messages / v, 1) for k, v in med.items()},
           "messages_per_s_wall": {k: round(args.messages / v, 1) for k, v in medw.items()},
           "load_average": [round(x, 2) for x in os.getloadavg()]}
    print(f"median CPU s: this {med['this']:.2f}, baseline {med['baseline']:.2f} "
          f"(x{res['this_over_baseline_cpu']:.2f}); wall msg/s this "
          f"{res['messages_per_s_wall']['this']}, "
          f"baseline {res['messages_per_s_wall']['baseline']}")
    old = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    old["vs_baseline"] = res
    RESULTS.write_text(json.dumps(old, indent=1))
    print(f"wrote {RESULTS.relative_to(ROOT)}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=600)
    ap.add_argument("--no-real", action="store_true", help="skip all-MiniLM-L6-v2")
    ap.add_argument("--llm", action="store_true", help="measure the embedded LLM extractor")
    ap.add_argument("--llm-messages", type=int, default=12)
    ap.add_argument("--llm-max-tokens", type=int, default=256)
    ap.add_argument("--baseline", metavar="DIR", help="a checkout (e.g. main) whose formation "
                    "is timed alternately with this one's, fake embedder, --rounds times")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--fake-only-json", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.fake_only_json:
        from secondme.models.embed import HashEmbedder

        r = form(HashEmbedder(), make_conversation(args.messages), pre_index=True)
        print(json.dumps({"wall": r["wall"], "cpu": r["cpu"], "notes": r["notes"]}))
        return
    if args.baseline:
        compare(args)
        return
    from secondme.models.embed import HashEmbedder

    data = make_conversation(args.messages)
    texts = [f"{m['speaker']}: {m['text']}" for m in data["conversations"][0]["messages"]]
    res = {"machine": platform.platform(), "messages": args.messages,
           "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}
    fake = form(HashEmbedder(), data, pre_index=True)
    n = args.messages
    res["fake_embedder"] = {"formation_s": fake["wall"], "formation_cpu_s": fake["cpu"],
                            "messages_per_s": round(n / fake["wall"], 1),
                            "messages_per_cpu_s": round(n / max(fake["cpu"], 1e-9), 1),
                            "import_s": fake["import_s"],
                            "formation_over_import": round(fake["wall"] / fake["import_s"], 2),
                            "notes": fake["notes"],
                            "facts": fake["facts"], "windows": fake["windows"],
                            "links": fake["links_total"],
                            "load_average": [round(x, 2) for x in os.getloadavg()]}
    print(f"fake embedder: formation {fake['wall']:.2f} s ({fake['cpu']:.2f} CPU s) for "
          f"{n} messages = {n / fake['wall']:.0f} msg/s ({n / max(fake['cpu'], 1e-9):.0f} per "
          f"CPU s); importing them {fake['import_s']:.2f} s "
          f"({fake['windows']} windows, {fake['facts']} facts, {fake['notes']} notes, "
          f"{fake['links_total']} links)")
    if not args.no_real:
        from secondme.models.embed import SentenceTransformerEmbedder

        real = SentenceTransformerEmbedder()
        real.embed(["warm up"])
        t = time.perf_counter()
        real.embed(texts)
        base = time.perf_counter() - t
        r1 = form(real, data, pre_index=True)
        r2 = form(real, data, pre_index=False)
        res["minilm"] = {"embed_baseline_s": round(base, 3), "formation_s": r1["wall"],
                         "end_to_end_s": r2["wall"], "notes": r1["notes"],
                         "formation_over_embed": round(r1["wall"] / base, 2),
                         "load_average": [round(x, 2) for x in os.getloadavg()]}
        print(f"all-MiniLM-L6-v2: formation {r1['wall']:.2f} s, end to end (incl. embedding "
              f"the messages) {r2['wall']:.2f} s; embedding the {args.messages} messages alone "
              f"{base:.2f} s (formation = {r1['wall'] / base:.2f}× that)")
    if args.llm:
        res["embedded_llm"] = bench_llm(data, args.llm_messages, args.llm_max_tokens)
        res["embedded_llm"]["load_average"] = [round(x, 2) for x in os.getloadavg()]
        print("embedded LLM:", res["embedded_llm"])
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    # runs with and without --llm / --no-real complete each other's figures
    old = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    old.update(res)
    RESULTS.write_text(json.dumps(old, indent=1))
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
