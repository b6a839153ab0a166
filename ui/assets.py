"""Where the app's bundled files are: the demo export and the icon.

Running from a checkout, the repo's ``resources/`` folder is used; a pip-installed app
uses the copy shipped inside the package (``secondme_ui/resources/``, package data).
``tests/ui/test_ui_app.py`` checks the two copies are identical.
"""
from __future__ import annotations

from pathlib import Path

PACKAGE_RESOURCES = Path(__file__).resolve().parent / "resources"
CHECKOUT_RESOURCES = Path(__file__).resolve().parent.parent / "resources"
DEMO_DIR_NAME = "demo"


def resources_dir() -> Path:
    """The checkout's resources/ when it has the demo export, else the packaged copy."""
    if (CHECKOUT_RESOURCES / DEMO_DIR_NAME).is_dir():
        return CHECKOUT_RESOURCES
    return PACKAGE_RESOURCES


def demo_export_path() -> Path:
    """The bundled demo export (a folder: chats in the generic format, a WhatsApp chat,
    Markdown notes). Raises FileNotFoundError when the installation lacks it."""
    p = resources_dir() / DEMO_DIR_NAME
    if not p.is_dir():
        raise FileNotFoundError(f"the demo export is missing from this installation ({p})")
    return p


def icon_path(ext: str = "svg") -> Path:
    for base in (resources_dir(), PACKAGE_RESOURCES):
        p = base / f"secondme.{ext}"
        if p.exists():
            return p
    return PACKAGE_RESOURCES / f"secondme.{ext}"
