"""Consent is given to bytes, not to a file name.

The window shows a preview, the user consents, and the install follows. An attacker who
can write the file in between (a shared Downloads folder, a build output another process
rewrites) must not get different code, or different requests, installed under that
consent: the preview carries the bytes it checked, and those are what get installed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from wasmbay.core.manager import PluginManager

from .conftest import Forge


def test_file_replaced_after_consent_is_not_what_gets_installed(
        manager: PluginManager, forge: Forge, tmp_path: Path) -> None:
    path = tmp_path / "download.wasm"
    shutil.copy(forge(name="shown", description="what the user saw"), path)
    preview = manager.preview(path)
    assert preview.metadata.name == "shown" and preview.requested == ()
    # after the consent dialog, before the install: the file is swapped
    shutil.copy(forge(name="swapped", description="what the attacker wants",
                      capabilities=[("network", "", "phones home")]), path)

    status = manager.install(preview, accept_requested=True)

    assert manager.ids() == ["shown"]
    assert status.name == "shown" and status.description == "what the user saw"
    assert manager.record("shown").versions[status.stable].sha256 == preview.sha256
    assert "network" not in status.capabilities  # the swapped file's request never counted
    assert manager.call("shown", "x").success
