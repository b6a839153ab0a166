"""Hostile inputs in an imported folder (issue 17, items 4, 5 and 7), through the real CLI.

* a FIFO beside a healthy chat: the import used to wait forever for a writer and never
  reached the chat; now the pipe is refused at once and the chat imports;
* deeply nested JSON (100,000 levels): the import crashed with ``RecursionError`` (exit
  70, no file named, nothing else imported) or, in ijson, took memory growing with the
  square of the depth; JSON Lines printed a traceback; now the one file is reported in
  one line and the rest of the folder imports;
* a link out of the folder: ``/etc/passwd`` was imported as a document; now links that
  leave the folder are not followed and are reported.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures" / "privacy"))
from conftest import FIXTURES  # noqa: E402
from helpers import run_cli  # noqa: E402

from secondme.ingest.common import (  # noqa: E402
    MAX_JSON_DEPTH,
    JsonDepthGuard,
    JsonTooDeep,
    json_error_text,
)

CHATS = FIXTURES / "ingest" / "generic" / "chats.json"
CHATS_JSONL = FIXTURES / "ingest" / "generic" / "chats.jsonl"
DEEP = 100_000


def _import(home: Path, *paths: Path, timeout: float = 120):
    r = run_cli(home, "import", "--json", *map(str, paths), timeout=timeout)
    out = json.loads(r.stdout) if r.stdout.strip() else None
    return r, out


def _no_python(stderr: str) -> None:
    for bad in ("Traceback", "RecursionError", "JsonTooDeep", "Internal error", "b'"):
        assert bad not in stderr, stderr


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_in_a_folder_is_refused_and_the_chat_beside_it_imports(tmp_path):
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "chats.json").write_bytes(CHATS.read_bytes())
    os.mkfifo(folder / "conversations.json")  # nobody ever writes to it
    r, out = _import(tmp_path / "home", folder, timeout=60)  # used to hang: timeout
    assert r.returncode == 3, r.stderr
    src = out["sources"][0]
    assert src["messages_added"] == 8 and src["conversations"] == 2
    assert [e["file"] for e in src["errors"]] == [str(folder / "conversations.json")]
    assert "not a regular file" in r.stderr
    _no_python(r.stderr)
    # the FIFO named directly: refused at once, one line
    r, out = _import(tmp_path / "home", folder / "conversations.json", timeout=60)
    assert r.returncode == 1
    assert len(r.stderr.strip().splitlines()) == 1 and "not a regular file" in r.stderr


def test_links_out_of_the_folder_are_not_followed(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("the neighbour's diary: Quetzalplume\n")
    folder = tmp_path / "notes"
    (folder / "sub").mkdir(parents=True)
    (folder / "chats.json").write_bytes(CHATS.read_bytes())
    (folder / "inside.md").write_text("# Inside\nA note kept in the folder.\n")
    os.symlink("/etc/passwd", folder / "passwd.txt")
    os.symlink(outside / "secret.txt", folder / "secret.txt")
    os.symlink(outside, folder / "elsewhere")
    os.symlink("../inside.md", folder / "sub" / "same.md")  # stays inside: read
    r, out = _import(tmp_path / "home", folder)
    assert r.returncode == 3, r.stderr
    src = out["sources"][0]
    refused = sorted(Path(e["file"]).name for e in src["errors"])
    assert refused == ["elsewhere", "passwd.txt", "secret.txt"]
    assert src["messages_added"] == 8 and src["documents"] == 2
    for query, leak in (("Quetzalplume", "Quetzalplume"), ("root", "/bin/")):
        r = run_cli(tmp_path / "home", "search", "--json", query)
        texts = " ".join(x["text"] for x in json.loads(r.stdout)["results"])
        assert leak not in texts


def _deep_generic() -> str:
    return ('{"format": "secondme-chat", "version": 1, "conversations": [{"id": "x", '
            '"messages": [{"id": "m1", "speaker": "A", "text": "hi", "metadata": '
            + "[" * DEEP + "]" * DEEP + "}]}]}")


def _deep_line() -> str:
    return ('{"id": "deep", "messages": [{"id": "m1", "speaker": "A", "text": "hi", "x": '
            + "{\"a\": " * DEEP + "1" + "}" * DEEP + "}]}\n")


def test_deeply_nested_json_is_one_line_and_the_rest_imports(tmp_path):
    folder = tmp_path / "batch"
    folder.mkdir()
    (folder / "a-deep.json").write_text(_deep_generic())
    (folder / "b-deep.jsonl").write_text(_deep_line() + CHATS_JSONL.read_text())
    (folder / "chats.json").write_bytes(CHATS.read_bytes())
    chatgpt = FIXTURES / "ingest" / "chatgpt" / "conversations.json"
    (folder / "conversations.json").write_bytes(chatgpt.read_bytes())
    r, out = _import(tmp_path / "home", folder, timeout=180)
    assert r.returncode == 3, r.stderr  # was 70: Internal error: RecursionError
    _no_python(r.stderr)
    src = out["sources"][0]
    deep = [e for e in src["errors"] if "nested more than" in e["problem"]]
    assert sorted(Path(e["file"]).name for e in deep) == ["a-deep.json", "b-deep.jsonl"]
    # everything else in the folder imported: the generic chats, the JSONL lines after
    # the deep one, and the ChatGPT export beside them
    assert src["messages_added"] >= 8 + 3
    assert "chatgpt" in src["formats"] and "generic" in src["formats"]
    for line in r.stderr.strip().splitlines():
        assert len(line) < 400, line
    # detection alone does not crash either
    r = run_cli(tmp_path / "home", "import", "--detect", str(folder / "a-deep.json"),
                str(folder / "b-deep.jsonl"))
    assert r.returncode in (0, 1), r.stderr
    _no_python(r.stderr)


def test_depth_guard_trips_on_nesting_and_not_on_prose_or_real_exports():
    g = JsonDepthGuard()
    with pytest.raises(JsonTooDeep):  # at once
        g.feed(b'{"a": ' * (MAX_JSON_DEPTH + 1))
    g = JsonDepthGuard()
    with pytest.raises(JsonTooDeep):  # slowly, padded out over many blocks
        for _ in range(20):
            g.feed(b'{"a": "' + b"x" * 60000 + b'", "b": ' + b"[" * 50)
    # 20 MB of an ordinary export where one message in fifty has an unbalanced bracket
    # (":[" or "[sic"): the drift is real and is not mistaken for nesting
    plain = json.dumps({"id": "m", "speaker": "A", "text": "see you at eight",
                        "meta": {"a": [1, [2, {"b": [3]}]]}}).encode()
    stray = json.dumps({"id": "m", "speaker": "A", "text": "sad :[ again"}).encode()
    block = b'{"id": "c", "messages": [' + b", ".join([plain] * 49 + [stray]) * 5 + b"]}, "
    g = JsonDepthGuard()
    for _ in range(20_000_000 // len(block)):
        g.feed(block)
    assert g.depth > 100  # the drift adds up over the file, and is tolerated


def test_utf16le_whatsapp_export_without_bom_is_a_chat(tmp_path):
    src = FIXTURES / "ingest" / "whatsapp" / "WhatsApp Chat - Anna Lopez.txt"
    text = src.read_text(encoding="utf-8-sig")
    bomless = tmp_path / "WhatsApp Chat - Anna Lopez.txt"
    bomless.write_bytes(text.encode("utf-16-le"))   # no BOM: was a text document
    r, out = _import(tmp_path / "h1", bomless)
    assert r.returncode == 0, r.stderr
    utf8 = tmp_path / "utf8" / src.name
    utf8.parent.mkdir()
    utf8.write_text(text, encoding="utf-8")
    _r, ref = _import(tmp_path / "h2", utf8)
    got, want = out["sources"][0], ref["sources"][0]
    assert got["format"] == "whatsapp" and got["documents"] == 0
    assert got["messages_added"] == want["messages_added"] > 0


def test_a_repeated_message_id_is_reported_not_dropped_silently(tmp_path):
    export = tmp_path / "dup.json"
    export.write_text(json.dumps({"format": "secondme-chat", "version": 1, "conversations": [
        {"id": "c1", "messages": [
            {"id": "a", "speaker": "Ann", "text": "first"},
            {"id": "b", "speaker": "Ann", "text": "second"},
            {"id": "a", "speaker": "Ann", "text": "a different message with the same id"}]}]}))
    r, out = _import(tmp_path / "h", export)
    assert r.returncode == 3, r.stderr
    src = out["sources"][0]
    assert src["messages_added"] == 2
    [e] = src["errors"]
    assert e["conversation"] == "c1" and "reuses an id" in e["problem"] and "(first: a)" \
        in e["problem"]
    # importing it again: the stored ones are "already imported", the repeat reported again
    r, out = _import(tmp_path / "h", export)
    assert out["sources"][0]["messages_added"] == 0


def test_json_problems_name_the_file_in_one_line_without_its_content(tmp_path):
    folder = tmp_path / "batch"
    folder.mkdir()
    pad = json.dumps({"format": "secondme-chat", "version": 1, "conversations": [
        {"id": f"p{i}", "messages": [{"id": "m", "speaker": "A", "text": "x" * 500}]}
        for i in range(200)]})
    (folder / "a.json").write_text(pad)   # 100 KB read before the broken file
    good = '{"format": "secondme-chat", "version": 1, "conversations": [' \
           '{"id": "ok", "messages": [{"id": "m1", "speaker": "A", "text": "fine"}]}, '
    (folder / "b.json").write_bytes(
        good.encode() + b'{"id": "bad", "messages": [{"id": "m1", "speaker": "A", '
        b'"text": "my secret diary \xff\xfe", oops}]}]}')
    r, out = _import(tmp_path / "h", folder)
    assert r.returncode == 3, r.stderr
    [line] = [ln for ln in r.stderr.splitlines() if "b.json" in ln]
    assert "secret" not in line and "b'" not in line and "\\n" not in line
    # a plain sentence, not the parser's words ("lexical error: invalid bytes in UTF8
    # string" was copied from yajl)
    assert "near that point are not UTF-8 text" in line
    _no_parser_words(line)
    # the position counts from the start of b.json, not of the batch (was 100 KB more)
    [err] = [e for e in out["sources"][0]["errors"] if e["file"].endswith("b.json")]
    near = int(err["position"].rsplit("near byte ", 1)[1])
    assert near <= (folder / "b.json").stat().st_size


# what JSON parsers say in their own words (yajl, ijson's Python backend, json): matched
# to a plain phrase, never shown
PARSER_WORDS = ("lexical error", "parse error", "premature eof", "trailing garbage",
                "utf8 string", "right here", "json text", "incomplete json", "unexpected "
                "symbol", "additional data", "expecting", "delimiter", "extra data",
                "invalid \\escape", "codec", "char ")


def _no_parser_words(text: str) -> None:
    low = text.lower()
    for bad in PARSER_WORDS:
        assert bad not in low, (bad, text)


GARBLED = [b'{"a": "my secret diary \xff\xfe", oops}', b'{"a": [1,2', b'{"a": 1} secret',
           b'{"a" 1}', b'{"a": secret}', b'{"a": 1,}', b'[1 2]', b'{"a": "\\q"}',
           b'{"a": 01}', b'', b'{"a": "x\x01"}', b'{"a": "parse error utf8", secret']


@pytest.mark.parametrize("data", GARBLED, ids=range(len(GARBLED)))
def test_json_problems_are_plain_words_from_every_parser(data):
    """Whichever parser read the file — yajl (the C backend ijson uses), ijson's Python
    backend (where yajl is missing) or ``json`` (small files, JSON Lines) — the problem
    is one plain phrase: the parser's wording and the file's content never show."""
    import io

    import ijson

    errors = []
    for backend in ("yajl2_c", "python"):
        try:
            items = ijson.get_backend(backend).items
        except ImportError:
            continue
        with pytest.raises((ijson.JSONError, UnicodeDecodeError, ValueError)) as e:
            list(items(io.BytesIO(data), ""))
        errors.append(e.value)
    with pytest.raises(ValueError) as e:
        json.loads(data.decode("utf-8", "replace"))
    errors.append(e.value)
    for err in errors:
        said = json_error_text(err)
        assert "\n" not in said and "secret" not in said and "b'" not in said, said
        _no_parser_words(said)
