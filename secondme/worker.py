"""Worker processes: an import or memory formation runs in a separate Python process.

Why (issue 14): a worker *thread* that holds the GIL inside one long C call (parsing a
large export, a regex over a long text, SQLite statements, an hnswlib call) stops every
other thread of the process for as long — the desktop app's GUI thread included
(stalls of 338 ms during an import and 808 ms during formation were measured with a
thread-based runner). A process has its own interpreter and GIL, so the window never
waits for it.

The parent (this module, in the app's process) and the child (:mod:`secondme.cli.worker`)
talk JSON, one object per line:

- parent → child, on the child's stdin: the request ``{"op", "args", "service"}`` (how
  to open the same service: data dir, embedder, the encrypted store's key), then
  ``{"cmd": "cancel"}`` when the person cancels. End of file (the parent died or gave
  up) cancels too, so a child never outlives the app by more than one unit of work.
- child → parent, on a private copy of its stdout (stray prints go to stderr):
  ``hello`` (pid), ``progress``, ``hook`` (the core's hooks, re-emitted here so the
  window hears ``notes_did_change``, ``job_did_progress`` … as before), and one outcome:
  ``result``, ``error`` (a SecondMeError: rebuilt here with the same class and message)
  or ``crash`` (any other exception: its type, message and traceback).

Start: ``subprocess`` runs ``secondme.cli.worker.main`` in ``python -P -c``
(``<app> _worker`` in the bundled app): a fresh interpreter (spawn semantics — the Qt
process is never forked into a child that runs Python; ``subprocess`` forks and execs
in C), which imports the core only, never Qt. Its stderr goes to
``<data dir>/logs/worker.log``.

Cancel: the cancel message, and on POSIX SIGTERM, whose handler only cancels the
child's token: the operation stops at its next unit of work (a conversation, a window,
a batch), commits nothing half-done, releases its job lease and reports ``Cancelled``.
A child still running ``CANCEL_GRACE_S`` later is killed (SQLite rolls back the open
transaction; a lease of a dead process is taken over).

The child holds no vector index (at 1M messages ~0.8 GB, a second copy beside the
app's): it writes vectors to the database only (``vector_role = "worker"``,
:class:`~secondme.store.vectors.StoreOnlyIndex`) and reports their labels; the parent's
loaded index catches up with the database (:meth:`VectorIndex.sync`) as they come, so
answers find what was just imported and formed, and is saved when the run ends.

Only operations listed in :data:`OPS` run in a worker. A service opened with objects
another process cannot rebuild (an injected LLM, clock or foreign embedder — tests) runs
them on the calling thread instead: :meth:`WorkerOps.worker_spec` says which.
"""
from __future__ import annotations

import json
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from . import errors as _errors
from .api import ImportReport, SourceReport, to_jsonable
from .errors import Cancelled, JobError, SecondMeError
from .lifecycle.scheduler import JobRunner, RunState
from .paths import LOG_DIR, WORKER_LOG_FILE
from .progress import CancelToken, Progress, ProgressFn
from .store.crypto.ciphers import SQLCipherConnector
from .store.db import PlainConnector

log = logging.getLogger(__name__)

#: what may run in a worker process: op name -> what it returns
OPS = ("import_paths", "run_job")
#: jobs the app runs in a worker process (the others are short or need the app's own
#: loaded vector index: upkeep compacts it)
WORKER_JOBS = ("extract",)
#: seconds a cancelled child gets to stop at its next unit of work before it is killed
CANCEL_GRACE_S = 30.0
#: the child's scheduling priority (POSIX nice): the window is served first
NICENESS = {"import_paths": 5, "run_job": 10}
#: hooks a child forwards (settings never change in a child)
FORWARDED_HOOKS = ("notes_did_change", "import_did_finish", "job_did_progress",
                   "job_did_finish", "index_did_change")
#: while a child runs, the app's vector index reads the child's new vectors at most this
#: often (and once more at the end)
SYNC_INTERVAL_S = 10.0


class WorkerProcessError(Exception):
    """A bug in a worker process (not a SecondMeError). Raised in the parent as a
    subclass named after the child's exception type, so the window's "Internal error"
    line reads as it would have in-process; ``__ui_traceback__`` holds the child's
    traceback for the log."""


# -- how to open the same service in another process ------------------------------------
@dataclass
class WorkerSpec:
    """What a child needs to open the same service (JSON-ready)."""

    home: str
    embedder: dict            # {"kind": "default"} | {"kind": "hash", "dim", "model_id"}
    key: Optional[str] = None  # the encrypted store's key (hex), sent on stdin only


def worker_command() -> list[str]:
    """The command line that starts a child."""
    if getattr(sys, "frozen", False):     # the bundled app: its executable is the CLI
        return [sys.executable, "_worker"]
    # -P: nothing from the current directory shadows the app's modules
    return [sys.executable, "-P", "-c",
            "import sys; from secondme.cli.worker import main; sys.exit(main())"]


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    if not getattr(sys, "frozen", False):
        # the child imports the same secondme as this process, wherever it came from
        root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (root, env.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    return env


# -- encoding what crosses the pipe -----------------------------------------------------
def encode_error(e: BaseException) -> dict:
    """A SecondMeError as a message (``report`` kept: a cancelled import's partial one)."""
    rep = getattr(e, "report", None)
    return {"type": type(e).__name__, "message": getattr(e, "plain_message", str(e)),
            "path": getattr(e, "path", None), "position": getattr(e, "position", None),
            "report": to_jsonable(rep) if rep is not None else None}


def decode_import_report(data: Optional[dict]) -> Optional[ImportReport]:
    if data is None:
        return None
    return ImportReport(sources=[SourceReport(**s) for s in data.get("sources", [])])


def decode_error(data: dict) -> SecondMeError:
    """The SecondMeError a child reported, with the same class and message."""
    cls = getattr(_errors, data.get("type", ""), None)
    if not (isinstance(cls, type) and issubclass(cls, SecondMeError)):
        cls = SecondMeError
    e = cls.__new__(cls)
    SecondMeError.__init__(e, data.get("message") or "", path=data.get("path"),
                           position=data.get("position"))
    if data.get("report") is not None:
        e.report = decode_import_report(data["report"])  # type: ignore[attr-defined]
    return e


def decode_crash(data: dict, pid: Optional[int]) -> WorkerProcessError:
    name = str(data.get("type") or "Error")
    cls = type(name if name.isidentifier() else "Error", (WorkerProcessError,), {})
    e = cls(data.get("message") or "")
    e.__ui_traceback__ = (  # type: ignore[attr-defined]
        f"in the worker process{f' {pid}' if pid else ''}:\n{data.get('traceback', '')}")
    return e


def decode_result(op: str, value: Any) -> Any:
    return decode_import_report(value) if op == "import_paths" else value


def decode_hook(name: str, payload: dict) -> dict:
    if name == "import_did_finish":
        payload["report"] = decode_import_report(payload.get("report"))
    elif name == "job_did_progress" and isinstance(payload.get("progress"), dict):
        p = payload["progress"]
        payload["progress"] = Progress(p.get("stage", ""), p.get("done", 0), p.get("total"),
                                       p.get("message", ""))
    return payload


def _log_tail(path: Path, limit: int = 4000) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - limit))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


# -- the parent's side of one run -------------------------------------------------------
def _child_group() -> dict:
    """Popen arguments that put the child in a process group of its own, in the app's
    session: a Ctrl-C in the terminal that started the app reaches the app only (which
    cancels the child), and the child's nice value (:data:`NICENESS`) still yields to
    the window. A new session (``start_new_session``, as before) also put the child in
    a scheduling group of its own wherever Linux groups processes by session
    (``sched_autogroup``, on by default in most desktop kernels): the two groups then
    shared the CPU equally and the niceness did nothing — a search waited behind
    formation for half of two cores."""
    return {"process_group": 0} if os.name == "posix" else {}


class _Child:
    """One child process and the thread reading its messages."""

    def __init__(self, request: dict, log_path: Path):
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path = log_path
        with open(log_path, "ab") as logf:
            logf.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} worker: "
                       f"{request['op']}\n".encode())
            logf.flush()
            self.proc = subprocess.Popen(
                worker_command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=logf, env=_child_env(), close_fds=True,
                **_child_group())
        self.messages: queue.Queue = queue.Queue()
        self._stdin_lock = threading.Lock()
        self.send(request)
        self.reader = threading.Thread(target=self._read, name="secondme-worker-reader",
                                       daemon=True)
        self.reader.start()

    def _read(self) -> None:
        out = self.proc.stdout
        assert out is not None
        for line in out:
            try:
                self.messages.put(json.loads(line))
            except ValueError:
                log.warning("worker process wrote a line that is not JSON: %r", line[:200])
        self.messages.put(None)   # end of the child's output

    def send(self, obj: dict) -> None:
        with self._stdin_lock:
            try:
                stdin = self.proc.stdin
                if stdin is not None and not stdin.closed:
                    stdin.write((json.dumps(obj) + "\n").encode())
                    stdin.flush()
            except (OSError, ValueError):
                pass  # the child is gone; its exit code tells

    def cancel(self) -> None:
        self.send({"cmd": "cancel"})
        if os.name == "posix" and self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)   # its handler cancels gracefully
            except OSError:
                pass

    def close_stdin(self) -> None:
        with self._stdin_lock:
            try:
                if self.proc.stdin is not None:
                    self.proc.stdin.close()
            except OSError:
                pass


def run_in_worker(spec: WorkerSpec, op: str, args: dict, *,
                  progress: Optional[ProgressFn] = None,
                  cancel: Optional[CancelToken] = None,
                  on_hook: Optional[Callable[[str, dict], None]] = None,
                  on_start: Optional[Callable[[dict], None]] = None,
                  on_vectors: Optional[Callable[[list[int]], None]] = None,
                  log_path: Optional[Path] = None,
                  abandon: Optional[Callable[[], bool]] = None,
                  grace: float = CANCEL_GRACE_S) -> Any:
    """Run ``op(**args)`` of the service described by ``spec`` in a child process and
    wait for it on this thread (never the GUI thread: the waiting itself is cheap).

    ``progress``, ``on_hook(name, payload)``, ``on_vectors(labels)`` (labels the child
    added to the vector index) and ``on_start(hello)`` (the child's pid, once) are
    called on this thread as the child reports; ``cancel`` stops the child (see the
    module doc); ``abandon()`` true after a cancel stops waiting at once (the service is
    closing: the child finishes its unit of work on its own). Returns what the op
    returns; raises the child's SecondMeError (Cancelled included), or a
    :class:`WorkerProcessError` for a bug or a crash.
    """
    if op not in OPS:
        raise ValueError(f"{op!r} cannot run in a worker process")
    log_path = log_path or Path(spec.home) / LOG_DIR / WORKER_LOG_FILE
    child = _Child({"op": op, "args": args, "service": asdict(spec),
                    "nice": NICENESS.get(op, 10)}, log_path)
    pid: Optional[int] = None
    outcome: Optional[tuple[str, Any]] = None
    cancelled_at: Optional[float] = None
    killed = False
    try:
        while True:
            if cancel is not None and cancel.cancelled and cancelled_at is None:
                cancelled_at = time.monotonic()
                child.cancel()
            if cancelled_at is not None and child.proc.poll() is None:
                if abandon is not None and abandon():
                    child.close_stdin()
                    raise Cancelled()
                if time.monotonic() - cancelled_at > grace:
                    log.warning("worker process %s did not stop %.0f s after a cancel; "
                                "killing it", pid, grace)
                    child.proc.kill()
                    killed = True
                    cancelled_at = float("inf")
            try:
                msg = child.messages.get(timeout=0.05)
            except queue.Empty:
                continue
            if msg is None:
                break
            kind = msg.get("t")
            if kind == "hello":   # {"pid", "qt": whether Qt got loaded (it never should)}
                pid = msg.get("pid")
                if on_start is not None:
                    on_start(msg)
            elif kind == "progress" and progress is not None:
                p = msg["p"]
                progress(Progress(p.get("stage", ""), p.get("done", 0), p.get("total"),
                                  p.get("message", "")))
            elif kind == "vectors" and on_vectors is not None:
                on_vectors([int(x) for x in msg.get("added") or ()])
            elif kind == "hook" and on_hook is not None:
                on_hook(msg["name"], decode_hook(msg["name"], dict(msg.get("payload") or {})))
            elif kind in ("result", "error", "crash"):
                outcome = (kind, msg)
        child.close_stdin()
        try:
            rc = child.proc.wait(timeout=max(5.0, grace))
        except subprocess.TimeoutExpired:
            child.proc.kill()
            rc = child.proc.wait()
    except BaseException:
        child.close_stdin()
        raise
    if outcome is None:
        if killed or (cancel is not None and cancel.cancelled):
            raise Cancelled()
        raise decode_crash({"type": "WorkerProcessCrashed",
                            "message": f"the background process stopped unexpectedly "
                                       f"(exit code {rc})",
                            "traceback": _log_tail(log_path)}, pid)
    kind, msg = outcome
    if kind == "result":
        return decode_result(op, msg.get("value"))
    if kind == "error":
        raise decode_error(msg["error"])
    raise decode_crash(msg, pid)


# -- the job runner of an app whose formation runs in worker processes -------------------
class ProcessJobRunner(JobRunner):
    """:class:`JobRunner` that runs :data:`WORKER_JOBS` in a worker process when
    ``worker_processes`` is on (the desktop app turns it on with
    ``start_background(worker_processes=True)``) or when asked (``in_worker=True``).

    The run is registered in ``running`` like a local one, so the scheduler never starts
    it twice, ``jobs_list`` shows its live progress and ``cancel``/``cancel_all`` reach
    the child. The child takes the job's lease and records the run itself.
    """

    def __init__(self, sm: Any):
        super().__init__(sm)
        self.worker_processes = False

    def run(self, name: str, progress: Optional[ProgressFn] = None,
            cancel: Optional[CancelToken] = None, trigger: str = "manual",
            in_worker: Optional[bool] = None) -> dict:
        want = self.worker_processes if in_worker is None else in_worker
        spec = self.sm.worker_spec("run_job") if want and name in WORKER_JOBS else None
        if spec is None:
            return super().run(name, progress=progress, cancel=cancel, trigger=trigger)
        token = cancel or CancelToken()
        state = RunState(name, f"{self.host}:{os.getpid()}:worker-{uuid.uuid4().hex[:8]}",
                         token, self.sm.clock(), trigger)
        with self._lock:
            if name in self.running:
                raise JobError(f"the {name!r} job is already running in this app; wait "
                               "for it to finish or cancel it")
            self.running[name] = state

        def on_progress(p: Progress) -> None:
            state.progress = p
            if progress is not None:
                progress(p)

        try:
            return self.sm.run_spec_in_worker(spec, "run_job",
                                              {"name": name, "trigger": trigger},
                                              progress=on_progress, cancel=token)
        finally:
            with self._lock:
                self.running.pop(name, None)


# -- the service's side -----------------------------------------------------------------
class WorkerOps:
    """Mixed into :class:`secondme.service.SecondMe`: run an import or a job in a worker
    process, with progress, cancel, errors and hooks as if it ran here."""

    home: Path

    def worker_spec(self, op: str = "import_paths") -> Optional[WorkerSpec]:
        """How a worker process opens this service for ``op``, or None when it cannot:
        an injected clock, LLM (for a job) or embedder other than the hash one, or a
        custom database connector (tests) — the op then runs on the calling thread."""
        core: Any = self
        if core._clock_injected or (op == "run_job" and core._llm_injected):
            return None
        connector = core.store.connector
        key = None
        if isinstance(connector, SQLCipherConnector):
            key = connector.key_for_worker()
        elif not isinstance(connector, PlainConnector):
            return None
        if not core._embedder_injected:
            emb = {"kind": "default"}
        else:
            from .models.embed import HashEmbedder

            e = core._embedder
            if type(e) is not HashEmbedder:
                return None
            emb = {"kind": "hash", "dim": e.dim, "model_id": e.model_id}
        return WorkerSpec(home=str(self.home), embedder=emb, key=key)

    def run_in_worker_process(self, op: str, *, progress: Optional[ProgressFn] = None,
                              cancel: Optional[CancelToken] = None, **args: Any) -> Any:
        """Run ``op`` in a worker process and return its result:

        - ``"import_paths"``: ``paths`` (list of str) and the keywords of
          :meth:`import_paths` (``format``, ``me``, ``timezone``, ``raise_on_failure``);
          returns the ImportReport;
        - ``"run_job"``: ``name`` (and ``trigger``): runs the job under its lease
          (:data:`WORKER_JOBS` in a worker, other jobs here); returns its summary.

        Progress, cancel, errors (the same SecondMeError class and message) and the
        hooks the operation emits behave as when it runs here. When the service cannot
        be reopened in another process (:meth:`worker_spec` is None) the op runs on the
        calling thread.
        """
        sm: Any = self
        if op == "run_job":
            return sm.job_runner.run(args["name"], progress=progress, cancel=cancel,
                                     trigger=args.get("trigger", "manual"), in_worker=True)
        if op != "import_paths":
            raise ValueError(f"{op!r} cannot run in a worker process")
        spec = self.worker_spec(op)
        if spec is None:
            paths = args.pop("paths")
            return sm.import_paths(paths, progress=progress, cancel=cancel, **args)
        paths = args["paths"]
        args["paths"] = [os.path.abspath(p) for p in
                         ([paths] if isinstance(paths, (str, os.PathLike)) else paths)]
        return self.run_spec_in_worker(spec, op, args, progress=progress, cancel=cancel)

    def run_spec_in_worker(self, spec: WorkerSpec, op: str, args: dict, *,
                           progress: Optional[ProgressFn] = None,
                           cancel: Optional[CancelToken] = None) -> Any:
        """Run ``op`` in a child opened from ``spec``; relay its hooks; afterwards bring
        the loaded vector index in step with what the child wrote."""
        sm: Any = self
        pending: list[int] = []
        last_sync = [time.monotonic()]

        def on_vectors(labels: list[int]) -> None:
            pending.extend(labels)
            if time.monotonic() - last_sync[0] >= SYNC_INTERVAL_S:
                last_sync[0] = time.monotonic()
                self._catch_up_vectors(pending)
                pending.clear()

        def on_hook(name: str, payload: dict) -> None:
            sm.hooks.emit(name, **payload)

        try:
            return run_in_worker(spec, op, args, progress=progress, cancel=cancel,
                                 on_hook=on_hook, on_vectors=on_vectors,
                                 abandon=lambda: sm._closed)
        finally:
            self._catch_up_vectors(pending)
            self._catch_up_vectors(None)

    def _catch_up_vectors(self, changed: Optional[list[int]]) -> None:
        """The loaded vector index reads what a child wrote (``changed``: the labels it
        reported, or None at the end, when it is also saved). Labels are never reused
        (migration m403), so :meth:`VectorIndex.sync` finds them from the
        ``vector_state`` generation."""
        sm: Any = self
        vindex = sm._vectors
        if vindex is None or sm._closed or sm.store.closed or changed == []:
            return   # a closed index reconciles itself with the database when opened
        try:
            n = vindex.sync(sm.store)
        except Exception:
            log.exception("catching up with the vectors a worker process wrote failed")
            return
        if n:
            log.info("vector index: %d labels added or dropped by a worker process", n)
        if changed is None and vindex.dirty:
            # the worker holds no index of its own (it writes the database only): the
            # file other processes open — the CLI, the MCP server, this app after a
            # crash — is brought up to date here, once per run
            try:
                vindex.save()
            except Exception:
                log.exception("saving the vector index after a worker process failed")


__all__ = ["WorkerOps", "WorkerSpec", "ProcessJobRunner", "run_in_worker", "OPS",
           "WORKER_JOBS", "WorkerProcessError", "worker_command"]
