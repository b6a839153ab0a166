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
from ..errors import InvalidInput, ModelError, NotFound
from ..ingest.model import Conversation, Message
from ..ingest.pipeline import append_messages, next_position
from ..progress import CancelToken, ProgressFn, check, report
from .answer import NO_MEMORY, CitationFilter, extractive_answer
from .asking import citations_for, decide, gather, renumber
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
                       embedder=lambda: self.embedder, vectors=self.vectors_if_ready,
                       embedder_loaded=self.embedder_loaded, k=k, kinds=kinds,
                       time_range=time_range, include_archived=include_archived,
                       weights=self.search_weights, trace=trace)

    # -- answers -----------------------------------------------------------------------
    #: the model-free reader: "typed" (short typed spans, premise checks) or "sentence"
    #: (the best sentence, the reader of 0.1; benchmarks set it to compare)
    answer_mode: str = "typed"

    def ask(self, question: str, *, chat_id: Optional[int] = None,
            on_token: Optional[Callable[[str], None]] = None,
            cancel: Optional[CancelToken] = None) -> Answer:
        """Answer ``question`` from memory, with citations that are never invented.

        Retrieves the best sources and reads what the question asks for (a date, a
        person, a place, a count, …; :mod:`secondme.recall.qtypes`). A question whose
        person is wrong ("When did Marco run the 10k?" when it was Nadia) is answered
        with the correction and its source ("That was Nadia, not Marco [1].",
        ``method="corrected"``, ``abstained=True``); weak evidence → "I have no memory
        of that." with the closest memories. Otherwise a capable model writes a draft
        streamed through a citation filter (invalid ``[n]`` removed before anyone sees
        them) with the typed evidence in its prompt, kept only when grounded and of the
        asked type; else (the embedded default) the typed extractive answer ("Paris [1]";
        the sentence it came from is the citation's ``quote``), streamed word by word.
        ``citations`` carry exactly the numbers used in ``answer``. "Remember that …"
        stores a note citing the person's chat message. The turn is kept in chat
        ``chat_id`` (a new chat when None); follow-ups carry names and terms from the
        previous question. Cited notes are reinforced. Raises Cancelled, InvalidInput.
        """
        question = (question or "").strip()
        if not question:
            raise InvalidInput("ask a question")
        stream = _Stream(on_token)
        chat_id = self._chat_for(chat_id, question)
        m = _REMEMBER.match(question)
        if m and not question.rstrip().endswith("?"):
            ans = self._remember(m.group("fact"), chat_id, question, stream.emit)
            ans.timings = stream.timings()
            return ans
        query, carried = self._followup_query(chat_id, question)
        return self._answer(question, query, stream, cancel, chat=(chat_id, carried))

    def ask_many(self, questions: Iterable[str], *, progress: Optional[ProgressFn] = None,
                 cancel: Optional[CancelToken] = None,
                 on_answer: Optional[Callable[[int, Answer], None]] = None) -> list[Answer]:
        """Answer many questions, each on its own (no chat is kept, nothing carries over
        from one to the next), with the models loaded once — ``secondme ask --batch``
        and the evaluation use it. ``on_answer(i, answer)`` is called as each answer is
        ready, in order. "Remember that …" lines are stored as with :meth:`ask`.
        Raises InvalidInput naming an empty question, Cancelled (the answers so far are
        passed to ``on_answer`` already)."""
        qs = [(q or "").strip() for q in questions]
        for i, q in enumerate(qs):
            if not q:
                raise InvalidInput(f"question {i + 1} is empty")
        out: list[Answer] = []
        for i, q in enumerate(qs):
            check(cancel)
            report(progress, "answering", i, len(qs))
            stream = _Stream(None)
            m = _REMEMBER.match(q)
            if m and not q.rstrip().endswith("?"):
                a = self._remember(m.group("fact"), None, q, stream.emit)
                a.timings = stream.timings()
            else:
                a = self._answer(q, q, stream, cancel, chat=None)
            out.append(a)
            if on_answer is not None:
                on_answer(i, a)
        report(progress, "answering", len(qs), len(qs))
        return out

    def _answer(self, question: str, query: str, stream: "_Stream",
                cancel: Optional[CancelToken], chat: Optional[tuple[int, list[str]]]) -> Answer:
        """Search, read, decide, stream, store the turn (when ``chat``), reinforce."""
        check(cancel)
        trace = SearchTrace()
        k = max(1, int(self.settings.answer_top_k))
        results = self.search(query, k=max(k, 10), trace=trace)
        stream.mark("retrieve_ms")
        check(cancel)
        ev = gather(self.store, question, query, results, trace, k, self._term_stats)
        stream.t["strength"] = round(ev.strength, 3)
        user_turn = None
        if chat is not None:
            parsed = trace.parsed
            user_turn = self._add_turn(chat[0], "user", question, query=query,
                                       entities=(parsed.names if parsed else []) + chat[1])
        abstain_now = (ev.strength if self.answer_mode == "typed" else ev.base_strength) \
            < float(self.settings.abstain_threshold) or not ev.sources
        llm = None if abstain_now or self.answer_mode != "typed" else self._capable_llm()
        history = self._history_for_prompt(chat[0], before=user_turn) \
            if llm is not None and chat is not None else []
        if self.answer_mode == "typed":
            d = decide(ev, threshold=float(self.settings.abstain_threshold), llm=llm,
                       history=history, emit=stream.emit, cancel=cancel, timings=stream.t)
        else:
            d = self._sentence_decision(ev, abstain_now)
        text, mapping = d.text, {n: n for n in d.cited}
        if not d.streamed:
            if d.method in ("extractive", "corrected"):
                text, mapping = renumber(text, d.cited)
            # defence in depth: whatever built the text, only given numbers survive
            valid = set(mapping.values()) if mapping else set()
            filt = CitationFilter(valid, emit=None if d.rejected else stream.emit)
            for piece in re.findall(r"\S+\s*|\s+", text):
                filt.feed(piece)
            text = filt.close()
        elif d.rejected or d.method == "abstained":
            text = d.text  # a front end shows ``answer`` instead of the stream
        citations = citations_for(text, ev, mapping, d.quotes)
        self._reinforce([c.id for c in citations if c.kind == "note"])
        chat_id = None
        if chat is not None:
            chat_id = chat[0]
            self._add_turn(chat_id, "assistant", text,
                           citations=[{"n": c.n, "id": c.id, "kind": c.kind}
                                      for c in citations], abstained=d.abstained)
        return Answer(answer=text, abstained=d.abstained, citations=citations,
                      closest=results[:3] if d.abstained else [], timings=stream.timings(),
                      chat_id=chat_id, method=d.method, strength=ev.strength,
                      draft_rejected=d.rejected, question=question)

    def _sentence_decision(self, ev, abstain: bool):
        """The reader of 0.1 (best sentence, date for "when"), kept as a baseline."""
        from .asking import Decision

        if abstain:
            return Decision(NO_MEMORY, [], "abstained", True)
        parsed = ev.trace.parsed
        qtype = parsed.qtype if parsed else question_type(ev.question)
        idf, _ = self._term_stats(content_terms(ev.question))
        text, cited = extractive_answer(ev.question, qtype, content_terms(ev.question),
                                        parsed.names if parsed else [], ev.sources, idf)
        return Decision(text, cited, "extractive", False)

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
                raise NotFound(f"there is no chat {chat_id}", item="chat")
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
            raise NotFound(f"there is no chat {chat_id}", item="chat")
        rows = self.store.conn.execute(
            "select id, role, text, created_at, citations, abstained from recall_chat_turns "
            "where chat_id = ? order by id", [chat_id])
        return [ChatTurn(r[0], r[1], r[2], r[3], json.loads(r[4] or "[]"), bool(r[5]))
                for r in rows]

    # -- remember ----------------------------------------------------------------------
    def _remember(self, fact: str, chat_id: Optional[int], said: str, emit) -> Answer:
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
            ext = (f"chat-{chat_id if chat_id is not None else 'batch'}-"
                   f"{next_position(self.store, CHAT_FORMAT, CHAT_FORMAT)}")
            [mid] = append_messages(self.store, Conversation(
                CHAT_FORMAT, CHAT_FORMAT, CHAT_TITLE, [me],
                [Message(ext, me, said_at, said, is_me=True)]))
        note_id = self.create_note(fact, sources=[("message", mid)], origin="chat").id
        if chat_id is not None:
            self._add_turn(chat_id, "user", said, query=said, message_id=mid)
        text = f"I'll remember that: {fact} [1]"
        _stream_words(text, emit)
        srcs = [{"message_id": ext, "conversation": CHAT_TITLE,
                 "conversation_id": CHAT_FORMAT, "timestamp": _now_iso(now), "speaker": me,
                 "item_id": mid}]
        cit = Citation(n=1, id=note_id, kind="note", text=fact, sources=srcs,
                       date=fmt_date(now), speaker=None)
        if chat_id is not None:
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
                raise NotFound(f"message {id} is not in memory (deleted?)", item="message")
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
                raise NotFound(f"document passage {id} is not in memory (deleted?)",
                               item="passage")
            doc = {"path": r[6], "title": r[7], "format": r[8], "document_id": r[9],
                   "page": r[1], "heading": r[2], "char_start": r[3], "char_end": r[4],
                   "position": r[5]}
            return SourceView(kind, id, r[7] or r[6], document=doc, text=r[0],
                              sources=[{"document": r[6], "page": r[1]}])
        if kind == "note":
            r = conn.execute("select text from notes where id = ?", [id]).fetchone()
            if r is None:
                raise NotFound(f"memory {id} does not exist (deleted?)", item="memory")
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


class _Stream:
    """Emits answer pieces to ``on_token`` and keeps the timings of one answer."""

    def __init__(self, on_token: Optional[Callable[[str], None]]):
        self.on_token = on_token
        self.t0 = time.perf_counter()
        self.first: Optional[float] = None
        self.t: dict[str, float] = {}

    def emit(self, piece: str) -> None:
        if self.first is None:
            self.first = time.perf_counter()
        if self.on_token is not None:
            self.on_token(piece)

    def mark(self, name: str) -> None:
        self.t[name] = (time.perf_counter() - self.t0) * 1000

    def timings(self) -> dict[str, float]:
        now = time.perf_counter()
        out = dict(self.t)
        out["total_ms"] = (now - self.t0) * 1000
        out["first_token_ms"] = ((self.first or now) - self.t0) * 1000
        return out


def _stream_words(text: str, emit) -> None:
    for piece in re.findall(r"\S+\s*|\s+", text):
        emit(piece)
