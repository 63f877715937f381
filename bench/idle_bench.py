"""Idle cost of `hub run` with the demo's branches: RSS and CPU time sampled over minutes (a benchmark, not a test).

The demo's fakes (every installed plugin's sandbox) are served on 127.0.0.1 by this process, the demo's two
branch files are written pointing at them (hub.demo.demo_branches), the webhook receiver is switched on, and
`python -m hub run` is started as a child process. Its resident memory (/proc/<pid>/status VmRSS) and CPU time
(/proc/<pid>/stat utime + stime) are sampled every `--every` seconds for `--minutes` minutes. Nothing leaves
the machine: the Google plugins use static tokens against the fakes, Calendly's and Carnet's fakes are on
loopback too.

    .venv/bin/python bench/idle_bench.py                      # fast intervals (5 s), 10 minutes
    .venv/bin/python bench/idle_bench.py --default-intervals  # the plugins' own intervals
    .venv/bin/python bench/idle_bench.py --tree /tmp/old      # the daemon of another checkout, same fakes
    .venv/bin/python bench/idle_bench.py --plugins none       # no plugin at all (the bare daemon)

Run it under `nice -n 10` on a shared machine; the figures are the child's, not this process's.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hub.demo import DemoClock, demo_branches, write_demo_config  # noqa: E402
from hub.plugins import PluginRegistry  # noqa: E402
from hub.sandbox import DemoPhase, serve  # noqa: E402
from hub.serving import free_port  # noqa: E402

PACKAGES = {"hub": "hub", "hub_example": "plugins/example", "hub_calendly": "plugins/calendly",
            "hub_gsheets": "plugins/gsheets", "hub_google": "plugins/google", "hub_gmail": "plugins/gmail"}
SEED_PHASES = (DemoPhase.REGISTER, DemoPhase.BOOK, DemoPhase.CHANGE)
TICKS = os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14 and 15 of proc(5))


def tuned(branches: dict[str, dict[str, object]], interval: float | None) -> None:
    """Every poll interval the demo sets (1 s) to `interval`, or removed (None: the plugins' defaults)."""
    for table in branches.values():
        tables: list[dict[str, object]] = [table] + [t for t in table.values() if isinstance(t, dict)]
        for part in tables:
            for key in [k for k in part if k.endswith("_interval")]:
                if interval is None:
                    del part[key]
                else:
                    part[key] = interval


@contextmanager
def old_tree(tree: Path | None) -> Iterator[dict[str, str]]:
    """PYTHONPATH making another checkout's packages win over the editable install (for a before/after)."""
    if tree is None:
        yield {}
        return
    shim = Path(tempfile.mkdtemp(prefix="idle-bench-tree-"))
    try:
        for package, folder in PACKAGES.items():
            (shim / package).symlink_to((tree / folder).resolve())
        yield {"PYTHONPATH": str(shim)}
    finally:
        shutil.rmtree(shim)


def wait_listening(port: int, child: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if child.poll() is not None:
            raise SystemExit(f"hub run ended with {child.returncode} before its receiver listened")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the receiver did not listen within a minute")


def slope_per_hour(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB), in MB per hour."""
    n = len(samples)
    if n < 2:
        return 0.0
    mean_t = sum(t for t, _ in samples) / n
    mean_m = sum(m for _, m in samples) / n
    var = sum((t - mean_t) ** 2 for t, _ in samples)
    return 3600 * sum((t - mean_t) * (m - mean_m) for t, m in samples) / var if var else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--minutes", type=float, default=10.0, help="how long to sample (default 10)")
    parser.add_argument("--every", type=float, default=10.0, help="seconds between samples (default 10)")
    parser.add_argument("--interval", type=float, default=5.0, help="poll interval of every source (default 5 s)")
    parser.add_argument("--default-intervals", action="store_true", help="the plugins' own intervals instead")
    parser.add_argument("--plugins", default="calendly,example,gmail,gsheets",
                        help="comma-separated plugins to enable, or 'none' (default: the demo's four)")
    parser.add_argument("--no-receiver", action="store_true", help="leave the webhook receiver off")
    parser.add_argument("--no-seed", action="store_true", help="skip the demo's sign-ups and bookings at start")
    parser.add_argument("--tree", type=Path, help="run the daemon of another checkout (git worktree)")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="environment for the daemon, e.g. MALLOC_ARENA_MAX=2")
    parser.add_argument("--keep", action="store_true", help="keep the config and log folder")
    args = parser.parse_args()

    registry = PluginRegistry.discover()
    wanted = [] if args.plugins == "none" else args.plugins.split(",")
    sandboxes = {name: s for name, s in registry.sandboxes().items() if name in wanted}
    missing = set(wanted) - set(sandboxes)
    if missing:
        raise SystemExit(f"no sandbox for {sorted(missing)}")
    interval = None if args.default_intervals else args.interval
    work = Path(tempfile.mkdtemp(prefix="idle-bench-"))
    started_at = datetime.now().astimezone().isoformat(timespec="seconds")
    with serve(sandboxes) as urls, old_tree(args.tree) as tree_env:
        port = free_port()
        clock = DemoClock()
        contexts, branches, secrets = demo_branches(sandboxes, urls, port, clock)
        if not wanted:
            for table in branches.values():
                table["plugins"] = []
                table.pop("channels", None)
        tuned(branches, interval)
        hub_table: dict[str, object] = {"state_dir": str(work / "var")}
        if not args.no_receiver:
            hub_table["webhooks"] = {"listen": f"127.0.0.1:{port}"}
        if interval is not None:
            hub_table["poll_interval"] = interval
        write_demo_config(work / "config", branches, secrets, hub_table)
        env = {**os.environ, **tree_env, **dict(e.split("=", 1) for e in args.env)}
        log = (work / "hub.log").open("wb")
        child = subprocess.Popen([sys.executable, "-m", "hub", "--config", str(work / "config"), "run"],
                                 stdout=log, stderr=subprocess.STDOUT, env=env, cwd=args.tree or ROOT)
        try:
            if not args.no_receiver:
                wait_listening(port, child)
            else:
                time.sleep(5)
            if not args.no_seed:
                for phase in SEED_PHASES:
                    for (_b, name), ctx in contexts.items():
                        for action in sandboxes[name].demo_actions(ctx):
                            if action.phase is phase:
                                action.run()
            samples: list[tuple[float, float]] = []
            cpu: list[tuple[float, float]] = []
            t0 = time.monotonic()
            end = t0 + args.minutes * 60
            while True:
                now = time.monotonic()
                if child.poll() is not None:
                    raise SystemExit(f"hub run ended with {child.returncode}; see {work / 'hub.log'}")
                samples.append((now - t0, rss_kib(child.pid) / 1024))
                cpu.append((now - t0, cpu_seconds(child.pid)))
                print(f"{now - t0:7.0f} s  RSS {samples[-1][1]:7.1f} MB  CPU {cpu[-1][1]:7.2f} s", flush=True)
                if now >= end:
                    break
                time.sleep(min(args.every, max(0.0, end - time.monotonic())))
        finally:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(15)
            except subprocess.TimeoutExpired:
                child.kill()
            log.close()
    minutes = (cpu[-1][0] - cpu[0][0]) / 60 or 1.0
    half = [s for s in samples if s[0] >= samples[-1][0] / 2]
    mode = "default intervals" if interval is None else f"every source each {interval:g} s"
    print(f"\nidle `hub run`, started {started_at}, {args.minutes:g} min, {mode}, plugins: "
          f"{', '.join(sorted(sandboxes)) or 'none'}, receiver {'off' if args.no_receiver else 'on'}"
          f"{', tree ' + str(args.tree) if args.tree else ''}{', ' + ' '.join(args.env) if args.env else ''}")
    print(f"RSS start {samples[0][1]:.1f} MB, end {samples[-1][1]:.1f} MB, max {max(m for _, m in samples):.1f} MB")
    print(f"RSS slope {slope_per_hour(samples):+.1f} MB/h over the run, {slope_per_hour(half):+.1f} MB/h "
          "over its second half")
    print(f"CPU {(cpu[-1][1] - cpu[0][1]) / minutes:.2f} CPU-s/min ({cpu[-1][1]:.1f} s in all, start included)")
    if args.keep:
        print(f"config and log: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
