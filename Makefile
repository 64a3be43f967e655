# Two commands: `make demo` runs the main job end to end, `make test` runs the tests.
# Both create the virtual environment in .venv when it is missing. `make test` also installs the example
# workload plugin (examples/tabular_workload) and runs its tests, a tiny study and its report, so the
# plugin path stays working.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

PLUGIN := examples/tabular_workload
PLUGIN_STAMP := $(VENV)/.plugin-installed-stamp

# The second environment CI tests in: trickstack over the newest torch on PyPI, Composer's torch pin lifted by
# uv's overrides (overrides-newer-torch.txt), running the tests named in tests/newest_torch.txt.
NEWEST := .venv-newest-torch
# The newest torch on PyPI on 2026-12-05 (PyPI's Linux wheel is a CUDA build; it runs on the CPU), and the newest
# torchvision then (built for torch 2.14: there is none for 2.15 yet).
NEWEST_TORCH := 2.15.0
NEWEST_TORCHVISION := 0.29.2
NEWEST_STAMP := $(NEWEST)/.installed-stamp

.PHONY: demo test test-newest-torch clean

$(STAMP): pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# One trial and its record, then a small study end to end on the embedded default storage
# (sqlite:///trickstack.db here), then the yearly leaderboards of the shipped recipes as a static
# site in runs/site. Running it again continues the study without recomputing it.
demo: $(STAMP)
	$(BIN)/trickstack run --workload mnist1d --tricks label_smoothing,ema --seed 0 --out runs/demo
	$(BIN)/trickstack ablate ablations/mnist1d-demo.toml
	$(BIN)/trickstack export mnist1d-demo --format csv --out runs/mnist1d-demo.csv --force
	$(BIN)/trickstack report mnist1d-demo
	$(BIN)/trickstack report mnist1d-demo --format html --out runs --force
	$(BIN)/trickstack recipe check
	$(BIN)/trickstack leaderboard --out runs/site --force

$(PLUGIN_STAMP): $(STAMP) $(PLUGIN)/pyproject.toml
	$(BIN)/python -m pip install --quiet -e $(PLUGIN)
	touch $(PLUGIN_STAMP)

test: $(STAMP) $(PLUGIN_STAMP)
	$(BIN)/python -m pytest -q
	cd $(PLUGIN) && $(abspath $(BIN))/python -m pytest -q -p no:cacheprovider

$(NEWEST_STAMP): $(STAMP) overrides-newer-torch.txt
	$(BIN)/uv venv --quiet --allow-existing --python $(PYTHON) $(NEWEST)
	$(BIN)/uv pip install --quiet --python $(NEWEST)/bin/python --overrides overrides-newer-torch.txt \
		-e '.[test]' torch==$(NEWEST_TORCH) torchvision==$(NEWEST_TORCHVISION)
	touch $(NEWEST_STAMP)

# Says when PyPI has a newer torch than the one tested (then raise NEWEST_TORCH), and runs the named subset.
test-newest-torch: $(NEWEST_STAMP)
	@echo torch | $(BIN)/uv pip compile --quiet --no-header --no-annotate --no-deps --python $(NEWEST)/bin/python - \
		| sed 's/^/newest on PyPI now: /; s/$$/ (tested: torch==$(NEWEST_TORCH))/' || true
	$(NEWEST)/bin/python -c 'import torch, torchvision, composer; print("torch", torch.__version__, "torchvision", torchvision.__version__, "composer", composer.__version__)'
	$(NEWEST)/bin/python -m pytest -q -p no:cacheprovider $$(grep -v '^#' tests/newest_torch.txt)

clean:
	rm -rf $(VENV) $(NEWEST) runs build *.egg-info trickstack.db trickstack.journal
