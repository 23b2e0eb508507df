"""Sharing results through a DVC remote: push, clone afresh, pull, and nothing but ingest runs again."""
import subprocess

import pytest

from tests.dvcrepo import DvcRepo, stages_run

pytestmark = pytest.mark.slow
LIGHT = {"features": {"families": ["mfcc", "rms"], "stats": ["mean", "std"]},  # the remote, not the features, is tested
         "train": {"model": "logreg", "calibrate": False}}


def test_a_clone_that_pulls_from_the_remote_recomputes_nothing_but_ingest(tmp_path):
    (tmp_path / "first").mkdir()
    repo = DvcRepo(tmp_path / "first")
    repo.set_params(**LIGHT)
    repo.dvc("repro")
    remote = tmp_path / "remote"
    repo.dvc("remote", "add", "--default", "team", str(remote))
    repo.commit("results and the team's remote")
    pushed = repo.dvc("push")
    assert remote.is_dir() and "pushed" in pushed.stdout

    clone = tmp_path / "second"
    subprocess.run(["git", "clone", "-q", str(repo.root), str(clone)], check=True)
    second = DvcRepo.existing(clone)
    assert not (clone / "data/features.parquet").exists() and not (clone / "model").exists()
    second.dvc("pull")
    for output in ("data/features.parquet", "data/model/model.skops", "model/model.skops", "plots/confusion.png"):
        assert (clone / output).read_bytes() == (repo.root / output).read_bytes(), output
    again = second.dvc("repro")
    assert stages_run(again.stdout) == ["ingest"], again.stdout  # it checks the corpus; its outputs are unchanged
    status = second.dvc("status").stdout
    assert "changed" not in status.replace("ingest", "").replace("always changed", ""), status
    assert second.run("git", "status", "--porcelain").stdout == ""  # nothing it writes differs from what was pushed
