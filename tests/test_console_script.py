"""The `ser` console command exists once the package is installed (pyproject's [project.scripts])."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

from tests.conftest import PROJECT


def test_pyproject_registers_ser_at_the_cli_main():
    scripts = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"ser": "ser.cli:main"}


@pytest.mark.slow
def test_installed_ser_command_runs(tmp_path, ravdess16k):
    """pip-install a copy of the project into a scratch prefix and run its `ser` script."""
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(PROJECT / name, source / name)
    shutil.copytree(PROJECT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    prefix = tmp_path / "prefix"
    # --ignore-installed: without it pip uninstalls the developer's own (editable) ser first
    install = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--ignore-installed", "--prefix", str(prefix),
                              str(source)], capture_output=True, text=True, timeout=600)
    if install.returncode != 0 and "setuptools" in install.stderr and "No matching distribution" in install.stderr:
        pytest.skip("pip cannot fetch the build backend (setuptools) here: offline")
    assert install.returncode == 0, install.stderr
    site = sysconfig.get_path("purelib", vars={"base": str(prefix), "platbase": str(prefix)})
    script = Path(sysconfig.get_path("scripts", vars={"base": str(prefix), "platbase": str(prefix)})) / "ser"
    assert script.is_file()
    env = {**os.environ, "PYTHONPATH": site}  # the installed copy, not the source tree
    help_run = subprocess.run([str(script), "--help"], capture_output=True, text=True, env=env)
    assert help_run.returncode == 0 and "predict" in help_run.stdout and "explore" in help_run.stdout
    where = subprocess.run([sys.executable, "-c", "import ser.cli; print(ser.cli.__file__)"], capture_output=True,
                           text=True, env=env)
    assert where.stdout.strip().startswith(site)
    no_model = subprocess.run([str(script), "predict", "--model", str(tmp_path / "none"),
                               str(ravdess16k / "Actor_01/03-01-01-01-01-01-01.wav")],
                              capture_output=True, text=True, env=env)
    assert no_model.returncode == 2 and "not found; train one first" in no_model.stderr
