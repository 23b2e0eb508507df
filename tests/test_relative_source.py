"""A relative data.source in a temporary copy of the repository (DVC's queued and --temp experiments): read from the
repository the run started from (DVC_ROOT), and the catalogue the same as a run there writes."""

import json
import subprocess

import yaml

from tests.conftest import PROJECT
from tests.stagerun import run_stage, stage_env


def run_ingest(folder, origin, cache) -> subprocess.CompletedProcess:
    return run_stage("ingest", "--quiet", cwd=folder, env=stage_env(SER_CACHE=str(cache), DVC_ROOT=str(origin)))


def test_a_copy_reads_the_corpus_beside_the_repository_it_started_from(speech16k, tmp_path):
    (tmp_path / "corpus").symlink_to(speech16k)
    repo = tmp_path / "repo"
    copy = repo / ".dvc" / "tmp" / "exps" / "tmpcopy"  # where DVC makes a queued run's copy
    params = yaml.safe_load((PROJECT / "params.yaml").read_text())
    params["data"].update(source="../corpus", emotions=["neutral", "calm"])
    for folder in (repo, copy):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "params.yaml").write_text(yaml.safe_dump(params))
    assert not (copy / "../corpus").exists()

    in_repo = run_ingest(repo, repo, tmp_path / "cache")
    assert in_repo.returncode == 0, in_repo.stderr
    in_copy = run_ingest(copy, repo, tmp_path / "cache")
    assert in_copy.returncode == 0, in_copy.stderr
    for output in ("data/catalog.csv", "data/rejected.csv", "metrics/ingest.json"):
        assert (copy / output).read_bytes() == (repo / output).read_bytes(), output
    paths = [line.split(",")[1] for line in (repo / "data/catalog.csv").read_text().splitlines()[1:]]
    assert json.loads((repo / "metrics/ingest.json").read_text())["files"] == len(paths) > 0
    assert all(path.startswith("../corpus/Actor_") for path in paths)

    missing = run_ingest(copy, tmp_path / "elsewhere", tmp_path / "cache")
    assert missing.returncode == 2 and "data.source" in missing.stderr
