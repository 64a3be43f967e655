"""The retry policy of a storage server that stops answering (`trickstack.ablations.resilient`), on a fake
server and a fake clock: retried with backoff, one line as an outage starts and one as it ends, one
`StorageUnavailable` after the retry time, other errors at once, and retried writes whose lost attempt
landed counted once. The same against a real PostgreSQL server: tests/test_postgres_outage.py."""

from __future__ import annotations

import multiprocessing

import optuna
import pytest
from optuna.exceptions import StorageInternalError, UpdateFinishedTrialError
from optuna.trial import TrialState
from sqlalchemy.exc import OperationalError

from trickstack.ablations import resilient
from trickstack.ablations.resilient import Resilient, RetryPolicy, StorageUnavailable, retry_seconds
from trickstack.ablations.storage import GRACE_SECONDS, reap_dead_trials
from trickstack.core.errors import UserError

SHOWN = "postgresql://u:***@db:5432/s"
REFUSED = "connection failed: connection to server at \"db\" (10.0.0.1), port 5432 failed: Connection refused"


def refused() -> StorageInternalError:
    """What Optuna's RDBStorage raises while the server is down (its cause: SQLAlchemy's OperationalError)."""
    try:
        raise OperationalError("SELECT 1", {}, Exception(REFUSED + "\n\tIs the server running on that host?"))
    except OperationalError as cause:
        try:
            raise StorageInternalError("An exception is raised during the commit.") from cause
        except StorageInternalError as error:
            return error


class Heartless(optuna.storages.InMemoryStorage):
    """In-memory, with the heartbeat calls an RDB storage has (heartbeats off)."""

    def record_heartbeat(self, trial_id: int) -> None:
        pass

    def get_heartbeat_interval(self) -> None:
        return None


class Server:
    """An in-memory storage behind a fake server: ``down`` calls fail; a call in ``lost`` runs, then its
    answer is lost (the commit landed, the client sees the connection drop)."""

    def __init__(self, down: int = 0):
        self.storage = Heartless()
        self.down, self.lost, self.calls = down, set(), []

    def __getattr__(self, name):
        method = getattr(self.storage, name)

        def call(*args, **kwargs):
            self.calls.append(name)
            if self.down:
                self.down -= 1
                raise refused()
            result = method(*args, **kwargs)
            if name in self.lost:
                self.lost.discard(name)
                raise refused()
            return result

        return call


class Clock:
    def __init__(self):
        self.now, self.slept = 1000.0, []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


def resilient_on(server: Server, clock: Clock, lines: list, seconds: float = 300) -> Resilient:
    return Resilient(server, SHOWN, RetryPolicy(seconds=seconds, clock=lambda: clock.now, sleep=clock.sleep,
                                                say=lines.append))


def test_an_outage_is_retried_with_backoff_and_one_line_as_it_starts_and_ends(clock):
    lines: list[str] = []
    server = Server()
    storage = resilient_on(server, clock, lines)
    study_id = storage.create_new_study([optuna.study.StudyDirection.MINIMIZE], "s")
    server.down = 7
    assert storage.get_study_name_from_id(study_id) == "s"
    assert clock.slept == [0.5, 1, 2, 4, 8, 10, 10]  # doubled, at most LONGEST_WAIT
    assert lines == [f"storage {SHOWN}: unreachable (get_study_name_from_id: {REFUSED}); retrying for up to 300 s",
                     f"storage {SHOWN}: reachable again after 36 s"]
    lines.clear()
    assert storage.get_study_name_from_id(study_id) == "s" and lines == []  # no outage, no line


def test_past_the_retry_time_one_storage_unavailable_names_the_storage(clock):
    lines: list[str] = []
    storage = resilient_on(Server(down=10**6), clock, lines, seconds=60)
    with pytest.raises(StorageUnavailable) as raised:
        storage.get_all_studies()
    assert isinstance(raised.value, UserError)  # the CLI prints it as one error line, exit 2
    message = str(raised.value)
    assert message.startswith(f"storage {SHOWN}: unreachable for 60 s ({REFUSED}); gave up")
    assert "--storage-retry" in message and resilient.RETRY_ENV in message
    assert sum(clock.slept) == 60 and len(lines) == 1  # the start line only: it never came back


def test_zero_retry_time_gives_up_at_once_without_an_outage_line(clock):
    lines: list[str] = []
    with pytest.raises(StorageUnavailable):
        resilient_on(Server(down=1), clock, lines, seconds=0).get_all_studies()
    assert clock.slept == [] and lines == []


def test_other_errors_are_raised_at_once(clock):
    lines: list[str] = []
    server = Server()
    storage = resilient_on(server, clock, lines)
    with pytest.raises(KeyError):
        storage.get_study_id_from_name("absent")
    study_id = storage.create_new_study([optuna.study.StudyDirection.MINIMIZE], "s")
    trial_id = storage.create_new_trial(study_id)
    storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [1.0])
    with pytest.raises(UpdateFinishedTrialError):  # not a lost answer: it was finished before this call
        storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [1.0])
    assert clock.slept == [] and lines == []


def test_a_retried_finish_whose_commit_landed_finishes_the_trial_once(clock):
    server = Server()
    storage = resilient_on(server, clock, [])
    study = optuna.create_study(storage=storage, study_name="s")
    trial = study.ask()
    server.lost.add("set_trial_state_values")
    assert study.tell(trial, 2.0).state == TrialState.COMPLETE  # no UpdateFinishedTrialError from the retry
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] and study.trials[0].value == 2.0
    other = study.ask()
    study.tell(other, 3.0)
    server.lost.add("set_trial_state_values")
    with pytest.raises(UpdateFinishedTrialError):  # a landed finish that differs from the one asked is no success
        storage.set_trial_state_values(other._trial_id, TrialState.FAIL)


def test_a_retried_enqueue_whose_commit_landed_queues_the_trial_once(clock):
    server = Server()
    storage = resilient_on(server, clock, [])
    study = optuna.create_study(storage=storage, study_name="s")
    server.lost.add("create_new_trial")
    study.enqueue_trial({"seed": 1}, user_attrs={"job": "eval/baseline/1"})
    study.enqueue_trial({"seed": 2}, user_attrs={"job": "eval/baseline/2"})  # not lost: a new trial
    waiting = study.get_trials(states=(TrialState.WAITING,))
    assert [t.user_attrs["job"] for t in waiting] == ["eval/baseline/1", "eval/baseline/2"]
    assert server.calls.count("create_new_trial") == 2  # the lost one (found on retry), then the second


def test_reaping_by_stale_heartbeat_waits_out_the_grace_period_after_an_outage(clock, monkeypatch):
    reaped = []
    monkeypatch.setattr(optuna.storages, "fail_stale_trials", reaped.append)
    server = Server()
    storage = resilient_on(server, clock, [])
    study = optuna.create_study(storage=storage, study_name="s")
    assert storage.quiet_seconds() == float("inf")
    reap_dead_trials(study, storage)
    server.down = 1
    with pytest.raises(StorageInternalError):
        storage.record_heartbeat(0)  # a heartbeat is sent once (its thread goes on), but the trouble is seen
    assert clock.slept == []
    reap_dead_trials(study, storage)  # a live trial may not have beaten since the server came back
    clock.now += GRACE_SECONDS + 1
    reap_dead_trials(study, storage)
    assert reaped == [study, study]


@pytest.mark.parametrize("value", ["soon", "-1", "nan", "inf"])
def test_a_bad_retry_time_is_one_message(monkeypatch, value):
    monkeypatch.setenv(resilient.RETRY_ENV, value)
    with pytest.raises(UserError, match=resilient.RETRY_ENV if value == "soon" else "retry time"):
        retry_seconds()
    monkeypatch.delenv(resilient.RETRY_ENV)
    assert retry_seconds() == resilient.DEFAULT_RETRY_SECONDS


@pytest.mark.parametrize("command", [["worker", "s"], ["ablate", "absent.toml"]])
def test_a_bad_retry_flag_exits_2_with_one_message(cli, command):
    code, out, err = cli(*command, "--storage-retry", "-1")
    assert code == 2 and "Traceback" not in err and " ".join(err.split()).count("error:") == 1, err
    assert "storage retry time -1" in err


def test_the_help_names_the_variable_and_default():
    from trickstack.cli.help import STORAGE_RETRY_HELP

    assert f"${resilient.RETRY_ENV}, else {resilient.DEFAULT_RETRY_SECONDS:g}" in STORAGE_RETRY_HELP


def test_a_local_worker_that_gives_up_exits_2_quietly_and_its_coordinator_says_why_once(tmp_path, monkeypatch, capsys):
    from trickstack.ablations import engine, worker
    from trickstack.ablations.spec import StudySpec

    def gone(*args, **kwargs):
        raise resilient.unavailable(SHOWN, 300)

    monkeypatch.setattr(worker, "work", gone)
    with pytest.raises(SystemExit) as exited:
        worker.worker_main("s", "postgresql://u:pw@db:5432/s", 2, 1)
    assert exited.value.code == resilient.GAVE_UP_EXIT and capsys.readouterr().err == ""

    class GaveUp:  # a local worker process that exited as worker_main does above
        exitcode, sentinel = resilient.GAVE_UP_EXIT, None

        def __init__(self, target, args, kwargs=None):
            pass

        def start(self):
            pass

        def join(self):
            pass

        def is_alive(self):
            return False

    monkeypatch.setattr(engine, "worker_context",
                        lambda: type("Context", (), {"Process": GaveUp, "SimpleQueue": multiprocessing.SimpleQueue})())
    monkeypatch.setattr(engine, "start_worker_server", lambda *args: None)
    spec = StudySpec.from_toml_text('[study]\nname = "s"\nworkload = "synthetic"\nbudget = { flops = 1e9 }\n'
                                    'seeds = 1\ndesign = "one-at-a-time"\ntricks = ["ema"]\n'
                                    '[synthetic]\neffects = { ema = 0.02 }\n', source="s.toml")
    url = f"journal://{tmp_path}/s.log"
    with pytest.raises(StorageUnavailable, match=f"storage {url}: unreachable for 7 s; gave up"):
        engine.ablate(spec, url, workers=2, storage_retry=7)
