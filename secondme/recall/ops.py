"""RecallOps: search, ask, open a citation, chat history, evaluation (mixed into SecondMe).

Public methods (see docs/ENGINEERING.md): :meth:`RecallOps.search`, :meth:`RecallOps.ask`,
:meth:`RecallOps.open_source`, :meth:`RecallOps.list_chats`, :meth:`RecallOps.chat_history`,
:meth:`RecallOps.evaluate`. Plain dataclasses in and out.

The app's own answers are stored only in ``recall_chat_turns``; they are never messages,
never indexed and so never evidence. What the person *tells* secondme ("remember that …")
is stored as a message in a conversation of format ``secondme-chat`` and becomes a note
citing that message.
"""
from __future__ import annotations

import json
import math
import re
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

from ..api import Answer, ChatInfo, ChatTurn, Citation, EvalReport, SearchResult, SourceView
from ..errors import Cancelled, InvalidInput, ModelError, NotFound
from ..ingest.model import Conversation, Message
from ..ingest.pipeline import append_messages, next_position
from ..progress import CancelToken, ProgressFn, check
from .answer import (
    GROUNDED_MIN,
    NO_MEMORY,
    CitationFilter,
    Source,
    build_messages,
    cited_numbers,
    discount_unknown_terms,
    evidence_strength,
    extractive_answer,
    grounding,
)
from .eval import evaluate_dataset
from .query import STOP_WORDS, content_terms, fmt_date, match_names, question_type
from .search import DEFAULT_WEIGHTS, SearchTrace, SearchWeights, name_index, sources_of_notes
from .search import search as _search
from .windows import CHAT_FORMAT, CHAT_TITLE

__all__ = ["RecallOps", "SearchResult", "Answer", "Citation", "SourceView", "ChatInfo",
           "ChatTurn"]


_REMEMBER = re.compile(
    r"^\s*(?:please\s+|pls\s+)?(?:remember|note|don'?t forget|do not forget|keep in mind)"
    r"(?:\s+that)?\s*[,:]?\s+(?P<fact>.+?)\s*$", re.I | re.S)
_FOLLOWUP_PRONOUN = re.compile(r"\b(he|she|him|her|his|hers|they|them|their|it|its|that|"
                               r"there|this|those|these)\b", re.I)
_ELLIPTICAL = re.compile(r"^\s*(?:and|also|what about|how about|and what about|what of)\b",
                         re.I)


def _now_iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).isoformat(timespec="seconds")


class RecallOps:
    """Search, answers, citations and evaluation. Mixed into :class:`SecondMe`."""

    #: fusion and re-ranking weights of :meth:`search` (benchmarks set others to compare)
    search_weights: SearchWeights = DEFAULT_WEIGHTS

    # -- search ------------------------------------------------------------------------
    def search(self, query: str, *, k: int = 10, kinds: Optional[Iterable[str]] = None,
               time_range: Optional[tuple] = None, include_archived: bool = False,
               trace: Optional[SearchTrace] = None) -> list[SearchResult]:
        """The ``k`` best messages, chunks and notes for ``query``, best first.

        ``kinds`` ⊆ {message, chunk, note}; ``time_range`` = (start, end) aware datetimes
        (None for open) restricts results strictly (a range *parsed* from the query only
        re-ranks). Results carry provenance in ``sources``. Raises InvalidInput for a
        bad ``k`` or kind. Thread-safe; loads the embedding model on first use.
        """
        if k < 1 or k > 1000:
            raise InvalidInput("k must be between 1 and 1000")
        if kinds:
            bad = set(kinds) - {"message", "chunk", "note"}
            if bad:
                raise InvalidInput(f"unknown kind(s): {', '.join(sorted(bad))}; "
                                   "use message, chunk or note")
        return _search(self.store, query or "", clock=self.clock,
                       session_gap_minutes=self.settings.session_gap_minutes,
                       embedder=lambda: self.embedder, vectors=lambda: self.vectors,
                       embedder_loaded=self.embedder_loaded, k=k, kinds=kinds,
                       time_range=time_range, include_archived=include_archived,
                       weights=self.search_weights, trace=trace)

    # -- answers -----------------------------------------------------------------------
    def ask(self, question: str, *, chat_id: Optional[int] = None,
            on_token: Optional[Callable[[str], None]] = None,
            cancel: Optional[CancelToken] = None) -> Answer:
        """Answer ``question`` from memory, with citations that are never invented.

        Retrieves the best sources, then: a capable model writes a draft streamed through
        a citation filter (invalid ``[n]`` removed before anyone sees them) and checked
        for grounding; otherwise (or if the draft is not grounded) an extractive answer
        is built from the sources and streamed word by word. Weak evidence → abstains
        ("I have no memory of that.") and offers the closest memories. "Remember that …"
        stores a note citing the person's chat message. The turn is kept in chat
        ``chat_id`` (a new chat when None); follow-ups carry names and terms from the
        previous question. Cited notes are reinforced. Raises Cancelled, InvalidInput.
        """
        question = (question or "").strip()
        if not question:
            raise InvalidInput("ask a question")
        t0 = time.perf_counter()
        timings: dict[str, float] = {}
        first = {"t": None}

        def emit(piece: str) -> None:
            if first["t"] is None:
                first["t"] = time.perf_counter()
            if on_token is not None:
                on_token(piece)

        chat_id = self._chat_for(chat_id, question)
        m = _REMEMBER.match(question)
        if m and not question.rstrip().endswith("?"):
            ans = self._remember(m.group("fact"), chat_id, question, emit)
            ans.timings = {"total_ms": (time.perf_counter() - t0) * 1000,
                           "first_token_ms": ((first["t"] or time.perf_counter()) - t0) * 1000}
            return ans

        query, carried = self._followup_query(chat_id, question)
        check(cancel)
        trace = SearchTrace()
        k = max(1, int(self.settings.answer_top_k))
        results = self.search(query, k=max(k, 10), trace=trace)
        timings["retrieve_ms"] = (time.perf_counter() - t0) * 1000
        check(cancel)
        parsed = trace.parsed
        q_terms = content_terms(query)
        idf, unknown = self._term_stats(q_terms)
        given = results[:k]
        sources = [Source(n=i + 1, kind=r.kind, id=r.id, text=r.text, ts=_ts(r),
                          speaker=r.speaker, timestamp=r.timestamp, sources=r.sources,
                          score=r.score) for i, r in enumerate(given)]
        self._add_context(sources)
        best_sim = max((trace.dense_sims.get((r.kind, r.id), 0.0) for r in given[:3]),
                       default=0.0)
        strength = evidence_strength(q_terms, [_display(r) for r in given], idf, best_sim)
        strength = discount_unknown_terms(strength, q_terms, idf, unknown,
                                          best_sim)
        timings["strength"] = round(strength, 3)
        user_turn = self._add_turn(chat_id, "user", question, query=query,
                                   entities=(parsed.names if parsed else []) + carried)
        abstain = strength < float(self.settings.abstain_threshold) or not sources
        method = "extractive"
        text = ""
        cited: list[int] = []
        rejected = False
        llm = None if abstain else self._capable_llm()
        if llm is not None:
            t_m = time.perf_counter()
            filt = CitationFilter([s.n for s in sources], emit=emit)
            history = self._history_for_prompt(chat_id, before=user_turn)
            try:
                llm.chat(build_messages(question, sources, history), max_tokens=320,
                         temperature=0.0, on_token=filt.feed, cancel=cancel)
            except Cancelled:
                raise
            draft = filt.close().strip()
            timings["model_ms"] = (time.perf_counter() - t_m) * 1000
            cited = [n for n in filt.used if 1 <= n <= len(sources)]
            if NO_MEMORY.lower().rstrip(".") in draft.lower():
                abstain = True
            else:
                g = grounding(draft, [" ".join(filter(None, [sources[n - 1].speaker,
                                                                 sources[n - 1].text]))
                                      for n in cited])
                timings["grounding"] = round(g, 3)
                if cited and g >= GROUNDED_MIN:
                    text, method = draft, "model"
                else:
                    rejected = True
        if abstain:
            text, cited, method = NO_MEMORY, [], "abstained"
            _stream_words(text, emit)
        elif not text:
            qtype = parsed.qtype if parsed else question_type(question)
            own_terms = content_terms(question) or q_terms
            text, cited = extractive_answer(question, qtype, own_terms,
                                            parsed.names if parsed else [], sources, idf)
            # defence in depth: whatever built the text, only given numbers survive
            filt = CitationFilter([s.n for s in sources])
            if not rejected:
                filt.emit = emit
            for piece in re.findall(r"\S+\s*|\s+", text):
                filt.feed(piece)
            text = filt.close()
            cited = [n for n in cited_numbers(text) if 1 <= n <= len(sources)]
            method = "extractive"
        by_n = {s.n: (s, r) for s, r in zip(sources, given)}
        citations = [Citation(n=n, id=by_n[n][0].id, kind=by_n[n][0].kind, text=by_n[n][0].text,
                              sources=by_n[n][1].sources, date=by_n[n][1].date,
                              speaker=by_n[n][1].speaker) for n in cited if n in by_n]
        self._reinforce([c.id for c in citations if c.kind == "note"])
        self._add_turn(chat_id, "assistant", text,
                       citations=[{"n": c.n, "id": c.id, "kind": c.kind} for c in citations],
                       abstained=abstain)
        timings["total_ms"] = (time.perf_counter() - t0) * 1000
        timings["first_token_ms"] = ((first["t"] or time.perf_counter()) - t0) * 1000
        return Answer(answer=text, abstained=abstain, citations=citations,
                      closest=results[:3] if abstain else [], timings=timings,
                      chat_id=chat_id, method=method, strength=strength,
                      draft_rejected=rejected, question=question)

    def _add_context(self, sources: list[Source]) -> None:
        """Give each message source the two messages before it (for "she", "it")."""
        conn = self.store.conn
        for s in sources:
            if s.kind != "message":
                continue
            rows = conn.execute(
                "select p.text from messages m join messages p on p.conversation_id = "
                "m.conversation_id and p.position < m.position and p.position >= m.position - 2 "
                "where m.id = ? order by p.position", [s.id]).fetchall()
            s.context = " ".join(r[0] for r in rows)

    def _capable_llm(self):
        try:
            llm = self.llm
        except ModelError:  # no model configured or installed: extractive answers still work
            return None
        return llm if llm.capable else None

    def _term_stats(self, terms: list[str]) -> tuple[dict[str, float], set[str]]:
        """(IDF of each term, the terms that occur nowhere in the memories)."""
        conn = self.store.conn
        n = sum(conn.execute(f"select count(*) from {t}").fetchone()[0]
                for t in ("messages", "chunks", "notes")) + 1
        out = {}
        unknown = set()
        for t in terms:
            q = '"' + t.replace('"', " ") + '"'
            df = 0
            for table in ("messages_fts", "chunks_fts", "notes_fts"):
                df += conn.execute(f"select count(*) from {table} where {table} match ?",
                                   [q]).fetchone()[0]
            out[t] = math.log((n + 1) / (df + 0.5))
            if df == 0:
                unknown.add(t)
        return out, unknown

    # -- chats -------------------------------------------------------------------------
    def _chat_for(self, chat_id: Optional[int], question: str) -> int:
        now = _now_iso(self.clock())
        if chat_id is not None:
            row = self.store.conn.execute("select id from recall_chats where id = ?",
                                          [chat_id]).fetchone()
            if row is None:
                raise NotFound(f"there is no chat {chat_id}")
            return chat_id
        with self.store.write() as db:
            cur = db.conn.execute("insert into recall_chats (title, created_at, updated_at) "
                                  "values (?, ?, ?)", [question[:80], now, now])
            return cur.lastrowid

    def _add_turn(self, chat_id: int, role: str, text: str, *, query: str = "",
                  entities: Iterable[str] = (), citations: list | None = None,
                  abstained: bool = False, message_id: Optional[int] = None) -> int:
        now = _now_iso(self.clock())
        with self.store.write() as db:
            cur = db.conn.execute(
                "insert into recall_chat_turns (chat_id, role, text, created_at, query, "
                "entities, citations, abstained, message_id) values (?,?,?,?,?,?,?,?,?)",
                [chat_id, role, text, now, query, json.dumps(list(dict.fromkeys(entities))),
                 json.dumps(citations or []), int(abstained), message_id])
            db.conn.execute("update recall_chats set updated_at = ? where id = ?", [now, chat_id])
            return cur.lastrowid

    def _followup_query(self, chat_id: int, question: str) -> tuple[str, list[str]]:
        """The retrieval query for ``question`` in the context of the chat so far.

        A follow-up that leans on the previous turn ("what about her sister?", "and
        when was that?") gets the previous question's names, and — when it has almost
        no content of its own — its terms too.
        """
        row = self.store.conn.execute(
            "select query, entities from recall_chat_turns where chat_id = ? and role = 'user' "
            "order by id desc limit 1", [chat_id]).fetchone()
        if row is None:
            return question, []
        prev_query, prev_entities = row[0] or "", json.loads(row[1] or "[]")
        ans = self.store.conn.execute(
            "select text from recall_chat_turns where chat_id = ? and role = 'assistant' "
            "order by id desc limit 1", [chat_id]).fetchone()
        if ans and ans[0] and not ans[0].startswith(NO_MEMORY):
            # names the previous answer brought up ("my sister Joanna") are what a
            # following "she" most likely means
            body = re.sub(r"\[\d+\]", " ", ans[0])
            for m_ in re.finditer(r"(?<![.!?:]\s)(?<!^)\b([A-Z][a-z]{2,})\b", body):
                w = m_.group(1)
                if w.lower() not in STOP_WORDS and w not in prev_entities:
                    prev_entities.append(w)
        own_terms = content_terms(question)
        leaning = bool(_FOLLOWUP_PRONOUN.search(question) or _ELLIPTICAL.match(question)
                       or len(own_terms) <= 1)
        if not leaning:
            return question, []
        own_names = match_names(question, name_index(self.store))
        carried = [e for e in prev_entities if e not in own_names] if not own_names else []
        extra = list(carried)
        if _ELLIPTICAL.match(question) or len(own_terms) <= 1:
            prev_terms = [t for t in content_terms(prev_query) if t not in own_terms]
            extra += prev_terms[:6]
        if not extra:
            return question, []
        return question + " " + " ".join(extra), carried

    def _history_for_prompt(self, chat_id: int, before: int) -> list[dict]:
        rows = self.store.conn.execute(
            "select role, text from recall_chat_turns where chat_id = ? and id < ? "
            "order by id desc limit 6", [chat_id, before]).fetchall()
        return [{"role": r[0], "text": r[1]} for r in reversed(rows)]

    def list_chats(self, *, limit: int = 100) -> list[ChatInfo]:
        """Chats, most recently used first."""
        rows = self.store.conn.execute(
            "select c.id, c.title, c.created_at, c.updated_at, "
            "(select count(*) from recall_chat_turns t where t.chat_id = c.id) "
            "from recall_chats c order by c.updated_at desc, c.id desc limit ?", [limit])
        return [ChatInfo(*r) for r in rows]

    def chat_history(self, chat_id: int) -> list[ChatTurn]:
        """The turns of chat ``chat_id`` in order. Raises NotFound."""
        if self.store.conn.execute("select 1 from recall_chats where id = ?",
                                   [chat_id]).fetchone() is None:
            raise NotFound(f"there is no chat {chat_id}")
        rows = self.store.conn.execute(
            "select id, role, text, created_at, citations, abstained from recall_chat_turns "
            "where chat_id = ? order by id", [chat_id])
        return [ChatTurn(r[0], r[1], r[2], r[3], json.loads(r[4] or "[]"), bool(r[5]))
                for r in rows]

    # -- remember ----------------------------------------------------------------------
    def _remember(self, fact: str, chat_id: int, said: str, emit) -> Answer:
        """Store what the person said as a message of the ``secondme-chat`` conversation
        (through the import pipeline, like any imported message) and a note (kind
        ``user``, origin ``chat``) citing it, written by ``create_note`` so that it is
        enriched and recorded in history like a note written by hand."""
        fact = fact.strip().rstrip(".")
        if not fact:
            raise InvalidInput("remember what? Say e.g. 'remember that my passport expires "
                               "in March'")
        fact = fact[0].upper() + fact[1:] + "."
        now = self.clock()
        said_at = now.astimezone(timezone.utc).replace(microsecond=0)
        me = self.settings.me_name or "Me"
        with self.store.write():
            ext = f"chat-{chat_id}-{next_position(self.store, CHAT_FORMAT, CHAT_FORMAT)}"
            [mid] = append_messages(self.store, Conversation(
                CHAT_FORMAT, CHAT_FORMAT, CHAT_TITLE, [me],
                [Message(ext, me, said_at, said, is_me=True)]))
        note_id = self.create_note(fact, sources=[("message", mid)], origin="chat").id
        self._add_turn(chat_id, "user", said, query=said, message_id=mid)
        text = f"I'll remember that: {fact} [1]"
        _stream_words(text, emit)
        srcs = [{"message_id": ext, "conversation": CHAT_TITLE,
                 "conversation_id": CHAT_FORMAT, "timestamp": _now_iso(now), "speaker": me,
                 "item_id": mid}]
        cit = Citation(n=1, id=note_id, kind="note", text=fact, sources=srcs,
                       date=fmt_date(now), speaker=None)
        self._add_turn(chat_id, "assistant", text,
                       citations=[{"n": 1, "id": note_id, "kind": "note"}])
        return Answer(answer=text, abstained=False, citations=[cit], chat_id=chat_id,
                      method="remembered", strength=1.0, question=said)

    # -- reinforcement -----------------------------------------------------------------
    def _reinforce(self, note_ids: list[int]) -> None:
        """Cited notes get stronger (see :func:`secondme.lifecycle.decay.reinforce`)."""
        if note_ids:
            self.reinforce_notes(note_ids, "cited")

    # -- citations ---------------------------------------------------------------------
    def open_source(self, kind: str, id: int, *, around: int = 5) -> SourceView:
        """What clicking a citation shows (see :class:`SourceView`). Raises NotFound."""
        conn = self.store.conn
        if kind == "message":
            row = conn.execute(
                "select m.conversation_id, m.position, c.title, c.external_id from messages m "
                "join conversations c on c.id = m.conversation_id where m.id = ?",
                [id]).fetchone()
            if row is None:
                raise NotFound(f"message {id} is not in memory (deleted?)")
            conv, pos, title, ext = row
            rows = conn.execute(
                "select * from (select id, external_id, speaker, timestamp, text, is_me, position "
                "from messages where conversation_id = ? and position < ? order by position desc "
                "limit ?) union all select * from (select id, external_id, speaker, timestamp, "
                "text, is_me, position from messages where conversation_id = ? and position >= ? "
                "order by position limit ?) order by position",
                [conv, pos, around, conv, pos, around + 1]).fetchall()
            msgs = [{"id": r[0], "message_id": r[1], "speaker": r[2], "timestamp": r[3],
                     "text": r[4], "is_me": bool(r[5]), "position": r[6],
                     "highlight": r[0] == id} for r in rows]
            return SourceView(kind, id, title or ext, highlight=id, messages=msgs,
                              text=next((m["text"] for m in msgs if m["id"] == id), ""),
                              sources=[{"conversation": title or ext, "conversation_id": ext}])
        if kind == "chunk":
            r = conn.execute(
                "select c.text, c.page, c.heading, c.char_start, c.char_end, c.position, "
                "d.path, d.title, d.format, d.id from chunks c join documents d "
                "on d.id = c.document_id where c.id = ?", [id]).fetchone()
            if r is None:
                raise NotFound(f"document passage {id} is not in memory (deleted?)")
            doc = {"path": r[6], "title": r[7], "format": r[8], "document_id": r[9],
                   "page": r[1], "heading": r[2], "char_start": r[3], "char_end": r[4],
                   "position": r[5]}
            return SourceView(kind, id, r[7] or r[6], document=doc, text=r[0],
                              sources=[{"document": r[6], "page": r[1]}])
        if kind == "note":
            r = conn.execute("select text from notes where id = ?", [id]).fetchone()
            if r is None:
                raise NotFound(f"memory {id} does not exist (deleted?)")
            return SourceView(kind, id, "Memory", text=r[0],
                              sources=sources_of_notes(conn, [id]).get(id, []))
        raise InvalidInput(f"unknown kind {kind!r}; use message, chunk or note")

    # -- evaluation --------------------------------------------------------------------
    def evaluate(self, dataset_path, *, k: int = 10, answers: bool = True,
                 progress: Optional[ProgressFn] = None,
                 cancel: Optional[CancelToken] = None) -> EvalReport:
        """Evaluate recall and answers on a dataset (format in docs/recall.md) in a fresh
        temporary data directory (your own memory is not touched) with this service's
        models and clock. Returns an EvalReport. Raises InvalidInput for a malformed
        dataset, Cancelled."""
        try:
            llm = self.llm
        except ModelError:  # the evaluation still measures search and extractive answers
            llm = None

        def open_eval(home: Path) -> Any:
            return type(self)(home, embedder=self.embedder, llm=llm, clock=self.clock)

        return evaluate_dataset(open_eval, dataset_path, k=k, answers=answers,
                                progress=progress, cancel=cancel)


def _ts(r: SearchResult) -> Optional[float]:
    if not r.timestamp:
        return None
    try:
        d = datetime.fromisoformat(r.timestamp)
    except ValueError:
        return None
    if d.tzinfo is None:
        d = d.replace(tzinfo=timezone.utc)
    return d.timestamp()


def _display(r: SearchResult) -> str:
    """A result's text with its speaker and date (what the strength check reads)."""
    return " ".join(x for x in (r.speaker or "", r.text, r.date or "") if x)


def _stream_words(text: str, emit) -> None:
    for piece in re.findall(r"\S+\s*|\s+", text):
        emit(piece)
