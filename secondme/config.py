"""Typed, versioned settings persisted in the database.

Settings are one dataclass. They are stored as JSON in the ``settings`` table together
with their version; :func:`migrate_settings` upgrades older versions step by step, and
unknown keys (from a newer app) are kept untouched rather than dropped.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from .errors import InvalidInput

SETTINGS_VERSION = 1


@dataclass
class Settings:
    """Everything a person can configure. Secrets never live here (see secrets.py)."""

    # who "me" is in imported chats
    me_name: str = ""
    me_aliases: list[str] = field(default_factory=list)
    # IANA zone of imported chats whose timestamps carry none (WhatsApp, Signal); "" = system
    import_timezone: str = ""
    # models
    llm_source: str = "default"          # default | gguf | openai
    llm_path: str = ""                   # a user GGUF file when llm_source == "gguf"
    llm_endpoint: str = ""               # OpenAI-compatible base URL when llm_source == "openai"
    llm_endpoint_model: str = ""
    llm_threads: int = 0                 # 0 = all cores
    llm_context: int = 2048
    embedding_model: str = "all-MiniLM-L6-v2"
    # auto = ONNX Runtime when the exported model is there or can be made, else torch;
    # onnx | torch force one (both give the same vectors, so the index is shared)
    embedding_backend: str = "auto"
    # memory formation
    session_gap_minutes: int = 240
    # recall
    abstain_threshold: float = 0.35
    answer_top_k: int = 8
    # lifecycle
    decay_tau_days: float = 30.0
    archive_threshold: float = 0.05
    backups_keep: int = 7
    # integrations
    mcp_allow_remember: bool = False
    # appearance
    theme: str = "system"                # system | light | dark
    # keys from newer versions that this version does not know; kept, never dropped
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        data = dataclasses.asdict(self)
        extra = data.pop("extra")
        data.update(extra)
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Settings":
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        kwargs = {k: v for k, v in data.items() if k in known}
        extra = {k: v for k, v in data.items() if k not in known}
        s = cls(**kwargs)
        s.extra = extra
        s.validate()
        return s

    def validate(self) -> None:
        """Raise InvalidInput when a value is out of range."""
        if self.llm_source not in ("default", "gguf", "openai"):
            raise InvalidInput("llm_source must be default, gguf or openai, "
                               f"not {self.llm_source!r}")
        if self.decay_tau_days <= 0:
            raise InvalidInput("decay_tau_days must be positive")
        if not 0 <= self.archive_threshold < 1:
            raise InvalidInput("archive_threshold must be between 0 and 1")
        if not 0 <= self.abstain_threshold <= 1:
            raise InvalidInput("abstain_threshold must be between 0 and 1")
        if self.embedding_backend not in ("auto", "onnx", "torch"):
            raise InvalidInput("embedding_backend must be auto, onnx or torch")
        if self.theme not in ("system", "light", "dark"):
            raise InvalidInput("theme must be system, light or dark")
        if self.import_timezone:
            from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

            try:
                ZoneInfo(self.import_timezone)
            except (ZoneInfoNotFoundError, ValueError):
                raise InvalidInput(f"unknown time zone {self.import_timezone!r}; use an IANA "
                                   "name such as Europe/Berlin") from None
        if self.session_gap_minutes <= 0:
            raise InvalidInput("session_gap_minutes must be positive")

    def update(self, **changes: Any) -> "Settings":
        """A copy with ``changes`` applied and validated."""
        known = {f.name for f in dataclasses.fields(self)}
        for k in changes:
            if k not in known or k == "extra":
                raise InvalidInput(f"unknown setting {k!r}")
        new = dataclasses.replace(self, **changes)
        new.validate()
        return new


# Each step upgrades settings data from version N to N+1. Add one per schema change.
SETTINGS_MIGRATIONS: dict[int, Any] = {}


def migrate_settings(data: dict[str, Any], version: int) -> dict[str, Any]:
    """Upgrade a stored settings dict from ``version`` to SETTINGS_VERSION."""
    while version < SETTINGS_VERSION:
        data = SETTINGS_MIGRATIONS[version](data)
        version += 1
    return data
