"""Secrets go through the real OS keyring (a Secret Service in the test run) and no file."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backends import fail

from wasmbay.core.errors import SecretStoreError
from wasmbay.core.secrets import SecretStore

Build = Callable[[str], Path]

needs_keyring = pytest.mark.skipif(
    isinstance(keyring.get_keyring(), fail.Keyring),
    reason="no Secret Service: run the suite through scripts/keyring-session.sh")


@pytest.fixture
def store() -> Iterator[SecretStore]:
    s = SecretStore(service="wasmbay-test")
    yield s
    s.delete("plug", "token")


@needs_keyring
def test_secret_round_trip_through_the_os_keyring(store: SecretStore) -> None:
    assert store.get("plug", "token") is None
    store.set("plug", "token", "s3cr3t-value")
    assert store.get("plug", "token") == "s3cr3t-value"
    # it really is in the OS keyring, under a name a user can find
    assert keyring.get_password("wasmbay-test", "plug/token") == "s3cr3t-value"
    store.delete("plug", "token")
    assert store.get("plug", "token") is None


def test_no_backend_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keyring, "get_keyring", lambda: fail.Keyring())
    with pytest.raises(SecretStoreError) as info:
        SecretStore().get("plug", "token")
    assert info.value.plugin_id == "plug"
    assert "Secret Service" in info.value.hint


@needs_keyring
@pytest.mark.slow
def test_run_serves_a_keyring_secret_to_get_config(sample_wasm: Build,
                                                   session_home: Path) -> None:
    secret = "postgres://user:hunter2@db/prod"
    store = SecretStore()
    store.set("data_processor", "database_url", secret)
    try:
        r = subprocess.run([sys.executable, "-m", "wasmbay", "run",
                            str(sample_wasm("data_processor")), "a,b,c",
                            "--secret", "database_url"],
                           capture_output=True, text=True, env=os.environ.copy(), timeout=120)
    finally:
        store.delete("data_processor", "database_url")
    assert r.returncode == 0, r.stderr
    assert '"records": 1' in r.stdout
    assert secret not in r.stderr and secret not in r.stdout  # the plugin never logs it
    for path in session_home.rglob("*"):  # and no Wasmbay file holds it
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
