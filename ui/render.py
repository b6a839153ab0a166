"""Text from memories and answers, made safe to show.

Memories come from other people's messages: nothing in them may ever be rendered as
HTML. Answers are shown as Markdown, but their HTML is escaped first *and* Qt's Markdown
parser is told not to accept HTML; images are never loaded (see :class:`SafeBrowser`).
"""
from __future__ import annotations

import html
import re
from datetime import datetime
from typing import Any, Optional

from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import QTextBrowser

CITATION = re.compile(r"\[(\d{1,3})\]")
_F = QTextDocument.MarkdownFeature
MARKDOWN_FEATURES = _F(_F.MarkdownDialectGitHub.value | _F.MarkdownNoHTML.value)


def escape(text: Any) -> str:
    """HTML-escape anything (None → "")."""
    return html.escape("" if text is None else str(text), quote=True)


def answer_markdown(text: str, prefix: str = "0") -> str:
    """Markdown for an answer: HTML escaped, ``[n]`` turned into ``cite:prefix:n`` links."""
    safe = html.escape(text or "", quote=False)
    return CITATION.sub(lambda m: f"[\\[{m.group(1)}\\]](cite:{prefix}:{m.group(1)})", safe)


def set_safe_markdown(browser: QTextBrowser, markdown: str) -> None:
    browser.document().setMarkdown(markdown, MARKDOWN_FEATURES)


class SafeBrowser(QTextBrowser):
    """A QTextBrowser that never follows links itself and never loads any resource."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setOpenLinks(False)
        self.setOpenExternalLinks(False)

    def loadResource(self, type_: int, name) -> Any:  # noqa: N802 - Qt override
        return None  # no images, no style sheets: memories cannot pull anything in


def fmt_time(value: Any, with_time: bool = True) -> str:
    """A short local date(-time) for an ISO string or datetime; "" when unknown."""
    if not value:
        return ""
    dt: Optional[datetime] = None
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, (int, float)):
        dt = datetime.fromtimestamp(value).astimezone()
    else:
        try:
            dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return str(value)
    if dt.tzinfo is not None:
        dt = dt.astimezone()
    return dt.strftime("%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d")


def problem_words(e: BaseException) -> str:
    """An error as a person reads it: a SecondMeError's own words (written for people);
    a missing memory, message or person in words without its id (the core's message
    names the id, which the person never saw here: they clicked); anything else is a
    bug, said so without its Python name or SQL (the runner has written its details to
    the log file). Lower-case first, no final period: it follows "Cannot …: "."""
    from secondme.errors import NotFound, SecondMeError

    if isinstance(e, NotFound) and e.item in NotFound.GONE:
        said = e.in_words().rstrip(". ")
        return said[:1].lower() + said[1:]
    if isinstance(e, SecondMeError):
        return str(e).rstrip(". ")
    return "an internal problem in secondme (a bug; its details are in the log file)"


def counted(n: int, one: str, many: str = "") -> str:
    """``3 messages``, ``1 message`` (``many`` defaults to ``one`` + "s")."""
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def origin_label(origin: Any) -> str:
    """How a note's origin reads to a person (``mcp:claude`` → "via claude (MCP)")."""
    o = str(origin or "")
    if o.startswith("mcp:"):
        return f"via {o[4:] or 'an MCP client'} (MCP)"
    return {"extract": "formed from your data", "user": "written by you",
            "chat": "from a chat", "consolidate": "consolidated"}.get(o, o)


_KIND_WORDS = {"fact": "A memory", "summary": "A summary", "profile": "Your profile",
               "user": "Written by you"}
_ACTION_WORDS = {
    "create": "created", "edit": "edited", "version": "updated", "merge": "merged with "
    "others", "merged_into": "merged into another memory", "pin": "pinned",
    "unpin": "unpinned", "archive": "archived", "unarchive": "brought back from the archive",
    "delete": "deleted", "link": "linked", "unlink": "unlinked", "undo": "a change undone",
    "redo": "a change done again", "invalidate": "marked as no longer true",
    "reinforce": "strengthened", "consolidate": "consolidated", "decay": "faded",
}
_ACTOR_WORDS = {"user": "you", "extract": "memory formation", "system": "secondme",
                "consolidate": "consolidation", "decay": "forgetting", "recall": "recall"}


def kind_words(kind: Any) -> str:
    """A note kind as a person reads it ("fact" → "A memory")."""
    return _KIND_WORDS.get(str(kind or ""), "A memory")


def action_words(action: Any) -> str:
    """A history action as a person reads it ("merged_into" → "merged into another …")."""
    a = str(action or "")
    return _ACTION_WORDS.get(a, a.replace("_", " ") or "changed")


def actor_words(actor: Any) -> str:
    """Who made a change ("user" → "you", "mcp:claude" → "claude (MCP)")."""
    a = str(actor or "")
    if a.startswith("mcp:"):
        return f"{a[4:] or 'an MCP client'} (MCP)"
    return _ACTOR_WORDS.get(a, a.replace("_", " ") or "secondme")
