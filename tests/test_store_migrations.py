"""One ordered list of migrations: a new database and one upgraded from a released schema
(or from any point of the list) come out identical, and an upgrade loses no row."""
from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from secondme.store import Store, migrations

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "store"
RELEASED = sorted(FIXTURES.glob("schema-*.sql"))


def _schema(conn: sqlite3.Connection) -> list[tuple[str, str, str, str]]:
    """``sqlite_master`` as sorted (type, name, table, sql) with whitespace normalised."""
    rows = conn.execute("select type, name, tbl_name, sql from sqlite_master").fetchall()
    return sorted((t, n, tbl, " ".join((sql or "").split())) for t, n, tbl, sql in rows)


def _tables(conn: sqlite3.Connection) -> list[str]:
    """Tables holding data of their own: not FTS shadow tables, not external-content FTS."""
    rows = conn.execute("select name, sql from sqlite_master where type = 'table'").fetchall()
    virtual = {n for n, sql in rows if sql.upper().startswith("CREATE VIRTUAL")}
    shadow = {f"{v}_{s}" for v in virtual for s in ("data", "idx", "content", "docsize",
                                                     "config")}
    return sorted(n for n, sql in rows
                  if n not in shadow and (n not in virtual or "content=" not in sql))


def _rows(conn: sqlite3.Connection, table: str, columns: list[str]) -> list[tuple]:
    cols = ", ".join(f'"{c}"' for c in columns)
    return sorted(conn.execute(f'select {cols} from "{table}"').fetchall(), key=repr)


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in conn.execute(f'pragma table_info("{table}")')]


def _fresh(tmp_path: Path) -> Store:
    return Store.open(tmp_path / "fresh.db")


def _load(sql: Path, db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.executescript(sql.read_text(encoding="utf-8"))
    conn.close()


def test_the_list_is_ordered_by_number_with_unique_names():
    names = [name for name, _ in migrations.MIGRATIONS]
    assert names == sorted(names) and len(set(names)) == len(names)
    numbers = [int(re.match(r"m(\d{3})_[a-z0-9_]+$", n).group(1)) for n in names]
    assert numbers == sorted(set(numbers))
    functions = [fn for _, fn in migrations.MIGRATIONS]
    assert len(set(functions)) == len(functions)


def test_the_list_is_complete_without_importing_the_app():
    """No migration registers itself as a side effect of an import elsewhere."""
    import ast

    tree = ast.parse(Path(migrations.__file__).read_text(encoding="utf-8"))
    app_imports = [ast.unparse(n) for n in ast.walk(tree)
                   if isinstance(n, ast.ImportFrom) and (n.level or "secondme" in (n.module or ""))
                   or isinstance(n, ast.Import) and any("secondme" in a.name for a in n.names)]
    assert app_imports == []


#: tables whose rows a migration may drop because indexing makes them again: the query
#: selects (in the table's column order) the rows that must stay
_REEMBEDDED = {
    "vector_items": "select * from vector_items where kind != 'note'",
    "embeddings": "select * from embeddings where content_hash in (select content_hash "
                  "from vector_items where kind != 'note')",
}


@pytest.mark.parametrize("fixture", RELEASED, ids=[p.stem for p in RELEASED])
def test_a_released_database_upgrades_to_the_new_schema_and_keeps_its_rows(tmp_path, fixture):
    old = tmp_path / "old.db"
    _load(fixture, old)
    reference = sqlite3.connect(tmp_path / "reference.db")  # the same, never upgraded
    reference.executescript(fixture.read_text(encoding="utf-8"))
    old_migrations = [r[0] for r in reference.execute("select name from migrations")]

    upgraded = Store.open(old)
    fresh = _fresh(tmp_path)
    try:
        assert _schema(upgraded.conn) == _schema(fresh.conn)
        assert upgraded.applied_migrations() == fresh.applied_migrations() == \
            sorted(name for name, _ in migrations.MIGRATIONS)
        assert set(old_migrations) <= set(upgraded.applied_migrations())
        # every row of every table of the old schema is still there (new columns aside)
        for table in _tables(reference):
            cols = _columns(reference, table)
            before = _rows(reference, table, cols)
            assert before, f"the fixture has no rows in {table}"
            after = _rows(upgraded.conn, table, cols)
            if table == "migrations":  # newer migrations add their own records
                assert set(before) <= set(after), table
            elif table in _REEMBEDDED:
                # m517: the notes' vectors (of "text | keywords | context") go, so that
                # indexing embeds the notes again from their text; every other stays
                gone = set(_rows(reference, table, cols)) - set(
                    reference.execute(_REEMBEDDED[table]).fetchall())
                assert after == [r for r in before if r not in gone], table
            else:
                assert after == before, table
        # full-text search still finds what the old database held
        c = upgraded.conn
        assert c.execute("select rowid from messages_fts where messages_fts match 'lisbon'"
                         ).fetchall() == [(1,)]
        assert c.execute("select rowid from chunks_fts where chunks_fts match 'gate'"
                         ).fetchall() == [(1,)]
        assert c.execute("select rowid from notes_fts where notes_fts match 'trip'"
                         ).fetchall() == [(1,), (2,)]
        assert c.execute("select rowid from message_windows where message_windows "
                         "match 'boots'").fetchall() == [(1,)]
        assert upgraded.integrity_check() == "ok"
        assert c.execute("pragma foreign_key_check").fetchall() == []
    finally:
        reference.close()
        upgraded.close()
        fresh.close()


@pytest.mark.parametrize("k", range(1, len(migrations.MIGRATIONS)))
def test_a_database_stopped_anywhere_in_the_list_catches_up(tmp_path, k):
    """A store that ran only the first ``k`` migrations gets the rest, in order."""
    part = sqlite3.connect(tmp_path / "part.db", isolation_level=None)
    part.execute("create table migrations (name text primary key, applied_at text not null)")
    for name, fn in migrations.MIGRATIONS[:k]:
        part.execute("begin")
        fn(part)
        part.execute("insert into migrations values (?, 'then')", [name])
        part.execute("commit")
    part.close()
    store = Store.open(tmp_path / "part.db")
    fresh = _fresh(tmp_path)
    try:
        assert store.migrate() == []
        assert _schema(store.conn) == _schema(fresh.conn)
        assert store.applied_migrations() == fresh.applied_migrations()
    finally:
        store.close()
        fresh.close()
