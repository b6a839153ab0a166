"""The ``extract`` job: form memories from everything imported and not formed yet.

``MemoryOps.run_extract`` (the job's work):

1. embeds new messages and chunks (``index_pending``);
2. :func:`form_memories` plans session windows over unformed messages/chunks (:mod:`.windows`);
3. per window — honouring ``cancel`` between windows, reporting progress after each —
   extracts facts (the LLM extractor when the model is capable, else the deterministic one),
   enriches them (keywords, tags, a one-line context, entities), embeds them, finds each
   fact's most similar notes (FTS + vector neighbours), decides add / merge / refine /
   invalidate (:mod:`.reconcile`), links the new notes and marks the window's items as
   formed — all of the window's writes in ONE short transaction, so a crash or quit
   loses no work and repeats none. Model calls happen before that transaction. Every
   note, source, mention and link is written through :mod:`.notes`;
4. embeds whatever is still missing and saves the vector index.

It runs to completion in the foreground (``secondme jobs run extract``) or under the
scheduler; it raises Cancelled when cancelled and lets other failures propagate.
"""
from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Optional

import numpy as np

from ..api import Settings
from ..errors import Cancelled, ModelError
from ..hooks import Hooks
from ..indexing import note_text, stored_vectors, write_vectors
from ..models.embed import Embedder, content_hash
from ..progress import CancelToken, ProgressFn, check, report
from ..store.db import Store
from ..store.vectors import VectorIndex, drop_vector_items
from . import notes as N
from .deterministic import DeterministicExtractor
from .entities import EntityResolver
from .facts import ExtractResult, Fact, Window, WindowItem
from .llm_extract import LLMExtractor
from .quarantine import clear_formed, quarantine
from .reconcile import Candidate, Decision, decide, llm_decide
from .text import content_tokens, norm_name, token_f1, topic_tags
from .text import keywords as pick_keywords
from .timeparse import local_date
from .windows import load_window, plan_windows

log = logging.getLogger(__name__)

RELATED_SIM = 0.6          # cosine similarity above which neighbours get a `related` link
CANDIDATES = 10            # neighbours considered per fact (FTS and vector each)
PREFETCH_CELLS = 8_000_000  # facts × notes similarities held at once by NoteMatrix.prefetch
MATRIX_BLOCK = 16_384        # note vectors made float32 at a time (6 MB of 384-d)
MAX_AUTO_LINKS = 8         # per new note
ENTITY_LINKS = 4           # notes linked per shared entity
GROUP_WINDOWS = 16         # windows extracted together so their facts embed in one batch
# Postings a fact's word query may read (see NoteWords). At 51k notes the unbounded query
# took 24 ms a fact in a formation run — 58% of its time, growing with the store (1M messages).
WORD_POSTINGS = 3000


def choose_extractor(load_llm: Callable[[], Any],
                     llm_source: str) -> DeterministicExtractor | LLMExtractor:
    """The LLM extractor when the configured model (``load_llm()``) is capable, else the
    deterministic one.

    The default embedded model (``llm_source == "default"``) is never capable; if even
    describing it fails, the deterministic extractor is used. A configured model that
    cannot be created raises.
    """
    try:
        llm = load_llm()
    except ModelError:
        if llm_source == "default":
            return DeterministicExtractor()
        raise
    if llm.capable:
        return LLMExtractor(llm)
    return DeterministicExtractor()


@dataclass
class _Pending:
    """A fact on its way into the store."""

    fact: Fact
    keywords: str
    tags: str
    context: str
    vector_text: str
    vector: Optional[np.ndarray] = None
    candidates: list[Candidate] = field(default_factory=list)
    neighbours: list[tuple[int, float]] = field(default_factory=list)
    prefetched: Optional[tuple] = None   # (matrix, its nearest rows then): NoteMatrix.prefetch
    decision: Optional[Decision] = None
    note_id: Optional[int] = None


class NoteMatrix:
    """Every note vector in memory, searched exactly with matrix products.

    Reconciliation asks for the nearest *notes* only; in a store of many messages and few
    notes a filtered HNSW search visits most of the graph (measured ~125 ms per query
    with 200 notes among 50,000 items), while this costs ~N·dim flops (a few ms for
    40,000 notes). Vectors are L2-normalised, so the dot product is the cosine.

    Held as float16 (half the memory: ~95 MB instead of ~190 MB for the ~125k notes of
    1M messages, in a worker that must stay well inside 2 GB beside the app) and turned
    into float32 a block of :data:`MATRIX_BLOCK` rows at a time for the products (numpy
    has no fast float16 product); a similarity moves by at most ~1e-3.
    """

    def __init__(self, conn, model_id: str, dim: int):
        self.dim = dim
        self.ids: list[int] = []
        self.rows: dict[int, int] = {}
        self.mat = np.zeros((1024, dim), dtype=np.float16)
        self._mark = 0                # rows there were at the last prefetch
        self._touched: set[int] = set()   # rows changed or removed since
        for nid, blob in conn.execute(
                "select v.item_id, e.vector from vector_items v join embeddings e on "
                "e.content_hash = v.content_hash and e.model_id = ? join notes n on "
                f"n.id = v.item_id where v.kind = 'note' and not {N.MERGED_AWAY_SQL}",
                [model_id]):
            vec = np.frombuffer(blob, dtype="<f4")
            if vec.shape[0] == dim:
                self.add(nid, vec)

    def add(self, note_id: int, vec: np.ndarray) -> None:
        if note_id in self.rows:
            self.mat[self.rows[note_id]] = vec
            self._touched.add(self.rows[note_id])
            return
        n = len(self.ids)
        if n >= self.mat.shape[0]:
            # by a quarter, not double: the old and the new matrix coexist while copying
            # (at 130k notes, doubling held 600 MB for a moment to store 200 MB)
            grown = np.zeros((n + n // 4 + 1024, self.dim), dtype=self.mat.dtype)
            grown[:n] = self.mat[:n]
            self.mat = grown
        self.mat[n] = vec
        self.rows[note_id] = n
        self.ids.append(note_id)

    def remove(self, note_id: int) -> None:
        row = self.rows.pop(note_id, None)
        if row is not None:
            self.mat[row] = 0.0
            self.ids[row] = -1
            self._touched.add(row)

    def _blocks(self, n: int):
        """(first row, float32 copy of rows first…first+MATRIX_BLOCK) up to row ``n``."""
        for b in range(0, n, MATRIX_BLOCK):
            yield b, self.mat[b:min(n, b + MATRIX_BLOCK)].astype(np.float32)

    def search(self, vec: np.ndarray, k: int) -> list[tuple[int, float]]:
        n = len(self.ids)
        if n == 0 or vec is None:
            return []
        vec = np.asarray(vec, dtype=np.float32)
        sims = np.empty(n, dtype=np.float32)
        for b, block in self._blocks(n):
            sims[b:b + len(block)] = block @ vec
        k = min(k, n)
        top = np.argpartition(-sims, k - 1)[:k]
        top = top[np.argsort(-sims[top])]
        return [(self.ids[i], float(sims[i])) for i in top if self.ids[i] != -1]

    def prefetch(self, vecs: np.ndarray, k: int) -> list[list[tuple[int, float]]]:
        """The ``k`` nearest rows (row, similarity) of each of ``vecs``, in one matrix
        product. Searching note by note reads the whole matrix once per fact (at 1M
        messages, ~100k notes: 4.4 ms a fact, the largest cost of formation once the word
        query was bounded); a group of windows reads it once. :meth:`search_after` then
        adds what changed since, so the answer is the same as :meth:`search`'s."""
        n = len(self.ids)
        self._mark, self._touched = n, set()
        if n == 0 or len(vecs) == 0:
            return [[] for _ in range(len(vecs))]
        vecs = np.asarray(vecs, dtype=np.float32)
        k = min(2 * k, n)     # slack for rows changed before the fact's turn comes
        # Each block of rows is made float32 once and compared with every fact; a fact's
        # best rows of each block are kept, then the best of those. The similarities
        # (float32) and argpartition's indices (int64) are (facts, rows of a block) at
        # most :data:`PREFETCH_CELLS`: unbounded, 800 facts against 124k notes held
        # 1,514 MB for a moment (bench_memory_prefetch.py).
        step = max(k, min(MATRIX_BLOCK, PREFETCH_CELLS // len(vecs)))
        rows_kept, sims_kept = [], []
        for b in range(0, n, step):
            block = self.mat[b:min(n, b + step)].astype(np.float32)
            sims = vecs @ block.T
            np.negative(sims, out=sims)
            kb = min(k, len(block))
            top = np.argpartition(sims, kb - 1, axis=1)[:, :kb]
            sims_kept.append(np.take_along_axis(sims, top, axis=1))
            rows_kept.append(top + b)
            del sims, block
        rows = np.hstack(rows_kept)
        sims = np.hstack(sims_kept)
        top = np.argpartition(sims, k - 1, axis=1)[:, :k]
        rows = np.take_along_axis(rows, top, axis=1)
        best = np.take_along_axis(sims, top, axis=1)
        return [list(zip(r, (-s).tolist())) for r, s in zip(rows.tolist(), best)]

    def search_after(self, pre: list[tuple[int, float]], vec: np.ndarray,
                     k: int) -> list[tuple[int, float]]:
        """:meth:`search`, from a :meth:`prefetch` answer and the rows added or changed
        since."""
        fresh = self._touched | set(range(self._mark, len(self.ids)))
        best = {r: s for r, s in pre if r not in fresh}
        if fresh:
            rows = np.fromiter(fresh, dtype=np.int64, count=len(fresh))
            best.update(zip(rows.tolist(), (self.mat[rows].astype(np.float32)
                                            @ np.asarray(vec, dtype=np.float32)).tolist()))
        top = sorted(best.items(), key=lambda rs: -rs[1])
        return [(self.ids[r], float(s)) for r, s in top if self.ids[r] != -1][:k]


class NoteWords:
    """A fact's notes that share its rarer words, at a bounded cost (the word half of
    reconciliation's candidates; NoteMatrix is the meaning half).

    ``order by rank`` makes FTS5 score every note matching any word of the query, so with
    a common word ("number", a friend's name) the cost grows with the store. Words are
    taken rarest first while their notes add up to at most :data:`WORD_POSTINGS`; when
    even the rarest is commoner than that, notes with all of the (up to) three rarest.
    Only the ``text`` column is searched: every note's context names the chat's people
    and month, which matched nearly everything and said nothing about the fact.
    How many notes have a word is counted by FTS5 once per run and kept up to date here.
    """

    def __init__(self, conn):
        self.conn = conn
        self.df: dict[str, int] = {}

    @staticmethod
    def _words(text: str) -> list[str]:
        return list(dict.fromkeys(t.replace('"', "") for t in content_tokens(text)
                                  if t.replace('"', "")))

    def _count(self, word: str) -> int:
        n = self.df.get(word)
        if n is None:
            try:
                n = self.conn.execute("select count(*) from notes_fts where notes_fts match ?",
                                      [f'text : "{word}"']).fetchone()[0]
            except Exception as e:  # an odd token must never stop formation
                log.info("FTS count failed for %r: %s", word, e)
                n = WORD_POSTINGS + 1
            self.df[word] = n
        return n

    def query(self, text: str) -> Optional[str]:
        """The FTS5 query for ``text``, or None (no word to search by)."""
        words = sorted(self._words(text), key=self._count)
        words = [w for w in words if self.df[w] > 0][:8]
        if not words:
            return None
        keep, total = [], 0
        for w in words:
            if total + self.df[w] > WORD_POSTINGS and keep:
                break
            keep.append(w)
            total += self.df[w]
        if total > WORD_POSTINGS:
            return "text : (" + " AND ".join(f'"{w}"' for w in words[:3]) + ")"
        return "text : (" + " OR ".join(f'"{w}"' for w in keep) + ")"

    def search(self, text: str, k: int) -> list[int]:
        q = self.query(text)
        if q is None:
            return []
        try:
            return [r[0] for r in self.conn.execute(
                "select rowid from notes_fts where notes_fts match ? order by rank limit ?",
                [q, k])]
        except Exception as e:  # an odd token must never stop formation
            log.info("FTS candidate query failed: %s", e)
            return []

    def added(self, text: str) -> None:
        """A note with ``text`` was written: its words are that much commoner."""
        for w in self._words(text):
            if w in self.df:
                self.df[w] += 1


class Former:
    """Applies extracted facts to the store. One per run; not thread-safe."""

    def __init__(self, store: Store, embedder: Embedder, vindex: VectorIndex, *,
                 me_name: str = "", me_aliases: Iterable[str] = (), llm: Any = None):
        self.store = store
        self.conn = store.conn
        self.me_names = [n for n in [me_name, *me_aliases] if n]
        self.me_names += [r[0] for r in self.conn.execute(
            "select distinct speaker from messages where is_me = 1 and speaker != ''")
            if r[0].strip().lower() not in ("user", "you", "me", "")]
        self.llm = llm if llm is not None and llm.capable else None
        self.embedder = embedder
        self.vindex = vindex
        self.notes_matrix = NoteMatrix(self.conn, self.embedder.model_id, self.embedder.dim)
        self.words = NoteWords(self.conn)
        with self.store.write() as db:
            self.resolver = EntityResolver(db.conn, me_names=self.me_names, llm=self.llm)
        self.stats = Counter()
        self.changed: list[int] = []

    # -- enrichment ------------------------------------------------------------------
    def _context(self, window: Window, fact: Fact) -> str:
        if window.kind == "message":
            who = [p for p in window.participants if p][:4]
            people = " and ".join([", ".join(who[:-1]), who[-1]] if len(who) > 1 else who)
            day = None
            by_id = {it.id: it for it in window.items}
            src = by_id.get(fact.sources[0])
            if src is not None and src.timestamp:
                d = local_date(src.timestamp)
                day = f"{d.day} {d.strftime('%B')} {d.year}" if d else None
            bits = [f"Chat between {people}" if people else "Chat"]
            if window.title:
                bits.append(f'"{window.title}"')
            if day:
                bits.append(day)
            return ", ".join(bits)
        by_id = {it.id: it for it in window.items}
        src = by_id.get(fact.sources[0])
        where = f'From "{window.title}"' if window.title else "From a document"
        if src is not None and src.heading:
            where += f" › {src.heading}"
        if src is not None and src.page:
            where += f", page {src.page}"
        return where

    def enrich(self, window: Window, facts: list[Fact], *, embed: bool = True) -> list[_Pending]:
        """Keywords (rarest first), tags (type + topics), context; the fact's text
        (:func:`note_text`) embedded in one batch unless ``embed`` is False (the caller
        then batches several windows: :meth:`embed`)."""
        docs = [set(content_tokens(it.text)) for it in window.items]
        df = Counter(t for d in docs for t in d)
        out = []
        for f in facts:
            ents = [n for n, _k in f.entities if norm_name(n) not in
                    {norm_name(m) for m in self.me_names}]
            kw = pick_keywords(f.text, 6, doc_freq=df, n_docs=len(docs),
                               extra=[e.lstrip("@") for e in ents[:3]])
            tags = [f.fact_type] if f.fact_type and f.fact_type != "other" else []
            tags += [t for t in topic_tags(f.text) if t not in tags]
            ctx = self._context(window, f)
            kws = " ".join(kw)
            out.append(_Pending(fact=f, keywords=kws, tags=" ".join(tags), context=ctx,
                                vector_text=note_text(f.text, kws, ctx)))
        if embed:
            self.embed(out)
        return out

    def embed(self, pending: list[_Pending]) -> None:
        """Embed the texts of ``pending``'s vectors in one model call: identical texts
        once, and a text this model embedded before (a fact said again) not at all."""
        todo = [p for p in pending if p.vector is None]
        if not todo:
            return
        hashes = {t: content_hash(t) for t in dict.fromkeys(p.vector_text for p in todo)}
        known = stored_vectors(self.conn, self.embedder.model_id, list(hashes.values()))
        vecs = {t: known[h] for t, h in hashes.items() if h in known}
        new = [t for t in hashes if t not in vecs]
        if new:
            vecs.update(zip(new, self.embedder.embed(new)))
        self.stats["vectors_reused"] += len(hashes) - len(new)
        self.stats["vectors_embedded"] += len(new)
        for p in todo:
            p.vector = np.asarray(vecs[p.vector_text], dtype=np.float32)

    def prepare(self, window: Window, result: ExtractResult) -> list[_Pending]:
        """Deduplicate and enrich a window's facts, without embedding them yet."""
        return self.enrich(window, self._dedupe_within(result.facts), embed=False)

    # -- candidates ------------------------------------------------------------------
    def _fts(self, text: str) -> list[int]:
        return self.words.search(text, CANDIDATES)

    def _vector(self, vec: np.ndarray, prefetched: Optional[tuple] = None
                ) -> list[tuple[int, float]]:
        if prefetched is not None and prefetched[0] is self.notes_matrix:
            return self.notes_matrix.search_after(prefetched[1], vec, CANDIDATES)
        return self.notes_matrix.search(vec, CANDIDATES)

    def prefetch(self, pending: list[_Pending]) -> None:
        """Find the nearest notes of all of ``pending`` (embedded) at once (see
        :meth:`NoteMatrix.prefetch`); each fact's turn adds the notes made before it."""
        todo = [p for p in pending if p.vector is not None]
        if not todo:
            return
        hits = self.notes_matrix.prefetch(np.vstack([p.vector for p in todo]), CANDIDATES)
        for p, h in zip(todo, hits):
            p.prefetched = (self.notes_matrix, h)

    def _load_candidates(self, ids: list[int], sims: dict[int, float]) -> list[Candidate]:
        if not ids:
            return []
        q = ",".join("?" * len(ids))
        rows = self.conn.execute(
            f"select n.id, n.text, n.valid_from, n.valid_to, n.user_edited, n.kind, "
            f"s.subject, s.attribute, s.value from notes n left join note_slots s on "
            f"s.note_id = n.id where n.id in ({q}) and not {N.MERGED_AWAY_SQL}",
            ids).fetchall()
        by = {r[0]: r for r in rows}
        out = []
        for i in ids:
            r = by.get(i)
            if r is None:
                continue
            out.append(Candidate(note_id=r[0], text=r[1], valid_from=r[2], valid_to=r[3],
                                 user_edited=bool(r[4]), kind=r[5],
                                 slot=(r[6], r[7], r[8]) if r[6] else None,
                                 similarity=sims.get(i, 0.0)))
        return out

    def candidates(self, p: _Pending) -> None:
        vec_hits = self._vector(p.vector, p.prefetched)
        p.neighbours = vec_hits
        sims = dict(vec_hits)
        ids = list(dict.fromkeys([i for i, _s in vec_hits] + self._fts(p.fact.text)))
        p.candidates = self._load_candidates(ids, sims)
        p.candidates.sort(key=lambda c: (-max(c.similarity, token_f1(p.fact.text, c.text))))

    def _slot_candidates(self, conn, fact: Fact) -> list[Candidate]:
        if not fact.slot:
            return []
        ids = [r[0] for r in conn.execute(
            "select s.note_id from note_slots s join notes n on n.id = s.note_id where "
            "s.subject = ? and s.attribute = ? and n.valid_to is null", list(fact.slot[:2]))]
        return self._load_candidates(ids, {})

    # -- one window --------------------------------------------------------------------
    def form(self, window: Window, result: ExtractResult, extractor_name: str,
             pending: Optional[list[_Pending]] = None) -> dict:
        """Apply ``result`` for ``window`` in one transaction (``pending`` = its facts
        already prepared/embedded). Returns the window's counts."""
        if pending is None:
            pending = self.prepare(window, result)
        self.embed(pending)
        facts = [p.fact for p in pending]
        for p in pending:
            self.candidates(p)
            if self.llm is not None and p.candidates:
                p.decision = llm_decide(self.llm, p.fact, p.candidates)
        # model calls happen here, before the window's transaction, never inside it
        self.resolver.ask_model_first([e for p in pending for e in p.fact.entities])
        counts = Counter(facts=len(facts), rejected=len(result.rejected))
        new_vectors: list[tuple[int, str, np.ndarray]] = []
        with self.store.write() as db:
            conn = db.conn
            for it in window.items:
                if it.kind == "message" and it.is_me and it.speaker and \
                        it.speaker.strip().lower() not in ("user", "you", "me"):
                    self.resolver.add_me_alias(it.speaker)
            for p in pending:
                self._apply(conn, window, p, counts, new_vectors)
            self._link_window(conn, window, pending, counts)
            wid = conn.execute(
                "insert into formation_windows (conversation_id, document_id, first_item_id, "
                "last_item_id, items, content_hash, extractor, facts, rejected, formed_at) "
                "values (?,?,?,?,?,?,?,?,?,?)",
                [window.conversation_id, window.document_id, window.items[0].id,
                 window.items[-1].id, len(window.items),
                 content_hash("\n".join(f"{it.id}:{it.text}" for it in window.items)),
                 extractor_name, len(facts), len(result.rejected), N.now_iso()]).lastrowid
            conn.executemany("insert or ignore into formed_items (item_kind, item_id, window_id) "
                             "values (?,?,?)", [(it.kind, it.id, wid) for it in window.items])
            clear_formed(conn, window)
            if window.conversation_id is not None and result.summary:
                conn.execute("insert or replace into formation_state (conversation_id, summary, "
                              "updated_at) values (?,?,?)",
                              [window.conversation_id, result.summary, N.now_iso()])
            labels, stale = self._store_vectors(conn, new_vectors)
        for nid, _h, vec in new_vectors:
            self.notes_matrix.add(nid, vec)
        try:
            if stale:
                self.vindex.remove(stale)
            if labels:
                self.vindex.add([lab for lab, _ in labels], np.vstack([v for _, v in labels]))
        except Exception as e:  # noqa: BLE001 — the window is in; the index is rebuilt
            # from vector_items when it is found out of step (never a lost window)
            log.warning("formation: the vector index could not take new notes: %s", e)
        self.stats.update(counts)
        return dict(counts)

    def recover(self) -> None:
        """After a window failed (its transaction rolled back): forget what this run
        cached from it — entities created in the rolled-back transaction, note vectors."""
        with self.store.write() as db:
            self.resolver = EntityResolver(db.conn, me_names=self.me_names, llm=self.llm)
        self.notes_matrix = NoteMatrix(self.conn, self.embedder.model_id, self.embedder.dim)
        self.words = NoteWords(self.conn)

    def _dedupe_within(self, facts: list[Fact]) -> list[Fact]:
        out: list[Fact] = []
        for f in facts:
            for g in out:
                if decide(f, [Candidate(note_id=0, text=g.text)]).action == "merge":
                    g.sources = list(dict.fromkeys(g.sources + f.sources))
                    break
            else:
                out.append(f)
        return out

    def _entity_ids(self, fact: Fact) -> list[int]:
        ids = []
        me = {norm_name(n) for n in self.me_names}
        for name, kind in fact.entities:
            if norm_name(name) in me and self.resolver.me_id is not None:
                ids.append(self.resolver.me_id)
                continue
            try:
                ids.append(self.resolver.resolve(name, kind))
            except ValueError:
                continue
        if fact.subject == "I" and self.resolver.me_id is not None:
            ids.append(self.resolver.me_id)
        return list(dict.fromkeys(ids))

    def _apply(self, conn, window: Window, p: _Pending, counts: Counter,
               new_vectors: list) -> None:
        f = p.fact
        kind = window.kind
        sources = [(kind, s) for s in f.sources]
        cands = list(p.candidates)
        have = {c.note_id for c in cands}
        cands += [c for c in self._slot_candidates(conn, f) if c.note_id not in have]
        # a target may have been deleted or changed since the candidates were read
        live = {r[0] for r in conn.execute(
            f"select id from notes where id in ({','.join('?' * len(cands))})",
            [c.note_id for c in cands])} if cands else set()
        cands = [c for c in cands if c.note_id in live]
        d = p.decision
        if d is None or (d.target is not None and d.target not in live):
            d = decide(f, cands)
        p.decision = d
        ent_ids = self._entity_ids(f)
        if d.action == "merge":
            row = N.note_row(conn, d.target)
            changes = {"strength": row["strength"] + 1}
            if not row["valid_from"] and f.valid_from:
                changes["valid_from"] = f.valid_from
            N.update_note(conn, d.target, "reinforce", sources=sources, **changes)
            N.add_mentions(conn, d.target, ent_ids)
            counts["merged"] += 1
            self.changed.append(d.target)
            return
        if d.action == "refine":
            row = N.note_row(conn, d.target)
            N.update_note(conn, d.target, "version", sources=sources,
                          slot=f.slot if f.slot else "keep", text=f.text,
                          keywords=p.keywords, tags=p.tags, context=p.context,
                          fact_type=f.fact_type or row["fact_type"],
                          version=row["version"] + 1, strength=row["strength"] + 1,
                          valid_from=row["valid_from"] or f.valid_from)
            N.add_mentions(conn, d.target, ent_ids)
            self._forget_vector(conn, d.target)
            new_vectors.append((d.target, content_hash(p.vector_text), p.vector))
            self.words.added(f.text)
            counts["refined"] += 1
            self.changed.append(d.target)
            return
        if d.action == "skip":
            counts["skipped"] += 1
            return
        valid_to = None
        older = None
        if d.action == "invalidate":
            older = N.note_row(conn, d.target)
            if older and older["valid_from"] and f.valid_from and \
                    f.valid_from < older["valid_from"]:
                valid_to = older["valid_from"]   # the new fact is the older truth
        nid = N.insert_note(conn, text=f.text, sources=sources, kind="fact",
                            fact_type=f.fact_type, keywords=p.keywords, tags=p.tags,
                            context=p.context, valid_from=f.valid_from, valid_to=valid_to,
                            origin="extract", confidence=f.confidence, slot=f.slot,
                            entity_ids=ent_ids)
        p.note_id = nid
        new_vectors.append((nid, content_hash(p.vector_text), p.vector))
        self.words.added(f.text)
        counts["added"] += 1
        self.changed.append(nid)
        if d.action == "invalidate" and older:
            if valid_to is not None:
                newer_id, older_id = older["id"], nid
                link_kind = "updates"
                N.add_link(conn, newer_id, older_id, link_kind, 1.0, "auto")
            else:
                newer_id, older_id = nid, older["id"]
                same_time = (older["valid_from"] or "") >= (f.valid_from or "")
                link_kind = "contradicts" if same_time and older["valid_from"] else "updates"
                N.add_link(conn, newer_id, older_id, link_kind, 1.0, "auto")
                N.update_note(conn, older_id, "invalidate", actor="system",
                              valid_to=f.valid_from or N.now_iso()[:10],
                              detail={"links_added": [[newer_id, older_id, link_kind]],
                                      "by_note": nid})
                self.changed.append(older_id)
            counts["invalidated"] += 1
            counts["links"] += 1

    def _forget_vector(self, conn, note_id: int) -> None:
        labels = drop_vector_items(conn, "note", [note_id])
        if labels:
            self.vindex.remove(labels)
        self.notes_matrix.remove(note_id)

    def _store_vectors(self, conn, new_vectors: list
                       ) -> tuple[list[tuple[int, np.ndarray]], list[int]]:
        """Write embeddings + vector_items for new/changed notes (same transaction),
        through the index's one writer; a note changed twice in a window, or embedded by
        the indexing job meanwhile, gets exactly one current vector. Returns the labels
        to add and those to drop once the transaction is in."""
        return write_vectors(conn, self.embedder.model_id, "note", new_vectors, replace=True)

    # -- links -------------------------------------------------------------------------
    def _link_window(self, conn, window: Window, pending: list[_Pending], counts: Counter) -> None:
        pos = {it.id: i for i, it in enumerate(window.items)}
        added = [p for p in pending if p.note_id is not None]
        me_id = self.resolver.me_id
        for p in added:
            made = 0
            nid = p.note_id
            # nearest neighbours by meaning
            for other, sim in p.neighbours:
                if made >= MAX_AUTO_LINKS // 2:
                    break
                if other != nid and sim >= RELATED_SIM and (
                        p.decision is None or other != p.decision.target):
                    if conn.execute("select 1 from notes where id = ?", [other]).fetchone():
                        made += N.add_link(conn, nid, other, "related", round(sim, 3))
            # shared entities (not "me": that would link everything)
            ents = [r[0] for r in conn.execute(
                "select entity_id from entity_mentions where note_id = ?", [nid])
                if r[0] != me_id]
            for eid in ents:
                others = [r[0] for r in conn.execute(
                    "select note_id from entity_mentions where entity_id = ? and note_id is not "
                    "null and note_id != ? order by note_id desc limit ?",
                    [eid, nid, ENTITY_LINKS])]
                n_mentions = conn.execute("select count(*) from entity_mentions where "
                                          "entity_id = ?", [eid]).fetchone()[0]
                weight = round(1.0 / (1.0 + math.log1p(max(0, n_mentions - 1))), 3)
                for other in others:
                    if made >= MAX_AUTO_LINKS:
                        break
                    made += N.add_link(conn, nid, other, "same_entity", weight)
            # conversational adjacency: facts from neighbouring messages of this window
            mine = [pos.get(s, -99) for s in p.fact.sources]
            for q in added:
                if q is p or made >= MAX_AUTO_LINKS:
                    continue
                theirs = [pos.get(s, 99) for s in q.fact.sources]
                gap = min(abs(a - b) for a in mine for b in theirs)
                if gap <= 1 and q.note_id is not None and not conn.execute(
                        "select 1 from links where (src_id = ? and dst_id = ?) or "
                        "(src_id = ? and dst_id = ?)", [nid, q.note_id, q.note_id, nid]).fetchone():
                    made += N.add_link(conn, nid, q.note_id, "related", 0.3 if gap else 0.4)
            counts["links"] += made


def form_memories(store: Store, extractor: DeterministicExtractor | LLMExtractor, *,
                  embedder: Embedder, vindex: VectorIndex, settings: Settings, hooks: Hooks,
                  progress: Optional[ProgressFn] = None,
                  cancel: Optional[CancelToken] = None) -> dict:
    """Form memories from every message and chunk not formed yet (steps 2–3 of the module
    doc), embedding new notes with ``embedder`` into ``vindex``. Announces each window's
    changed notes with ``notes_did_change(ids, action="extract")``.

    Uses ``settings.session_gap_minutes``, ``me_name`` and ``me_aliases``. Returns a
    summary dict: windows, items, facts, added, merged, refined, invalidated, rejected,
    links, extractor, tokens, fallback_windows, quarantined, vectors_embedded,
    vectors_reused (texts this model had embedded before). A window that fails is
    quarantined with its problem (:mod:`.quarantine`) and the run goes on with the next
    one. Raises Cancelled (between windows; every finished window is kept) and lets a
    model that cannot be used (ModelError) propagate: no window is at fault then.
    """
    plans = plan_windows(store.conn, settings.session_gap_minutes)
    total = len(plans)
    report(progress, "forming memories", 0, total)
    summary: dict[str, Any] = {"extractor": extractor.name, "windows": 0, "items": 0,
                               "facts": 0, "added": 0, "merged": 0, "refined": 0,
                               "invalidated": 0, "rejected": 0, "links": 0, "tokens": 0,
                               "fallback_windows": 0, "quarantined": 0}
    if not plans:
        return summary
    former = Former(store, embedder, vindex, me_name=settings.me_name,
                    me_aliases=settings.me_aliases,
                    llm=extractor.llm if isinstance(extractor, LLMExtractor) else None)
    # Rule-based extraction is cheap, so windows are extracted a group at a time and the
    # group's facts embedded in one model call (small batches waste most of the
    # embedder's time); each window is still written in its own transaction.
    group = 1 if extractor.name == "llm" else GROUP_WINDOWS
    done = 0
    for start in range(0, len(plans), group):
        batch = _extract_group(store, extractor, former, plans[start:start + group],
                               settings, summary, cancel)
        for window, result, name, pending in batch:
            check(cancel)
            before = len(former.changed)
            try:
                counts = former.form(window, result, name, pending)
            except _PASS_THROUGH:
                raise
            except Exception as e:  # noqa: BLE001 — the window is set aside, the run goes on
                _set_aside(store, former, window, e, summary)
                del former.changed[before:]
            else:
                summary["windows"] += 1
                summary["items"] += len(window.items)
                for k in ("facts", "added", "merged", "refined", "invalidated", "rejected",
                          "links"):
                    summary[k] += counts.get(k, 0)
                ids = list(dict.fromkeys(former.changed[before:]))
                if ids:
                    hooks.emit("notes_did_change", ids=ids, action="extract")
            done += 1
            report(progress, "forming memories", done, total, window.title)
        if done != min(start + group, total):     # windows set aside count as done too
            done = min(start + group, total)
            report(progress, "forming memories", done, total)
    summary["vectors_embedded"] = former.stats["vectors_embedded"]
    summary["vectors_reused"] = former.stats["vectors_reused"]   # facts said before
    return summary


#: Failures that are not a window's fault: the person cancelled, or the configured model
#: cannot be used (the job fails with that message and the windows wait for the next run).
_PASS_THROUGH = (Cancelled, ModelError, KeyboardInterrupt)


def _set_aside(store: Store, former: "Former", window: Window, error: BaseException,
               summary: dict) -> None:
    log.warning("formation: window of %d items set aside: %s: %s", len(window.items),
                type(error).__name__, error, exc_info=error)
    quarantine(store, window, error)
    summary["quarantined"] += 1
    former.recover()


def _extract_group(store: Store, extractor, former: "Former", plans: list, settings: Settings,
                   summary: dict, cancel: Optional[CancelToken]) -> list[tuple]:
    """Load, extract and prepare each window of ``plans``, then embed all their facts in
    one call. A window that fails on the way is quarantined and left out."""
    fallback = DeterministicExtractor()
    batch = []
    for plan in plans:
        check(cancel)
        window = None
        try:
            window = load_window(store.conn, plan, me_name=settings.me_name,
                                 me_aliases=settings.me_aliases)
            name = extractor.name
            result = extractor.extract(window, cancel=cancel)
            summary["tokens"] += result.tokens
            if name == "llm" and not result.facts and result.rejected and \
                    any(r["problem"].startswith(("not JSON", "no facts"))
                        for r in result.rejected):
                # the model's output was unusable: this window still gets formed, by rule
                rejected = result.rejected
                result = fallback.extract(window)
                result.rejected = rejected
                name = fallback.name
                summary["fallback_windows"] += 1
            batch.append((window, result, name, former.prepare(window, result)))
        except _PASS_THROUGH:
            raise
        except Exception as e:  # noqa: BLE001 — the window is set aside, the run goes on
            if window is None:
                window = Window(items=[WindowItem(kind=plan.kind, id=i, text="")
                                       for i in plan.item_ids],
                                conversation_id=plan.parent_id if plan.kind == "message"
                                else None,
                                document_id=plan.parent_id if plan.kind == "chunk" else None)
            _set_aside(store, former, window, e, summary)
    try:
        former.embed([p for *_x, pending in batch for p in pending])
    except _PASS_THROUGH:
        raise
    except Exception:  # noqa: BLE001 — find the window whose text the embedder refuses
        kept = []
        for item in batch:
            try:
                former.embed(item[3])
            except _PASS_THROUGH:
                raise
            except Exception as e:  # noqa: BLE001
                _set_aside(store, former, item[0], e, summary)
            else:
                kept.append(item)
        batch = kept
    former.prefetch([p for *_x, pending in batch for p in pending])
    return batch
