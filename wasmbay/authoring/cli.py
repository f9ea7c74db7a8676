"""The author commands: ``wasmbay new`` and ``wasmbay build [--watch] [--install]``."""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
from pathlib import Path
from typing import Any

from wasmbay.authoring import (
    LANGS,
    WIT_VERSIONS,
    BuildResult,
    ProjectWatcher,
    build_project,
    new_project,
)
from wasmbay.cli_common import EXIT_OK, print_json
from wasmbay.core import errors as E


def cmd_new(args: argparse.Namespace) -> int:
    folder = new_project(args.name, args.lang, args.wit, Path(args.dir))
    shown = _shown(folder)
    print(f"created {shown}/ ({args.lang}, WIT v{args.wit})\n"
          f"next:\n"
          f"  cd {shown}\n"
          f"  wasmbay build                      # -> build/{args.name}.wasm\n"
          f"  wasmbay run build/{args.name}.wasm world\n"
          f"  wasmbay build --watch              # rebuild on every save; with, in another "
          f"terminal:\n"
          f"  wasmbay dev build/{args.name}.wasm   # run it, swapping in each rebuild\n"
          f"  wasmbay build --install            # put it in the window's plugin library")
    return EXIT_OK


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _report(results: list[BuildResult], *, as_json: bool) -> None:
    if as_json:
        print_json([{"path": str(r.path), "size": r.size, "wit_version": r.wit_version,
                     "lang": r.lang, "seconds": round(r.seconds, 3),
                     "up_to_date": r.up_to_date} for r in results])
        return
    for r in results:
        print(r.describe(), flush=True)


def _install(results: list[BuildResult]) -> None:
    """Install or update the build in the library; a running window picks it up."""
    from wasmbay.core.manager import PluginManager

    with PluginManager() as manager:
        for r in results:
            try:
                status = manager.install(r.path, start=False)
            except E.UsageError as e:  # this exact build is installed already
                print(f"installed already: {e.plugin_id} ({e.message})", flush=True)
                continue
            print(f"installed {status.plugin_id} {status.stable} from {r.path.name}", flush=True)


def _progress(message: str) -> None:
    print(f"wasmbay: {message}", file=sys.stderr, flush=True)


def cmd_build(args: argparse.Namespace) -> int:
    directory = Path(args.dir)
    if not args.watch:
        results = build_project(directory, force=args.force, wit=args.wit, progress=_progress)
        _report(results, as_json=args.json)
        if args.install:
            _install(results)
        return EXIT_OK

    def on_result(result: list[BuildResult] | E.WasmbayError) -> None:
        if isinstance(result, E.WasmbayError):
            print(f"wasmbay: {result}", file=sys.stderr, flush=True)
            return
        _report(result, as_json=args.json)
        if args.install and any(not r.up_to_date for r in result):
            try:
                _install(result)
            except E.WasmbayError as e:
                print(f"wasmbay: {e}", file=sys.stderr, flush=True)

    watcher = ProjectWatcher(directory, on_result, _progress)
    print(f"watching {watcher.project.root} for changes; Ctrl-C to stop", file=sys.stderr,
          flush=True)
    with watcher, contextlib.suppress(KeyboardInterrupt):
        threading.Event().wait()  # until Ctrl-C; the watcher's thread does the work
    return EXIT_OK


def add_subcommands(sub: Any) -> None:
    p = sub.add_parser("new", help="create a plugin project from a template")
    p.add_argument("name", help="the plugin's name: lower-case letters, digits and dashes")
    p.add_argument("--lang", required=True, choices=LANGS)
    p.add_argument("--wit", type=int, choices=WIT_VERSIONS, default=WIT_VERSIONS[0],
                   help="contract version (default 1; 2 adds typed errors, capability "
                        "requests and health)")
    p.add_argument("--dir", default=".", help="create the project inside this folder")
    p.set_defaults(func=cmd_new)

    p = sub.add_parser("build", help="build a plugin project into a component")
    p.add_argument("dir", nargs="?", default=".", help="the project folder (default: here)")
    p.add_argument("--watch", action="store_true", help="rebuild on every source change")
    p.add_argument("--install", action="store_true",
                   help="install (or update) each build in the plugin library")
    p.add_argument("--force", action="store_true", help="rebuild even if nothing changed")
    p.add_argument("--wit", type=int, choices=WIT_VERSIONS,
                   help="build only this contract version of a multi-version project")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_build)
