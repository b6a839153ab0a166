"""Search never ranks another app's claim above the person's own evidence."""
from __future__ import annotations

from secondme.store import utcnow


def test_mcp_written_note_ranks_after_own_message_even_when_it_matches_better(sm):
    with sm.store.write() as db:
        db.execute("insert into conversations (format, external_id, title) "
                   "values ('generic', 'c1', 'Trip')")
        db.execute("insert into messages (conversation_id, external_id, position, speaker, "
                   "timestamp, ts, text, content_hash) values (1, 'm1', 0, 'Anna', "
                   "'2024-05-01T10:00:00+00:00', 1714557600, "
                   "'My flight to Lisbon is on the 12th of June', 'h1')")
        for origin, text in (("mcp:some-agent",
                              "Flight to Lisbon: Anna's flight to Lisbon is on 12th June "
                              "(flight Lisbon June flight)"),):
            db.execute("insert into notes (kind, text, keywords, created_at, updated_at, "
                       "origin) values ('fact', ?, 'flight Lisbon June', ?, ?, ?)",
                       [text, utcnow(), utcnow(), origin])
    sm.index_pending()
    results = sm.search("flight to Lisbon June", k=5)
    kinds = [(r.kind, r.id) for r in results]
    assert ("message", 1) in kinds and ("note", 1) in kinds, kinds
    assert kinds.index(("message", 1)) < kinds.index(("note", 1))
