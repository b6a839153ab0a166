"""What encryption at rest costs: SQLCipher vs plain SQLite, sealed vs plain index.

    python benchmarks/bench_privacy_encryption.py [--messages N]

Measures, on the same synthetic chat export (fake embedder, so only storage is timed):
import time, keyword-search latency (p50/p95 over FTS queries), vector index save and
load (AES-GCM-sealed pickle vs hnswlib's own file), and the cost of the alternative we
did not take — rebuilding the index from the encrypted database's embeddings at every
start. Timings are reported as ratios encrypted/plain measured in the same run; results
go to benchmarks/results/privacy_encryption.json.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _export(path: Path, n: int) -> None:
    words = ("harbour lantern violin orchard ferry glacier pepper tram meadow comet "
             "archive kettle saffron canyon").split()
    per = 100
    convs = []
    for c in range(max(1, n // per)):
        msgs = [{"id": f"c{c}m{i}", "speaker": ["Ava", "Sam"][i % 2],
                 "timestamp": f"2024-01-{1 + i % 28:02d}T10:{i % 60:02d}:00+00:00",
                 "text": f"{words[(c + i) % 14]} {words[(c * 3 + i) % 14]} note {c}-{i} "
                         f"about the {words[i % 14]} and the {words[(i * 7) % 14]}"}
                for i in range(per)]
        convs.append({"id": f"conv{c}", "title": f"Chat {c}", "participants": ["Ava", "Sam"],
                      "messages": msgs})
    path.write_text(json.dumps({"conversations": convs}))


def _run(home: Path, export: Path, encrypted: bool) -> dict:
    from secondme.models.embed import HashEmbedder
    from secondme.service import SecondMe
    from secondme.store import crypto

    if encrypted:
        crypto.init_store(home, encrypt=True, passphrase="benchmark passphrase",
                          use_keyring=False)
    t = time.perf_counter()
    sm = SecondMe(home, embedder=HashEmbedder(dim=384), passphrase="benchmark passphrase")
    open_s = time.perf_counter() - t
    t = time.perf_counter()
    sm.import_paths([export])
    import_s = time.perf_counter() - t
    sm.index_pending()
    lat = []
    conn = sm.store.conn
    for w in ("harbour", "violin", "comet", "saffron", "orchard", "kettle") * 10:
        t = time.perf_counter()
        conn.execute("select rowid from messages_fts where messages_fts match ? "
                     "order by rank limit 10", [w]).fetchall()
        lat.append((time.perf_counter() - t) * 1000)
    t = time.perf_counter()
    sm.vectors.save()
    save_s = time.perf_counter() - t
    items = len(sm.vectors)
    sm.close()
    sm = SecondMe(home, embedder=HashEmbedder(dim=384), passphrase="benchmark passphrase")
    t = time.perf_counter()
    status = sm.vectors.status
    load_s = time.perf_counter() - t
    t = time.perf_counter()
    sm.vectors.rebuild(sm.store)
    rebuild_s = time.perf_counter() - t
    sm.close()
    lat.sort()
    return {"open_s": open_s, "import_s": import_s, "fts_p50_ms": statistics.median(lat),
            "fts_p95_ms": lat[int(len(lat) * 0.95) - 1], "index_save_s": save_s,
            "index_load_s": load_s, "index_load_status": status,
            "index_rebuild_s": rebuild_s, "items": items}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=5000)
    args = ap.parse_args()
    os.environ["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        export = d / "export.json"
        _export(export, args.messages)
        plain = _run(d / "plain", export, False)
        enc = _run(d / "enc", export, True)
    ratios = {k: enc[k] / plain[k] for k in plain
              if isinstance(plain[k], float) and plain[k] > 0}
    out = {"messages": args.messages, "plain": plain, "encrypted": enc,
           "encrypted_over_plain": ratios}
    for k in ("import_s", "fts_p50_ms", "fts_p95_ms", "index_save_s", "index_load_s"):
        print(f"{k:>14}: plain {plain[k]:.4f}  encrypted {enc[k]:.4f}  "
              f"ratio {ratios.get(k, 0):.2f}")
    print(f"rebuilding the index at every start instead of loading it: "
          f"{enc['index_rebuild_s']:.2f} s vs {enc['index_load_s']:.3f} s "
          f"for {enc['items']} items (open includes scrypt: {enc['open_s']:.2f} s)")
    res = ROOT / "benchmarks" / "results" / "privacy_encryption.json"
    res.parent.mkdir(parents=True, exist_ok=True)
    res.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
