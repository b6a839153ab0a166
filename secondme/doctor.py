"""``secondme doctor``: what is installed, where the data is, and whether it is healthy."""
from __future__ import annotations

import json
import platform
import sqlite3
from importlib import metadata
from typing import Any


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def run_doctor(sm) -> dict[str, Any]:
    """Gather the report for ``sm`` (a SecondMe). Never raises for a broken component."""
    from . import __version__, secrets
    from .paths import VECTOR_DIR
    from .store.vectors import META_FILE

    problems: list[str] = []
    versions = {
        "secondme": __version__,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
    }
    for dist in ("sqlite-utils", "hnswlib", "sentence-transformers", "torch",
                 "llama_cpp_python", "PySide6-Essentials", "APScheduler", "keyring"):
        versions[dist] = _version(dist)

    models: dict[str, Any] = {}
    try:
        from .models.embed import bundled_model_dir

        models["embedding"] = {"name": sm.settings.embedding_model,
                               "path": str(bundled_model_dir(sm.settings.embedding_model)),
                               "found": True}
    except Exception as e:
        models["embedding"] = {"name": sm.settings.embedding_model, "found": False,
                               "error": str(e)}
        problems.append(f"embedding model: {e}")
    try:
        from .models.llm import describe_configured_model

        models["llm"] = describe_configured_model(sm.settings, sm.home)
        if not models["llm"].get("found"):
            problems.append(f"language model: {models['llm'].get('error', 'not found')}")
    except Exception as e:
        models["llm"] = {"found": False, "error": str(e)}
        problems.append(f"language model: {e}")

    index: dict[str, Any] = {"path": str(sm.home / VECTOR_DIR)}
    try:
        meta_path = sm.home / VECTOR_DIR / META_FILE
        items = sm.store.conn.execute("select count(*) from vector_items").fetchone()[0]
        index["items"] = items
        if meta_path.exists():
            meta = json.loads(meta_path.read_text())
            index.update(model_id=meta.get("model_id"), dim=meta.get("dim"),
                         count=meta.get("count"), deleted=meta.get("deleted"))
            live = (meta.get("count") or 0) - (meta.get("deleted") or 0)
            if meta.get("model_id") != sm.settings.embedding_model:
                index["health"] = "model changed: rebuilt on next use"
            elif live != items:
                index["health"] = "out of step: rebuilt on next use"
            else:
                index["health"] = "ok"
        else:
            index["health"] = "ok" if items == 0 else "missing: rebuilt on next use"
        from .indexing import count_pending

        index["pending"] = count_pending(sm.store)
    except Exception as e:
        index["health"] = f"error: {e}"
        problems.append(f"vector index: {e}")

    try:
        from . import crypto

        encryption = crypto.describe(sm.home)
    except Exception as e:  # reported, never fatal
        encryption = {"encrypted": None, "error": str(e)}

    try:
        integrity = sm.store.integrity_check()
    except Exception as e:
        integrity = f"error: {e}"
    if integrity != "ok":
        problems.append(f"database integrity: {integrity}")
    try:
        c = sm.store.counts()
        counts = {k: c[k] for k in ("conversations", "messages", "documents", "notes", "links")}
        counts.update(chunks=c["chunks"], entities=c["entities"], sources=c["sources"])
    except Exception as e:
        counts = {}
        problems.append(f"counts: {e}")

    return {
        "ok": not problems,
        "problems": problems,
        "versions": versions,
        "home": str(sm.home),
        "database": str(sm.store.path),
        "migrations": sm.store.applied_migrations(),
        "models": models,
        "keyring": secrets.backend_name(),
        "encryption": encryption,
        "index": index,
        "integrity": integrity,
        "counts": counts,
    }
