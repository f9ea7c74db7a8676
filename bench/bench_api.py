"""Issue 14 benchmark (point 7): the engine API under load, and what the socket adds.

A `wasmbay serve` host on a temporary WASMBAY_HOME serves the WAT echo with a canary
(1.0.1, answering "canaryyyy: ...") at 30%. Then, in this order:

1. one client, calls one after another on an idle host: the socket round trip from this
   process (``Client.process``: request sent → host → plugin → answer parsed) against an
   in-process ``PluginManager.call`` of the same plugin with the same input (a second home
   with the same install, so the host is not disturbed), interleaved rep by rep so both
   see the same machine load (printed: the machine is shared); target: the socket adds
   <= 150 µs at p50;
2. --procs client processes x --calls calls each, all at once, each with its own request
   ids: every answer is checked against its request (output = the version's prefix + the
   input: nothing lost or crossed) and its served_by against core.rollout's deterministic
   choice for the id (``bucket(id) < percent * 100`` → canary); every 10th id is sent a
   second time (sticky: the same version again). The host's own metrics must count
   exactly the calls made (none lost, none answered twice).

Prints, never asserts. Run:
    .venv/bin/python bench/bench_api.py [--procs 8] [--calls 2000] [--percent 30] [--reps 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.core.library_fixtures import echo_variant  # noqa: E402
from tests.fixtures.build import build_fixture  # noqa: E402
from wasmbay.api.client import Client  # noqa: E402
from wasmbay.core.rollout import BUCKETS, bucket  # noqa: E402

PLUGIN, STABLE, CANARY = "echo", "1.0.0", "1.0.1"
PREFIX = {STABLE: "processed: ", CANARY: "canaryyyy: "}


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def expected(request_id: str, percent: int) -> str:
    """core.rollout.Router.to_canary for a request id: its bucket below percent*100."""
    return CANARY if bucket(request_id) < percent * (BUCKETS // 100) else STABLE


# --- one client process -------------------------------------------------------------------


def worker(socket: str, index: int, calls: int, percent: int) -> dict[str, Any]:
    client = Client(socket, timeout=120)
    lat: list[float] = []
    errors: list[str] = []
    misrouted = crossed = not_sticky = 0
    served: dict[str, int] = {STABLE: 0, CANARY: 0}
    sent = 0
    for i in range(calls):
        # every 10th call re-sends the id of the call 5 before it: the same version again
        repeat = i % 10 == 9
        rid = f"w{index}-{i - 5 if repeat else i}"
        text = f"{rid}#{i}"
        t0 = time.perf_counter()
        try:
            r = client.process(PLUGIN, text, request_id=rid)
        except Exception as e:  # a lost call: counted, never retried
            errors.append(f"{type(e).__name__}: {e}")
            continue
        finally:
            sent += 1
        lat.append(time.perf_counter() - t0)
        want = expected(rid, percent)
        served[r.served_by] = served.get(r.served_by, 0) + 1
        if r.served_by != want:
            misrouted += 1
            if repeat:
                not_sticky += 1
        if r.output != PREFIX.get(r.served_by, "?") + text:
            crossed += 1
    client.close()
    return {"sent": sent, "answered": len(lat), "errors": errors[:5], "lost": len(errors),
            "misrouted": misrouted, "crossed": crossed, "not_sticky": not_sticky,
            "served": served, "lat": lat}


# --- the host -----------------------------------------------------------------------------


def start_host(home: Path) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "WASMBAY_HOME": str(home)}
    proc = subprocess.Popen([sys.executable, "-m", "wasmbay", "serve", "--json"],
                            stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise SystemExit("wasmbay serve did not start")
    return proc, json.loads(line)["socket"]


def install(home: Path, percent: int, variant: Path) -> None:
    """echo 1.0.0 with canary 1.0.1 at ``percent``, in its own process (WASMBAY_HOME)."""
    code = ("import sys; from wasmbay.core.manager import PluginManager\n"
            "with PluginManager() as m:\n"
            "    m.install(sys.argv[1])\n"
            "    m.start_canary('echo', sys.argv[2], int(sys.argv[3]))\n")
    subprocess.run([sys.executable, "-c", code, str(build_fixture("echo")), str(variant),
                    str(percent)], check=True, cwd=ROOT,
                   env={**os.environ, "WASMBAY_HOME": str(home)})


INPUT = "x" * 100


def sequential_socket(client: Client, n: int, tag: str) -> tuple[list[float], list[float]]:
    lat, plugin_s = [], []
    for i in range(n):
        t0 = time.perf_counter()
        r = client.process(PLUGIN, INPUT, request_id=f"{tag}-{i}")
        lat.append(time.perf_counter() - t0)
        plugin_s.append(r.duration_s)
    return lat, plugin_s


def sequential_raw(sock: Any, n: int, tag: str) -> list[float]:
    """The same request written and read by hand on a kept-alive socket: what the host
    takes, without the Python client (a split of the socket's cost)."""
    lat = []
    for i in range(n):
        body = json.dumps({"input": INPUT, "request_id": f"{tag}-{i}"}).encode()
        req = (b"POST /v1/plugins/echo/process HTTP/1.1\r\nHost: localhost\r\n"
               b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body))
        t0 = time.perf_counter()
        sock.sendall(req + body)
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += sock.recv(65536)
        head, _, rest = buf.partition(b"\r\n\r\n")
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        while len(rest) < length:
            rest += sock.recv(65536)
        json.loads(rest)
        lat.append(time.perf_counter() - t0)
    return lat


def sequential_in_process(manager: Any, n: int, tag: str) -> list[float]:
    lat = []
    for i in range(n):
        t0 = time.perf_counter()
        manager.call(PLUGIN, INPUT, request_id=f"{tag}-{i}")
        lat.append(time.perf_counter() - t0)
    return lat


def compare(args: argparse.Namespace, socket_path: str, local_home: Path) -> None:
    """Part 1: the socket against in-process, rep by rep, side by side."""
    import socket

    os.environ["WASMBAY_HOME"] = str(local_home)
    from wasmbay.core.manager import PluginManager

    client = Client(socket_path, timeout=60)
    raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    raw.connect(socket_path)
    over_socket: list[float] = []
    plugin_s: list[float] = []
    by_hand: list[float] = []
    in_process: list[float] = []
    differences: list[float] = []
    n = max(1, args.sequential // args.reps)
    with PluginManager() as manager:
        for i in range(200):  # warm: instances, connections, caches
            manager.call(PLUGIN, "warm", request_id=f"warm-{i}")
            client.process(PLUGIN, "warm", request_id=f"warm-{i}")
        sequential_raw(raw, 200, "warm-raw")
        load = os.getloadavg()
        for rep in range(args.reps):
            lat, plugin = sequential_socket(client, n, f"seq{rep}")
            local = sequential_in_process(manager, n, f"seq{rep}")
            by_hand += sequential_raw(raw, n, f"raw{rep}")
            differences.append(pct(lat, 0.5) - pct(local, 0.5))
            over_socket += lat
            plugin_s += plugin
            in_process += local
    client.close()
    raw.close()
    after = os.getloadavg()
    s50, s99 = pct(over_socket, 0.5) * 1e6, pct(over_socket, 0.99) * 1e6
    p50, p99 = pct(in_process, 0.5) * 1e6, pct(in_process, 0.99) * 1e6
    print(f"\n1 client, {args.reps} reps x {n} sequential calls each way, interleaved, "
          f"{len(INPUT)}-char input; load average {load[0]:.2f} before, {after[0]:.2f} after "
          f"({os.cpu_count()} cores):")
    print(f"  socket round trip      p50 {s50:8.1f} µs   p99 {s99:8.1f} µs   (Client.process)")
    print(f"  raw HTTP, no client    p50 {pct(by_hand, 0.5) * 1e6:8.1f} µs   "
          f"p99 {pct(by_hand, 0.99) * 1e6:8.1f} µs   (the host's share)")
    print(f"  in-process call        p50 {p50:8.1f} µs   p99 {p99:8.1f} µs   "
          f"(PluginManager.call)")
    print(f"  plugin time (host)     p50 {pct(plugin_s, 0.5) * 1e6:8.1f} µs")
    print(f"  the socket adds {s50 - p50:.1f} µs at p50 ({s50 / p50:.1f}x; per rep "
          f"{min(differences) * 1e6:.0f}-{max(differences) * 1e6:.0f} µs); target <= 150 µs: "
          f"{'met' if s50 - p50 <= 150 else 'NOT met'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--procs", type=int, default=8)
    ap.add_argument("--calls", type=int, default=2000, help="calls per client process")
    ap.add_argument("--percent", type=int, default=30, help="the canary's share")
    ap.add_argument("--sequential", type=int, default=3000,
                    help="calls each way for the socket vs in-process comparison")
    ap.add_argument("--reps", type=int, default=5,
                    help="interleaved rounds the comparison's calls are split into")
    ap.add_argument("--worker", nargs=4, metavar=("SOCKET", "INDEX", "CALLS", "PERCENT"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        sock, index, calls, percent = args.worker
        print(json.dumps(worker(sock, int(index), int(calls), int(percent))))
        return

    tmp = Path(tempfile.mkdtemp(prefix="wbb-", dir="/tmp"))  # short: sun_path is 107 bytes
    try:
        variant = echo_variant(tmp, CANARY, "canaryyyy")
        host_home, local_home = tmp / "h", tmp / "l"
        install(host_home, args.percent, variant)
        install(local_home, args.percent, variant)
        proc, sock = start_host(host_home)
        try:
            run(args, sock, local_home)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(args: argparse.Namespace, sock: str, local_home: Path) -> None:
    print(f"host: wasmbay serve on {sock}; {PLUGIN} {STABLE} + canary {CANARY} at "
          f"{args.percent}%; {os.cpu_count()} cores")

    # 1. what the socket adds, one call at a time on an idle host
    compare(args, sock, local_home)

    # 2. the load
    client = Client(sock)
    before = {v: m["calls"] for v, m in client.plugin(PLUGIN)["metrics"].items()}
    t0 = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, __file__, "--worker", sock, str(i),
                               str(args.calls), str(args.percent)],
                              stdout=subprocess.PIPE, text=True, cwd=ROOT)
             for i in range(args.procs)]
    results = []
    for p in procs:
        out, _ = p.communicate()
        results.append(json.loads(out))
    wall = time.perf_counter() - t0
    after = client.plugin(PLUGIN)["metrics"]
    client.close()
    counted = {v: m["calls"] - before.get(v, 0) for v, m in after.items()}

    lat = [x for r in results for x in r["lat"]]
    total = sum(r["sent"] for r in results)
    answered = sum(r["answered"] for r in results)
    served = {v: sum(r["served"].get(v, 0) for r in results) for v in (STABLE, CANARY)}
    print(f"\n{args.procs} client processes x {args.calls} calls = {total} calls, "
          f"{wall:.1f} s wall, {answered / wall:,.0f} calls/s")
    print(f"  lost (no answer)       {sum(r['lost'] for r in results)}")
    print(f"  crossed (wrong output) {sum(r['crossed'] for r in results)}")
    print(f"  misrouted (served_by != rollout's choice for its id) "
          f"{sum(r['misrouted'] for r in results)}")
    print(f"  not sticky (repeated id, other version) {sum(r['not_sticky'] for r in results)}")
    print(f"  canary share           {served[CANARY] / max(1, answered):.1%} "
          f"(target {args.percent}%; {served[CANARY]} canary, {served[STABLE]} stable)")
    print(f"  host counted           {sum(counted.values())} calls {counted} "
          f"(answered {answered}: {'equal' if sum(counted.values()) == answered else 'DIFFER'})")
    if lat:
        print(f"  latency under load     p50 {pct(lat, 0.5) * 1e3:.2f} ms   "
              f"p99 {pct(lat, 0.99) * 1e3:.2f} ms   max {max(lat) * 1e3:.2f} ms")
    errors = [e for r in results for e in r["errors"]]
    if errors:
        print("  first errors:", *errors[:5], sep="\n    ")


if __name__ == "__main__":
    main()
