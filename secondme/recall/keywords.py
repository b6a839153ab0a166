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
import json
import logging
import math
import re
import threading
import unicodedata
from array import array
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
        self.vocab: dict[str, int] = vocab if vocab is not None else {}
        self.raw: dict[str, int] = {}

    def norm(self, word: str) -> str:
        if not word.isascii():
            word = "".join(c for c in unicodedata.normalize("NFKD", word)
                           if not unicodedata.combining(c))
        return self._stem(word) if 2 < len(word) <= 64 else word

    def ids(self, words: list[str]) -> list[int]:
        get = self.raw.get
        out = []
        for w in words:
            t = get(w)
            if t is None:
                t = self._new(w)
            out.append(t)
        return out

    def _new(self, word: str) -> int:
        term = self.norm(word)
        t = self.vocab.get(term)
        if t is None:
            t = self.vocab[term] = len(self.vocab)
        self.raw[word] = t
        return t

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

    @property
    def size(self) -> int:
        return len(self.ids)

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

    @functools.cached_property
    def avg_win(self) -> float:
        return float(self.dl_win.mean()) if self.size else 1.0

    @functools.cached_property
    def avg_one(self) -> float:
        return float(self.dl_one.mean()) if self.size else 1.0

    # -- scoring -------------------------------------------------------------------------
    def postings(self, word: str) -> Optional[slice]:
        t = self.terms.lookup(word)
        if t is None or t + 1 >= len(self.offsets):
            return None
        return slice(int(self.offsets[t]), int(self.offsets[t + 1]))

    def top(self, words_: list[str], *, col_own: float, col_ctx: float, col_meta: float,
            limit: int, common: float = 0.0) -> tuple[list[tuple[int, float]],
                                                      list[tuple[int, float]], list[str]]:
        """BM25 top ``limit`` (message id, FTS5-style score: lower is better) of the window
        list and of the single-message list for the OR of ``words_``, and the words used.

        ``common`` > 0 leaves out the words whose windows exceed that share of all
        messages, when rarer words remain (as search did with FTS5: such words cost most
        of the time and barely move BM25)."""
        n = self.size
        if n == 0 or not words_:
            return [], [], []
        mark = np.zeros(n, dtype=bool)
        found = []   # (word, [(positions, weighted counts)] per shift, window hits)
        for w in dict.fromkeys(words_):
            s = self.postings(w)
            if s is None or s.stop <= s.start:
                found.append((w, None, None))
                continue
            found.append((w, *self._window_parts(s, col_own, col_ctx, col_meta, mark)))
        if common > 0 and len(found) > 1:
            nhit = {f[0]: (len(f[2]) if f[2] is not None else 0) for f in found}
            keep = [f for f in found if nhit[f[0]] <= common * n]
            if not keep:
                keep = [min(found, key=lambda f: nhit[f[0]] or n + 1)]
            found = keep
        used = [f[0] for f in found]
        avg_win = self.avg_win or 1.0
        win = np.zeros(n, dtype=np.float32)
        freq = np.zeros(n, dtype=np.float32)
        for _w, parts, hit in found:
            if parts is None:
                continue
            for q, v in parts:      # positions are unique within one shift
                freq[q] += v
            f = freq[hit]
            norm = K1 * (1 - B + B * self.dl_win[hit] / avg_win)
            win[hit] += _idf(n, len(hit)) * (f * (K1 + 1)) / (f + norm)
            freq[hit] = 0.0
            mark[hit] = True
        best_win = self._best(win, mark, limit)
        avg_one = self.avg_one or 1.0
        one = np.zeros(n, dtype=np.float32)
        for w in used:
            s = self.postings(w)
            if s is None:
                continue
            f = self.tt[s] + np.float32(0.5) * self.tsp[s]
            m = f > 0
            p, f = self.pos[s][m], f[m]
            if len(p):
                norm = K1 * (1 - B + B * self.dl_one[p] / avg_one)
                one[p] += _idf(n, len(p)) * (f * (K1 + 1)) / (f + norm)
                mark[p] = True
        return best_win, self._best(one, mark, limit), used

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
        for q, _ in parts:
            mark[q] = True
        hit = np.flatnonzero(mark)
        mark[hit] = False
        return parts, hit

    def _best(self, scores: np.ndarray, mark: np.ndarray, limit: int) -> list[tuple[int, float]]:
        """The ``limit`` best marked positions as (message id, -score); clears ``mark``."""
        cand = np.flatnonzero(mark)
        if not len(cand):
            return []
        mark[cand] = False
        sc = scores[cand]
        if len(cand) > limit:
            part = np.argpartition(-sc, limit - 1)[:limit]
            cand, sc = cand[part], sc[part]
        ids = self.ids[cand]
        order = np.lexsort((ids, -sc))
        return list(zip(ids[order].tolist(), (-sc[order]).astype(float).tolist()))


def _idf(n: int, nhit: int) -> float:
    idf = math.log((n - nhit + 0.5) / (nhit + 0.5))
    return idf if idf > 0 else 1e-6


# -- building ------------------------------------------------------------------------------
_REPORT_EVERY = 50_000


def build(store, *, gap_minutes: float, width: int = WINDOW_WIDTH,
          progress: Optional[ProgressFn] = None,
          cancel: Optional[CancelToken] = None) -> KeywordIndex:
    """The snapshot of every message now in ``store`` (one read transaction, on a
    connection of its own so it sees one consistent state)."""
    conn = store.connect_file(store.path)
    try:
        conn.execute("begin")
        return _build(conn, gap_minutes, width, progress, cancel)
    finally:
        conn.close()


def _build(conn, gap_minutes: float, width: int, progress: Optional[ProgressFn],
           cancel: Optional[CancelToken]) -> KeywordIndex:
    max_id, count = conn.execute("select coalesce(max(id), 0), count(*) from messages").fetchone()
    last = conn.execute("select content_hash from messages where id = ?", [max_id]).fetchone()
    total = conn.execute("select count(*) from messages where kind = 'message'").fetchone()[0]
    fmts = dict(conn.execute("select id, format from conversations").fetchall())
    gap = gap_minutes * 60
    terms = _Terms()
    toks = array("i")
    counts = array("i")      # per message: text, speaker, date, quoted-text token counts
    ids = array("q")
    sess = array("i")
    speakers: dict[str, list[int]] = {}
    days: dict[int, list[int]] = {}
    s, conv, prev, chat = -1, None, None, False
    report(progress, "indexing keywords", 0, total)
    rows = conn.execute("select id, conversation_id, speaker, text, ts from messages "
                        "where kind = 'message' order by conversation_id, position, id")
    for p, (mid, cid, speaker, text, ts) in enumerate(rows):
        if cid != conv:
            conv, prev, s = cid, None, s + 1
            chat = fmts.get(cid) == CHAT_FORMAT
        elif chat or (ts is not None and prev is not None and ts - prev > gap):
            s += 1
        if ts is not None:
            prev = ts
        ids.append(mid)
        sess.append(s)
        ti = terms.ids(_TOKEN.findall(text.lower()))
        sp = speakers.get(speaker)
        if sp is None:
            sp = speakers[speaker] = terms.ids(words(speaker))
        if ts is None:
            dw: list[int] = []
        else:
            day = int(ts // 86400)
            dw = days.get(day)
            if dw is None:
                dw = days[day] = terms.ids(words(date_words(ts)))
        toks.extend(ti)
        toks.extend(sp)
        toks.extend(dw)
        if len(text) > NEIGHBOUR_CHARS:   # a neighbour's window quotes only its start
            qi = terms.ids(_TOKEN.findall(text[:NEIGHBOUR_CHARS].lower()))
            toks.extend(qi)
            counts.extend((len(ti), len(sp), len(dw), len(qi)))
        else:
            counts.extend((len(ti), len(sp), len(dw), -1))
        if p % _REPORT_EVERY == _REPORT_EVERY - 1:
            check(cancel)
            report(progress, "indexing keywords", p + 1, total)
    n = len(ids)
    c = np.frombuffer(counts, dtype=np.int32).reshape(n, 4) if n else np.zeros((0, 4), np.int32)
    short = c[:, 3] < 0
    c_tok = c.copy()
    c_tok[short, 3] = 0
    ctx_len = c[:, 1] + np.where(short, c[:, 0], c[:, 3])
    dl_one = (c[:, 0] + c[:, 1]).astype(np.float32)
    dl_win = dl_one + (c[:, 2] + c[:, 1])
    sess_a = np.frombuffer(sess, dtype=np.int32).copy() if n else np.zeros(0, np.int32)
    for d in range(1, width + 1):
        same = sess_a[d:] == sess_a[:-d]
        dl_win[d:] += np.where(same, ctx_len[:-d], 0)
        dl_win[:-d] += np.where(same, ctx_len[d:], 0)
    check(cancel)
    t = np.frombuffer(toks, dtype=np.int32) if len(toks) else np.zeros(0, np.int32)
    per = c_tok.ravel()
    pos = np.repeat(np.repeat(np.arange(n, dtype=np.int64), 4), per)
    kind = np.repeat(np.tile(np.arange(4, dtype=np.int8), n), per)
    key, inv = np.unique(t.astype(np.int64) * max(n, 1) + pos, return_inverse=True)
    inv = inv.ravel()
    tf = [np.minimum(np.bincount(inv[kind == k], minlength=len(key)), 255).astype(np.uint8)
          for k in range(4)]
    # a short message is quoted whole: its quoted count is its text count
    term = (key // max(n, 1)).astype(np.int64)
    ppos = (key % max(n, 1)).astype(np.int32)
    tctx = tf[1] + np.where(short[ppos], tf[0], tf[3])
    v = len(terms.vocab)
    offsets = np.zeros(v + 1, dtype=np.int64)
    np.cumsum(np.bincount(term, minlength=v), out=offsets[1:])
    report(progress, "indexing keywords", n, total)
    return KeywordIndex(
        max_id=int(max_id), count=int(count), last_hash=last[0] if last else "",
        width=width, gap_minutes=float(gap_minutes), terms=terms, offsets=offsets, pos=ppos,
        tt=tf[0], tsp=tf[1], tdate=tf[2], tctx=np.minimum(tctx, 255).astype(np.uint8),
        ids=np.frombuffer(ids, dtype=np.int64).copy() if n else np.zeros(0, np.int64),
        sess=sess_a, dl_win=dl_win.astype(np.float32), dl_one=dl_one)


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
        data = (store.file_cipher.read_file(path, "keyword index")
                if store.file_cipher is not None else path.read_bytes())
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            meta = json.loads(z["meta"].tobytes().decode())
            if meta.get("format") != FORMAT:
                return None
            text = z["vocab"].tobytes().decode("utf-8")
            vocab = {w: i for i, w in enumerate(text.split("\n"))} if text else {}
            arrays = {a: z[a] for a in _ARRAYS}
        return KeywordIndex(max_id=int(meta["max_id"]), count=int(meta["count"]),
                            last_hash=meta["last_hash"], width=int(meta["width"]),
                            gap_minutes=float(meta["gap_minutes"]), terms=_Terms(vocab),
                            **arrays)
    except Exception as e:  # noqa: BLE001 - a damaged file is rebuilt, never fatal
        log.warning("keyword index %s unreadable (%s); search uses SQLite until it is "
                    "rebuilt", path, e)
        return None


def discard(store) -> None:
    """Remove the saved snapshot (after a delete: it holds the removed words)."""
    _loaded.pop(str(store.path), None)
    try:
        index_path(store).unlink()
    except FileNotFoundError:
        pass


# -- using it ------------------------------------------------------------------------------
_loaded: dict[str, tuple[tuple, Optional[KeywordIndex]]] = {}
_checked: dict[tuple, Optional[int]] = {}
_lock = threading.Lock()


def newer_than(store, idx: KeywordIndex) -> Optional[int]:
    """How many messages were added since ``idx`` was built, or None when messages it
    holds were deleted since (then it must not be used)."""
    conn = store.conn
    row = conn.execute("select coalesce(max(id), 0), count(*) from messages").fetchone()
    if row[0] < idx.max_id:
        return None
    newer = conn.execute("select count(*) from messages where id > ?", [idx.max_id]).fetchone()[0]
    if row[1] - newer != idx.count:
        return None
    h = conn.execute("select content_hash from messages where id = ?", [idx.max_id]).fetchone()
    if (h[0] if h else "") != idx.last_hash:
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
        _checked[memo] = newer_than(store, idx)
    return idx if _checked[memo] is not None else None


def refresh(store, gap_minutes: float, *, width: int = WINDOW_WIDTH,
            progress: Optional[ProgressFn] = None,
            cancel: Optional[CancelToken] = None) -> Optional[KeywordIndex]:
    """Bring the saved snapshot up to date: rebuilt when missing, made with other
    settings, holding deleted messages, or when more than ``STALE_SHARE`` of the
    messages are newer than it. Returns the snapshot in force (None: no messages)."""
    idx = load(store)
    if idx is not None and idx.width == width and idx.gap_minutes == float(gap_minutes):
        newer = newer_than(store, idx)
        if newer is not None and newer <= STALE_SHARE * max(idx.size, 1):
            return idx
    if idx is not None:
        discard(store)    # its words may be of deleted messages: gone before rebuilding
    idx = build(store, gap_minutes=gap_minutes, width=width, progress=progress, cancel=cancel)
    if idx.size == 0:
        return None
    save(store, idx)
    return idx


def rebuild_after_delete(store) -> None:
    """After messages were deleted: the saved snapshot (which holds their words) is
    removed at once, then rebuilt with its own settings from what is left."""
    old = load(store)
    discard(store)
    if old is not None:
        idx = build(store, gap_minutes=old.gap_minutes, width=old.width)
        if idx.size:
            save(store, idx)
