"""The chat formats secondme reads, in the order detection tries them.

Each format module exposes ``FORMAT`` (its name), ``LABEL`` (for people),
``claim(tree, files, force=False) -> list[Claim]`` (which files of a tree it will
read, by content) and ``parse(claim, ctx) -> Iterator[Item]``.

Order matters: formats that recognise a whole folder layout (Slack, the Discord data
package) claim their files before per-file formats look at what is left, and the
strict JSON detectors run before the generic one.
"""
from __future__ import annotations

import importlib
from types import ModuleType

# format name -> module (relative to secondme.ingest)
CHAT_FORMATS: dict[str, str] = {
    "slack": "slack",
    "discord": "discord",
    "telegram": "telegram",
    "chatgpt": "chatgpt",
    "claude": "claude",
    "generic": "generic",
    "whatsapp": "whatsapp",
    "signal": "signal_md",
}

DOCUMENTS = "documents"


def chat_module(name: str) -> ModuleType:
    """The parser module of chat format ``name``."""
    return importlib.import_module(f"secondme.ingest.{CHAT_FORMATS[name]}")


def available_chat_formats() -> list[str]:
    """Chat formats whose parser module is present in this build, in detection order."""
    out = []
    for name, mod in CHAT_FORMATS.items():
        try:
            importlib.import_module(f"secondme.ingest.{mod}")
        except ModuleNotFoundError as e:
            if e.name != f"secondme.ingest.{mod}":
                raise
            continue
        out.append(name)
    return out


def documents_module() -> ModuleType | None:
    """The documents engineer's ``secondme.ingest.documents`` module, or None if absent."""
    try:
        return importlib.import_module("secondme.ingest.documents")
    except ModuleNotFoundError as e:
        if e.name != "secondme.ingest.documents":
            raise
        return None


def format_choices() -> list[str]:
    """Values ``--format`` accepts."""
    return [*CHAT_FORMATS, DOCUMENTS]
