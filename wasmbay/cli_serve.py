"""``wasmbay serve``: the engine headless, its API on the Unix socket (wasmbay.api)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from wasmbay.cli_common import EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    from wasmbay.api.lock import HostLock, socket_path
    from wasmbay.api.server import ApiServer
    from wasmbay.core.manager import PluginManager
    from wasmbay.core.paths import AppDirs

    dirs = AppDirs.default().ensure()
    sock = Path(args.socket) if args.socket else socket_path(dirs)
    # The claim comes first: a second host must refuse before it opens the library.
    lock = HostLock(dirs, sock).acquire()
    done = threading.Event()
    previous = {s: signal.signal(s, lambda *_: done.set())
                for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with PluginManager(dirs) as manager:
            if not args.no_load:
                manager.load_all()
            server = ApiServer(manager, socket=sock, lock=lock).start()
            try:
                ready = {"pid": os.getpid(), "socket": str(sock), "data": str(dirs.data)}
                if args.json:
                    print(json.dumps(ready), flush=True)  # one line: clients wait for it
                else:
                    print(f"wasmbay: serving {dirs.data} on {sock} (pid {ready['pid']}); "
                          "Ctrl+C stops", file=sys.stderr)
                sys.stdout.flush()
                while not done.wait(1.0):
                    pass
            finally:
                server.stop()
    finally:
        lock.release()
        for s, handler in previous.items():
            signal.signal(s, handler)
    return EXIT_OK


def add_subcommands(sub: Any) -> None:
    p = sub.add_parser("serve", help="run the engine headless and serve its API on a Unix "
                                     "socket (one host per data folder)")
    p.add_argument("--socket", metavar="PATH",
                   help="the socket path (default: the user runtime folder's wasmbay.sock)")
    p.add_argument("--no-load", action="store_true",
                   help="start plugins on their first call instead of at once")
    p.add_argument("--json", action="store_true",
                   help="print {pid, socket, data} as one JSON line once serving")
    p.set_defaults(func=cmd_serve)
