"""Each stage's code deps in dvc.yaml are exactly the ser modules its script imports, transitively.

A module missing from a stage's deps means a change there re-runs nothing and a cached result
can disagree with the code; one listed but never imported re-runs the stage for nothing. The
imports are read from the source (every ``import`` statement, at module level or inside a
function, since a lazy import still runs when the stage calls it; relative ones resolved against
the importing file's package; not those under ``if TYPE_CHECKING:``, which never run), with the
package ``__init__.py`` files that importing a module executes. One documented exception: the package's
own ``ser/__init__.py`` holds the Python API, ``ser.load``, whose import of the predictor runs only when a caller
calls it; no stage does (checked below), so only that file's module-level imports count.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from tests.conftest import PROJECT

SOURCE = PROJECT / "src"


def module_file(name: str, root: Path = SOURCE) -> Path | None:
    """The file of module ``name`` (a package's ``__init__.py``), or None if it is not this project's."""
    base = root.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def runtime_nodes(tree: ast.AST):
    """Every node of ``tree`` but those under ``if TYPE_CHECKING:`` (imports for type hints never run)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            yield from (n for orelse in node.orelse for n in (orelse, *runtime_nodes(orelse)))
            continue
        yield node
        yield from runtime_nodes(node)


LAZY_API = SOURCE / "ser" / "__init__.py"  # ser.load imports the predictor when called, and no stage calls it


def from_module(node: ast.ImportFrom, path: Path, root: Path) -> str:
    """The module a ``from ... import`` names; a relative one (``from .x``, ``from ..``) resolved against the package
    of ``path`` (a file under ``root``)."""
    if node.level == 0:
        return node.module
    assert path.is_relative_to(root), f"{path}: a relative import outside a package fails when run as a script"
    package = path.relative_to(root).parent.parts  # a package's __init__.py and its modules share its folder
    assert node.level <= len(package), f"{path}: relative import beyond the top-level package"
    return ".".join(package[: len(package) - node.level + 1] + ((node.module,) if node.module else ()))


def imported_modules(path: Path, root: Path = SOURCE) -> set[str]:
    """The ``ser`` modules a file imports anywhere (``ser/__init__.py``: at module level), and every package they
    sit in."""
    names: set[str] = set()
    tree = ast.parse(path.read_text())
    for node in tree.body if path == LAZY_API else runtime_nodes(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = from_module(node, path, root)
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)  # kept below if a submodule
    found = set()
    for name in names:
        parts = name.split(".")
        if parts[0] != "ser":
            continue
        found.update(".".join(parts[:end]) for end in range(1, len(parts) + 1))
    return {name for name in found if module_file(name, root) is not None}


def code_deps(script: Path, root: Path = SOURCE) -> set[str]:
    """The script and every project file it runs by importing (modules under ``root``), as paths relative to the
    project root."""
    seen: set[Path] = set()
    pending = [script]
    while pending:
        path = pending.pop()
        if path in seen:
            continue
        seen.add(path)
        pending.extend(module_file(name, root) for name in imported_modules(path, root))
    return {path.relative_to(PROJECT).as_posix() if path.is_relative_to(PROJECT) else str(path) for path in seen}


STAGES = yaml.safe_load((PROJECT / "dvc.yaml").read_text())["stages"]


def is_code(dep: str) -> bool:
    return dep.startswith(("src/", "stages/"))


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_stage_deps_are_exactly_the_modules_its_script_imports(stage):
    definition = STAGES[stage]
    script = definition["cmd"].split()[1]
    assert definition["cmd"].startswith(f"python {script} ") and script.startswith("stages/"), definition["cmd"]
    listed = [dep for dep in definition["deps"] if is_code(dep)]
    expected = code_deps(PROJECT / script)
    assert len(listed) == len(set(listed)), f"{stage}: a dep is listed twice"
    assert set(listed) == expected, (
        f"{stage}: dvc.yaml lists {sorted(set(listed) - expected)} that the stage does "
        f"not import, and misses {sorted(expected - set(listed))} that it does"
    )


def test_the_derivation_follows_lazy_imports_and_packages_not_type_hints(tmp_path):
    """The reader itself: a function-level import counts, and so does the package a module sits in; an import
    for type hints only does not."""
    script = tmp_path / "stage.py"
    script.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ser.inference import bundle\n"
        "def main():\n    from ser.corpus.demo import generate_demo_corpus\n"
    )
    deps = code_deps(script)
    assert {
        "src/ser/__init__.py",
        "src/ser/corpus/__init__.py",
        "src/ser/corpus/demo.py",
        "src/ser/dsp/frames.py",
    } <= deps
    assert not any(dep.startswith("src/ser/inference/") for dep in deps)


def test_the_derivation_resolves_relative_imports_against_the_importing_package(tmp_path):
    """``from .x import y``, ``from . import x`` and ``from ..x import y``, in a module, a function and a package's
    ``__init__.py``, each name the module that Python would import."""
    files = {
        "ser/__init__.py": "",
        "ser/pkg/__init__.py": "",
        "ser/pkg/a.py": "from .helper import X\ndef f():\n    from . import lazy\n",
        "ser/pkg/helper.py": "from ..other import y\nX = 1\n",
        "ser/pkg/lazy.py": "",
        "ser/other/__init__.py": "from .deep import z\ny = z\n",
        "ser/other/deep.py": "z = 2\n",
        "ser/unused.py": "",
    }
    root = tmp_path / "src"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    script = tmp_path / "stage.py"
    script.write_text("from ser.pkg import a\n")
    assert code_deps(script, root) == {str(script), *(str(root / name) for name in files if name != "ser/unused.py")}


def test_config_imports_nothing_of_corpus():
    """The one import direction between them (docs/architecture.md): ser.corpus may import ser.config, never the
    reverse, so there is no cycle, and a change to a corpus convention re-runs only the stages that read a corpus."""
    assert not any(dep.startswith("src/ser/corpus/") for dep in code_deps(SOURCE / "ser" / "config.py"))
    assert "ser.config" in imported_modules(SOURCE / "ser" / "corpus" / "raw.py")


def test_a_corpus_convention_is_no_dep_of_the_stages_after_features():
    """Editing corpus/conventions.py leaves the trained model and its evaluation up to date."""
    listing = [stage for stage, definition in STAGES.items() if "src/ser/corpus/conventions.py" in definition["deps"]]
    assert not {"train", "evaluate", "crossvalidate", "bundle"} & set(listing)


def test_no_stage_calls_the_lazy_python_api():
    """What makes the exception for ``ser/__init__.py`` safe: ``ser.load`` is for users, not for the pipeline."""
    callers = [
        path
        for path in [*PROJECT.joinpath("stages").glob("*.py"), *SOURCE.rglob("*.py")]
        if path != LAZY_API
        and any(
            (isinstance(node, ast.Attribute) and node.attr == "load" and ast.unparse(node.value) == "ser")
            or (
                isinstance(node, ast.ImportFrom)
                and node.module == "ser"
                and any(alias.name == "load" for alias in node.names)
            )
            for node in ast.walk(ast.parse(path.read_text()))
        )
    ]
    assert callers == []
    assert "load" in {node.name for node in ast.parse(LAZY_API.read_text()).body if isinstance(node, ast.FunctionDef)}
