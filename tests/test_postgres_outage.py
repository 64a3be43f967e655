"""A PostgreSQL server stopped and started under a running study (`trickstack.ablations.resilient`).

The test starts a private server of its own (``initdb`` into a temporary folder, ``pg_ctl`` on a free
port, as the ``postgres`` user when run as root), so it can stop and restart it freely without touching
any other cluster. It needs PostgreSQL's server binaries (Debian's ``postgresql`` package, which
``.ci/run`` installs): without them it skips saying so, except under CI=true, where it fails.

The study uses ``outage_workloads:gated`` (the synthetic workload, whose first run waits at a gate),
so that the server is down while a trial is in progress and when its result is stored.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from outage_workloads import GATE_ENV

from trickstack.ablations.storage import open_storage, shown_url

PASSWORD = "sekrit-pw"  # trust authentication ignores it; every message must still hide it
TIMEOUT = 180  # seconds to wait for another process: generous, the machine is shared
TESTS = Path(__file__).parent


def pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[-3]))
    found = found or [p for p in [shutil.which("pg_ctl")] if p]
    if not found:
        why = "PostgreSQL's server binaries (pg_ctl, initdb) are not installed (apt-get install postgresql)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{why}: .ci/run should have installed them")
        pytest.skip(f"{why}: the storage-outage test needs a server it can stop and start")
    return Path(found[-1]).parent


class Server:
    """A private PostgreSQL server in a temporary folder, on a free port of 127.0.0.1."""

    def __init__(self):
        self.bin = pg_bin()
        self.folder = Path(tempfile.mkdtemp(prefix="trickstack-pg-"))
        self.as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []  # initdb refuses root
        if self.as_owner:
            shutil.chown(self.folder, "postgres")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.data = self.folder / "data"
        self.url = f"postgresql://trickstack:{PASSWORD}@127.0.0.1:{self.port}/postgres"
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "trickstack", "--no-sync")
        self.start()

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run([*self.as_owner, str(self.bin / tool), *args], capture_output=True, text=True,
                              timeout=TIMEOUT)
        assert done.returncode == 0, f"{tool} {' '.join(args)}: {done.stdout}{done.stderr}"

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "log"), "-w", "start", "-o",
                  f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off")

    def stop(self) -> None:  # fast: the server drops its connections, as in a restart or failover
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        subprocess.run([*self.as_owner, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"],
                       capture_output=True, timeout=TIMEOUT)
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture(scope="module")
def server():
    made = Server()
    yield made
    made.remove()


def write_spec(folder: Path, name: str) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(f'[study]\nname = "{name}"\nworkload = "outage_workloads:gated"\nbudget = {{ flops = 1e9 }}\n'
                    f'seeds = 2\ndesign = "one-at-a-time"\ntricks = {json.dumps(["ema"])}\n'
                    '[synthetic]\neffects = { ema = 0.02 }\n')
    return path


def trickstack(*args: str, gate: Path, log: Path) -> subprocess.Popen:
    script = Path(sys.executable).with_name("trickstack")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "trickstack.cli"]
    env = {**os.environ, GATE_ENV: str(gate), "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(TESTS), *filter(None, [os.environ.get("PYTHONPATH")])])}
    with open(log, "w") as out:
        return subprocess.Popen([*command, *args], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env)


def wait_for(condition, what: str, *procs: subprocess.Popen) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        for proc in procs:
            assert proc.poll() is None, f"a process ended (code {proc.returncode}) while waiting for {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def ended(proc: subprocess.Popen, log: Path) -> tuple[int, str]:
    try:
        code = proc.wait(TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    return code, log.read_text()


def job_counts(study: optuna.Study) -> tuple[Counter, Counter]:
    """(COMPLETE trials per job key, trials per state)."""
    trials = study.get_trials(deepcopy=False)
    return (Counter(t.user_attrs["job"] for t in trials if t.state == TrialState.COMPLETE and "job" in t.user_attrs),
            Counter(t.state.name for t in trials))


def assert_outage_lines(output: str, url: str) -> None:
    assert "Traceback" not in output and PASSWORD not in output, output
    shown = shown_url(url)
    assert output.count(f"storage {shown}: unreachable (") == 1, output
    assert output.count(f"storage {shown}: reachable again after") == 1, output


def test_a_study_runs_through_a_postgresql_restart(server, tmp_path):
    gate = tmp_path / "gate"
    gate.mkdir()
    spec = write_spec(tmp_path, "restart")
    logs = tmp_path / "ablate.log", tmp_path / "worker.log"
    coordinator = trickstack("ablate", str(spec), "--storage", server.url, "--storage-retry", "120", gate=gate,
                             log=logs[0])
    wait_for((gate / "started").exists, "the first trial to start", coordinator)  # it holds that trial
    worker = trickstack("worker", "restart", "--storage", server.url, "--poll", "0.2", "--storage-retry", "120",
                        gate=gate, log=logs[1])
    study = optuna.load_study(study_name="restart", storage=open_storage(server.url))
    wait_for(lambda: sum(job_counts(study)[0].values()) == 3, "the worker to run the other three jobs", worker)
    server.stop()
    time.sleep(1.5)  # the polling worker meets the outage
    (gate / "go").touch()  # the held trial finishes while the server is down: its result waits to be stored
    time.sleep(1.5)
    server.start()
    for proc, log in zip((coordinator, worker), logs):
        code, output = ended(proc, log)
        assert code == 0, output
        assert_outage_lines(output, server.url)
    completes, states = job_counts(study)
    assert sorted(completes.values()) == [1, 1, 1, 1], completes  # each job stored once
    assert set(states) <= {"COMPLETE", "PRUNED"}, states  # none failed and requeued, none left RUNNING
    assert study.user_attrs["finished"] is True


def test_past_the_retry_time_ablate_exits_2_and_the_next_one_finishes(server, tmp_path, cli, monkeypatch):
    gate = tmp_path / "gate"
    gate.mkdir()
    spec = write_spec(tmp_path, "gives-up")
    log = tmp_path / "ablate.log"
    coordinator = trickstack("ablate", str(spec), "--storage", server.url, "--storage-retry", "2", gate=gate, log=log)
    wait_for((gate / "started").exists, "the first trial to start", coordinator)
    server.stop()
    (gate / "go").touch()
    try:
        code, output = ended(coordinator, log)
    finally:
        server.start()
    assert code == 2, output
    assert "Traceback" not in output and PASSWORD not in output, output
    assert output.count(f"storage {shown_url(server.url)}: unreachable (") == 1, output  # one outage, one line
    flat = " ".join(output.split())
    assert flat.count("error:") == 1 and f"error: storage {shown_url(server.url)}: unreachable for 2 s" in flat, output
    # The next ablate finds the trial left RUNNING (its process is gone), requeues it and finishes the study.
    monkeypatch.setenv(GATE_ENV, str(gate))
    code, out, err = cli("ablate", str(spec), "--storage", server.url)
    assert code == 0, err
    study = optuna.load_study(study_name="gives-up", storage=open_storage(server.url))
    completes, states = job_counts(study)
    assert sorted(completes.values()) == [1, 1, 1, 1] and states["RUNNING"] == states["WAITING"] == 0, (completes, states)
