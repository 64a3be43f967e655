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

.PHONY: demo test clean

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

clean:
	rm -rf $(VENV) runs build *.egg-info trickstack.db trickstack.journal
