"""Moved to :mod:`secondme.store.crypto` (issue 12). This name stays only until the
command line (``secondme/privacy_cli.py``) and ``secondme/integrations/mcp.py`` import
``secondme.store.crypto``; delete it then."""
from __future__ import annotations

from .store.crypto import (
    EncryptionMarker,
    describe,
    init_store,
    keyring_available,
    set_default_prompt,
)

__all__ = ["EncryptionMarker", "describe", "init_store", "keyring_available",
           "set_default_prompt"]
