import json

import jsonschema
import pytest

from trickstack.core.records import (
    SCHEMA_PATH,
    RunRecord,
    record_json_schema,
    save_record,
)
from trickstack.trial.runner import run_trial


@pytest.fixture(scope="module")
def record(small_budget):
    return run_trial("mnist1d", ["label_smoothing"], seed=0, budget=small_budget)


def test_committed_schema_matches_the_record_model():
    """Changing the record without regenerating its schema (and bumping the version) fails here."""
    assert json.loads(SCHEMA_PATH.read_text()) == json.loads(json.dumps(record_json_schema(), sort_keys=True))


def test_record_validates_against_the_schema_and_round_trips(record):
    data = json.loads(record.to_json())
    jsonschema.validate(data, json.loads(SCHEMA_PATH.read_text()))
    assert RunRecord.from_json(record.to_json()) == record
    assert data["schema_version"] == 2 and data["curve"]["points"]


def test_record_is_self_describing(record, small_budget):
    assert record.workload == "mnist1d" and record.seed == 0
    assert record.tricks[0].name == "label_smoothing" and record.tricks[0].params == {"smoothing": 0.1}
    assert record.nuisance == {"lr": 0.01, "weight_decay": 0.0}
    assert record.budget.unit == "flops" and record.budget.value == small_budget.value
    assert record.steps > 0 and record.samples == record.steps * 100
    assert 0 <= record.metrics.eval_value <= 1 and record.metrics.eval_metric == "accuracy"
    prov = record.provenance
    assert prov.composer == "0.32.1" and prov.torch.startswith("2.") and prov.torch_threads >= 1
    assert prov.cpu and prov.python and prov.optuna.startswith("5.")
    assert prov.git_commit is None or len(prov.git_commit) == 40


def test_record_names_the_distribution_that_provided_each_trick(record):
    from importlib.metadata import version

    assert record.tricks[0].distribution.model_dump() == {"name": "trickstack", "version": version("trickstack")}


def test_a_record_written_before_trick_distributions_is_still_valid(record):
    data = json.loads(record.to_json())
    for trick in data["tricks"]:
        del trick["distribution"]
    jsonschema.validate(data, json.loads(SCHEMA_PATH.read_text()))
    assert RunRecord.model_validate(data).tricks[0].distribution is None


def test_unknown_fields_are_rejected(record):
    data = json.loads(record.to_json())
    data["surprise"] = 1
    with pytest.raises(ValueError, match="surprise"):
        RunRecord.model_validate(data)


def test_saving_never_overwrites(record, tmp_path):
    first = save_record(record, tmp_path)
    second = save_record(record, tmp_path)
    assert first != second and first.read_text() == second.read_text()
    assert RunRecord.from_json(first.read_text()) == record


def test_a_run_from_a_checkout_records_its_commit():
    """Provenance names the commit of the checkout trickstack runs from (a wheel inside another repo: none)."""
    import subprocess
    from pathlib import Path

    import trickstack
    from trickstack.core.records import provenance

    root = Path(trickstack.__file__).resolve().parents[1]
    head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode != 0:
        pytest.skip(f"{root} is not a git checkout, so there is no commit to record")
    assert provenance().git_commit == head.stdout.strip()
