"""ImportOps: the service's import actions (mixed into :class:`secondme.service.SecondMe`)."""
from __future__ import annotations

import logging
import os
from typing import Iterable, Optional, Sequence

from ..api import DetectedSource, ImportReport, SourceReport
from ..errors import Cancelled, DataDirError, ImportFormatError
from ..progress import CancelToken, ProgressFn
from ..recall import keywords
from ..recall.windows import update_windows
from .common import ParseContext, resolve_zone
from .pipeline import Importer, describe, me_names

log = logging.getLogger(__name__)

__all__ = ["ImportOps", "DetectedSource", "ImportReport", "SourceReport"]


class ImportOps:
    """Detect and import chat exports and documents."""

    def detect(self, path: str | os.PathLike, format: Optional[str] = None) -> DetectedSource:
        """What ``path`` (a file, folder or ZIP) holds, detected by content.

        Reads only the beginnings of files. Raises ImportFormatError when the path does
        not exist or holds nothing importable.
        """
        return describe(path, format)

    def import_paths(self, paths: Sequence[str | os.PathLike] | str | os.PathLike, *,
                     format: Optional[str] = None, me: Iterable[str] | str | None = None,
                     timezone: Optional[str] = None,
                     progress: Optional[ProgressFn] = None,
                     cancel: Optional[CancelToken] = None,
                     raise_on_failure: bool = True) -> ImportReport:
        """Import chat exports and documents from ``paths`` (files, folders, ZIPs).

        ``format`` forces a format (see ``secondme.ingest.formats.format_choices``);
        ``me`` adds names that mean the user (besides settings ``me_name`` and
        ``me_aliases``); ``timezone`` (IANA name) is the zone of exports whose
        timestamps carry none — default: settings ``import_timezone``, else the
        system's. Idempotent: a second import of the same export adds nothing.

        Each conversation is stored in its own transaction; broken conversations are
        listed in the report's ``errors`` and the rest still import. When *every* path
        failed entirely, raises ImportFormatError naming the file, position and problem
        (unless ``raise_on_failure`` is False). Cancelling stops between conversations
        and raises Cancelled (what was stored stays consistent; importing again
        finishes the job). Emits ``import_did_finish(report=...)`` when done.
        Thread-safety: may run on a worker thread; writes are serialised by the store.
        """
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        if isinstance(me, str):
            me = [me]
        settings = self.settings
        zone, label = resolve_zone(timezone or settings.import_timezone or None)
        ctx = ParseContext(zone=zone, zone_label=label, me_names=me_names(
            [*(me or ()), settings.me_name, *settings.me_aliases]))
        importer = Importer(self.store, me=ctx.me_names, ctx=ctx, progress=progress,
                            cancel=cancel, on_chunks_removed=self._chunks_removed)
        rep = ImportReport()
        try:
            for i, p in enumerate(paths, 1):
                rep.sources.append(importer.import_path(p, format, i, len(paths)))
            if rep.messages_added:
                self._window_messages(progress, cancel)
        except DataDirError as e:  # the disk filled: report what was imported before
            if getattr(e, "source_report", None) is not None:
                rep.sources.append(e.source_report)
            e.report = rep  # (no import_did_finish: indexing would only fill it more)
            raise
        except Cancelled as e:
            e.report = rep  # what was imported before the cancel stays imported
            if rep.sources:
                self.hooks.emit("import_did_finish", report=rep)
            raise
        self.hooks.emit("import_did_finish", report=rep)
        if raise_on_failure and rep.sources and all(s.failed for s in rep.sources):
            first = rep.sources[0].errors[0] if rep.sources[0].errors else {}
            more = sum(len(s.errors) for s in rep.sources) - 1
            err = ImportFormatError(
                (first.get("problem") or "nothing could be imported")
                + (f" (and {more} more problem{'s' if more != 1 else ''})" if more > 0 else ""),
                path=first.get("file") or rep.sources[0].path,
                position=first.get("position"))
            err.report = rep
            raise err
        return rep

    def _window_messages(self, progress: Optional[ProgressFn],
                         cancel: Optional[CancelToken]) -> None:
        """Index the new messages with their neighbours (``message_windows``) before the
        import returns: keyword search is ready when the import says so, instead of the
        first search waiting for it. A failure here leaves the import standing (the next
        search builds what is missing); a cancel stops it like the import."""
        gap = self.settings.session_gap_minutes
        # meanwhile, on a thread, the keyword index search ranks with (what is newer than
        # it is ranked by SQLite: searchable either way, fast once it is saved)
        try:
            kw: Optional[keywords.Refresh] = keywords.Refresh(self.store, gap, cancel=cancel,
                                                              background=True)
        except Exception:  # noqa: BLE001
            log.exception("indexing keywords after the import failed")
            kw = None
        try:
            update_windows(self.store, gap_minutes=gap, progress=progress, cancel=cancel)
        except (Cancelled, DataDirError):
            if kw is not None:
                kw.abandon()
            raise
        except Exception:  # noqa: BLE001
            log.exception("indexing message windows after the import failed")
        if kw is None:
            return
        try:
            kw.finish(progress)
        except (Cancelled, DataDirError):
            raise
        except Exception:  # noqa: BLE001
            log.exception("indexing keywords after the import failed")

    def _chunks_removed(self, labels: list[int]) -> None:
        """Drop from the loaded vector index the vectors of chunks a changed document
        replaced (their ``vector_items`` rows went with them; a closed index reconciles
        itself with ``vector_items`` when it is next opened)."""
        if self._vectors is not None and labels:
            self._vectors.remove(labels)
