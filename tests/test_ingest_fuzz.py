"""Property-based fuzzing of every chat parser: damaged exports never raise anything but a
SecondMeError, and an import never leaves a conversation half-written."""
from __future__ import annotations

import json
import sqlite3
import tempfile
import zipfile
from pathlib import Path

import pytest
from conftest import FIXTURES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from secondme.errors import SecondMeError
from secondme.ingest import formats
from secondme.ingest.common import context_for
from secondme.ingest.model import Conversation, Document, ParseProblem
from secondme.ingest.tree import open_tree

ING = FIXTURES / "ingest"

# (format, fixture file) — ZIP fixtures are fuzzed member by member
SAMPLES = [
    ("generic", ING / "generic" / "chats.json"),
    ("generic", ING / "generic" / "chats.jsonl"),
    ("chatgpt", ING / "chatgpt" / "conversations.json"),
    ("claude", ING / "claude" / "conversations.json"),
    ("whatsapp", ING / "whatsapp" / "WhatsApp Chat - Anna Lopez.txt"),
    ("whatsapp", ING / "whatsapp" / "WhatsApp Chat with Hiking.txt"),
    ("whatsapp", ING / "whatsapp" / "WhatsApp Chat with أحمد.txt"),
    ("telegram", ING / "telegram" / "account-result.json"),
    ("discord", ING / "discord" / "Game Night - general [800000000000000002].json"),
    ("discord", ING / "discord" / "package.zip"),
    ("slack", ING / "slack" / "Acme Slack export Nov 2023.zip"),
    ("signal", ING / "signal" / "signal-export" / "Jonas" / "chat.md"),
]
FUZZ = settings(max_examples=40, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def run_parser(fmt: str, path: Path) -> list:
    """Every item the parser yields for ``path`` (format forced); only SecondMeError may
    escape."""
    mod = formats.chat_module(fmt)
    out = []
    try:
        with open_tree(path) as tree:
            for claim in mod.claim(tree, tree.files(), force=True):
                for item in mod.parse(claim, context_for("UTC")):
                    assert isinstance(item, (Conversation, Document, ParseProblem)), item
                    out.append(item)
    except SecondMeError:
        pass
    return out


# -- byte-level damage ----------------------------------------------------------------------

@st.composite
def damaged(draw, data: bytes) -> bytes:
    """``data`` truncated, with bytes flipped, inserted or deleted, or spliced."""
    ops = draw(st.lists(st.sampled_from(["truncate", "flip", "insert", "delete", "dup"]),
                        min_size=1, max_size=4))
    b = bytearray(data)
    for op in ops:
        if not b:
            break
        i = draw(st.integers(0, len(b) - 1))
        if op == "truncate":
            del b[i:]
        elif op == "flip":
            b[i] = draw(st.integers(0, 255))
        elif op == "insert":
            b[i:i] = draw(st.binary(min_size=1, max_size=20)) if draw(st.booleans()) else \
                draw(st.sampled_from(["\u200e", "\u202f", "\ufeff", "\n", "]", ": ", "[",
                                      "{", "}", '"', ",", "null", "-1", "1e999", "🎉",
                                      "\x00", "\ud800".encode("utf-8", "surrogatepass")
                                      .decode("utf-8", "ignore")])).encode()
        elif op == "delete":
            j = draw(st.integers(i, min(len(b), i + 50)))
            del b[i:j]
        else:
            j = draw(st.integers(i, min(len(b), i + 200)))
            b[i:i] = b[i:j]
    return bytes(b)


def _write_damaged(path: Path, data_for, tmp: Path) -> Path:
    """A copy of ``path`` with one file (or one ZIP member) replaced by ``data_for(bytes)``."""
    out = tmp / path.name
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w") as dst:
            names = src.namelist()
            victim = data_for.victim(names)
            for n in names:
                data = src.read(n)
                dst.writestr(n, data_for(data) if n == victim else data)
    else:
        out.write_bytes(data_for(path.read_bytes()))
    return out


class _Mutator:
    def __init__(self, draw):
        self.draw = draw

    def victim(self, names):
        return self.draw(st.sampled_from(sorted(names)))

    def __call__(self, data: bytes) -> bytes:
        return self.draw(damaged(data))


@pytest.mark.parametrize("fmt, path", SAMPLES, ids=[f"{f}-{p.name}" for f, p in SAMPLES])
@FUZZ
@given(data=st.data())
def test_damaged_exports_never_crash_the_parser(fmt, path, data):
    with tempfile.TemporaryDirectory() as d:
        bad = _write_damaged(path, _Mutator(data.draw), Path(d))
        run_parser(fmt, bad)


# -- structure-level damage (JSON formats) -----------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**63) | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=10), kids,
                                                              max_size=4),
    max_leaves=12)


def _paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, prefix + (i,))


def _replace(obj, path, value):
    if not path:
        return value
    obj[path[0]] = _replace(obj[path[0]], path[1:], value)
    return obj


JSON_SAMPLES = [s for s in SAMPLES if s[1].suffix == ".json"]


@pytest.mark.parametrize("fmt, path", JSON_SAMPLES, ids=[f"{f}-{p.name}" for f, p in JSON_SAMPLES])
@FUZZ
@given(data=st.data())
def test_wrong_types_anywhere_never_crash_the_parser(fmt, path, data):
    obj = json.loads(path.read_text(encoding="utf-8"))
    for _ in range(data.draw(st.integers(1, 3))):
        where = data.draw(st.sampled_from(list(_paths(obj))[1:]))
        obj = _replace(obj, where, data.draw(json_values))
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / path.name
        p.write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")
        run_parser(fmt, p)


@pytest.mark.parametrize("fmt", ["whatsapp", "signal", "generic"])
@FUZZ
@given(text=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=400))
def test_arbitrary_text_never_crashes_text_parsers(fmt, text):
    suffix = {"whatsapp": ".txt", "signal": ".md", "generic": ".jsonl"}[fmt]
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / f"chat{suffix}"
        p.write_text(text, encoding="utf-8")
        run_parser(fmt, p)


# -- no partial writes --------------------------------------------------------------------

@pytest.mark.parametrize("fmt, path", [SAMPLES[0], SAMPLES[2], SAMPLES[4], SAMPLES[7],
                                       SAMPLES[10]],
                         ids=["generic", "chatgpt", "whatsapp", "telegram", "slack"])
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_damaged_import_never_leaves_a_conversation_half_written(fmt, path, data):
    from secondme.models.embed import HashEmbedder
    from secondme.service import SecondMe

    with tempfile.TemporaryDirectory() as d:
        bad = _write_damaged(path, _Mutator(data.draw), Path(d))
        expected = {c.external_id: len({m.external_id for m in c.messages})
                    for c in run_parser(fmt, bad) if isinstance(c, Conversation)}
        with SecondMe(Path(d) / "home", embedder=HashEmbedder()) as sm:
            try:
                sm.import_paths([bad], format=fmt)
            except SecondMeError:
                pass
            db = sm.home / "secondme.db"
        con = sqlite3.connect(db)
        try:
            stored = dict(con.execute(
                "select c.external_id, count(m.id) from conversations c left join messages m "
                "on m.conversation_id = c.id group by c.id"))
            assert con.execute("pragma integrity_check").fetchone()[0] == "ok"
        finally:
            con.close()
        assert stored == expected
