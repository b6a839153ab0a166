"""What a citation click shows: the message inside its conversation, or the document page.

The cited message is highlighted and scrolled into view, with its neighbours around it.
Everything is HTML-escaped: a message containing ``<img onerror=...>`` shows as text.
"""
from __future__ import annotations

from typing import Optional

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

from secondme.api import SourceView

from ..context import AppContext
from ..render import SafeBrowser, escape, fmt_time, problem_words


def source_html(view: SourceView) -> tuple[str, str]:
    """(title, html) for a SourceView of a message, a chunk or a note."""
    if view.messages:
        return view.title, _messages_html(view)
    if view.document is not None:
        return _document_html(view)
    # a note (e.g. a summary): show its text
    text = escape(view.text).replace("\n", "<br>")
    return view.title, f'<a name="target"></a><p>{text}</p>'


def _messages_html(view: SourceView) -> str:
    """The cited message among its neighbours, highlighted. Each message is a dict
    ``{"id", "message_id", "speaker", "timestamp", "text", "is_me", "position",
    "highlight"}``."""
    rows = []
    for m in view.messages:
        is_target = bool(m["highlight"]) or (view.highlight is not None
                                             and m["id"] == view.highlight)
        speaker = escape(m["speaker"] or "—")
        when = escape(fmt_time(m["timestamp"]))
        text = escape(m["text"]).replace("\n", "<br>")
        bg = "#fff3b0" if is_target else ("#e8f0fe" if m["is_me"] else "#f3f3f3")
        anchor = '<a name="target"></a>' if is_target else ""
        rows.append(
            f'{anchor}<table width="100%" cellpadding="6" style="margin:4px 0; '
            f'background:{bg};"><tr><td style="color:#202020">'
            f'<b>{speaker}</b> <span style="color:#666">{when}'
            f'{" · the cited message" if is_target else ""}</span><br>{text}'
            f'</td></tr></table>')
    return "".join(rows)


def _document_html(view: SourceView) -> tuple[str, str]:
    """The cited passage of a document, with where it is (path, page, heading)."""
    doc = view.document or {}
    title = doc["title"] or doc["path"] or view.title
    page: Optional[int] = doc["page"]
    heading = doc["heading"] or ""
    where = (f'<p style="color:#666">{escape(doc["path"] or "")}'
             f'{" · page " + escape(page) if page else ""}'
             f'{" · " + escape(heading) if heading else ""}</p>')
    text = escape(view.text).replace("\n", "<br>")
    passage = ('<a name="target"></a><table width="100%" cellpadding="8" '
               'style="background:#fff3b0;margin:4px 0"><tr><td style="color:#202020">'
               f'{text}</td></tr></table>')
    return f"{title}" + (f" — page {page}" if page else ""), where + passage


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
        self.view: Optional[SourceView] = None
        self.kind: str = ""
        self.ident: Optional[int] = None

    def open_source(self, kind: str, ident: int) -> None:
        self.kind, self.ident = kind, ident
        self.title.setText("Opening the source…")
        self.browser.clear()
        self.show()
        self.raise_()
        sm = self.ctx.sm
        self.ctx.runner.run(lambda p, c: sm.open_source(kind, ident), key="open-source",
                            on_success=self.show_view,
                            on_error=lambda e: self._error(e))

    def _error(self, e: BaseException) -> bool:
        self.title.setText(f"Cannot open this source: {problem_words(e)}.")
        return False

    def show_view(self, view: SourceView) -> None:
        self.view = view
        title, html = source_html(view)
        self.title.setText(title)
        self.setWindowTitle(f"Source — {title}")
        self.browser.setHtml(f"<html><body>{html}</body></html>")
        QTimer.singleShot(0, lambda: self.browser.scrollToAnchor("target"))
