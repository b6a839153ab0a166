"""Persistence: the SQLite store and everything about its files.

=================== =====================================================================
:mod:`.db`          the store: one SQLite file (FTS5 included), WAL, short transactions
:mod:`.migrations`  every schema migration, in one ordered list
:mod:`.vectors`     the hnswlib vector index beside the database
:mod:`.crypto`      encryption at rest: keys, ciphers, unlocking, re-keying
:mod:`.backup`      rotating snapshots and restoring one
:mod:`.recovery`    checking a data directory before it opens; recovering a damaged one
:mod:`.ops`         ``StoreOps``, the service's backup methods
=================== =====================================================================
"""
from .db import Store, utcnow

__all__ = ["Store", "utcnow"]
