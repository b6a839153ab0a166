"""Downloading a capable GGUF model: resumable, checksum-verified, cancellable.

The embedded default model is tiny (see docs/models.md); a person who wants real fact
extraction and written answers downloads one of :data:`CATALOGUE` (or any GGUF URL)
and points secondme at it. :func:`download_model`:

* writes to ``<name>.part`` and asks the server for the rest with an HTTP ``Range``
  request, so an interrupted or cancelled download continues where it stopped (also
  after a restart); a server that ignores ranges makes it start again from zero;
* verifies the sha256: the one given (from the catalogue), else the one the server
  states in ``X-Linked-Etag`` / ``ETag`` when that is a sha256 (Hugging Face does);
  a mismatch deletes the ``.part`` and raises :class:`ModelError` — a damaged download
  is never reported as a success;
* checks the GGUF magic of ``.gguf`` files (an HTML error page saved as a model is a
  classic failure), then renames the ``.part`` into place atomically;
* reports progress in bytes (stage ``"downloading"``) and honours ``cancel`` between
  1 MiB blocks, keeping the ``.part`` for a later resume.

Standard library only (urllib). Thread-safety: one download per destination file at a
time (a second concurrent call for the same file raises ModelError).
"""
from __future__ import annotations

import json
import os
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..errors import Cancelled, ModelError
from ..paths import open_private, private_dir
from ..progress import CancelToken, ProgressFn, check, report

BLOCK = 1024 * 1024
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_active: set[str] = set()
_active_lock = threading.Lock()


@dataclass(frozen=True)
class CatalogueEntry:
    """A recommended capable model. ``size_mb`` is approximate (for the download
    dialog); ``sha256`` is None where we have not pinned it: the server's checksum
    header is then used, and a download is still never accepted half-written."""

    name: str
    url: str
    size_mb: int
    sha256: Optional[str]
    description: str
    licence: str

    @property
    def filename(self) -> str:
        return urllib.parse.unquote(urllib.parse.urlsplit(self.url).path.rsplit("/", 1)[-1])


# Instruction-tuned models at Q4_K_M (small enough for a CPU laptop), smallest first.
# Not benchmarked here (no internet on the build machines); sizes are approximate.
# Hugging Face serves LFS files with the sha256 in X-Linked-Etag, which download_model
# checks.
CATALOGUE: list[CatalogueEntry] = [
    CatalogueEntry(
        "Qwen2.5 1.5B Instruct (Q4_K_M)",
        "https://huggingface.co/Qwen/Qwen2.5-1.5B-Instruct-GGUF/resolve/main/"
        "qwen2.5-1.5b-instruct-q4_k_m.gguf",
        1100, None, "1.5B parameters: the smallest and fastest of the three", "Apache-2.0"),
    CatalogueEntry(
        "Llama 3.2 3B Instruct (Q4_K_M)",
        "https://huggingface.co/bartowski/Llama-3.2-3B-Instruct-GGUF/resolve/main/"
        "Llama-3.2-3B-Instruct-Q4_K_M.gguf",
        2020, None, "3B parameters", "Llama 3.2 Community"),
    CatalogueEntry(
        "Qwen2.5 3B Instruct (Q4_K_M)",
        "https://huggingface.co/Qwen/Qwen2.5-3B-Instruct-GGUF/resolve/main/"
        "qwen2.5-3b-instruct-q4_k_m.gguf",
        2100, None, "3B parameters", "Qwen Research"),
]


def catalogue_entry(name: str) -> CatalogueEntry:
    """The catalogue entry whose name (or file name) is ``name``, case-insensitive.
    Raises ModelError listing the known names."""
    for e in CATALOGUE:
        if name.lower() in (e.name.lower(), e.filename.lower()):
            return e
    raise ModelError(f"no recommended model is called {name!r}; choose one of: "
                     + "; ".join(e.name for e in CATALOGUE))


def _sha_from_headers(headers) -> Optional[str]:
    for h in ("X-Linked-Etag", "ETag"):
        v = headers.get(h)
        if not v:
            continue
        v = v.strip()
        if v.startswith("W/"):
            v = v[2:]
        v = v.strip('"').lower()
        if _SHA256_RE.match(v):
            return v
    return None


def _filename_for(url: str) -> str:
    name = urllib.parse.unquote(urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1])
    name = re.sub(r"[^\w.\-]+", "_", name).strip("._")
    if not name:
        raise ModelError(f"cannot tell a file name from the URL {url!r}; pass filename=")
    return name


def download_model(url: str, dest_dir, *, sha256: Optional[str] = None,
                   filename: Optional[str] = None, progress: Optional[ProgressFn] = None,
                   cancel: Optional[CancelToken] = None, timeout: float = 30.0,
                   retries: int = 3) -> Path:
    """Download ``url`` into ``dest_dir`` and return the final path.

    Resumes from ``<file>.part`` when present; retries a dropped connection up to
    ``retries`` times (each retry resumes). ``sha256`` (hex) is checked if given, else
    the server's checksum header if it has one. If the final file already exists and
    matches ``sha256`` it is returned at once. Progress is in bytes.

    Raises ModelError (HTTP error, unreachable server, checksum mismatch — the partial
    file is deleted —, not a GGUF file, disk full) or Cancelled (the ``.part`` is kept).
    """
    dest_dir = Path(dest_dir).expanduser()
    name = filename or _filename_for(url)
    final = dest_dir / name
    part = dest_dir / (name + ".part")
    meta_path = dest_dir / (name + ".part.json")
    expected = sha256.lower() if sha256 else None
    if expected and not _SHA256_RE.match(expected):
        raise ModelError(f"{sha256!r} is not a sha256 checksum (64 hex digits)")
    try:
        private_dir(dest_dir)
    except OSError as e:
        raise ModelError(f"cannot create the download folder: {e.strerror}",
                         path=dest_dir) from e
    key = str(final.resolve())
    with _active_lock:
        if key in _active:
            raise ModelError("this model is already being downloaded", path=final)
        _active.add(key)
    try:
        if final.exists() and expected:
            from .bundled import sha256_file

            if sha256_file(final, progress, cancel, stage="verifying download") == expected:
                return final
        attempt = 0
        while True:
            try:
                got_sha = _fetch(url, part, meta_path, expected, progress, cancel, timeout)
                break
            except _Retryable as e:
                attempt += 1
                if attempt > retries:
                    raise ModelError(f"the download was interrupted {attempt} times ({e}); "
                                     "run it again to resume", path=url) from None
                check(cancel)
                time.sleep(min(2.0, 0.2 * attempt))
        if name.lower().endswith(".gguf"):
            with open(part, "rb") as f:
                if f.read(4) != b"GGUF":
                    _unlink(part)
                    _unlink(meta_path)
                    raise ModelError("the server sent something that is not a GGUF model "
                                     "(an error page?); nothing was kept", path=url)
        os.replace(part, final)
        _unlink(meta_path)
        from .bundled import _remember_verified

        if got_sha:
            _remember_verified(final, got_sha)
        return final
    finally:
        with _active_lock:
            _active.discard(key)


class _Retryable(Exception):
    """The connection dropped mid-way: resume from the .part."""


def _unlink(p: Path) -> None:
    try:
        p.unlink()
    except FileNotFoundError:
        pass


def _fetch(url: str, part: Path, meta_path: Path, expected: Optional[str],
           progress: Optional[ProgressFn], cancel: Optional[CancelToken],
           timeout: float) -> Optional[str]:
    """One request: continue ``part`` and verify. Returns the verified sha256 or None."""
    check(cancel)
    have = part.stat().st_size if part.exists() else 0
    meta = {}
    if have:
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            meta = {}
        if meta.get("url") != url:
            have = 0  # a .part of some other URL: start over
    headers = {"User-Agent": "secondme-model-download", "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
        if meta.get("validator"):
            headers["If-Range"] = meta["validator"]
    req = urllib.request.Request(url, headers=headers)
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:
            # nothing left to send: the .part may already be complete
            total = _total_from_content_range(e.headers.get("Content-Range"))
            e.close()
            if total == have:
                return _verify(part, expected or meta.get("sha256"), url, meta_path,
                               progress, cancel)
            _unlink(part)
            _unlink(meta_path)
            raise _Retryable("the server refused to resume; starting again") from None
        e.close()
        raise ModelError(f"the server answered HTTP {e.code} {e.reason}", path=url) from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise ModelError(f"cannot reach the download server ({reason}); check the "
                         "connection and try again", path=url) from None
    with resp:
        status = resp.status
        if status == 206 and have:
            start = _start_from_content_range(resp.headers.get("Content-Range"))
            if start != have:
                _unlink(part)
                raise _Retryable("the server resumed at the wrong offset; starting again")
            mode = "ab"
            total = _total_from_content_range(resp.headers.get("Content-Range"))
        else:
            have = 0
            mode = "wb"
            length = resp.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
        server_sha = _sha_from_headers(resp.headers)
        validator = resp.headers.get("ETag") or resp.headers.get("Last-Modified")
        want = expected or server_sha or (meta.get("sha256") if mode == "ab" else None)
        meta_path.write_text(json.dumps({"url": url, "validator": validator, "sha256": want,
                                         "total": total}))
        done = have
        report(progress, "downloading", done, total)
        try:
            with open_private(part, mode) as out:
                while True:
                    if cancel is not None and cancel.cancelled:
                        raise Cancelled("Download cancelled; it will resume where it stopped.")
                    try:
                        block = resp.read(BLOCK)
                    except (OSError, ValueError) as e:  # incl. http.client.IncompleteRead
                        raise _Retryable(str(e) or type(e).__name__) from None
                    if not block:
                        break
                    out.write(block)
                    done += len(block)
                    report(progress, "downloading", done, total)
        except OSError as e:
            raise ModelError(f"cannot write the download: {e.strerror}", path=part) from e
        if total is not None and done < total:
            raise _Retryable(f"the connection closed after {done} of {total} bytes")
    return _verify(part, want, url, meta_path, progress, cancel)


def _verify(part: Path, want: Optional[str], url: str, meta_path: Path,
            progress: Optional[ProgressFn], cancel: Optional[CancelToken]) -> Optional[str]:
    from .bundled import sha256_file

    got = sha256_file(part, progress, cancel, stage="verifying download")
    if want and got != want:
        _unlink(part)
        _unlink(meta_path)
        raise ModelError(f"the downloaded file is damaged: its sha256 is {got[:16]}… but "
                         f"should be {want[:16]}…; it was deleted, download it again",
                         path=url)
    return got if want else None


def _total_from_content_range(v: Optional[str]) -> Optional[int]:
    m = re.match(r"bytes\s+(?:\d+-\d+|\*)/(\d+)", v or "")
    return int(m.group(1)) if m else None


def _start_from_content_range(v: Optional[str]) -> Optional[int]:
    m = re.match(r"bytes\s+(\d+)-\d+/", v or "")
    return int(m.group(1)) if m else None


__all__ = ["CATALOGUE", "CatalogueEntry", "catalogue_entry", "download_model"]
