"""A fleet of workers on one database: N worker processes run a synthetic study (the runs cost nothing, so
what is measured is the queue and the storage) on PostgreSQL directly and through Optuna's gRPC proxy
(`trickstack storage proxy`), for N = 8, 32 and 64.

The coordinator's rounds are imitated: each round queues 2N jobs (two per worker) while the workers wait
(``--poll``), and the next round is queued when the last one is complete. The fleet's idle looks at the queue
are held at ``--looks-per-second`` in all (default 80: each worker looks every N / 80 s, at least every 0.1 s),
so that a larger fleet puts more connections on the database, not more queries: on a machine of 2 cores, 64
workers looking every 0.1 s (640 looks a second) spend both cores on looking and measure the machine, not
the storage (an earlier run of that kind did not finish in 13 minutes). Real workers look every ``--poll``
seconds (10 in the README's example): 64 of them make 6.4 looks a second. Printed per N and storage:
trials per second (jobs completed / seconds from the first queueing to the last completion); the 99th
percentile of the delay from queueing a job to a worker starting it; the database connections in use
(pg_stat_activity's connections from the workers' and the proxy's processes, matched by client port;
the most seen at once, sampled every 0.5 s); the workers' memory (unique set size each, the rest
is shared with the fork server); and whether every (arm, seed) completed exactly once.

Workers fork from one server that imported the worker module (as `ablate --workers N` starts them,
`trickstack.ablations.processes`): a worker started on its own imports torch and Composer, about
0.8 GB each, which 64 of would not fit in 24 GB; forked, they share those pages.

    python -m trickstack.benchmarks.fleet --storage postgresql://USER:PASS@HOST/DB [--workers 8 32 64]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Optional

import numpy as np
import optuna
import psutil
import sqlalchemy
from optuna.trial import TrialState

from trickstack.ablations import engine
from trickstack.ablations.jobs import EVAL, Job, enqueue
from trickstack.ablations.processes import start_worker_server, worker_context
from trickstack.ablations.spec import StudySpec
from trickstack.ablations.state import JobTrial, StudyState
from trickstack.ablations.storage import open_storage, shown_url
from trickstack.ablations.worker import work

MIN_POLL = 0.1  # the shortest wait between an idle worker's looks for a job: the floor of the queueing delay
LOOKS_PER_SECOND = 80.0  # the whole fleet's idle looks a second (8 workers at MIN_POLL)
SPEC = """
[study]
name = "{name}"
workload = "synthetic"
budget = {{ flops = 1e9 }}
seeds = {seeds}
design = "one-at-a-time"
tricks = ["ema"]
[synthetic]
effects = {{ ema = 0.01 }}
seed_noise = 0.01
"""


@dataclass
class Result:
    storage: str
    workers: int
    poll: float
    jobs: int
    trials_per_second: float
    p99_delay: float
    connections: int
    worker_uss_mb: float
    exactly_once: bool


def _worker(study: str, url: str, ready, poll: float) -> None:
    """A worker process: says it has started (``ready``: a semaphore), then runs jobs until the study is finished,
    looking for one every ``poll`` seconds while idle."""
    os.environ["OMP_NUM_THREADS"] = "1"
    ready.release()
    work(study, url, threads=1, poll_seconds=poll, outage_lines=False)


def poll_seconds(workers: int, looks_per_second: float) -> float:
    """Each worker's wait between looks, so that the fleet looks ``looks_per_second`` times a second in all
    (at least `MIN_POLL`)."""
    return max(MIN_POLL, workers / looks_per_second)


class ConnectionCounter(threading.Thread):
    """Samples the database's connections (pg_stat_activity) that come from the fleet's processes (matched
    by their client ports); ``peak`` is the most seen at once."""

    def __init__(self, database_url: str, pids: list[int]):
        super().__init__(daemon=True)
        self.engine = sqlalchemy.create_engine(database_url, poolclass=sqlalchemy.pool.NullPool)
        self.pids, self.peak, self.stop = pids, 0, threading.Event()

    def count(self) -> int:
        ports = set()
        for pid in list(self.pids):
            try:
                ports |= {c.laddr.port for c in psutil.Process(pid).net_connections(kind="tcp") if c.raddr}
            except psutil.Error:
                pass  # a worker that has ended
        with self.engine.connect() as connection:
            clients = connection.execute(sqlalchemy.text(
                "SELECT client_port FROM pg_stat_activity WHERE datname = current_database()")).scalars().all()
        return sum(port in ports for port in clients)

    def run(self) -> None:
        while not self.stop.wait(0.5):
            self.peak = max(self.peak, self.count())


def start_proxy(database_url: str) -> tuple[subprocess.Popen, str]:
    """`trickstack storage proxy` on a free loopback port; returns it and its grpc:// URL."""
    proxy = subprocess.Popen([sys.executable, "-m", "trickstack.cli", "storage", "proxy", "--storage", database_url,
                              "--host", "127.0.0.1", "--port", "0"], stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    line = proxy.stderr.readline()
    found = re.search(r"grpc://\S+:\d+", line)
    if not found:
        proxy.kill()
        raise SystemExit(f"the proxy did not start: {line}{proxy.stderr.read()}")
    threading.Thread(target=proxy.stderr.read, daemon=True).start()  # keep its pipe drained
    return proxy, found.group(0)


def run(database_url: str, workers: int, rounds: int, through_proxy: bool,
        looks_per_second: float = LOOKS_PER_SECOND) -> Result:
    name = f"fleet-{workers}-{uuid.uuid4().hex[:8]}"
    spec = StudySpec.from_toml_text(SPEC.format(name=name, seeds=workers * rounds), source=f"{name}.toml")
    proxy, url = start_proxy(database_url) if through_proxy else (None, database_url)
    ctx = engine.open_study(spec, url, workers=1)
    order, study = ctx.order, ctx.study
    jobs = [Job(EVAL, arm, seed) for seed in range(workers * rounds) for arm in engine.plan_arms(spec)[0]]
    per_round = len(jobs) // rounds
    ready = worker_context().Semaphore(0)
    poll = poll_seconds(workers, looks_per_second)
    procs = [worker_context().Process(target=_worker, args=(name, url, ready, poll)) for _ in range(workers)]
    for p in procs:
        p.start()
    counter = ConnectionCounter(database_url, [p.pid for p in procs] + ([proxy.pid] if proxy else []))
    counter.start()
    queued: dict[str, float] = {}
    try:
        for _ in procs:  # the delay measured is the queue's, not the workers' start-up
            if not ready.acquire(timeout=600):
                raise SystemExit("a worker did not start in 600 s")
        for r in range(rounds):
            batch = jobs[r * per_round:(r + 1) * per_round]
            for job in batch:
                queued[job.key] = time.time()
                enqueue(study, job, order)
            keys = {job.key for job in batch}
            while len(keys & set(done_keys(study))) < len(keys):
                time.sleep(0.05)
        uss = statistics.mean(psutil.Process(p.pid).memory_full_info().uss for p in procs if p.is_alive()) / 2**20
        StudyState(study).finish([])  # the workers see it at their next look and stop
        for p in procs:
            p.join(timeout=120)
        trials = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    finally:
        if "counter" in locals():
            counter.stop.set()
        for p in procs:
            if p.is_alive():
                p.kill()
        if proxy is not None:
            proxy.terminate()
            proxy.wait()
    delays = [t.datetime_start.timestamp() - queued[JobTrial(t).key] for t in trials]
    span = max(t.datetime_complete.timestamp() for t in trials) - min(queued.values())
    counts = Counter(JobTrial(t).key for t in trials)
    once = set(counts) == {job.key for job in jobs} and set(counts.values()) == {1}
    try:
        optuna.delete_study(study_name=name, storage=open_storage(database_url))
    except Exception:  # noqa: BLE001 -- a leftover study is harmless: its name is unique
        pass
    return Result("proxy" if through_proxy else "postgresql", workers, poll, len(jobs), len(trials) / span,
                  float(np.percentile(delays, 99)), counter.peak, uss, once)


def done_keys(study: optuna.Study) -> list[str]:
    return [JobTrial(t).key for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]


def line(r: Result) -> str:
    return (f"{r.storage:>10}  N={r.workers:<3} poll {r.poll:.2f} s  {r.jobs:>4} jobs  {r.trials_per_second:6.1f} trials/s  "
            f"p99 queue->start {r.p99_delay:6.2f} s  connections {r.connections:>3}  "
            f"worker USS {r.worker_uss_mb:5.0f} MB  exactly once: {'yes' if r.exactly_once else 'NO'}")


def main(argv: Optional[list[str]] = None) -> list[Result]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storage", default=os.environ.get("TRICKSTACK_TEST_POSTGRES"),
                        help="postgresql://USER:PASS@HOST:PORT/DB (default: $TRICKSTACK_TEST_POSTGRES)")
    parser.add_argument("--workers", type=int, nargs="+", default=[8, 32, 64], help="fleet sizes")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of queueing, each two jobs per worker")
    parser.add_argument("--no-proxy", action="store_true", help="PostgreSQL directly only")
    parser.add_argument("--looks-per-second", type=float, default=LOOKS_PER_SECOND,
                        help="the whole fleet's idle looks at the queue a second (each worker's poll: N / this, "
                             f"at least {MIN_POLL} s); raise it on a machine with more cores")
    args = parser.parse_args(argv)
    if not args.storage or not args.storage.startswith("postgresql"):
        parser.error("--storage: give a postgresql://... URL (or set TRICKSTACK_TEST_POSTGRES)")
    start_worker_server(2, [])  # before the fleets: every worker forks from it
    print(f"{os.cpu_count()} CPUs, {psutil.virtual_memory().total / 2**30:.0f} GiB; database {shown_url(args.storage)}",
          flush=True)
    results = []
    for n in args.workers:
        for through_proxy in (False,) if args.no_proxy else (False, True):
            results.append(run(args.storage, n, args.rounds, through_proxy, args.looks_per_second))
            print(line(results[-1]), flush=True)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    return results


if __name__ == "__main__":
    main()
