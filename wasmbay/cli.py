"""The ``wasmbay`` command line: a thin layer over wasmbay.core.

Exit codes: 0 success; 1 the plugin reported failure; 2 usage; 3 the file could not be
loaded (validation, initialize failed); 4 trap, timeout or limit.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from wasmbay import __version__, cli_cache, cli_library, cli_serve
from wasmbay.authoring import cli as authoring_cli
from wasmbay.cli_common import (
    EXIT_OK,
    EXIT_PLUGIN_FAILED,
    EXIT_USAGE,
    add_grant_arguments,
    exit_code_for,
    grants_from_args,
    parse_pairs,
    print_json,
    print_output,
    print_trace,
    stream_events_to_stderr,
)
from wasmbay.core import errors as E
from wasmbay.core.grants import Grants, parse_duration
from wasmbay.core.untrusted import error_text, escape, shown

# --- commands ---------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    from wasmbay.core.runtime import Runtime

    grants = grants_from_args(args)
    options = parse_pairs(args.option, "option")
    config = dict(parse_pairs(args.config, "config"))
    path = Path(args.path)
    plugin_id = args.id or path.stem
    secret_lookup = None
    if args.secret:
        from wasmbay.core.secrets import SecretStore

        secret_lookup = SecretStore().lookup_for(plugin_id, frozenset(args.secret))
    with Runtime(background_optimize=False) as runtime:  # one call: fast unless cached
        runtime.bus.subscribe(stream_events_to_stderr(args.json))
        plugin = runtime.load(path, plugin_id=plugin_id, grants=grants, config=config,
                              secret_lookup=secret_lookup)
        try:
            result = plugin.process(args.input, options, request_id=args.request_id)
        finally:
            plugin.close()
    if args.json:
        print_json(result.to_dict())
    elif result.success:
        print_output(result.output)
    else:
        print(f"wasmbay: plugin '{escape(plugin.plugin_id)}' reported failure: "
              f"{shown(result.error or '')}", file=sys.stderr)
        if result.output:
            print_output(result.output)
    return EXIT_OK if result.success else EXIT_PLUGIN_FAILED


def cmd_inspect(args: argparse.Namespace) -> int:
    from wasmbay.core.instance import Generation, PluginInstance
    from wasmbay.core.runtime import Runtime

    with Runtime() as runtime:
        loaded = runtime.compile(Path(args.path))
        info = loaded.info.to_dict()
        metadata: dict[str, Any] | None = None
        metadata_error = None
        try:  # metadata needs an instance, but not initialize (which may need config)
            inst = PluginInstance(runtime, Path(args.path).stem,
                                  Generation(loaded, Grants(), {}, None), "")
            try:
                metadata = inst.get_metadata().to_dict()
            finally:
                inst.close()
        except E.WasmbayError as e:
            metadata_error = str(e)
    info["metadata"] = metadata
    if metadata_error:
        info["metadata_error"] = metadata_error
    if args.json:
        print_json(info)
        return EXIT_OK
    print(f"file:         {args.path}")
    print(f"sha256:       {info['sha256']}")
    print(f"size:         {info['size']:,} bytes")
    print(f"contract:     {info['contract']} (WIT version {info['wit_version']})")
    if metadata:
        print(f"name:         {escape(metadata['name'])} {escape(metadata['version'])}")
        print(f"description:  {escape(metadata['description'])}")
        for cap in metadata["capabilities"]:
            target = f"={escape(cap['target'])}" if cap["target"] else ""
            print(f"requests:     {escape(cap['kind'])}{target}  ({escape(cap['reason'])})")
    elif metadata_error:
        print(f"metadata:     unavailable: {shown(metadata_error)}")
    functions = ", ".join(map(escape, info["plugin_api_functions"]))
    print(f"exports:      {escape(info['plugin_api_export'])}: {functions}")
    print("imports:")  # import and export names are the component's text too
    for name in info["imports"]:
        print(f"  {escape(name)}")
    if info["needs_network"]:
        print("note:         imports wasi:http; it loads only with --grant network")
    return EXIT_OK


def cmd_gui(args: argparse.Namespace) -> int:
    try:
        from wasmbay.gui.app import run_gui
    except ImportError as e:
        raise E.UsageError(f"the desktop window is not available: {e}",
                           hint="install PySide6-Essentials, or use the CLI commands") from None
    return run_gui(list(getattr(args, "qt_args", []) or []))


# --- parser -----------------------------------------------------------------------------


#: The subcommand groups that live in their own modules, imported above: one that fails
#: to import is an error, never a command silently missing.
SUBCOMMAND_GROUPS: tuple[Callable[[Any], None], ...] = (
    cli_library.add_subcommands,
    cli_cache.add_subcommands,
    authoring_cli.add_subcommands,
    cli_serve.add_subcommands,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wasmbay", description="Manage and run sandboxed WebAssembly component plugins.",
        epilog="Run without a command to open the desktop window.")
    parser.add_argument("--version", action="version", version=f"wasmbay {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("run", help="run a component once, in its sandbox")
    p.add_argument("path", help="the .wasm component")
    p.add_argument("input", help="the request's input text")
    p.add_argument("--option", action="append", metavar="K=V", help="a request option")
    p.add_argument("--config", action="append", metavar="K=V", help="a configuration value")
    p.add_argument("--secret", action="append", metavar="KEY",
                   help="serve KEY to get-config from the OS keyring (service 'wasmbay', "
                        "user 'ID/KEY'); the value never touches a file")
    p.add_argument("--id", help="the plugin id (default: the file name without .wasm)")
    add_grant_arguments(p)
    p.add_argument("--timeout", metavar="DURATION", help="time limit per call (e.g. 5s)")
    p.add_argument("--preset", choices=["restricted", "standard"], default="restricted",
                   help="start from a grant preset (default: restricted, i.e. nothing)")
    p.add_argument("--request-id", metavar="ID", help="request id (v2 plugins receive it)")
    p.add_argument("--json", action="store_true", help="print the response (and logs) as JSON")
    p.add_argument("--backtrace", action="store_true",
                   help="on a trap, print every wasm frame and what the plugin wrote to stderr")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("inspect", help="show a component's WIT version, imports, exports")
    p.add_argument("path")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("gui", help="open the desktop window")
    p.set_defaults(func=cmd_gui)

    for add_subcommands in SUBCOMMAND_GROUPS:
        add_subcommands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv:
        argv = ["gui"]
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        if getattr(args, "timeout", None):
            parse_duration(args.timeout)
        code: int = args.func(args)
        return code
    except E.WasmbayError as e:
        if getattr(args, "json", False):
            error: dict[str, Any] = dict(e.to_dict())
            if e.trace:
                error["backtrace"] = e.trace.to_dict()
            print_json({"error": error})
        print(f"wasmbay: {error_text(e)}", file=sys.stderr)
        print_trace(e, full=getattr(args, "backtrace", None))
        return exit_code_for(e)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `wasmbay inspect x | head`
        sys.stderr.close()
        return EXIT_OK
