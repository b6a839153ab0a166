"""Import: one module per source format, normalised into conversations/messages/documents."""
