"""The person owns the data: delete a source, forget a person or a topic, wipe — each
followed by searches (FTS, vector index, the search API, raw file bytes) for what was
removed — and export (Markdown vault + lossless dump) with a restoring round trip."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures" / "privacy"))
from helpers import GARDEN, TRIPS, files_containing, run_cli  # noqa: E402


@pytest.fixture
def filled(sm):
    sm.import_paths([TRIPS, GARDEN])
    sm.run_extract()
    sm.index_pending()
    return sm


def _fts(sm, word: str) -> dict[str, int]:
    c = sm.store.conn
    out = {t: c.execute(f"select count(*) from {t} where {t} match ?", [f'"{word}"']).fetchone()[0]
           for t in ("messages_fts", "notes_fts", "chunks_fts")}
    if c.execute("select 1 from sqlite_master where name = 'message_windows'").fetchone():
        out["message_windows"] = c.execute(
            "select count(*) from message_windows where message_windows match ?",
            [f'"{word}"']).fetchone()[0]
    return out


def _vector_bytes(sm, kind: str, text: str) -> bytes:
    return np.asarray(sm.embedder.embed([text])[0], dtype="<f4").tobytes()


def _vector_hits(sm, text: str) -> list[tuple[str, int]]:
    """Items the vector index returns as (near-)identical to ``text``'s embedding."""
    vec = sm.embedder.embed([text])[0]
    hits = []
    for label, dist in sm.vectors.search(vec, k=50):
        # an index entry holds every item with its text (migration m516)
        row = sm.store.conn.execute("select kind, item_id from vector_items where vec = ? "
                                    "order by label limit 1", [label]).fetchone()
        assert row is not None, "the index returned a label the database no longer has"
        if dist < 1e-4:
            hits.append(tuple(row))
    return hits


def _api_hits(sm, word: str) -> list:
    return [r for r in sm.search(word, k=50) if word.lower() in r.text.lower()]


def test_list_and_delete_source_removes_everything_derived(filled, home):
    sm = filled
    sources = {Path(s.path).name: s for s in sm.list_sources()}
    trips = sources["trips.json"]
    assert trips.messages == 4 and trips.notes >= 3
    msg_text = "Mirabel Quonk: My favourite dish is zanzibarquux stew with saffron."
    assert _vector_hits(sm, msg_text) == [("message", sm.store.conn.execute(
        "select id from messages where external_id = 'z3'").fetchone()[0])]
    sm.vectors.save()
    vec = _vector_bytes(sm, "message", msg_text)
    assert files_containing(home, [b"zanzibarquux", vec])  # control: present before

    rep = sm.delete_source(trips.id)
    assert (rep.sources, rep.conversations, rep.messages) == (1, 1, 4)
    assert rep.notes >= 3 and rep.vectors >= 7

    for word in ("zanzibarquux", "Pumpernickelwhisk", "Glimmerfrost", "Quixotesville"):
        assert not any(_fts(sm, word).values()), word
        assert _api_hits(sm, word) == []
    assert _vector_hits(sm, msg_text) == []
    c = sm.store.conn
    assert c.execute("select count(*) from history h where not exists "
                     "(select 1 from notes n where n.id = h.note_id)").fetchone()[0] == 0
    assert c.execute("select count(*) from notes n where not exists "
                     "(select 1 from note_sources s where s.note_id = n.id)").fetchone()[0] == 0
    assert c.execute("select count(*) from entities where norm_name like '%mirabel%'"
                     ).fetchone()[0] == 0
    # the other source is untouched
    assert _api_hits(sm, "moonberrytrellis")
    assert [s.path for s in sm.list_sources()] == [str(GARDEN)]
    # and the bytes are gone from every file (secure delete, FTS optimize, scrubbed index)
    sm.vectors.save()
    assert files_containing(home, [b"zanzibarquux", b"Pumpernickelwhisk", vec]) == {}


def test_forget_person_notes_then_messages(filled, home):
    sm = filled
    before_messages = sm.store.counts()["messages"]
    rep = sm.forget_person("Mirabel Quonk")
    assert rep.notes >= 2 and rep.messages == 0
    assert _fts(sm, "Mirabel")["notes_fts"] == 0
    assert not [r for r in _api_hits(sm, "Quonk") if r.kind == "note"]
    assert sm.store.conn.execute("select count(*) from entities where norm_name like "
                                 "'%mirabel%'").fetchone()[0] == 0
    assert sm.store.counts()["messages"] == before_messages  # messages stay by default
    assert _api_hits(sm, "Pumpernickelwhisk")  # Sam's cat is not about Mirabel

    rep = sm.forget_person("mirabel quonk", messages=True)
    assert rep.messages == 2
    for word in ("Quonk", "zanzibarquux", "xylophonequokka"):
        assert not any(_fts(sm, word).values()), word
        assert _api_hits(sm, word) == []
    assert _vector_hits(sm, "Mirabel Quonk: My favourite dish is zanzibarquux stew with "
                            "saffron.") == []
    sm.vectors.save()
    assert files_containing(home, [b"zanzibarquux", b"xylophonequokka"]) == {}
    from secondme.errors import NotFound

    with pytest.raises(NotFound):
        sm.forget_person("Nobody Atall")


def test_forget_topic(filled):
    sm = filled
    ids = sm.notes_matching("bicycle Harrowgate")
    assert len(ids) == 1
    note_text = sm.store.conn.execute("select text, keywords, context from notes where id = ?",
                                      [ids[0]]).fetchone()
    rep = sm.forget_topic("bicycle Harrowgate")
    assert rep.note_ids == ids
    assert _fts(sm, "Harrowgate")["notes_fts"] == 0
    assert not [r for r in _api_hits(sm, "Harrowgate") if r.kind == "note"]
    from secondme.indexing import note_text as nt

    assert _vector_hits(sm, nt(*note_text)) == []
    assert [r for r in _api_hits(sm, "Harrowgate") if r.kind == "message"]  # messages stay


def test_wipe_removes_everything_but_keeps_a_usable_store(filled, home):
    sm = filled
    sm.backup_now()
    rep = sm.wipe()
    assert rep.messages == 8 and rep.notes >= 5
    assert all(v == 0 for v in sm.store.counts().values())
    assert _api_hits(sm, "zanzibarquux") == [] and not any(_fts(sm, "zanzibarquux").values())
    assert not (home / "backups").exists() or not any((home / "backups").iterdir())
    assert files_containing(home, [b"zanzibarquux", b"moonberrytrellis"]) == {}
    sm.import_paths([GARDEN])  # still a working store
    assert _api_hits(sm, "moonberrytrellis")


def _cli_hits(home: Path, word: str) -> list[str]:
    """Texts of `secondme search WORD --json` results that contain WORD."""
    r = run_cli(home, "search", word, "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    results = data["results"] if isinstance(data, dict) else data
    return [x["text"] for x in results if word.lower() in x["text"].lower()]


def test_cli_sources_forget_wipe(tmp_path):
    home = tmp_path / "h"
    assert run_cli(home, "import", str(TRIPS), str(GARDEN)).returncode == 0
    assert run_cli(home, "jobs", "run", "extract").returncode == 0
    rows = json.loads(run_cli(home, "sources", "list", "--json").stdout)
    assert {Path(r["path"]).name for r in rows} == {"trips.json", "garden.json"}
    sid = next(r["id"] for r in rows if r["path"].endswith("garden.json"))
    r = run_cli(home, "sources", "delete", str(sid), input="n\n")
    assert r.returncode != 0  # declined: nothing deleted
    assert len(json.loads(run_cli(home, "sources", "list", "--json").stdout)) == 2
    r = run_cli(home, "sources", "delete", str(sid), "--yes", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["messages"] == 4
    assert _cli_hits(home, "moonberrytrellis") == []
    r = run_cli(home, "forget", "topic", "Glimmerfrost Observatory", "--yes")
    assert r.returncode == 0 and "1 notes" in r.stdout
    r = run_cli(home, "forget", "person", "Mirabel Quonk", "--messages", "--yes", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["messages"] == 2
    r = run_cli(home, "sources", "delete", "999", "--yes")
    assert r.returncode == 2 and "no source" in r.stderr
    r = run_cli(home, "wipe")
    assert r.returncode != 0 and "--yes" in r.stderr
    assert run_cli(home, "wipe", "--yes").returncode == 0
    assert json.loads(run_cli(home, "sources", "list", "--json").stdout) == []


def _table_contents(store) -> dict[str, list]:
    from secondme.privacy.dump import dump_tables

    c = store.conn
    return {t: sorted(map(repr, c.execute(f'select * from "{t}"').fetchall()))
            for t in dump_tables(c)}


def test_export_vault_and_dump_round_trip(filled, tmp_path, fake_embedder):
    from secondme.service import SecondMe

    sm = filled
    notes = sm.store.conn.execute("select id, text from notes").fetchall()
    a, b = notes[0][0], notes[1][0]
    if not sm.store.conn.execute("select 1 from links where src_id = ? and dst_id = ?",
                                 [a, b]).fetchone():
        sm.link_notes(a, b, kind="related")
    sm.update_settings(theme="dark", me_name="Sam")
    out = tmp_path / "export"
    rep = sm.export_all(out)
    assert rep.notes == len(notes)

    files = sorted((out / "notes").glob("*.md"))
    assert len(files) == len(notes)
    stems = {f.stem for f in files}
    by_id = {}
    for f in files:
        text = f.read_text(encoding="utf-8")
        assert text.startswith("---\n")
        front = yaml.safe_load(text.split("---\n")[1])
        by_id[front["id"]] = (f, front, text)
        assert front["created"] and front["sources"]
        for link in front["links"]:
            assert link["to"] in stems and f"[[{link['to']}]]" in text
    f, front, text = next(v for v in by_id.values()
                          if v[2].split("---\n", 2)[2].startswith("Mirabel Quonk's favourite"))
    src = front["sources"][0]
    assert src["message"] == "z3" and src["conversation"] == "Zanzibar plans"
    assert src["conversation_id"] == "zanzibar-plans" and src["speaker"] == "Mirabel Quonk"
    assert src["timestamp"].startswith("2024-03-02T09:32")
    assert any(by_id[a][1]["links"] for a in (a, b))

    # a lossless dump restores an equal store in an empty data dir
    original = _table_contents(sm.store)
    assert original["messages"] and original["notes"] and original["note_sources"]
    with SecondMe(tmp_path / "restored", embedder=fake_embedder) as new:
        rep2 = new.import_dump(out / "secondme-dump.json")
        assert rep2.tables["messages"] == 8 and rep2.indexed > 0
        assert _table_contents(new.store) == original
        assert new.settings.theme == "dark" and new.settings.me_name == "Sam"
        assert _api_hits(new, "zanzibarquux") and _fts(new, "zanzibarquux")["notes_fts"]
        from secondme.errors import InvalidInput

        with pytest.raises(InvalidInput, match="empty"):
            new.import_dump(out / "secondme-dump.json")


def test_export_refuses_the_data_dir_and_cli_round_trip(tmp_path):
    home = tmp_path / "h"
    assert run_cli(home, "import", str(TRIPS)).returncode == 0
    assert run_cli(home, "jobs", "run", "extract").returncode == 0
    r = run_cli(home, "export", str(home / "inside"))
    assert r.returncode == 2 and "outside the data directory" in r.stderr
    r = run_cli(home, "export", str(tmp_path / "out"), "--json")
    assert r.returncode == 0, r.stderr
    dump = json.loads(r.stdout)["dump"]
    r = run_cli(tmp_path / "new", "import-dump", dump)
    assert r.returncode == 0, r.stderr
    assert _cli_hits(tmp_path / "new", "zanzibarquux")
    r = run_cli(tmp_path / "other", "import-dump", str(TRIPS))
    assert r.returncode != 0 and "not a secondme dump" in r.stderr


def test_delete_a_document_source_removes_its_chunks_and_notes(sm, tmp_path):
    doc = tmp_path / "diary.md"
    doc.write_text("# Holidays\n\nI visited the Vermillionquartz caves in Slovenia in July "
                   "2023.\n\nI love hiking in the Julian Alps.\n", encoding="utf-8")
    sm.import_paths([doc, GARDEN])
    sm.run_extract()
    sm.index_pending()
    c = sm.store.conn
    assert _fts(sm, "Vermillionquartz")["chunks_fts"] >= 1
    src = next(s for s in sm.list_sources() if s.path.endswith("diary.md"))
    assert src.documents == 1 and src.chunks >= 1
    chunk_ids = [r[0] for r in c.execute("select id from chunks")]
    rep = sm.delete_source(src.id)
    assert rep.documents == 1 and rep.chunks == len(chunk_ids)
    assert not any(_fts(sm, "Vermillionquartz").values())
    assert _api_hits(sm, "Vermillionquartz") == []
    assert c.execute("select count(*) from vector_items where kind = 'chunk'").fetchone()[0] == 0
    assert c.execute("select count(*) from note_sources where chunk_id is not null"
                     ).fetchone()[0] == 0
    assert _api_hits(sm, "moonberrytrellis")


def test_a_text_two_sources_share_leaves_the_index_with_the_last_one(sm, home, tmp_path):
    """Items with the same text share one index entry: deleting one source keeps the
    entry for the other; deleting that one too scrubs the vector from every file."""
    def chat(name: str, cid: str) -> Path:
        path = tmp_path / name
        path.write_text(json.dumps({"conversations": [{
            "id": cid, "title": cid, "participants": ["Odile Varga"],
            "messages": [{"id": f"{cid}-1", "speaker": "Odile Varga",
                          "timestamp": "2024-03-01T10:00:00Z",
                          "text": "The vault code is quarnelbright seven."},
                         {"id": f"{cid}-2", "speaker": "Odile Varga",
                          "timestamp": "2024-03-01T10:01:00Z", "text": f"only in {cid}"}]}]}))
        return path

    sm.import_paths([chat("a.json", "ca"), chat("b.json", "cb")])
    sm.index_pending()
    text = "Odile Varga: The vault code is quarnelbright seven."
    ids = [r[0] for r in sm.store.conn.execute(
        "select id from messages where text like 'The vault code%' order by id")]
    assert len(ids) == 2 and len(_vector_hits(sm, text)) == 1
    sources = {Path(s.path).name: s for s in sm.list_sources()}
    sm.delete_source(sources["a.json"].id)
    assert _vector_hits(sm, text) == [("message", ids[1])]   # still found: b.json has it
    sm.vectors.save()
    vec = _vector_bytes(sm, "message", text)
    assert files_containing(home, [vec])                    # control: the entry is kept
    sm.delete_source(sources["b.json"].id)
    assert _vector_hits(sm, text) == []
    sm.vectors.save()
    assert files_containing(home, [b"quarnelbright", vec]) == {}
