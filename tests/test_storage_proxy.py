"""The gRPC storage proxy (`trickstack storage proxy`, ``--storage grpc://HOST:PORT``) and the fleet
benchmark's code path (two workers, not timed)."""

from __future__ import annotations

import builtins
import re
import subprocess
import sys

import optuna
import pytest
from test_engine_workers import assert_each_job_complete_once, postgres_url, trickstack_command  # noqa: F401
from test_hostile_input import one_error as one_error_of

from trickstack.ablations import engine, proxy
from trickstack.ablations.jobs import enqueue
from trickstack.ablations.spec import StudySpec
from trickstack.ablations.storage import open_storage
from trickstack.benchmarks import fleet


def one_error(code: int, out: str, err: str) -> str:
    return one_error_of(code, err)


SPEC = ('[study]\nname = "{name}"\nworkload = "synthetic"\nbudget = {{ flops = 1e9 }}\nseeds = 3\n'
        'design = "one-at-a-time"\ntricks = ["ema", "mixup"]\n[synthetic]\neffects = {{ ema = 0.02 }}\nseed_noise = 0.01\n')


@pytest.fixture
def proxy_url(tmp_path):
    """A proxy on a free loopback port in front of a SQLite file."""
    server = subprocess.Popen([*trickstack_command(), "storage", "proxy", "--storage", f"sqlite:///{tmp_path}/s.db",
                               "--port", "0"], stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    try:
        first = server.stderr.readline()
        found = re.search(r"grpc://127\.0\.0\.1:\d+", first)
        assert found, first + server.stderr.read()
        yield found.group(0)
    finally:
        server.terminate()
        server.wait(timeout=60)


def test_a_study_runs_through_the_proxy_and_every_command_reads_it(tmp_path, cli, proxy_url):
    spec = tmp_path / "p.toml"
    spec.write_text(SPEC.format(name="proxied"))
    code, _, err = cli("ablate", str(spec), "--storage", proxy_url)
    assert code == 0, err
    code, out, err = cli("export", "proxied", "--storage", proxy_url, "--format", "csv")
    assert code == 0, err
    assert len(out.strip().splitlines()) == 1 + 3 * 3  # a header, then 3 arms x 3 seeds: each (arm, seed) once
    code, out, err = cli("status", "proxied", "--storage", proxy_url, "--json")
    assert code == 0 and '"finished": true' in out.replace(" ", "").replace('":true', '": true'), (out, err)


def test_a_worker_process_joins_through_the_proxy(tmp_path, proxy_url):
    spec = StudySpec.from_toml_text(SPEC.format(name="joined"), source="joined.toml")
    ctx = engine.open_study(spec, proxy_url, workers=1)
    _, evaluation = engine.jobs_for(ctx, engine.plan_arms(spec)[0])
    jobs = evaluation()
    for job in jobs:
        enqueue(ctx.study, job, ctx.order)
    done = subprocess.run([*trickstack_command(), "worker", "joined", "--storage", proxy_url], capture_output=True, text=True)
    assert done.returncode == 0 and f"worker ran {len(jobs)} trial(s)" in done.stderr, done.stderr
    study = optuna.load_study(study_name="joined", storage=open_storage(proxy_url))
    assert_each_job_complete_once(study, {job.key for job in jobs})


def test_no_proxy_at_the_address_is_one_message(cli, monkeypatch):
    monkeypatch.setattr(proxy, "CONNECT_SECONDS", 0.5)
    message = one_error(*cli("status", "x", "--storage", "grpc://127.0.0.1:1"))
    assert "no proxy answers" in message and "trickstack storage proxy" in message


@pytest.mark.parametrize("url", ["grpc://127.0.0.1", "grpc://:13000", "grpc://h:13000/db"])
def test_a_proxy_url_without_host_and_port_is_one_message(cli, url):
    assert "grpc://HOST:PORT" in one_error(*cli("status", "x", "--storage", url))


def test_without_grpcio_the_message_names_the_extra(tmp_path, cli, monkeypatch):
    real = builtins.__import__

    def no_grpc(name, *args, **kwargs):
        if name == "grpc" or name.startswith("grpc."):
            raise ImportError(f"No module named {name!r}")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_grpc)
    monkeypatch.delitem(sys.modules, "grpc", raising=False)
    for args in (["status", "x", "--storage", "grpc://127.0.0.1:13000"],
                 ["storage", "proxy", "--storage", f"sqlite:///{tmp_path}/s.db", "--port", "0"]):
        message = one_error(*cli(*args))
        assert "pip install 'trickstack[grpc]'" in message


def test_the_fleet_benchmark_runs_two_workers_on_postgresql_and_the_proxy(postgres_url, capsys):  # noqa: F811
    results = fleet.main(["--storage", postgres_url, "--workers", "2", "--rounds", "1"])
    assert [(r.storage, r.workers, r.jobs) for r in results] == [("postgresql", 2, 4), ("proxy", 2, 4)]
    assert all(r.exactly_once for r in results)
    assert all(r.connections >= 1 for r in results)
    printed = capsys.readouterr().out
    assert printed.count("exactly once: yes") == 2 and "trials/s" in printed and "p99" in printed
    assert all(r.poll == fleet.MIN_POLL for r in results) and "poll 0.10 s" in printed


def test_the_fleet_looks_at_the_queue_at_a_fixed_rate_in_all():
    assert fleet.poll_seconds(8, 80) == fleet.MIN_POLL == 0.1  # eight workers at the floor: 80 looks a second
    assert fleet.poll_seconds(64, 80) == pytest.approx(0.8)  # 64 workers: each looks every 0.8 s, 80 a second
    assert fleet.poll_seconds(2, 80) == fleet.MIN_POLL  # never more often than the floor
