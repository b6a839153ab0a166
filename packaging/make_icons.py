"""Render the app icon (resources/secondme.svg, owned by the UI) into the freedesktop
hicolor sizes under packaging/icons/, as io.secondme.SecondMe.png / .svg.

    python packaging/make_icons.py

The PNGs are committed; run this again when the SVG changes.
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

APP_ID = "io.secondme.SecondMe"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
ROOT = Path(__file__).resolve().parent.parent
SVG = ROOT / "resources" / "secondme.svg"
OUT = Path(__file__).resolve().parent / "icons" / "hicolor"


def main() -> None:
    import os

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    app = QGuiApplication(sys.argv[:1])  # noqa: F841  (QImage painting needs one)
    renderer = QSvgRenderer(str(SVG))
    if not renderer.isValid():
        sys.exit(f"cannot read {SVG}")
    for size in SIZES:
        d = OUT / f"{size}x{size}" / "apps"
        d.mkdir(parents=True, exist_ok=True)
        img = QImage(size, size, QImage.Format.Format_ARGB32)
        img.fill(Qt.GlobalColor.transparent)
        p = QPainter(img)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(p)
        p.end()
        if not img.save(str(d / f"{APP_ID}.png")):
            sys.exit(f"cannot write {d}")
    scalable = OUT / "scalable" / "apps"
    scalable.mkdir(parents=True, exist_ok=True)
    shutil.copy2(SVG, scalable / f"{APP_ID}.svg")
    print(f"icons written to {OUT}")


if __name__ == "__main__":
    main()
