"""Chat: ask in natural language, a streamed Markdown answer with [n] citation links.

Clicking ``[n]`` opens the cited message inside its conversation (or the document at its
page) through ``ctx.open_source``. Answers stream through ``on_token`` into a buffer that
a GUI timer drains (at most ~16 redraws a second), so a fast model never floods the event
loop. Stop cancels the generation; follow-up questions go to the same ``chat_id``.
"""
from __future__ import annotations

import threading
from typing import Optional

from PySide6.QtCore import Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from secondme.api import Answer, ChatInfo, ChatTurn, Citation, SearchResult

from ..context import AppContext
from ..render import CITATION, SafeBrowser, answer_markdown, fmt_time, set_safe_markdown
from ..widgets import heading


class _Turn:
    def __init__(self, question: str, prefix: str):
        self.question = question
        self.prefix = prefix
        self.answer = ""
        self.citations: list[Citation] = []
        self.state = "streaming"  # streaming | done | stopped | failed
        self.abstained = False
        self.closest: list[SearchResult] = []


class QuestionEdit(QPlainTextEdit):
    """Enter sends, Shift+Enter makes a new line."""

    submitted = Signal()

    def keyPressEvent(self, e):  # noqa: N802
        if e.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and not (
                e.modifiers() & Qt.KeyboardModifier.ShiftModifier):
            self.submitted.emit()
            return
        super().keyPressEvent(e)


class ChatPanel(QWidget):
    """The chat pane. Works on its own: ``python -m secondme_ui.panes.chat --demo``."""

    answer_finished = Signal()

    def __init__(self, ctx: AppContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.chat_id: Optional[int] = None
        self.turns: list[_Turn] = []
        self._tokens: list[str] = []
        self._tokens_lock = threading.Lock()
        self._handle = None
        self._turn_seq = 0
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.setObjectName("chatSplitter")
        outer.addWidget(split)

        # chat history (per session)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(8, 8, 0, 8)
        ll.addWidget(heading("Chats"))
        self.new_button = QPushButton("New question")
        self.new_button.setToolTip("Start a new chat (Ctrl+N)")
        self.new_button.setAccessibleName("New chat")
        self.new_button.clicked.connect(self.new_chat)
        ll.addWidget(self.new_button)
        self.history = QListWidget()
        self.history.setAccessibleName("Chat history")
        self.history.itemActivated.connect(self._history_activated)
        self.history.itemClicked.connect(self._history_activated)
        ll.addWidget(self.history, 1)
        split.addWidget(left)

        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(8, 8, 8, 8)
        self.transcript = SafeBrowser()
        self.transcript.setObjectName("transcript")
        self.transcript.setAccessibleName("Conversation")
        self.transcript.anchorClicked.connect(self._anchor_clicked)
        f = self.transcript.font()
        f.setPointSizeF(f.pointSizeF() + 1.5)
        self.transcript.document().setDefaultFont(f)
        self.transcript.setPlaceholderText(
            "Ask anything about your chats and documents — for example "
            "“When did I adopt Biscuit?” or “What did Anna say about Lisbon?”.\n\n"
            "Answers cite their sources: click [1] to see the exact message.")
        rl.addWidget(self.transcript, 1)
        self.status = QLabel("")
        self.status.setObjectName("chatStatus")
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        rl.addWidget(self.status)
        row = QHBoxLayout()
        self.input = QuestionEdit()
        self.input.setObjectName("question")
        self.input.setAccessibleName("Question")
        self.input.setPlaceholderText("Ask your second memory…  (Enter to send, "
                                      "Shift+Enter for a new line)")
        self.input.setFixedHeight(64)
        self.input.submitted.connect(self.send)
        row.addWidget(self.input, 1)
        col = QVBoxLayout()
        self.send_button = QPushButton("Ask")
        self.send_button.setDefault(True)
        self.send_button.setAccessibleName("Ask")
        self.send_button.clicked.connect(self.send)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setAccessibleName("Stop generating")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop)
        self.copy_button = QPushButton("Copy answer")
        self.copy_button.setAccessibleName("Copy the last answer")
        self.copy_button.setEnabled(False)
        self.copy_button.clicked.connect(self.copy_last)
        col.addWidget(self.send_button)
        col.addWidget(self.stop_button)
        col.addWidget(self.copy_button)
        row.addLayout(col)
        rl.addLayout(row)
        split.addWidget(right)
        split.setStretchFactor(0, 0)
        split.setStretchFactor(1, 1)
        split.setSizes([220, 800])
        self.splitter = split
        QShortcut(QKeySequence("Ctrl+Shift+C"), self, activated=self.copy_last)

        self._drain = QTimer(self)
        self._drain.setInterval(60)
        self._drain.timeout.connect(self._drain_tokens)
        self.setTabOrder(self.input, self.send_button)
        self.setTabOrder(self.send_button, self.stop_button)
        self.setTabOrder(self.stop_button, self.copy_button)
        self.setTabOrder(self.copy_button, self.transcript)
        self.setTabOrder(self.transcript, self.history)
        self.refresh_history()

    # -- actions -----------------------------------------------------------------------
    def focus_input(self) -> None:
        self.input.setFocus()

    def new_chat(self) -> None:
        self.stop()
        self.chat_id = None
        self.turns = []
        self.history.clearSelection()
        self._render()
        self.status.setText("")
        self.input.setFocus()

    def ask(self, question: str) -> None:
        """Ask ``question`` (as if typed and sent)."""
        self.input.setPlainText(question)
        self.send()

    def send(self) -> None:
        q = self.input.toPlainText().strip()
        if not q:
            return
        if self._handle is not None and not self._handle.done:
            self.stop()
        self.input.clear()
        self._turn_seq += 1
        turn = _Turn(q, str(self._turn_seq))
        self.turns.append(turn)
        with self._tokens_lock:
            self._tokens = []
        tokens = self._tokens
        lock = self._tokens_lock

        def on_token(piece: str) -> None:  # worker thread
            with lock:
                tokens.append(piece)

        sm, chat_id = self.ctx.sm, self.chat_id

        def work(progress, cancel):
            return sm.ask(q, chat_id=chat_id, on_token=on_token, cancel=cancel)

        self.stop_button.setEnabled(True)
        self.status.setText("Thinking…")
        self._render()
        self._drain.start()
        self._handle = self.ctx.runner.run(
            work, key="ask", on_success=lambda a, t=turn: self._answered(t, a),
            on_error=lambda e, t=turn: self._failed(t, e),
            on_cancelled=lambda t=turn: self._stopped(t),
            on_done=self._op_done)

    def stop(self) -> None:
        if self._handle is not None and not self._handle.done:
            self._handle.cancel()
            self.status.setText("Stopping…")

    def copy_last(self) -> None:
        for t in reversed(self.turns):
            if t.answer:
                QGuiApplication.clipboard().setText(t.answer)
                self.status.setText("Answer copied.")
                return

    # -- results -----------------------------------------------------------------------
    def _drain_tokens(self) -> None:
        with self._tokens_lock:
            pieces = self._tokens[:]
            self._tokens.clear()
        if pieces and self.turns and self.turns[-1].state == "streaming":
            self.turns[-1].answer += "".join(pieces)
            self.status.setText("Answering…")
            self._render()

    def _answered(self, turn: _Turn, answer: Answer) -> None:
        self._drain.stop()
        with self._tokens_lock:
            self._tokens.clear()
        turn.answer = answer.answer or turn.answer
        turn.citations = list(answer.citations)
        turn.abstained = answer.abstained
        turn.closest = list(answer.closest)
        turn.state = "done"
        first = self.chat_id is None
        if answer.chat_id is not None:
            self.chat_id = answer.chat_id
        total = answer.timings.get("total")
        self.status.setText(f"Answered in {total:.1f} s." if total is not None
                            else "Answered.")
        self.copy_button.setEnabled(True)
        self._render()
        if first:
            self.refresh_history()
        self.answer_finished.emit()

    def _failed(self, turn: _Turn, error: BaseException) -> bool:
        self._drain.stop()
        turn.state = "failed"
        turn.answer = turn.answer or ""
        self.status.setText(f"Could not answer: {error}")
        self._render()
        return True  # also show it in the window banner

    def _stopped(self, turn: _Turn) -> None:
        self._drain.stop()
        self._drain_tokens_into(turn)
        turn.state = "stopped"
        self.status.setText("Stopped.")
        self._render()

    def _drain_tokens_into(self, turn: _Turn) -> None:
        with self._tokens_lock:
            turn.answer += "".join(self._tokens)
            self._tokens.clear()

    def _op_done(self) -> None:
        if self._handle is None or self._handle.done:
            self.stop_button.setEnabled(False)

    # -- rendering ---------------------------------------------------------------------
    def _render(self) -> None:
        parts = []
        for t in self.turns:
            q = t.question.replace("\n", "  \n")
            parts.append(f"#### {escape_md(q)}")
            if t.state == "streaming" and not t.answer:
                parts.append("*…*")
            elif t.answer:
                parts.append(answer_markdown(t.answer, t.prefix))
            if t.state == "stopped":
                parts.append("*(stopped)*")
            elif t.state == "failed":
                parts.append("*(no answer — see the message above)*")
            if t.abstained and t.closest:
                parts.append("*Closest things I found:*")
                for r in t.closest[:3]:
                    parts.append(f"- {escape_md(_snippet(r.text))}")
            if t.citations:
                parts.append(sources_markdown(t.answer, t.citations, t.prefix))
            parts.append("---")
        sb = self.transcript.verticalScrollBar()
        at_end = sb.value() >= sb.maximum() - 4
        set_safe_markdown(self.transcript, "\n\n".join(parts))
        if at_end:
            sb.setValue(sb.maximum())

    def _anchor_clicked(self, url: QUrl) -> None:
        s = url.toString()
        if not s.startswith("cite:"):
            return
        _, prefix, n = s.split(":", 2)
        for t in self.turns:
            if t.prefix == prefix:
                for c in t.citations:
                    if str(c.n) == n:
                        self.open_citation(c)
                        return

    def open_citation(self, c: Citation) -> None:
        """Open what citation ``c`` points at: its message/chunk, else its note's source."""
        if c.kind in ("message", "chunk"):
            self.ctx.open_source(c.kind, c.id)
            return
        for s in c.sources:
            ref = source_ref(s)
            if ref is not None:
                self.ctx.open_source(*ref)
                return
        if c.kind == "note":
            self.ctx.open_source("note", c.id)

    # -- history -----------------------------------------------------------------------
    def refresh_history(self) -> None:
        sm = self.ctx.sm
        self.ctx.runner.run(lambda p, c: sm.list_chats(), key="chat-list",
                            on_success=self._show_history)

    def _show_history(self, chats: list[ChatInfo]) -> None:
        self.history.clear()
        for ch in chats:
            title = ch.title or f"Chat {ch.id}"
            when = fmt_time(ch.updated_at)
            item = QListWidgetItem(f"{_snippet(title, 60)}\n{when}" if when
                                   else _snippet(title, 60))
            item.setData(Qt.ItemDataRole.UserRole, ch.id)
            item.setToolTip(title)
            self.history.addItem(item)
            if ch.id == self.chat_id:
                item.setSelected(True)

    def _history_activated(self, item: QListWidgetItem) -> None:
        cid = item.data(Qt.ItemDataRole.UserRole)
        if cid is None or cid == self.chat_id:
            return
        self.stop()
        sm = self.ctx.sm
        self.ctx.runner.run(lambda p, c: sm.chat_history(cid), key="chat-history",
                            on_success=lambda h, cid=cid: self._load_history(cid, h))

    def _load_history(self, cid: int, history: list[ChatTurn]) -> None:
        self.chat_id = cid
        self.turns = []
        pending: Optional[_Turn] = None
        for e in history:
            if e.role == "user":
                self._turn_seq += 1
                pending = _Turn(e.text, str(self._turn_seq))
                pending.state = "done"
                self.turns.append(pending)
            elif e.role == "assistant" and pending is not None:
                pending.answer = e.text
                # a stored turn keeps only which sources it cited: {"n", "id", "kind"}
                pending.citations = [Citation(n=c["n"], id=c["id"], kind=c["kind"], text="")
                                     for c in e.citations]
        self._render()
        self.status.setText(f"Chat restored ({len(self.turns)} questions). "
                            "Follow-up questions continue it.")

    def continue_from(self, other: ChatPanel) -> None:
        """Show ``other``'s conversation here; the next question continues it."""
        self.chat_id = other.chat_id
        self.turns = list(other.turns)
        self._render()
        self.refresh_history()

    def on_hook(self, name: str, payload: dict) -> None:
        pass


def source_ref(s: dict) -> Optional[tuple[str, int]]:
    """(kind, internal id) to open for a source of a search result or citation, or None.

    A message source carries the export's external ``message_id`` (for display), a
    document source its ``document``; both carry the internal ``item_id`` that
    ``open_source`` takes."""
    item = s.get("item_id")
    if item is None:
        return None
    return ("chunk" if s.get("document") is not None else "message"), item


def escape_md(text: str) -> str:
    """Text shown verbatim inside Markdown: HTML escaped, Markdown syntax neutralised."""
    import html
    out = html.escape(str(text or ""), quote=False)
    for ch in "\\`*_{}[]()#+!|>~":
        out = out.replace(ch, "\\" + ch)
    return out


def _snippet(text: Optional[str], n: int = 200) -> str:
    s = " ".join((text or "").split())
    return s if len(s) <= n else s[: n - 1] + "…"


def sources_markdown(answer: str, citations: list[Citation], prefix: str) -> str:
    """The sources under an answer, each labelled ``[n]`` exactly as its marker in the
    answer (not a Markdown list, which would renumber them 1, 2, …), in marker order;
    only those the answer cites when it cites any. Each ``[n]`` opens its source."""
    used = {int(m.group(1)) for m in CITATION.finditer(answer or "")}
    cites = sorted(citations, key=lambda c: c.n)
    if used and any(c.n in used for c in cites):
        cites = [c for c in cites if c.n in used]
    lines = ["**Sources**"]
    for c in cites:
        txt = _snippet(c.text, 140)
        lines.append(f"[\\[{c.n}\\]](cite:{prefix}:{c.n}) {escape_md(_where(c))}"
                     + (f" — {escape_md(txt)}" if txt else ""))
    return "\n\n".join(lines)


def _where(c: Citation) -> str:
    """Where citation ``c`` comes from, in a few words (its first source): who, in
    which conversation (when it is not named after them), when."""
    if not c.sources:
        return {"note": "a memory", "message": "a message", "chunk": "a document"}.get(
            c.kind, "a source")
    s = c.sources[0]
    if s.get("document") is not None:
        page = s.get("page")
        return f"{s['document']}" + (f", page {page}" if page else "")
    who = str(s.get("speaker") or "")
    conv = str(s.get("conversation") or "")
    when = fmt_time(s.get("timestamp"), with_time=False)
    if conv and conv == who:
        conv = ""
    return " · ".join(x for x in (who, f"in “{conv}”" if conv else "", when) if x) or "a source"


def main() -> int:
    from .standalone import run_pane

    return run_pane(ChatPanel, "Chat", after=lambda p: p.ask("Where did I move last year?"))


if __name__ == "__main__":
    raise SystemExit(main())
