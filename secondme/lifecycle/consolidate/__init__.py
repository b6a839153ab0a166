"""Nightly consolidation: merge duplicates, settle contradictions, write summaries and
the profile.

Steps (cancel is honoured between units; every write is one short transaction):

1. **Merge near-duplicate facts** (:mod:`.duplicates`). Active facts (not archived,
   still valid) whose word sets overlap by Jaccard ≥ ``DUP_JACCARD`` and whose numbers
   agree are grouped; the strongest (pinned first) survives and absorbs the others by
   the one merge of :mod:`secondme.memory.notes.merge` — the same as the person's
   "merge": the duplicates are archived (never deleted) with a ``merged_into`` history
   row, their sources, mentions and links move to the survivor, strengths add up, and
   ``MemoryOps.undo`` of the survivor's ``merge`` row reverts it. A note the person
   edited is left out of automatic merging.
2. **Contradictions by the time rule** (:mod:`.contradictions`). Two valid facts linked
   ``contradicts``, or with the same subject and attribute but different values
   (``note_slots``), cannot both be current: the older one gets ``valid_to`` = when the
   newer became true, an ``updates`` link from the newer and an ``invalidate`` history
   row. Text is not touched.
3. **Summaries** (:mod:`.summaries`). One per day (messages and facts of that date), per
   ISO week (its days and top facts) and per topic (an entity or a keyword shared by
   several facts). Each is a note of kind ``summary`` (``fact_type`` ``day`` / ``week`` /
   ``topic``) citing the notes (``note_sources.source_note_id``) and messages it rests
   on; its parts are linked to it ``part_of``. With a capable model the model writes the
   text from numbered evidence under a JSON schema (invalid citations are dropped); with
   the embedded model a deterministic template does (top facts by strength × retention,
   people, counts, keywords).
4. **Profile** (:mod:`secondme.lifecycle.profile`): one ``profile`` note, every line
   cited.

Writing (:mod:`.write`) is idempotent: each summary has a stable key in
``consolidations`` with the hash of its inputs; unchanged input is skipped, changed input
updates the note in place (version + 1, a ``consolidate`` history row with the old text).
A note with ``user_edited = 1`` keeps its text: it is reported as ``kept_user_edited``
and left alone. Every change goes through :mod:`secondme.memory.notes` and can be undone
with ``MemoryOps.undo``.

:func:`.run.run_consolidate` runs the steps; :mod:`.common` holds what they share.
"""
