"""Language models behind one small interface (see docs/ENGINEERING.md, "LLM interface").

Every backend has::

    llm.model_id: str
    llm.capable: bool   # False for the embedded tiny default: callers use deterministic paths
    llm.complete(prompt, *, max_tokens=256, temperature=0.0, stop=None,
                 json_schema=None, on_token=None, cancel=None) -> str
    llm.chat(messages, *, same keywords) -> str        # [{"role": ..., "content": ...}]

``json_schema`` constrains the output (a llama.cpp grammar, or the endpoint's
``response_format``); ``on_token(text)`` receives the output piece by piece as it is
generated, in order, and the pieces concatenate to the returned string; ``cancel`` (a
:class:`~secondme.progress.CancelToken`) stops generation between tokens and raises
:class:`~secondme.errors.Cancelled`.

Backends:

* :class:`LlamaCppLLM` — a local GGUF file through llama-cpp-python: the embedded
  default (``capable=False``) or a file the person picked (``capable=True``).
* :class:`OpenAICompatLLM` — an OpenAI-compatible chat-completions endpoint (Ollama,
  LM Studio, ...), standard library only; the API key comes from the OS keyring.
* :class:`ScriptedLLM` — the deterministic fake that tests use.

:func:`llm_from_settings` builds the configured one (cheaply: nothing loads until the
first generation); :func:`describe_configured_model` says what is configured and
whether it is there, without loading it (``secondme doctor`` uses it).

Nothing here imports llama_cpp at import time.
"""
from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Protocol, Sequence, Union

from ..errors import Cancelled, ModelError
from ..progress import CancelToken, ProgressFn, check, report

log = logging.getLogger(__name__)

GGUF_MAGIC = b"GGUF"
TokenFn = Callable[[str], None]
Messages = Sequence[dict]


class LLM(Protocol):
    """What every language-model backend provides (see the module docstring)."""

    model_id: str
    capable: bool

    def complete(self, prompt: str, *, max_tokens: int = 256, temperature: float = 0.0,
                 stop: Optional[Sequence[str]] = None, json_schema: Optional[dict] = None,
                 on_token: Optional[TokenFn] = None,
                 cancel: Optional[CancelToken] = None) -> str: ...

    def chat(self, messages: Messages, *, max_tokens: int = 256, temperature: float = 0.0,
             stop: Optional[Sequence[str]] = None, json_schema: Optional[dict] = None,
             on_token: Optional[TokenFn] = None,
             cancel: Optional[CancelToken] = None) -> str: ...


# -- shared helpers ---------------------------------------------------------------------
def plain_chat_prompt(messages: Messages) -> str:
    """The fallback chat template for models without one of their own.

    ``System: ...`` / ``User: ...`` / ``Assistant: ...`` blocks ending with an open
    ``Assistant:`` turn. Generation should stop at ``PLAIN_CHAT_STOP``.
    """
    names = {"system": "System", "user": "User", "assistant": "Assistant"}
    lines = []
    for m in messages:
        role = names.get(str(m.get("role", "user")), str(m.get("role", "user")).title())
        lines.append(f"{role}: {str(m.get('content', '')).strip()}")
    lines.append("Assistant:")
    return "\n\n".join(lines)


PLAIN_CHAT_STOP = ["\nUser:", "\nSystem:", "\n\nUser:"]


def _check_messages(messages: Messages) -> None:
    from ..errors import InvalidInput

    if not messages:
        raise InvalidInput("chat needs at least one message")
    for m in messages:
        if not isinstance(m, dict) or "content" not in m or "role" not in m:
            raise InvalidInput("each chat message must be a dict with 'role' and 'content'")


def check_gguf(path: Union[str, os.PathLike]) -> Path:
    """Check that ``path`` is a readable GGUF file (by its magic bytes). Cheap.

    Returns the path. Raises ModelError naming the file when it is missing, a folder,
    unreadable, empty or not GGUF.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise ModelError("the model file does not exist; choose a .gguf file in Settings",
                         path=p)
    if p.is_dir():
        raise ModelError("this is a folder, not a .gguf model file", path=p)
    try:
        with open(p, "rb") as f:
            head = f.read(8)
    except OSError as e:
        raise ModelError(f"cannot read the model file: {e.strerror}", path=p) from e
    if len(head) < 8:
        raise ModelError("the model file is empty or truncated", path=p)
    if head[:4] != GGUF_MAGIC:
        hint = " (it looks like an HTML page, not a model)" if head[:1] == b"<" else ""
        raise ModelError(f"not a GGUF model file{hint}; llama.cpp needs a .gguf file", path=p)
    return p


# -- llama.cpp --------------------------------------------------------------------------
class LlamaCppLLM:
    """A local GGUF model run by llama.cpp on the CPU.

    Construction is cheap: the file is opened on first use or by :meth:`load`, which the
    app calls on a worker thread (it takes from a fraction of a second for the embedded
    model to tens of seconds for a multi-GB file). ``prepare(progress, cancel) -> Path``,
    when given, is called before loading to produce the file (the embedded default is
    copied and verified into the data dir that way).

    Thread-safety: loading happens once under a lock; generations are serialised by a
    second lock (a llama.cpp context is single-threaded), so calls from several threads
    queue up. ``cancel`` may be set from any thread.
    """

    def __init__(self, path: Union[str, os.PathLike, None], *, n_ctx: int = 2048,
                 n_threads: int = 0, capable: bool = True, model_id: Optional[str] = None,
                 prepare: Optional[Callable[..., Path]] = None, seed: int = 1234):
        if path is None and prepare is None:
            raise ModelError("no model file given")
        self.path = Path(path).expanduser() if path is not None else None
        self.n_ctx = int(n_ctx) if n_ctx else 2048
        self.n_threads = int(n_threads) if n_threads and n_threads > 0 else default_threads()
        self.capable = capable
        self.seed = seed
        self._prepare = prepare
        self.model_id = model_id or f"gguf:{self.path.name if self.path else 'default'}"
        self._llama = None
        self._chat_template: Optional[str] = None
        self._bos = ""
        self._eos = ""
        self._load_lock = threading.Lock()
        self._gen_lock = threading.Lock()
        self.load_seconds: Optional[float] = None

    def __repr__(self) -> str:
        return f"LlamaCppLLM({str(self.path)!r}, capable={self.capable}, loaded={self.loaded})"

    @property
    def loaded(self) -> bool:
        """True once the model file is in memory."""
        return self._llama is not None

    @property
    def has_chat_template(self) -> bool:
        """Whether the GGUF carries its own chat template (valid after loading)."""
        return bool(self._chat_template)

    def load(self, progress: Optional[ProgressFn] = None,
             cancel: Optional[CancelToken] = None) -> None:
        """Load the model now (idempotent). Call it on a worker thread, never the GUI's.

        Raises ModelError naming the file when it is missing, not GGUF or rejected by
        llama.cpp; Cancelled when ``cancel`` fires while the file is being prepared.
        """
        if self._llama is not None:
            return
        with self._load_lock:
            if self._llama is not None:
                return
            t0 = time.perf_counter()
            if self._prepare is not None:
                self.path = Path(self._prepare(progress=progress, cancel=cancel))
            path = check_gguf(self.path)
            check(cancel)
            report(progress, "loading language model", 0, 1, path.name)
            try:
                import llama_cpp
            except ImportError as e:  # pragma: no cover - a broken install
                raise ModelError(f"llama-cpp-python is not installed ({e}); reinstall "
                                 "secondme") from e
            _quiet_llama_logs(llama_cpp)
            try:
                with _model_params(use_extra_bufts=_extra_buffers_safe()):
                    llama = llama_cpp.Llama(model_path=str(path), n_ctx=self.n_ctx,
                                            n_threads=self.n_threads,
                                            n_threads_batch=self.n_threads,
                                            n_gpu_layers=0, seed=self.seed, verbose=False)
            except Exception as e:  # llama.cpp reports every load failure as ValueError
                raise ModelError(f"llama.cpp could not load this model ({e}); the file may be "
                                 "damaged or use an architecture this llama.cpp does not know",
                                 path=path) from e
            meta = dict(getattr(llama, "metadata", {}) or {})
            self._chat_template = meta.get("tokenizer.chat_template") or None
            self._bos = _token_text(llama, llama.token_bos())
            self._eos = _token_text(llama, llama.token_eos())
            self._llama = llama
            self.load_seconds = time.perf_counter() - t0
            report(progress, "loading language model", 1, 1, path.name)

    def close(self) -> None:
        """Free the model's memory (it loads again on next use)."""
        with self._load_lock, self._gen_lock:
            llama, self._llama = self._llama, None
            if llama is not None:
                try:
                    llama.close()
                except Exception:  # older llama-cpp-python without close()
                    pass

    # -- generation ---------------------------------------------------------------------
    def complete(self, prompt: str, *, max_tokens: int = 256, temperature: float = 0.0,
                 stop: Optional[Sequence[str]] = None, json_schema: Optional[dict] = None,
                 on_token: Optional[TokenFn] = None,
                 cancel: Optional[CancelToken] = None) -> str:
        """Continue ``prompt`` (raw text, no template). See the module docstring.

        Loads the model first if needed (on the calling thread). Raises ModelError,
        Cancelled, InvalidInput (a schema llama.cpp cannot turn into a grammar).
        """
        self.load(cancel=cancel)
        tokens = self._llama.tokenize(prompt.encode("utf-8"), add_bos=True, special=False)
        return self._generate(tokens, max_tokens=max_tokens, temperature=temperature,
                              stop=list(stop or []), json_schema=json_schema,
                              on_token=on_token, cancel=cancel)

    def chat(self, messages: Messages, *, max_tokens: int = 256, temperature: float = 0.0,
             stop: Optional[Sequence[str]] = None, json_schema: Optional[dict] = None,
             on_token: Optional[TokenFn] = None,
             cancel: Optional[CancelToken] = None) -> str:
        """Answer ``messages`` using the model's own chat template when the GGUF has one,
        else :func:`plain_chat_prompt`. Same keywords and errors as :meth:`complete`."""
        _check_messages(messages)
        self.load(cancel=cancel)
        prompt, extra_stop, special = self.render_chat(messages)
        tokens = self._llama.tokenize(prompt.encode("utf-8"), add_bos=not special,
                                      special=special)
        return self._generate(tokens, max_tokens=max_tokens, temperature=temperature,
                              stop=list(stop or []) + extra_stop, json_schema=json_schema,
                              on_token=on_token, cancel=cancel)

    def render_chat(self, messages: Messages) -> tuple[str, list[str], bool]:
        """(prompt text, extra stop strings, prompt-contains-special-tokens)."""
        self.load()
        if self._chat_template:
            try:
                from llama_cpp.llama_chat_format import Jinja2ChatFormatter

                fmt = Jinja2ChatFormatter(template=self._chat_template, eos_token=self._eos,
                                          bos_token=self._bos, add_generation_prompt=True)
                res = fmt(messages=[dict(m) for m in messages])
                stop = res.stop if isinstance(res.stop, list) else ([res.stop] if res.stop else [])
                return res.prompt, [s for s in stop if s], True
            except Exception as e:  # a template this Jinja cannot render: fall back
                log.warning("chat template of %s failed (%s); using the plain one",
                            self.model_id, e)
        return plain_chat_prompt(messages), list(PLAIN_CHAT_STOP), False

    def _grammar(self, json_schema: dict):
        from llama_cpp import LlamaGrammar

        from ..errors import InvalidInput

        try:
            return LlamaGrammar.from_json_schema(json.dumps(json_schema), verbose=False)
        except Exception as e:
            raise InvalidInput(f"this JSON schema cannot be turned into a grammar: {e}") from e

    def _generate(self, tokens: list[int], *, max_tokens: int, temperature: float,
                  stop: list[str], json_schema: Optional[dict], on_token: Optional[TokenFn],
                  cancel: Optional[CancelToken]) -> str:
        grammar = self._grammar(json_schema) if json_schema is not None else None
        room = self.n_ctx - len(tokens)
        if room <= 0:
            from ..errors import InvalidInput

            raise InvalidInput(f"the prompt is {len(tokens)} tokens, more than the model's "
                               f"context of {self.n_ctx}; shorten it or raise llm_context")
        max_tokens = max(1, min(int(max_tokens), room))
        pieces: list[str] = []
        with self._gen_lock:
            check(cancel)
            llama = self._llama
            stream = llama.create_completion(
                tokens, max_tokens=max_tokens, temperature=float(temperature),
                top_k=40 if temperature > 0 else 1, top_p=0.95 if temperature > 0 else 1.0,
                stop=stop or None, grammar=grammar, stream=True, seed=self.seed)
            try:
                for chunk in stream:
                    if cancel is not None and cancel.cancelled:
                        raise Cancelled("Generation cancelled.")
                    text = chunk["choices"][0].get("text") or ""
                    if text:
                        pieces.append(text)
                        if on_token is not None:
                            on_token(text)
            finally:
                close = getattr(stream, "close", None)
                if close:
                    close()
        return "".join(pieces)


_params_lock = threading.Lock()
_log_callback = None
_llama_log = logging.getLogger("secondme.llama_cpp")


def _quiet_llama_logs(llama_cpp) -> None:
    """Route llama.cpp's own log lines to Python logging (debug; its errors as info)
    instead of the terminal: some (e.g. the SWA cache notice) bypass verbose=False."""
    global _log_callback
    if _log_callback is not None:
        return
    import ctypes

    @llama_cpp.llama_log_callback
    def callback(level: int, text: bytes, user_data) -> None:
        try:
            msg = text.decode("utf-8", "replace").rstrip()
        except Exception:
            return
        if msg:
            _llama_log.log(logging.INFO if level == 3 else logging.DEBUG, "%s", msg)

    _log_callback = callback  # keep a reference: llama.cpp holds the raw pointer
    llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))


def _extra_buffers_safe() -> bool:
    """Whether llama.cpp may use its "extra" CPU buffer types (weight repacking, AMX).

    ggml's AMX path crashes (SIGSEGV in ggml_backend_amx_mul_mat) on CPUs that
    advertise AMX inside VMs that do not grant it, which is where this app's CI runs.
    So on AMX CPUs they are off unless SECONDME_LLAMA_EXTRA_BUFFERS=1; elsewhere on
    (=0 turns them off everywhere).
    """
    env = os.environ.get("SECONDME_LLAMA_EXTRA_BUFFERS")
    if env in ("0", "1"):
        return env == "1"
    try:
        with open("/proc/cpuinfo", "rb") as f:
            return b"amx_tile" not in f.read()
    except OSError:
        return True


class _model_params:
    """Set llama_model_params fields that ``llama_cpp.Llama`` does not expose, for the
    duration of one ``Llama(...)`` construction (it reads the defaults inside)."""

    def __init__(self, **fields: Any):
        self.fields = fields

    def __enter__(self):
        import llama_cpp.llama as llama_module

        _params_lock.acquire()
        self._mod = llama_module.llama_cpp
        self._orig = self._mod.llama_model_default_params
        orig, fields = self._orig, self.fields

        def patched():
            params = orig()
            for k, v in fields.items():
                if hasattr(params, k):
                    setattr(params, k, v)
            return params

        self._mod.llama_model_default_params = patched
        return self

    def __exit__(self, *exc) -> None:
        self._mod.llama_model_default_params = self._orig
        _params_lock.release()


def _token_text(llama, token: int) -> str:
    try:
        if token is None or token < 0:
            return ""
        return llama.detokenize([token], special=True).decode("utf-8", errors="ignore")
    except TypeError:  # older llama-cpp-python without special=
        return llama.detokenize([token]).decode("utf-8", errors="ignore")
    except Exception:
        return ""


# -- OpenAI-compatible endpoint -------------------------------------------------------------
class OpenAICompatLLM:
    """An OpenAI-compatible ``/chat/completions`` endpoint (Ollama, LM Studio, vLLM, ...).

    ``base_url`` is the API root, e.g. ``http://localhost:11434/v1``. Output is streamed
    (server-sent events) and passed to ``on_token``; ``cancel`` closes the connection
    from a watcher thread, so even a server that stalls is abandoned within ~50 ms.
    ``json_schema`` is sent as ``response_format`` of type ``json_schema``.
    :meth:`complete` sends the prompt as a single user message.

    ``api_key_getter()`` returns the key (from the keyring) or None; it is called per
    request and the key is never logged, stored on the object or shown by ``repr``.
    Standard library only. Thread-safe (each call has its own connection).
    """

    capable = True

    def __init__(self, base_url: str, model: str,
                 api_key_getter: Optional[Callable[[], Optional[str]]] = None, *,
                 timeout: float = 120.0):
        if not base_url:
            raise ModelError("no endpoint URL set; enter the server's address in Settings "
                             "(for Ollama: http://localhost:11434/v1)")
        from urllib.parse import urlsplit

        parts = urlsplit(base_url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ModelError(f"the endpoint URL must start with http:// or https:// "
                             f"(got {base_url!r})")
        self.base_url = base_url.strip().rstrip("/")
        self._parts = parts
        self.model = model
        self._key = api_key_getter or (lambda: None)
        self.timeout = timeout
        self.model_id = f"openai:{model}@{parts.hostname}"

    def __repr__(self) -> str:
        return f"OpenAICompatLLM({self.base_url!r}, model={self.model!r})"

    def complete(self, prompt: str, **kw: Any) -> str:
        """Send ``prompt`` as one user message; same keywords as :meth:`chat`."""
        return self.chat([{"role": "user", "content": prompt}], **kw)

    def chat(self, messages: Messages, *, max_tokens: int = 256, temperature: float = 0.0,
             stop: Optional[Sequence[str]] = None, json_schema: Optional[dict] = None,
             on_token: Optional[TokenFn] = None,
             cancel: Optional[CancelToken] = None) -> str:
        """Stream a chat completion. Raises ModelError (unreachable, HTTP error, bad
        reply — the message never contains the API key) or Cancelled."""
        _check_messages(messages)
        body: dict[str, Any] = {"model": self.model, "messages": [dict(m) for m in messages],
                                "max_tokens": int(max_tokens), "temperature": float(temperature),
                                "stream": True}
        if stop:
            body["stop"] = list(stop)
        if json_schema is not None:
            body["response_format"] = {"type": "json_schema",
                                       "json_schema": {"name": "output", "strict": True,
                                                       "schema": json_schema}}
        check(cancel)
        conn, sock, resp = self._post("/chat/completions", body)
        done = threading.Event()
        watcher = None
        if cancel is not None:
            watcher = threading.Thread(target=self._watch, args=(sock, cancel, done),
                                       daemon=True, name="secondme-llm-cancel")
            watcher.start()
        pieces: list[str] = []
        try:
            ctype = resp.getheader("Content-Type", "") or ""
            if "text/event-stream" not in ctype:
                # a server that ignored stream=true: one JSON reply
                data = self._json(resp.read())
                text = _message_text(data)
                if text:
                    pieces.append(text)
                    if on_token:
                        on_token(text)
            else:
                for event in _sse_events(resp):
                    check(cancel)
                    if event == "[DONE]":
                        break
                    data = self._json(event.encode())
                    if "error" in data:
                        raise ModelError(f"the endpoint reported an error: "
                                         f"{_error_text(data)}", path=self.base_url)
                    for choice in data.get("choices") or []:
                        text = (choice.get("delta") or {}).get("content") or \
                            choice.get("text") or ""
                        if text:
                            pieces.append(text)
                            if on_token:
                                on_token(text)
            check(cancel)
        except (OSError, ValueError) as e:
            if cancel is not None and cancel.cancelled:
                raise Cancelled("Generation cancelled.") from None
            raise ModelError(f"the connection to the endpoint broke: {e}",
                             path=self.base_url) from None
        finally:
            done.set()
            resp.close()
            conn.close()
        return "".join(pieces)

    @staticmethod
    def _watch(sock, cancel: CancelToken, done: threading.Event) -> None:
        import socket

        while not done.wait(0.05):
            if cancel.cancelled:
                if sock is not None:
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                return

    def _json(self, raw: bytes) -> dict:
        try:
            data = json.loads(raw)
        except ValueError as e:
            raise ModelError(f"the endpoint sent something that is not JSON ({e})",
                             path=self.base_url) from None
        if not isinstance(data, dict):
            raise ModelError("the endpoint sent an unexpected reply", path=self.base_url)
        return data

    def _post(self, path: str, body: dict):
        import http.client

        p = self._parts
        cls = http.client.HTTPSConnection if p.scheme == "https" else http.client.HTTPConnection
        conn = cls(p.hostname, p.port, timeout=self.timeout)
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        key = self._key()
        if key:
            headers["Authorization"] = "Bearer " + key
        del key
        try:
            conn.request("POST", p.path.rstrip("/") + path, body=json.dumps(body).encode(),
                         headers=headers)
            # the response takes the socket over (conn.sock becomes None when the server
            # closes after replying); keep it so that cancel can shut it down
            sock = conn.sock
            resp = conn.getresponse()
        except OSError as e:
            conn.close()
            raise ModelError(f"cannot reach the model endpoint ({e}); is the server running?",
                             path=self.base_url) from None
        if resp.status >= 400:
            raw = resp.read(4096)
            conn.close()
            try:
                detail = _error_text(json.loads(raw))
            except ValueError:
                detail = raw.decode("utf-8", "replace")[:200]
            if resp.status in (401, 403):
                msg = "the endpoint rejected the API key (set it in Settings)"
            elif resp.status == 404:
                msg = (f"the endpoint does not know this path or model {self.model!r} "
                       "(check the URL ends in /v1 and the model name)")
            else:
                msg = f"the endpoint answered HTTP {resp.status}"
            raise ModelError(f"{msg}: {detail}".rstrip(": "), path=self.base_url)
        return conn, sock, resp


def _error_text(data: Any) -> str:
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            return str(err.get("message") or err)[:300]
        return str(err)[:300]
    return str(data)[:300]


def _message_text(data: dict) -> str:
    out = []
    for choice in data.get("choices") or []:
        msg = choice.get("message") or {}
        out.append(msg.get("content") or choice.get("text") or "")
    return "".join(out)


def _sse_events(resp) -> Iterable[str]:
    """The ``data:`` payloads of a server-sent-event stream, one per event."""
    data: list[str] = []
    while True:
        line = resp.readline()
        if not line:
            if data:
                yield "\n".join(data)
            return
        line = line.decode("utf-8").rstrip("\r\n")
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        if line.startswith(":"):
            continue
        if line.startswith("data:"):
            data.append(line[5:].lstrip(" "))


# -- the scripted fake ----------------------------------------------------------------------
class ScriptedLLM:
    """A deterministic fake LLM for tests.

    ``responses`` is a list (returned in order, one per call; running out raises
    AssertionError so a test notices an unexpected call) or a callable
    ``fn(prompt: str) -> str`` (for :meth:`chat`, the prompt is the
    :func:`plain_chat_prompt` rendering of the messages). A dict or list response is
    returned as JSON. Every call is recorded in ``calls`` (dicts with ``prompt``,
    ``messages``, and the keywords); ``prompts`` lists just the prompts.

    Streaming splits the response into word pieces (spaces kept) and calls ``on_token``
    for each, checking ``cancel`` before every piece; ``token_delay`` seconds are slept
    per piece so tests can cancel mid-stream. ``stop`` cuts the response at the first
    stop string; ``max_tokens`` caps the number of pieces. Thread-safe.
    """

    def __init__(self, responses: Union[Sequence[Any], Callable[[str], Any], None] = None, *,
                 capable: bool = True, model_id: str = "scripted", token_delay: float = 0.0):
        self._fn = responses if callable(responses) else None
        self._queue = list(responses) if responses is not None and not callable(responses) \
            else []
        self.capable = capable
        self.model_id = model_id
        self.token_delay = token_delay
        self.calls: list[dict] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ScriptedLLM({len(self.calls)} calls, capable={self.capable})"

    @property
    def prompts(self) -> list[str]:
        return [c["prompt"] for c in self.calls]

    def complete(self, prompt: str, **kw: Any) -> str:
        """Return the next scripted response for ``prompt`` (see the class docstring)."""
        return self._respond(prompt, None, **kw)

    def chat(self, messages: Messages, **kw: Any) -> str:
        """Like :meth:`complete`, the prompt being the plain rendering of ``messages``."""
        _check_messages(messages)
        return self._respond(plain_chat_prompt(messages), [dict(m) for m in messages], **kw)

    def _respond(self, prompt: str, messages: Optional[list], *, max_tokens: int = 256,
                 temperature: float = 0.0, stop: Optional[Sequence[str]] = None,
                 json_schema: Optional[dict] = None, on_token: Optional[TokenFn] = None,
                 cancel: Optional[CancelToken] = None) -> str:
        with self._lock:
            self.calls.append({"prompt": prompt, "messages": messages, "max_tokens": max_tokens,
                               "temperature": temperature, "stop": list(stop or []),
                               "json_schema": json_schema})
            if self._fn is not None:
                out = self._fn(prompt)
            else:
                if not self._queue:
                    raise AssertionError(f"ScriptedLLM has no response left for: {prompt[:80]!r}")
                out = self._queue.pop(0)
        if isinstance(out, BaseException):
            raise out
        if not isinstance(out, str):
            out = json.dumps(out)
        for s in stop or []:
            if s and s in out:
                out = out[:out.index(s)]
        pieces = re.findall(r"\s*\S+|\s+", out)[:max(0, int(max_tokens))]
        result = []
        for piece in pieces:
            check(cancel)
            if self.token_delay:
                time.sleep(self.token_delay)
            result.append(piece)
            if on_token is not None:
                on_token(piece)
        check(cancel)
        return "".join(result)


# -- from settings ---------------------------------------------------------------------------
def default_threads() -> int:
    """llama.cpp threads when the person did not choose: one core fewer than the machine
    has (at most 8), at least one.

    llama.cpp's threads wait for each other at every layer; when one of them is
    descheduled because the GUI, the embedder or another program wants the CPU, all of
    them stall. Measured with the embedded model on a busy 2-core machine: 1 thread
    ~8 tokens/s, 2 threads ~0.3 tokens/s (benchmarks/bench_models_choice.py records
    both on the machine it runs on). Leaving a core free keeps generation steady while
    the app does other work.
    """
    cores = os.cpu_count() or 2
    return max(1, min(8, cores - 1))


def _threads(settings) -> int:
    n = int(settings.llm_threads or 0)
    return n if n > 0 else default_threads()


def llm_from_settings(settings, home: Union[str, os.PathLike]) -> LLM:
    """The LLM the person configured (``settings.llm_source``), not loaded yet.

    * ``default`` — the embedded model (``capable=False``), prepared into
      ``<home>/models/`` on first use;
    * ``gguf`` — ``settings.llm_path`` (``capable=True``);
    * ``openai`` — ``settings.llm_endpoint`` + ``llm_endpoint_model``, with the API key
      read from the keyring entry ``llm_api_key`` of this data dir at each request.

    Cheap and thread-safe. Raises ModelError for an incomplete configuration (no path,
    no endpoint).
    """
    home = Path(home)
    source = settings.llm_source
    n_ctx = int(settings.llm_context or 2048)
    if source == "gguf":
        if not settings.llm_path:
            raise ModelError("no model file chosen; pick a .gguf file in Settings or switch "
                             "back to the embedded model")
        path = Path(settings.llm_path).expanduser()
        return LlamaCppLLM(path, n_ctx=n_ctx, n_threads=_threads(settings), capable=True,
                           model_id=f"gguf:{path.name}")
    if source == "openai":
        from .. import secrets

        return OpenAICompatLLM(settings.llm_endpoint, settings.llm_endpoint_model or "default",
                               lambda: secrets.get_secret(home, "llm_api_key"))
    from .bundled import BUNDLED, DEFAULT_BUNDLED, ensure_bundled_model

    key = DEFAULT_BUNDLED

    def prepare(progress=None, cancel=None) -> Path:
        return ensure_bundled_model(home, key, progress=progress, cancel=cancel)

    return LlamaCppLLM(None, n_ctx=n_ctx, n_threads=_threads(settings), capable=False,
                       model_id=f"default:{BUNDLED[key].key}", prepare=prepare)


def describe_configured_model(settings, home: Union[str, os.PathLike]) -> dict:
    """What model is configured and whether it is there, without loading anything.

    Keys: ``name``, ``source`` (default|gguf|openai), ``path`` (file or endpoint URL),
    ``found`` (bool), ``capable`` (bool) and ``error`` (a sentence) when not found.
    Never contacts an endpoint; reads at most 8 bytes of a GGUF file. Never raises.
    """
    home = Path(home)
    source = settings.llm_source
    if source == "gguf":
        path = str(settings.llm_path or "")
        out = {"name": Path(path).name or "(none)", "source": "gguf", "path": path,
               "capable": True}
        try:
            if not path:
                raise ModelError("no model file chosen")
            check_gguf(path)
            out["found"] = True
        except ModelError as e:
            out["found"] = False
            out["error"] = str(e)
        return out
    if source == "openai":
        out = {"name": settings.llm_endpoint_model or "(endpoint default)", "source": "openai",
               "path": settings.llm_endpoint, "capable": True}
        if settings.llm_endpoint:
            out["found"] = True
        else:
            out["found"] = False
            out["error"] = "no endpoint URL set"
        return out
    from .bundled import DEFAULT_BUNDLED, describe_bundled

    try:
        return describe_bundled(home, DEFAULT_BUNDLED)
    except Exception as e:  # doctor must report, never crash
        return {"name": DEFAULT_BUNDLED, "source": "default", "path": "", "capable": False,
                "found": False, "error": str(e)}


__all__ = ["LLM", "LlamaCppLLM", "OpenAICompatLLM", "ScriptedLLM", "check_gguf",
           "default_threads",
           "describe_configured_model", "llm_from_settings", "plain_chat_prompt"]
