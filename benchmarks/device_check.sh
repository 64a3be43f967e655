#!/usr/bin/env bash
# The device check, as ONE command on a bare GPU machine (Python and torch with CUDA, no Composer, no network),
# run from the repository root with the wheels of `python benchmarks/device_wheels.py` in device-wheels/:
#
#   bash benchmarks/device_check.sh            # gpu_check on the GPU, cifar10's shapes, synthetic data (timing only)
#
# It installs the wheels with `pip install --no-deps --no-index` into a temporary folder put on PYTHONPATH over
# the machine's own torch (whichever environment holds it), then runs `python -m trickstack.benchmarks.gpu_check`
# from outside the checkout (so the installed wheel is what runs) and prints its output. Arguments replace the
# default ones (`--device cuda --data synthetic`); the test suite runs `--device cpu --tiny --data synthetic`.
# PYTHON (default python3) is the machine's Python with torch, DEVICE_WHEELS (default device-wheels) the folder.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
WHEELS=$(realpath "${DEVICE_WHEELS:-device-wheels}")
[ "$#" -gt 0 ] || set -- --device cuda --data synthetic
ls "$WHEELS"/trickstack-*.whl >/dev/null 2>&1 || {
    echo "device_check: no trickstack wheel in $WHEELS: run python benchmarks/device_wheels.py first" >&2; exit 2; }

SITE=$(mktemp -d)
trap 'rm -rf "$SITE"' EXIT
"$PYTHON" -c 'import sys, torch; print(f"machine: Python {sys.version.split()[0]}, torch {torch.__version__},",
              f"CUDA {torch.version.cuda}, {torch.cuda.device_count()} GPU(s)")'
"$PYTHON" -m pip install --quiet --disable-pip-version-check --no-deps --no-index --target "$SITE/lib" "$WHEELS"/*.whl
mkdir "$SITE/run"
cd "$SITE/run"
PYTHONPATH="$SITE/lib" "$PYTHON" -m trickstack.benchmarks.gpu_check "$@"
