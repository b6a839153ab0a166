"""How readable the graph is: labelled nodes on screen and overlapping labels (issue 16).

    python benchmarks/bench_ui_graph_labels.py [--centres 8] [--size 1000x700]

On the demo export and on a 2,000-message WhatsApp chat (tests/fixtures/ui), the graph
view is drawn around each of the most-mentioned people and around as many memories with
links, at depth 1 and 2, in a view of the given size (offscreen). For each drawing it
counts, from the items' geometry (``GraphView.visible_label_rects``), the labels on
screen, the pairs of labels that overlap and the labels that stick out of the view.
The baseline, measured in the same run from the same data, is what the service's raw
neighbourhood (``graph()``, the call the pane used before) would put on screen: its node
and link counts. Goal: at most ~40 labelled nodes, no overlapping label.
Writes benchmarks/results/ui_graph_labels.json.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHAT_2K = ROOT / "tests" / "fixtures" / "ui" / "WhatsApp Chat with Tom Baker.txt"


def _services(tmp: Path):
    from secondme.models.embed import HashEmbedder
    from secondme.service import SecondMe
    from secondme_ui.panes.standalone import demo_service

    demo = demo_service(str(tmp / "demo"), fake_models=True)
    chat = SecondMe(tmp / "chat2k", embedder=HashEmbedder())
    chat.update_settings(me_name="Sam Rivera")
    chat.import_paths([str(CHAT_2K)], me="Sam Rivera")
    chat.run_extract()
    chat.index_pending()
    return {"demo export": demo, "2,000-message chat": chat}


def _centres(sm, n: int) -> list[tuple[str, int, str]]:
    people = [e for e in sm.list_entities(kind="person", limit=50, displayable=True)
              if not e.is_me and e.mentions][:n]
    out = [("entity", e.id, e.name) for e in people]
    notes = 0
    for note in sm.list_notes(limit=400):
        if notes >= n:
            break
        if len(sm.get_note(note.id).links) >= 2:
            out.append(("note", note.id, " ".join(note.text.split())[:40]))
            notes += 1
    return out


def _measure(app, view, sm, kind: str, ident: int, depth: int) -> dict:
    from secondme_ui.panes.graph import GraphPanel, layout_graph

    kw = {"note_id": ident} if kind == "note" else {"entity_id": ident}
    t0 = time.perf_counter()
    g = sm.graph_overview(depth=depth, **kw)
    lay = layout_graph(g, centre=GraphPanel._centre_key(g, kind, ident))
    view.show_layout(lay)
    for _ in range(3):
        app.processEvents()
    seconds = time.perf_counter() - t0
    rects = view.visible_label_rects()
    vp = view.viewport().rect()
    overlaps = sum(a.intersects(b) for i, a in enumerate(rects) for b in rects[i + 1:])
    outside = sum(not vp.contains(r.toRect()) for r in rects)
    raw = sm.graph(depth=depth, **kw)
    return {"nodes": len(lay["nodes"]), "edges": len(lay["edges"]),
            "labelled": len(rects), "overlapping_pairs": overlaps, "outside_view": outside,
            "groups": sum(1 for n in lay["nodes"] if n["type"] == "group"),
            "seconds": round(seconds, 3),
            "baseline_raw_nodes": len(raw.nodes), "baseline_raw_edges": len(raw.edges)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--centres", type=int, default=8, help="people and memories per data set")
    ap.add_argument("--size", default="1000x700", help="the view's size in pixels")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" /
                                         "ui_graph_labels.json"))
    args = ap.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from secondme_ui.panes.graph import GraphView

    app = QApplication.instance() or QApplication(sys.argv[:1])
    width, height = (int(x) for x in args.size.split("x"))
    view = GraphView()
    view.resize(width, height)
    view.show()
    tmp = Path(tempfile.mkdtemp(prefix="bench-graph-"))
    results: dict = {"view": args.size, "load": os.getloadavg()[0], "sets": {}}
    try:
        for name, sm in _services(tmp).items():
            rows = []
            for kind, ident, label in _centres(sm, args.centres):
                for depth in (1, 2):
                    row = {"centre": label, "kind": kind, "depth": depth,
                           **_measure(app, view, sm, kind, ident, depth)}
                    rows.append(row)
                    print(f"{name:20} {kind:6} {label[:30]:30} depth {depth}: "
                          f"{row['labelled']:3} labels ({row['nodes']} nodes, "
                          f"{row['groups']} groups), {row['overlapping_pairs']} overlapping, "
                          f"{row['outside_view']} outside; raw neighbourhood "
                          f"{row['baseline_raw_nodes']} nodes / "
                          f"{row['baseline_raw_edges']} links", flush=True)
            results["sets"][name] = {
                "drawings": len(rows),
                "max_labelled": max(r["labelled"] for r in rows),
                "max_nodes": max(r["nodes"] for r in rows),
                "overlapping_pairs": sum(r["overlapping_pairs"] for r in rows),
                "outside_view": sum(r["outside_view"] for r in rows),
                "baseline_max_raw_nodes": max(r["baseline_raw_nodes"] for r in rows),
                "baseline_max_raw_edges": max(r["baseline_raw_edges"] for r in rows),
                "rows": rows}
            sm.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ok = all(s["max_labelled"] <= 40 and s["overlapping_pairs"] == 0
             for s in results["sets"].values())
    results["goal_met"] = ok
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    for name, s in results["sets"].items():
        print(f"{name}: {s['drawings']} drawings, at most {s['max_labelled']} labels "
              f"({s['max_nodes']} nodes), {s['overlapping_pairs']} overlapping pairs, "
              f"{s['outside_view']} outside the view; the raw neighbourhood had up to "
              f"{s['baseline_max_raw_nodes']} nodes / {s['baseline_max_raw_edges']} links")
    print("goal (≤ 40 labels, none overlapping):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
