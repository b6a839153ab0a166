"""secondme: a local-first second memory built from a person's chats and documents.

This package is the headless core. It never imports Qt (a test enforces it); the
desktop app lives in ``secondme_ui`` and talks to :class:`secondme.service.SecondMe`.
Importing ``secondme`` is cheap: no torch, llama.cpp or Qt until a model is used.
"""
__version__ = "0.1.0"
