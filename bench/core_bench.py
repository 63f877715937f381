"""Benchmark of the core: deliveries per second through the durable store, memory, start-up time.

Run: `make bench` (or `.venv/bin/python bench/core_bench.py [--events N]`). No network; figures go to README.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hub.app import Hub
from hub.config import load_config
from hub.events import EventKind
from hub.hookspecs import hookimpl
from hub.plugins import PluginRegistry
from hub.testing import FakeClock, make_candidate, make_event, write_config


class NoOp:
    @hookimpl
    def candidate_registered(self, hub, event):  # type: ignore[no-untyped-def]
        return None


def throughput(events: int, sinks: int, batch: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        registry = PluginRegistry()
        for i in range(sinks):
            registry.add(f"noop{i}", NoOp())
        write_config(Path(tmp), {"bench": {"plugins": list(registry.plugins)}}, {"delivery": {"batch_size": batch}})
        hub = Hub(load_config(tmp, registry.settings_models(), environ={}), registry, clock=FakeClock())
        made = [make_event(EventKind.CANDIDATE_REGISTERED, candidate=make_candidate(phone=f"06{i:08d}"),
                           source_id=f"s{i}")
                for i in range(events)]
        start = time.perf_counter()
        for i in range(0, events, 100):  # pages of 100, one transaction each, as a poller delivers them
            hub.ingest("bench", "noop0", made[i:i + 100], source="bench", cursor=str(i))
        ingest_s = time.perf_counter() - start
        start = time.perf_counter()
        delivered = hub.dispatcher.drain(max_batches=1_000_000)
        deliver_s = time.perf_counter() - start
        assert delivered == events * sinks, delivered
        hub.close()
    return {"events": events, "deliveries": delivered, "ingest_events_per_s": events / ingest_s,
            "deliveries_per_s": delivered / deliver_s,
            "end_to_end_deliveries_per_s": delivered / (ingest_s + deliver_s)}


def help_time(runs: int = 7) -> float:
    hub_cmd = str(Path(sys.executable).with_name("hub"))
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([hub_cmd, "--help"], check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def idle_daemon_rss_mb(seconds: float = 4.0) -> float:
    """RSS of `hub run` with the installed plugins enabled but nothing to do (sources on a local fake)."""
    with tempfile.TemporaryDirectory() as tmp:
        write_config(Path(tmp), {"idle": {"plugins": []}})
        env = {**os.environ, "HUB_CONFIG": tmp}
        proc = subprocess.Popen([str(Path(sys.executable).with_name("hub")), "run"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(seconds)
            status = Path(f"/proc/{proc.pid}/status").read_text()
            rss_kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    return rss_kb / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--sinks", type=int, default=2)
    parser.add_argument("--batch", type=int, default=200)
    args = parser.parse_args()
    result = throughput(args.events, args.sinks, args.batch)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, SQLite WAL synchronous=FULL")
    print(f"ingest: {result['events']} events in pages of 100: {result['ingest_events_per_s']:,.0f} events/s")
    print(f"delivery: {result['deliveries']} deliveries to {args.sinks} no-op plugins, batch {args.batch}: "
          f"{result['deliveries_per_s']:,.0f} deliveries/s")
    print(f"end to end: {result['end_to_end_deliveries_per_s']:,.0f} deliveries/s")
    print(f"peak memory of the benchmark process: {peak_mb:.0f} MB")
    print(f"hub --help: {help_time() * 1000:.0f} ms (median of 7)")
    print(f"idle daemon (hub run, all installed plugins discovered): {idle_daemon_rss_mb():.0f} MB resident")


if __name__ == "__main__":
    main()
