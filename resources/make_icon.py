"""Renders resources/secondme.svg to secondme.png (256 px) and copies both into the
package (ui/resources/). Run: python resources/make_icon.py"""
import shutil
import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

root = Path(__file__).resolve().parent
app = QGuiApplication(sys.argv[:1])
img = QImage(256, 256, QImage.Format.Format_ARGB32)
img.fill(Qt.GlobalColor.transparent)
p = QPainter(img)
QSvgRenderer(str(root / "secondme.svg")).render(p)
p.end()
img.save(str(root / "secondme.png"))
for name in ("secondme.svg", "secondme.png"):
    shutil.copy2(root / name, root.parent / "ui" / "resources" / name)
print("ok")
