"""Imports every module that registers migrations, so Store.migrate sees them all.

Add an import here when a new module registers a migration.
"""
from . import schema  # noqa: F401  m0xx foundation
from ..lifecycle import schema as _lifecycle_schema  # noqa: F401,E402  m4xx lifecycle
