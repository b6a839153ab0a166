"""Which embedded LLM should be the default? SmolLM2-135M-Instruct vs Gemma 3 270M.

Each candidate runs in a fresh subprocess (so RSS and load time are its own) through
the app's runtime, ``secondme.models.llm.LlamaCppLLM``, on the app's tasks:

* fact extraction with a JSON schema (grammar-constrained): does the output parse,
  does it follow the schema, and are the extracted facts grounded in the message
  (share a content word with it) rather than invented;
* an answer with [n] citations to numbered sources: are there markers, are they all
  in range (no invented source), does the answer contain the expected fact;
* speed: first-token latency on a ~250-token chat prompt, generation tokens/s
  (64 tokens, no grammar), grammar-constrained tokens/s, load time, RSS.

Timings are also given as a ratio to SmolLM2's in the same run (the machine is shared
and noisy). Writes benchmarks/results/models_choice.json.

    python benchmarks/bench_models_choice.py [--threads N]   (default: the app's default)
"""
from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "models_choice.json"

FACT_SCHEMA = {
    "type": "object",
    "properties": {
        "facts": {
            "type": "array", "minItems": 1, "maxItems": 3,
            "items": {
                "type": "object",
                "properties": {
                    "subject": {"type": "string", "minLength": 1, "maxLength": 30},
                    "fact": {"type": "string", "minLength": 3, "maxLength": 80},
                },
                "required": ["subject", "fact"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["facts"],
    "additionalProperties": False,
}

EXTRACTION_MESSAGES = [
    "Anna: I finally moved to Berlin last March, the new flat is near Tempelhof.",
    "Ben: My sister Clara started her job as a nurse at the Charité on Monday.",
    "Me: I'm allergic to peanuts, so please don't bring the satay to the party.",
    "Dana: We adopted a grey cat called Pixel from the shelter yesterday.",
]

CITATION_CASES = [
    {"sources": ["Anna moved to Berlin in March 2021.",
                 "Ben likes climbing on weekends.",
                 "The dentist appointment is on 4 May."],
     "question": "Where did Anna move?", "expect": "berlin"},
    {"sources": ["The wifi password at the cabin is pinecone42.",
                 "Clara works as a nurse.",
                 "Dana's cat is called Pixel."],
     "question": "What is Dana's cat called?", "expect": "pixel"},
    {"sources": ["Flight LH123 leaves at 07:40 from Munich.",
                 "The team dinner is at Luigi's on Friday.",
                 "Ben's birthday is 12 June."],
     "question": "When is Ben's birthday?", "expect": "june"},
]

LONG_PROMPT = ("You are a helpful assistant that summarises chat history. " * 3 + "\n" +
               "\n".join(f"Message {i}: we talked about the trip to Lisbon, the hotel, "
                         f"the museum and dinner plans for day {i}." for i in range(1, 12))
               + "\nSummarise the trip in one sentence.")


def validate(value, schema) -> list[str]:
    """A small JSON-schema checker for the keywords used above (object, array, string)."""
    errs: list[str] = []
    t = schema.get("type")
    if t == "object":
        if not isinstance(value, dict):
            return [f"expected object, got {type(value).__name__}"]
        for k in schema.get("required", []):
            if k not in value:
                errs.append(f"missing {k}")
        props = schema.get("properties", {})
        if schema.get("additionalProperties") is False:
            errs += [f"unexpected {k}" for k in value if k not in props]
        for k, sub in props.items():
            if k in value:
                errs += validate(value[k], sub)
    elif t == "array":
        if not isinstance(value, list):
            return ["expected array"]
        if len(value) < schema.get("minItems", 0) or len(value) > schema.get("maxItems", 1e9):
            errs.append(f"array of {len(value)} items")
        for v in value:
            errs += validate(v, schema.get("items", {}))
    elif t == "string":
        if not isinstance(value, str):
            return ["expected string"]
        if not schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", 1e9):
            errs.append(f"string of length {len(value)}")
    return errs


STOPWORDS = set("the a an to at on in of and is was as my i so please don't we from for "
                "with her his their our new last yesterday finally started called".split())


def content_words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-zà-ÿ]+", text.lower()) if w not in STOPWORDS and
            len(w) > 2}


def DEFAULT_KEY() -> str:
    from secondme.models.bundled import DEFAULT_BUNDLED

    return DEFAULT_BUNDLED


def threads_compare(path) -> dict:
    """Generation tokens/s with 1 thread and with every core, interleaved (twice each):
    shows why the app leaves a core free by default (see llm.default_threads)."""
    from secondme.models.llm import LlamaCppLLM

    counts = sorted({1, os.cpu_count() or 2})
    res: dict = {str(n): [] for n in counts}
    for rnd in range(2):
        for n in counts:
            llm = LlamaCppLLM(path, n_ctx=1024, n_threads=n, capable=False)
            llm.load()
            stamps: list[float] = []
            llm.complete(f"Round {rnd} with {n} threads. The history of the sea is",
                         max_tokens=32, on_token=lambda s: stamps.append(time.perf_counter()))  # noqa: B023 - called now
            llm.close()
            if len(stamps) > 1:
                res[str(n)].append(round((len(stamps) - 1) / (stamps[-1] - stamps[0]), 1))
    return {"tokens_per_s_by_threads": res,
            "load_average_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg")
            else None}


def run_one(key: str, threads: int) -> dict:
    """Measure one model in this process (called in a fresh subprocess)."""
    import psutil

    from secondme.models.bundled import BUNDLED, ensure_bundled_model
    from secondme.models.llm import LlamaCppLLM

    proc = psutil.Process()
    home = Path(tempfile.mkdtemp(prefix="bench-llm-"))
    t0 = time.perf_counter()
    path = ensure_bundled_model(home, key)
    prepare_first = time.perf_counter() - t0
    t0 = time.perf_counter()
    ensure_bundled_model(home, key)
    prepare_cached = time.perf_counter() - t0
    rss0 = proc.memory_info().rss
    llm = LlamaCppLLM(path, n_ctx=2048, n_threads=threads, capable=False)
    t0 = time.perf_counter()
    llm.load()
    load_s = time.perf_counter() - t0
    rss_loaded = proc.memory_info().rss
    out: dict = {"key": key, "name": BUNDLED[key].name, "file_mb":
                 round(path.stat().st_size / 2**20, 1), "chat_template": llm.has_chat_template,
                 "prepare_first_s": round(prepare_first, 3),
                 "prepare_cached_s": round(prepare_cached, 4), "load_s": round(load_s, 3)}

    # first-token latency and tokens/s (plain generation)
    # (each prompt starts differently: llama.cpp reuses the KV cache of a shared prefix,
    # which would make a repeated prompt look instantaneous)
    ftl, tps, pps = [], [], []
    for i in range(3):
        stamps: list[float] = []
        content = f"Chat number {i + 1} of the week. " + LONG_PROMPT
        n_prompt = len(llm._llama.tokenize(content.encode()))
        t0 = time.perf_counter()
        llm.chat([{"role": "user", "content": content}], max_tokens=64,
                 on_token=lambda s: stamps.append(time.perf_counter()))  # noqa: B023 - called now
        if stamps:
            ftl.append(stamps[0] - t0)
            pps.append(n_prompt / (stamps[0] - t0))
            if len(stamps) > 1:
                tps.append((len(stamps) - 1) / (stamps[-1] - stamps[0]))
    out["prompt_tokens"] = n_prompt
    out["first_token_s"] = round(statistics.median(ftl), 3)
    out["prompt_tokens_per_s"] = round(statistics.median(pps), 1)
    out["tokens_per_s"] = round(statistics.median(tps), 1) if tps else None

    # grammar-constrained fact extraction
    ext = []
    gtps = []
    for msg in EXTRACTION_MESSAGES:
        stamps = []
        prompt = [{"role": "system", "content": "Extract the facts stated in the message as "
                   "JSON. Each fact names its subject and states one thing about it."},
                  {"role": "user", "content": msg}]
        t0 = time.perf_counter()
        text = llm.chat(prompt, max_tokens=160, json_schema=FACT_SCHEMA,
                        on_token=lambda s: stamps.append(time.perf_counter()))  # noqa: B023 - called now
        dt = time.perf_counter() - t0
        if len(stamps) > 1:
            gtps.append((len(stamps) - 1) / (stamps[-1] - stamps[0]))
        rec = {"message": msg, "output": text, "seconds": round(dt, 2)}
        try:
            data = json.loads(text)
            rec["parsed"] = True
            errs = validate(data, FACT_SCHEMA)
            rec["schema_ok"] = not errs
            rec["schema_errors"] = errs
            facts = data.get("facts", []) if isinstance(data, dict) else []
            words = content_words(msg)
            grounded = [bool(content_words(str(f.get("fact", "")) + " " +
                                           str(f.get("subject", ""))) & words)
                        for f in facts if isinstance(f, dict)]
            rec["grounded_fraction"] = (sum(grounded) / len(grounded)) if grounded else 0.0
        except ValueError:
            rec.update(parsed=False, schema_ok=False, grounded_fraction=0.0)
        ext.append(rec)
    out["extraction"] = {
        "json_parsed": sum(r["parsed"] for r in ext) / len(ext),
        "schema_valid": sum(r["schema_ok"] for r in ext) / len(ext),
        "grounded": round(sum(r["grounded_fraction"] for r in ext) / len(ext), 3),
        "grammar_tokens_per_s": round(statistics.median(gtps), 1) if gtps else None,
        "cases": ext,
    }

    # answers with [n] citations
    cites = []
    for case in CITATION_CASES:
        sources = "\n".join(f"[{i}] {s}" for i, s in enumerate(case["sources"], 1))
        msgs = [{"role": "system", "content": "Answer the question using only the numbered "
                 "sources. Cite every claim with its source number in brackets, like [1]."},
                {"role": "user", "content": f"Sources:\n{sources}\n\nQuestion: "
                 f"{case['question']}"}]
        ans = llm.chat(msgs, max_tokens=60)
        markers = [int(m) for m in re.findall(r"\[(\d+)\]", ans)]
        cites.append({"question": case["question"], "answer": ans,
                      "has_marker": bool(markers),
                      "markers_in_range": bool(markers) and all(1 <= m <= 3 for m in markers),
                      "contains_answer": case["expect"] in ans.lower()})
    out["citations"] = {
        "has_marker": sum(c["has_marker"] for c in cites) / len(cites),
        "markers_in_range": sum(c["markers_in_range"] for c in cites) / len(cites),
        "contains_answer": sum(c["contains_answer"] for c in cites) / len(cites),
        "cases": cites,
    }
    if key == DEFAULT_KEY():
        out["threads_compare"] = threads_compare(path)
    out["rss_mb_model"] = round((rss_loaded - rss0) / 2**20, 1)
    out["rss_mb_peak_process"] = round(proc.memory_info().rss / 2**20, 1)
    return out


def main() -> None:
    from secondme.models.llm import default_threads

    threads = default_threads()  # what the app uses unless the person chooses
    if "--threads" in sys.argv:
        threads = int(sys.argv[sys.argv.index("--threads") + 1])
    if "--one" in sys.argv:
        print(json.dumps(run_one(sys.argv[sys.argv.index("--one") + 1], threads)))
        return
    from secondme.models.bundled import BUNDLED, DEFAULT_BUNDLED, GEMMA3, SMOLLM2

    results = {}
    for key in (SMOLLM2.key, GEMMA3.key):
        print(f"measuring {key} ...", file=sys.stderr, flush=True)
        r = subprocess.run([sys.executable, __file__, "--one", key, "--threads", str(threads)],
                           capture_output=True, text=True, check=True)
        results[key] = json.loads(r.stdout.strip().splitlines()[-1])
    base = results[SMOLLM2.key]
    for r in results.values():
        r["ratio_vs_smollm2"] = {
            k: round(r[k] / base[k], 2) for k in ("first_token_s", "tokens_per_s", "load_s",
                                                  "rss_mb_model") if base.get(k)}
    summary = {}
    for key, r in results.items():
        summary[key] = {
            "json_parsed": r["extraction"]["json_parsed"],
            "schema_valid": r["extraction"]["schema_valid"],
            "facts_grounded": r["extraction"]["grounded"],
            "citation_marker": r["citations"]["has_marker"],
            "citation_in_range": r["citations"]["markers_in_range"],
            "answer_correct": r["citations"]["contains_answer"],
            "first_token_s": r["first_token_s"], "prompt_tokens": r["prompt_tokens"],
            "prompt_tokens_per_s": r["prompt_tokens_per_s"], "tokens_per_s": r["tokens_per_s"],
            "grammar_tokens_per_s": r["extraction"]["grammar_tokens_per_s"],
            "load_s": r["load_s"], "rss_mb_model": r["rss_mb_model"],
            "file_mb": r["file_mb"], "chat_template": r["chat_template"],
        }
    doc = {"benchmark": "models_choice", "threads": threads, "cpu_count": os.cpu_count(),
           "load_average_1min": round(os.getloadavg()[0], 2),
           "default": DEFAULT_BUNDLED, "default_name": BUNDLED[DEFAULT_BUNDLED].name,
           "summary": summary, "details": results,
           "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    cols = list(next(iter(summary.values())).keys())
    print(f"{'metric':24}" + "".join(f"{k[:26]:>28}" for k in summary))
    for c in cols:
        print(f"{c:24}" + "".join(f"{str(summary[k][c]):>28}" for k in summary))
    tc = results[DEFAULT_BUNDLED].get("threads_compare", {})
    print(f"default model tokens/s by threads: {tc.get('tokens_per_s_by_threads')} "
          f"(load average {tc.get('load_average_1min')})")
    print(f"default: {DEFAULT_BUNDLED}; wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
