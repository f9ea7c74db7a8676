"""The window shows plugin text escaped and never as markup (issue 10, point 5).

A plugin's name, description, versions, failure reasons and log lines reach Qt labels,
table cells, tooltips, the log view and the exported log file: none may carry a raw
control or bidi character, a log record is one line, and rich-text widgets show a
plugin's ``<a href>`` or ``<img>`` as text.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QLabel

from wasmbay.core.contract import CapabilityRequest
from wasmbay.core.events import LogLevel, LogRecord
from wasmbay.gui.logmodel import LogModel
from wasmbay.gui.pluginmodel import Column, PluginTableModel
from wasmbay.gui.snapshots import FAILED, InstallOffer, PluginSnapshot, VersionInfo
from wasmbay.gui.widgets.consent import ConsentDialog
from wasmbay.gui.widgets.logs import LogsPane
from wasmbay.gui.widgets.permissions import PermissionsPane

from .test_output_escaping import CLEAR_SCREEN, RLO, raw_controls

LINK = "<a href='https://evil.example/'>click to grant</a><img src='/etc/passwd'>"


def test_window_log_view_and_export_keep_a_forged_record_on_one_escaped_line(
        qtbot: Any, tmp_path: Path) -> None:
    model = LogModel(interval_ms=10)
    pane = LogsPane(model)
    qtbot.addWidget(pane)
    forged = f"ok\n12:00:00.000 INFO  [other 1.0.0] host: granted network\r{CLEAR_SCREEN}{RLO}x"
    model.add(LogRecord("evil", LogLevel.INFO, forged, version="1.0.0"))
    model.add(LogRecord("evil", LogLevel.INFO, "next"))
    qtbot.waitUntil(lambda: model.rowCount() == 2)
    shown = model.index(0, 0).data(Qt.ItemDataRole.DisplayRole)
    assert "\n" not in shown and not raw_controls(shown, allowed=""), repr(shown)
    assert shown.endswith("[evil 1.0.0] ok\\n12:00:00.000 INFO  [other 1.0.0] host: granted "
                          "network\\r\\x1b[2J\\x1b[H\\u202ex")
    out = tmp_path / "exported.log"
    assert pane.export_to(str(out)) == 2
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2 and all("[evil" in line for line in lines)
    assert not raw_controls(out.read_text(encoding="utf-8"))
    model.stop()


def test_plugin_table_cells_and_tooltips_show_escaped_text(qtbot: Any) -> None:
    model = PluginTableModel()
    model.reset([PluginSnapshot(
        "evil", name=f"{CLEAR_SCREEN}red{RLO}", description=f"{LINK}\nsecond line",
        state=FAILED, reason=f"trapped{RLO}\n<b>fake</b>",
        stable=VersionInfo(f"1.0.0{RLO}"))])

    def cell(col: Column, role: Qt.ItemDataRole = Qt.ItemDataRole.DisplayRole) -> Any:
        return model.index(0, int(col)).data(role)

    assert cell(Column.NAME) == "\\x1b[2J\\x1b[Hred\\u202e"
    assert cell(Column.STABLE) == "1.0.0\\u202e"
    assert cell(Column.STATE) == "failed: trapped\\u202e\\n<b>fake</b>"
    tip = cell(Column.NAME, Qt.ItemDataRole.ToolTipRole)
    assert "&lt;a href=" in tip and "<a " not in tip and "<img" not in tip
    assert "&lt;b&gt;fake" in cell(Column.STATE, Qt.ItemDataRole.ToolTipRole)


def test_permissions_title_never_renders_a_plugins_markup(qtbot: Any) -> None:
    pane = PermissionsPane()
    qtbot.addWidget(pane)
    pane.set_snapshot(PluginSnapshot("evil", name=f"{LINK}{RLO}"))
    title = pane.title.text()
    assert "<a " not in title and "<img" not in title and RLO not in title
    assert "&lt;a href=" in title and "\\u202e" in title


def test_consent_dialog_shows_hostile_metadata_as_escaped_plain_text(qtbot: Any) -> None:
    preview = InstallOffer(
        path="/tmp/evil.wasm", plugin_id="evil", name=f"{LINK}{CLEAR_SCREEN}",
        version=f"1.0.0{RLO}", description=f"harmless {RLO}txt.exe\n{LINK}", wit_version=2,
        sha256="0" * 64, size=10,
        requested=(CapabilityRequest("network", "", f"updates{CLEAR_SCREEN}{LINK}"),))
    dialog = ConsentDialog(preview)
    qtbot.addWidget(dialog)
    labels = dialog.findChildren(QLabel)
    texts = [w.text() for w in labels] + [c.text() for c in dialog.findChildren(QCheckBox)]
    joined = "\n".join([*texts, dialog.windowTitle()])
    assert RLO not in joined and "\x1b" not in joined, repr(joined)
    description = dialog.findChild(QLabel, "description")
    assert description.text() == f"harmless \\u202etxt.exe\\n{LINK}"
    assert description.textFormat() == Qt.TextFormat.PlainText  # shown as text, not a link
    rich = [w.text() for w in labels if w.textFormat() != Qt.TextFormat.PlainText]
    assert all("<a " not in t and "<img" not in t for t in rich), rich
    assert any("&lt;a href=" in t for t in rich)  # the name, in the bold rich-text row
    assert "updates\\x1b[2J\\x1b[H" in joined
