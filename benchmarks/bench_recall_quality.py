"""Evidence recall@10 on the recall dataset, against baselines measured in the same run.

    python benchmarks/bench_recall_quality.py [--dataset FILE]... [--grid] [--answers]
                                              [--no-formed] [--out FILE]

Loads the datasets' conversations (default: the generated recall dataset
tests/fixtures/recall/dataset.json and the hand-written answer set
tests/fixtures/recall/answers/answers.json, together in one store, so each is searched
among the other's messages too) into a temporary store with the real all-MiniLM-L6-v2,
then measures on the *tuning* and *held-out* splits, pooled over all questions and per
dataset (``by_dataset``):

- ``bm25_single``: BM25 over single messages (messages_fts; the same OR-of-content-words
  query) — the reference the anchors quote (≈57 on real data);
- ``dense_single``: MiniLM nearest neighbours over single messages;
- ``window_only``: BM25 over the context-window index alone;
- ``full``: the shipped pipeline (window + dense + notes + graph, weighted RRF, rerank)
  on the imported messages before any memory is formed;
- ``full_formed``: the same after forming memories with the deterministic extractor (as
  the app does after an import): notes, their links and their source messages join the
  lists, and a note stands for the messages it was formed from;
- with ``--grid``: a small grid over fusion/column weights, chosen on *tune* only and
  reported on *held-out*;
- with ``--answers``: ``ask`` on every question (embedded model → extractive answers):
  token-F1, abstention accuracy, invalid citations, time to first token.

Writes benchmarks/results/recall_quality.json.
"""
from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from secondme.recall.dataset import read_dataset  # noqa: E402
from secondme.recall.eval import build_eval_store, evidence_recall, run_questions  # noqa: E402
from secondme.recall.query import content_terms, fts_query  # noqa: E402
from secondme.recall.search import DEFAULT_WEIGHTS, SearchWeights, embed_query  # noqa: E402


class _Hit:
    def __init__(self, mid, conv):
        self.sources = [{"message_id": mid, "conversation_id": conv}]


def bm25_single(ev, question: str, k: int):
    match = fts_query(content_terms(question))
    if not match:
        return []
    rows = ev.store.conn.execute(
        "select m.external_id, c.external_id from messages_fts f join messages m on m.id = f.rowid "
        "join conversations c on c.id = m.conversation_id where messages_fts match ? "
        "order by bm25(messages_fts) limit ?", [match, k]).fetchall()
    return [_Hit(*r) for r in rows]


def dense_single(ev, question: str, k: int):
    qv = embed_query(ev.embedder, question)
    hits = ev.vectors.search(qv, k)
    out = []
    for label, _ in hits:
        r = ev.store.conn.execute(
            "select m.external_id, c.external_id from vector_items v join messages m on "
            "m.id = v.item_id join conversations c on c.id = m.conversation_id "
            "where v.label = ? and v.kind = 'message'", [label]).fetchone()
        if r:
            out.append(_Hit(*r))
    return out


def recall_of(ev, questions, fn, k=10) -> dict:
    per_cat: dict[str, list[float]] = {}
    allr = []
    for q in questions:
        if q["category"] == "unanswerable" or not q.get("evidence"):
            continue
        r = evidence_recall(fn(q["question"]), [str(e) for e in q["evidence"]],
                            q.get("conversation"))
        per_cat.setdefault(q["category"], []).append(r)
        allr.append(r)
    out = {"all": round(100 * sum(allr) / len(allr), 1), "n": len(allr)}
    for c, v in sorted(per_cat.items()):
        out[c] = round(100 * sum(v) / len(v), 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", action="append", help="repeatable; default: both sets")
    ap.add_argument("--grid", action="store_true")
    ap.add_argument("--answers", action="store_true")
    ap.add_argument("-k", type=int, default=10)
    ap.add_argument("--no-formed", action="store_true",
                    help="skip forming memories (the full_formed variant)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/recall_quality.json")
    ap.add_argument("--note-vectors", choices=("text", "enriched"), default="text",
                    help="what notes are embedded from: their text (the app's way) or "
                         "text | keywords | context (before; bench_memory_note_vectors.py)")
    args = ap.parse_args()
    if args.note_vectors == "enriched":
        import secondme.indexing

        secondme.indexing.NOTE_VECTOR_PARTS = secondme.indexing.NOTE_VECTOR_ENRICHED
    paths = args.dataset or [str(ROOT / "tests/fixtures/recall/dataset.json"),
                             str(ROOT / "tests/fixtures/recall/answers/answers.json")]
    names = [str(Path(p).relative_to(ROOT)) if Path(p).is_relative_to(ROOT) else p
             for p in paths]
    data = {"conversations": [], "questions": []}
    for name, path in zip(names, paths):
        one = read_dataset(path)
        data["conversations"] += one["conversations"]
        data["questions"] += [{**q, "dataset": name} for q in one["questions"]]
    from secondme.service import SecondMe

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as inner:
        ev = build_eval_store(SecondMe, data, Path(inner))
        setup_s = time.perf_counter() - t0
        k = args.k
        splits = {s: [q for q in data["questions"] if q.get("split", "tune") == s]
                  for s in ("tune", "heldout")}
        messages = ev.store.conn.execute("select count(*) from messages").fetchone()[0]
        results: dict = {"datasets": names, "questions": len(data["questions"]),
                         "conversations": len(data["conversations"]), "k": k,
                         "messages": messages,
                         "setup_s": round(setup_s, 1), "variants": {}}

        def run_variant(name, fn):
            results["variants"][name] = {s: recall_of(ev, qs, fn, k) for s, qs in splits.items()}
            if len(names) > 1:
                for ds in names:
                    results.setdefault("by_dataset", {}).setdefault(ds, {})[name] = {
                        s: recall_of(ev, [q for q in qs if q["dataset"] == ds], fn, k)
                        for s, qs in splits.items()}
            print(f"{name:<28} " + "  ".join(
                f"{s}: {v['all']:5.1f} " + " ".join(f"{c[:5]}={v[c]}" for c in v
                                                     if c not in ("all", "n"))
                for s, v in results["variants"][name].items()), flush=True)

        def with_weights(w: SearchWeights, **kw):
            def fn(q):
                ev.search_weights = w
                return ev.search(q, k=k, **kw)
            return fn

        run_variant("bm25_single", lambda q: bm25_single(ev, q, k))
        run_variant("dense_single", lambda q: dense_single(ev, q, k))
        only_window = dataclasses.replace(DEFAULT_WEIGHTS, dense=0.0, single=0.0, speaker=0.0,
                                          neighbour_damp=1.0, time_in=0.0)
        run_variant("window_only", with_weights(only_window))
        run_variant("full", with_weights(DEFAULT_WEIGHTS))
        if args.grid:
            best = None
            grid = {"single": [0.0, 0.6, 1.2], "col_ctx": [0.2, 0.5],
                    "dense": [0.4, 0.8, 1.2], "speaker": [0.3, 0.8],
                    "neighbour_damp": [0.8, 1.0]}
            keys = list(grid)
            for vals in itertools.product(*grid.values()):
                w = dataclasses.replace(DEFAULT_WEIGHTS, **dict(zip(keys, vals)))
                r = recall_of(ev, splits["tune"], with_weights(w), k)["all"]
                print("  grid", dict(zip(keys, vals)), r, flush=True)
                if best is None or r > best[0]:
                    best = (r, dict(zip(keys, vals)))
            print("best on tune:", best, flush=True)
            w = dataclasses.replace(DEFAULT_WEIGHTS, **best[1])
            results["grid_best"] = best[1]
            run_variant("grid_best", with_weights(w))
        ev.search_weights = DEFAULT_WEIGHTS
        if args.answers:
            for s, qs in splits.items():
                rep = run_questions(ev.search, lambda q: ev.ask_many([q])[0], qs, k=k,
                                    answers=True)
                results.setdefault("answers", {})[s] = {
                    "overall": rep.overall, "per_category": rep.per_category,
                    "invalid_citations": rep.invalid_citations}
                print(s, json.dumps(rep.overall), "invalid citations:", rep.invalid_citations,
                      flush=True)
        results["embedder"] = {"backend": ev.embedder.backend,
                               "path": str(getattr(ev.embedder, "path", ""))}
        if not args.no_formed:
            t1 = time.perf_counter()
            formed = ev.run_extract()
            results["formed"] = {"notes": formed.get("added"), "seconds": round(
                time.perf_counter() - t1, 1)}
            run_variant("full_formed", with_weights(DEFAULT_WEIGHTS))
        ev.close()
    out = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print("wrote", out)


if __name__ == "__main__":
    main()
