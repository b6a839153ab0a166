"""Persistence: the SQLite store (FTS5 included) and the hnswlib vector index."""
from .db import Store, utcnow

__all__ = ["Store", "utcnow"]
