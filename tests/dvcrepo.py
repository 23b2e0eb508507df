"""A throwaway git + DVC repository holding a copy of this project, for end-to-end tests."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.conftest import PROJECT

PROJECT_FILES = ("dvc.yaml", "params.yaml", "stages", "src", "demo", ".gitignore")
USER_CACHE = ".cache/ser"  # $SER_CACHE of the repository's commands: the user cache folder, one per test repository
INGEST_CACHE, FEATURE_CACHE = f"{USER_CACHE}/ingest", f"{USER_CACHE}/features"  # the stages' default --cache folders


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
    def existing(cls, root: Path) -> DvcRepo:
        """A clone of such a repository, already made (e.g. by ``git clone``)."""
        repo = cls.__new__(cls)
        repo.root = root
        return repo

    def run(self, *command: str, check: bool = True, timeout: float = 900, **options) -> subprocess.CompletedProcess:
        """Run ``command`` in the repository, with the repository's own user cache folder as ``$SER_CACHE`` (unless
        ``options`` give an ``env``); ``options`` go to :func:`subprocess.run` (e.g. ``preexec_fn``)."""
        options.setdefault("env", {**os.environ, "SER_CACHE": str(self.root / USER_CACHE)})
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

    def snapshot(self) -> Snapshot:
        """Every stage's output files (dvc.yaml's outs, metrics and plots), the ingest check cache, the feature cache.

        Each stage writes every output anew under a temporary name, so a stage that ran leaves new inodes and
        times; a stage DVC skipped leaves its outputs untouched.
        """
        outputs = {}
        for name, stage in yaml.safe_load((self.root / "dvc.yaml").read_text())["stages"].items():
            paths = [
                self.root / (next(iter(entry)) if isinstance(entry, dict) else entry)
                for kind in ("outs", "metrics", "plots")
                for entry in stage.get(kind, [])
            ]
            files = [
                file for path in paths for file in ([path] if path.is_file() else path.rglob("*")) if file.is_file()
            ]
            outputs[name] = {str(file): (file.stat().st_ino, file.stat().st_mtime_ns) for file in files}
        checks = frozenset(
            (path.name, key)
            for path in (self.root / INGEST_CACHE).glob("checks-*.json")
            for key in json.loads(path.read_text())
        )
        vectors = frozenset(
            (str(path), path.stat().st_ino, path.stat().st_mtime_ns)
            for path in (self.root / FEATURE_CACHE).rglob("*.f8")
        )
        return Snapshot(outputs, checks, vectors)

    def changes_since(self, before: Snapshot) -> Changes:
        """What the commands run since ``before`` was taken did, read from the files."""
        after = self.snapshot()
        return Changes(
            stages=[name for name, files in after.outputs.items() if files != before.outputs.get(name)],
            decoded=len(after.checks - before.checks),
            unchanged=len(after.checks & before.checks),
            computed=len(after.vectors - before.vectors),
        )


@dataclass(frozen=True)
class Snapshot:
    """What a run of the pipeline can change, as files show it (not as commands word it)."""

    outputs: dict[str, dict[str, tuple[int, int]]]  # stage -> output file -> (inode, mtime in ns)
    checks: frozenset[tuple[str, str]]  # (check-cache file, stat key): one entry per file ingest has checked
    vectors: frozenset[tuple[str, int, int]]  # the feature cache's vector files (one per audio content), as stamped


@dataclass(frozen=True)
class Changes:
    """What happened between two snapshots."""

    stages: list[str]  # the stages, in dvc.yaml's order, whose outputs were written (DVC ran them)
    decoded: int  # files ingest decoded: entries new in its check cache
    unchanged: int  # files ingest found unchanged since they were checked: entries kept
    computed: int  # feature vectors computed: files new or written anew in the feature cache
