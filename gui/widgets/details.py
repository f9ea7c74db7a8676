"""The selected plugin's details: what it is, who signed it, what it asks for and reads,
its versions, and what is wrong with it, with a button that takes the user to the fix.

Everything here quotes plugin text (name, description, reasons, failures), so every
label is plain text, escaped with :mod:`wasmbay.core.untrusted`, wrapped, bounded and
selectable: a plugin can neither format the pane nor hide characters in it.
"""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from wasmbay.core.errors import CONFIGURE
from wasmbay.core.grants import covered
from wasmbay.core.untrusted import shown

from .. import fixes
from ..snapshots import DISABLED, FAILED, PluginSnapshot

#: The longest description shown (plugins may send up to core's metadata limit).
MAX_DESCRIPTION = 2000
#: The fields, in the order the form shows them: (object name, label).
FIELDS = (
    ("description", "Description"),
    ("contract", "Contract"),
    ("size", "Size"),
    ("publisher", "Publisher"),
    ("tier", "Serving"),
    ("capabilities", "Asks for"),
    ("config", "Config keys"),
    ("versions", "Versions"),
    ("data", "Data folder"),
)
_TIERS = {
    "fast": "fast code (quick to compile); the optimized build follows",
    "optimizing": "fast code, while the optimized build compiles in the background",
    "optimized": "optimized code",
}


def human_size(size: int) -> str:
    """``18367386`` -> ``17.5 MiB (18,367,386 bytes)``: readable, and the exact count the
    consent dialog showed."""
    if size < 1024:
        return f"{size:,} bytes"
    value = float(size)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            break
    return f"{value:.1f} {unit} ({size:,} bytes)"


def when(timestamp: float) -> str:
    """An install date in local time, to the minute; "unknown" for records without one."""
    if timestamp <= 0:
        return "unknown date"
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp))


def _value_label() -> QLabel:
    """A plain-text, wrapped, selectable value that never widens the pane."""
    label = QLabel()
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    # selectable with the mouse (and copied with Ctrl+C), but no Tab stop: Tab goes
    # straight to the fix buttons
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    # an unbreakable plugin string is cut at the pane's edge instead of widening it
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    label.setMinimumWidth(1)
    return label


class DetailsPane(QScrollArea):
    #: (plugin id, core.errors.Fix): the user asked to be taken to a fix.
    fixRequested = Signal(str, object)

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setObjectName("details")
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self._pid: str | None = None
        self._shown: tuple[Any, ...] | None = None
        self._actions: list[fixes.FixAction] = []
        #: The fix buttons now shown, in order (the failure's own fix first).
        self.fix_buttons: list[QPushButton] = []

        body = self._body = QWidget()
        lay = QVBoxLayout(body)
        self.title = _value_label()
        self.title.setObjectName("details:title")
        font = self.title.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.2)
        self.title.setFont(font)
        lay.addWidget(self.title)

        # what is wrong, and the buttons that fix it
        self.problem = QFrame()
        self.problem.setObjectName("details:problem")
        self.problem.setFrameShape(QFrame.Shape.StyledPanel)
        problem_lay = QVBoxLayout(self.problem)
        self.reason = _value_label()
        self.reason.setObjectName("details:reason")
        problem_lay.addWidget(self.reason)
        self.fix_layout = QVBoxLayout()
        problem_lay.addLayout(self.fix_layout)
        self.problem.hide()
        lay.addWidget(self.problem)

        form = QFormLayout()
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.fields: dict[str, QLabel] = {}
        for name, text in FIELDS:
            label = _value_label()
            label.setObjectName(f"details:{name}")
            self.fields[name] = label
            form.addRow(f"{text}:", label)
        lay.addLayout(form)
        lay.addStretch(1)
        self.setWidget(body)
        self.set_snapshot(None)

    # --- showing ------------------------------------------------------------------------

    def set_snapshot(self, snap: PluginSnapshot | None) -> None:
        """Show ``snap`` (the poll sends it twice a second: labels change only when their
        text does, so a selection in them survives)."""
        key = None if snap is None else _content(snap)
        if key == self._shown:
            return
        self._shown = key
        self._pid = snap.plugin_id if snap else None
        self._body.setEnabled(snap is not None)
        if snap is None:
            self.title.setText("Select a plugin to see its details.")
            for label in self.fields.values():
                label.setText("")
            self._show_problem(None)
            return
        name = shown(snap.name or snap.plugin_id, 200)
        self.title.setText(f"{name}  ({shown(snap.plugin_id, 80)})" if snap.name else name)
        values = {
            "description": shown(snap.description, MAX_DESCRIPTION) or "(no description)",
            "contract": f"WIT contract v{snap.wit_version}" if snap.wit_version else "unknown",
            "size": human_size(snap.size) if snap.size else "unknown",
            "publisher": (f"signed by the trusted key {shown(snap.publisher, 200)}"
                          if snap.publisher else "unsigned: no publisher vouches for it"),
            "tier": _TIERS.get(snap.tier, shown(snap.tier, 40)) if snap.tier else "not running",
            "capabilities": _capabilities(snap),
            "config": _config_keys(snap),
            "versions": _versions(snap),
            "data": snap.data_dir or "none",
        }
        for name_, text in values.items():
            self._set(self.fields[name_], text)
        self._show_problem(snap)

    def _show_problem(self, snap: PluginSnapshot | None) -> None:
        actions = fixes.actions(snap) if snap is not None else []
        failed = snap is not None and snap.state in (FAILED, DISABLED) and bool(snap.reason)
        if snap is not None and failed:
            lead = "It failed: " if snap.state == FAILED else "Disabled: "
            self._set(self.reason, lead + fixes.failure_text(snap))
        elif snap is not None and snap.call_failure:
            failed = True
            self._set(self.reason, "Its last call failed: "
                      + shown(snap.call_failure, fixes.MAX_REASON))
        else:
            self._set(self.reason, "")
        self.reason.setVisible(failed)
        if actions != self._actions:
            self._actions = actions
            _clear(self.fix_layout)
            self.fix_buttons = []
            for action in actions:
                row = QHBoxLayout()
                text = _value_label()
                text.setText(action.headline)
                button = QPushButton(action.button)
                button.setObjectName(f"fix:{action.fix.kind}")
                button.clicked.connect(lambda _=False, f=action.fix: self._request(f))
                row.addWidget(text, 1)
                row.addWidget(button)
                holder = QWidget()
                holder.setLayout(row)
                row.setContentsMargins(0, 0, 0, 0)
                self.fix_layout.addWidget(holder)
                self.fix_buttons.append(button)
        self.problem.setVisible(failed or bool(actions))

    def _request(self, fix: Any) -> None:
        if self._pid is not None:
            self.fixRequested.emit(self._pid, fix)

    @staticmethod
    def _set(label: QLabel, text: str) -> None:
        if label.text() != text:
            label.setText(text)

    # --- finding widgets (tests, accessibility) -----------------------------------------

    def fix_button(self, text: str) -> QPushButton | None:
        """The fix button whose text is ``text`` (e.g. "Configure database_url…")."""
        return next((b for b in self.fix_buttons if b.text() == text), None)


def _content(snap: PluginSnapshot) -> tuple[Any, ...]:
    """What the pane shows of a snapshot (metrics and progress change without it)."""
    return (snap.plugin_id, snap.name, snap.description, snap.state, snap.reason,
            snap.reason_detail, snap.fix, snap.wit_version, snap.size, snap.publisher,
            snap.tier, snap.requested, snap.grants, snap.config, snap.secret_keys,
            snap.secrets_missing, snap.config_read, snap.version_details, snap.versions,
            snap.data_dir, snap.call_failure, snap.call_fix)


def _capabilities(snap: PluginSnapshot) -> str:
    """One line per request, granted or not, each with the plugin's reason."""
    if not snap.requested:
        return "nothing: it runs with no files, network or variables"
    lines = []
    for req in snap.requested:
        what = shown(req.kind, 20) + (f" {shown(req.target, 200)}" if req.target else "")
        state = "granted" if covered(snap.grants, req.text) else "not granted"
        why = f" — “{shown(req.reason, 300)}”" if req.reason else ""
        lines.append(f"{what} ({state}){why}")
    return "\n".join(lines)


def _config_keys(snap: PluginSnapshot) -> str:
    """Every key it reads or has, where it is stored, and whether it is missing.

    Plugin metadata declares no config keys: the ones it reads are those the host saw
    it ask get-config for (and, for a failed start, the one it lacked).
    """
    read = dict(snap.config_read)
    plain = dict(snap.config)
    keys = set(read) | set(plain) | set(snap.secret_keys)
    if snap.fix is not None and snap.fix.kind == CONFIGURE:
        keys.add(snap.fix.target)
        read.setdefault(snap.fix.target, False)
    if not keys:
        return "none read so far"
    lines = []
    for key in sorted(keys):
        if key in snap.secret_keys:
            where = ("secret, not in the OS keyring — set it again"
                     if key in snap.secrets_missing else "secret, in the OS keyring")
        elif key in plain:
            where = "set"
        else:
            where = "not set"
        seen = ", read by the plugin" if key in read else ""
        lines.append(f"{shown(key, 120)}: {where}{seen}")
    return "\n".join(lines)


def _versions(snap: PluginSnapshot) -> str:
    if not snap.version_details:
        return ", ".join(shown(v, 80) for v in snap.versions) or "none"
    lines = []
    for v in snap.version_details:
        role = f" ({v.role})" if v.role else ""
        signer = f", signed by {shown(v.signed_by, 80)}" if v.signed_by else ", unsigned"
        size = f", {human_size(v.size)}" if v.size else ""
        lines.append(f"{shown(v.version, 80)}{role}: installed {when(v.installed_at)}"
                     f"{size}{signer}")
    return "\n".join(lines)


def _clear(layout: Any) -> None:
    while layout.count():
        item = layout.takeAt(0)
        w = item.widget()
        if w is not None:
            w.setParent(None)
            w.deleteLater()
