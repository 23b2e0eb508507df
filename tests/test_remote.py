"""Sharing results through a DVC remote: push, clone afresh, pull, and nothing but ingest runs again."""

import json
import subprocess

import pytest

from tests.dvcrepo import DvcRepo

pytestmark = pytest.mark.slow
LIGHT = {
    "features": {"families": ["mfcc", "rms"], "stats": ["mean", "std"]},  # the remote, not the features, is tested
    "train": {"model": "logreg", "calibrate": False},
}


def test_a_clone_that_pulls_from_the_remote_recomputes_nothing_but_ingest(tmp_path):
    (tmp_path / "first").mkdir()
    repo = DvcRepo(tmp_path / "first")
    repo.set_params(**LIGHT)
    repo.dvc("repro")
    remote = tmp_path / "remote"
    repo.dvc("remote", "add", "--default", "team", str(remote))
    repo.commit("results and the team's remote")
    repo.dvc("push")
    cached = sorted(
        path.relative_to(repo.root / ".dvc/cache")
        for path in (repo.root / ".dvc/cache").rglob("*")
        if path.is_file() and "runs" not in path.parts
    )
    assert cached and sorted(path.relative_to(remote) for path in remote.rglob("*") if path.is_file()) == cached

    clone = tmp_path / "second"
    subprocess.run(["git", "clone", "-q", str(repo.root), str(clone)], check=True)
    second = DvcRepo.existing(clone)
    assert not (clone / "data/features.parquet").exists() and not (clone / "model").exists()
    second.dvc("pull")
    for output in ("data/features.parquet", "data/model/model.skops", "model/model.skops", "plots/confusion.png"):
        assert (clone / output).read_bytes() == (repo.root / output).read_bytes(), output
    before = second.snapshot()
    second.dvc("repro")
    assert second.changes_since(before).stages == ["ingest"]  # it checks the corpus; its outputs are unchanged
    assert json.loads(second.dvc("status", "--json").stdout) == {"ingest": ["always changed"]}
    assert second.run("git", "status", "--porcelain").stdout == ""  # nothing it writes differs from what was pushed
