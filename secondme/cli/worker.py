"""The worker process: runs one import or job for the desktop app (``secondme.worker``).

Started as ``python -P -c "…secondme.cli.worker.main()"`` (``<app> _worker`` in the bundled app) by
:func:`secondme.worker.run_in_worker`, never by a person. It reads one request line on
stdin, opens the same service, runs the operation and writes JSON lines (hello,
progress, hooks, one outcome) on a private copy of its stdout; anything else printed
goes to stderr (the data dir's ``logs/worker.log``). It imports the core only — never
Qt — and cancels its work on ``{"cmd": "cancel"}``, on SIGTERM or when its stdin closes
(the app is gone), stopping at the next unit of work. See :mod:`secondme.worker`.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
import traceback
from typing import Any, Callable, TextIO

import click

from ..errors import Cancelled, SecondMeError
from ..progress import CancelToken, Progress

PROGRESS_INTERVAL_S = 0.05   # at most 20 progress lines a second (the app shows 10)


class Channel:
    """The child's end of the pipe: one JSON object per line, from any thread."""

    def __init__(self, out: TextIO):
        self._out = out
        self._lock = threading.Lock()
        self.broken = False
        self._last_progress = 0.0

    def send(self, kind: str, **fields: Any) -> None:
        from ..api import to_jsonable

        line = json.dumps({"t": kind, **to_jsonable(fields)}, ensure_ascii=False,
                          default=str)
        with self._lock:
            if self.broken:
                return
            try:
                self._out.write(line + "\n")
                self._out.flush()
            except (OSError, ValueError):
                self.broken = True   # the app is gone: nobody listens any more

    def progress(self, p: Progress) -> None:
        now = time.monotonic()
        final = p.total is not None and p.done >= p.total
        if not final and now - self._last_progress < PROGRESS_INTERVAL_S:
            return
        self._last_progress = now
        self.send("progress", p={"stage": p.stage, "done": p.done, "total": p.total,
                                 "message": p.message})


def _private_stdout() -> TextIO:
    """A copy of stdout for the protocol; fd 1 and ``sys.stdout`` then point at stderr,
    so a stray print (ours or a library's, Python or C) cannot corrupt the protocol."""
    fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(fd, "w", encoding="utf-8", buffering=1)


def _watch_parent(token: CancelToken) -> None:
    """Cancel on ``{"cmd": "cancel"}`` or when stdin closes (the app is gone)."""
    for line in sys.stdin:
        try:
            if json.loads(line).get("cmd") == "cancel":
                token.cancel()
        except ValueError:
            pass
    token.cancel()


def _on_sigterm(token: CancelToken) -> Callable[..., None]:
    def handler(signum, frame) -> None:  # noqa: ARG001 - signal API
        if token.cancelled:       # a second SIGTERM: stop now (transactions roll back)
            raise KeyboardInterrupt
        token.cancel()
    return handler


def open_service(spec: dict):
    """The service described by a :class:`secondme.worker.WorkerSpec` dict."""
    from ..service import SecondMe

    kw: dict[str, Any] = {}
    emb = spec.get("embedder") or {"kind": "default"}
    if emb.get("kind") == "hash":
        from ..models.embed import HashEmbedder

        kw["embedder"] = HashEmbedder(dim=int(emb["dim"]), model_id=str(emb["model_id"]))
    if spec.get("key"):
        from ..store.crypto import SQLCipherConnector

        kw["connector"] = SQLCipherConnector(bytes.fromhex(spec["key"]))
    return SecondMe(spec["home"], **kw)


def run_op(sm: Any, op: str, args: dict, progress: Callable[[Progress], None],
           token: CancelToken) -> Any:
    if op == "import_paths":
        a = dict(args)
        paths = a.pop("paths")
        return sm.import_paths(paths, progress=progress, cancel=token, **a)
    if op == "run_job":
        return sm.job_runner.run(args["name"], progress=progress, cancel=token,
                                 trigger=args.get("trigger", "manual"))
    raise ValueError(f"unknown worker operation {op!r}")


def serve(request: dict, chan: Channel, token: CancelToken) -> bool:
    """Open the service, run the request's op, close the service, report the outcome
    (after closing: everything is committed before the app reads it). Returns True
    when a second SIGTERM interrupted the work where it was (not at a unit's end)."""
    from ..worker import FORWARDED_HOOKS, encode_error

    outcome: tuple[str, dict]
    sm = None
    interrupted = False
    try:
        token.raise_if_cancelled()
        sm = open_service(request["service"])
        for name in FORWARDED_HOOKS:
            sm.hooks.connect(name, lambda _n=name, **payload: chan.send(
                "hook", name=_n, payload=payload))
        # the app holds the vector index: this process never loads a second copy; the
        # vectors it writes go to the database, and the app's index reads them by label
        sm.vector_role = "worker"
        if request["op"] == "run_job":
            sm.store_only_index().on_add = lambda labels: chan.send("vectors", added=labels)
        value = run_op(sm, request["op"], request.get("args") or {}, chan.progress, token)
        outcome = ("result", {"value": value})
    except KeyboardInterrupt:
        interrupted = True
        outcome = ("error", {"error": encode_error(Cancelled("Cancelled (interrupted)."))})
    except SecondMeError as e:
        outcome = ("error", {"error": encode_error(e)})
    except BaseException as e:  # a bug: the app logs its traceback
        outcome = ("crash", {"type": type(e).__name__, "message": str(e),
                             "traceback": traceback.format_exc()})
    finally:
        if sm is not None:
            try:
                sm.close()
            except BaseException:
                traceback.print_exc()
    chan.send(outcome[0], **outcome[1])
    return interrupted


def main() -> int:
    chan = Channel(_private_stdout())
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    line = sys.stdin.readline()
    if not line:
        return 2
    request = json.loads(line)
    token = CancelToken()
    signal.signal(signal.SIGTERM, _on_sigterm(token))
    threading.Thread(target=_watch_parent, args=(token,), name="secondme-worker-stdin",
                     daemon=True).start()
    nice = int(request.get("nice") or 0)
    if nice and hasattr(os, "nice"):
        try:
            os.nice(nice)
        except OSError:
            pass
    chan.send("hello", pid=os.getpid(), qt="PySide6" in sys.modules)
    if serve(request, chan, token):
        # interrupted mid-unit, a library thread (the index writer in hnswlib) may still
        # be in native code: the interpreter's teardown around it would abort the process
        # (see secondme.cli.base.leave_now); the outcome is sent, the service closed
        from .base import leave_now

        leave_now(0)
    return 0


@click.command("_worker", hidden=True)
def worker_command() -> None:
    """Run one import or job for the desktop app (internal; reads JSON on stdin)."""
    sys.exit(main())


if __name__ == "__main__":
    sys.exit(main())
