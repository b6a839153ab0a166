"""secondme's desktop app (PySide6). Installed as ``secondme_ui``; talks to the core
only through :class:`secondme.service.SecondMe`."""
