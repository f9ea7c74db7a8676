"""CLI commands over the plugin library and manager (install, grants, canary, dev...)."""

from __future__ import annotations

import argparse
import json
import sys
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
)
from wasmbay.cli_engine import Engine, LocalEngine, follow_logs, open_engine
from wasmbay.core import errors as E
from wasmbay.core.events import LogLevel, LogRecord
from wasmbay.core.untrusted import error_text, escape, shown


def _joined(items: Any) -> str:
    """A list of plugin-influenced texts (versions, grants with guest paths), escaped."""
    return ", ".join(escape(str(i)) for i in items)


def _engine(args: argparse.Namespace, *, stream: bool = False) -> Engine:
    """The running host through its socket when one serves this data folder (the command
    then counts in its metrics, canary and automatic rollback), else in this process."""
    return open_engine(stream_logs=stream, json_logs=getattr(args, "json", False))


def _cap_text(cap: dict[str, Any]) -> str:
    """A requested capability as ``kind=target`` (core.contract.CapabilityRequest.text)."""
    return str(cap["kind"]) if not cap.get("target") else f"{cap['kind']}={cap['target']}"


def cmd_install(args: argparse.Namespace) -> int:
    with _engine(args) as m:
        preview = m.preview(args.path, args.id)
        if not args.json:
            md = preview["metadata"]  # every string in it is the plugin's: escaped
            what = (f"update {escape(preview['current_version'] or '')} -> "
                    f"{escape(md['version'])}"
                    if preview["is_update"] else f"install {escape(md['version'])}")
            print(f"{escape(preview['plugin_id'])}: {what} ({escape(md['name'])}: "
                  f"{escape(md['description'])}), WIT v{preview['wit_version']}")
            if preview["signed_by"]:
                print(f"  signed by trusted key {preview['signed_by']}")
            accepted = {"publisher-change": args.accept_publisher_change,
                        "downgrade": args.allow_downgrade}
            for change in preview["trust_changes"]:  # refused below unless its flag is given
                note = " (accepted)" if accepted.get(change["kind"]) else ""
                print(f"  ! {escape(change['text'])}{note}")
            for cap in preview["requested"]:
                mark = "+" if _cap_text(cap) in preview["escalation"] else " "
                reason = f"  ({escape(cap['reason'])})" if cap.get("reason") else ""
                print(f"  {mark} requests {escape(_cap_text(cap))}{reason}")
            if preview["requested"] and not args.accept_requested and not args.grant:
                print("  nothing is granted unless you pass --grant CAP or --accept-requested")
        status = m.install(args.path, preview=preview,  # the file read and shown
                           grants=args.grant or [], accept_requested=args.accept_requested,
                           accept_publisher_change=args.accept_publisher_change,
                           allow_downgrade=args.allow_downgrade)
    failed = status["state"] == "failed"  # stored, but its initialize failed or timed out
    if args.json:
        print_json({"preview": preview, "status": status,
                    **({"error": {"kind": "load", "plugin_id": status["plugin_id"],
                                  "message": status["reason"]}} if failed else {})})
    elif not failed:
        print(f"installed {escape(status['plugin_id'])} {escape(status['stable'])}; granted: "
              f"{_joined(status['capabilities'])}")
    if failed:
        pid = escape(status["plugin_id"])
        print(f"wasmbay: plugin '{pid}': version {escape(status['stable'])} was stored but did "
              f"not start: {shown(status['reason'])} (it stays installed with its grants; fix "
              f"what it needs, e.g. `wasmbay grant {pid} timeout=60s`, then `wasmbay call` "
              f"retries; or `wasmbay uninstall {pid}`)", file=sys.stderr)
        return EXIT_LOAD
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    with _engine(args) as m:
        listed = m.plugins()
    statuses, problems = listed["plugins"], listed["problems"]
    if args.json:
        print_json({"plugins": statuses, "problems": problems})
        return EXIT_OK
    if not statuses:
        print("no plugins installed; try `wasmbay install build/plugins/image_processor.wasm`")
    for s in statuses:
        canary = (f"  canary {escape(s['canary'])} at {s['canary_percent']}%"
                  if s["canary"] else "")
        state = "enabled" if s["enabled"] else "disabled"
        print(f"{escape(s['plugin_id']):<20} {escape(s['stable']):<12} {state:<9} "
              f"{escape(s['name'])}{canary}")
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
    with _engine(args) as m:
        s = m.plugin(args.id)
    if args.json:
        print_json(s)
        return EXIT_OK
    print(f"{escape(s['plugin_id'])}: {escape(s['name'])} — {escape(s['description'])}")
    print(f"  stable:    {escape(s['stable'])}" + (
        f" (previous {escape(s['previous_stable'])})" if s["previous_stable"] else ""))
    if s["canary"]:
        print(f"  canary:    {escape(s['canary'])} at {s['canary_percent']}%")
    print(f"  versions:  {_joined(s['versions'])}")
    publisher = s["publisher"]
    print(f"  publisher: {'signed by trusted key ' + publisher if publisher else 'unsigned'}")
    print(f"  enabled:   {s['enabled']}   WIT v{s['wit_version']}")
    cached = ", ".join(s.get("compiled_tiers") or ()) or "none"
    print(f"  code:      {s.get('tier') or 'not running'} (compiled and cached: {cached})")
    print(f"  grants:    {_joined(s['capabilities'])}")
    for line in resource_lines(s["resources"]):
        print(f"  {line}")
    for k, v in s["config"].items():
        print(f"  config:    {escape(k)} = {escape(v)}")
    for k in s["secret_keys"]:
        print(f"  secret:    {escape(k)} = •••••• (in the OS keyring)")
    if s["auto_rollback"]:
        print(f"  auto-rollback: {_auto_rollback_text(s['auto_rollback'])}")
    return EXIT_OK


def _simple(action: str) -> Any:
    def run(args: argparse.Namespace) -> int:
        with _engine(args) as m:
            getattr(m, action)(args.id)
        print(f"{action}d {args.id}" if action.endswith("e") else f"{action}ed {args.id}")
        return EXIT_OK

    return run


def cmd_grant(args: argparse.Namespace) -> int:
    with _engine(args) as m:
        status = m.grant(args.id, args.capability)
    print(_joined(status["capabilities"]))
    return EXIT_OK


def cmd_config(args: argparse.Namespace) -> int:
    with _engine(args) as m:
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
    with _engine(args, stream=True) as m:
        result = m.process(args.id, args.input, parse_pairs(args.option, "option"),
                           request_id=args.request_id)
    if args.json:
        print_json(result)
    elif result["success"]:
        print_output(result["output"])
    else:
        print(f"wasmbay: plugin '{escape(args.id)}' reported failure: "
              f"{shown(result['error'] or '')}", file=sys.stderr)
    return EXIT_OK if result["success"] else EXIT_PLUGIN_FAILED


def cmd_canary(args: argparse.Namespace) -> int:
    with _engine(args) as m:
        version = m.canary(args.id, args.path, args.percent,
                                 accept_requested=args.accept_requested,
                                 accept_publisher_change=args.accept_publisher_change,
                                 allow_downgrade=args.allow_downgrade)
    print(f"{escape(args.id)}: canary {escape(version)} takes {args.percent}% of calls")
    return EXIT_OK


def cmd_promote(args: argparse.Namespace) -> int:
    with _engine(args) as m:
        version = m.promote(args.id)
    print(f"{escape(args.id)}: {escape(version)} is now stable")
    return EXIT_OK


def cmd_rollback(args: argparse.Namespace) -> int:
    with _engine(args) as m:
        dropped = m.rollback(args.id)
        stable = m.plugin(args.id)["stable"]
    print(f"{escape(args.id)}: rolled back {escape(str(dropped))}; {escape(stable)} serves "
          "every call")
    return EXIT_OK


def _auto_rollback_text(auto: dict[str, Any]) -> str:
    """E.g. "above 5% errors (min 5 calls, 95% confidence): roll back, 9 of min 5 ..."."""
    progress = escape(auto["summary"])
    if auto["decision"] != "no canary":
        progress = f"{auto['decision']}: {progress}"
    return (f"above {auto['max_error_rate']:.0%} errors (min {auto['min_calls']} calls, "
            f"{auto['confidence']:.0%} confidence): {progress}")


def cmd_auto_rollback(args: argparse.Namespace) -> int:
    if args.min_calls is not None and args.window is not None:
        raise E.UsageError("give --min-calls or --window, not both", plugin_id=args.id,
                           hint="--window is the old name of --min-calls")
    settings: dict[str, Any] = {"max_error_rate": args.max_error_rate}
    min_calls = args.window if args.min_calls is None else args.min_calls
    if min_calls is not None:
        settings["min_calls"] = min_calls
    if args.confidence is not None:
        settings["confidence"] = args.confidence
    with _engine(args) as m:
        m.auto_rollback(args.id, None if args.off else settings)
        auto = m.plugin(args.id)["auto_rollback"]
    if args.json:
        print_json({"plugin_id": args.id, "auto_rollback": auto})
        return EXIT_OK
    print(f"{escape(args.id)}: automatic rollback "
          + (_auto_rollback_text(auto) if auto else "off"))
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

    if not args.follow:
        for d in store.read(args.id):
            show(d)
        return EXIT_OK
    # Follow: with a host, its live stream (what the plugin says as it says it); else
    # the log file as other processes append to it. Subscribed before the history is
    # shown, so nothing said in between is missed.
    live = follow_logs(args.id)  # subscribed when it returns
    for d in store.read(args.id):
        show(d)
    sys.stdout.flush()
    try:
        for d in live:
            show(d)
            sys.stdout.flush()
    except KeyboardInterrupt:
        return EXIT_OK
    return EXIT_OK


def cmd_health(args: argparse.Namespace) -> int:
    with _engine(args) as m:
        report = m.health()
    if args.json:
        print_json(report)
    else:
        for pid, h in report.items():
            print(f"{escape(pid):<24} {escape(h['status']):<9} {shown(h['detail'] or '')}")
    return (EXIT_OK if all(h["status"] != "failing" for h in report.values())
            else EXIT_PLUGIN_FAILED)


def cmd_dev(args: argparse.Namespace) -> int:
    path = Path(args.path).resolve()
    # Always in this process: it runs the plugin from its build output, not installed.
    with LocalEngine(stream_logs=True) as engine:
        m = engine.manager
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
    p.add_argument("--max-error-rate", type=float, default=0.05,
                   help="roll back once the canary's error rate is shown above this "
                        "(0..1, default 0.05)")
    p.add_argument("--min-calls", type=int, default=None,
                   help="canary calls before any judgement (default 5)")
    p.add_argument("--confidence", type=float, default=None,
                   help="how sure the host must be, over the whole canary (default 0.95)")
    p.add_argument("--window", type=int, default=None,
                   help="deprecated: the old name of --min-calls")
    p.add_argument("--off", action="store_true")
    p.add_argument("--json", action="store_true")
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
    with _engine(args) as m:
        status = m.revoke(args.id, args.capability)
    print(_joined(status["capabilities"]))
    return EXIT_OK
