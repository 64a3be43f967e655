"""The plan's time estimate (`trickstack.ablations.estimate`): a run timed as the study's workers will train it."""

from __future__ import annotations

import torch

from trickstack.ablations import estimate
from trickstack.ablations.processes import worker_threads
from trickstack.ablations.spec import StudySpec

SPEC = ('[study]\nname = "e"\nworkload = "digits"\nbudget = { flops = 1e8 }\nseeds = 2\n'
        'design = "one-at-a-time"\ntricks = ["ema"]\n')


def test_a_run_is_timed_with_the_threads_and_device_of_one_worker(monkeypatch):
    spec = StudySpec.from_toml_text(SPEC, source="e.toml")
    seen = []
    real = estimate.run_trial

    def timed(*args, **kwargs):
        seen.append((torch.get_num_threads(), kwargs["device"], kwargs["deterministic"]))
        return real(*args, **kwargs)

    monkeypatch.setattr(estimate, "run_trial", timed)
    before = torch.get_num_threads()
    assert estimate.seconds_per_run(spec) > 0
    assert seen == [(before, "cpu", True)] * 2  # one worker: this process's threads
    seen.clear()
    assert estimate.seconds_per_run(spec, workers=64, deterministic=False) > 0
    assert seen == [(worker_threads(64), "cpu", False)] * 2 and worker_threads(64) == 1
    assert torch.get_num_threads() == before  # restored
