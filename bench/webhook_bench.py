"""Signed Calendly webhooks into `hub run`, side by side with Node-RED's no-op flow when it is installed.

Run: `.venv/bin/python bench/webhook_bench.py [--node-red PATH/node-red] [--requests 3000] [--clients 16]`
(part of `make bench`). The hub answers 2xx only once a webhook's events are durably committed
(`synchronous=FULL`); Node-RED answers its no-op flow and stores nothing. Both get the same requests in the same
run, on loopback, rounds alternating, so the ratio holds on a machine whose absolute speed drifts. After the
rounds the hub's stored events are counted against its 2xx answers, and its RSS is read.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import json
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from hub.config.files import write_config
from hub.serving import free_port

KEY = "bench-signing-key-not-a-secret"
NODE_RED_FLOW = [
    {"id": "t", "type": "tab", "label": "bench"},
    {"id": "in", "type": "http in", "z": "t", "url": "/webhooks/bench", "method": "post", "wires": [["fn"]]},
    {"id": "fn", "type": "function", "z": "t", "func": "return msg;", "outputs": 1, "wires": [["out"]]},
    {"id": "out", "type": "http response", "z": "t", "statusCode": "200", "wires": []},
]


def body(i: int) -> bytes:
    """A Calendly invitee.created delivery (the documented shape, with the embedded scheduled_event)."""
    event, invitee = uuid.uuid4().hex, uuid.uuid4().hex
    start = time.gmtime(time.time() + 86400 * (3 + i % 20))
    end = time.gmtime(time.mktime(start) + 3600)
    stamp = "%Y-%m-%dT%H:%M:%S.000000Z"
    event_uri = f"https://api.calendly.com/scheduled_events/{event}"
    return json.dumps({"event": "invitee.created", "created_at": "2026-12-02T10:00:00.000000Z",
                       "created_by": "https://api.calendly.com/users/U001", "payload": {
                           "uri": f"{event_uri}/invitees/{invitee}", "email": f"bench{i}@example.org",
                           "first_name": "Camille", "last_name": f"Bench{i}", "name": f"Camille Bench{i}",
                           "status": "active", "timezone": "Europe/Paris", "event": event_uri,
                           "created_at": "2026-12-02T10:00:00.000000Z", "updated_at": "2026-12-02T10:00:00.000000Z",
                           "questions_and_answers": [], "tracking": {}, "rescheduled": False,
                           "scheduled_event": {"uri": event_uri, "name": "Atelier", "status": "active",
                                               "start_time": time.strftime(stamp, start),
                                               "end_time": time.strftime(stamp, end),
                                               "event_type": "https://api.calendly.com/event_types/ET001",
                                               "event_memberships": [{"user": "https://api.calendly.com/users/U001"}]},
                       }}).encode()


def load(port: int, path: str, total: int, clients: int, sign: bool) -> dict[str, float]:
    bodies = [body(i) for i in range(total)]
    latencies: list[float] = []
    bad = [0]
    lock = threading.Lock()
    position = [0]

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            with lock:
                if position[0] >= total:
                    break
                data = bodies[position[0]]
                position[0] += 1
            headers = {"Content-Type": "application/json"}
            if sign:
                t = str(int(time.time()))
                digest = hmac.new(KEY.encode(), t.encode() + b"." + data, hashlib.sha256).hexdigest()
                headers["Calendly-Webhook-Signature"] = f"t={t},v1={digest}"
            start = time.perf_counter()
            try:
                conn.request("POST", path, body=data, headers=headers)
                response = conn.getresponse()
                response.read()
                ok = 200 <= response.status < 300
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                ok = False
            with lock:
                latencies.append(time.perf_counter() - start)
                bad[0] += 0 if ok else 1
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    ordered = sorted(latencies)
    def percentile(p: float) -> float:
        return 1000 * ordered[max(0, int(p * len(ordered)) - 1)]
    return {"rps": total / elapsed, "p50_ms": 1000 * statistics.median(ordered), "p95_ms": percentile(0.95),
            "p99_ms": percentile(0.99), "non_2xx": bad[0]}


def wait_listening(port: int, path: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on {port}")


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))) / 1024


def start_hub(root: Path, port: int, command: str | None = None) -> subprocess.Popen[bytes]:
    write_config(root, {"paris": {
        "plugins": ["calendly"], "programmes": {"atelier": {"label": "Atelier"}},
        "calendly": {"token": {"env": "BENCH_CALENDLY_TOKEN"}, "api_url": "http://127.0.0.1:9",
                     "webhook_signing_key": {"env": "BENCH_SIGNING_KEY"}, "poll_interval": "1h",
                     "no_show_interval": "1h", "subscription_check_interval": "1h"}}},
        {"webhooks": {"listen": f"127.0.0.1:{port}"}})
    env = {**os.environ, "HUB_CONFIG": str(root), "BENCH_CALENDLY_TOKEN": "not-a-token", "BENCH_SIGNING_KEY": KEY}
    hub = command or Path(sys.executable).with_name("hub")
    log = open(root / "hub.log", "wb")  # noqa: SIM115 - the child keeps it; closed when the bench ends
    return subprocess.Popen([str(hub), "run"], env=env, stdout=subprocess.DEVNULL, stderr=log)


def start_node_red(binary: str, home: Path, port: int) -> subprocess.Popen[bytes]:
    flows = home / "flows.json"
    home.mkdir(parents=True, exist_ok=True)
    flows.write_text(json.dumps(NODE_RED_FLOW))
    return subprocess.Popen([binary, "-u", str(home), "-p", str(port), str(flows)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stored_events(root: Path) -> int:
    conn = sqlite3.connect(root / "var" / "hub.db")
    try:
        return int(conn.execute("SELECT COUNT(*) FROM events WHERE kind='session_booked'").fetchone()[0])
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--node-red", default=shutil.which("node-red"), help="node-red executable (optional)")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--compare", help="another `hub` executable (e.g. an older commit's venv) run alongside")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        hub_port, red_port, old_port = free_port(), free_port(), free_port()
        hub = start_hub(root / "hub", hub_port)
        red = start_node_red(args.node_red, root / "node-red", red_port) if args.node_red else None
        old = start_hub(root / "old", old_port, args.compare) if args.compare else None
        try:
            wait_listening(hub_port, "/healthz")
            if red is not None:
                wait_listening(red_port, "/")
            if old is not None:
                wait_listening(old_port, "/healthz")
            ok = {"hub": 0, "old": 0}
            for n in range(args.rounds):
                anchor = None
                if red is not None:
                    anchor = load(red_port, "/webhooks/bench", args.requests, args.clients, sign=False)
                    report(n, "Node-RED no-op", anchor, None)
                for name, port in (("hub", hub_port), ("old", old_port if old is not None else None)):
                    if port is None:
                        continue
                    result = load(port, "/webhooks/paris/calendly", args.requests, args.clients, sign=True)
                    ok[name] += args.requests - int(result["non_2xx"])
                    report(n, "hub, stored" if name == "hub" else "older hub, stored", result, anchor)
            print(f"hub: {ok['hub']} answered 2xx, {stored_events(root / 'hub')} bookings stored; "
                  f"RSS {rss_mb(hub.pid):.0f} MB" + (f"; Node-RED RSS {rss_mb(red.pid):.0f} MB" if red else "")
                  + (f"; older hub: {ok['old']} 2xx, {stored_events(root / 'old')} stored, RSS {rss_mb(old.pid):.0f} MB"
                     if old else ""))
        finally:
            for proc in (hub, red, old):
                if proc is not None:
                    proc.send_signal(signal.SIGTERM)
                    proc.wait(timeout=30)


def report(n: int, name: str, result: dict[str, float], anchor: dict[str, float] | None) -> None:
    ratio = f" (ratio {result['rps'] / anchor['rps']:.2f})" if anchor is not None and name != "Node-RED no-op" else ""
    print(f"round {n + 1} {name}: {result['rps']:,.0f} req/s{ratio}, p50 {result['p50_ms']:.1f} ms, "
          f"p95 {result['p95_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms, non-2xx {result['non_2xx']:.0f}")


if __name__ == "__main__":
    main()
