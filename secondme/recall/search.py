"""Hybrid search over messages, document chunks and notes.

One query goes through:

1. **parse** (``query.py``): content terms, a time range, the people it names;
2. **candidates** from several ranked lists —
   ``window``: BM25 over the context-window index (a message with its neighbours and
   date; column weights ``own``/``ctx``/``meta``), ``notes`` and ``chunks``: BM25 over
   their FTS tables, ``dense``: HNSW nearest neighbours of the query embedding (any kind),
   ``graph``: notes reached by personalised PageRank over ``links`` seeded from the best
   notes (multi-hop), ``provenance``: the messages the best notes were formed from;
3. **fusion**: weighted reciprocal rank fusion, ``Σ w_list / (rrf_k + rank)``, with
   weights measured by ``benchmarks/bench_recall_quality.py`` (not assumed equal:
   naive equal-weight fusion drags lexical recall down on chat);
4. **re-ranking**: time fit (inside the parsed range boosted, far outside damped),
   speaker/entity match, note retention and pinning, and diversity (duplicate texts
   dropped, a message whose neighbour already ranks above it damped);
5. **provenance**: every result carries where it came from (message external id,
   conversation, timestamp, speaker; or document and page).

Thread-safety: reads only (plus the lazy window update, which takes its own lock);
callable from any thread. Latency: see ``benchmarks/bench_recall_latency.py``.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict, defaultdict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterable, Optional

import numpy as np

from ..api import SearchResult
from ..models.embed import Embedder
from ..store.db import Store
from ..store.vectors import VectorIndex
from . import keywords
from .query import (
    NameIndex,
    ParsedQuery,
    TimeRange,
    fmt_date,
    fts_query,
    has_content_terms,
    parse_query,
    tokens,
)
from .trust import demote_external
from .windows import update_windows, windows_fresh

log = logging.getLogger(__name__)

KINDS = ("message", "chunk", "note")


@dataclass
class SearchWeights:
    """Fusion and re-ranking parameters (defaults measured on the tuning split of
    tests/fixtures/recall; see docs/recall.md for the figures)."""

    rrf_k: float = 60.0
    window: float = 1.0
    single: float = 0.6           # BM25 over the lone message (messages_fts)
    dense: float = 1.2
    notes: float = 0.8
    chunks: float = 0.8
    graph: float = 0.3
    provenance: float = 0.5
    # bm25 column weights of message_windows: own text, neighbours, date/speaker
    col_own: float = 1.0
    col_ctx: float = 0.5
    col_meta: float = 0.5
    time_in: float = 2.0          # × (1 + time_in) inside a parsed time range
    time_scale_days: float = 30.0  # outside: × 1 / (1 + distance / scale)
    speaker: float = 0.8          # × (1 + speaker) for the named person's messages
    neighbour_damp: float = 1.0   # × for a message whose neighbour ranks above it
    #                               (measured: no gain, off)
    follow: float = 0.7           # the next messages after the best hits (a reply, the rest
    follow_seeds: int = 5         # of the story: "they went with Vera")
    follow_span: int = 3
    follow_other: float = 0.5     # × for a follow-up by someone else
    common_df: float = 0.1        # keyword lists over messages leave out words found in
    #                               more than this share of all messages (0 = keep all)
    thin: float = 0.5             # × for a message with fewer than 2 content words
    #                               ("where?", "which one", "was it nice?")
    candidates: int = 100         # per list
    dense_candidates: int = 60
    dense_min_sim: float = 0.2    # weaker dense hits are noise, not candidates


DEFAULT_WEIGHTS = SearchWeights()


@dataclass
class SearchTrace:
    """What search did, for timings and for answers (parsed query, lists)."""

    parsed: Optional[ParsedQuery] = None
    timings: dict[str, float] = field(default_factory=dict)
    time_range: Optional[TimeRange] = None
    dense_sims: dict[tuple[str, int], float] = field(default_factory=dict)
    lexical: str = ""   # what ranked messages by keywords: "keyword index" or "sqlite"
    keyword_tail: int = 0   # messages newer than the keyword index it ranked in its tail
    dense: str = ""     # "" (used, or not wanted) or "index not ready" (being rebuilt)


# -- caches ---------------------------------------------------------------------------
class _LRU:
    def __init__(self, size: int = 256):
        self.size = size
        self.data: OrderedDict = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key):
        with self.lock:
            if key in self.data:
                self.data.move_to_end(key)
                return self.data[key]
        return None

    def put(self, key, value) -> None:
        with self.lock:
            self.data[key] = value
            self.data.move_to_end(key)
            while len(self.data) > self.size:
                self.data.popitem(last=False)


_query_vectors = _LRU(512)


def embed_query(embedder, text: str) -> np.ndarray:
    """The query's embedding, cached per (model, text): repeated queries cost nothing."""
    key = (embedder.model_id, text)
    v = _query_vectors.get(key)
    if v is None:
        v = np.asarray(embedder.embed([text])[0], dtype=np.float32)
        _query_vectors.put(key, v)
    return v


def reference_time(store, clock) -> datetime:
    """The time relative phrases are resolved against: the latest message's time, or
    now when nothing is imported (documented in docs/recall.md)."""
    row = store.conn.execute("select max(ts) from messages").fetchone()
    if row and row[0] is not None:
        return datetime.fromtimestamp(row[0], tz=timezone.utc)
    return clock()


def name_index(store) -> NameIndex:
    """Speakers, conversation participants and entities (with aliases), cached until
    something new is imported or extracted.

    The speakers are kept apart (:func:`_speakers`): memory formation adds entities
    now and then, most of them in its first minutes, and rebuilding the names from a
    scan of every message's speaker took 0.1–0.5 s at a million messages — on the next
    search after each new entity."""
    conn = store.conn
    speakers = _speakers(store)
    key = (str(store.path), speakers,
           conn.execute("select coalesce(max(id), 0), count(*) from entities").fetchone())
    cached = _names_cache.get(key)
    if cached is not None:
        return cached
    idx = NameIndex()
    for s in sorted(speakers):
        idx.add(s)
    for name, aliases in conn.execute("select name, aliases from entities"):
        try:
            al = [a for a in json.loads(aliases or "[]") if isinstance(a, str)]
        except ValueError:
            al = []
        idx.add(name, al)
    _names_cache.put(key, idx)
    return idx


_names_cache = _LRU(16)
_speakers_seen: dict[str, tuple[int, int, frozenset[str]]] = {}
_speakers_lock = threading.Lock()


def _speakers(store) -> frozenset[str]:
    """Every conversation participant and message speaker. Messages are appended (ids
    grow), so only those newer than the last call are read — a million at the first
    search, a few or none afterwards. A deleted message's speaker stays until the
    conversations change (a name too many only widens name matching)."""
    conn = store.conn
    path = str(store.path)
    top_conv, top_msg = conn.execute(
        "select (select coalesce(max(id), 0) from conversations), "
        "(select coalesce(max(id), 0) from messages)").fetchone()
    with _speakers_lock:
        seen = _speakers_seen.get(path)
    if seen is not None and seen[0] == top_conv and seen[1] == top_msg:
        return seen[2]
    if seen is not None and seen[0] == top_conv and seen[1] < top_msg:
        found = set(seen[2])
        rows = conn.execute("select distinct speaker from messages where id > ? and "
                            "speaker != ''", [seen[1]])
    else:   # first call, new conversations or deletions: read them all
        found = set()
        for (parts,) in conn.execute("select participants from conversations"):
            try:
                found.update(p for p in json.loads(parts or "[]") if isinstance(p, str))
            except ValueError:
                pass
        rows = conn.execute("select distinct speaker from messages where speaker != ''")
    found.update(s for (s,) in rows)
    out = frozenset(found)
    with _speakers_lock:
        _speakers_seen[path] = (top_conv, top_msg, out)
    return out


def speaker_names(store) -> set[str]:
    """Lower-cased words that are (part of) a speaker's name."""
    idx = name_index(store)
    out = set()
    for keys in idx.names.values():
        for k in keys:
            out.update(k.split())
    return out


# -- candidate lists -------------------------------------------------------------------
def _bm25_messages(conn, match: str, w: SearchWeights, limit: int) -> list[tuple[int, float]]:
    return conn.execute(
        "select rowid, bm25(message_windows, ?, ?, ?) as r from message_windows "
        "where message_windows match ? order by r limit ?",
        [w.col_own, w.col_ctx, w.col_meta, match, limit]).fetchall()


def _bm25_notes(conn, match: str, limit: int, include_archived: bool) -> list[tuple[int, float]]:
    rows = conn.execute(
        "select rowid, bm25(notes_fts, 1.0, 0.6, 0.4, 0.3) as r from notes_fts "
        "where notes_fts match ? order by r limit ?", [match, limit * 2]).fetchall()
    if not rows or include_archived:
        return rows[:limit]
    ids = [r[0] for r in rows]
    live = {r[0] for r in conn.execute(
        f"select id from notes where archived = 0 and id in ({','.join('?' * len(ids))})", ids)}
    return [r for r in rows if r[0] in live][:limit]


def _bm25_chunks(conn, match: str, limit: int) -> list[tuple[int, float]]:
    return conn.execute(
        "select rowid, bm25(chunks_fts, 1.0, 0.5) as r from chunks_fts "
        "where chunks_fts match ? order by r limit ?", [match, limit]).fetchall()


DENSE_BREADTH = 400
_pool = None
_pool_lock = threading.Lock()


def _embed_async(embedder: Embedder, text: str) -> Future:
    """Start embedding the query on a helper thread (torch and SQLite both release the
    GIL, so the embedding overlaps the keyword queries). Returns a future."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="secondme-query-embed")
    return _pool.submit(embed_query, embedder, text)


def _dense(conn, vectors: VectorIndex, query_vector: Callable[[], np.ndarray], limit: int,
           trace: SearchTrace, min_sim: float = 0.0) -> list[tuple[str, int]]:
    """(kind, id) of the nearest items to the query, best first; [] if the index is
    empty. ``query_vector()`` gives the query's embedding (computed only when needed)."""
    if len(vectors) == 0:
        return []
    qv = query_vector()
    # asking hnswlib for DENSE_BREADTH neighbours widens its search (ef): measured recall@10
    # against exact search 0.91 at ef 96 → 0.95 at ef 400 for ~1 ms more at 100k items
    hits = vectors.search(qv, max(limit, DENSE_BREADTH))[:limit]
    if not hits:
        return []
    out: list[tuple[str, int]] = []
    for label, dist in hits:
        if 1.0 - dist < min_sim or len(out) >= limit:
            continue
        # one index entry holds every item with that text (migration m516): the newest
        # of them first, never more than the search asked for
        for item in conn.execute(
                "select kind, item_id from vector_items where vec = ? order by label desc "
                "limit ?", [label, limit - len(out)]):
            item = (item[0], item[1])
            out.append(item)
            trace.dense_sims[item] = 1.0 - dist
    return out


def _ppr(conn, seeds: dict[int, float], limit: int = 20, alpha: float = 0.5,
         max_nodes: int = 400, iters: int = 25) -> list[int]:
    """Notes ranked by personalised PageRank over ``links`` restarting at ``seeds``
    (note id → weight), seeds excluded. Explores at most two hops, expanding at most
    ``max_nodes`` notes a hop; a link counts once per pair of notes (its greatest weight,
    at least 0.05), in both directions.

    The iterations run on arrays: on a formed 1M store the two hops reach ~5,000 notes
    and, as dicts, 25 iterations took 130-220 ms of every search (p95 1 s on 2 cores)."""
    if not seeds:
        return []
    src: list[np.ndarray] = []
    dst: list[np.ndarray] = []
    wgt: list[np.ndarray] = []
    frontier = list(seeds)
    seen = set(seeds)
    for _ in range(2):
        if not frontier or len(seen) >= max_nodes:
            break
        ids = frontier[:max_nodes]
        q = ",".join("?" * len(ids))
        rows = conn.execute(
            f"select src_id, dst_id, weight from links where src_id in ({q}) "
            f"union all select src_id, dst_id, weight from links where dst_id in ({q})",
            ids + ids).fetchall()
        if not rows:
            break
        arr = np.array(rows, dtype=np.float64).reshape(-1, 3)   # a NULL weight: nan
        src.append(arr[:, 0].astype(np.int64))
        dst.append(arr[:, 1].astype(np.int64))
        wgt.append(np.nan_to_num(arr[:, 2], nan=1.0))
        # the notes first reached this hop, in the order the rows name them
        ends = np.stack([src[-1], dst[-1]], axis=1).ravel()
        _, first = np.unique(ends, return_index=True)
        frontier = [n for n in ends[np.sort(first)].tolist() if n not in seen]
        seen.update(frontier)
    if not src:
        return []
    a, b, w = np.concatenate(src), np.concatenate(dst), np.concatenate(wgt)
    w = np.maximum(np.where(w == 0, 1.0, w), 0.05)     # as `float(w or 1.0)`
    nodes, idx = np.unique(np.concatenate([a, b]), return_inverse=True)
    ia, ib = idx[:len(a)], idx[len(a):]
    # both directions; one edge per ordered pair, its greatest weight
    u, v, w = np.concatenate([ia, ib]), np.concatenate([ib, ia]), np.concatenate([w, w])
    n = len(nodes)
    pair = u * n + v
    order = np.lexsort((-w, pair))
    keep = order[np.r_[True, pair[order][1:] != pair[order][:-1]]]
    u, v, w = u[keep], v[keep], w[keep]
    share = w / np.bincount(u, weights=w, minlength=n)[u]
    pos = np.searchsorted(nodes, np.fromiter(seeds, dtype=np.int64, count=len(seeds)))
    p = np.zeros(n)
    total = sum(seeds.values()) or 1.0
    for s_pos, s_id in zip(pos.tolist(), seeds):
        if s_pos < n and nodes[s_pos] == s_id:
            p[s_pos] = seeds[s_id] / total
    r = p.copy()
    for _ in range(iters):
        r = alpha * p + (1 - alpha) * np.bincount(v, weights=r[u] * share, minlength=n)
    is_seed = np.isin(nodes, np.fromiter(seeds, dtype=np.int64, count=len(seeds)))
    cand = np.flatnonzero((r > 0) & ~is_seed)
    best = cand[np.lexsort((nodes[cand], -r[cand]))][:limit]
    return nodes[best].tolist()


# -- the search ------------------------------------------------------------------------
def search(store: Store, query: str, *, clock: Callable[[], datetime],
           session_gap_minutes: float, embedder: Callable[[], Embedder],
           vectors: Callable[[], VectorIndex], embedder_loaded: bool = False, k: int = 10,
           kinds: Optional[Iterable[str]] = None, time_range: Optional[tuple] = None,
           include_archived: bool = False, weights: SearchWeights = DEFAULT_WEIGHTS,
           trace: Optional[SearchTrace] = None, use_dense: bool = True,
           extra_terms: Iterable[str] = ()) -> list[SearchResult]:
    """The ``k`` best results for ``query`` in ``store`` (see the module docstring).

    ``clock`` gives now (relative dates resolve against the latest message, or now when
    nothing is imported); ``session_gap_minutes`` splits chats into sessions for the
    context windows. ``embedder()`` and ``vectors()`` give the embedding model and its
    vector index, loading them on first use (seconds): they are called only when the
    dense list is wanted, and a failure there leaves lexical search working;
    ``embedder_loaded`` says the model is in memory already, so the query is embedded on
    a helper thread while the keyword queries run.

    ``kinds`` restricts to message/chunk/note; ``time_range`` = (start, end) aware
    datetimes (either may be None) restricts strictly, whereas a range parsed from the
    question only re-ranks; ``extra_terms`` are added to the lexical query (follow-up
    questions carry the previous turn's names). Never raises on odd input: any text is
    a valid query (an empty one returns []).
    """
    trace = trace if trace is not None else SearchTrace()
    t0 = time.perf_counter()
    kinds = set(kinds) if kinds else set(KINDS)
    conn = store.conn
    if "message" in kinds and not windows_fresh(store):
        update_windows(store, gap_minutes=session_gap_minutes)
    names = name_index(store)
    parsed = parse_query(query, reference_time(store, clock), names)
    speaker_words = speaker_names(store)
    extra = [t for t in extra_terms if t not in parsed.terms]
    lexical_terms = [t for t in parsed.terms if t not in speaker_words] + extra
    if not lexical_terms:  # the question is only a name: search for it
        lexical_terms = parsed.terms + extra
    match = fts_query(lexical_terms)
    trace.parsed = parsed
    trace.timings["parse_ms"] = (time.perf_counter() - t0) * 1000

    strict: Optional[TimeRange] = None
    if time_range is not None:
        strict = TimeRange(time_range[0], time_range[1], "given")
    soft = parsed.time
    if soft is not None and soft.anchor:
        soft = _resolve_anchor(conn, soft, weights,
                               keywords.for_search(store, session_gap_minutes))
    trace.time_range = soft

    want_dense = use_dense and weights.dense > 0 and bool(query.strip())
    pending = _embed_async(embedder(), query) if want_dense and embedder_loaded else None
    t1 = time.perf_counter()
    kw = (keywords.for_search(store, session_gap_minutes)
          if "message" in kinds and _plain_words(lexical_terms) else None)
    trace.lexical = "keyword index" if kw else "sqlite"
    tail = keywords.tail_for(store, kw) if kw else None
    trace.keyword_tail = tail.newer if tail is not None else 0
    lists = _lexical_lists(conn, match, kinds, weights, include_archived,
                           None if kw else _message_match(store, lexical_terms, match,
                                                          weights.common_df),
                           keyword=(kw, lexical_terms, tail) if kw else None,
                           timings=trace.timings)
    trace.timings["lexical_ms"] = (time.perf_counter() - t1) * 1000
    t2 = time.perf_counter()
    if want_dense:
        def query_vector() -> np.ndarray:
            return pending.result() if pending is not None else embed_query(embedder(), query)

        try:
            index = vectors()
            if index is None:     # being loaded or rebuilt by another thread: keywords now
                trace.dense = "index not ready"
                dense = []
            else:
                dense = _dense(conn, index, query_vector, weights.dense_candidates, trace,
                               weights.dense_min_sim)
        except Exception:  # a broken index or model must not break search; lexical works
            log.exception("dense search failed")
            dense = []
        lists["dense"] = [d for d in dense if d[0] in kinds]
    trace.timings["dense_ms"] = (time.perf_counter() - t2) * 1000

    t3 = time.perf_counter()
    fused = _fuse(lists, weights)
    _add_graph_and_provenance(conn, fused, lists, kinds, weights, include_archived)
    if "message" in kinds and weights.follow > 0:
        _add_followups(conn, fused, lists, weights)
    trace.timings["fuse_ms"] = (time.perf_counter() - t3) * 1000

    t4 = time.perf_counter()
    results = _rerank_and_build(conn, fused, lists, parsed, soft, strict, k, weights,
                                include_archived)
    # another app's claims (MCP `remember`) never outrank the person's own evidence
    results = demote_external(store, results)
    trace.timings["rerank_ms"] = (time.perf_counter() - t4) * 1000
    trace.timings["total_ms"] = (time.perf_counter() - t0) * 1000
    return results


_DF_CACHE = _LRU(4096)


def _message_match(store: Store, terms: list[str], match: Optional[str],
                   common: float) -> Optional[str]:
    """The FTS query for the keyword lists over messages: ``match`` without the words
    found in more than ``common`` of all messages, when rarer words remain. Ranking every
    message that contains "think" or "new" is most of a keyword search's time at 100k
    messages, and such words barely move BM25 (their IDF is near zero). Word counts are
    cached per store and size (a count gone stale by an edit only shifts which common
    word is left out)."""
    if not match or common <= 0 or len(terms) < 2:
        return match
    conn = store.conn
    n = conn.execute("select max(rowid) from message_windows").fetchone()[0] or 0
    if n < 1000:  # a small store: fast anyway, and every word counts
        return match
    df = {}
    for t in terms:
        key = (str(store.path), t, n)
        d = _DF_CACHE.get(key)
        if d is None:
            one = fts_query([t])
            d = conn.execute("select count(*) from message_windows where message_windows "
                             "match ?", [one]).fetchone()[0] if one else 0
            _DF_CACHE.put(key, d)
        df[t] = d
    keep = [t for t in terms if df[t] <= common * n] or [min(terms, key=df.get)]
    return fts_query(keep) if len(keep) < len(terms) else match


def _plain_words(terms: list[str]) -> bool:
    """Every term is one word to FTS5 (else it is a phrase: FTS5 matches it)."""
    return bool(terms) and all(len(keywords.words(t)) == 1 for t in terms)


def _rank(kw: keywords.KeywordIndex, terms: list[str], w: SearchWeights, n: int,
          tail: Optional[keywords.KeywordIndex] = None) -> tuple:
    return kw.top(terms, col_own=w.col_own, col_ctx=w.col_ctx, col_meta=w.col_meta,
                  limit=n, common=w.common_df if kw.size >= 1000 else 0.0, tail=tail)


def _keyword_lists(conn, kw: keywords.KeywordIndex, terms: list[str], w: SearchWeights,
                   n: int, tail: Optional[keywords.KeywordIndex] = None) -> tuple[list, list]:
    """The window and single lists from the keyword index and its ``tail`` (the messages
    added since it was built: ``keywords.tail_for``), with any messages newer than both
    ranked by FTS5 (``rowid > max_id``) and merged by score."""
    win, one, used = _rank(kw, terms, w, n, tail)
    upto = tail.max_id if tail is not None else kw.max_id
    newer = conn.execute("select 1 from messages where id > ? limit 1", [upto]).fetchone()
    mm = fts_query(used)
    if newer and mm:
        win = sorted(win + conn.execute(
            "select rowid, bm25(message_windows, ?, ?, ?) as r from message_windows "
            "where message_windows match ? and rowid > ? order by r limit ?",
            [w.col_own, w.col_ctx, w.col_meta, mm, upto, n]).fetchall(),
            key=lambda r: r[1])[:n]
        one = sorted(one + conn.execute(
            "select rowid, bm25(messages_fts, 1.0, 0.5) as r from messages_fts "
            "where messages_fts match ? and rowid > ? order by r limit ?",
            [mm, upto, n]).fetchall(), key=lambda r: r[1])[:n]
    return win, one


def _lexical_lists(conn, match: str, kinds: set[str], weights: SearchWeights,
                   include_archived: bool, message_match: Optional[str] = None,
                   keyword: Optional[tuple] = None,
                   timings: Optional[dict] = None) -> dict[str, list[tuple[str, int]]]:
    """The BM25 candidate lists (window, single, notes, chunks) for an FTS ``match``
    (``message_match`` for the two lists over messages, default ``match``; ``keyword``
    = (keyword index, terms, its tail or None) ranks those two lists with the index
    instead). ``timings`` gets each part's milliseconds (messages_ms, notes_ms,
    chunks_ms)."""
    lists: dict[str, list[tuple[str, int]]] = {}
    if not match:
        return lists
    timings = timings if timings is not None else {}
    clock = [time.perf_counter()]

    def lap(name: str) -> None:
        now = time.perf_counter()
        timings[name] = (now - clock[0]) * 1000
        clock[0] = now
    n = weights.candidates
    mm = message_match or match
    if "message" in kinds and keyword is not None:
        win, one = _keyword_lists(conn, *keyword[:2], weights, n, keyword[2])
        if weights.window > 0:
            lists["window"] = [("message", r[0]) for r in win]
        if weights.single > 0:
            lists["single"] = [("message", r[0]) for r in one]
    elif "message" in kinds:
        if weights.window > 0:
            lists["window"] = [("message", r[0])
                               for r in _bm25_messages(conn, mm, weights, n)]
        if weights.single > 0:
            lists["single"] = [("message", r[0]) for r in conn.execute(
                "select rowid from messages_fts where messages_fts match ? "
                "order by bm25(messages_fts, 1.0, 0.5) limit ?", [mm, n])]
    lap("messages_ms")
    if "note" in kinds:
        lists["notes"] = [("note", r[0]) for r in _bm25_notes(conn, match, n, include_archived)]
    lap("notes_ms")
    if "chunk" in kinds:
        lists["chunks"] = [("chunk", r[0]) for r in _bm25_chunks(conn, match, n)]
    lap("chunks_ms")
    return lists


def _add_graph_and_provenance(conn, fused: dict, lists: dict, kinds: set[str],
                              weights: SearchWeights, include_archived: bool) -> None:
    """Add to ``fused`` (and ``lists``) the notes linked to the best notes (personalised
    PageRank) and the messages the best notes were formed from."""
    top_notes = {i: s for (kind, i), s in sorted(fused.items(), key=lambda x: -x[1])[:30]
                 if kind == "note"}
    if top_notes and "note" in kinds and weights.graph > 0:
        ranked = _ppr(conn, top_notes)
        if ranked and not include_archived:
            q = ",".join("?" * len(ranked))
            live = {r[0] for r in conn.execute(
                f"select id from notes where archived = 0 and id in ({q})", ranked)}
            ranked = [r for r in ranked if r in live]
        lists["graph"] = [("note", i) for i in ranked]
        _add_list(fused, lists["graph"], weights.graph, weights.rrf_k)
    if top_notes and "message" in kinds and weights.provenance > 0:
        order = sorted(top_notes, key=lambda i: -top_notes[i])[:10]
        q = ",".join("?" * len(order))
        rows = conn.execute(f"select note_id, message_id from note_sources where note_id in "
                            f"({q}) and message_id is not null", order).fetchall()
        by_note = defaultdict(list)
        for nid, mid in rows:
            by_note[nid].append(mid)
        prov = []
        for nid in order:
            prov += [("message", m) for m in by_note.get(nid, [])[:5]]
        lists["provenance"] = prov
        _add_list(fused, prov, weights.provenance, weights.rrf_k)


def _add_followups(conn, fused: dict, lists: dict, w: SearchWeights) -> None:
    """Add the few messages after each of the best message hits, in the same
    conversation and within an hour: the rest of a story ("Samir had the baby!!" …
    "they went with Vera") rarely repeats the question's words."""
    seeds = [i for (kind, i), _ in sorted(fused.items(), key=lambda x: -x[1])
             if kind == "message"][:w.follow_seeds]
    if not seeds:
        return
    q = ",".join("?" * len(seeds))
    rows = conn.execute(f"select id, conversation_id, position, ts, speaker from messages "
                        f"where id in ({q})", seeds).fetchall()
    by_id = {r[0]: r for r in rows}
    follow = []
    cap: dict[tuple[str, int], int] = {}   # a follow-up -> the best hit it follows
    for rank, sid in enumerate(seeds, 1):
        r = by_id.get(sid)
        if r is None:
            continue
        for j, (mid, ts, speaker) in enumerate(conn.execute(
                "select id, ts, speaker from messages where conversation_id = ? and "
                "position > ? order by position limit ?", [r[1], r[2], w.follow_span]), 1):
            if r[3] is not None and ts is not None and ts - r[3] > 3600:
                break
            score = w.follow / (w.rrf_k + rank + j)
            if speaker != r[4]:
                score *= w.follow_other
            follow.append(("message", mid))
            fused[("message", mid)] = fused.get(("message", mid), 0.0) + score
            cap.setdefault(("message", mid), sid)
    lists["follow"] = follow
    # A follow-up that does not match on its own words (only through its window: "I will
    # bring my blue tent" beside "the flight to Lisbon") ranks after the message it
    # follows, never above it — with no vectors yet, ranking is keyword-only and the
    # bonus alone could lift the tent above the flight.
    own = {item for name in ("single", "dense") for item in lists.get(name, ())}
    for key, seed in cap.items():
        if key not in own and fused[key] >= fused[("message", seed)]:
            fused[key] = fused[("message", seed)] * 0.99


def _fuse(lists: dict[str, list[tuple[str, int]]],
          w: SearchWeights) -> dict[tuple[str, int], float]:
    fused: dict[tuple[str, int], float] = defaultdict(float)
    for name, items in lists.items():
        _add_list(fused, items, getattr(w, name), w.rrf_k)
    return fused


def _add_list(fused: dict, items: list, weight: float, rrf_k: float) -> None:
    if weight <= 0:
        return
    seen = set()
    rank = 0
    for it in items:
        if it in seen:
            continue
        seen.add(it)
        rank += 1
        fused[it] = fused.get(it, 0.0) + weight / (rrf_k + rank)


def _resolve_anchor(conn, tr: TimeRange, w: SearchWeights,
                    kw: Optional[keywords.KeywordIndex] = None) -> Optional[TimeRange]:
    """Find the anchor event ("the wedding") and turn the offset into a range."""
    terms = [t for t in tokens(tr.anchor) if len(t) > 1]
    match = fts_query(terms)
    if not match:
        return None
    if kw is not None and _plain_words(terms):
        win, _one = _keyword_lists(conn, kw, terms, replace(w, common_df=0.0), 20)
        ids = [r[0] for r in win]
        q = ",".join("?" * len(ids))
        ts = dict(conn.execute(f"select id, ts from messages where id in ({q}) and ts is not "
                               f"null", ids).fetchall()) if ids else {}
        rows = [(ts[i],) for i in ids if i in ts][:1]
    else:
        rows = conn.execute(
            "select m.ts from message_windows w join messages m on m.id = w.rowid "
            "where message_windows match ? and m.ts is not null "
            "order by bm25(message_windows, ?, ?, ?) limit 1",
            [match, w.col_own, w.col_ctx, w.col_meta]).fetchall()
    if not rows:
        return None
    centre = datetime.fromtimestamp(rows[0][0], tz=timezone.utc) + timedelta(days=tr.offset_days)
    slack = timedelta(days=tr.slack_days)
    return replace(tr, start=centre - slack, end=centre + slack + timedelta(days=1))


def _fetch(conn, kind: str, ids: list[int]) -> dict[int, dict]:
    """Rows needed for re-ranking and display, keyed by id."""
    if not ids:
        return {}
    q = ",".join("?" * len(ids))
    out: dict[int, dict] = {}
    if kind == "message":
        for r in conn.execute(
                f"select m.id, m.text, m.speaker, m.timestamp, m.ts, m.external_id, "
                f"m.conversation_id, m.position, c.title, c.external_id, m.is_me "
                f"from messages m join conversations c on c.id = m.conversation_id "
                f"where m.id in ({q})", ids):
            out[r[0]] = {"text": r[1], "speaker": r[2], "timestamp": r[3], "ts": r[4],
                         "external_id": r[5], "conv": r[6], "position": r[7],
                         "conv_title": r[8] or r[9], "conv_ext": r[9], "is_me": r[10]}
    elif kind == "note":
        for r in conn.execute(
                f"select id, text, valid_from, retention, pinned, archived, created_at, kind "
                f"from notes where id in ({q})", ids):
            out[r[0]] = {"text": r[1], "valid_from": r[2], "retention": r[3],
                         "pinned": r[4], "archived": r[5], "created_at": r[6], "kind": r[7]}
        for nid, ts in conn.execute(
                f"select ns.note_id, m.ts from note_sources ns "
                f"join messages m on m.id = ns.message_id where ns.note_id in ({q})", ids):
            d = out.get(nid)
            if d is not None and ts is not None:
                d["ts"] = max(d.get("ts") or 0, ts)
    elif kind == "chunk":
        for r in conn.execute(
                f"select c.id, c.text, c.page, c.heading, d.path, d.title, d.modified_at "
                f"from chunks c join documents d on d.id = c.document_id where c.id in ({q})",
                ids):
            out[r[0]] = {"text": r[1], "page": r[2], "heading": r[3], "path": r[4],
                         "title": r[5], "modified_at": r[6]}
    return out


def _iso_ts(value: Optional[str]) -> Optional[float]:
    if not value:
        return None
    try:
        d = datetime.fromisoformat(value)
    except ValueError:
        return None
    if d.tzinfo is None:
        d = d.replace(tzinfo=timezone.utc)
    return d.timestamp()


def _rerank_and_build(conn, fused, lists, parsed: ParsedQuery, soft: Optional[TimeRange],
                      strict: Optional[TimeRange], k: int, w: SearchWeights,
                      include_archived: bool) -> list[SearchResult]:
    pool = sorted(fused.items(), key=lambda x: -x[1])[:max(60, k * 6)]
    by_kind: dict[str, list[int]] = defaultdict(list)
    for (kind, i), _ in pool:
        by_kind[kind].append(i)
    rows = {kind: _fetch(conn, kind, ids) for kind, ids in by_kind.items()}
    name_words = {t for n in parsed.names for t in tokens(n)}
    found_in = defaultdict(list)
    for name, items in lists.items():
        for it in items:
            found_in[it].append(name)
    scored = []
    for (kind, i), s in pool:
        d = rows.get(kind, {}).get(i)
        if d is None:
            continue  # deleted since it was indexed
        if kind == "note":
            if d["archived"] and not include_archived:
                continue
            ts = d.get("ts") or _iso_ts(d.get("valid_from"))
            s *= 0.5 + 0.5 * max(0.0, min(1.0, float(d["retention"])))
            if d["pinned"]:
                s *= 1.25
        elif kind == "message":
            ts = d["ts"]
            if w.thin < 1.0 and not has_content_terms(d["text"] or "", 2):
                s *= w.thin
        else:
            ts = None
        d["_ts"] = ts
        if strict is not None:
            inside = strict.contains(ts)
            if inside is False or (inside is None and kind == "message"):
                continue
        if soft is not None:
            inside = soft.contains(ts)
            if inside:
                s *= 1 + w.time_in
            elif inside is False:
                s /= 1 + (soft.distance_days(ts) or 0) / w.time_scale_days
        if name_words and w.speaker > 0:
            who = set(tokens(d.get("speaker") or "")) if kind == "message" else set()
            if who & name_words:
                s *= 1 + w.speaker
            elif kind == "note" and name_words & set(tokens(d["text"])):
                s *= 1 + w.speaker
        scored.append(((kind, i), s, d))
    scored.sort(key=lambda x: -x[1])
    # diversity: identical texts once; a message right next to a better one is damped
    out: list[tuple] = []
    seen_text: set[str] = set()
    chosen_pos: set[tuple[int, int]] = set()
    pending = scored
    if w.neighbour_damp < 1.0:
        adjusted = []
        for item in scored:
            (kind, i), s, d = item
            if kind == "message" and ((d["conv"], d["position"] - 1) in chosen_pos
                                      or (d["conv"], d["position"] + 1) in chosen_pos):
                s *= w.neighbour_damp
            if kind == "message":
                chosen_pos.add((d["conv"], d["position"]))
            adjusted.append(((kind, i), s, d))
        pending = sorted(adjusted, key=lambda x: -x[1])
    for (kind, i), s, d in pending:
        norm = " ".join(d["text"].lower().split())
        if norm in seen_text:
            continue
        seen_text.add(norm)
        out.append(((kind, i), s, d))
        if len(out) >= k:
            break
    note_ids = [i for (kind, i), _, _ in out if kind == "note"]
    note_sources = sources_of_notes(conn, note_ids)
    results = []
    for (kind, i), s, d in out:
        results.append(_result(kind, i, s, d, note_sources.get(i, []), found_in[(kind, i)]))
    return results


def sources_of_notes(conn, note_ids: list[int], per_note: int = 20) -> dict[int, list[dict]]:
    """The provenance of each note (its messages or document passages), at most
    ``per_note`` each, in the shape of :attr:`SearchResult.sources`."""
    if not note_ids:
        return {}
    q = ",".join("?" * len(note_ids))
    out: dict[int, list[dict]] = defaultdict(list)
    for r in conn.execute(
            f"select ns.note_id, m.external_id, c.title, c.external_id, m.timestamp, m.speaker, "
            f"ns.chunk_id, d.path, ch.page, m.id from note_sources ns "
            f"left join messages m on m.id = ns.message_id "
            f"left join conversations c on c.id = m.conversation_id "
            f"left join chunks ch on ch.id = ns.chunk_id "
            f"left join documents d on d.id = ch.document_id "
            f"where ns.note_id in ({q}) order by ns.note_id, m.ts", note_ids):
        if len(out[r[0]]) >= per_note:
            continue
        if r[1] is not None:
            out[r[0]].append({"message_id": r[1], "conversation": r[2] or r[3],
                              "conversation_id": r[3], "timestamp": r[4], "speaker": r[5],
                              "item_id": r[9]})
        elif r[6] is not None:
            out[r[0]].append({"document": r[7], "page": r[8], "item_id": r[6]})
    return out


def _result(kind: str, i: int, s: float, d: dict, note_sources: list[dict],
            matched: list[str]) -> SearchResult:
    ts = d.get("_ts")
    date = fmt_date(datetime.fromtimestamp(ts, tz=timezone.utc)) if ts else None
    if kind == "message":
        src = [{"message_id": d["external_id"], "conversation": d["conv_title"],
                "conversation_id": d["conv_ext"], "timestamp": d["timestamp"],
                "speaker": d["speaker"], "item_id": i}]
        return SearchResult(i, kind, d["text"], round(s, 6), d["timestamp"], src, date,
                            d["speaker"], d["conv_title"], matched)
    if kind == "chunk":
        src = [{"document": d["path"], "page": d["page"], "heading": d["heading"],
                "title": d["title"], "item_id": i}]
        return SearchResult(i, kind, d["text"], round(s, 6), None, src, None, None, None,
                            matched)
    tsiso = (datetime.fromtimestamp(ts, tz=timezone.utc).isoformat() if ts else None)
    return SearchResult(i, kind, d["text"], round(s, 6), d.get("valid_from") or tsiso,
                        note_sources, date, None, None, matched)
