"""A read-only view of what a person points us at: one file, a folder, or a ZIP.

Formats are detected by content, and exports arrive as the ZIP a service hands out or
as its extracted folder, so parsers read through this one interface and never care
which it is. Paths inside a tree are POSIX-style and relative.
"""
from __future__ import annotations

import io
import os
import stat
import zipfile
from pathlib import Path
from typing import BinaryIO

from ..errors import ImportFormatError

SKIP_DIRS = {".git", ".obsidian", ".trash", "__MACOSX", ".DS_Store"}


class Tree:
    """Base class. ``label`` names the tree in messages (the path the person gave)."""

    label: str

    def files(self) -> list[str]:
        raise NotImplementedError

    def open(self, rel: str) -> BinaryIO:
        raise NotImplementedError

    def size(self, rel: str) -> int:
        raise NotImplementedError

    def display(self, rel: str) -> str:
        """A path a person recognises, for messages and document identity."""
        raise NotImplementedError

    def read_bytes(self, rel: str, limit: int | None = None) -> bytes:
        with self.open(rel) as f:
            return f.read() if limit is None else f.read(limit)

    def head(self, rel: str, n: int = 4096) -> bytes:
        return self.read_bytes(rel, n)

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class FileTree(Tree):
    def __init__(self, path: Path):
        self.path = path
        self.label = str(path)

    def files(self) -> list[str]:
        return [self.path.name]

    def open(self, rel: str) -> BinaryIO:
        return open_regular(self.path)

    def size(self, rel: str) -> int:
        return self.path.stat().st_size

    def display(self, rel: str) -> str:
        return str(self.path)


class DirTree(Tree):
    """A folder. Only regular files inside it are read: a link to something outside the
    folder (``/etc/passwd``) and pipes, sockets and devices (reading a FIFO waits
    forever) are left out and listed in ``refused`` with the reason."""

    def __init__(self, path: Path):
        self.path = path
        self.label = str(path)
        self._files: list[str] | None = None
        self.refused: list[tuple[str, str]] = []

    def files(self) -> list[str]:
        if self._files is None:
            out = []
            root_real = os.path.realpath(self.path)
            for root, dirs, names in os.walk(self.path):
                dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
                for d in dirs:
                    full = Path(root) / d
                    if os.path.islink(full) and _outside(full, root_real):
                        # os.walk never descends into it; say so
                        self.refused.append((str(full), "a link to a folder outside the "
                                                         "folder; not followed"))
                for n in sorted(names):
                    if n in SKIP_DIRS:
                        continue
                    full = Path(root) / n
                    why = _refusal(full, root_real)
                    if why:
                        self.refused.append((str(full), why))
                        continue
                    out.append(full.relative_to(self.path).as_posix())
            self._files = out
        return self._files

    def open(self, rel: str) -> BinaryIO:
        return open_regular(self.path / rel)

    def size(self, rel: str) -> int:
        return (self.path / rel).stat().st_size

    def display(self, rel: str) -> str:
        return str(self.path / rel)


class ZipTree(Tree):
    def __init__(self, path: Path):
        self.path = path
        self.label = str(path)
        try:
            self._zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as e:
            raise ImportFormatError(f"not a readable ZIP archive ({e})", path=path) from e
        self._names = [
            i.filename for i in self._zip.infolist()
            if not i.is_dir() and not any(p in SKIP_DIRS for p in i.filename.split("/"))
        ]

    def files(self) -> list[str]:
        return list(self._names)

    def open(self, rel: str) -> BinaryIO:
        try:
            return self._zip.open(rel)  # streams; never loads the member into memory
        except (zipfile.BadZipFile, KeyError, OSError) as e:
            raise ImportFormatError(f"cannot read {rel} from the archive ({e})",
                                    path=self.path) from e

    def size(self, rel: str) -> int:
        return self._zip.getinfo(rel).file_size

    def display(self, rel: str) -> str:
        return f"{self.path}!{rel}"

    def close(self) -> None:
        self._zip.close()


class SubTree(Tree):
    """A folder inside another tree (a ZIP whose export sits under one top folder)."""

    def __init__(self, parent: Tree, prefix: str):
        self.parent = parent
        self.prefix = prefix.rstrip("/") + "/"
        self.label = parent.display(prefix)

    def files(self) -> list[str]:
        n = len(self.prefix)
        return [f[n:] for f in self.parent.files() if f.startswith(self.prefix)]

    def open(self, rel: str) -> BinaryIO:
        return self.parent.open(self.prefix + rel)

    def size(self, rel: str) -> int:
        return self.parent.size(self.prefix + rel)

    def display(self, rel: str) -> str:
        return self.parent.display(self.prefix + rel)


def _outside(link: Path, root_real: str) -> bool:
    return os.path.commonpath([root_real, os.path.realpath(link)]) != root_real


def _refusal(full: Path, root_real: str) -> str:
    """Why the folder entry ``full`` is not read, or "" when it is a regular file inside."""
    if os.path.islink(full) and _outside(full, root_real):
        return "a link to a file outside the folder; not followed"
    try:
        st = os.stat(full)
    except OSError:
        return "a broken link or an unreadable entry"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file (a pipe, socket or device)"
    return ""


def open_regular(path: Path) -> BinaryIO:
    """Open ``path`` for reading only if it is a regular file.

    Opened non-blocking and checked with fstat before any read, so a FIFO put (or
    swapped) in place of a file is refused at once instead of waiting forever for a
    writer. Raises ImportFormatError.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        raise ImportFormatError(f"cannot read the file ({e.strerror})", path=path) from e
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ImportFormatError("not a regular file (a pipe, socket or device)",
                                    path=path)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def open_tree(path: str | os.PathLike) -> Tree:
    """A Tree for ``path``. Raises ImportFormatError if it does not exist or is unreadable."""
    p = Path(path).expanduser()
    if not p.exists():
        raise ImportFormatError("no such file or folder", path=p)
    if p.is_dir():
        return DirTree(p)
    try:
        with open_regular(p) as f:
            magic = f.read(4)
    except OSError as e:
        raise ImportFormatError(f"cannot read the file ({e.strerror})", path=p) from e
    if magic[:4] == b"PK\x03\x04" and zipfile.is_zipfile(p):
        return ZipTree(p)
    return FileTree(p)


def text_stream(raw: BinaryIO, encoding: str = "utf-8") -> io.TextIOWrapper:
    """Decode a binary stream, dropping a BOM; undecodable bytes raise (callers report)."""
    return io.TextIOWrapper(raw, encoding="utf-8-sig" if encoding == "utf-8" else encoding,
                            newline="")
