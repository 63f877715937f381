"""One worker thread per lane (branch, plugin), so that a service that hangs delays only its own lane.

Python cannot interrupt a thread blocked in a network read, so a deadline here means: the daemon stops
waiting for that lane (other lanes go on, a stop request is honoured at once), records that the service did
not answer in time, and gives the lane new work only once its current step returns. A lane never runs two
steps at once, so a delivery never runs concurrently with itself. Worker threads are daemon threads: when the
process stops, a lane still blocked on a silent service is dropped, and what it had not committed is redone
on the next start (every step is a transaction; deliveries repeat under the same idempotency key).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from hub.app import CycleReport, Hub, Lane

log = logging.getLogger("hub.lanes")
Step = Callable[[Lane, CycleReport, Callable[[], bool]], None]


@dataclass
class _Job:
    step: Step
    report: CycleReport = field(default_factory=CycleReport)
    done: threading.Event = field(default_factory=threading.Event)


class LaneWorker:
    def __init__(self, hub: Hub, lane: Lane, stopping: threading.Event) -> None:
        self.hub = hub
        self.lane = lane
        self.stopping = stopping
        self.jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self.busy_since: float | None = None
        self.current: _Job | None = None
        self.overdue_reported = False
        self.activity = ""
        self.thread = threading.Thread(target=self._run, name=f"lane-{lane[0]}-{lane[1]}", daemon=True)

    @property
    def busy(self) -> bool:
        return self.current is not None

    def submit(self, step: Step) -> _Job:
        job = _Job(step)
        self.current = job
        self.busy_since = time.monotonic()
        self.overdue_reported = False
        self.jobs.put(job)
        return job

    def _run(self) -> None:
        while True:
            job = self.jobs.get()
            if job is None:
                return
            try:
                job.step(self.lane, job.report, self.stopping.is_set)
            except Exception as exc:  # a lane's failure is recorded and never ends the worker
                log.error("lane step failed", exc_info=True,
                          extra={"branch": self.lane[0], "plugin": self.lane[1]})
                job.report.errors.append(f"{self.lane[0]}/{self.lane[1]}: {type(exc).__name__}")
            finally:
                self.busy_since = None
                self.current = None
                job.done.set()


class Lanes:
    """The workers of every lane; `run_step` gives each idle lane one step and waits up to a deadline."""

    def __init__(self, hub: Hub, stopping: threading.Event, deadline: float) -> None:
        self.hub = hub
        self.stopping = stopping
        self.deadline = deadline
        self.workers = {lane: LaneWorker(hub, lane, stopping) for lane in hub.lanes()}
        for worker in self.workers.values():
            worker.thread.start()

    def submit_idle(self, step: Step) -> list[_Job]:
        """Give one step to every lane that is not busy; returns the jobs."""
        return [w.submit(step) for w in self.workers.values() if not w.busy]

    def run_step(self, step: Step) -> CycleReport:
        """One step on every idle lane, waiting for all of them, but no longer than the deadline (or a stop)."""
        jobs = {w.lane: w.submit(step) for w in self.workers.values() if not w.busy}
        stuck = {lane for lane, w in self.workers.items() if w.busy and lane not in jobs}
        end = time.monotonic() + self.deadline
        report = CycleReport()
        for lane, job in jobs.items():
            while not job.done.wait(0.1):
                if self.stopping.is_set() or time.monotonic() >= end:
                    break
            if job.done.is_set():
                report.merge(job.report)
            else:
                stuck.add(lane)
        for lane in sorted(stuck):
            worker = self.workers[lane]
            if not worker.overdue_reported:
                worker.overdue_reported = True
                report.errors.append(self.overdue(worker))
        return report

    def watch(self) -> None:
        """Report once each step that has run past the deadline (the daemon calls this every tick)."""
        now = time.monotonic()
        for worker in self.workers.values():
            since = worker.busy_since
            if since is not None and now - since > self.deadline and not worker.overdue_reported:
                worker.overdue_reported = True
                self.overdue(worker)

    def overdue(self, worker: LaneWorker) -> str:
        branch, plugin = worker.lane
        waited = time.monotonic() - (worker.busy_since or time.monotonic())
        message = (f"no answer from {plugin} for branch {branch} after {waited:.0f} s; other branches and plugins "
                   "go on, and this one gets new work once the service answers or times out")
        log.error("service not answering", extra={"branch": branch, "plugin": plugin, "waited_s": round(waited),
                                                  "fix": f"hub doctor --branch {branch}"})
        contributions = self.hub.lane_contributions(worker.lane)
        for poller in contributions.sources if contributions is not None else []:
            if poller.name == worker.activity:
                self.hub.store.source_failed(branch, plugin, poller.name,
                                             f"no answer after {waited:.0f} s", self.hub.clock())
        return f"{branch}/{plugin}: {message}"

    def stop(self, grace: float) -> list[Lane]:
        """Ask every worker to end after its current step; wait up to `grace` seconds; return the lanes
        still blocked (their threads are dropped with the process)."""
        self.stopping.set()
        for worker in self.workers.values():
            worker.jobs.put(None)
        end = time.monotonic() + grace
        for worker in self.workers.values():
            worker.thread.join(max(0.0, end - time.monotonic()))
        return [lane for lane, w in self.workers.items() if w.thread.is_alive()]

    def busy_lanes(self) -> Iterable[Lane]:
        return [lane for lane, w in self.workers.items() if w.busy]


def call_with_deadline(fn: Callable[[], str], seconds: float) -> tuple[bool, str]:
    """Run `fn` in a worker thread; (True, its message), (False, why it failed), or (False, "no answer...")
    once `seconds` have passed (the thread is left behind, and ends with the process)."""
    outcome: list[tuple[bool, str]] = []

    def target() -> None:
        try:
            outcome.append((True, fn()))
        except Exception as exc:
            from hub.logs import redact
            outcome.append((False, redact(str(exc)) or type(exc).__name__))

    thread = threading.Thread(target=target, name="deadline", daemon=True)
    thread.start()
    thread.join(seconds)
    if outcome:
        return outcome[0]
    return False, f"no answer within {seconds:.0f} s (the service accepts connections but does not reply)"
