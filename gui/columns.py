"""The plugin table's columns by priority: as many as fit, never a horizontal scrollbar.

Name and State always show; the others, from the most to the least useful, show while
the viewport has room for them at their width and hide as it narrows. Name takes what
is left (it stretches). The header's context menu lets the user hide or show any other
column; ID starts hidden (it is in the Name cell's tooltip). A column the user hid stays
hidden however wide the window gets; a column the user showed still gives way when the
table is too narrow for it.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QPoint, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QHeaderView, QMenu, QTableView
from shiboken6 import isValid

from .pluginmodel import HEADERS, Column

#: Most useful first. Name and State are not in it: they always show.
PRIORITY: tuple[Column, ...] = (Column.CALLS, Column.ERROR_RATE, Column.P95, Column.P50,
                                Column.STABLE, Column.CANARY, Column.ID)
ALWAYS = (Column.NAME, Column.STATE)
HIDDEN_BY_DEFAULT = frozenset({Column.ID})
#: What a cell of each column typically holds, to size the column for it.
SAMPLES = {
    Column.NAME: "image processor", Column.ID: "image-processor", Column.STABLE: "10.2.3",
    Column.CANARY: "10.2.4 (50%)", Column.STATE: "compiling (fast) 12 s",
    Column.CALLS: "1,234,567", Column.ERROR_RATE: "100.0%", Column.P50: "1234.5 ms",
    Column.P95: "1234.5 ms",
}
#: The icon, the cell's margins and the header's sort arrow.
_EXTRA = {Column.STATE: 30, Column.CANARY: 24}


class ColumnFitter(QObject):
    """Keeps ``table``'s columns fitting its viewport, by :data:`PRIORITY`."""

    def __init__(self, table: QTableView) -> None:
        super().__init__(table)
        self.table = table
        self.header = header = table.horizontalHeader()
        self.user_hidden: set[int] = set(HIDDEN_BY_DEFAULT)
        self._auto_hidden: set[int] = set()  # hidden by fit() for want of room
        self.menu: QMenu | None = None
        self._fitting = False
        fm = table.fontMetrics()
        head = header.fontMetrics()
        self.widths: dict[int, int] = {
            c: max(fm.horizontalAdvance(SAMPLES[c]), head.horizontalAdvance(HEADERS[c]) + 18)
            + 18 + _EXTRA.get(c, 0) for c in Column}
        self.name_min = self.widths[Column.NAME]
        header.setStretchLastSection(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(Column.NAME, QHeaderView.ResizeMode.Stretch)
        header.setMinimumSectionSize(40)
        for c in Column:
            if c != Column.NAME:
                header.resizeSection(c, self.widths[c])
            header.setSectionHidden(c, c in self.user_hidden)
        table.setHorizontalScrollMode(QTableView.ScrollMode.ScrollPerPixel)
        table.setTextElideMode(Qt.TextElideMode.ElideRight)
        header.sectionResized.connect(self._resized_by_user)
        header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        header.customContextMenuRequested.connect(self.show_menu)
        table.viewport().installEventFilter(self)
        self.fit()

    # --- the user's choice ----------------------------------------------------------------

    def show_menu(self, pos: QPoint) -> QMenu:
        """The header's menu: one checkable entry per column (Name and State fixed)."""
        menu = QMenu(self.table)
        menu.setObjectName("columnsMenu")
        for c in Column:
            act = QAction(HEADERS[c], menu)
            act.setCheckable(True)
            act.setChecked(c not in self.user_hidden)
            act.setEnabled(c not in ALWAYS)
            act.setData(int(c))
            act.toggled.connect(lambda on, col=int(c): self.set_shown(col, on))
            menu.addAction(act)
        menu.popup(self.header.mapToGlobal(pos))
        self.menu = menu
        return menu

    def set_shown(self, column: int, shown: bool) -> None:
        """Show or hide ``column`` as the user asked (it still gives way when narrow)."""
        if column in ALWAYS:
            return
        (self.user_hidden.discard if shown else self.user_hidden.add)(column)
        self._auto_hidden.discard(column)
        self._fitting = True
        try:
            self.header.setSectionHidden(column, not shown)
        finally:
            self._fitting = False
        self.fit()

    def _resized_by_user(self, column: int, old: int, new: int) -> None:
        """A drag records the column's width; any change (also a section hidden or shown
        from elsewhere, the View menu) refits. Qt may report hidden sections late."""
        if self._fitting or column == Column.NAME:
            return
        if old > 0 and new > 0 and not self.header.isSectionHidden(column):
            self.widths[column] = new
        self.fit()

    # --- fitting ----------------------------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        # a resize can arrive while the window is torn down, after the header is gone
        if event.type() == QEvent.Type.Resize and isValid(self.header) and isValid(self.table):
            self.fit()
        return False

    def fit(self) -> None:
        """Show the columns that fit, in priority order; stop at the first that does not."""
        if self._fitting:
            return
        self._fitting = True
        try:
            for c in PRIORITY:  # hidden or shown by someone else: the user's choice
                hidden = self.header.isSectionHidden(c)
                if hidden and c not in self._auto_hidden:
                    self.user_hidden.add(c)
                elif not hidden and c in self.user_hidden:
                    self.user_hidden.discard(c)
            room = self.table.viewport().width()
            state = max(90, min(self.widths[Column.STATE], room - self.name_min))
            if self.header.sectionSize(Column.STATE) != state:
                self.header.resizeSection(Column.STATE, state)
            used = self.name_min + state
            fits = True
            for c in PRIORITY:
                show = c not in self.user_hidden and fits and used + self.widths[c] <= room
                if c not in self.user_hidden and not show:
                    fits = False  # lower priorities stay hidden too: no gaps in the order
                if show or c in self.user_hidden:
                    self._auto_hidden.discard(c)
                else:
                    self._auto_hidden.add(c)
                if show:
                    used += self.widths[c]
                    if self.header.isSectionHidden(c):
                        self.header.showSection(c)
                    if self.header.sectionSize(c) != self.widths[c]:
                        self.header.resizeSection(c, self.widths[c])
                elif not self.header.isSectionHidden(c):
                    self.header.hideSection(c)
            for c in ALWAYS:
                if self.header.isSectionHidden(c):
                    self.header.showSection(c)
        finally:
            self._fitting = False

    def visible_columns(self) -> list[int]:
        return [c for c in Column if not self.header.isSectionHidden(c)]
