"""Evidence another app wrote (through MCP ``remember``) never outranks the person's own.

Notes with ``origin`` ``mcp:<client>`` and the messages stored in the conversation an MCP
client wrote to (format ``mcp``) are claims made by other software, not things the
person said. Every ranked list of evidence — search results, the sources of an answer,
MCP tool results — passes through :func:`demote_external`.
"""
from __future__ import annotations

EXTERNAL_PREFIX = "mcp:"
MCP_FORMAT = "mcp"


def external_ids(store, results: list) -> set[tuple[str, int]]:
    """(kind, id) of results that rest on evidence another app wrote through MCP."""
    notes = [r.id for r in results if r.kind == "note"]
    msgs = [r.id for r in results if r.kind == "message"]
    out: set[tuple[str, int]] = set()
    conn = store.conn
    if notes:
        q = ",".join("?" * len(notes))
        out |= {("note", r[0]) for r in conn.execute(
            f"select id from notes where id in ({q}) and origin like ?",
            [*notes, EXTERNAL_PREFIX + "%"])}
    if msgs:
        q = ",".join("?" * len(msgs))
        out |= {("message", r[0]) for r in conn.execute(
            f"select m.id from messages m join conversations c on c.id = m.conversation_id "
            f"where m.id in ({q}) and c.format = ?", [*msgs, MCP_FORMAT])}
    return out


def demote_external(store, results: list) -> list:
    """``results`` with every result resting on MCP-written evidence after all others
    (order kept within each group)."""
    ext = external_ids(store, results)
    if not ext:
        return list(results)
    own = [r for r in results if (r.kind, r.id) not in ext]
    return own + [r for r in results if (r.kind, r.id) in ext]
