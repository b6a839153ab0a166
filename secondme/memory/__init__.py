"""Memory formation: fact extraction, notes, reconciliation, links, entities, time."""
