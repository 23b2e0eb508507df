"""Each name list of ser.names is covered exactly by its implementation, and the module stays a leaf."""

import ast

import pytest

from ser import names
from ser.corpus.conventions import CONVENTIONS
from ser.features.families import FAMILIES
from ser.features.stats import STATS
from ser.timeline.smoothing import SMOOTHERS
from tests.conftest import PROJECT


@pytest.mark.parametrize(
    "listed,implemented",
    [
        (names.CORPUS_CONVENTIONS, CONVENTIONS),
        (names.FEATURE_FAMILIES, FAMILIES),
        (names.FEATURE_STATS, STATS),
        (names.SMOOTHINGS, SMOOTHERS),
    ],
    ids=["conventions", "families", "stats", "smoothings"],
)
def test_every_name_has_an_implementation_and_every_implementation_a_name(listed, implemented):
    assert len(set(listed)) == len(listed)
    assert sorted(listed) == sorted(implemented)


def test_each_convention_is_registered_under_its_own_name():
    assert [convention.name for convention in CONVENTIONS.values()] == list(CONVENTIONS)


def test_names_is_a_leaf():
    """It imports nothing of the project, so that anything may import it."""
    tree = ast.parse((PROJECT / "src/ser/names.py").read_text())
    imported = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    imported += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and not node.level]
    relative = [node for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level]
    assert relative == [] and not any(name == "ser" or name.startswith("ser.") for name in imported)
