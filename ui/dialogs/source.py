"""What a citation click shows: the message inside its conversation, or the document page.

The cited message is highlighted and scrolled into view, with its neighbours around it.
Everything is HTML-escaped: a message containing ``<img onerror=...>`` shows as text.
"""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

from ..context import AppContext, get
from ..render import SafeBrowser, escape, fmt_time


def source_html(view: Any) -> tuple[str, str]:
    """(title, html) for a SourceView of a message, a chunk or a note."""
    messages = get(view, "messages", "neighbours", "context", default=None)
    if messages:
        conv = get(view, "conversation", default={})
        title = get(view, "title", default=None) or (
            get(conv, "title", default=None) if not isinstance(conv, str) else conv)
        title = title or get(view, "title", default="Conversation")
        target = get(view, "highlight", "message_id", "target_id", default=None)
        if target is None:
            target = get(get(view, "message", default=None), "id", default=None)
        rows = []
        for m in messages:
            mid = get(m, "id", "message_id")
            is_target = bool(get(m, "is_target", "highlight", "target", default=False)) or (
                target is not None and mid == target)
            me = bool(get(m, "is_me", default=False))
            speaker = escape(get(m, "speaker", default="") or "—")
            when = escape(fmt_time(get(m, "timestamp")))
            ext = get(m, "message_id", "external_id", default="")
            text = escape(get(m, "text", default="")).replace("\n", "<br>")
            bg = "#fff3b0" if is_target else ("#e8f0fe" if me else "#f3f3f3")
            anchor = '<a name="target"></a>' if is_target else ""
            rows.append(
                f'{anchor}<table width="100%" cellpadding="6" style="margin:4px 0; '
                f'background:{bg};"><tr><td style="color:#202020">'
                f'<b>{speaker}</b> <span style="color:#666">{when}'
                f'{" · id " + escape(ext) if ext and is_target else ""}</span><br>{text}'
                f'</td></tr></table>')
        meta = []
        fmt = get(conv, "format", default="") if not isinstance(conv, str) else ""
        if fmt:
            meta.append(escape(fmt))
        src = get(view, "source_path", "path", default="")
        if src:
            meta.append(escape(src))
        head = f'<p style="color:#666">{" · ".join(meta)}</p>' if meta else ""
        return str(title), head + "".join(rows)
    doc = get(view, "document", default=None)
    if doc is not None or get(view, "chunk", default=None) is not None:
        dtitle = get(doc, "title", "path", default=None) if not isinstance(doc, str) else doc
        dtitle = dtitle or get(view, "title", default="Document")
        page = (get(view, "page", default=None) or get(doc, "page", default=None)
                or get(get(view, "chunk"), "page", default=None))
        heading = (get(view, "heading", default="") or get(doc, "heading", default="")
                   or get(get(view, "chunk"), "heading", default=""))
        chunks = get(view, "chunks", default=None)
        target = get(view, "chunk_id", default=None) or get(get(view, "chunk"), "id") \
            or get(view, "id")
        parts = [f'<p style="color:#666">{escape(get(doc, "path", default="") if not isinstance(doc, str) else "")}'
                 f'{" · page " + escape(page) if page else ""}'
                 f'{" · " + escape(heading) if heading else ""}</p>']
        if not chunks:
            chunks = [get(view, "chunk", default=None) or {"text": get(view, "text", default=""),
                                                           "id": target}]
        for ch in chunks:
            is_target = get(ch, "id") == target or len(chunks) == 1
            text = escape(get(ch, "text", default="")).replace("\n", "<br>")
            anchor = '<a name="target"></a>' if is_target else ""
            bg = "#fff3b0" if is_target else "#f6f6f6"
            pg = get(ch, "page")
            parts.append(f'{anchor}<table width="100%" cellpadding="8" style="background:{bg};'
                         f'margin:4px 0"><tr><td style="color:#202020">'
                         f'{"<i>page " + escape(pg) + "</i><br>" if pg and not is_target else ""}'
                         f'{text}</td></tr></table>')
        title = f"{dtitle}" + (f" — page {page}" if page else "")
        return title, "".join(parts)
    # a note (e.g. a summary) or anything else: show its text
    text = escape(get(view, "text", default=str(view))).replace("\n", "<br>")
    return str(get(view, "title", default="Memory")), f'<a name="target"></a><p>{text}</p>'


class SourceDialog(QDialog):
    """Non-modal; reused for every citation click. Esc closes it."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.setWindowTitle("Source")
        self.setObjectName("SourceDialog")
        self.resize(720, 560)
        lay = QVBoxLayout(self)
        self.title = QLabel("")
        self.title.setObjectName("paneTitle")
        self.title.setTextFormat(Qt.TextFormat.PlainText)
        self.title.setWordWrap(True)
        self.browser = SafeBrowser()
        self.browser.setAccessibleName("Source text")
        lay.addWidget(self.title)
        lay.addWidget(self.browser, 1)
        bb = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        bb.rejected.connect(self.reject)
        lay.addWidget(bb)
        self.view: Any = None
        self.kind: str = ""
        self.ident: Any = None

    def open_source(self, kind: str, ident: Any) -> None:
        self.kind, self.ident = kind, ident
        self.title.setText("Opening the source…")
        self.browser.clear()
        self.show()
        self.raise_()
        if not self.ctx.has("open_source"):
            self.title.setText("Opening sources is not available in this build "
                               "(the service has no open_source).")
            return
        sm = self.ctx.sm
        self.ctx.runner.run(lambda p, c: sm.open_source(kind, ident), key="open-source",
                            on_success=self.show_view,
                            on_error=lambda e: self._error(e))

    def _error(self, e: BaseException) -> bool:
        self.title.setText(f"Cannot open this source: {e}")
        return False

    def show_view(self, view: Any) -> None:
        self.view = view
        title, html = source_html(view)
        self.title.setText(title)
        self.setWindowTitle(f"Source — {title}")
        self.browser.setHtml(f"<html><body>{html}</body></html>")
        QTimer.singleShot(0, lambda: self.browser.scrollToAnchor("target"))
