"""CLI commands over the compiled cache (``wasmbay cache ...``) and ``wasmbay verify``."""

from __future__ import annotations

import argparse
import time
from typing import Any

from wasmbay.cli_common import EXIT_LOAD, EXIT_OK, print_json
from wasmbay.core.runtime import human_size
from wasmbay.core.untrusted import escape, shown


def _manager() -> Any:
    from wasmbay.core.manager import PluginManager

    return PluginManager()


def _when(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


def _removed(entries: list[Any]) -> dict[str, Any]:
    return {"removed": [{"key": e.key, "component_sha256": e.component_sha256,
                         "tier": e.tier, "size": e.size} for e in entries],
            "freed": sum(e.size for e in entries)}


def cmd_cache_list(args: argparse.Namespace) -> int:
    with _manager() as m:
        listing = m.cache_listing()
        cap = m.cache_max_bytes()
    if args.json:
        print_json({"entries": [x.to_dict() for x in listing], "max_bytes": cap,
                    "total": sum(x.entry.size for x in listing)})
        return EXIT_OK
    if not listing:
        print("the compiled cache is empty")
    for x in listing:  # least recently used first: the first to be evicted
        e = x.entry
        sha = e.component_sha256[:12] if e.component_sha256 else "?" * 12
        users = ", ".join(escape(u) for u in x.used_by) or "unreferenced"
        print(f"{sha}  {human_size(e.size):>10}  {e.tier or '?':<14}  used {_when(e.last_used)}"
              f"  {users}")
    return EXIT_OK


def cmd_cache_size(args: argparse.Namespace) -> int:
    with _manager() as m:
        listing = m.cache_listing()
        cap = m.cache_max_bytes()
    total = sum(x.entry.size for x in listing)
    unreferenced = sum(x.entry.size for x in listing if not x.used_by)
    if args.json:
        print_json({"total": total, "entries": len(listing), "unreferenced": unreferenced,
                    "max_bytes": cap})
    else:
        print(f"{human_size(total)} in {len(listing)} entries ({human_size(unreferenced)} "
              f"unreferenced); cap {human_size(cap)} (WASMBAY_CACHE_MAX)")
    return EXIT_OK


def cmd_cache_prune(args: argparse.Namespace) -> int:
    with _manager() as m:
        removed = m.prune_cache(everything_unreferenced=args.all)
    if args.json:
        print_json(_removed(removed))
    else:
        print(f"removed {len(removed)} unreferenced entries, "
              f"{human_size(sum(e.size for e in removed))}")
    return EXIT_OK


def cmd_cache_clear(args: argparse.Namespace) -> int:
    with _manager() as m:
        removed = m.clear_cache()
    if args.json:
        print_json(_removed(removed))
    else:
        print(f"removed {len(removed)} entries, {human_size(sum(e.size for e in removed))}; "
              "each plugin compiles again at its next start")
    return EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    with _manager() as m:
        results = m.verify()
    damaged = [r for r in results if not r.ok]
    if args.json:
        print_json({"checked": len(results), "damaged": [r.to_dict() for r in damaged],
                    "results": [r.to_dict() for r in results]})
    else:
        for r in damaged:
            print(f"DAMAGED {escape(r.plugin_id)} {escape(r.version)}: {shown(r.problem or '')}")
        ok = len(results) - len(damaged)
        print(f"{ok} of {len(results)} stored versions match their sha256"
              + ("; reinstall the damaged ones from a trusted source" if damaged else ""))
    return EXIT_LOAD if damaged else EXIT_OK


def add_subcommands(sub: Any) -> None:
    p = sub.add_parser("cache", help="list, size, prune or clear the compiled cache")
    cache = p.add_subparsers(dest="cache_command", metavar="ACTION", required=True)
    for name, func, text in (
            ("list", cmd_cache_list, "entries, least recently used first, and who uses each"),
            ("size", cmd_cache_size, "total size, unreferenced size and the cap"),
            ("prune", cmd_cache_prune, "evict unreferenced entries down to the cap "
                                       "(WASMBAY_CACHE_MAX, default 2G)"),
            ("clear", cmd_cache_clear, "remove every entry (running plugins keep their code)")):
        q = cache.add_parser(name, help=text)
        if name == "prune":
            q.add_argument("--all", action="store_true",
                           help="evict every entry no installed plugin uses")
        q.add_argument("--json", action="store_true")
        q.set_defaults(func=func)

    p = sub.add_parser("verify", help="re-hash every installed plugin's stored versions")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_verify)
