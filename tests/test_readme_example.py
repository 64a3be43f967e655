"""The README's "Use from Python" example runs as written (in a scratch folder, with the repository's files)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_use_from_python_example_runs(tmp_path):
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Use from Python"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    shutil.copytree(ROOT / "ablations", tmp_path / "ablations", ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "# Report of study `plan-example`" in result.stdout and "mnist1d/2019" in result.stdout
    assert (tmp_path / "readme-example.db").exists()
