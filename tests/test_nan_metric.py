"""A workload whose eval metric is NaN although training went well is broken, not a result: `run` exits 2 with one
message, `ablate` stops the study at its first job (no retries) and `export` and `report` say so. A run whose loss
diverges stays a result (``diverged=True``), counted against its arm: tests/test_runner.py checks that it is not
raised."""

from __future__ import annotations

import textwrap

import optuna
import pytest
from test_hostile_input import one_error

from trickstack.ablations.engine import ablate
from trickstack.ablations.spec import StudySpec
from trickstack.ablations.state import StudyState
from trickstack.core.budget import Budget
from trickstack.core.errors import MetricNotFinite, UserError
from trickstack.trial.runner import run_trial

REF = "workload_factories:nan_metric"
SAYS = r"workload mnist1d_nan_metric: its eval metric nan \(NanMetric\) is nan after the baseline trained with seed 0 " \
       r"without diverging"


@pytest.fixture
def budget(step_flops):
    return Budget("flops", 3 * step_flops)


def test_run_trial_raises_on_a_metric_that_is_not_finite(budget):
    with pytest.raises(MetricNotFinite, match=SAYS):
        run_trial(REF, [], seed=0, budget=budget)


def test_the_run_command_exits_2_with_one_message(cli, budget):
    code, out, err = cli("run", "--workload", REF, "--budget", f"{budget.value:g}", "--device", "cpu")
    assert "is nan after the baseline trained with seed 0 without diverging" in one_error(code, err)
    assert "eval_value" not in out


def test_ablate_stops_the_study_at_the_first_job_and_export_and_report_say_why(tmp_path, cli, budget):
    spec = StudySpec.from_toml_text(textwrap.dedent(f'''
        [study]
        name = "nan"
        workload = "{REF}"
        budget = {{ flops = {budget.value} }}
        seeds = 2
        design = "one-at-a-time"
        tricks = ["label_smoothing"]
    '''), source=str(tmp_path / "nan.toml"))
    url = f"sqlite:///{tmp_path / 'nan.db'}"
    with pytest.raises(UserError, match=r"study 'nan' stopped: " + SAYS):
        ablate(spec, url)
    study = optuna.load_study(study_name="nan", storage=url)
    states = [t.state for t in study.trials]  # the first job failed; the others were never trained, none retried
    assert states.count(optuna.trial.TrialState.FAIL) == 1 and set(states[1:]) == {optuna.trial.TrialState.WAITING}
    assert "is nan" in StudyState(study).stopped
    for command in (("export", "nan", "--storage", url, "--format", "json"), ("report", "nan", "--storage", url)):
        code, out, err = cli(*command)
        assert "was stopped before any" in one_error(code, err) and "is nan after the baseline" in err, command
        assert out == ""

