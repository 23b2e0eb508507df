"""Experiments under real DVC, in a temporary git repository whose corpus lies beside it (a relative data.source):
queued runs, a failed run and what to do after it, and the documented table of experiments."""

import json
import os
import re
import shlex
import time

import pytest

from tests.conftest import PROJECT
from tests.dvcrepo import DvcRepo

pytestmark = pytest.mark.slow
QUEUE_TIMEOUT = 1800  # seconds for both queued runs on a busy machine


@pytest.fixture(scope="module")
def repo(tmp_path_factory, speech16k):
    root = tmp_path_factory.mktemp("experiments")
    (root / "corpus").symlink_to(speech16k)
    (root / "repo").mkdir()
    repo = DvcRepo(root / "repo")
    repo.set_params(data={"source": "../corpus"}, train={"ensemble": 1}, evaluate={"cv_folds": 2})
    repo.dvc("repro")
    repo.commit("baseline run on a corpus beside the repository")
    return repo


def experiments(repo) -> dict[str, dict]:
    """Each experiment of ``dvc exp show --json`` by name: its params.yaml and metrics files."""
    found = {}
    for baseline in json.loads(repo.dvc("exp", "show", "--json").stdout):
        for experiment in baseline.get("experiments") or []:
            for run in experiment["revs"]:
                data = run.get("data") or {}
                found[run["name"]] = {
                    "params": ((data.get("params") or {}).get("params.yaml") or {}).get("data", {}),
                    "metrics": {path: entry.get("data", {}) for path, entry in (data.get("metrics") or {}).items()},
                }
    return found


def wait_for_queue(repo) -> str:
    """``dvc queue status`` once no entry is queued or running."""
    deadline = time.monotonic() + QUEUE_TIMEOUT
    while time.monotonic() < deadline:
        status = repo.dvc("queue", "status").stdout
        if not re.search(r"\b(Queued|Running)\b", status):
            return status
        time.sleep(5)
    raise AssertionError(f"the queue did not finish in {QUEUE_TIMEOUT} s:\n{status}")


def test_queued_runs_read_the_relative_source_and_extract_nothing(repo):
    before = repo.snapshot()
    repo.dvc("exp", "run", "--queue", "-S", "train.alpha=0.01,0.1")
    repo.dvc("queue", "start")
    status = wait_for_queue(repo)
    assert status.count("Success") == 2 and "Failed" not in status, status
    changes = repo.changes_since(before)
    assert changes.computed == 0, "a queued run extracted features the user cache held"
    assert changes.decoded == 0 and changes.unchanged > 0, "a queued run decoded files ingest had checked"
    assert changes.stages == [], "a queued run changed the workspace's outputs"
    baseline = json.loads((repo.root / "metrics/ingest.json").read_text())
    runs = list(experiments(repo).values())
    assert sorted(run["params"]["train"]["alpha"] for run in runs) == [0.01, 0.1]
    for run in runs:
        assert run["params"]["data"]["source"] == "../corpus"
        assert run["metrics"]["metrics/ingest.json"]["files"] == baseline["files"] > 0
        assert 0 <= run["metrics"]["metrics/evaluate.json"]["uar"] <= 1


def test_a_failed_run_removes_no_output_and_the_documented_recovery_works(repo):
    before = repo.snapshot()
    failed = repo.dvc("exp", "run", "-S", "+train.alhpa=0.05", check=False)
    assert failed.returncode != 0 and "train.alhpa" in failed.stderr
    assert repo.run("git", "status", "--porcelain").stdout.splitlines() == [" M params.yaml"]  # DVC's -S edit
    assert repo.changes_since(before).stages == []  # every output of every stage in place, none rewritten
    recovery = recovery_commands()
    assert recovery == [["git", "checkout", "--", "params.yaml"]]
    for command in recovery:
        repo.run(*command)
    repo.dvc("exp", "run", "-S", "train.alpha=0.05")
    assert json.loads((repo.root / "metrics/evaluate.json").read_text())["uar"] >= 0


def test_the_documented_experiments_table_fits_120_columns(repo):
    names = experiments(repo)
    assert len(names) == 3, names  # the two queued runs and the workspace run above
    table = repo.run(*documented_table_command(), env={**os.environ, "COLUMNS": "120"}).stdout  # a 120-column terminal
    lines = table.rstrip("\n").splitlines()
    assert max(len(line) for line in lines) <= 120, table
    assert all(name in table for name in names), table
    header = next(line for line in lines if "Experiment" in line)
    assert "train.alpha" in header and re.search(r"\buar\b", header), header
    assert "..." not in table and "…" not in table, table


def documented(marker: str) -> list[list[str]]:
    """The commands of the bash block after ``marker`` in docs/pipeline.md, as argument lists (comments dropped)."""
    text = (PROJECT / "docs/pipeline.md").read_text()
    block = text.split(marker, 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    return [shlex.split(line, comments=True) for line in block.splitlines() if shlex.split(line, comments=True)]


def recovery_commands() -> list[list[str]]:
    return documented("<!-- after a failed run -->")


def documented_table_command() -> list[str]:
    (command,) = documented("<!-- experiments table -->")
    return command
