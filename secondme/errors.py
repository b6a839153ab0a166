"""Errors whose messages are safe to show to a person.

Every error the core raises on purpose is a :class:`SecondMeError`. Its message says
what went wrong and, where possible, what to do about it. The CLI and the UI show the
message as it is; anything that is *not* a SecondMeError is a bug and is reported as
such (with a log reference), never as a bare traceback.
"""
from __future__ import annotations


class SecondMeError(Exception):
    """Base class: a problem a person can understand and act on."""

    exit_code = 1

    def __init__(self, message: str, *, path: str | None = None, position: str | None = None):
        self.path = str(path) if path is not None else None
        self.position = position
        parts = []
        if self.path:
            parts.append(self.path + (f" ({position})" if position else ""))
        parts.append(message)
        super().__init__(": ".join(parts))
        self.plain_message = message


class DataDirError(SecondMeError):
    """The data directory cannot be created, opened or written."""


class StoreError(SecondMeError):
    """The database is damaged, locked, or from a newer version."""


class IndexError_(SecondMeError):
    """The vector index cannot be used (it is rebuilt where possible)."""


class ModelError(SecondMeError):
    """A model file is missing, malformed or cannot be loaded."""


class ImportFormatError(SecondMeError):
    """An input file is malformed, truncated, or of an unsupported format."""


class NotFound(SecondMeError):
    """A note, source, job or other item does not exist.

    The message names the item by its id ("note 42 does not exist"): right for the CLI
    and MCP, where the person or client typed that id. ``item`` says what kind of thing
    it was ("memory", "message", …) so that the app can say it without the id — someone
    who clicked a citation or a memory never saw one (:meth:`in_words`).
    """

    exit_code = 2
    item: str | None = None   # (also for one rebuilt from a worker process's message)

    #: what the app says for each ``item``: what is gone and the likely reason
    GONE = {
        "memory": "That memory no longer exists (it may have been deleted or merged).",
        "message": "That message is no longer in your memory (its chat may have been "
                   "forgotten).",
        "passage": "That part of a document is no longer in your memory (the document "
                   "may have been forgotten or imported again).",
        "entity": "That person or place is no longer known (it may have been merged with "
                  "another or forgotten).",
        "link": "Those memories are no longer linked (the link may have been removed "
                "already).",
        "chat": "That conversation no longer exists (it may have been deleted).",
    }

    def __init__(self, message: str, *, item: str | None = None, path: str | None = None,
                 position: str | None = None):
        super().__init__(message, path=path, position=position)
        self.item = item

    def in_words(self) -> str:
        """The problem as one sentence without ids, for a person who clicked rather than
        typed (the message itself when ``item`` is not one of :data:`GONE`'s)."""
        return self.GONE.get(self.item or "", str(self))


class InvalidInput(SecondMeError):
    """An argument given by the person is not valid."""

    exit_code = 2


class Cancelled(SecondMeError):
    """The operation was cancelled by the person; nothing half-done was kept."""

    exit_code = 130

    def __init__(self, message: str = "Cancelled."):
        super().__init__(message)


class EncryptionError(SecondMeError):
    """The store is encrypted and the key is missing or wrong."""


class JobError(SecondMeError):
    """A background job failed or cannot be run right now."""
