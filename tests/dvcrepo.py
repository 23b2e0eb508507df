"""A throwaway git + DVC repository holding a copy of this project, for end-to-end tests."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import yaml

from tests.conftest import PROJECT

PROJECT_FILES = ("dvc.yaml", "params.yaml", "stages", "src", "demo", ".gitignore")


class DvcRepo:
    """Run git and dvc commands in a fresh copy of the project."""

    def __init__(self, root: Path):
        self.root = root
        for name in PROJECT_FILES:
            source = PROJECT / name
            if source.is_dir():
                shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
            else:
                shutil.copy2(source, root / name)
        self.run("git", "init", "-q", "-b", "main")
        self.run("git", "config", "user.email", "test@example.com")
        self.run("git", "config", "user.name", "test")
        self.run("dvc", "init", "-q")
        shutil.copytree(PROJECT / ".dvc" / "plots", root / ".dvc" / "plots")  # the project's plot templates
        self.run("dvc", "config", "core.analytics", "false")
        self.commit("project")

    @classmethod
    def existing(cls, root: Path) -> "DvcRepo":
        """A clone of such a repository, already made (e.g. by ``git clone``)."""
        repo = cls.__new__(cls)
        repo.root = root
        return repo

    def run(self, *command: str, check: bool = True, timeout: float = 900, **options) -> subprocess.CompletedProcess:
        """Run ``command`` in the repository; ``options`` go to :func:`subprocess.run` (e.g. ``preexec_fn``)."""
        result = subprocess.run(command, cwd=self.root, capture_output=True, text=True, timeout=timeout, **options)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result

    def dvc(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.run("dvc", *args, check=check)

    def commit(self, message: str) -> None:
        self.run("git", "add", "-A")
        self.run("git", "commit", "-q", "-m", message)

    def set_params(self, **changes) -> None:
        """Change params.yaml in place: ``set_params(train={"alpha": 0.05})``."""
        path = self.root / "params.yaml"
        raw = yaml.safe_load(path.read_text())
        for section, values in changes.items():
            raw[section].update(values)
        path.write_text(yaml.safe_dump(raw, sort_keys=False))


def stages_run(output: str) -> list[str]:
    """Names of the stages a dvc repro / exp run output says it ran."""
    return [line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage '")]


def ingest_checks(output: str) -> tuple[int, int]:
    """(files decoded, files unchanged since they were checked) from the one ingest line of a dvc output."""
    counts = re.findall(r"^ingest: .*; (\d+) decoded, (\d+) unchanged since they were checked$", output, flags=re.M)
    assert len(counts) == 1, output
    return int(counts[0][0]), int(counts[0][1])
