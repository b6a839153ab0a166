"""A keyword index over messages that answers BM25 top-k without asking SQLite.

FTS5 ranks every message that contains a query word: ``bm25()`` reads each matching
row's size, so a query whose words occur in 100,000 of a million context windows costs
a quarter of a second before anything else runs (``benchmarks/bench_scale_1m.py``). This
index keeps, per word, the positions of the messages that contain it, in conversation
order, with four small counts (in the text, in the speaker's name, in the date words, in
the part of the text a neighbour's window quotes) and scores a query with numpy:

* the **window** list — a message with its neighbours and date, exactly the columns of
  ``message_windows`` (``own`` = speaker + text, ``ctx`` = up to ``WINDOW_WIDTH``
  neighbours each side in the same session, ``meta`` = date words + speaker): the
  counts of a message are added to the windows of its neighbours by shifting positions;
* the **single** list — the lone message, as ``messages_fts`` (text, speaker).

Both use FTS5's own BM25 (k1 1.2, b 0.75, IDF ``log((N - n + 0.5) / (n + 0.5))``, column
weights multiply term counts, document length = all tokens of the row), so scores are on
FTS5's scale and the ranking is FTS5's up to tokenization: words are runs of letters and
digits, lower-cased, diacritics removed, Porter-stemmed (PyStemmer's original Porter
algorithm, as FTS5's ``porter`` tokenizer).

Lifecycle. The index is a snapshot of the messages up to ``max_id``, saved beside the
database (``keywords/messages.npz``; sealed with the store's key when it is encrypted)
by :func:`refresh` — which an import and the background ``extract`` job call — and
loaded by search (:func:`for_search`). Messages added later (``id > max_id``) are
searched with FTS5 restricted to that range and merged by score, so nothing new is ever
missing; a snapshot that holds messages since deleted (a forgotten conversation) is
never used and its file is removed. Measured: ``benchmarks/bench_recall_latency.py``.
"""
from __future__ import annotations

import functools
import io
import itertools
import json
import logging
import math
import re
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from ..progress import CancelToken, ProgressFn, check, report
from .windows import CHAT_FORMAT, NEIGHBOUR_CHARS, WINDOW_WIDTH, date_words

log = logging.getLogger(__name__)

KEYWORD_DIR = "keywords"
INDEX_FILE = "messages.npz"
FORMAT = 1
MIN_MESSAGES = 20_000   # below this FTS5 is fast enough (a few ms): no snapshot is kept
STALE_SHARE = 0.05      # rebuild when more than this share of messages is newer
K1, B = 1.2, 0.75

_TOKEN = re.compile(r"[^\W_]+")


class _Terms:
    """Raw word → term id (lower-cased, diacritics removed, Porter-stemmed), cached."""

    def __init__(self, vocab: Optional[dict[str, int]] = None):
        import Stemmer

        self._stem = Stemmer.Stemmer("porter").stemWord
        self._stem_lock = threading.Lock()   # a stemmer is not to be shared by threads
        self.vocab: dict[str, int] = vocab if vocab is not None else {}
        self.raw: dict[str, int] = {}

    def norm(self, word: str) -> str:
        if not word.isascii():
            word = "".join(c for c in unicodedata.normalize("NFKD", word)
                           if not unicodedata.combining(c))
        if not 2 < len(word) <= 64:   # FTS5's porter leaves these as they are
            return word
        with self._stem_lock:
            return self._stem(word)

    def _new(self, word: str) -> int:
        term = self.norm(word)
        t = self.vocab.get(term)
        if t is None:
            t = self.vocab[term] = len(self.vocab)
        self.raw[word] = t
        return t

    def array(self, words_: list[str]) -> np.ndarray:
        """The term ids of ``words_`` as an int32 array (one C-level pass when every
        word was seen before)."""
        ids = np.fromiter(map(self.raw.get, words_, itertools.repeat(-1, len(words_))),
                          np.int32, len(words_))
        miss = np.flatnonzero(ids < 0)
        if len(miss):
            for i in miss.tolist():
                w = words_[i]
                ids[i] = self.raw[w] if w in self.raw else self._new(w)
        return ids

    def lookup(self, word: str) -> Optional[int]:
        """The term id of one query word (None: no message has it)."""
        return self.vocab.get(self.norm(word))


def words(text: str) -> list[str]:
    """The tokens FTS5's unicode61 tokenizer would see (before stemming)."""
    return _TOKEN.findall(text.lower())


@dataclass
class KeywordIndex:
    """The snapshot: postings by term, and per position (conversation order) the
    message id, session and row lengths."""

    max_id: int              # the largest message id included
    count: int               # messages of any kind with id <= max_id, at build time
    last_hash: str           # content hash of the message max_id (ids can be reused)
    width: int
    gap_minutes: float
    terms: _Terms
    offsets: np.ndarray      # int64 [V + 1]: postings of term t = [offsets[t], offsets[t+1])
    pos: np.ndarray          # int32 positions
    tt: np.ndarray           # uint8 count in the text
    tsp: np.ndarray          # uint8 count in the speaker's name
    tdate: np.ndarray        # uint8 count in the date words
    tctx: np.ndarray         # uint8 count in what a neighbour quotes (speaker, text[:300])
    ids: np.ndarray          # int64 [N] message id per position
    sess: np.ndarray         # int32 [N] session number per position
    dl_win: np.ndarray       # float32 [N] tokens in the message's window row
    dl_one: np.ndarray       # float32 [N] tokens in the message's messages_fts row
    # a tail (:func:`tail_for`): the messages with id > ``since`` and the older ones whose
    # windows quote them (``own``: they are ranked here, not in the snapshot, where
    # ``main_own`` leaves them out), with the neighbours those windows need
    since: int = 0
    own: Optional[np.ndarray] = None        # bool [N] (None: every position)
    main_own: Optional[np.ndarray] = None   # bool per position of the snapshot

    @property
    def size(self) -> int:
        return len(self.ids)

    @functools.cached_property
    def newer(self) -> int:
        """A tail's messages added since its snapshot (0 for a snapshot)."""
        return int(np.count_nonzero(self.ids > self.since)) if self.since else 0

    @functools.cached_property
    def neighbours(self) -> np.ndarray:
        """uint8 per position: bit 2(d-1) set when position + d is in the same session,
        bit 2(d-1)+1 when position - d is (d = 1 … width)."""
        n = self.size
        out = np.zeros(n, dtype=np.uint8)
        bit = 1
        for d in range(1, self.width + 1):
            same = self.sess[d:] == self.sess[:-d] if n > d else np.zeros(0, bool)
            out[:n - d][same] |= np.uint8(bit)          # position + d
            out[d:][same] |= np.uint8(bit << 1)         # position - d
            bit <<= 2
        return out

    # -- scoring -------------------------------------------------------------------------
    def postings(self, word: str) -> Optional[slice]:
        t = self.terms.lookup(word)
        if t is None or t + 1 >= len(self.offsets):
            return None
        return slice(int(self.offsets[t]), int(self.offsets[t + 1]))

    def top(self, words_: list[str], *, col_own: float, col_ctx: float, col_meta: float,
            limit: int, common: float = 0.0, tail: Optional["KeywordIndex"] = None
            ) -> tuple[list[tuple[int, float]], list[tuple[int, float]], list[str]]:
        """BM25 top ``limit`` (message id, FTS5-style score: lower is better) of the window
        list and of the single-message list for the OR of ``words_``, and the words used.

        ``common`` > 0 leaves out the words whose windows exceed that share of all
        messages, when rarer words remain (as search did with FTS5: such words cost most
        of the time and barely move BM25). ``tail``: the index of the messages added
        since this one was built (:func:`tail_for`), ranked with it — the counts BM25
        takes over the whole (messages, messages with the word, average length) are
        both indexes' together, as FTS5's over the whole table."""
        views = ([_View(self, None, self, "_counts")] if tail is None else
                 [_View(self, tail.main_own, tail, "_main_counts"),
                  _View(tail, tail.own, tail, "_counts")])
        parts = [v.index for v in views]
        n = sum(v.n for v in views)
        if n == 0 or not words_:
            return [], [], []
        avg_win = sum(v.dl_sums[0] for v in views) / n or 1.0
        avg_one = sum(v.dl_sums[1] for v in views) / n or 1.0
        marks = [np.zeros(x.size, dtype=bool) for x in parts]
        # per word, per index: (positions, weighted counts) per shift and the windows hit
        found: dict[str, list] = {}
        for w in dict.fromkeys(words_):
            found[w] = []
            for x, mark in zip(parts, marks):
                s = x.postings(w)
                found[w].append(None if s is None or s.stop <= s.start else
                                x._window_parts(s, col_own, col_ctx, col_meta, mark))
        nhit = {w: sum(len(v.own(p[1])) for v, p in zip(views, per) if p is not None)
                for w, per in found.items()}
        used = list(found)
        if common > 0 and len(used) > 1:
            used = ([w for w in used if nhit[w] <= common * n]
                    or [min(used, key=lambda w: nhit[w] or n + 1)])
        best_win: list[tuple[int, float]] = []
        for i, (x, mark) in enumerate(zip(parts, marks)):
            win = np.zeros(x.size, dtype=np.float32)
            freq = np.zeros(x.size, dtype=np.float32)
            touched: list[np.ndarray] = []
            for w in used:
                if found[w][i] is None:
                    continue
                wparts, hit = found[w][i]
                for q, v in wparts:      # positions are unique within one shift
                    freq[q] += v
                f = freq[hit]
                f /= f + _norm(x.dl_win[hit], avg_win)
                f *= np.float32(_idf(n, nhit[w]) * (K1 + 1))
                win[hit] += f
                freq[hit] = 0.0
                touched.append(hit)
            best_win += x._best(win, views[i].own(_union(touched, mark)), limit)
        # the single list: a message's own text and speaker (messages_fts)
        single: dict[str, list] = {}
        for w in used:
            single[w] = []
            for x in parts:
                s = x.postings(w)
                if s is None:
                    single[w].append(None)
                    continue
                f = x.tt[s] + np.float32(0.5) * x.tsp[s]
                m = f > 0
                single[w].append((x.pos[s][m], f[m]))
        nhit_one = {w: sum(len(v.own(p[0])) for v, p in zip(views, per)
                        if p is not None)
                    for w, per in single.items()}
        best_one: list[tuple[int, float]] = []
        for i, (x, mark) in enumerate(zip(parts, marks)):
            one = np.zeros(x.size, dtype=np.float32)
            touched = []
            for w in used:
                if single[w][i] is None or not len(single[w][i][0]):
                    continue
                p, f = single[w][i]
                f = f / (f + _norm(x.dl_one[p], avg_one))
                f *= np.float32(_idf(n, nhit_one[w]) * (K1 + 1))
                one[p] += f
                touched.append(p)
            best_one += x._best(one, views[i].own(_union(touched, mark)), limit)
        if tail is not None:
            best_win = sorted(best_win, key=lambda r: (r[1], r[0]))[:limit]
            best_one = sorted(best_one, key=lambda r: (r[1], r[0]))[:limit]
        return best_win, best_one, used

    def _window_parts(self, s: slice, col_own: float, col_ctx: float, col_meta: float,
                      mark: np.ndarray) -> tuple[list, np.ndarray]:
        """The (positions, weighted counts) a term's postings add to windows — the
        message itself (own and meta columns) and its neighbours in the same session
        (ctx) — and the unique positions hit."""
        p = self.pos[s]
        tsp = self.tsp[s]
        own = (np.float32(col_own) * (self.tt[s] + tsp)
               + np.float32(col_meta) * (self.tdate[s] + tsp))
        ctx = np.float32(col_ctx) * self.tctx[s]
        has_own = own > 0                      # (a word only in the quoted part: no)
        parts = [(p[has_own], own[has_own])]
        # which neighbours quote it: same session, and the word within what is quoted
        nb = np.where(ctx > 0, self.neighbours[p], np.uint8(0))
        bit = 1
        for d in range(1, self.width + 1):
            for sign in (1, -1):
                ok = (nb & bit) != 0
                if ok.any():
                    parts.append((p[ok] + sign * d, ctx[ok]))
                bit <<= 1
        return parts, _union([q for q, _ in parts], mark)

    def _best(self, scores: np.ndarray, cand: np.ndarray, limit: int) -> list[tuple[int, float]]:
        """The ``limit`` best of positions ``cand`` as (message id, -score)."""
        if not len(cand):
            return []
        sc = scores[cand]
        if len(cand) > limit:
            part = np.argpartition(-sc, limit - 1)[:limit]
            cand, sc = cand[part], sc[part]
        ids = self.ids[cand]
        order = np.lexsort((ids, -sc))
        return list(zip(ids[order].tolist(), (-sc[order]).astype(float).tolist()))


class _View:
    """An index as one query ranks it: every position, or those ``mask`` says are its
    own; how many and their lengths (computed once, kept on ``holder`` as ``name``)."""

    def __init__(self, index: KeywordIndex, mask: Optional[np.ndarray], holder, name: str):
        self.index, self.mask = index, mask
        got = holder.__dict__.get(name)
        if got is None:
            dl_win = index.dl_win if mask is None else index.dl_win[mask]
            dl_one = index.dl_one if mask is None else index.dl_one[mask]
            got = holder.__dict__[name] = (len(dl_win), (
                float(dl_win.sum(dtype=np.float64)), float(dl_one.sum(dtype=np.float64))))
        self.n, self.dl_sums = got

    def own(self, positions: np.ndarray) -> np.ndarray:
        return positions if self.mask is None else positions[self.mask[positions]]


def _union(arrays: list[np.ndarray], mark: np.ndarray) -> np.ndarray:
    """The sorted unique positions in ``arrays``: by sorting when they are fewer than a
    quarter of all positions, else by marking a scratch array of every position (all
    False again on return). Sorted by hand: numpy 2's ``np.unique`` hashes first, 10-20x
    slower here (44,000 positions: 15.6 ms against 0.9)."""
    if not arrays:
        return np.zeros(0, dtype=np.int32)
    total = sum(len(a) for a in arrays)
    if total * 4 < len(mark):
        a = np.concatenate(arrays)
        a.sort()
        return a[np.r_[True, a[1:] != a[:-1]]] if len(a) else a
    for a in arrays:
        mark[a] = True
    out = np.flatnonzero(mark)
    mark[out] = False
    return out


def _norm(dl: np.ndarray, avg: float) -> np.ndarray:
    """BM25's length normalisation of rows ``dl`` tokens long: k1 (1 - b + b dl / avgdl)."""
    return (K1 * (1 - B + B * dl / avg)).astype(np.float32)


def _idf(n: int, nhit: int) -> float:
    idf = math.log((n - nhit + 0.5) / (nhit + 0.5))
    return idf if idf > 0 else 1e-6


# -- building ------------------------------------------------------------------------------
_REPORT_EVERY = 50_000


def build(store, *, gap_minutes: float, width: int = WINDOW_WIDTH,
          progress: Optional[ProgressFn] = None,
          cancel: Optional[CancelToken] = None, since: int = 0) -> KeywordIndex:
    """The snapshot of every message now in ``store`` (one read transaction, on a
    connection of its own so it sees one consistent state); with ``since``, a tail: the
    messages with a larger id, with the neighbours their windows need."""
    conn = store.connect_file(store.path)
    try:
        conn.execute("begin")
        return _build(conn, gap_minutes, width, progress, cancel, since)
    finally:
        conn.close()


_TAIL_FETCH = 500


def _tail_rows(conn, since: int, width: int, cancel) -> tuple[list, np.ndarray, np.ndarray]:
    """A tail's rows in conversation order: the messages with id > ``since``, the older
    ones within ``width`` of them (their windows quote the new ones: the tail ranks
    them), and the neighbours within ``width`` of those (for their windows). With a
    bool per row: the row does not follow the one before it in its conversation (a
    session starts there), and one: the tail ranks it."""
    order: list[np.ndarray] = []
    breaks: list[np.ndarray] = []
    owns: list[np.ndarray] = []
    for (cid,) in conn.execute("select distinct conversation_id from messages where id > ? "
                               "and kind = 'message'", [since]).fetchall():
        check(cancel)
        ids = np.array([r[0] for r in conn.execute(
            "select id from messages where conversation_id = ? and kind = 'message' "
            "order by position, id", [cid])], dtype=np.int64)
        own = _near(ids > since, width)
        at = np.flatnonzero(_near(own, width))
        brk = np.ones(len(at), dtype=bool)
        brk[1:] = at[1:] != at[:-1] + 1
        order.append(ids[at])
        breaks.append(brk)
        owns.append(own[at])
    if not order:
        return [], np.zeros(0, bool), np.zeros(0, bool)
    ids = np.concatenate(order)
    got: dict[int, tuple] = {}
    for i in range(0, len(ids), _TAIL_FETCH):
        part = ids[i:i + _TAIL_FETCH].tolist()
        for r in conn.execute("select id, conversation_id, speaker, text, ts from messages "
                              f"where id in ({','.join('?' * len(part))})", part):
            got[r[0]] = r
    kept = np.fromiter((i in got for i in ids.tolist()), bool, len(ids))
    return ([got[i] for i in ids[kept].tolist()], np.concatenate(breaks)[kept],
            np.concatenate(owns)[kept])


def _near(mask: np.ndarray, width: int) -> np.ndarray:
    """``mask`` widened by ``width`` each side."""
    out = mask.copy()
    for d in range(1, width + 1):
        out[d:] |= mask[:-d]
        out[:-d] |= mask[d:]
    return out


def _build(conn, gap_minutes: float, width: int, progress: Optional[ProgressFn],
           cancel: Optional[CancelToken], since: int = 0) -> KeywordIndex:
    max_id = conn.execute("select coalesce(max(id), 0) from messages").fetchone()[0]
    count = conn.execute("select count(*) from messages where id > ?", [since]).fetchone()[0]
    last = conn.execute("select content_hash from messages where id = ?", [max_id]).fetchone()
    chats = {r[0] for r in conn.execute("select id from conversations where format = ?",
                                        [CHAT_FORMAT])}
    terms = _Terms()
    speakers = _Table(terms, words)
    days = _Table(terms, lambda day: words(date_words(day * 86400)))
    cols: dict[str, list] = {k: [] for k in ("ids", "conv", "ts", "nt", "ns", "nd", "nq",
                                              "t", "s", "d", "q", "qpos")}
    breaks = own = None
    if since:
        tail_rows, breaks, own = _tail_rows(conn, since, width, cancel)
        total = len(tail_rows)
        slices = (tail_rows[i:i + _REPORT_EVERY] for i in range(0, total, _REPORT_EVERY))
    else:
        total = conn.execute("select count(*) from messages where kind = 'message'"
                             ).fetchone()[0]
        cur = conn.execute("select id, conversation_id, speaker, text, ts from messages "
                           "where kind = 'message' order by conversation_id, position, id")
        slices = iter(lambda: cur.fetchmany(_REPORT_EVERY), [])
    report(progress, "indexing keywords", 0, total)
    done = 0
    for rows in slices:   # in slices: Python touches each message a few times, numpy the rest
        check(cancel)
        mids, cids, spk, texts, tss = zip(*rows)
        base = np.arange(done, done + len(rows), dtype=np.int64)
        tw = [_TOKEN.findall(t.lower()) for t in texts]
        nt = np.fromiter(map(len, tw), np.int32, len(tw))
        cols["t"].append(terms.array(list(itertools.chain.from_iterable(tw))))
        ts = np.array([np.nan if x is None else x for x in tss], dtype=np.float64)
        day = np.where(np.isnan(ts), -1, np.floor(np.nan_to_num(ts, nan=-1) / 86400))
        st, ns = speakers.expand(list(spk))
        dt, nd = days.expand([int(x) if x >= 0 else None for x in day.tolist()])
        cols["s"].append(st)
        cols["d"].append(dt)
        # a neighbour's window quotes only the start of a long message
        nq = np.full(len(rows), -1, dtype=np.int32)
        for i in np.flatnonzero(np.fromiter(map(len, texts), np.int64, len(texts))
                                > NEIGHBOUR_CHARS).tolist():
            qi = terms.array(_TOKEN.findall(texts[i][:NEIGHBOUR_CHARS].lower()))
            nq[i] = len(qi)
            cols["q"].append(qi)
            cols["qpos"].append(np.full(len(qi), base[i], dtype=np.int64))
        for k, v in (("ids", np.array(mids, dtype=np.int64)),
                     ("conv", np.array(cids, dtype=np.int64)), ("ts", ts), ("nt", nt),
                     ("ns", ns), ("nd", nd), ("nq", nq)):
            cols[k].append(v)
        done += len(rows)
        report(progress, "indexing keywords", done, total)
    check(cancel)
    c = {k: (np.concatenate(v) if v else np.zeros(0, np.int64)) for k, v in cols.items()}
    n = done
    sess = _sessions(c["conv"], c["ts"], chats, gap_minutes * 60, breaks)
    short = c["nq"] < 0
    nt, ns, nd = c["nt"], c["ns"], c["nd"]
    ctx_len = ns + np.where(short, nt, c["nq"])
    dl_one = (nt + ns).astype(np.float32)
    dl_win = dl_one + (nd + ns)
    for d in range(1, width + 1):
        same = sess[d:] == sess[:-d]
        dl_win[d:] += np.where(same, ctx_len[:-d], 0)
        dl_win[:-d] += np.where(same, ctx_len[d:], 0)
    check(cancel)
    pos = np.arange(n, dtype=np.int64)
    allt = np.concatenate([c["t"], c["s"], c["d"], c["q"]]).astype(np.int64)
    allp = np.concatenate([np.repeat(pos, nt), np.repeat(pos, ns), np.repeat(pos, nd),
                           c["qpos"]])
    kind = np.repeat(np.arange(4, dtype=np.int8),
                     [int(nt.sum()), int(ns.sum()), int(nd.sum()), len(c["q"])])
    del cols, c["t"], c["s"], c["d"], c["q"], c["qpos"]
    allt *= max(n, 1)
    allt += allp
    del allp
    # (term, position) pairs sorted, then counted per kind: by hand rather than
    # np.unique(return_inverse), which holds twice the memory (1.4 GB at a million)
    order = np.argsort(allt)
    allt = allt[order]
    kind = kind[order]
    del order
    first = np.ones(len(allt), dtype=bool)
    first[1:] = allt[1:] != allt[:-1]
    key = allt[first]
    del allt
    group = np.cumsum(first, dtype=np.int32) - 1
    del first
    tf = [np.minimum(np.bincount(group[kind == k], minlength=len(key)), 255).astype(np.uint8)
          for k in range(4)]
    del group, kind
    term = key // max(n, 1)
    ppos = (key % max(n, 1)).astype(np.int32)
    del key
    # a short message is quoted whole: its quoted count is its text count
    tctx = tf[1].astype(np.int32) + np.where(short[ppos], tf[0], tf[3])
    v = len(terms.vocab)
    offsets = np.zeros(v + 1, dtype=np.int64)
    np.cumsum(np.bincount(term, minlength=v), out=offsets[1:])
    return KeywordIndex(
        max_id=int(max_id), count=int(count), last_hash=last[0] if last else "",
        width=width, gap_minutes=float(gap_minutes), terms=terms, offsets=offsets, pos=ppos,
        tt=tf[0], tsp=tf[1], tdate=tf[2], tctx=np.minimum(tctx, 255).astype(np.uint8),
        ids=c["ids"].astype(np.int64), sess=sess, dl_win=dl_win.astype(np.float32),
        dl_one=dl_one, since=since, own=own)


class _Table:
    """Token ids of values that repeat (speakers, days), computed once per value."""

    def __init__(self, terms: _Terms, tokenize):
        self.terms, self.tokenize = terms, tokenize
        self.index: dict = {}
        self.tokens: list[np.ndarray] = []

    def expand(self, values: list) -> tuple[np.ndarray, np.ndarray]:
        """The token ids of every value in order, flattened, and the count per value."""
        get = self.index.get
        idx = []
        for v in values:
            i = get(v)
            if i is None:
                i = self.index[v] = len(self.tokens)
                self.tokens.append(self.terms.array(self.tokenize(v) if v is not None else []))
            idx.append(i)
        lens = np.fromiter((len(t) for t in self.tokens), np.int32, len(self.tokens))
        flat = (np.concatenate(self.tokens) if self.tokens else np.zeros(0, np.int32))
        starts = np.zeros(len(self.tokens), dtype=np.int64)
        np.cumsum(lens[:-1], out=starts[1:])
        ix = np.asarray(idx, dtype=np.int64)
        counts = lens[ix]
        first = np.repeat(starts[ix], counts)
        within = np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(
            np.cumsum(counts) - counts, counts)
        return flat[first + within], counts


def _sessions(conv: np.ndarray, ts: np.ndarray, chats: set, gap: float,
              breaks: Optional[np.ndarray] = None) -> np.ndarray:
    """A session number per message (conversation order), as the windows split them: a
    new conversation, a silence longer than ``gap`` since the conversation's previous
    timed message, and every message of a told-to-secondme chat; and where ``breaks``
    says (a tail's rows that do not follow each other)."""
    n = len(conv)
    if n == 0:
        return np.zeros(0, dtype=np.int32)
    i = np.arange(n)
    new_conv = np.ones(n, dtype=bool)
    new_conv[1:] = conv[1:] != conv[:-1]
    conv_start = np.maximum.accumulate(np.where(new_conv, i, 0))
    timed = ~np.isnan(ts)
    last_timed = np.maximum.accumulate(np.where(timed, i, -1))
    prev = np.full(n, -1)
    prev[1:] = last_timed[:-1]
    ok = timed & (prev >= conv_start)
    gap_break = np.zeros(n, dtype=bool)
    gap_break[ok] = ts[ok] - ts[prev[ok]] > gap
    chat = np.isin(conv, np.fromiter(chats, np.int64, len(chats))) if chats else False
    brk = new_conv | gap_break | chat
    if breaks is not None:
        brk |= breaks
    return (np.cumsum(brk) - 1).astype(np.int32)


# -- files ---------------------------------------------------------------------------------
_ARRAYS = ("offsets", "pos", "tt", "tsp", "tdate", "tctx", "ids", "sess", "dl_win", "dl_one")


def index_path(store) -> Path:
    return Path(store.path).parent / KEYWORD_DIR / INDEX_FILE


def save(store, idx: KeywordIndex) -> None:
    """Write ``idx`` beside the database (sealed with the store's key when encrypted)."""
    from ..paths import private_dir, write_private

    meta = {"format": FORMAT, "max_id": idx.max_id, "count": idx.count,
            "last_hash": idx.last_hash, "width": idx.width, "gap_minutes": idx.gap_minutes}
    vocab = sorted(idx.terms.vocab, key=idx.terms.vocab.get)
    buf = io.BytesIO()
    np.savez(buf, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
             vocab=np.frombuffer("\n".join(vocab).encode("utf-8"), dtype=np.uint8),
             **{a: getattr(idx, a) for a in _ARRAYS})
    path = index_path(store)
    private_dir(path.parent)
    if store.file_cipher is not None:
        store.file_cipher.write_file(path, buf.getvalue(), "keyword index")
    else:
        write_private(path, buf.getvalue())


def load(store) -> Optional[KeywordIndex]:
    """The saved snapshot, or None (missing, another format, unreadable: logged)."""
    path = index_path(store)
    if not path.exists():
        return None
    try:
        # a plain file is read member by member: reading it whole first held the file
        # and its arrays at once (at 1M messages ~120 MB more at the app's peak)
        source = (io.BytesIO(store.file_cipher.read_file(path, "keyword index"))
                  if store.file_cipher is not None else path)
        with np.load(source, allow_pickle=False) as z:
            meta = json.loads(z["meta"].tobytes().decode())
            if meta.get("format") != FORMAT:
                return None
            text = z["vocab"].tobytes().decode("utf-8")
            vocab = {w: i for i, w in enumerate(text.split("\n"))} if text else {}
            arrays = {a: z[a] for a in _ARRAYS}
        idx = KeywordIndex(max_id=int(meta["max_id"]), count=int(meta["count"]),
                           last_hash=meta["last_hash"], width=int(meta["width"]),
                           gap_minutes=float(meta["gap_minutes"]), terms=_Terms(vocab),
                           **arrays)
        idx.neighbours, _View(idx, None, idx, "_counts")   # noqa: B018 - now, not in a search
        return idx
    except Exception as e:  # noqa: BLE001 - a damaged file is rebuilt, never fatal
        log.warning("keyword index %s unreadable (%s); search uses SQLite until it is "
                    "rebuilt", path, e)
        return None


def discard(store) -> None:
    """Remove the saved snapshot (after a delete: it holds the removed words)."""
    _loaded.pop(str(store.path), None)
    st = _tails.pop(str(store.path), None)
    if st is not None:
        st.stop.cancel()
    try:
        index_path(store).unlink()
    except FileNotFoundError:
        pass


# -- using it ------------------------------------------------------------------------------
_loaded: dict[str, tuple[tuple, Optional[KeywordIndex]]] = {}
_checked: dict[tuple, Optional[int]] = {}
_lock = threading.Lock()


def newer_than(store, idx: KeywordIndex, *, deletions: bool = True) -> Optional[int]:
    """How many messages were added since ``idx`` was built, or None when it must not be
    used: the message it ends with is gone or replaced (ids are reused after the last
    is deleted), or — with ``deletions`` — any message it holds was deleted since.

    Search leaves ``deletions`` out (counting a million messages takes 100 ms): every
    delete path rebuilds the index at once (``rebuild_after_delete``), and a deleted
    message the index still names is one search finds missing and skips. The import and
    the extract job look (``refresh``)."""
    conn = store.conn
    top = conn.execute("select coalesce(max(id), 0) from messages").fetchone()[0]
    if top < idx.max_id:
        return None
    h = conn.execute("select content_hash from messages where id = ?", [idx.max_id]).fetchone()
    if (h[0] if h else "") != idx.last_hash:
        return None
    newer = conn.execute("select count(*) from messages where id > ?", [idx.max_id]).fetchone()[0]
    if deletions:
        held = conn.execute("select count(*) from messages where id <= ?",
                            [idx.max_id]).fetchone()[0]
        if held != idx.count:
            return None
    return newer


def for_search(store, gap_minutes: float, width: int = WINDOW_WIDTH) -> Optional[KeywordIndex]:
    """The snapshot search may use now (loaded once per file version), or None: then
    search asks FTS5 as before. Cheap when nothing was written since the last call."""
    path = index_path(store)
    try:
        st = path.stat()
    except OSError:
        return None
    key = str(store.path)
    sig = (st.st_mtime_ns, st.st_size, st.st_ino)
    with _lock:
        cached = _loaded.get(key)
        if cached is None or cached[0] != sig:
            cached = (sig, load(store))
            _loaded[key] = cached
    idx = cached[1]
    if idx is None or idx.width != width or idx.gap_minutes != float(gap_minutes):
        return None
    conn = store.conn
    memo = (key, id(conn), conn.execute("PRAGMA data_version").fetchone()[0],
            conn.total_changes, sig)
    if memo not in _checked:
        if len(_checked) > 64:
            _checked.clear()
        _checked[memo] = newer_than(store, idx, deletions=False)
    return idx if _checked[memo] is not None else None


# -- the tail: messages newer than the snapshot ------------------------------------------
TAIL_WAIT_S = 2.0   # after a tail is built, the next waits this long (or 3x the build)


class _Tail:
    """A snapshot's tail in one process: the index, the thread building the next one."""

    def __init__(self, main: KeywordIndex):
        self.main = main
        self.index: Optional[KeywordIndex] = None
        self.thread: Optional[threading.Thread] = None
        self.stop = CancelToken()
        self.not_before = 0.0


_tails: dict[str, _Tail] = {}
_tail_checked: dict[tuple, bool] = {}


def tail_for(store, idx: KeywordIndex, *, build_now: bool = False) -> Optional[KeywordIndex]:
    """The index of the messages added since ``idx`` was built, for ``idx.top(...,
    tail=...)`` — or None (nothing newer, or its tail is still being built).

    Messages newer than the snapshot are otherwise ranked by FTS5, and ``bm25()`` reads
    the whole table's counts for every query word first: 10–25 ms at a million messages
    whether 50 or 20,000 are newer. The tail is built on a background thread (0.6 s for
    20,000 messages) when the first search sees newer messages and again when more
    arrive, at most every ``TAIL_WAIT_S`` (or three times its build time); messages
    newer than the tail are still ranked by FTS5 meanwhile, so nothing is ever missing.
    A tail is not built past ``STALE_SHARE`` of the snapshot (the import and the
    extract job rebuild the snapshot then). ``build_now`` builds it on this thread."""
    key = str(store.path)
    conn = store.conn
    top = conn.execute("select coalesce(max(id), 0) from messages").fetchone()[0]
    with _lock:
        st = _tails.get(key)
        if st is None or st.main is not idx:
            if st is not None:
                st.stop.cancel()
            st = _tails[key] = _Tail(idx)
    if top <= idx.max_id:
        return None
    tail = st.index
    if tail is not None and not _tail_ok(store, tail):
        tail = st.index = None
    if tail is None or tail.max_id < top:
        _start_tail(store, st, build_now)
        if build_now:
            tail = st.index
    return tail


def _tail_ok(store, tail: KeywordIndex) -> bool:
    """``tail`` still holds what the database does: its last message is the same and
    none of its own messages was deleted (ids are reused after the last is deleted)."""
    conn = store.conn
    memo = (str(store.path), id(conn), conn.execute("PRAGMA data_version").fetchone()[0],
            conn.total_changes, id(tail))
    ok = _tail_checked.get(memo)
    if ok is None:
        h = conn.execute("select content_hash from messages where id = ?",
                         [tail.max_id]).fetchone()
        ok = (h is not None and h[0] == tail.last_hash and conn.execute(
            "select count(*) from messages where id > ? and id <= ?",
            [tail.since, tail.max_id]).fetchone()[0] == tail.count)
        if len(_tail_checked) > 64:
            _tail_checked.clear()
        _tail_checked[memo] = ok
    return ok


def _start_tail(store, st: _Tail, now: bool) -> None:
    import time

    main = st.main
    with _lock:
        if st.thread is not None or (not now and time.monotonic() < st.not_before):
            return
        newer = store.conn.execute("select count(*) from messages where id > ?",
                                   [main.max_id]).fetchone()[0]
        if newer > max(STALE_SHARE * main.size, 1000):
            return    # a rebuild's work, not a tail's

        def run() -> None:
            t0 = time.monotonic()
            try:
                tail = build(store, gap_minutes=main.gap_minutes, width=main.width,
                             cancel=st.stop, since=main.max_id)
                if tail.newer:
                    # the older messages the tail ranks are left out of the snapshot
                    old = tail.ids[tail.own & (tail.ids <= main.max_id)]
                    tail.main_own = ~np.isin(main.ids, old) if len(old) else None
                _View(main, tail.main_own, tail, "_main_counts")
                _View(tail, tail.own, tail, "_counts")
                # kept even with no chat message of its own (only system lines are
                # newer): FTS5 is then not asked about them at every search
                st.index = tail
            except Exception as e:  # noqa: BLE001 - FTS5 ranks the newer messages then
                if not st.stop.cancelled:
                    log.warning("keyword index: the newer messages' tail failed (%s); "
                                "search ranks them with SQLite", e)
            finally:
                st.not_before = time.monotonic() + max(TAIL_WAIT_S,
                                                       3 * (time.monotonic() - t0))
                st.thread = None

        if now:
            st.thread = threading.current_thread()
        else:
            st.thread = threading.Thread(target=run, name="secondme-keyword-tail",
                                         daemon=True)
            _at_exit_stop_tails()
            st.thread.start()
            return
    run()


@functools.cache
def _at_exit_stop_tails() -> None:
    import atexit

    def stop() -> None:   # a build is never left running into the interpreter's shutdown
        for st in list(_tails.values()):
            st.stop.cancel()
            t = st.thread
            if t is not None and t is not threading.current_thread():
                t.join(10)

    atexit.register(stop)


def describe(store, gap_minutes: float, width: int = WINDOW_WIDTH) -> dict:
    """The keyword index's state for the doctor: ``health`` ("ok" or what is wrong and
    what happens next), ``newer`` (messages newer than it, ranked with a tail until the
    next rebuild: :func:`tail_for`) and ``stemmer`` (False: PyStemmer is missing, the
    install is broken)."""
    out: dict = {"path": str(index_path(store))}
    try:
        _Terms()
        out["stemmer"] = True
    except ImportError:
        out.update(stemmer=False, health="unavailable: PyStemmer is missing; search ranks "
                                         "keywords with SQLite (reinstall secondme)")
        return out
    if store.conn.execute("select max(id) from messages").fetchone()[0] is None:
        out["health"] = "ok"
        return out
    if not index_path(store).exists():
        out["health"] = ("missing: search ranks keywords with SQLite (slower) until the "
                         "next import or memory formation builds it")
        return out
    idx = load(store)
    if idx is None:
        out["health"] = "unreadable: rebuilt by the next memory formation"
    elif idx.width != width or idx.gap_minutes != float(gap_minutes):
        out["health"] = "built for another session gap: rebuilt by the next memory formation"
    else:
        newer = newer_than(store, idx)
        if newer is None:
            out["health"] = ("out of step with the database: rebuilt by the next memory "
                             "formation; search ranks keywords with SQLite until then")
        else:
            out.update(health="ok", messages=idx.count, newer=newer)
    return out


def refresh(store, gap_minutes: float, *, width: int = WINDOW_WIDTH,
            progress: Optional[ProgressFn] = None,
            cancel: Optional[CancelToken] = None) -> Optional[KeywordIndex]:
    """Bring the saved snapshot up to date: rebuilt when missing, made with other
    settings, holding deleted messages, or when more than ``STALE_SHARE`` of the
    messages are newer than it. Returns the snapshot in force (None: no messages)."""
    return Refresh(store, gap_minutes, width=width, cancel=cancel).finish(progress)


class Refresh:
    """:func:`refresh` in two halves, so the import can build the index on a thread
    while it writes the windows (SQLite releases the GIL while FTS5 tokenizes, the
    build is mostly numpy and regex: at a million messages the two overlap).

    ``Refresh(...)`` decides and starts the build (nothing to do: no thread);
    :meth:`finish` waits for it, saves it and returns the snapshot in force;
    :meth:`abandon` stops it (the file is left as it was)."""

    def __init__(self, store, gap_minutes: float, *, width: int = WINDOW_WIDTH,
                 cancel: Optional[CancelToken] = None, background: bool = False):
        self.store, self.cancel = store, cancel
        self._stop = CancelToken()
        self._result: Optional[KeywordIndex] = None
        self._error: Optional[BaseException] = None
        self._thread: Optional[threading.Thread] = None
        idx = load(store)
        if idx is not None and idx.width == width and idx.gap_minutes == float(gap_minutes):
            newer = newer_than(store, idx)
            if newer is not None and newer <= STALE_SHARE * max(idx.size, 1):
                self._current = idx
                return
        self._current = None
        if idx is not None:
            discard(store)   # its words may be of deleted messages: gone before rebuilding
        self._args = (gap_minutes, width)
        if background:
            self._thread = threading.Thread(target=self._run, name="secondme-keywords",
                                            daemon=True)
            self._thread.start()

    @property
    def needed(self) -> bool:
        return self._current is None

    def _run(self, progress: Optional[ProgressFn] = None) -> None:
        try:
            self._result = build(self.store, gap_minutes=self._args[0], width=self._args[1],
                                 progress=progress, cancel=_Either(self.cancel, self._stop))
        except BaseException as e:  # noqa: BLE001 - handed to finish()
            self._error = e

    def finish(self, progress: Optional[ProgressFn] = None) -> Optional[KeywordIndex]:
        if not self.needed:
            return self._current
        if self._thread is None:
            self._run(progress)
        else:
            report(progress, "indexing keywords", 0, 1)
            self._thread.join()
        if self._error is not None:
            raise self._error
        idx = self._result
        if idx is None or idx.size == 0:
            return None
        save(self.store, idx)
        report(progress, "indexing keywords", 1, 1)
        return idx

    def abandon(self) -> None:
        self._stop.cancel()
        if self._thread is not None:
            self._thread.join()


class _Either:
    """Cancelled when either token is."""

    def __init__(self, a: Optional[CancelToken], b: CancelToken):
        self.tokens = [t for t in (a, b) if t is not None]

    @property
    def cancelled(self) -> bool:
        return any(t.cancelled for t in self.tokens)

    def raise_if_cancelled(self) -> None:
        for t in self.tokens:
            t.raise_if_cancelled()


def rebuild_after_delete(store) -> None:
    """After messages were deleted: the saved snapshot (which holds their words) is
    removed at once, then rebuilt with its own settings from what is left."""
    old = load(store)
    discard(store)
    if old is not None:
        idx = build(store, gap_minutes=old.gap_minutes, width=old.width)
        if idx.size:
            save(store, idx)
