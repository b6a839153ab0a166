"""Other programs that use the memory: the MCP server (``secondme mcp``)."""
