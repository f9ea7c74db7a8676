"""CLI commands over the plugin library and manager (install, grants, canary, dev...)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from wasmbay.cli_common import (
    EXIT_LOAD,
    EXIT_OK,
    EXIT_PLUGIN_FAILED,
    add_grant_arguments,
    format_record,
    grants_from_args,
    parse_pairs,
    print_json,
    print_output,
    stream_events_to_stderr,
)
from wasmbay.core import errors as E
from wasmbay.core.events import LogLevel, LogRecord
from wasmbay.core.untrusted import error_text, escape, shown


def _joined(items: Any) -> str:
    """A list of plugin-influenced texts (versions, grants with guest paths), escaped."""
    return ", ".join(escape(str(i)) for i in items)


def _manager(args: argparse.Namespace, *, stream: bool = False) -> Any:
    from wasmbay.core.manager import PluginManager

    m = PluginManager()
    if stream:
        m.subscribe(stream_events_to_stderr(getattr(args, "json", False)), LogRecord)
    return m


def cmd_install(args: argparse.Namespace) -> int:
    with _manager(args) as m:
        preview = m.preview(Path(args.path), args.id)
        if not args.json:
            md = preview.metadata  # every string in it is the plugin's: escaped
            what = (f"update {escape(preview.current_version or '')} -> {escape(md.version)}"
                    if preview.is_update else f"install {escape(md.version)}")
            print(f"{escape(preview.plugin_id)}: {what} ({escape(md.name)}: "
                  f"{escape(md.description)}), WIT v{preview.wit_version}")
            if preview.signed_by:
                print(f"  signed by trusted key {preview.signed_by}")
            accepted = {"publisher-change": args.accept_publisher_change,
                        "downgrade": args.allow_downgrade}
            for change in preview.trust_changes:  # refused below unless its flag is given
                note = " (accepted)" if accepted[change.kind] else ""
                print(f"  ! {escape(change.text)}{note}")
            for cap in preview.requested:
                mark = "+" if cap.text in preview.escalation else " "
                reason = f"  ({escape(cap.reason)})" if cap.reason else ""
                print(f"  {mark} requests {escape(cap.text)}{reason}")
            if preview.requested and not args.accept_requested and not args.grant:
                print("  nothing is granted unless you pass --grant CAP or --accept-requested")
        status = m.install(preview, grants=args.grant or [],  # the file read and shown
                           accept_requested=args.accept_requested,
                           accept_publisher_change=args.accept_publisher_change,
                           allow_downgrade=args.allow_downgrade)
    failed = status.state == "failed"  # stored, but its initialize failed or timed out
    if args.json:
        print_json({"preview": preview.to_dict(), "status": status.to_dict(),
                    **({"error": {"kind": "load", "plugin_id": status.plugin_id,
                                  "message": status.reason}} if failed else {})})
    elif not failed:
        print(f"installed {escape(status.plugin_id)} {escape(status.stable)}; granted: "
              f"{_joined(status.capabilities)}")
    if failed:
        pid = escape(status.plugin_id)
        print(f"wasmbay: plugin '{pid}': version {escape(status.stable)} was stored but did "
              f"not start: {shown(status.reason)} (it stays installed with its grants; fix "
              f"what it needs, e.g. `wasmbay grant {pid} timeout=60s`, then `wasmbay call` "
              f"retries; or `wasmbay uninstall {pid}`)", file=sys.stderr)
        return EXIT_LOAD
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    with _manager(args) as m:
        statuses = m.statuses()
        problems = [p.to_dict() for p in m.problems]
    if args.json:
        print_json({"plugins": [s.to_dict() for s in statuses], "problems": problems})
        return EXIT_OK
    if not statuses:
        print("no plugins installed; try `wasmbay install build/plugins/image_processor.wasm`")
    for s in statuses:
        canary = f"  canary {escape(s.canary)} at {s.canary_percent}%" if s.canary else ""
        state = "enabled" if s.enabled else "disabled"
        print(f"{escape(s.plugin_id):<20} {escape(s.stable):<12} {state:<9} "
              f"{escape(s.name)}{canary}")
    for p in problems:
        print(f"! {escape(str(p['plugin_id']))}: {shown(str(p['message']))} "
              f"({shown(str(p['hint']))})", file=sys.stderr)
    return EXIT_OK


def resource_lines(usage: dict[str, Any]) -> list[str]:
    """Its share of the host (core.resources): measured, since WASI gives no hook to limit."""
    if not usage:
        return []
    from wasmbay.core.grants import format_size
    from wasmbay.core.resources import format_size_approx

    n = usage.get("open_files")
    files = "not measured on this system" if n is None else (
        f"{n} open in its folders (restarted above {usage['fd_budget']}; "
        f"host limit {usage['fd_limit']})")
    lines = [f"files:     {files}"]
    if usage.get("disk_bytes") is not None:
        more = " or more" if usage.get("disk_partial") else ""
        lines.append(f"disk:      {format_size_approx(usage['disk_bytes'])}{more} in its "
                     f"read-write folders (soft quota {format_size(usage['disk_quota'])})")
    return lines


def cmd_info(args: argparse.Namespace) -> int:
    with _manager(args) as m:
        s = m.status(args.id)
    if args.json:
        print_json(s.to_dict())
        return EXIT_OK
    print(f"{escape(s.plugin_id)}: {escape(s.name)} — {escape(s.description)}")
    print(f"  stable:    {escape(s.stable)}" + (f" (previous {escape(s.previous_stable)})"
                                                if s.previous_stable else ""))
    if s.canary:
        print(f"  canary:    {escape(s.canary)} at {s.canary_percent}%")
    print(f"  versions:  {_joined(s.versions)}")
    print(f"  publisher: {'signed by trusted key ' + s.publisher if s.publisher else 'unsigned'}")
    print(f"  enabled:   {s.enabled}   WIT v{s.wit_version}")
    print(f"  grants:    {_joined(s.capabilities)}")
    for line in resource_lines(s.resources):
        print(f"  {line}")
    for k, v in s.config.items():
        print(f"  config:    {escape(k)} = {escape(v)}")
    for k in s.secret_keys:
        print(f"  secret:    {escape(k)} = •••••• (in the OS keyring)")
    if s.auto_rollback:
        print(f"  auto-rollback above {s.auto_rollback['max_error_rate']:.0%} errors over "
              f"{s.auto_rollback['window']} canary calls")
    return EXIT_OK


def _simple(action: str) -> Any:
    def run(args: argparse.Namespace) -> int:
        with _manager(args) as m:
            getattr(m, action)(args.id)
        print(f"{action}d {args.id}" if action.endswith("e") else f"{action}ed {args.id}")
        return EXIT_OK

    return run


def cmd_grant(args: argparse.Namespace) -> int:
    with _manager(args) as m:
        for cap in args.capability:
            m.grant(args.id, cap)
        print(_joined(m.status(args.id).capabilities))
    return EXIT_OK


def cmd_config(args: argparse.Namespace) -> int:
    with _manager(args) as m:
        if args.remove:
            m.remove_config(args.id, args.key)
        elif args.value is None:
            raise E.UsageError("give a VALUE, or --remove", hint="wasmbay config ID KEY VALUE")
        else:
            m.set_config(args.id, args.key, args.value, secret=args.secret)
    where = "the OS keyring" if args.secret else "the plugin's configuration"
    print(f"{args.id}: {args.key} {'removed' if args.remove else 'stored in ' + where}")
    return EXIT_OK


def cmd_call(args: argparse.Namespace) -> int:
    with _manager(args, stream=True) as m:
        result = m.call(args.id, args.input, parse_pairs(args.option, "option"),
                        request_id=args.request_id)
    if args.json:
        print_json(result.to_dict())
    elif result.success:
        print_output(result.output)
    else:
        print(f"wasmbay: plugin '{escape(args.id)}' reported failure: "
              f"{shown(result.error or '')}", file=sys.stderr)
    return EXIT_OK if result.success else EXIT_PLUGIN_FAILED


def cmd_canary(args: argparse.Namespace) -> int:
    with _manager(args) as m:
        version = m.start_canary(args.id, Path(args.path), args.percent,
                                 accept_requested=args.accept_requested,
                                 accept_publisher_change=args.accept_publisher_change,
                                 allow_downgrade=args.allow_downgrade)
    print(f"{escape(args.id)}: canary {escape(version)} takes {args.percent}% of calls")
    return EXIT_OK


def cmd_promote(args: argparse.Namespace) -> int:
    with _manager(args) as m:
        version = m.promote(args.id)
    print(f"{escape(args.id)}: {escape(version)} is now stable")
    return EXIT_OK


def cmd_rollback(args: argparse.Namespace) -> int:
    with _manager(args) as m:
        dropped = m.rollback(args.id)
        stable = m.status(args.id).stable
    print(f"{escape(args.id)}: rolled back {escape(str(dropped))}; {escape(stable)} serves "
          "every call")
    return EXIT_OK


def cmd_auto_rollback(args: argparse.Namespace) -> int:
    with _manager(args) as m:
        m.set_auto_rollback(args.id, None if args.off else args.max_error_rate, args.window)
    print(f"{args.id}: automatic rollback " + ("off" if args.off else
          f"above {args.max_error_rate:.0%} errors over {args.window} canary calls"))
    return EXIT_OK


def cmd_logs(args: argparse.Namespace) -> int:
    from wasmbay.core.events import PluginEvent
    from wasmbay.core.logstore import LogStore
    from wasmbay.core.paths import AppDirs

    store = LogStore(AppDirs.default().logs)

    def show(d: dict[str, Any]) -> None:
        if args.json:
            print(json.dumps(d))
        elif d.get("type") == "PluginEvent":
            print(format_record(PluginEvent(str(d["plugin_id"]), str(d["event_type"]),
                                            str(d["payload"]))))
        else:
            level = LogLevel.parse(str(d.get("level", "info"))) or LogLevel.INFO
            print(format_record(LogRecord(str(d["plugin_id"]), level, str(d["message"]),
                                          source=str(d.get("source", "plugin")),
                                          version=str(d.get("version", "")))))

    for d in store.read(args.id):
        show(d)
    if not args.follow:
        return EXIT_OK
    path = store.path(args.id)
    pos = path.stat().st_size if path.exists() else 0
    try:
        while True:
            time.sleep(0.25)
            if not path.exists():
                continue
            size = path.stat().st_size
            if size < pos:  # rotated
                pos = 0
            if size > pos:
                with path.open(encoding="utf-8") as f:
                    f.seek(pos)
                    for line in f:
                        if line.endswith("\n"):
                            show(json.loads(line))
                    pos = f.tell()
                sys.stdout.flush()
    except KeyboardInterrupt:
        return EXIT_OK


def cmd_health(args: argparse.Namespace) -> int:
    with _manager(args) as m:
        report = m.health()
    if args.json:
        print_json({k: {"status": v.status, "detail": v.detail} for k, v in report.items()})
    else:
        for pid, h in report.items():
            print(f"{escape(pid):<24} {escape(h.status):<9} {shown(h.detail or '')}")
    return EXIT_OK if all(h.status != "failing" for h in report.values()) else EXIT_PLUGIN_FAILED


def cmd_dev(args: argparse.Namespace) -> int:
    path = Path(args.path).resolve()
    with _manager(args, stream=True) as m:
        from wasmbay.core.manager_events import PluginSwapped, SwapFailed

        m.subscribe(lambda e: print(f"[dev] {format_record(e)}", file=sys.stderr),
                    PluginSwapped, SwapFailed)
        pid = m.dev_link(path, grants_from_args(args),
                         dict(parse_pairs(args.config, "config")))
        m.watch_dev(pid, path)
        print(f"[dev] {pid} loaded from {path}; watching for rebuilds. Type an input line to "
              "call process, Ctrl-D to quit.", file=sys.stderr)
        for line in sys.stdin:
            try:
                result = m.call(pid, line.rstrip("\n"))
                if result.success:
                    print_output(result.output)
                else:
                    print(f"failure: {shown(result.error or '')}")
                sys.stdout.flush()
            except E.WasmbayError as e:
                print(f"wasmbay: {error_text(e)}", file=sys.stderr, flush=True)
    return EXIT_OK


def add_trust_arguments(p: argparse.ArgumentParser) -> None:
    """The explicit consents an update needs when it changes whom the user trusts."""
    p.add_argument("--accept-publisher-change", action="store_true",
                   help="accept an update that is unsigned or signed by another key than "
                        "the installed version")
    p.add_argument("--allow-downgrade", action="store_true",
                   help="accept a lower version than the installed stable one")


def add_subcommands(sub: Any) -> None:
    p = sub.add_parser("install", help="install a .wasm component or a plugin package")
    p.add_argument("path")
    add_grant_arguments(p)
    p.add_argument("--accept-requested", action="store_true",
                   help="grant every capability the plugin requests")
    p.add_argument("--id", help="install under this id (default: from the metadata)")
    add_trust_arguments(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_install)

    p = sub.add_parser("list", help="list installed plugins")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("info", help="show one plugin")
    p.add_argument("id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_info)

    for name, action, text in (("uninstall", "uninstall", "remove a plugin, its files, "
                                "secrets and cache entries"),
                               ("enable", "enable", "enable a plugin"),
                               ("disable", "disable", "disable without uninstalling")):
        p = sub.add_parser(name, help=text)
        p.add_argument("id")
        p.set_defaults(func=_simple(action))

    for name, func, text in (("grant", cmd_grant, "grant capabilities (applies at once)"),
                             ("revoke", _revoke, "revoke capabilities (applies at once)")):
        p = sub.add_parser(name, help=text)
        p.add_argument("id")
        p.add_argument("capability", nargs="+")
        p.set_defaults(func=func)

    p = sub.add_parser("config", help="set a configuration value (--secret: OS keyring)")
    p.add_argument("id")
    p.add_argument("key")
    p.add_argument("value", nargs="?")
    p.add_argument("--secret", action="store_true")
    p.add_argument("--remove", action="store_true")
    p.set_defaults(func=cmd_config)

    p = sub.add_parser("call", help="call an installed plugin's process")
    p.add_argument("id")
    p.add_argument("input")
    p.add_argument("--request-id")
    p.add_argument("--option", action="append", metavar="K=V")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_call)

    p = sub.add_parser("canary", help="route a share of calls to a new build")
    p.add_argument("id")
    p.add_argument("path")
    p.add_argument("--percent", type=int, required=True)
    p.add_argument("--accept-requested", action="store_true")
    add_trust_arguments(p)
    p.set_defaults(func=cmd_canary)

    p = sub.add_parser("promote", help="make the canary the stable version")
    p.add_argument("id")
    p.set_defaults(func=cmd_promote)

    p = sub.add_parser("rollback", help="drop the canary, or go back to the previous stable")
    p.add_argument("id")
    p.set_defaults(func=cmd_rollback)

    p = sub.add_parser("auto-rollback", help="roll a failing canary back automatically")
    p.add_argument("id")
    p.add_argument("--max-error-rate", type=float, default=0.05)
    p.add_argument("--window", type=int, default=100)
    p.add_argument("--off", action="store_true")
    p.set_defaults(func=cmd_auto_rollback)

    p = sub.add_parser("logs", help="show a plugin's logs")
    p.add_argument("id")
    p.add_argument("--follow", "-f", action="store_true")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_logs)

    p = sub.add_parser("health", help="health check of every plugin")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_health)

    p = sub.add_parser("dev", help="run a plugin from its build output, reloading rebuilds")
    p.add_argument("path")
    add_grant_arguments(p)
    p.add_argument("--config", action="append", metavar="K=V")
    p.set_defaults(func=cmd_dev)


def _revoke(args: argparse.Namespace) -> int:
    with _manager(args) as m:
        for cap in args.capability:
            m.revoke(args.id, cap)
        print(_joined(m.status(args.id).capabilities))
    return EXIT_OK
