"""A test that needs an optional package skips without it, naming the install command, except under CI=true, where
it fails: an environment without the test group cannot lose tests silently."""

import os
import subprocess
import sys
import xml.etree.ElementTree as ElementTree

import pytest

from tests.conftest import INSTALL, PROJECT

NEEDS_A_MISSING_PACKAGE = """
from tests.conftest import require

def test_needs_it():
    require("ser_no_such_package")
"""


def outcome(tmp_path, ci: str | None) -> tuple[int, ElementTree.Element]:
    """pytest's exit code on a test needing a package that is not installed, and the test's JUnit XML record."""
    (tmp_path / "test_needs.py").write_text(NEEDS_A_MISSING_PACKAGE)
    env = {k: v for k, v in os.environ.items() if k != "CI"} | ({"CI": ci} if ci is not None else {})
    env["PYTHONPATH"] = os.pathsep.join([str(PROJECT), env.get("PYTHONPATH", "")])
    report = tmp_path / "report.xml"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--junitxml={report}",
            str(tmp_path / "test_needs.py"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    return run.returncode, ElementTree.parse(report).getroot().find(".//testcase")


@pytest.mark.parametrize("ci", ["true"])
def test_under_ci_a_missing_package_fails_the_test(tmp_path, ci):
    code, case = outcome(tmp_path, ci)
    assert code == pytest.ExitCode.TESTS_FAILED and case.find("failure") is not None
    assert "ser_no_such_package" in case.find("failure").get("message")


@pytest.mark.parametrize("ci", [None, "false"])
def test_elsewhere_it_skips_naming_the_install_command(tmp_path, ci):
    code, case = outcome(tmp_path, ci)
    assert code == pytest.ExitCode.OK and case.find("skipped") is not None
    message = case.find("skipped").get("message")
    assert "ser_no_such_package" in message and INSTALL in message
