"""Graph: the neighbourhood of a memory or a person, force-directed.

The service caps the neighbourhood (``graph(..., limit=)``); this view caps it again at
:data:`MAX_NODES` and says how many more were not shown, so the view stays fluid on a
100k-note store (other apps' graph views freeze at a few thousand nodes). The layout
(networkx spring layout) is computed on a worker thread together with the query; the GUI
thread only creates ≤ 300 items. Zoom with the wheel or +/-, pan by dragging, click a
node to open it, double-click to centre on it, right-click to link/unlink.
"""
from __future__ import annotations

import math
from typing import Optional

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import (
    QGraphicsEllipseItem,
    QGraphicsItem,
    QGraphicsLineItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from secondme.api import Entity, Graph, GraphNode, Note

from ..context import AppContext

MAX_NODES = 300
COLOURS = {
    "fact": "#4e79a7", "note": "#4e79a7", "summary": "#59a14f", "profile": "#edc948",
    "user": "#f28e2b", "person": "#e15759", "place": "#76b7b2", "organisation": "#b07aa1",
    "organization": "#b07aa1", "other": "#9c755f", "entity": "#9c755f",
}


def node_ref(n: GraphNode) -> tuple[str, int]:
    """("note", id) or ("entity", id) for a graph node (whose id looks like "n12" / "e5")."""
    return n.type, int(n.id[1:])


def layout_graph(graph: Graph, centre: Optional[str] = None,
                 max_nodes: int = MAX_NODES) -> dict:
    """Cap and lay out ``graph`` (worker thread). Returns a plain dict for the view.

    Keeps the centre (a node id) and the nodes closest to it (breadth-first over the
    edges) when there are more than ``max_nodes``; ``hidden`` counts what was left out
    here, ``truncated`` also says when the service itself did not return everything.
    """
    import networkx as nx

    by_key = {n.id: n for n in graph.nodes}
    g = nx.Graph()
    g.add_nodes_from(by_key)
    for e in graph.edges:
        if e.src in by_key and e.dst in by_key and e.src != e.dst:
            g.add_edge(e.src, e.dst, kind=e.kind, weight=float(e.weight or 1.0))
    hidden = 0
    if centre is None and graph.nodes:
        centre = (max(g.degree, key=lambda kv: kv[1])[0] if g.number_of_edges()
                  else graph.nodes[0].id)
    if g.number_of_nodes() > max_nodes:
        keep: list[str] = []
        if centre in g:
            keep = [n for n, _d in zip(nx.bfs_tree(g, centre).nodes, range(max_nodes))]
        for n in g.nodes:
            if len(keep) >= max_nodes:
                break
            if n not in keep:
                keep.append(n)
        hidden += g.number_of_nodes() - len(keep)
        g = g.subgraph(keep).copy()
    n = g.number_of_nodes()
    if n == 0:
        pos = {}
    elif n == 1:
        pos = {next(iter(g.nodes)): (0.0, 0.0)}
    else:
        fixed = None
        init = None
        if centre in g:
            init = {k: (math.cos(i), math.sin(i)) for i, k in enumerate(g.nodes)}
            init[centre] = (0.0, 0.0)
            fixed = [centre]
        pos = nx.spring_layout(g, k=1.6 / math.sqrt(n), iterations=60 if n < 150 else 35,
                               seed=7, pos=init, fixed=fixed)
    scale = 260 + 22 * math.sqrt(max(n, 1))
    return {
        "nodes": [{"key": k, "ref": node_ref(by_key[k]), "kind": by_key[k].kind,
                   "label": by_key[k].label,
                   "x": float(pos[k][0]) * scale, "y": float(pos[k][1]) * scale,
                   "degree": g.degree[k], "centre": k == centre}
                  for k in g.nodes],
        "edges": [{"a": a, "b": b, "kind": d.get("kind", "related")}
                  for a, b, d in g.edges(data=True)],
        "hidden": hidden, "truncated": graph.truncated or hidden > 0, "centre": centre,
    }


class NodeItem(QGraphicsEllipseItem):
    def __init__(self, data: dict, view: GraphView):
        r = 16 if data["centre"] else 9 + min(7, data["degree"])
        super().__init__(-r, -r, 2 * r, 2 * r)
        self.data_ = data
        self.view_ = view
        colour = QColor(COLOURS.get(data["kind"], "#8c8c8c"))
        self.setBrush(QBrush(colour))
        self.setPen(QPen(QColor("#222222" if data["centre"] else colour.darker(140)),
                         3 if data["centre"] else 1.2))
        self.setPos(data["x"], data["y"])
        self.setZValue(2)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable, True)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setAcceptHoverEvents(True)
        label = data["label"].replace("\n", " ")
        self.setToolTip(label)
        short = label if len(label) <= 34 else label[:33] + "…"
        self.text = QGraphicsSimpleTextItem(short, self)
        f = QFont()
        f.setPointSizeF(8.5 if not data["centre"] else 10)
        f.setBold(data["centre"])
        self.text.setFont(f)
        self.text.setBrush(QBrush(view.palette().text().color()))
        br = self.text.boundingRect()
        self.text.setPos(-br.width() / 2, r + 2)

    def mousePressEvent(self, e):  # noqa: N802
        if e.button() == Qt.MouseButton.LeftButton:
            self.view_.node_clicked.emit(self.data_["ref"])
        super().mousePressEvent(e)

    def mouseDoubleClickEvent(self, e):  # noqa: N802
        self.view_.node_double_clicked.emit(self.data_["ref"])

    def contextMenuEvent(self, e):  # noqa: N802
        self.view_.node_menu_requested.emit(self.data_["ref"], e.screenPos())


class GraphView(QGraphicsView):
    """Draws a laid-out graph (from :func:`layout_graph`); zoom and pan."""

    node_clicked = Signal(object)
    node_double_clicked = Signal(object)
    node_menu_requested = Signal(object, object)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setAccessibleName("Memory graph")
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.items_by_key: dict[str, NodeItem] = {}
        self.edge_count = 0

    def show_layout(self, lay: dict) -> None:
        sc = self.scene()
        sc.clear()
        self.items_by_key = {}
        pen_by_kind = {
            "related": QPen(QColor(140, 140, 140, 160), 1.2),
            "same_entity": QPen(QColor(225, 87, 89, 150), 1.2, Qt.PenStyle.DashLine),
            "updates": QPen(QColor(89, 161, 79, 190), 1.6),
            "contradicts": QPen(QColor(200, 40, 40, 200), 1.6, Qt.PenStyle.DotLine),
            "mentions": QPen(QColor(225, 87, 89, 110), 1.0),
        }
        default = QPen(QColor(140, 140, 140, 140), 1.0)
        pos = {n["key"]: (n["x"], n["y"]) for n in lay["nodes"]}
        for e in lay["edges"]:
            (x1, y1), (x2, y2) = pos[e["a"]], pos[e["b"]]
            line = QGraphicsLineItem(x1, y1, x2, y2)
            line.setPen(pen_by_kind.get(e["kind"], default))
            line.setZValue(0)
            sc.addItem(line)
        self.edge_count = len(lay["edges"])
        for n in lay["nodes"]:
            item = NodeItem(n, self)
            sc.addItem(item)
            self.items_by_key[n["key"]] = item
        rect = sc.itemsBoundingRect().adjusted(-60, -60, 60, 60)
        sc.setSceneRect(rect)
        self.resetTransform()
        if lay["nodes"]:
            self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
            if self.transform().m11() > 1.4:
                self.resetTransform()
                self.scale(1.4, 1.4)
            self.centerOn(0, 0)

    def wheelEvent(self, e):  # noqa: N802
        factor = 1.15 if e.angleDelta().y() > 0 else 1 / 1.15
        self.zoom(factor)

    def zoom(self, factor: float) -> None:
        s = self.transform().m11() * factor
        if 0.05 < s < 8:
            self.scale(factor, factor)

    def keyPressEvent(self, e):  # noqa: N802
        if e.key() in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.zoom(1.2)
        elif e.key() == Qt.Key.Key_Minus:
            self.zoom(1 / 1.2)
        else:
            super().keyPressEvent(e)


class GraphPanel(QWidget):
    """The graph pane: centre picker, depth, the view, a legend."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.centre: Optional[tuple[str, int]] = None
        self.layout_data: Optional[dict] = None
        outer = QVBoxLayout(self)
        bar = QHBoxLayout()
        self.find = QLineEdit()
        self.find.setPlaceholderText("Centre on a person or memory… (type and press Enter)")
        self.find.setAccessibleName("Find a person or memory to centre the graph on")
        self.find.returnPressed.connect(self.find_centre)
        self.depth = QSpinBox()
        self.depth.setRange(1, 4)
        self.depth.setValue(2)
        self.depth.setPrefix("depth ")
        self.depth.setAccessibleName("Depth")
        self.depth.valueChanged.connect(lambda _: self.reload())
        self.zoom_in = QPushButton("+")
        self.zoom_in.setAccessibleName("Zoom in")
        self.zoom_out = QPushButton("−")
        self.zoom_out.setAccessibleName("Zoom out")
        self.fit_button = QPushButton("Fit")
        self.fit_button.setAccessibleName("Fit the graph in view")
        for b in (self.zoom_in, self.zoom_out, self.fit_button):
            b.setMaximumWidth(48)
        bar.addWidget(self.find, 1)
        bar.addWidget(self.depth)
        bar.addWidget(self.zoom_in)
        bar.addWidget(self.zoom_out)
        bar.addWidget(self.fit_button)
        outer.addLayout(bar)
        self.view = GraphView()
        self.zoom_in.clicked.connect(lambda: self.view.zoom(1.25))
        self.zoom_out.clicked.connect(lambda: self.view.zoom(0.8))
        self.fit_button.clicked.connect(self._fit)
        self.view.node_clicked.connect(self._clicked)
        self.view.node_double_clicked.connect(self.set_centre)
        self.view.node_menu_requested.connect(self._node_menu)
        outer.addWidget(self.view, 1)
        self.info = QLabel("Pick a memory (Memories → Show in graph) or type a person's name "
                           "above.")
        self.info.setTextFormat(Qt.TextFormat.PlainText)
        self.info.setObjectName("hint")
        legend = QLabel("  ".join(
            f'<span style="color:{COLOURS[k]}">●</span> {k}'
            for k in ("fact", "summary", "profile", "user", "person", "place", "organisation")))
        legend.setTextFormat(Qt.TextFormat.RichText)
        row = QHBoxLayout()
        row.addWidget(self.info, 1)
        row.addWidget(legend)
        outer.addLayout(row)

    def _fit(self) -> None:
        r = self.view.scene().itemsBoundingRect()
        if not r.isEmpty():
            self.view.fitInView(r.adjusted(-40, -40, 40, 40), Qt.AspectRatioMode.KeepAspectRatio)

    # -- centre --------------------------------------------------------------------------
    def show_note(self, note_id: int) -> None:
        self.set_centre(("note", note_id))

    def show_entity(self, entity_id: int) -> None:
        self.set_centre(("entity", entity_id))

    def set_centre(self, ref: tuple[str, int]) -> None:
        self.centre = (ref[0], ref[1])
        self.reload()

    def reload(self) -> None:
        if self.centre is None:
            return
        kind, ident = self.centre
        depth = self.depth.value()
        sm = self.ctx.sm
        kw = {"note_id": ident} if kind == "note" else {"entity_id": ident}
        self.info.setText("Loading the neighbourhood…")

        centre_key = self._centre_key  # a plain function: the worker holds no pane

        def work(progress, cancel):
            g = sm.graph(depth=depth, limit=MAX_NODES, **kw)
            cancel.raise_if_cancelled()
            return layout_graph(g, centre=centre_key(g, kind, ident))

        self.ctx.runner.run(work, key="graph", on_success=self._laid_out,
                            on_error=self._failed)

    @staticmethod
    def _centre_key(g: Graph, kind: str, ident: int) -> Optional[str]:
        for n in g.nodes:
            if node_ref(n) == (kind, ident):
                return n.id
        return None

    def _failed(self, e: BaseException) -> bool:
        self.info.setText(f"Cannot show this neighbourhood: {e}")
        return False

    def _laid_out(self, lay: dict) -> None:
        self.layout_data = lay
        self.view.show_layout(lay)
        n, m = len(lay["nodes"]), len(lay["edges"])
        if lay["hidden"]:
            more = f" · {lay['hidden']:,} more not shown"
        elif lay["truncated"]:
            more = f" · more not shown (capped at {MAX_NODES} nodes)"
        else:
            more = ""
        self.info.setText(f"{n} nodes, {m} links{more}. Click to open, double-click to centre, "
                          "right-click to link or unlink; wheel zooms, drag pans.")

    def find_centre(self) -> None:
        q = self.find.text().strip()
        if not q:
            return
        sm = self.ctx.sm

        def work(progress, cancel):
            return sm.list_entities(query=q, limit=8), sm.list_notes(query=q, limit=8)

        self.ctx.runner.run(work, key="graph-find", on_success=self._found)

    def _found(self, result: tuple[list[Entity], list[Note]]) -> None:
        people, notes = result
        options = [(("entity", p.id), f"👤 {p.name} ({p.kind})") for p in people]
        options += [(("note", n.id), "🧠 " + " ".join(n.text.split())[:70]) for n in notes]
        if not options:
            self.info.setText(f"Nothing called “{self.find.text().strip()}” was found.")
            return
        if len(options) == 1:
            self.set_centre(options[0][0])
            return
        menu = QMenu(self)
        for ref, label in options:
            menu.addAction(label, lambda r=ref: self.set_centre(r))
        menu.popup(self.find.mapToGlobal(self.find.rect().bottomLeft()))
        self._find_menu = menu

    # -- interactions --------------------------------------------------------------------
    def _clicked(self, ref: tuple[str, int]) -> None:
        kind, ident = ref
        if kind == "note":
            self.ctx.open_note(ident)
        else:
            self.info.setText("Double-click to centre on this person; right-click for more.")

    def _node_menu(self, ref: tuple[str, int], screen_pos) -> None:
        menu = self.node_menu(ref)
        menu.exec(screen_pos)

    def node_menu(self, ref: tuple[str, int]) -> QMenu:
        kind, ident = ref
        menu = QMenu(self)
        if kind == "note":
            menu.addAction("Open in Memories", lambda: self.ctx.open_note(ident))
        else:
            menu.addAction("Show this person's memories",
                           lambda: self._person_memories(ref))
        menu.addAction("Centre here", lambda: self.set_centre(ref))
        centre = self.centre
        if kind == "note" and centre and centre[0] == "note" and centre[1] != ident:
            linked = self._linked_to_centre(ref)
            if linked:
                menu.addAction("Unlink from the centre", lambda: self.unlink(centre[1], ident))
            else:
                menu.addAction("Link to the centre", lambda: self.link(centre[1], ident))
        return menu

    def _person_memories(self, ref) -> None:
        lay = self.layout_data or {"nodes": []}
        for n in lay["nodes"]:
            if n["ref"] == ref:
                self.ctx.filter_memories(person=n["label"])
                return

    def _linked_to_centre(self, ref) -> bool:
        lay = self.layout_data or {"nodes": [], "edges": []}
        keys = {n["ref"]: n["key"] for n in lay["nodes"]}
        a, b = keys.get(tuple(self.centre or ())), keys.get(tuple(ref))
        return any({e["a"], e["b"]} == {a, b} and e["kind"] not in ("mentions",)
                   for e in lay["edges"])

    def link(self, a: int, b: int, kind: str = "related") -> None:
        sm = self.ctx.sm
        self.ctx.runner.run(lambda p, c: sm.link_notes(a, b, kind), serial=True,
                            on_success=lambda _r: self.reload())

    def unlink(self, a: int, b: int) -> None:
        sm = self.ctx.sm
        self.ctx.runner.run(lambda p, c: sm.unlink_notes(a, b), serial=True,
                            on_success=lambda _r: self.reload())

    def on_hook(self, name: str, payload: dict) -> None:
        if name == "notes_did_change" and self.isVisible() and self.centre is not None:
            self.reload()


def main() -> int:
    from .standalone import run_pane

    def after(panel: GraphPanel) -> None:
        notes = panel.ctx.sm.list_notes(limit=50)
        if notes:
            panel.show_note(notes[0].id)

    return run_pane(GraphPanel, "Graph", after=after)


if __name__ == "__main__":
    raise SystemExit(main())
