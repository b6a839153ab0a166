"""The chat formats secondme reads, in the order detection tries them.

Each format module exposes ``FORMAT`` (its name), ``LABEL`` (for people),
``claim(tree, files, force=False) -> list[Claim]`` (which files of a tree it will
read, by content) and ``parse(claim, ctx) -> Iterator[Item]``.

Order matters: formats that recognise a whole folder layout (Slack, the Discord data
package) claim their files before per-file formats look at what is left, and the
strict JSON detectors run before the generic one.
"""
from __future__ import annotations

from types import ModuleType

from . import chatgpt, claude, discord, documents, generic, signal_md, slack, telegram, whatsapp

# format name -> parser module, in detection order
CHAT_FORMATS: dict[str, ModuleType] = {
    "slack": slack,
    "discord": discord,
    "telegram": telegram,
    "chatgpt": chatgpt,
    "claude": claude,
    "generic": generic,
    "whatsapp": whatsapp,
    "signal": signal_md,
}

DOCUMENTS = "documents"


def chat_module(name: str) -> ModuleType:
    """The parser module of chat format ``name``."""
    return CHAT_FORMATS[name]


def chat_formats() -> list[str]:
    """The chat formats, in detection order."""
    return list(CHAT_FORMATS)


def documents_module() -> ModuleType:
    """The document importer (Markdown/Obsidian, PDF, DOCX, HTML, text)."""
    return documents


def format_choices() -> list[str]:
    """Values ``--format`` accepts."""
    return [*CHAT_FORMATS, DOCUMENTS]
