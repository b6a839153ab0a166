"""Recall: hybrid search, question parsing, cited answers."""
