"""The README's "Running on a cluster": every `trickstack` command in it parses as written (its subcommand and
every flag exist, every value converts), and those that finish by themselves run as written: the SLURM
dry run prints a script without the password, the Kubernetes Job is valid against Kubernetes' schemas.
What the others do is tested in tests/test_remote_workers.py (``ablate --workers 0``), tests/test_launch.py
(``worker --storage-file``) and tests/test_slurm.py (the script on a real SLURM cluster)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from test_launch import KUBERNETES
from typer.main import get_command

from trickstack.cli.app import app

README = Path(__file__).resolve().parent.parent / "README.md"


def section_commands() -> list[list[str]]:
    text = README.read_text()
    section = text.split("\n## Running on a cluster\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    return [shlex.split(line) for block in blocks for line in block.splitlines() if line.startswith("trickstack ")]


COMMANDS = section_commands()


def test_the_section_shows_each_kind_of_command():
    assert {" ".join(c[1:3]) if c[1] == "launch" else c[1] for c in COMMANDS} == {
        "ablate", "worker", "launch slurm", "launch k8s"}


@pytest.mark.parametrize("argv", COMMANDS, ids=[" ".join(c[1:3]) for c in COMMANDS])
def test_each_command_parses_as_written(argv):
    command = get_command(app)
    name, args, parent = argv[0], argv[1:], None
    while hasattr(command, "get_command"):  # a group: its subcommand's name comes next
        parent = command.make_context(name, [], parent=parent, resilient_parsing=True)  # its own flags: none here
        name, args = args[0], args[1:]
        command = command.get_command(parent, name)
        assert command is not None, f"no command {name!r}"
    command.make_context(name, list(args), parent=parent)  # raises on an unknown flag or a value of the wrong type


@pytest.mark.parametrize("argv", [c for c in COMMANDS if c[1] == "launch"], ids=lambda c: " ".join(c[1:3]))
def test_the_launch_commands_run_as_written(argv, cli, monkeypatch):
    monkeypatch.chdir(README.parent)  # the spec paths are the repository's
    code, out, err = cli(*argv[1:])
    assert code == 0, err
    assert "PASSWORD" not in out + err
    if argv[2] == "k8s":
        kubernetes_validate.validate(yaml.safe_load(out), KUBERNETES, strict=True)
    else:
        assert out.startswith("#!/bin/bash\n") and "#SBATCH --array=0-7" in out
