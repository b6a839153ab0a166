"""A lifetime of chats on a 2-core laptop: 1,000,000 messages (issue 14 item 4).

Generates a realistic WhatsApp-style export (20 chats, 2-6 people each, 3 years, a
mix of one-word replies, everyday sentences and long pasted paragraphs, mostly unique
text), then measures, each stage in fresh processes:

1. **keyword-searchable** — ``secondme import`` of all files (parse, store, FTS5, the
   context windows) until the app's search (``SecondMe.search``, opened afresh) returns
   a hit; peak RSS of the importing process. Baseline in the
   same run: storing the same rows with multi-row INSERTs (FTS triggers included) —
   the floor of storing without parsing (target ≤ 3 min).
2. **embedding** — ``secondme index`` throughput on a sample of the same generator
   (``--sample``, default 20,000 messages) against plain ``SentenceTransformer.encode``
   on the same texts in the same run; the 1M figure is extrapolated from it and from
   the share of distinct texts in the 1M store (the app never embeds a text twice), and
   the hnswlib insertion cost at 1M is measured on its own (target ≤ 1 h). Peak RSS of
   the indexing process; the index's size at 1M is computed from hnswlib's layout.
3. **search** — ``SecondMe.search`` p50/p95 on the 1M store (keyword + dense over what
   is embedded) against an FTS5 MATCH of the same query in the same run (target p95 ≤
   100 ms).
4. **opening** — first paint of the app window on the 1M store against a bare PySide6
   window (target ≤ 1.5 s).
5. **formation** — ``run_extract`` (memory formation with the real embedder) on a
   sample, messages/s; the 1M figure is extrapolated (target ≤ 3 h in the background).

6. **fullembed** (not in the default stages: ~15 min on a quiet 2-core machine) —
   ``secondme index`` over the whole store, for real, while another process searches
   every 2 s (the app in use meanwhile); then the search figures again, now with the
   vectors (``search_embedded``).
7. **fullform** (after fullembed; ~30 min) — ``secondme notes form`` over the whole
   store, for real, with the same searches meanwhile.

``standinembed`` (instead of ``fullembed``, for a host too slow to embed 1M messages in a
session: ~2.5 h on a 2-core AVX2-only EPYC) fills the message index through the app's
own indexing path (``SecondMe.index_pending``: the same rows, dedupe, hnswlib index and
file) with *stand-in* vectors under the default model's id — each word a fixed random
384-d direction, a message the normalised sum of its words — so that ``fullform`` can
measure formation's time and peak RSS at 1M. Formation never searches message vectors;
the facts and notes it embeds go through the real ONNX embedder. Its figures say which
vectors the messages had (``full_form.message_vectors``); search figures over stand-in
vectors are not quoted.

Writes benchmarks/results/scale_1m.json after every stage (a partial run keeps what it
measured). Stages: ``--stages gen,import,search,open,embed,form[,fullembed,fullform]``.

    python benchmarks/bench_scale_1m.py [--messages 1000000] [--sample 20000] [--keep DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from machine import cpu, git_head  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "scale_1m.json"

NAMES = ("Anna Ben Chloé Sam Farah Gus Hana Ivo Jonas Kemal Lena Marta Nico Olga Pia Raj "
         "Sofia Tom Uli Vera Wen Yusuf Zoe").split()
TOPICS = ("the flat, the landlord, rent, the heating, moving boxes, the new sofa, IKEA, the "
          "kitchen tap, the train to Hamburg, the delayed flight, passport renewal, the "
          "dentist, physio, the gym, the 10k run, mum's birthday, the wedding in June, the "
          "baby shower, dinner at Café Luna, the sushi place, the pizza place near the "
          "station, the football match, the concert on Saturday, the new job, the "
          "interview, my manager, the quarterly report, the slides, the client call, "
          "the budget spreadsheet, the car insurance, the garage, the bike repair, the "
          "cat, the vet appointment, the dog sitter, holidays in Lisbon, the Airbnb, "
          "skiing in Austria, the camping trip, the lake, the BBQ, the garden, "
          "tomatoes, the recipe for lasagne, the book club, the podcast, the Netflix "
          "series, the kids' school, the parents' evening, swimming lessons, grandma, "
          "the hospital visit, the tax return, the bank, the electricity bill, wifi "
          "problems, the new phone, the laptop, the photos from the trip").split(", ")
WHEN = ("today, tomorrow, tonight, on Monday, on Friday, this weekend, next week, last "
        "Saturday, in March, after work, before lunch, at 7, around 8:30, on the 12th, "
        "next month, yesterday, in two weeks, at Easter, over Christmas").split(", ")
SHORT = ("ok, okay, lol, haha, 😂, 👍, yes, no, sure, thanks!, thank you, on my way, "
         "omw, np, cool, nice!, wow, 🙈, see you, love you, good night, morning!, "
         "call me, ?, sounds good, perfect, done, 😍, hmm, true, same").split(", ")
SENTENCES = [
    "are we still on for {t} {w}?",
    "can you remind me about {t} {w}",
    "{n} said {t} is sorted, I'll check {w}",
    "I completely forgot about {t}, sorry!!",
    "what time is {t} {w}?",
    "just talked to {n} about {t}",
    "did you book {t} yet",
    "I'm so tired, {t} took the whole day",
    "{t} costs {num} euros, shall we split it with {n}?",
    "running late, {t} took forever. there in {m} min",
    "I think {n} wants to come to {t} too",
    "don't forget {t} {w}",
    "how was {t}?",
    "it was great, {n} says hi",
    "can't {w}, I have {t}",
    "let's move {t} to {w}",
    "I sent you the link for {t}",
    "my number for {t} is {num}-{num2}",
]


def gen_text(rng: random.Random) -> str:
    r = rng.random()
    fill = dict(t=rng.choice(TOPICS), w=rng.choice(WHEN), n=rng.choice(NAMES),
                num=rng.randint(10, 999), num2=rng.randint(1000, 9999), m=rng.randint(5, 40))
    if r < 0.22:
        s = rng.choice(SHORT)
        return s if rng.random() < 0.6 else f"{s} {rng.choice(SHORT)}"
    if r < 0.80:
        return rng.choice(SENTENCES).format(**fill)
    if r < 0.97:
        k = rng.randint(2, 4)
        return " ".join(rng.choice(SENTENCES).format(
            **{**fill, "t": rng.choice(TOPICS), "w": rng.choice(WHEN)}) for _ in range(k))
    k = rng.randint(6, 20)  # a pasted paragraph / long rant
    return " ".join(rng.choice(SENTENCES).format(
        **{**fill, "t": rng.choice(TOPICS), "n": rng.choice(NAMES)}) for _ in range(k))


def generate(folder: Path, n: int, chats: int = 20, seed: int = 14) -> list[Path]:
    """``n`` messages as ``chats`` WhatsApp Android-style exports; returns the files."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    per = n // chats
    for c in range(chats):
        path = folder / f"WhatsApp Chat with group {c + 1}.txt"
        files.append(path)
        if path.exists():
            continue
        people = ["Me"] + rng.sample(NAMES, rng.randint(1, 5))
        t = datetime(2021, 1, 1, 8, 0) + timedelta(minutes=c)
        tmp = path.with_suffix(".part")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(f"{t:%d/%m/%Y, %H:%M} - Messages and calls are end-to-end encrypted.\n")
            for _ in range(per - 1 + (n % chats if c == chats - 1 else 0)):
                t += timedelta(seconds=rng.choice((20, 60, 300, 900, 3600, 20000)) *
                               rng.random())
                body = "<Media omitted>" if rng.random() < 0.02 else gen_text(rng)
                f.write(f"{t:%d/%m/%Y, %H:%M} - {rng.choice(people)}: {body}\n")
        os.replace(tmp, path)
    return files


class PeakRSS:
    """Polls the peak resident memory of a process and its children (MB), when in the
    run it happened, and a trace (one sample a minute) to see where memory goes."""

    def __init__(self, pid: int):
        import psutil

        self.proc = psutil.Process(pid)
        self.peak = 0.0
        self.peak_at = 0.0
        self.peak_parent = 0.0      # the process alone
        self.peak_children = 0.0    # its children together
        self.trace: list[tuple[float, float]] = []
        self._t0 = time.perf_counter()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        import psutil

        next_trace = 0.0
        while not self._stop.is_set():
            try:
                parent = self.proc.memory_info().rss / 2**20
                kids = sum(p.memory_info().rss
                           for p in self.proc.children(recursive=True)) / 2**20
                rss = parent + kids
                self.peak_parent = max(self.peak_parent, parent)
                self.peak_children = max(self.peak_children, kids)
                t = time.perf_counter() - self._t0
                if rss > self.peak:
                    self.peak, self.peak_at = rss, t
                if t >= next_trace:
                    self.trace.append((round(t), round(rss)))
                    next_trace = t + 60
            except psutil.Error:
                pass
            self._stop.wait(0.2)

    def stop(self) -> float:
        self._stop.set()
        self._t.join()
        return round(self.peak, 1)


def run_python(argv: list[str], what: str, env: dict | None = None) -> dict:
    """Run ``python ARGV`` from the repository; wall seconds, peak RSS of the process and
    its children together (with when it happened, a per-minute trace, and each side's own
    peak) and the end of its stdout. Raises RuntimeError naming ``what`` if it fails."""
    t0 = time.perf_counter()
    p = subprocess.Popen([sys.executable, *argv], cwd=str(ROOT), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env or dict(os.environ))
    rss = PeakRSS(p.pid)
    out, err = p.communicate()
    dt = time.perf_counter() - t0
    peak = rss.stop()
    if p.returncode != 0:
        raise RuntimeError(f"{what} failed ({p.returncode}): {err[-1500:]}")
    return {"s": round(dt, 2), "peak_rss_mb": peak, "peak_at_s": round(rss.peak_at, 1),
            "peak_parent_mb": round(rss.peak_parent, 1),
            "peak_children_mb": round(rss.peak_children, 1),
            "rss_trace": rss.trace, "stdout": out[-500:]}


def run_cli(args: list[str], env: dict | None = None) -> dict:
    """Run ``python -m secondme ARGS`` (see :func:`run_python`)."""
    return run_python(["-m", "secondme", *args], f"secondme {args[:3]}", env)


def floor_seconds(files: list[Path], tmp: Path) -> float:
    """Storing the same rows with 500-row INSERTs into a fresh store (FTS triggers
    included): what an importer costs without parsing, dedupe or bookkeeping."""
    from secondme.models.embed import content_hash
    from secondme.store.db import Store

    rows = []
    for path in files:
        with open(path, encoding="utf-8") as f:
            next(f)
            for i, line in enumerate(f):
                head, _, body = line.partition(": ")
                rows.append((path.name, i, head[20:], body.rstrip("\n")))
    store = Store.open(tmp / "floor.db")
    t0 = time.perf_counter()
    with store.write() as db:
        conv = db.conn.execute("insert into conversations (format, external_id) values "
                               "('floor', 'x')").lastrowid
    for s in range(0, len(rows), 50_000):
        with store.write() as db:
            part = rows[s:s + 50_000]
            for k in range(0, len(part), 500):
                chunk = part[k:k + 500]
                db.conn.execute(
                    "insert into messages (conversation_id, external_id, position, speaker, "
                    "text, content_hash) values "
                    + ",".join(["(?, ?, ?, ?, ?, ?)"] * len(chunk)),
                    [v for j, (_f, _i, who, body) in enumerate(chunk, s + k)
                     for v in (conv, f"m{j}", j, who, body, content_hash(body))])
    dt = time.perf_counter() - t0
    store.close()
    return dt


def stage_import(files, home: Path, work: Path, out: dict, save) -> None:
    shutil.rmtree(home, ignore_errors=True)
    load0 = os.getloadavg()[0]
    r = run_cli(["--home", str(home), "import", *map(str, files)])
    t0 = time.perf_counter()
    from secondme.models.embed import HashEmbedder
    from secondme.service import SecondMe

    with SecondMe(home, embedder=HashEmbedder()) as sm:
        # the app's own keyword search (context windows and all), not a bare FTS query:
        # it is searchable when this returns
        found = sm.search("lasagne recipe", k=10)
        first_query = time.perf_counter() - t0
        n = sm.store.conn.execute("select count(*) from messages").fetchone()[0]
        hits = sm.store.conn.execute(
            "select count(*) from messages_fts where messages_fts match 'lasagne'"
        ).fetchone()[0] if _has_fts(sm) else None
        assert found and "lasagne" in found[0].text.lower(), found[:1]
    out["import"] = {"messages": n, "keyword_hits_lasagne": hits,
                     "import_s": r["s"], "first_query_s": round(first_query, 2),
                     "keyword_searchable_s": round(r["s"] + first_query, 1),
                     "peak_rss_mb": r["peak_rss_mb"],
                     "target_s": 180, "load_before": load0, "load_after": os.getloadavg()[0]}
    save("import")  # the floor below takes minutes: keep what was measured
    floor = floor_seconds(files, work)
    for f in work.glob("floor.db*"):
        f.unlink()
    out["import"].update(floor_store_rows_s=round(floor, 1),
                         ratio_to_floor=round((r["s"] + first_query) / floor, 2),
                         load_after_floor=os.getloadavg()[0])


def _has_fts(sm) -> bool:
    return sm.store.conn.execute("select count(*) from sqlite_master where "
                                 "name = 'messages_fts'").fetchone()[0] == 1


QUERIES = ["lasagne recipe", "when is the dentist", "flight delayed", "Sofia birthday",
           "rent for the flat", "vet appointment for the cat", "tax return deadline",
           "concert on Saturday", "Lisbon Airbnb", "swimming lessons", "the new job interview",
           "electricity bill", "camping trip at the lake", "bike repair", "grandma hospital"]


def stage_search(home: Path, out: dict, rounds: int = 3) -> None:
    from secondme.recall.search import SearchTrace
    from secondme.service import SecondMe

    with SecondMe(home) as sm:
        t0 = time.perf_counter()
        sm.search("warm up", k=10)  # loads the embedder and the vector index
        first = time.perf_counter() - t0
        lat, fts, ranked_by = [], [], []
        # the searches first, then the plain FTS5 queries (same run): interleaved, the
        # clean-up of an FTS5 query that sorted 100,000 rows landed in the next search's
        # time (90 ms at 1M)
        for _ in range(rounds):
            for q in QUERIES:
                tr = SearchTrace()
                t = time.perf_counter()
                sm.search(q, k=10, trace=tr)
                lat.append((time.perf_counter() - t) * 1000)
                ranked_by.append(tr.lexical)
        for _ in range(rounds):
            for q in QUERIES:
                t = time.perf_counter()
                words = " OR ".join(q.split())
                sm.store.conn.execute("select rowid from messages_fts where messages_fts "
                                      "match ? order by rank limit 50", [words]).fetchall()
                fts.append((time.perf_counter() - t) * 1000)
        vec = len(sm.vectors)
    q = statistics.quantiles
    out["search"] = {"queries": len(lat), "p50_ms": round(statistics.median(lat), 1),
                     "p95_ms": round(q(lat, n=20)[18], 1),
                     "fts_only_p50_ms": round(statistics.median(fts), 1),
                     "fts_only_p95_ms": round(q(fts, n=20)[18], 1),
                     "ratio_p95_to_fts": round(q(lat, n=20)[18] / q(fts, n=20)[18], 2),
                     "first_search_s": round(first, 2), "vectors_in_index": vec,
                     "keywords_ranked_by": {k: ranked_by.count(k) for k in set(ranked_by)},
                     "target_p95_ms": 100, "load": os.getloadavg()[0]}


def stage_open(home: Path, out: dict, runs: int = 3) -> None:
    from bench_ui_startup import BARE, time_to_paint

    env = dict(os.environ, SECONDME_UI_PAINT_PROBE="1",
               QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    app = [sys.executable, "-m", "secondme", "--home", str(home)]
    time_to_paint(app, env)  # file cache warm, as on a second start
    bare, full = [], []
    for _ in range(runs):
        bare.append(time_to_paint([sys.executable, "-c", BARE], env))
        full.append(time_to_paint(app, env))
    out["open"] = {"app_first_paint_s": round(statistics.median(full), 2),
                   "bare_qt_window_s": round(statistics.median(bare), 2),
                   "ratio_to_bare": round(statistics.median(full) / statistics.median(bare), 2),
                   "runs": [round(x, 2) for x in full], "target_s": 1.5,
                   "load": os.getloadavg()[0]}


def _sample_home(work: Path, texts: list[tuple[str, str]], name: str) -> Path:
    from bench_models_embedding import fill_store

    from secondme.models.embed import HashEmbedder
    from secondme.service import SecondMe

    home = work / name
    shutil.rmtree(home, ignore_errors=True)
    with SecondMe(home, embedder=HashEmbedder()) as sm:
        fill_store(sm.store, texts)
    return home


def _hnsw_insert_rate(n_existing: int, dim: int = 384, probe: int = 2000) -> float:
    """Inserts/s into an hnswlib index (the app's parameters) already holding
    ``n_existing`` vectors, one thread (as the indexing writer does)."""
    import hnswlib
    import numpy as np

    from secondme.store.vectors import EF_CONSTRUCTION, M

    rng = np.random.default_rng(0)
    # clustered unit vectors: real sentence embeddings are far from uniform noise
    centres = rng.standard_normal((200, dim)).astype(np.float32)
    def draw(k):
        v = centres[rng.integers(0, 200, k)] + 0.6 * rng.standard_normal((k, dim))
        return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)
    idx = hnswlib.Index(space="cosine", dim=dim)
    idx.init_index(max_elements=n_existing + probe, ef_construction=EF_CONSTRUCTION, M=M)
    for s in range(0, n_existing, 20000):
        idx.add_items(draw(min(20000, n_existing - s)), num_threads=2)
    t = time.perf_counter()
    idx.add_items(draw(probe), num_threads=1)
    return probe / (time.perf_counter() - t)


def stage_embed(home: Path, work: Path, sample: int, out: dict) -> None:
    from bench_models_embedding import RAW_SCRIPT

    from secondme.indexing import message_text
    from secondme.models.embed import bundled_model_dir
    from secondme.models.onnx_backend import ensure_onnx_model
    from secondme.paths import MODELS_DIR

    rows = []
    from secondme.store.db import Store

    store = Store.open(home / "secondme.db")
    distinct, total = store.conn.execute(
        "select count(distinct speaker || ':' || text), count(*) from messages "
        "where kind = 'message' and text != ''").fetchone()
    rng = random.Random(3)
    ids = sorted(rng.sample(range(1, total + 1), min(sample, total)))
    for i in range(0, len(ids), 900):
        part = ids[i:i + 900]
        rows += store.conn.execute(
            f"select speaker, text from messages where id in ({','.join('?' * len(part))})",
            part).fetchall()
    store.close()
    texts = [message_text(s, t) for s, t in rows]
    shome = _sample_home(work, rows, "sample")
    os.environ.pop("SECONDME_EMBEDDING_ONNX_DIR", None)
    ensure_onnx_model(shome / MODELS_DIR)
    tfile = work / "sample.json"
    tfile.write_text(json.dumps(texts))
    raw_cmd = [sys.executable, "-c", RAW_SCRIPT, str(bundled_model_dir()), str(tfile)]
    t0 = time.perf_counter()
    subprocess.run(raw_cmd, check=True, capture_output=True, env=dict(os.environ))
    raw_s = time.perf_counter() - t0
    app = run_cli(["--home", str(shome), "index"])
    rate = len(texts) / app["s"]
    hnsw_small = _hnsw_insert_rate(len(texts))
    hnsw_1m = _hnsw_insert_rate(1_000_000 if total >= 900_000 else total)
    # per distinct text: model time (sample rate without its HNSW share) + HNSW at 1M
    model_per = 1 / rate - 1 / hnsw_small
    est_1m = distinct * (max(model_per, 0) + 1 / hnsw_1m)
    per_elem = 384 * 4 + 16 * 2 * 4 + 4 + 8 + 16  # vector, level-0 links, label, overhead
    out["embed"] = {"sample_messages": len(texts), "raw_st_process_s": round(raw_s, 1),
                    "app_index_process_s": app["s"],
                    "ratio_to_raw": round(raw_s / app["s"], 2),
                    "app_texts_per_s": round(rate, 1),
                    "sample_peak_rss_mb": app["peak_rss_mb"],
                    "distinct_texts_in_store": distinct, "messages_in_store": total,
                    "hnsw_inserts_per_s_at_sample": round(hnsw_small, 1),
                    "hnsw_inserts_per_s_at_1m": round(hnsw_1m, 1),
                    "estimated_full_embed_s": round(est_1m),
                    "hnsw_index_mb_at_1m": round(distinct * per_elem / 2**20),
                    "target_s": 3600, "load": os.getloadavg()[0],
                    "note": "extrapolated from the sample's measured rate; not a full run"}


def stage_form(home: Path, work: Path, sample: int, out: dict) -> None:
    from secondme.models.onnx_backend import ensure_onnx_model
    from secondme.paths import MODELS_DIR
    from secondme.service import SecondMe
    from secondme.store.db import Store

    store = Store.open(home / "secondme.db")
    conv = store.conn.execute("select conversation_id from messages group by "
                              "conversation_id order by count(*) desc limit 1").fetchone()[0]
    total = store.conn.execute("select count(*) from messages").fetchone()[0]
    store.close()
    fhome = work / "form"
    shutil.rmtree(fhome, ignore_errors=True)
    # the first ``sample`` messages of one chat, imported the app's way
    src = next(iter(sorted((home.parent / "export").glob("*.txt"))))
    part = work / "form-export" / src.name
    part.parent.mkdir(parents=True, exist_ok=True)
    with open(src, encoding="utf-8") as f, open(part, "w", encoding="utf-8") as g:
        for i, line in enumerate(f):
            if i > sample:
                break
            g.write(line)
    run_cli(["--home", str(fhome), "import", str(part)])
    ensure_onnx_model(fhome / MODELS_DIR)
    with SecondMe(fhome) as sm:
        # where the time goes, without changing the path: the service's own index_pending
        # and its embedder's embed are wrapped (instance attributes) and timed
        spent = {"index": [], "embed_in_form": 0.0}
        in_index = [False]
        index_pending = sm.index_pending
        embedder = sm.embedder
        embed = embedder.embed

        def timed_index(*a, **k):
            t = time.perf_counter()
            in_index[0] = True
            try:
                return index_pending(*a, **k)
            finally:
                in_index[0] = False
                spent["index"].append(time.perf_counter() - t)

        def timed_embed(texts):
            t = time.perf_counter()
            try:
                return embed(texts)
            finally:
                if not in_index[0]:
                    spent["embed_in_form"] += time.perf_counter() - t

        sm.index_pending = timed_index
        embedder.embed = timed_embed
        t0 = time.perf_counter()
        summary = sm.run_extract()
        dt = time.perf_counter() - t0
    rate = sample / dt
    index_msgs = spent["index"][0] if spent["index"] else 0.0
    notes_index = sum(spent["index"][1:])
    forming = dt - index_msgs            # rules + fact embedding + indexing the notes
    form_only_per_msg = forming / sample
    est_embed = out.get("embed", {}).get("estimated_full_embed_s")
    out["form"] = {"sample_messages": sample, "chat": conv, "seconds": round(dt, 1),
                   "messages_per_s": round(rate, 1), "summary": summary,
                   "where_time_goes_s": {
                       "index_messages": round(index_msgs, 1),
                       "embed_facts": round(spent["embed_in_form"], 1),
                       "rules_and_store": round(forming - spent["embed_in_form"]
                                                - notes_index, 1),
                       "index_notes": round(notes_index, 1)},
                   # at 1M the messages are embedded once per distinct text (45 % of them),
                   # which the embed stage estimates; forming itself scales per message
                   "estimated_1m_s": (round(est_embed + form_only_per_msg * total)
                                      if est_embed else None),
                   "estimated_1m_forming_only_s": round(form_only_per_msg * total),
                   "estimated_1m_s_linear": round(total / rate),
                   "target_s": 3 * 3600,
                   "load": os.getloadavg()[0],
                   "note": "run_extract = index + form + index notes, real ONNX embedder; "
                           "estimated_1m_s = the embed stage's full-embed estimate + "
                           "forming's per-message time x messages; _linear charges the "
                           "sample's own embedding per message (no 1M duplicates)"}


# one timed search, as both search-while-forming scripts below run it
SEARCH_ONCE = r"""
import time


def search_once(sm, query, lat, errors):
    t = time.perf_counter()
    try:
        sm.search(query, k=10)
        lat.append((time.perf_counter() - t) * 1000)
    except Exception as e:  # a search that fails while the job runs is the finding
        errors.append(f"{type(e).__name__}: {e}"[:200])
"""

PROBE = SEARCH_ONCE + r"""
import json, sys, time
from pathlib import Path
from secondme.service import SecondMe
home, stop, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
queries = json.loads(sys.argv[4])
lat, errors, i = [], [], 0
with SecondMe(home) as sm:
    sm.search("warm up", k=10)
    while not stop.exists():
        search_once(sm, queries[i % len(queries)], lat, errors)
        i += 1
        time.sleep(2.0)
import resource
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
out.write_text(json.dumps({"latencies_ms": lat, "errors": errors, "peak_rss_mb": rss}))
"""


class Watch:
    """While a long stage runs: every 2 s the resident memory of this process's children
    and every ``every`` s a snapshot handed to ``write`` — elapsed time, the share of
    messages formed, each process's memory now and its peak so far — so that a run
    stopped before the end (a session over, a host too slow) still leaves what it
    measured. The processes, told apart by their command lines: ``command`` (``python -m
    secondme …``), ``script`` (a ``python -c`` child: the search probe, or the app-shaped
    driver holding the index) and ``worker`` (any child of theirs: the app's worker)."""

    def __init__(self, home: Path, write, every: float = 60.0, script: str = "probe"):
        self.db, self.write, self.every = home / "secondme.db", write, every
        self.script = script
        self.t0 = time.perf_counter()
        self.peak = {"command": 0.0, script: 0.0, "worker": 0.0, "together": 0.0}
        self.trace: list[dict] = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _formed(self) -> float | None:
        import sqlite3

        try:
            conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=5)
            try:
                done, total = conn.execute(
                    "select (select count(*) from formed_items where item_kind = 'message'),"
                    " (select count(*) from messages)").fetchone()
            finally:
                conn.close()
        except sqlite3.Error:
            return None
        return round(done / total, 4) if total else None

    def _now(self) -> dict:
        import psutil

        mb = {"command": 0.0, self.script: 0.0, "worker": 0.0}
        for kid in psutil.Process().children():
            try:
                who = self.script if kid.cmdline()[1:2] == ["-c"] else "command"
                mb[who] += kid.memory_info().rss / 2**20
                mb["worker"] += sum(k.memory_info().rss
                                    for k in kid.children(recursive=True)) / 2**20
            except psutil.Error:
                pass
        mb["together"] = sum(mb.values())
        return mb

    def _run(self) -> None:
        next_write = self.every
        while not self._stop.wait(2.0):
            now = self._now()
            for k, v in now.items():
                self.peak[k] = max(self.peak[k], v)
            t = time.perf_counter() - self.t0
            if t >= next_write:
                next_write = t + self.every
                self.trace.append({"s": round(t), "formed": self._formed(),
                                   **{k: round(v) for k, v in now.items()}})
                self.write(self.snapshot())

    def snapshot(self) -> dict:
        return {"elapsed_s": round(time.perf_counter() - self.t0),
                "formed": self.trace[-1]["formed"] if self.trace else None,
                "peak_so_far_mb": {k: round(v, 1) for k, v in self.peak.items()},
                "trace": self.trace,
                "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}

    def stop(self) -> dict:
        self._stop.set()
        self._t.join()
        return self.snapshot()


# The desktop app's shape at 1M: this process holds the loaded index and searches every
# 2 s (a person using the app) while formation runs in the app's worker process, whose
# new vectors it catches up with (``run_in_worker_process``, as the window's jobs run).
APP_FORM = SEARCH_ONCE + r"""
import json, resource, sys, threading, time
from pathlib import Path
from secondme.progress import CancelToken
from secondme.service import SecondMe
home, queries, out = Path(sys.argv[1]), json.loads(sys.argv[2]), Path(sys.argv[3])
stop_after = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
sm = SecondMe(home)
sm.open_vectors()
sm.search("warm up", k=10)
got, token = {}, CancelToken()
def job():
    try:
        got["summary"] = sm.run_in_worker_process("run_job", name="extract", cancel=token)
    except Exception as e:   # cancelled (--form-minutes) or failed: said in the results
        got["stopped"] = f"{type(e).__name__}: {e}"[:300]
t = threading.Thread(target=job)
t0 = time.perf_counter()
t.start()
lat, errors, i = [], [], 0
while t.is_alive():
    if stop_after and time.perf_counter() - t0 > stop_after and not token.cancelled:
        token.cancel()   # the job stops between two windows; its work so far stays
    search_once(sm, queries[i % len(queries)], lat, errors)
    i += 1
    t.join(2.0)
sm.close()
out.write_text(json.dumps({
    "summary": got.get("summary"), "stopped": got.get("stopped"),
    "latencies_ms": lat, "errors": errors,
    "app_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _latencies(lat: list[float], errors: list[str]) -> dict:
    q = (statistics.quantiles(lat, n=20, method="inclusive") if len(lat) >= 2
         else [float("nan")] * 19)
    return {"searches": len(lat), "errors": errors[:5], "n_errors": len(errors),
            "p50_ms": round(statistics.median(lat), 1) if lat else None,
            "p95_ms": round(q[18], 1), "max_ms": round(max(lat), 1) if lat else None}


def _with_search_probe(home: Path, work: Path, args: list[str],
                       watch=None, every: float = 60.0) -> tuple[dict, dict]:
    """Run ``secondme ARGS`` while another process searches ``home`` every 2 s (a person
    using the app meanwhile); the command's time and peak RSS, and the searches'.
    ``watch``: a callable writing a :class:`Watch` snapshot meanwhile."""
    stop, res = work / "probe.stop", work / "probe.json"
    stop.unlink(missing_ok=True)
    res.unlink(missing_ok=True)
    probe = subprocess.Popen([sys.executable, "-c", PROBE, str(home), str(stop), str(res),
                              json.dumps(QUERIES)], cwd=str(ROOT), stderr=subprocess.PIPE,
                             text=True)
    watcher = Watch(home, watch, every) if watch else None
    try:
        r = run_cli(args)
    finally:
        stop.touch()
        _, err = probe.communicate(timeout=600)
        if watcher:
            r["watch"] = watcher.stop()
    if probe.returncode != 0:
        raise RuntimeError(f"the search probe failed: {err[-1500:]}")
    got = json.loads(res.read_text())
    return r, _latencies(got["latencies_ms"], got["errors"]) | {
        "searching_process_peak_rss_mb": round(got["peak_rss_mb"], 1)}


def _keep_previous(out: dict, key: str) -> None:
    """Keep the record a full run replaces as ``KEY_previous``, to compare with (one
    level: the previous record's own previous is not kept)."""
    if key in out:
        out[f"{key}_previous"] = out.pop(key)


def stage_full_embed(home: Path, work: Path, out: dict) -> None:
    """``secondme index`` over the whole 1M store, for real (not extrapolated), with a
    search every 2 s meanwhile."""
    load0 = os.getloadavg()[0]
    r, during = _with_search_probe(home, work, ["--home", str(home), "index"])
    est = out.get("embed", {}).get("estimated_full_embed_s")
    _keep_previous(out, "full_embed")
    out["full_embed"] = {"code": git_head(), "seconds": r["s"], "peak_rss_mb": r["peak_rss_mb"],
                         "peak_at_s": r["peak_at_s"], "rss_trace_s_mb": r["rss_trace"],
                         "cli_said": r["stdout"].strip().splitlines()[-1:],
                         "estimate_from_sample_s": est,
                         "ratio_to_estimate": round(r["s"] / est, 2) if est else None,
                         "search_meanwhile": during, "target_s": 3600,
                         "load_before": load0, "load_after": os.getloadavg()[0]}


STANDIN = r"""
import json, sys, zlib
import numpy as np
from secondme.service import SecondMe


class StandIn:
    def __init__(self, real):
        # the real embedder's id (its precision included): the vectors count as its own,
        # so formation and search after this never re-embed the messages
        self.model_id, self.dim = real.model_id, real.dim
        self.words = {}

    def word(self, w):
        v = self.words.get(w)
        if v is None:
            rng = np.random.default_rng(zlib.crc32(w.encode()))
            v = self.words[w] = rng.standard_normal(self.dim).astype(np.float32)
        return v

    def embed(self, texts):
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().split() or [""]:
                out[i] += self.word(w)
        out /= np.linalg.norm(out, axis=1, keepdims=True)
        return out


sm = SecondMe(sys.argv[1])
sm.vector_role = "batch"                # as ``secondme index`` runs
# the real model (exported once, as ``index`` would), whose id the stand-ins carry
sm._embedder = StandIn(sm.load_embedder())
rep = sm.index_pending()
sm.close()
print(json.dumps({"items": rep.items, "embedded": getattr(rep, "embedded", None)}))
"""


def stage_standin_embed(home: Path, out: dict) -> None:
    """Fill the 1M store's message index with stand-in vectors (see the module doc)."""
    r = run_python(["-c", STANDIN, str(home)], "the stand-in indexing")
    out["standin_embed"] = {"code": git_head(), "seconds": r["s"],
                            "peak_rss_mb": r["peak_rss_mb"], "said": r["stdout"].strip()[-300:],
                            "note": "stand-in message vectors (word sums), written by the "
                                    "app's indexing path; not an embedding figure"}


def stage_full_form(home: Path, work: Path, out: dict, standin: bool = False,
                    write=None, every: float = 60.0, shape: str = "app",
                    minutes: float = 0.0) -> None:
    """Formation over the whole 1M store (after ``fullembed`` or ``standinembed``), for
    real, with a search every 2 s meanwhile. ``shape``: ``app`` — the desktop app's way
    (:data:`APP_FORM`: a process holding the index searches while the app's worker
    process forms); ``command`` — ``secondme notes form`` beside a search probe.
    ``write`` saves the results file: meanwhile ``full_form_partial`` holds a snapshot a
    minute (:class:`Watch`). ``minutes`` (app shape): cancel the job after that long —
    a measured first part of a run too long for a session, recorded as stopped."""
    load0 = os.getloadavg()[0]
    head = git_head()    # the code the run started with (the tree may move on meanwhile)

    def partial(snap: dict) -> None:
        out["full_form_partial"] = {"code": head, "shape": shape, **snap,
                                    "note": "a run still going (or stopped): figures so far"}
        if write:
            write()

    if shape == "app":
        watcher = Watch(home, partial, every, script="app")
        try:
            res = work / "app_form.json"
            res.unlink(missing_ok=True)
            r = run_python(["-c", APP_FORM, str(home), json.dumps(QUERIES), str(res),
                            str(minutes * 60)], "the app-shaped formation")
        finally:
            r_watch = watcher.stop()
        got = json.loads(res.read_text())
        r["watch"] = r_watch
        summary = got["summary"] or {"stopped": got.get("stopped")}
        during = _latencies(got["latencies_ms"], got["errors"]) | {
            "app_peak_rss_mb": round(got["app_peak_rss_mb"], 1),
            "worker_peak_rss_mb": r["peak_children_mb"]}
    else:
        r, during = _with_search_probe(home, work, ["--home", str(home), "notes", "form",
                                                    "--json"], watch=partial, every=every)
        try:
            summary = json.loads(r["stdout"][r["stdout"].index("{"):])
        except ValueError:
            summary = r["stdout"][-300:]
    out.pop("full_form_partial", None)
    embedded = None if standin else out.get("full_embed", {}).get("seconds")
    _keep_previous(out, "full_form")
    out["full_form"] = {"code": head, "shape": shape,
                        "seconds": r["s"], "peak_rss_mb": r["peak_rss_mb"],
                        "peak_at_s": r["peak_at_s"], "rss_trace_s_mb": r["rss_trace"],
                        "summary": summary,
                        "message_vectors": ("stand-in (standin_embed)" if standin
                                            else "real (full_embed)"),
                        "embedded_plus_formed_s": round(r["s"] + embedded) if embedded
                        else None,
                        "estimate_forming_only_s": out.get("form", {}).get(
                            "estimated_1m_forming_only_s"),
                        "search_meanwhile": during, "watched": r.get("watch"),
                        "stopped_after_minutes": minutes or None,
                        "target_s": 3 * 3600,
                        "load_before": load0, "load_after": os.getloadavg()[0]}


def project(partial: dict, since: float = 0.1) -> dict:
    """A stopped full formation's memory, carried to the end: a straight line through
    each process's snapshots (from ``since`` formed on, past the start's loading) against
    the share formed, read at 1.0 — more than the end, where messages formation skips
    (media, empty) are never formed. A projection, labelled as one; the measured peak so
    far is beside it."""
    pts = [t for t in partial.get("trace", []) if t.get("formed") and t["formed"] >= since]
    if len(pts) < 3:
        return {"note": "too few snapshots to project"}
    out = {}
    xs = [t["formed"] for t in pts]
    for key in ("app", "worker", "together", "command", "probe"):
        if key not in pts[0] or not any(t[key] for t in pts):
            continue
        slope, icpt = statistics.linear_regression(xs, [t[key] for t in pts])
        out[key] = {"mb_per_tenth_formed": round(slope / 10, 1),
                    "at_formed_1_mb": round(icpt + slope)}
    last = pts[-1]
    return {"from_formed": [round(xs[0], 3), round(xs[-1], 3)], "snapshots": len(pts),
            "last": last, "lines": out,
            "note": "linear in the share formed, fitted to the snapshots; not measured"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--sample", type=int, default=20_000)
    ap.add_argument("--form-sample", type=int, default=3000)
    ap.add_argument("--keep", type=Path, default=None, help="work dir to keep and reuse")
    ap.add_argument("--stages", default="gen,import,search,open,embed,form")
    ap.add_argument("--out", type=Path, default=RESULTS,
                    help="results file (another host's figures need not replace these)")
    ap.add_argument("--form-as", choices=("app", "command"), default="app",
                    help="fullform the app's way (worker process beside the index holder) "
                         "or as `secondme notes form` beside a search probe")
    ap.add_argument("--project", action="store_true",
                    help="only add a projection to the end to a stopped run's "
                         "full_form_partial (the results of --out)")
    ap.add_argument("--form-minutes", type=float, default=0.0,
                    help="fullform, app shape: stop the formation after this long "
                         "(recorded as stopped, with what it measured)")
    ap.add_argument("--watch-every", type=float, default=60.0,
                    help="seconds between snapshots of a full formation")
    args = ap.parse_args()
    if args.project:
        done = json.loads(args.out.read_text())
        partial = done.get("full_form_partial") or {}
        partial["projection"] = project(partial)
        args.out.write_text(json.dumps(done, indent=2) + "\n")
        print(json.dumps(partial["projection"], indent=1))
        return
    stages = set(args.stages.split(","))
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-1m-"))
    work.mkdir(parents=True, exist_ok=True)
    home = work / "home"
    results = args.out
    out = json.loads(results.read_text()) if results.exists() and args.keep else {}
    out.update({"benchmark": "scale_1m", "messages": args.messages, "cpus": os.cpu_count(),
                "cpu": cpu()})

    def write() -> None:
        results.parent.mkdir(parents=True, exist_ok=True)
        results.write_text(json.dumps(out, indent=2) + "\n")

    def save(stage: str) -> None:
        out.setdefault("stages_done", [])
        if stage not in out["stages_done"]:
            out["stages_done"].append(stage)
        out["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        write()
        print(stage, json.dumps(out.get(stage, {}))[:600], flush=True)

    files = generate(work / "export", args.messages)
    if "import" in stages:
        stage_import(files, home, work, out, save)
        save("import")
    if "search" in stages:
        stage_search(home, out)
        save("search")
    if "open" in stages:
        stage_open(home, out)
        save("open")
    if "embed" in stages:
        stage_embed(home, work, args.sample, out)
        save("embed")
    if "form" in stages:
        stage_form(home, work, args.form_sample, out)
        save("form")
    if "fullembed" in stages:
        stage_full_embed(home, work, out)
        save("full_embed")
        keyword_only = out.get("search")
        stage_search(home, out)             # search again, now over the vectors too
        _keep_previous(out, "search_embedded")
        out["search_embedded"] = out.pop("search")
        if keyword_only:
            out["search"] = keyword_only
        save("search_embedded")
    if "standinembed" in stages:
        stage_standin_embed(home, out)
        save("standin_embed")
    if "fullform" in stages:
        # stand-in vectors: this run's standin stage, or a kept store's earlier one
        stage_full_form(home, work, out, standin="standinembed" in stages or (
            "standin_embed" in out and "fullembed" not in stages), write=write,
            every=args.watch_every, shape=args.form_as, minutes=args.form_minutes)
        save("full_form")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
