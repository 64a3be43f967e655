"""The typed study state (`trickstack.ablations.state`): versioned, and readable by optuna's own tools."""

from __future__ import annotations

import optuna
import pytest

from trickstack.ablations import state
from trickstack.ablations.state import SCHEMA_KEY, SCHEMA_VERSION, JobTrial, StudyState
from trickstack.core.errors import UserError


def test_a_study_written_before_versioning_is_read_and_a_newer_one_refused():
    study = optuna.create_study(study_name="old")
    study.set_user_attr("spec", {"study": {"design": "factorial", "seeds": 3}})  # no schema key: the v1 layout
    assert StudyState(study).study_section["seeds"] == 3
    StudyState(study).start({"study": {}}, ["ema"])
    assert study.user_attrs[SCHEMA_KEY] == SCHEMA_VERSION
    study.set_user_attr(SCHEMA_KEY, SCHEMA_VERSION + 1)
    with pytest.raises(UserError, match=r"study 'old' was written by a newer trickstack .* upgrade trickstack"):
        StudyState(study)


def test_job_trials_carry_each_trick_as_a_boolean_parameter_and_old_ones_still_resume():
    study = optuna.create_study(study_name="jobs")
    order = ["ema", "mixup"]
    study.enqueue_trial(state.job_params(frozenset({"mixup"}), 3, order),
                        user_attrs=state.job_attrs("eval/mixup/3", "eval", frozenset({"mixup"}), {}, {}, 0))
    study.enqueue_trial({"arm_mask": 1, "seed": 4},  # queued by a trickstack before the per-trick parameters
                        user_attrs=state.job_attrs("eval/ema/4", "eval", frozenset({"ema"}), {}, {}, 0))
    new, old = study.ask(), study.ask()
    state.suggest_job_params(new, order)
    state.suggest_job_params(old, order)
    assert new.params == {"arm_mask": 2, "seed": 3, "use.ema": False, "use.mixup": True}
    assert old.params == {"arm_mask": 1, "seed": 4}  # nothing sampled in place of what the queue did not fix
    assert (JobTrial(new).arm_set, JobTrial(new).seed) == (frozenset({"mixup"}), 3)
    assert (JobTrial(old).arm_set, JobTrial(old).seed) == (frozenset({"ema"}), 4)
