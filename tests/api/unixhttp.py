"""Test-side HTTP over a Unix socket: http.client with connect() on AF_UNIX.

The real Python client is wasmbay.api.client; the tests speak plain HTTP so they check
the server, not a client.
"""

from __future__ import annotations

import http.client
import json
import socket
from pathlib import Path
from typing import Any


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: Path | str, timeout: float = 30.0) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = str(path)

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.socket_path)
        self.sock = sock


def request(path: Path | str, method: str, url: str, body: Any = None, *,
            raw: bytes | None = None, headers: dict[str, str] | None = None
            ) -> tuple[int, Any]:
    """One request on a fresh connection; the answer's JSON (or text) decoded."""
    conn = UnixHTTPConnection(path)
    try:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        conn.request(method, url, body=data, headers=hdrs)
        resp = conn.getresponse()
        text = resp.read()
        ctype = resp.getheader("Content-Type", "")
        if ctype.startswith("application/json"):
            return resp.status, json.loads(text)
        return resp.status, text.decode()
    finally:
        conn.close()
