"""Imports every module that registers migrations, so Store.migrate sees them all.

Add an import here when a new module registers a migration.
"""
from ..lifecycle import schema as _lifecycle_schema  # noqa: F401,E402  m4xx lifecycle
from ..memory import schema as _memory_schema  # noqa: F401,E402  m2xx memory
from ..recall import schema as _recall_schema  # noqa: F401,E402  m3xx recall
from . import schema  # noqa: F401  m0xx foundation
