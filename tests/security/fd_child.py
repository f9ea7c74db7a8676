"""Run in a child process by test_resources.py: the host under a lowered descriptor limit.

``python fd_child.py JSON`` with keys ``soft`` (the soft RLIMIT_NOFILE the user's shell
would give, set before the host starts), ``lower_hard`` (also lower the hard limit, so
the host cannot raise it), ``wasm`` (the hoarding plugin), ``hold`` (the input that
makes it open files), ``budget`` (the manager's descriptor budget; null: default) and
``home`` (a private data folder). Prints one JSON line: what the plugin answered, whether
the host then saved another plugin's configuration, and the error it gave if not.
"""

from __future__ import annotations

import json
import resource
import sys
from pathlib import Path
from typing import Any


def main(args: dict[str, Any]) -> dict[str, Any]:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    soft = int(args["soft"])
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, soft if args.get("lower_hard") else hard))

    from wasmbay.core.errors import WasmbayError
    from wasmbay.core.events import LogRecord
    from wasmbay.core.manager import PluginManager
    from wasmbay.core.paths import AppDirs

    root = Path(args["home"])
    dirs = AppDirs(root / "data", root / "config", root / "cache", root / "logs")
    hoard = root / "hoard"
    hoard.mkdir(parents=True)
    out: dict[str, Any] = {}
    warnings: list[str] = []
    with PluginManager(dirs, persist_logs=False) as m:
        watch = getattr(m, "resource_watch", None)  # None: a host without one
        if args.get("budget") is not None and watch is not None:
            watch.fd_budget = int(args["budget"])
        m.subscribe(lambda e: warnings.append(e.message)
                    if e.source == "host" and e.level.label == "warn" else None, LogRecord)
        out["limit"] = list(resource.getrlimit(resource.RLIMIT_NOFILE))
        m.install(args["wasm"], grants=[f"fs-write={hoard}:/data"], plugin_id="hoarder")
        m.install(args["wasm"], plugin_id="victim")
        # The background optimizing compiles of both finish first: this child measures
        # what a plugin holding every descriptor does to the host's own writes, not a
        # compile racing the plugin for the last descriptors.
        m.runtime.optimizer.wait_idle(120)
        out["answer"] = m.call("hoarder", args["hold"]).output
        try:
            m.set_config("victim", "colour", "blue")
            out["saved"] = True
        except WasmbayError as e:
            out.update(saved=False, kind=e.kind, error=str(e))
        except OSError as e:  # what the host did before it guarded its writes
            out.update(saved=False, kind="OSError", error=str(e))
        out["warnings"] = warnings
    state = dirs.data / "plugins" / "victim" / "state.json"
    out["config_on_disk"] = json.loads(state.read_text()).get("config", {})
    return out


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
