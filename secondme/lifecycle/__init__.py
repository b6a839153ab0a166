"""Lifecycle: decay, consolidation, upkeep, backups and the background scheduler."""
