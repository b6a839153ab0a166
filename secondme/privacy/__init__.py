"""Privacy: the person owns the data — see it, export it, delete or forget it, re-key it.

=================== =====================================================================
:mod:`.forget`      listing sources; what deleting a source or forgetting a person or a
                    topic covers
:mod:`.purge`       the one removal engine (and the wipe's file removal)
:mod:`.dump`        the lossless JSON dump, and restoring one into an empty store
:mod:`.vault`       the Markdown vault of the notes
:mod:`.export`      export: the vault plus the dump, outside the data directory
:mod:`.encryption`  encrypting a store or changing its key, backups and index included
:mod:`.ops`         ``PrivacyOps``, the service's methods
=================== =====================================================================

Checking a data directory before it is opened and recovering a damaged one are the
store's (:mod:`secondme.store.recovery`).
"""
