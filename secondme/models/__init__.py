"""Model backends behind small interfaces: embedders (``embed``) and LLMs (``llm``)."""
