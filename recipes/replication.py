"""A recipe's fresh-seed replications as files: ``<recipes>/W/Y.replications/<date>-<hardware>.toml``, the
manifest, beside ``<date>-<hardware>.runs.jsonl``, its run records (`trickstack replicate` writes both).

The manifest names the recipe, the budget, the seeds, the hardware, the date and commit, and seals its runs
with their SHA-256, so an edited runs file is refused. Loading is strict: unknown keys, a seal of another
length, fewer seeds than the leaderboard's minimum are errors naming the file and key.

>>> import tempfile
>>> folder = Path(tempfile.mkdtemp()) / "mnist1d"
>>> runs, manifest = replication_paths(folder / "2019.toml", dt.date(2026, 12, 5), "AMD EPYC 7B13, 1 torch thread")
>>> runs.relative_to(folder).as_posix(), manifest.name
('2019.replications/2026-12-05-AMD-EPYC-7B13-1-torch-thread.runs.jsonl', '2026-12-05-AMD-EPYC-7B13-1-torch-thread.toml')
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from pathlib import Path
from typing import Optional, Union

import tomlkit
from pydantic import Field

from trickstack.core.datafiles import OneLine, Strict, parse_toml, read_text, validate
from trickstack.core.errors import UserError
from trickstack.core.outputs import write_file
from trickstack.core.records import BudgetRecord
from trickstack.stats import rules

FOLDER = "{year}.replications"  # beside the recipe file, one per recipe


class Replication(Strict):
    """The ``[replication]`` table of a manifest."""

    recipe: OneLine = Field(description='the recipe replicated, by its one name ("mnist1d/2019")')
    date: dt.date
    commit: Optional[str] = Field(None, description="commit of the trickstack checkout that ran it; absent from a wheel")
    hardware: OneLine = Field(description="the class of hardware its runs trained on (Provenance.hardware_class)")
    budget: BudgetRecord
    seeds: list[int] = Field(min_length=rules.LEADERBOARD_MIN_SEEDS, description="the fresh paired seeds")
    evidence: OneLine = Field(description="the run records, a file beside this one")
    evidence_sha256: Optional[str] = Field(None, pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the runs file")


def replication_paths(recipe_path: Path, date: dt.date, hardware: str, number: int = 1) -> tuple[Path, Path]:
    """The runs file and the manifest of a replication of the recipe at ``recipe_path``; ``number`` > 1: the
    day's ``number``-th replication on that hardware (``<date>-<hardware>-<number>``)."""
    slug = re.sub(r"[^A-Za-z0-9._]+", "-", hardware).strip("-.") or "unknown"
    folder = recipe_path.parent / FOLDER.format(year=recipe_path.stem)
    stem = f"{date.isoformat()}-{slug}" + (f"-{number}" if number > 1 else "")
    return folder / f"{stem}.runs.jsonl", folder / f"{stem}.toml"


def manifests(recipe_path: Path) -> list[Path]:
    """The manifests of every replication of the recipe at ``recipe_path``, sorted by name (date first)."""
    folder = recipe_path.parent / FOLDER.format(year=recipe_path.stem)
    return sorted(folder.glob("*.toml")) if folder.is_dir() else []


def load_replication(path: Union[str, Path]) -> Replication:
    """Read and validate a manifest (its structure; the leaderboard checks it against its recipe and runs)."""
    data = parse_toml(read_text(path, "replication manifest"), str(path))
    if set(data) != {"replication"}:
        raise UserError(f"{path}: a replication manifest holds one table, [replication]; found "
                        f"{', '.join(sorted(data)) or 'none'}")
    return validate(Replication, data["replication"], str(path))


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_replication(replication: Replication, runs_path: Path, path: Path) -> Path:
    """Write the manifest ``path``, sealing ``runs_path`` (already written) with its SHA-256; atomic."""
    sealed = replication.model_copy(update={"evidence_sha256": digest(runs_path)})
    table = tomlkit.table()
    for key, value in sealed.model_dump(mode="json", exclude_none=True).items():
        table[key] = tomlkit.inline_table() if isinstance(value, dict) else value
        if isinstance(value, dict):
            table[key].update(value)
    doc = tomlkit.document()
    doc["replication"] = table
    return write_file(path, tomlkit.dumps(doc))
