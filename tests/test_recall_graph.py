"""The graph list of a search: personalised PageRank over the notes' links
(``search._ppr``), run on arrays, against the plain definition on random graphs."""
from __future__ import annotations

import random
import sqlite3
from collections import defaultdict

import pytest

from secondme.recall.search import _ppr


def _plain_ppr(conn, seeds, limit=20, alpha=0.5, max_nodes=400, iters=25):
    """The definition, one dict per note: two hops from the seeds (at most ``max_nodes``
    notes expanded a hop, in the order the links name them), a pair of notes linked
    once with its greatest weight (0 or NULL count as 1, at least 0.05), both ways."""
    adj = defaultdict(dict)
    frontier, seen = list(seeds), set(seeds)
    for _ in range(2):
        if not frontier or len(seen) >= max_nodes:
            break
        ids = frontier[:max_nodes]
        rows = []
        for col in ("src_id", "dst_id"):
            rows += conn.execute(
                f"select src_id, dst_id, weight from links where {col} in "
                f"({','.join('?' * len(ids))})", ids).fetchall()
        if not rows:
            break
        frontier = []
        for a, b, w in rows:
            w = max(float(w or 1.0), 0.05)
            adj[a][b] = max(adj[a].get(b, 0.0), w)
            adj[b][a] = max(adj[b].get(a, 0.0), w)
            for n in (a, b):
                if n not in seen:
                    seen.add(n)
                    frontier.append(n)
    total = sum(seeds.values())
    p = {n: seeds.get(n, 0.0) / total for n in seen}
    r = dict(p)
    for _ in range(iters):
        nr = {n: alpha * p[n] for n in seen}
        for a, nb in adj.items():
            s = sum(nb.values())
            for b, w in nb.items():
                nr[b] += (1 - alpha) * r[a] / s * w
        r = nr
    ranked = sorted((n for n in seen if n not in seeds and r[n] > 0), key=lambda n: (-r[n], n))
    return ranked[:limit], r


def _graph(seed: int, notes: int, links: int) -> sqlite3.Connection:
    rng = random.Random(seed)
    conn = sqlite3.connect(":memory:")
    conn.execute("create table links (id integer primary key, src_id int, dst_id int, "
                 "kind text, weight real)")
    for _ in range(links):
        a, b = rng.randrange(notes), rng.randrange(notes)
        w = rng.choice([None, 0.0, 0.01, 0.3, 0.8, 1.0, 2.5])
        conn.execute("insert into links (src_id, dst_id, kind, weight) values (?, ?, ?, ?)",
                     [a, b, rng.choice(["related", "same_entity"]), w])
    return conn


@pytest.mark.parametrize("seed,notes,links,max_nodes", [
    (1, 50, 120, 400), (2, 400, 3000, 400), (3, 2000, 9000, 400), (4, 300, 2500, 40),
    (5, 30, 10, 400)])
def test_the_graph_list_is_personalised_pagerank_as_defined(seed, notes, links, max_nodes):
    conn = _graph(seed, notes, links)
    rng = random.Random(seed + 100)
    for _ in range(5):
        seeds = {n: rng.random() + 0.01 for n in rng.sample(range(notes), rng.randint(1, 30))}
        want, r = _plain_ppr(conn, seeds, max_nodes=max_nodes)
        got = _ppr(conn, seeds, max_nodes=max_nodes)
        # the same notes in the same order, up to ties (sums in another order)
        assert len(got) == len(want)
        assert [round(r[n], 9) for n in got] == [round(r[n], 9) for n in want]
        assert set(got) - set(want) <= {n for n in got if any(
            abs(r[n] - r[m]) < 1e-12 for m in want)}


def test_seeds_without_links_rank_nothing():
    conn = _graph(7, 100, 0)
    assert _ppr(conn, {1: 1.0, 2: 0.5}) == []
    assert _ppr(conn, {}) == []
