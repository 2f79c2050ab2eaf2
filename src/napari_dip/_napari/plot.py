"""The widget's live plot: the data loss and the held-out score against iterations.

Drawn with Qt's painter (no plotting library), on a log scale, from the
snapshots the run emits; redrawn at most every ``REDRAW_MS`` so a fast fit
is not slowed by its own plot.  A run of several fits shows the current fit,
titled "fit k/N"; after the run the last fit stays, with the iteration the
automatic stop picked marked.
"""

from __future__ import annotations

import math

from qtpy.QtCore import QPointF, QRectF, Qt, QTimer
from qtpy.QtGui import QColor, QPainter, QPainterPath, QPen
from qtpy.QtWidgets import QSizePolicy, QWidget

__all__ = ["ScorePlot"]

#: The least time between two redraws.
REDRAW_MS = 200
LOSS_COLOUR, HELD_OUT_COLOUR, PICK_COLOUR = QColor("#4fc3f7"), QColor("#ffb74d"), QColor("#e0e0e0")
MARGIN = 8


class ScorePlot(QWidget):
    """Loss and held-out score of the current fit against iterations, log scale."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setMinimumHeight(120)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        #: (iteration, loss, held-out score or None) of the current fit.
        self.points: list[tuple[int, float, float | None]] = []
        self.best: int | None = None
        self.title = ""
        self._fit = 0
        self._redraw = QTimer(self)
        self._redraw.setSingleShot(True)
        self._redraw.setInterval(REDRAW_MS)
        self._redraw.timeout.connect(self.update)

    def clear(self) -> None:
        self.points, self.best, self.title, self._fit = [], None, "", 0
        self.update()

    def add(self, snapshot) -> None:
        """Take a run's snapshot; a new fit starts a new curve."""
        if snapshot.fit != self._fit and not snapshot.done:
            self.points, self.best, self._fit = [], None, snapshot.fit
        fit = f"fit {snapshot.fit}/{snapshot.fits}, " if snapshot.fits > 1 else ""
        if not snapshot.done:
            self.points.append((snapshot.iteration, snapshot.loss, snapshot.held_out))
        if snapshot.best_iteration:  # 0: the rule has no pick yet
            self.best = snapshot.best_iteration
        stop = "stopped" if snapshot.done else "so far"
        pick = f", best held-out at {self.best} ({stop})" if self.best else ""
        self.title = f"{fit}iteration {snapshot.iteration}{pick}"
        if snapshot.done:
            self.update()
        elif not self._redraw.isActive():
            self._redraw.start()

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        box = QRectF(self.rect()).adjusted(MARGIN + 34, MARGIN + 16, -MARGIN, -MARGIN - 14)
        painter.setPen(QPen(QColor("#888888")))
        painter.drawRect(box)
        painter.drawText(QPointF(MARGIN, MARGIN + 10), self.title or "loss and held-out score")
        values = [v for _, loss, held in self.points for v in (loss, held) if _positive(v)]
        if len(self.points) < 2 or not values:
            painter.end()
            return
        low, high = math.log10(min(values)), math.log10(max(values))
        high = high if high > low else low + 1
        first, last = self.points[0][0], self.points[-1][0]
        last = last if last > first else first + 1

        def at(iteration: float, value: float) -> QPointF:
            x = box.left() + (iteration - first) / (last - first) * box.width()
            y = box.bottom() - (math.log10(value) - low) / (high - low) * box.height()
            return QPointF(x, y)

        for index, colour in ((1, LOSS_COLOUR), (2, HELD_OUT_COLOUR)):
            curve = [at(p[0], p[index]) for p in self.points if _positive(p[index])]
            _draw(painter, curve, colour)
        if self.best is not None and first <= self.best <= last:
            painter.setPen(QPen(PICK_COLOUR, 1, Qt.PenStyle.DashLine))
            x = at(self.best, 10**low).x()
            painter.drawLine(QPointF(x, box.top()), QPointF(x, box.bottom()))
        painter.setPen(QPen(QColor("#aaaaaa")))
        painter.drawText(QPointF(MARGIN, box.top() + 10), f"{10**high:.2g}")
        painter.drawText(QPointF(MARGIN, box.bottom()), f"{10**low:.2g}")
        painter.drawText(QPointF(box.left(), box.bottom() + 13), str(first))
        painter.drawText(QPointF(box.right() - 30, box.bottom() + 13), str(last))
        _legend(painter, box)
        painter.end()


def _positive(value) -> bool:
    return value is not None and math.isfinite(value) and value > 0


def _draw(painter: QPainter, points: list[QPointF], colour: QColor) -> None:
    if len(points) < 2:
        return
    path = QPainterPath(points[0])
    for point in points[1:]:
        path.lineTo(point)
    painter.setPen(QPen(colour, 1.5))
    painter.drawPath(path)


def _legend(painter: QPainter, box: QRectF) -> None:
    entries = ((LOSS_COLOUR, "data loss"), (HELD_OUT_COLOUR, "held-out score"))
    width = max(painter.fontMetrics().horizontalAdvance(text) for _, text in entries)
    left = box.right() - width - 24
    for row, (colour, text) in enumerate(entries):
        y = box.top() + 12 + 13 * row
        painter.setPen(QPen(colour, 2))
        painter.drawLine(QPointF(left, y - 4), QPointF(left + 14, y - 4))
        painter.drawText(QPointF(left + 18, y), text)
