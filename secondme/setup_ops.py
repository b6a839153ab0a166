"""SetupOps: what the first-run and Settings screens need to set secondme up.

Mixed into :class:`secondme.service.SecondMe`, so a front end (the desktop app) reaches
the model catalogue and its download, the configured model's status, the endpoint key in
the OS keyring and the MCP client snippet through the service, without importing the
core's modules. Each method is a thin call into the module that does the work
(:mod:`secondme.models.download`, :mod:`secondme.models.llm`, :mod:`secondme.secrets`).

Thread-safety: every method may be called from any thread. The download is slow (it
takes ``progress=``/``cancel=``); the keyring calls can be slow on some desktops, so a
front end should call them off its GUI thread where it can.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional, TypeVar

from . import secrets
from .api import ModelStatus, RecommendedModel
from .config import Settings
from .integrations.mcp import client_config_snippet
from .paths import MODELS_DIR
from .progress import CancelToken, ProgressFn

#: the keyring entry holding an OpenAI-compatible endpoint's API key (see models/llm.py)
ENDPOINT_KEY = "llm_api_key"
#: the name other apps know the MCP server by

_S = TypeVar("_S", bound="SetupOps")


class SetupOps:
    """Models, the endpoint key and MCP registration, for the app's setup screens."""

    home: Path
    settings: Settings

    # -- opening on fake models (demos, screenshots, tests) -----------------------------
    @classmethod
    def with_fake_models(cls: type[_S], home: str | os.PathLike | None = None,
                         **kwargs: Any) -> _S:
        """Open ``home`` with the deterministic hash embedder instead of the real one:
        starts in a second and needs no model files (search quality is not real).
        ``kwargs`` are the constructor's (``llm=``, ``clock=``, ``background=`` …)."""
        from .models.embed import HashEmbedder

        return cls(home, embedder=HashEmbedder(), **kwargs)  # type: ignore[call-arg]

    # -- language models ---------------------------------------------------------------
    def recommended_models(self) -> list[RecommendedModel]:
        """The capable GGUF models offered for download, smallest first."""
        from .models.download import CATALOGUE

        return [RecommendedModel(e.name, e.size_mb, e.description, e.licence)
                for e in CATALOGUE]

    def download_recommended_model(self, name: str, *, progress: Optional[ProgressFn] = None,
                                   cancel: Optional[CancelToken] = None) -> Path:
        """Download the recommended model ``name`` into the data dir's models folder and
        return its path. Resumable (an interrupted or cancelled download continues where
        it stopped) and checksum-verified; progress is in bytes. It does not change the
        settings: point ``llm_path`` at the file to use it. Raises ModelError (unknown
        name, network, checksum) or Cancelled."""
        from .models import download

        entry = download.catalogue_entry(name)
        return download.download_model(entry.url, self.home / MODELS_DIR, sha256=entry.sha256,
                                       progress=progress, cancel=cancel)

    def describe_model(self) -> ModelStatus:
        """The configured language model and whether it is there, without loading it
        (reads at most a few bytes of a GGUF file; never contacts an endpoint)."""
        from .models.llm import describe_configured_model

        d = describe_configured_model(self.settings, self.home)
        return ModelStatus(name=d["name"], source=d["source"], path=d["path"],
                           found=d["found"], capable=d["capable"], error=d.get("error", ""))

    # -- the endpoint's API key (OS keyring only, never in settings) ------------------
    def endpoint_key_stored(self) -> bool:
        """True when an API key for the OpenAI-compatible endpoint is in the keyring."""
        return bool(secrets.get_secret(self.home, ENDPOINT_KEY))

    def keyring_available(self) -> bool:
        """True when the OS has a keyring backend that can store secrets."""
        return secrets.available()

    def store_endpoint_key(self, key: str) -> None:
        """Keep ``key`` in the OS keyring for this data dir (the endpoint reads it at each
        request). Raises SecondMeError when no keyring backend can store it."""
        secrets.set_secret(self.home, ENDPOINT_KEY, key)

    # -- other apps ----------------------------------------------------------------------
    def mcp_client_snippet(self, client: str = "claude-desktop") -> str:
        """The JSON to paste into an MCP client's configuration to use this data dir's
        memory (see :func:`client_config_snippet`)."""
        return client_config_snippet(self.home, client=client)
