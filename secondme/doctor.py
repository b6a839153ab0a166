"""``secondme doctor``: what is installed, where the data is, and whether it is healthy."""
from __future__ import annotations

import json
import platform
import sqlite3
from importlib import metadata
from pathlib import Path
from typing import Any

from . import __version__, secrets
from .config import Settings
from .indexing import count_pending
from .memory.quarantine import count as count_quarantined
from .models.embed import DEFAULT_EMBEDDING_MODEL, bundled_model_dir
from .models.llm import describe_configured_model
from .models.onnx_embed import base_model_id, find_onnx_model
from .paths import MODELS_DIR, VECTOR_DIR, wider_than_private
from .store.crypto import describe
from .store.db import Store
from .store.vectors import META_FILE


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _embedding(home: Path, settings: Settings) -> dict[str, Any]:
    """Where the embedding model runs from: the exported ONNX folder (the desktop
    bundle's, ``$SECONDME_EMBEDDING_ONNX_DIR`` or the data dir's), else the bundled
    weights on sentence-transformers (the ONNX folder is exported from them at first
    use). Raises ModelError when neither is there."""
    name = settings.embedding_model
    out: dict[str, Any] = {"name": name, "found": True}
    if name == DEFAULT_EMBEDDING_MODEL and settings.embedding_backend != "torch":
        folder = find_onnx_model(home / MODELS_DIR)
        if folder is not None:
            return {**out, "backend": "onnx", "path": str(folder)}
    path = bundled_model_dir(name)
    backend = "torch" if (settings.embedding_backend == "torch"
                          or name != DEFAULT_EMBEDDING_MODEL) else "onnx (exported at first use)"
    return {**out, "backend": backend, "path": str(path)}


def _models(home: Path, settings: Settings, problems: list[str]) -> dict[str, Any]:
    models: dict[str, Any] = {}
    try:
        models["embedding"] = _embedding(home, settings)
    except Exception as e:
        models["embedding"] = {"name": settings.embedding_model, "found": False,
                               "error": str(e)}
        problems.append(f"embedding model: {e}")
    try:
        models["llm"] = describe_configured_model(settings, home)
        if not models["llm"].get("found"):
            problems.append(f"language model: {models['llm'].get('error', 'not found')}")
    except Exception as e:
        models["llm"] = {"found": False, "error": str(e)}
        problems.append(f"language model: {e}")
    return models


def _index(home: Path, store: Store, settings: Settings, problems: list[str]) -> dict[str, Any]:
    index: dict[str, Any] = {"path": str(home / VECTOR_DIR)}
    try:
        meta_path = home / VECTOR_DIR / META_FILE
        items, entries = store.conn.execute(
            "select count(*), count(distinct vec) from vector_items").fetchone()
        index["items"] = items
        index["entries"] = entries   # items with the same text share one entry
        if meta_path.exists():
            meta = json.loads(meta_path.read_text())
            index.update(model_id=meta.get("model_id"), dim=meta.get("dim"),
                         count=meta.get("count"), deleted=meta.get("deleted"))
            live = (meta.get("count") or 0) - (meta.get("deleted") or 0)
            if base_model_id(meta.get("model_id") or "") != settings.embedding_model:
                index["health"] = "model changed: rebuilt on next use"
            elif live != entries:
                # another process indexed or removed items since the file was saved
                index["health"] = (f"behind the database ({live} of {entries} entries): "
                                   "caught up at next use")
            else:
                index["health"] = "ok"
        else:
            index["health"] = "ok" if items == 0 else "missing: rebuilt on next use"
        index["pending"] = count_pending(store)
    except Exception as e:
        index["health"] = f"error: {e}"
        problems.append(f"vector index: {e}")
    return index


def _keywords(store: Store, settings: Settings, problems: list[str]) -> dict[str, Any]:
    from .recall import keywords

    try:
        out = keywords.describe(store, settings.session_gap_minutes)
    except Exception as e:  # reported, never fatal
        return {"health": f"error: {e}"}
    if not out.get("stemmer", True):
        problems.append(f"keyword index: {out['health']}")
    return out


def _permissions(home: Path, problems: list[str]) -> dict[str, Any]:
    """Files and folders of the data dir that other users could read (see paths.py)."""
    try:
        wider = [(p, mode) for p, mode in wider_than_private(home)]
    except OSError as e:
        return {"ok": None, "error": e.strerror}
    out = {"ok": not wider, "wider": [
        {"path": str(p.relative_to(home)) if p != home else ".", "mode": f"{mode:04o}"}
        for p, mode in wider]}
    if wider:
        p, mode = wider[0]
        name = "the data directory" if p == home else str(p.relative_to(home))
        more = f" and {len(wider) - 1} more" if len(wider) > 1 else ""
        problems.append(f"permissions: other users can read {name} ({mode:04o}){more}; "
                        "run `secondme doctor --repair` to make the data directory private")
    return out


def run_doctor(home: Path, store: Store, settings: Settings) -> dict[str, Any]:
    """The health report of the store in data dir ``home`` opened as ``store``, with the
    models ``settings`` configure: versions, data dir, models, keyring, index, integrity,
    counts, permissions. ``ok`` is False (and ``problems`` lists why) when something is
    broken. Never raises for a broken component; it reports it."""
    problems: list[str] = []
    versions = {
        "secondme": __version__,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
    }
    for dist in ("sqlite-utils", "hnswlib", "PyStemmer", "onnxruntime", "tokenizers",
                 "sentence-transformers", "torch", "llama_cpp_python",
                 "PySide6-Essentials", "APScheduler", "keyring"):
        versions[dist] = _version(dist)
    models = _models(home, settings, problems)
    index = _index(home, store, settings, problems)
    keyword_index = _keywords(store, settings, problems)
    permissions = _permissions(home, problems)
    try:
        encryption = describe(home)
    except Exception as e:  # reported, never fatal
        encryption = {"encrypted": None, "error": str(e)}

    try:
        integrity = store.integrity_check()
    except Exception as e:
        integrity = f"error: {e}"
    if integrity != "ok":
        problems.append(f"database integrity: {integrity}")
    try:
        set_aside = count_quarantined(store.conn)
        formation = {"quarantined_windows": set_aside}
        if set_aside:
            problems.append(f"memory formation: {set_aside} window(s) could not be formed; "
                            "retry with: secondme jobs run extract --retry-failed")
    except Exception as e:
        formation = {"error": str(e)}
    try:
        c = store.counts()
        counts = {k: c[k] for k in ("conversations", "messages", "documents", "notes", "links")}
        counts.update(chunks=c["chunks"], entities=c["entities"], sources=c["sources"])
    except Exception as e:
        counts = {}
        problems.append(f"counts: {e}")

    return {
        "ok": not problems,
        "problems": problems,
        "versions": versions,
        "home": str(home),
        "database": str(store.path),
        "migrations": store.applied_migrations(),
        "models": models,
        "keyring": secrets.backend_name(),
        "encryption": encryption,
        "index": index,
        "keyword_index": keyword_index,
        "permissions": permissions,
        "integrity": integrity,
        "counts": counts,
        "formation": formation,
    }
