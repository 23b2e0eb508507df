"""A stage script run as DVC runs it: its own Python process in a folder of the test's, with the project's src."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import PROJECT


def stage_env(**extra: str) -> dict[str, str]:
    """This process's environment with the project's src first on PYTHONPATH, plus ``extra`` variables."""
    path = os.pathsep.join([str(PROJECT / "src"), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, **extra}


def stage_command(name: str, *args: str) -> list[str]:
    """The command line of stages/``name``.py with ``args``."""
    return [sys.executable, str(PROJECT / f"stages/{name}.py"), *args]


def run_stage(name: str, *args: str, cwd, env: dict[str, str] | None = None, timeout: float = 600):
    """Run stages/``name``.py with ``args`` in ``cwd`` and return the finished process (text output captured)."""
    return subprocess.run(
        stage_command(name, *args), cwd=cwd, env=env or stage_env(), capture_output=True, text=True, timeout=timeout
    )
