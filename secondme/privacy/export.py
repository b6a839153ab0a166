"""Export everything a person has: a Markdown vault of the notes plus a lossless dump."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from ..api import ExportReport
from ..errors import InvalidInput, SecondMeError
from ..paths import private_dir
from ..progress import CancelToken, ProgressFn
from ..store.db import Store
from .dump import DUMP_FILE, write_dump
from .vault import write_vault


def export_all(store: Store, home: Path, directory: str | os.PathLike, *,
               overwrite: bool = False, progress: Optional[ProgressFn] = None,
               cancel: Optional[CancelToken] = None) -> ExportReport:
    """Write the vault (:mod:`.vault`) and ``secondme-dump.json`` (:mod:`.dump`) of
    ``store`` to ``directory``.

    The export is NOT encrypted, so it must go outside the data directory ``home``.
    Raises InvalidInput when the directory is inside the data dir or not empty (unless
    ``overwrite``), SecondMeError when it cannot be written.
    """
    out = Path(directory).expanduser().resolve()
    home = Path(home).resolve()
    if out == home or home in out.parents:
        raise InvalidInput("export to a folder outside the data directory (the export is "
                           "not encrypted)", path=out)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise InvalidInput("the export folder is not empty; choose an empty one or "
                           "overwrite it", path=out)
    try:
        private_dir(out)  # the export is plain text: only its owner may read it
        notes = write_vault(store, out, progress=progress, cancel=cancel)
        tables = write_dump(store, out / DUMP_FILE, progress=progress, cancel=cancel)
    except OSError as e:
        raise SecondMeError(f"cannot write the export: {e.strerror or e}", path=out) from e
    return ExportReport(str(out), notes, str(out / DUMP_FILE), tables)
