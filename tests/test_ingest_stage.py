"""The ingest stage script on a local archive source: the pinned checksum guards it, outputs land atomically."""

import json
import subprocess
import zipfile

import pandas as pd
import yaml

from tests import stagerun
from tests.archives import awkward_zips, long_header_tar
from tests.audiofiles import GOOD_RAVDESS
from tests.conftest import PROJECT, assert_one_line
from tests.test_sources import good_zip, server, sha256  # noqa: F401  (server: the loopback HTTP fixture)


def run_stage(tmp_path, data: dict) -> subprocess.CompletedProcess:
    params = yaml.safe_load((PROJECT / "params.yaml").read_text())
    params["data"].update(data)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    env = stagerun.stage_env(SER_CACHE=str(tmp_path / "cache"))  # the check cache's default home: this test's own
    return stagerun.run_stage("ingest", "--params", "params.yaml", cwd=tmp_path, env=env, timeout=300)


def test_local_archive_is_checked_against_data_sha256_then_extracted(speech16k, tmp_path):
    archive = tmp_path / "corpus.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for name in GOOD_RAVDESS:
            bundle.write(speech16k / name, name)
    data = {"source": "corpus.zip", "emotions": ["neutral", "calm"]}

    refused = run_stage(tmp_path, {**data, "sha256": "0" * 64})
    assert refused.returncode == 2
    assert_one_line(errors(refused), "corpus.zip", sha256(archive), f"data.sha256 is {'0' * 64}")
    assert not (tmp_path / "data/catalog.csv").exists() and not (tmp_path / "data/raw").exists()

    done = run_stage(tmp_path, {**data, "sha256": sha256(archive)})
    assert done.returncode == 0, done.stderr
    manifest = pd.read_csv(tmp_path / "data/catalog.csv", dtype=str)
    assert sorted(manifest["path"]) == sorted(f"data/raw/{n}" for n in GOOD_RAVDESS)
    made_from = json.loads((tmp_path / "data/raw/SOURCE.json").read_text())["made_from"]
    assert (made_from["source"], made_from["sha256"]) == ("corpus.zip", sha256(archive))
    leftovers = [p.name for p in (tmp_path / "data").rglob("*") if p.name.endswith(".tmp") or p.name.endswith(".old")]
    assert leftovers == []


def errors(run) -> str:
    """The error lines of a stage's stderr."""
    return "\n".join(line for line in run.stderr.splitlines() if line.startswith("error: "))


def test_missing_source_is_one_clear_line(tmp_path):
    for source in ("nowhere.tar.gz", "nowhere"):
        failed = run_stage(tmp_path, {"source": source})
        assert failed.returncode == 2
        assert_one_line(errors(failed), f"data.source '{source}'")


def test_params_only_the_corpus_can_check_stop_the_stage_before_it_reads_the_source(tmp_path):
    """A corpus's emotions and what a checksum can pin are checked by ser.corpus, first: the missing archive and
    folder named here would give another error if the stage got as far as its source."""
    for data, message in [
        (
            {"source": "nowhere.zip", "dataset": "emodb", "emotions": ["calm", "sad"]},
            "error: params.yaml: data.emotions: 'calm' is not an emotion of the emodb corpus",
        ),
        ({"source": "nowhere", "sha256": "a" * 64}, "error: params.yaml: data.sha256: got a checksum for data.source"),
    ]:
        failed = run_stage(tmp_path, data)
        assert failed.returncode == 2
        assert [line for line in failed.stderr.splitlines() if line.startswith("error: ")][0].startswith(message)
        assert not (tmp_path / "data/raw").exists() and not (tmp_path / "data/catalog.csv").exists()


def test_archive_limits_come_from_params(speech16k, tmp_path):
    archive = tmp_path / "corpus.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for name in GOOD_RAVDESS:
            bundle.write(speech16k / name, name)
    refused = run_stage(tmp_path, {"source": "corpus.zip", "emotions": ["neutral", "calm"], "max_archive_files": 3})
    assert refused.returncode == 2
    assert_one_line(errors(refused), "corpus.zip", "data.max_archive_files (3)")
    assert not (tmp_path / "data/raw").exists()


def test_archive_entries_that_cannot_be_written_are_rejected_alone(speech16k, tmp_path):
    for name, (archive, refused) in awkward_zips(speech16k, tmp_path / "zips").items():
        folder = tmp_path / name.replace(" ", "_")
        folder.mkdir()
        done = run_stage(folder, {"source": str(archive), "emotions": ["neutral", "calm"]})
        assert done.returncode == 0, done.stderr
        manifest = pd.read_csv(folder / "data/catalog.csv", dtype=str)
        assert sorted(manifest["file"]) == sorted(f"Audio_Speech/{n}" for n in GOOD_RAVDESS)
        rejected = pd.read_csv(folder / "data/rejected.csv", dtype=str)
        reasons = dict(zip(rejected["path"], rejected["reason"]))
        for entry, reason in refused.items():
            assert reasons[entry] == f"archive entry refused: {reason}", (name, reasons)
            assert f"warning: archive entry {entry!r} refused: {reason}" in done.stderr
        assert max(len(line) for line in done.stderr.splitlines()) < 300


def test_a_huge_tar_header_and_a_download_over_the_cap_stop_the_stage_in_one_line(server, speech16k, tmp_path):  # noqa: F811
    long_header_tar(tmp_path / "long.tar.gz", 8 << 20)
    refused = run_stage(tmp_path, {"source": "long.tar.gz"})
    assert refused.returncode == 2
    assert_one_line(errors(refused), "long.tar.gz", "8,388,608 bytes")
    assert not (tmp_path / "data/raw").exists()

    archive = good_zip(speech16k, server.root / "corpus.zip")
    url = f"{server.url}/corpus.zip"
    capped = run_stage(tmp_path, {"source": url, "emotions": ["neutral", "calm"], "max_download_bytes": 1000})
    assert capped.returncode == 2
    assert_one_line(errors(capped), url, "data.max_download_bytes (1,000 bytes)", f"{archive.stat().st_size:,}")
    assert not any(path.name.endswith("corpus.zip") for path in (tmp_path / "data/downloads").iterdir())
    done = run_stage(tmp_path, {"source": url, "emotions": ["neutral", "calm"]})
    assert done.returncode == 0, done.stderr
