"""Graph: the neighbourhood of a memory or a person, readable at a glance.

The service chooses what to draw (``sm.graph_overview``: the centre, its strongest
memories, the people and places around it, the rest grouped by period — about 40 nodes
at most). The layout (networkx spring layout) runs on a worker thread with the query.
Labels keep their size whatever the zoom and are placed so that they never overlap each
other or a node (:func:`place_labels`, run again after each zoom); a label that does not
fit is shown while the mouse is over its node. Colours come from the palette at paint
time, so both themes stay legible.

Mouse: click a node to read it (the bar below says what it is, with Open and Centre);
double-click centres on it (a group opens into its memories); right-click for more;
wheel or +/- zooms, drag pans.
"""
from __future__ import annotations

import math
from typing import Optional

from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QPainter, QPen
from PySide6.QtWidgets import (
    QGraphicsEllipseItem,
    QGraphicsItem,
    QGraphicsLineItem,
    QGraphicsScene,
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

from ..changes import quote
from ..context import AppContext
from ..render import counted, problem_words

MAX_NODES = 300          # what a layout accepts (the overview has about 40)
MAX_LABELS = 40          # labels shown at once, at most
LABEL_CHARS = 30         # a memory's label: its first words
COLOURS = {
    "fact": "#4e79a7", "note": "#4e79a7", "summary": "#59a14f", "profile": "#edc948",
    "user": "#f28e2b", "person": "#e15759", "place": "#76b7b2", "organisation": "#b07aa1",
    "organization": "#b07aa1", "other": "#9c755f", "entity": "#9c755f", "group": "#8c8c8c",
}
KIND_WORDS = {"fact": "Memory", "summary": "Summary", "profile": "Your profile",
              "user": "Written by you", "person": "Person", "place": "Place",
              "organisation": "Organisation", "organization": "Organisation",
              "other": "Name", "group": "Group"}


def node_ref(n: GraphNode) -> tuple[str, object]:
    """("note", id), ("entity", id) or ("group", "g:…") for a graph node."""
    if n.type == "group":
        return "group", n.id
    return n.type, int(n.id[1:])


def short_label(text: str, limit: int = LABEL_CHARS) -> str:
    """The first words of ``text``, at most ``limit`` characters, "…" when cut."""
    s = " ".join((text or "").split())
    if len(s) <= limit:
        return s
    cut = s[:limit - 1]
    if " " in cut[limit // 2:]:
        cut = cut[:cut.rfind(" ")]
    return cut.rstrip(",.;:") + "…"


def status_words(lay: dict) -> str:
    """The line under the graph: what is drawn around the centre, counted in words
    (``1 memory``, ``1 person or place``, ``12 more in 1 group by time``)."""
    nodes = lay["nodes"]
    notes = sum(1 for n in nodes if n["type"] == "note" and not n["centre"])
    names = sum(1 for n in nodes if n["type"] == "entity" and not n["centre"])
    groups = [n for n in nodes if n["type"] == "group"]
    centre = next((n for n in nodes if n["centre"]), None)
    bits = [counted(notes, "memory", "memories")]
    if groups:
        bits.append(f"{sum(g['count'] for g in groups):,} more in "
                    f"{counted(len(groups), 'group')} by time")
    if names:
        bits.append(counted(names, "person or place", "people and places"))
    more = " Memories further away are left out." if lay["truncated"] else ""
    head = f"Around “{short_label(centre['label'], 40)}”: " if centre else ""
    return (head + ", ".join(bits) + "." + more + " Click to read, double-click to centre "
            "(or open a group), right-click for more.")


def node_label(n: dict) -> str:
    if n["type"] == "group":
        return f"{n['count']:,} more · {n['label']}"
    if n["type"] == "entity" or n["centre"]:
        return short_label(n["label"], 44)
    return short_label(n["label"])


def layout_graph(graph: Graph, centre: Optional[str] = None,
                 max_nodes: int = MAX_NODES, previous: Optional[dict] = None) -> dict:
    """Cap and lay out ``graph`` (worker thread). Returns a plain dict for the view.

    Keeps the centre (a node id) and the nodes closest to it (breadth-first over the
    edges) when there are more than ``max_nodes``; ``hidden`` counts what was left out
    here, ``truncated`` also says when the service itself did not return everything.
    ``previous``: the last layout around the same centre — its nodes stay where they
    were (a link, an unlink or an undo never reshuffles the picture); only new nodes
    are placed.
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
            old = {nd["key"]: (nd["x"] / previous["scale"], nd["y"] / previous["scale"])
                   for nd in (previous or {}).get("nodes", [])
                   if nd["key"] in g and previous.get("centre") == centre}
            if old:
                init.update(old)
                fixed = sorted({centre, *old})
        # unit weights: the layout spreads the nodes evenly; strength shows in the pens
        pos = nx.spring_layout(g, k=2.2 / math.sqrt(n), iterations=80 if n < 150 else 35,
                               seed=7, pos=init, fixed=fixed, weight=None)
    scale = 230 + 45 * math.sqrt(max(n, 1))
    if previous and previous.get("centre") == centre and previous.get("scale"):
        scale = previous["scale"]  # the same size as before, so kept nodes stay put
    return {
        "nodes": [{"key": k, "ref": node_ref(by_key[k]), "type": by_key[k].type,
                   "kind": by_key[k].kind, "label": by_key[k].label,
                   "count": by_key[k].count, "members": list(by_key[k].members),
                   "since": by_key[k].since, "until": by_key[k].until,
                   "weight": float(by_key[k].weight or 1.0),
                   "x": float(pos[k][0]) * scale, "y": float(pos[k][1]) * scale,
                   "degree": g.degree[k], "centre": k == centre}
                  for k in g.nodes],
        "edges": [{"a": a, "b": b, "kind": d.get("kind", "related"),
                   "weight": d.get("weight", 1.0)}
                  for a, b, d in g.edges(data=True)],
        "hidden": hidden, "truncated": graph.truncated or hidden > 0, "centre": centre,
        "scale": scale,
    }


def _radius(data: dict) -> float:
    if data["centre"]:
        return 20.0
    if data["type"] == "group":
        return 14.0 + min(10.0, 2.0 * math.sqrt(max(1, data["count"])))
    if data["type"] == "entity":
        return 13.0
    return 9.0 + min(5.0, 1.5 * math.sqrt(max(1.0, data["weight"])))


class LabelItem(QGraphicsItem):
    """A node's label: text on a soft background in the palette's colours, the same
    size at any zoom (``ItemIgnoresTransformations``)."""

    PAD_X, PAD_Y = 4.0, 1.5

    def __init__(self, text: str, bold: bool, view: QGraphicsView):
        super().__init__()
        self.text = text
        self.view_ = view
        self.font = QFont(view.font())
        self.font.setPointSizeF(max(8.0, self.font.pointSizeF() - (0 if bold else 0.5)))
        self.font.setBold(bold)
        fm = QFontMetricsF(self.font)
        self.size = (fm.horizontalAdvance(text) + 2 * self.PAD_X, fm.height() + 2 * self.PAD_Y)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setZValue(3)

    def boundingRect(self) -> QRectF:  # noqa: N802
        return QRectF(0, 0, *self.size)

    def paint(self, p: QPainter, option, widget=None) -> None:
        pal = self.view_.palette()
        bg = QColor(pal.base().color())
        bg.setAlpha(215)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(bg)
        p.drawRoundedRect(self.boundingRect(), 4, 4)
        p.setPen(pal.text().color())
        p.setFont(self.font)
        p.drawText(self.boundingRect(), Qt.AlignmentFlag.AlignCenter, self.text)


class NodeItem(QGraphicsEllipseItem):
    def __init__(self, data: dict, view: GraphView):
        r = _radius(data)
        super().__init__(-r, -r, 2 * r, 2 * r)
        self.radius = r
        self.data_ = data
        self.view_ = view
        self.setPos(data["x"], data["y"])
        self.setZValue(2)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable, True)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setAcceptHoverEvents(True)
        full = " ".join(data["label"].split())
        self.setToolTip(node_label(data) if data["type"] == "group" else full)
        self.label = LabelItem(node_label(data), data["centre"], view)
        self.label.setVisible(False)
        self.placed = False  # whether place_labels found room for the label
        self.restyle()

    def restyle(self) -> None:
        """Colours from the kind and the current palette (called on a theme change)."""
        d = self.data_
        colour = QColor(COLOURS.get(d["kind"], "#8c8c8c"))
        text = self.view_.palette().text().color()
        if d["type"] == "group":
            fill = QColor(colour)
            fill.setAlpha(90)
            self.setBrush(QBrush(fill))
            self.setPen(QPen(text, 1.4, Qt.PenStyle.DashLine))
        else:
            self.setBrush(QBrush(colour))
            self.setPen(QPen(text if d["centre"] else colour.darker(140),
                             3 if d["centre"] else 1.2))

    def paint(self, p: QPainter, option, widget=None) -> None:
        super().paint(p, option, widget)
        if self.data_["type"] == "group":  # a stack: the memories it stands for
            p.setBrush(Qt.BrushStyle.NoBrush)
            pen = QPen(self.view_.palette().text().color(), 1.0)
            pen.setCosmetic(True)
            p.setPen(pen)
            r = self.radius
            for f in (0.35, 0.65):
                p.drawEllipse(QPointF(0, 0), r * f, r * f)

    def hoverEnterEvent(self, e):  # noqa: N802
        if not self.placed:  # a label that did not fit shows while the mouse is here
            self.label.setZValue(6)
            self.view_.position_label(self, self.view_.label_offsets(self)[0])
            self.label.setVisible(True)
        super().hoverEnterEvent(e)

    def hoverLeaveEvent(self, e):  # noqa: N802
        if not self.placed:
            self.label.setVisible(False)
            self.label.setZValue(3)
        super().hoverLeaveEvent(e)

    def mousePressEvent(self, e):  # noqa: N802
        if e.button() == Qt.MouseButton.LeftButton:
            self.view_.node_clicked.emit(self.data_["ref"])
        super().mousePressEvent(e)

    def mouseDoubleClickEvent(self, e):  # noqa: N802
        if e.button() == Qt.MouseButton.LeftButton:
            self.view_.node_double_clicked.emit(self.data_["ref"])

    def contextMenuEvent(self, e):  # noqa: N802
        self.view_.node_menu_requested.emit(self.data_["ref"], e.screenPos())


class GraphView(QGraphicsView):
    """Draws a laid-out graph (from :func:`layout_graph`); zoom and pan; labels placed
    so that none overlaps another or a node."""

    node_clicked = Signal(object)
    node_double_clicked = Signal(object)
    node_menu_requested = Signal(object, object)

    FIT_MARGIN_X, FIT_MARGIN_Y = 100, 34  # pixels left around the nodes for labels

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setAccessibleName("Memory graph")
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.items_by_key: dict[str, NodeItem] = {}
        self.edge_items: list[tuple[QGraphicsLineItem, dict]] = []
        self.edge_count = 0
        self._relabel = QTimer(self, singleShot=True, interval=0)
        self._relabel.timeout.connect(self.place_labels)

    def show_layout(self, lay: dict) -> None:
        sc = self.scene()
        sc.clear()
        self.items_by_key = {}
        self.edge_items = []
        pos = {n["key"]: (n["x"], n["y"]) for n in lay["nodes"]}
        for e in lay["edges"]:
            (x1, y1), (x2, y2) = pos[e["a"]], pos[e["b"]]
            line = QGraphicsLineItem(x1, y1, x2, y2)
            line.setZValue(0)
            sc.addItem(line)
            self.edge_items.append((line, e))
        self.edge_count = len(lay["edges"])
        for n in lay["nodes"]:
            item = NodeItem(n, self)
            sc.addItem(item)
            sc.addItem(item.label)
            self.items_by_key[n["key"]] = item
        self._restyle_edges()
        r = self.nodes_rect()
        # room to pan around the nodes, whatever the zoom
        sc.setSceneRect(r.adjusted(-r.width() - 400, -r.height() - 400, r.width() + 400,
                                   r.height() + 400))
        self.fit()

    def nodes_rect(self) -> QRectF:
        r = QRectF()
        for it in self.items_by_key.values():
            r = r.united(it.sceneBoundingRect())
        return r

    def fit(self) -> None:
        """Fit the nodes in view with room for their labels (never magnified beyond
        1.4×), then place the labels."""
        self.resetTransform()
        rect = self.nodes_rect()
        if self.items_by_key and rect.isValid():
            vp = self.viewport().rect()
            # labels keep their pixel size: leave pixels, not scene units, around
            sx = (vp.width() - 2 * self.FIT_MARGIN_X) / max(rect.width(), 1.0)
            sy = (vp.height() - 2 * self.FIT_MARGIN_Y) / max(rect.height(), 1.0)
            s = max(0.08, min(1.4, sx, sy))
            self.scale(s, s)
            self.centerOn(rect.center())
        self.place_labels()

    def _restyle_edges(self) -> None:
        text = self.palette().text().color()
        for line, e in self.edge_items:
            kind = e["kind"]
            c = QColor(text)
            if kind in ("same_entity", "mentions", "together"):
                c = QColor(225, 87, 89)
            elif kind == "updates":
                c = QColor(89, 161, 79)
            elif kind == "contradicts":
                c = QColor(200, 40, 40)
            c.setAlpha(70 if kind in ("mentions", "group", "together") else 110)
            width = 1.0 + min(1.6, 0.6 * math.log1p(max(0.0, float(e.get("weight") or 1))))
            style = {"group": Qt.PenStyle.DashLine, "same_entity": Qt.PenStyle.DashLine,
                     "contradicts": Qt.PenStyle.DotLine}.get(kind, Qt.PenStyle.SolidLine)
            pen = QPen(c, width, style)
            pen.setCosmetic(True)
            line.setPen(pen)

    # -- labels --------------------------------------------------------------------------
    def label_offsets(self, item: NodeItem) -> list[QPointF]:
        """Where a node's label may go (top-left corners in viewport pixels, relative
        to the node's centre): below, above, right, left, then the corners."""
        w, h = item.label.size
        r = item.radius * self.transform().m11() + 2
        return [QPointF(-w / 2, r), QPointF(-w / 2, -r - h), QPointF(r + 2, -h / 2),
                QPointF(-r - 2 - w, -h / 2), QPointF(r * 0.7, r * 0.7),
                QPointF(-r * 0.7 - w, r * 0.7), QPointF(r * 0.7, -r * 0.7 - h),
                QPointF(-r * 0.7 - w, -r * 0.7 - h)]

    def position_label(self, item: NodeItem, offset: QPointF) -> QRectF:
        """Put ``item``'s label at ``offset`` (viewport pixels from the node's centre);
        returns its rectangle in viewport pixels."""
        at = QPointF(self.mapFromScene(item.pos())) + offset
        item.label.setPos(self.mapToScene(at.toPoint()))
        # the label's exact top-left after rounding to whole pixels
        tl = QPointF(self.mapFromScene(item.label.pos()))
        return QRectF(tl.x(), tl.y(), *item.label.size)

    def place_labels(self) -> None:
        """Show as many labels as fit (at most :data:`MAX_LABELS`) without overlapping
        another label or a node: the centre first, then groups, people and places,
        then the strongest memories. Runs again after each zoom."""
        items = list(self.items_by_key.values())
        m = self.transform().m11()
        discs = [(QPointF(self.mapFromScene(i.pos())), i.radius * m + 1, i) for i in items]
        prio = {"group": 1, "entity": 2, "note": 3}
        order = sorted(items, key=lambda i: (not i.data_["centre"], prio.get(i.data_["type"], 4),
                                            -i.data_["weight"], i.data_["key"]))
        placed: list[QRectF] = []
        bounds = QRectF(self.viewport().rect()).adjusted(2, 2, -2, -2)
        for it in order:
            it.placed = False
            it.label.setVisible(False)
            if len(placed) >= MAX_LABELS:
                continue
            for off in self.label_offsets(it):
                rect = self.position_label(it, off)
                if not bounds.contains(rect) or any(rect.intersects(p) for p in placed):
                    continue
                if any(o is not it and _rect_hits_disc(rect, c, r) for c, r, o in discs):
                    continue
                placed.append(rect)
                it.placed = True
                it.label.setVisible(True)
                break

    def visible_label_rects(self) -> list[QRectF]:
        """The shown labels' rectangles in viewport pixels (for tests and figures)."""
        out = []
        for it in self.items_by_key.values():
            if it.label.isVisible():
                tl = QPointF(self.mapFromScene(it.label.pos()))
                out.append(QRectF(tl.x(), tl.y(), *it.label.size))
        return out

    # -- zoom, keys, theme ---------------------------------------------------------------
    def wheelEvent(self, e):  # noqa: N802
        factor = 1.15 if e.angleDelta().y() > 0 else 1 / 1.15
        self.zoom(factor)

    def zoom(self, factor: float) -> None:
        s = self.transform().m11() * factor
        if 0.05 < s < 8:
            self.scale(factor, factor)
            self._relabel.start()

    def resizeEvent(self, e):  # noqa: N802
        super().resizeEvent(e)
        if self.items_by_key:
            self._relabel.start()

    def keyPressEvent(self, e):  # noqa: N802
        if e.key() in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.zoom(1.2)
        elif e.key() == Qt.Key.Key_Minus:
            self.zoom(1 / 1.2)
        else:
            super().keyPressEvent(e)

    def changeEvent(self, e):  # noqa: N802
        if e.type() == QEvent.Type.PaletteChange:  # the theme changed: recolour
            for it in self.items_by_key.values():
                it.restyle()
            self._restyle_edges()
            self.viewport().update()
        super().changeEvent(e)


def _rect_hits_disc(rect: QRectF, c: QPointF, r: float) -> bool:
    x = min(max(c.x(), rect.left()), rect.right())
    y = min(max(c.y(), rect.top()), rect.bottom())
    return (x - c.x()) ** 2 + (y - c.y()) ** 2 < r * r


class GraphPanel(QWidget):
    """The graph pane: centre picker, depth, the view, what is selected, a legend."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.centre: Optional[tuple[str, int]] = None
        self.expanded: Optional[str] = None   # the group opened into its memories
        self.selected: Optional[dict] = None  # the node clicked last
        self.layout_data: Optional[dict] = None
        self._picked_first = False  # the first centre was chosen for the person
        outer = QVBoxLayout(self)
        bar = QHBoxLayout()
        self.find = QLineEdit()
        self.find.setPlaceholderText("Centre on a person or memory… (type and press Enter)")
        self.find.setAccessibleName("Find a person or memory to centre the graph on")
        self.find.returnPressed.connect(self.find_centre)
        self.depth = QSpinBox()
        self.depth.setRange(1, 3)
        self.depth.setValue(1)
        self.depth.setPrefix("links away: ")
        self.depth.setAccessibleName("How many links away")
        self.depth.setToolTip("1: the centre's own memories; 2 and 3: also the strongest "
                              "memories linked to those")
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
        self.fit_button.clicked.connect(self.view.fit)
        self.view.node_clicked.connect(self.select_node)
        self.view.node_double_clicked.connect(self.activate_node)
        self.view.node_menu_requested.connect(self._node_menu)
        outer.addWidget(self.view, 1)
        sel = QHBoxLayout()
        self.selection = QLabel("")
        self.selection.setTextFormat(Qt.TextFormat.PlainText)
        self.selection.setWordWrap(True)
        self.selection.setAccessibleName("The selected node")
        self.open_button = QPushButton("Open")
        self.open_button.setAccessibleName("Open the selected node")
        self.open_button.clicked.connect(self.open_selected)
        self.centre_button = QPushButton("Centre here")
        self.centre_button.setAccessibleName("Centre the graph on the selected node")
        self.centre_button.clicked.connect(lambda: self.selected is not None
                                           and self.activate_node(self.selected["ref"]))
        sel.addWidget(self.selection, 1)
        sel.addWidget(self.open_button)
        sel.addWidget(self.centre_button)
        outer.addLayout(sel)
        self.info = QLabel("Pick a memory (Memories → Show in graph) or type a person's name "
                           "above.")
        self.info.setTextFormat(Qt.TextFormat.PlainText)
        self.info.setObjectName("hint")
        self.info.setWordWrap(True)
        legend = QLabel("  ".join(
            f'<span style="color:{COLOURS[k]}">●</span> {label}'
            for k, label in (("fact", "memory"), ("summary", "summary"), ("user", "yours"),
                             ("person", "person"), ("place", "place"),
                             ("organisation", "organisation"), ("group", "grouped"))))
        legend.setTextFormat(Qt.TextFormat.RichText)
        row = QHBoxLayout()
        row.addWidget(self.info, 1)
        row.addWidget(legend)
        outer.addLayout(row)
        self._show_selection(None)

    # -- centre --------------------------------------------------------------------------
    def showEvent(self, e) -> None:  # noqa: N802 - Qt override
        super().showEvent(e)
        if self.centre is None and not self._picked_first:
            self._picked_first = True
            self.pick_first_centre()

    def pick_first_centre(self) -> None:
        """Opened with nothing chosen: centre on the person most memories are about (not
        the user: everything is about them), so that the pane never opens empty."""
        sm = self.ctx.sm

        def work(progress, cancel):
            return sm.list_entities(kind="person", limit=6, displayable=True)

        def chosen(people: list[Entity]) -> None:
            first = next((p for p in people if not p.is_me and p.mentions), None)
            if self.centre is None and first is not None:
                self.set_centre(("entity", first.id))

        self.ctx.runner.run(work, key="graph-first", on_success=chosen)

    def show_note(self, note_id: int) -> None:
        self.set_centre(("note", note_id))

    def show_entity(self, entity_id: int) -> None:
        self.set_centre(("entity", entity_id))

    def set_centre(self, ref: tuple[str, int]) -> None:
        self.centre = (ref[0], ref[1])
        self.expanded = None
        self.reload()

    def reload(self) -> None:
        if self.centre is None:
            return
        kind, ident = self.centre
        depth, expand = self.depth.value(), self.expanded
        sm = self.ctx.sm
        kw = {"note_id": ident} if kind == "note" else {"entity_id": ident}
        self.info.setText("Loading the neighbourhood…")
        centre_key = self._centre_key  # a plain function: the worker holds no pane
        last = self.layout_data  # the same centre again: its nodes stay where they were

        def work(progress, cancel):
            g = sm.graph_overview(depth=depth, expand=expand, **kw)
            cancel.raise_if_cancelled()
            return layout_graph(g, centre=centre_key(g, kind, ident), previous=last)

        self.ctx.runner.run(work, key="graph", on_success=self._laid_out,
                            on_error=self._failed)

    @staticmethod
    def _centre_key(g: Graph, kind: str, ident: int) -> Optional[str]:
        for n in g.nodes:
            if node_ref(n) == (kind, ident):
                return n.id
        return None

    def _failed(self, e: BaseException) -> bool:
        self.info.setText(f"Cannot show this neighbourhood: {problem_words(e)}.")
        return False

    def _laid_out(self, lay: dict) -> None:
        self.layout_data = lay
        self.view.show_layout(lay)
        self._show_selection(None)
        self.info.setText(status_words(lay))

    def find_centre(self) -> None:
        q = self.find.text().strip()
        if not q:
            return
        sm = self.ctx.sm

        def work(progress, cancel):
            return (sm.list_entities(query=q, limit=8, displayable=True),
                    sm.list_notes(query=q, limit=8))

        self.ctx.runner.run(work, key="graph-find", on_success=self._found)

    def _found(self, result: tuple[list[Entity], list[Note]]) -> None:
        people, notes = result
        options = [(("entity", p.id), f"👤 {p.name} ({KIND_WORDS.get(p.kind, p.kind).lower()})")
                   for p in people]
        options += [(("note", n.id), "🧠 " + short_label(n.text, 70)) for n in notes]
        if not options:
            self.info.setText(f"Nothing called “{self.find.text().strip()}” was found.")
            return
        typed = " ".join(self.find.text().split()).casefold()
        exact = [p for p in people if " ".join(p.name.split()).casefold() == typed]
        if len(options) == 1 or len(exact) == 1:
            # one match, or the person's full name typed: centre at once
            self.set_centre(("entity", exact[0].id) if len(exact) == 1 else options[0][0])
            return
        menu = QMenu(self)
        for ref, label in options:
            menu.addAction(label, lambda r=ref: self.set_centre(r))
        menu.popup(self.find.mapToGlobal(self.find.rect().bottomLeft()))
        menu.setActiveAction(menu.actions()[0])  # Enter picks the first, as it looks
        self._find_menu = menu

    # -- interactions --------------------------------------------------------------------
    def node(self, ref) -> Optional[dict]:
        for n in (self.layout_data or {"nodes": []})["nodes"]:
            if n["ref"] == tuple(ref):
                return n
        return None

    def select_node(self, ref) -> None:
        """A click: say what the node is below the graph (nothing else happens, so that
        a double-click can centre without leaving the pane)."""
        self._show_selection(self.node(ref))

    def _show_selection(self, n: Optional[dict]) -> None:
        self.selected = n
        if n is None:
            self.selection.setText("Click a node to read it.")
            self.open_button.setEnabled(False)
            self.centre_button.setEnabled(False)
            return
        text = " ".join(n["label"].split())
        if n["type"] == "group":
            what = f"{n['count']:,} more memories from {n['label']}"
            self.open_button.setText("Show them here")
        else:
            what = f"{KIND_WORDS.get(n['kind'], 'Memory')}: {text}"
            self.open_button.setText("Open in Memories" if n["type"] == "note"
                                     else "Their memories")
        self.selection.setText(short_label(what, 400))
        self.open_button.setEnabled(True)
        self.centre_button.setEnabled(not n["centre"])
        self.centre_button.setText("Open the group" if n["type"] == "group" else "Centre here")

    def activate_node(self, ref) -> None:
        """A double-click: centre on a memory or a person; open a group."""
        if ref[0] == "group":
            self.expanded = ref[1]
            self.reload()
        else:
            self.set_centre(ref)

    def open_selected(self) -> None:
        n = self.selected
        if n is None:
            return
        kind, ident = n["ref"]
        if kind == "note":
            self.ctx.open_note(ident)
        elif kind == "entity":
            self.ctx.filter_memories(person=n["label"])
        else:
            self.activate_node(n["ref"])

    def _node_menu(self, ref, screen_pos) -> None:
        menu = self.node_menu(ref)
        menu.exec(screen_pos)

    def node_menu(self, ref) -> QMenu:
        kind, ident = ref
        menu = QMenu(self)
        n = self.node(ref)
        if kind == "note":
            menu.addAction("Open in Memories", lambda: self.ctx.open_note(ident))
        elif kind == "entity":
            menu.addAction("Show their memories", lambda: self._person_memories(ref))
        else:
            menu.addAction("Show these memories here", lambda: self.activate_node(ref))
            if n is not None:
                menu.addAction("Show them in Memories", lambda: self._group_memories(n))
            return menu
        menu.addAction("Centre here", lambda: self.set_centre(ref))
        centre = self.centre
        if kind == "note" and centre and centre[0] == "note" and centre[1] != ident:
            linked = self._linked_to_centre(ref)
            if linked:
                menu.addAction("Unlink from the centre", lambda: self.unlink(centre[1], ident))
            else:
                menu.addAction("Link to the centre", lambda: self.link(centre[1], ident))
        return menu

    def _centre_ref(self):
        return tuple(self.centre) if self.centre else ()

    def _group_memories(self, group: dict) -> None:
        centre = self.node(self._centre_ref())
        around = f" around “{short_label(centre['label'], 40)}”" if centre else ""
        self.ctx.filter_memories(ids=list(group["members"]),
                                 why=f"Showing {group['count']:,} memories from "
                                     f"{group['label']}{around} (from the graph).")

    def _person_memories(self, ref) -> None:
        n = self.node(ref)
        if n is not None:
            self.ctx.filter_memories(person=n["label"])

    def _linked_to_centre(self, ref) -> bool:
        lay = self.layout_data or {"nodes": [], "edges": []}
        keys = {n["ref"]: n["key"] for n in lay["nodes"]}
        a, b = keys.get(self._centre_ref()), keys.get(tuple(ref))
        return any({e["a"], e["b"]} == {a, b} and e["kind"] not in ("mentions", "together")
                   for e in lay["edges"])

    def _pair_words(self, a: int, b: int) -> str:
        na, nb = self.node(("note", a)), self.node(("note", b))
        return (f"{quote(na['label'], 30) if na else 'a memory'} and "
                f"{quote(nb['label'], 30) if nb else 'another'}")

    def link(self, a: int, b: int, kind: str = "related") -> None:
        """Link two memories (Ctrl+Z undoes it)."""
        self.ctx.changes.run(lambda sm: sm.link_notes(a, b, kind),
                             f"link of {self._pair_words(a, b)}",
                             on_success=lambda _r: self.reload())

    def unlink(self, a: int, b: int) -> None:
        """Unlink two memories (Ctrl+Z undoes it)."""
        self.ctx.changes.run(lambda sm: sm.unlink_notes(a, b),
                             f"unlinking of {self._pair_words(a, b)}",
                             on_success=lambda _r: self.reload())

    def on_hook(self, name: str, payload: dict) -> None:
        if name == "notes_did_change" and self.isVisible() and self.centre is not None:
            self.reload()


def main() -> int:
    from .standalone import run_pane

    def after(panel: GraphPanel) -> None:
        people = panel.ctx.sm.list_entities(kind="person", limit=5, displayable=True)
        notes = panel.ctx.sm.list_notes(limit=50)
        if people:
            panel.show_entity(people[0].id)
        elif notes:
            panel.show_note(notes[0].id)

    return run_pane(GraphPanel, "Graph", after=after)


if __name__ == "__main__":
    raise SystemExit(main())
